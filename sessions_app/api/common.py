"""What every API view shares: pagination, the viewer's time zone, error responses in the schema, query strings."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from django.core.paginator import Page
from django.db.models import Count, QuerySet, Window
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination

from .. import selectors
from .errors import ErrorSerializer
from .fields import MAX_ID

ERROR_DESCRIPTIONS = {
    400: "Bad input: malformed JSON, a missing or wrongly typed field (named in `fields`), or a rule refused it.",
    401: "No credentials, or a bad token (public endpoints need none, but refuse a bad one).",
    403: "Signed in, but not allowed to do this (or a session-authenticated write without its CSRF token).",
    404: "No such object, or not yours.",
    409: "The session's state does not allow this (`illegal_transition`) or the time was taken (`slot_taken`).",
    413: "The body is over 64 KB.",
    415: "The body is not JSON.",
    429: "Too many attempts; see the Retry-After header (seconds).",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The schema's error responses for ``codes``, all in the one error shape."""
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}


ID_PATH = OpenApiParameter(
    "id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, OpenApiParameter.PATH, description="Object id."
)


class Pages(PageNumberPagination):
    """20 a page; ``page`` must be a whole number from 1 (a page past the end is a 404)."""

    last_page_strings = ()

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not re.fullmatch(r"[0-9]{1,18}", raw) or int(raw) < 1:
            raise ValidationError({self.page_query_param: ["A page is a whole number from 1."]})
        return int(raw)

    def paginate_queryset(self, queryset, request, view=None):
        """The page and the total in one query (``COUNT(*) OVER ()`` on the page's rows) instead of two.

        Only an empty page needs the separate count: page 1 of nothing is an empty list, any other
        page past the end a 404, as PageNumberPagination answers. A list (not a queryset) goes the
        usual way.
        """
        if not isinstance(queryset, QuerySet):
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        page_size = self.get_page_size(request)
        if not page_size:
            return None
        paginator = self.django_paginator_class(queryset, page_size)
        number = self.get_page_number(request, paginator)
        offset = (number - 1) * page_size
        if offset > 2**62:  # past any real end, and past what PostgreSQL's OFFSET (a bigint) takes
            message = self.invalid_page_message.format(page_number=number, message="That page contains no results")
            raise NotFound(message)
        rows = list(queryset.annotate(_total_rows=Window(Count("pk")))[offset : offset + page_size])
        total = rows[0]._total_rows if rows else queryset.count()
        paginator.__dict__["count"] = total  # Paginator.count is a cached_property: the one we just read
        if not rows and number > 1:
            message = self.invalid_page_message.format(page_number=number, message="That page contains no results")
            raise NotFound(message)
        self.page = Page(rows, number, paginator)
        return rows

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}
        return parameters


class UserZoneMixin:
    """Render times in the signed-in person's zone (token users are only known after DRF authenticates)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        tz_name = getattr(request.user, "time_zone", "") if request.user.is_authenticated else ""
        try:
            timezone.activate(zoneinfo.ZoneInfo(tz_name)) if tz_name else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()


def query_params(serializer_class, request) -> dict:
    """Validate the query string. An empty value (``?to=``) is a bad value, not a missing one."""
    fields = serializer_class().fields
    multi = {
        name
        for name, field in fields.items()
        if isinstance(field, serializers.ListField | serializers.MultipleChoiceField)
    }
    params = request.query_params
    data = {name: params.getlist(name) if name in multi else params[name] for name in fields if name in params}
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def window_edge(value: dt.date | dt.datetime | None, *, tz, end: bool) -> dt.datetime | None:
    """A date means the start of that day in ``tz`` (or, for an end, the start of the next day)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    start, next_day = selectors.day_window(day=value, tz=tz)
    return next_day if end else start
