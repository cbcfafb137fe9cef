"""Strict serializer fields the API's input serializers share: no silent coercion, dates in range."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# Datetimes outside this range are typing mistakes or probes, not bookings; refusing
# them early also keeps date arithmetic far away from datetime's limits.
EARLIEST_YEAR, LATEST_YEAR = 2000, 2999
MAX_ID = 2**63 - 1  # PostgreSQL bigint


def _in_range(value: dt.date) -> bool:
    return EARLIEST_YEAR <= value.year <= LATEST_YEAR


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF's CharField would quietly turn 123 or 1.5 into text."""

    default_error_messages = {**serializers.CharField.default_error_messages, "invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """An id as a JSON integer (not "5", 5.0 or true)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 1 <= data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its offset (``2026-03-02T10:00:00+03:00`` or ``...Z``)."""

    default_error_messages = {
        **serializers.DateTimeField.default_error_messages,
        "invalid": "Enter an ISO 8601 date-time with its offset, e.g. 2026-03-02T10:00:00+03:00.",
        "naive": "Give the time with its time zone offset, e.g. 2026-03-02T10:00:00+03:00.",
        "range": f"Enter a date between {EARLIEST_YEAR} and {LATEST_YEAR}.",
    }

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid")
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        if timezone.is_naive(parsed):
            self.fail("naive")
        if not _in_range(parsed):
            self.fail("range")
        return self.enforce_timezone(parsed)


@extend_schema_field(
    {
        "type": "string",
        "anyOf": [{"format": "date"}, {"format": "date-time"}],
        "example": "2026-03-02",
    }
)
class DateOrDateTimeField(serializers.Field):
    """A date (``2026-03-02``, read in the therapist's zone) or an ISO date-time with offset."""

    default_error_messages = {
        "invalid": "Enter a date (2026-03-02) or a date-time with its offset (2026-03-02T10:00:00+03:00).",
        "naive": "Give the time with its time zone offset, e.g. 2026-03-02T10:00:00+03:00.",
        "range": f"Enter a date between {EARLIEST_YEAR} and {LATEST_YEAR}.",
    }

    def to_internal_value(self, value) -> dt.date | dt.datetime:
        if not isinstance(value, str):
            self.fail("invalid")
        value = value.strip()
        try:
            parsed = parse_datetime(value) if "T" in value or " " in value else parse_date(value)
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        if isinstance(parsed, dt.datetime) and timezone.is_naive(parsed):
            self.fail("naive")
        if not _in_range(parsed):
            self.fail("range")
        return parsed

    def to_representation(self, value):
        return value.isoformat()
