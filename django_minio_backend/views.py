"""JSON endpoints of direct browser uploads (see :mod:`django_minio_backend.direct`).

Include ``django_minio_backend.urls`` in the project's URLconf. Every endpoint
takes a JSON POST, is CSRF-protected (the widget sends the form's token) and
answers JSON: the result, or ``{"error": message}`` with a 4xx status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from . import direct

logger = logging.getLogger("django_minio_backend")

MAX_BODY = 64 * 1024  # these requests carry a ticket and a few names, never file content


def _json_view(
    handler: Callable[[HttpRequest, dict[str, Any]], dict[str, Any]],
) -> Callable[..., JsonResponse]:
    @never_cache
    @csrf_protect
    @require_POST
    def view(request: HttpRequest) -> JsonResponse:
        if len(request.body) > MAX_BODY:
            return JsonResponse({"error": "request too large"}, status=413)
        try:
            payload = json.loads(request.body or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            return JsonResponse({"error": "the request body must be a JSON object"}, status=400)
        try:
            return JsonResponse(handler(request, payload))
        except direct.UploadRefused as exc:
            answer: dict[str, Any] = {"error": exc.message}
            if exc.busy:
                answer["busy"] = True  # the widget waits and finalizes again instead of uploading again
            return JsonResponse(answer, status=exc.status)
        except OSError as exc:
            logger.warning("direct upload: %s", exc)
            return JsonResponse({"error": "the storage server did not answer; try again"}, status=503)

    view.__name__ = view.__qualname__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise direct.UploadRefused(f"{key!r} is required")
    return value


def _size(payload: dict[str, Any]) -> int:
    value = payload.get("size")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise direct.UploadRefused("'size' must be a number of bytes")
    return value


@_json_view
def ticket(request: HttpRequest, payload: dict[str, Any]) -> dict[str, Any]:
    """``{field, name, size, content_type}`` -> a ticket with a presigned POST or a multipart upload."""
    return direct.issue_ticket(
        request,
        _text(payload, "field"),
        _text(payload, "name"),
        _size(payload),
        str(payload.get("content_type") or ""),
    )


@_json_view
def parts(request: HttpRequest, payload: dict[str, Any]) -> dict[str, Any]:
    """``{ticket, field}`` -> the parts on the server and URLs for the next missing ones."""
    return direct.part_urls(request, _text(payload, "ticket"), _text(payload, "field"))


@_json_view
def finalize(request: HttpRequest, payload: dict[str, Any]) -> dict[str, Any]:
    """``{ticket, field, sha256?}`` -> ``{name, size, value}`` once the file is verified and in place."""
    sha256 = payload.get("sha256")
    return direct.finalize(
        request,
        _text(payload, "ticket"),
        _text(payload, "field"),
        sha256 if isinstance(sha256, str) else None,
    )


@_json_view
def cancel(request: HttpRequest, payload: dict[str, Any]) -> dict[str, Any]:
    """``{ticket, field}`` -> ``{}``; the upload's parts or quarantine object are removed."""
    direct.abort(request, _text(payload, "ticket"), _text(payload, "field"))
    return {}
