"""How ``sdk`` turns an S3 error answered with status 200 into an S3Error (pure unit)."""

from __future__ import annotations

from typing import Any

import pytest
from minio.error import S3Error

from django_minio_backend import sdk


class _Response:
    data = (
        b"<Error><Code>PreconditionFailed</Code><Message>At least one precondition failed</Message></Error>"
    )


class _Client:
    def _execute(self, *args: Any, **kwargs: Any) -> _Response:
        return _Response()


def test_copy_answered_200_with_an_error_body_raises_s3error_with_its_code_and_message() -> None:
    # S3 may answer a server-side copy with 200 and an <Error> body; callers match on exc.code.
    with pytest.raises(S3Error) as caught:
        sdk.copy_object(_Client(), "bucket", "key.txt", "source.txt", {"If-None-Match": "*"})
    assert caught.value.code == "PreconditionFailed"
    assert caught.value.message == "At least one precondition failed"
    assert isinstance(caught.value.response, _Response)
