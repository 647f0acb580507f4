"""MinioManifestStaticStorage: collectstatic writes hashed names and a manifest; {% static %} uses them."""

from __future__ import annotations

import json
import re
from html import unescape
from io import StringIO
from pathlib import Path

import pytest
import urllib3
from django.core.management import call_command
from django.template import Context, Template
from django.test import override_settings
from minio import Minio

from django_minio_backend import MinioManifestStaticStorage

from .conftest import remove_bucket
from .test_collectstatic import DJANGO_FIRST, OURS_FIRST

MANIFEST_STORAGES = {
    "default": {"BACKEND": "django_minio_backend.models.MinioBackend"},
    "staticfiles": {"BACKEND": "django_minio_backend.models.MinioManifestStaticStorage"},
}


@pytest.fixture
def manifest_bucket(s3_settings, raw_client: Minio):
    from django_minio_backend.buckets import sync_bucket

    storage = MinioManifestStaticStorage(
        bucket_name="dmb-test-manifest", public_buckets=["dmb-test-manifest"]
    )
    sync_bucket(storage)  # created, with the public-read policy
    yield "dmb-test-manifest"
    remove_bucket(raw_client, "dmb-test-manifest")


@pytest.fixture
def site_static(tmp_path: Path) -> Path:
    source = tmp_path / "static"
    (source / "site" / "img").mkdir(parents=True)
    (source / "site" / "img" / "logo.png").write_bytes(b"\x89PNG fake logo")
    (source / "site" / "site.css").write_text('body { background: url("img/logo.png"); }')
    return source


def collect_and_render(apps: list[str], source: Path, bucket: str, *, public: bool = True) -> tuple[str, str]:
    out = StringIO()
    with override_settings(
        INSTALLED_APPS=apps,
        STATICFILES_DIRS=[str(source)],
        STORAGES=MANIFEST_STORAGES,
        MINIO_STATIC_FILES_BUCKET=bucket,
        MINIO_PRIVATE_BUCKETS=[] if public else [bucket],
        MINIO_PUBLIC_BUCKETS=[bucket] if public else [],
    ):
        call_command("collectstatic", interactive=False, stdout=out, verbosity=1)
        html = Template('{% load static %}<link href="{% static "site/site.css" %}">').render(Context())
    return out.getvalue(), unescape(html.split('"')[1])


@pytest.mark.parametrize("apps", [OURS_FIRST, DJANGO_FIRST], ids=["our-collectstatic", "djangos"])
def test_collectstatic_uploads_hashed_names_and_static_tag_serves_them(
    apps: list[str], site_static: Path, manifest_bucket: str, raw_client: Minio
) -> None:
    output, url = collect_and_render(apps, site_static, manifest_bucket)
    assert "post-processed" in output
    manifest = json.loads(raw_client.get_object(manifest_bucket, "staticfiles.json").read())
    hashed_css = manifest["paths"]["site/site.css"]
    hashed_logo = manifest["paths"]["site/img/logo.png"]
    assert hashed_css != "site/site.css" and hashed_css.startswith("site/site.")
    assert url == f"http://{raw_client._base_url.host}/{manifest_bucket}/{hashed_css}"  # plain, cacheable
    response = urllib3.PoolManager(retries=False).request("GET", url)
    assert response.status == 200, (url, response.data[:300])
    # the CSS reference was rewritten to the logo's hashed name, relative to the CSS file
    assert hashed_logo.removeprefix("site/") in response.data.decode()

    copied = int(re.search(r"(\d+) static files? copied", output).group(1))  # the site's and our app's
    assert copied >= 2
    output, _ = collect_and_render(apps, site_static, manifest_bucket)
    assert "0 static files copied" in output and f"{copied} unmodified" in output


def test_a_private_bucket_is_refused_with_the_setting_to_change(
    site_static: Path, manifest_bucket: str
) -> None:
    from django_minio_backend.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="add 'dmb-test-manifest' to MINIO_PUBLIC_BUCKETS"):
        collect_and_render(OURS_FIRST, site_static, manifest_bucket, public=False)


def test_building_the_storage_does_not_read_the_manifest() -> None:
    storage = MinioManifestStaticStorage(endpoint="127.0.0.1:9", access_key="a", secret_key="b")
    assert "hashed_files" not in storage.__dict__  # read on first use; port 9 would fail here
    with pytest.raises(OSError, match=r"127\.0\.0\.1:9"):
        storage.url("site/site.css")
