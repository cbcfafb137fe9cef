"""DRF serializers for the JSON API: input shapes (validated, then handed to one service) and output shapes.

Input serializers only declare what a client may send; anything else in a body
(status, amount, payment fields...) is ignored, so nothing can be mass-assigned.
Business rules (who may book, reason required, slot free) stay in services.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import services
from .models import Session, SessionType, TherapistProfile

# Datetimes outside this range are typing mistakes or probes, not bookings; refusing
# them early also keeps date arithmetic far away from datetime's limits.
EARLIEST_YEAR, LATEST_YEAR = 2000, 2999
MAX_ID = 2**63 - 1  # PostgreSQL bigint


def _in_range(value: dt.date) -> bool:
    return EARLIEST_YEAR <= value.year <= LATEST_YEAR


# --- Errors -------------------------------------------------------------------------------


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


# --- Fields -------------------------------------------------------------------------------


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


# --- Auth ---------------------------------------------------------------------------------


class CredentialsSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = StrictCharField(max_length=4096, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


# --- Therapists ---------------------------------------------------------------------------


class SessionTypeSerializer(serializers.ModelSerializer):
    duration = serializers.IntegerField(source="duration_minutes", help_text="Minutes.")
    price = serializers.IntegerField(source="price_kes", help_text="Whole KES.")

    class Meta:
        model = SessionType
        fields = ["id", "name", "duration", "mode", "price"]
        read_only_fields = fields


class TherapistSerializer(serializers.ModelSerializer):
    """A therapist as the directory shows them. Expects ``active_types`` prefetched."""

    name = serializers.CharField(source="user.full_name")
    specialties = serializers.ListField(source="specialty_list", child=serializers.CharField())
    languages = serializers.ListField(source="language_list", child=serializers.CharField())
    from_price = serializers.SerializerMethodField(help_text="Lowest price of the active session types (KES).")
    session_types = SessionTypeSerializer(source="active_types", many=True)
    time_zone = serializers.CharField(help_text="IANA zone, e.g. Africa/Nairobi.")

    class Meta:
        model = TherapistProfile
        fields = [
            "id",
            "name",
            "title",
            "bio",
            "specialties",
            "languages",
            "city",
            "accepting_new_clients",
            "time_zone",
            "min_notice_hours",
            "max_advance_days",
            "from_price",
            "session_types",
        ]
        read_only_fields = fields

    def get_from_price(self, obj) -> int | None:
        prices = [t.price_kes for t in obj.active_types]
        return min(prices) if prices else None


class TherapistFilterSerializer(serializers.Serializer):
    specialty = serializers.CharField(required=False, allow_blank=True, max_length=100)
    language = serializers.CharField(required=False, allow_blank=True, max_length=100)
    min_price = serializers.IntegerField(required=False, min_value=0, max_value=10_000_000)
    max_price = serializers.IntegerField(required=False, min_value=0, max_value=10_000_000)
    mode = serializers.ChoiceField(required=False, choices=SessionType.Mode.choices)
    available_this_week = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        low, high = attrs.get("min_price"), attrs.get("max_price")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"max_price": "Must not be below min_price."})
        return attrs


class SlotQuerySerializer(serializers.Serializer):
    session_type = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so it cannot be declared as a class attribute.
        self.fields["from"] = DateOrDateTimeField(
            required=False, help_text="Start of the window: a date (therapist's zone) or a date-time. Default: now."
        )
        self.fields["to"] = DateOrDateTimeField(
            required=False, help_text="End of the window; a date includes that whole day. Default: 14 days on."
        )


class SlotsSerializer(serializers.Serializer):
    therapist = serializers.IntegerField()
    session_type = serializers.IntegerField()
    time_zone = serializers.CharField(help_text="The therapist's zone; slots are given in it.")
    slots = serializers.ListField(child=serializers.DateTimeField(), help_text="Free start times, ISO 8601.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateTimeField(help_text="The window searched, from...")
        self.fields["to"] = serializers.DateTimeField(help_text="...to (exclusive).")


# --- Sessions -----------------------------------------------------------------------------


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SessionTypeBriefSerializer(serializers.ModelSerializer):
    duration = serializers.IntegerField(source="duration_minutes", help_text="Minutes.")

    class Meta:
        model = SessionType
        fields = ["id", "name", "duration", "mode"]
        read_only_fields = fields


# Renders in the zone active when called (the viewer's), as the declared DateTimeFields do.
_DATETIME = serializers.DateTimeField()


def _choice(value) -> str:
    """A choice as ChoiceField renders it: the plain stored value, not the enum member."""
    return value.value if hasattr(value, "value") else value


class SessionSerializer(serializers.ModelSerializer):
    """A session as its client or its therapist sees it. Needs ``request`` in the context (allowed_actions)."""

    reference = serializers.CharField(read_only=True, help_text="Neutral booking reference, e.g. BK000042.")
    therapist = serializers.SerializerMethodField()
    client = serializers.SerializerMethodField()
    session_type = SessionTypeBriefSerializer(read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    payment_status_label = serializers.CharField(source="get_payment_status_display", read_only=True)
    amount = serializers.IntegerField(source="amount_kes", read_only=True, help_text="Whole KES.")
    notes = serializers.CharField(source="client_notes", read_only=True, help_text="The client's note on booking.")
    meeting_link = serializers.SerializerMethodField(help_text="The online session's link, once the therapist sets it.")
    allowed_actions = serializers.SerializerMethodField(
        help_text="State-machine actions this user may take now (approve, decline, cancel, start, complete, "
        "mark_no_show); approve, decline and cancel are in this API."
    )

    class Meta:
        model = Session
        fields = [
            "id",
            "reference",
            "therapist",
            "client",
            "session_type",
            "start",
            "end",
            "status",
            "status_label",
            "payment_status",
            "payment_status_label",
            "amount",
            "notes",
            "respond_by",
            "pay_by",
            "meeting_link",
            "decline_reason",
            "cancel_reason",
            "refund_due",
            "mpesa_receipt_number",
            "allowed_actions",
            "created_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Session) -> dict:
        """The same JSON as the declared fields give (the schema comes from them), built flat.

        DRF's generic path builds and walks a field list and a nested serializer
        for each row; a list of 20 spent a third of its time there.
        """
        obj = instance
        dt_out = _DATETIME.to_representation
        session_type = obj.session_type
        return {
            "id": obj.pk,
            "reference": obj.reference,
            "therapist": self.get_therapist(obj),
            "client": self.get_client(obj),
            "session_type": {
                "id": session_type.pk,
                "name": session_type.name,
                "duration": session_type.duration_minutes,
                "mode": _choice(session_type.mode),
            },
            "start": dt_out(obj.start),
            "end": dt_out(obj.end),
            "status": _choice(obj.status),
            "status_label": obj.get_status_display(),
            "payment_status": _choice(obj.payment_status),
            "payment_status_label": obj.get_payment_status_display(),
            "amount": None if obj.amount_kes is None else int(obj.amount_kes),
            "notes": obj.client_notes,
            "respond_by": dt_out(obj.respond_by),
            "pay_by": dt_out(obj.pay_by),
            "meeting_link": self.get_meeting_link(obj),
            "decline_reason": obj.decline_reason,
            "cancel_reason": obj.cancel_reason,
            "refund_due": obj.refund_due,
            "mpesa_receipt_number": obj.mpesa_receipt_number,
            "allowed_actions": self.get_allowed_actions(obj),
            "created_at": dt_out(obj.created_at),
        }

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_meeting_link(self, obj: Session) -> str | None:
        return obj.meeting_link or None

    @extend_schema_field(PersonSerializer)
    def get_therapist(self, obj: Session) -> dict:
        return {"id": obj.therapist_id, "name": obj.therapist.user.full_name}

    @extend_schema_field(PersonSerializer)
    def get_client(self, obj: Session) -> dict:
        return {"id": obj.client_id, "name": obj.client.full_name}

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "string",
                "enum": sorted(a for a in services.TRANSITIONS if a not in {"confirm", "expire"}),
            },
        }
    )
    def get_allowed_actions(self, obj: Session) -> list[str]:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return []
        return sorted(services.allowed_actions(session=obj, user=user))


class SessionFilterSerializer(serializers.Serializer):
    status = serializers.MultipleChoiceField(
        required=False, choices=Session.Status.choices, help_text="Repeat to match any of several."
    )
    payment_status = serializers.MultipleChoiceField(
        required=False, choices=Session.PaymentStatus.choices, help_text="Repeat to match any of several."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = DateOrDateTimeField(
            required=False, help_text="Sessions starting at or after this (a date: from that day's start)."
        )
        self.fields["to"] = DateOrDateTimeField(
            required=False, help_text="Sessions starting before this (a date: up to that day's end)."
        )


class BookingSerializer(serializers.Serializer):
    """What a client sends to ask for a session. Price, status and payment come from the server."""

    therapist = StrictPrimaryKeyRelatedField(
        queryset=TherapistProfile.objects.select_related("user").filter(user__is_active=True),
        help_text="Therapist id.",
    )
    session_type = StrictPrimaryKeyRelatedField(
        queryset=SessionType.objects.filter(is_active=True), help_text="Session type id (one of the therapist's)."
    )
    start = AwareDateTimeField(help_text="A free start time from /slots, ISO 8601 with offset.")
    notes = StrictCharField(
        required=False, allow_blank=True, default="", help_text="Anything the therapist should know (optional)."
    )


class ReasonSerializer(serializers.Serializer):
    reason = StrictCharField(allow_blank=True, help_text="Why (required, shown to the other person).")


class EmptySerializer(serializers.Serializer):
    """No fields: the body may be empty or {}."""
