"""One JSON error shape for the whole API: {"code", "message", "fields": {name: [messages]}} (ErrorSerializer).

Also the API's JSON parser, which refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE
(DRF reads the request stream itself, so Django's own limit never applies) and
turns every undecodable body into a 400 instead of a server error.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..exceptions import BookingError


class ErrorSerializer(serializers.Serializer):
    """Every error the API returns."""

    code = serializers.CharField(
        help_text="Stable machine code, e.g. invalid, parse_error, not_authenticated, authentication_failed, "
        "not_allowed, permission_denied, not_found, illegal_transition, slot_taken, rate_limited, "
        "invalid_credentials, request_too_large, unsupported_media_type, method_not_allowed."
    )
    message = serializers.CharField(help_text="A sentence a person can read.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages by field name (empty when the error is not about one field).",
    )


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self):
        limit_kb = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) // 1024
        super().__init__(f"The request body is too large (the limit is {limit_kb} KB).")


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in _flatten(value, name).items():
                fields.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        for item in detail:
            if isinstance(item, dict | list):
                for k, v in _flatten(item, prefix).items():
                    fields.setdefault(k, []).extend(v)
            else:
                fields.setdefault(prefix or "non_field_errors", []).append(str(item))
    else:
        fields.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return fields


def error_response(*, code: str, message: str, http_status: int, fields: dict | None = None, headers=None) -> Response:
    return Response({"code": code, "message": message, "fields": fields or {}}, status=http_status, headers=headers)


def exception_handler(exc, context):
    if isinstance(exc, BookingError):
        fields = {exc.field: [exc.message]} if exc.field else {}
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(max(1, int(retry_after)))} if retry_after is not None else None
        return error_response(
            code=exc.code, message=exc.message, http_status=exc.http_status, fields=fields, headers=headers
        )
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.items()), ("", ["Invalid input."]))
        message = f"{first[0]}: {first[1][0]}" if first[0] and first[0] != "non_field_errors" else first[1][0]
        response.data = {"code": "invalid", "message": message, "fields": fields}
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    detail = getattr(exc, "detail", "")
    code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    response.data = {"code": str(code), "message": str(detail), "fields": {}}
    return response


# --- Django-level handlers (booking_project.urls): JSON under /api/, the usual pages elsewhere ---------


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler404(request, exception=None):
    if _is_api(request):
        return JsonResponse(
            {"code": "not_found", "message": "There is no such API endpoint.", "fields": {}}, status=404
        )
    return defaults.page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return JsonResponse(
            {"code": "server_error", "message": "Something went wrong on our side. Please try again.", "fields": {}},
            status=500,
        )
    return defaults.server_error(request)
