"""Policy documents compare equal however a server re-serialises them (unit tests)."""

from __future__ import annotations

import json

from django_minio_backend.policies import (
    canonical_policy,
    policies_equal,
    public_read_policy,
    without_not_resource,
)


def test_server_normalised_policy_equals_the_one_set() -> None:
    echoed = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "NotResource": ["arn:aws:s3:::b/q/*", "arn:aws:s3:::b/*/q/*"],
            },
        ],
    }
    assert policies_equal(public_read_policy("b", quarantine="q/"), json.dumps(echoed) + "\n")


def test_server_refusing_not_resource_gets_the_whole_bucket_grant() -> None:
    widened = without_not_resource(public_read_policy("b", quarantine="q/"), "b")
    assert widened is not None
    assert policies_equal(widened, public_read_policy("b", quarantine=""))
    assert without_not_resource(public_read_policy("b", quarantine=""), "b") is None


def test_principal_star_and_condition_scalars_are_normalised() -> None:
    a = {"Statement": [{"Principal": "*", "Condition": {"StringLike": {"s3:prefix": ["x/*"]}}}], "Id": "1"}
    b = {"Statement": [{"Principal": {"AWS": "*"}, "Condition": {"StringLike": {"s3:prefix": "x/*"}}}]}
    assert policies_equal(a, b)


def test_different_resources_or_statement_sets_differ() -> None:
    assert not policies_equal(public_read_policy("a"), public_read_policy("b"))
    assert not policies_equal(public_read_policy("a"), None)
    assert canonical_policy("") is None and policies_equal(None, "")


def test_statement_order_does_not_matter() -> None:
    s1 = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["r1"]}
    s2 = {"Effect": "Deny", "Action": ["s3:PutObject"], "Resource": ["r2"]}
    assert policies_equal({"Statement": [s1, s2]}, {"Statement": [s2, s1]})
