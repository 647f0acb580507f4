"""The settings table is the one declaration of a setting: config fields and parsing derive from it."""

from __future__ import annotations

import dataclasses

from django_minio_backend.conf import OBJECT_OPTIONS, SETTINGS, StorageConfig, resolve


def test_every_per_storage_setting_is_a_config_field_and_nothing_else_is() -> None:
    fields = {f.name for f in dataclasses.fields(StorageConfig)}
    declared = (
        {s.option for s in SETTINGS if s.per_storage}
        | set(OBJECT_OPTIONS)
        | {
            "bucket_name",
            "replace_existing",
            "static",
        }
    )
    assert fields - declared == set(), "config fields without a row in SETTINGS or OBJECT_OPTIONS"
    assert declared - fields == set(), "SETTINGS rows without a StorageConfig field"


def test_resolved_values_are_the_parsed_defaults_when_nothing_is_set(settings) -> None:
    for s in SETTINGS:
        if hasattr(settings, s.name):
            delattr(settings, s.name)
    settings.STORAGES = {}
    config = resolve({})
    for s in SETTINGS:
        if s.per_storage and s.option != "external_endpoint_use_https":
            assert getattr(config, s.option) == s.parse(s.default), s.name
    assert config.external_endpoint_use_https is config.use_https is False
