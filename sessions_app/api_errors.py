"""One JSON error shape for the whole API: {"code", "message", "fields": {name: [messages]}}."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .exceptions import BookingError


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
        return error_response(code=exc.code, message=exc.message, http_status=exc.http_status, fields=fields)
    if isinstance(exc, Http404):
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
