"""Sessions: my list, one session, asking for one, and the therapist's and client's transitions.

Each view validates its input with its serializer, finds what the user may see
through selectors, calls ONE service (the same ones the pages call) and renders.
Domain errors become JSON by sessions_app.api.errors.exception_handler.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..http import client_ip
from ..models import Session, SessionType, TherapistProfile
from ..services.intake_forms import IntakeInvalid
from .common import ID_PATH, Pages, UserZoneMixin, errors, query_params, window_edge
from .fields import AwareDateTimeField, DateOrDateTimeField, StrictCharField, StrictPrimaryKeyRelatedField

IDEMPOTENCY_KEY_MAX = 200

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string per booking attempt: a retry with the same key returns the same session "
    "instead of booking twice.",
)


# --- The session, as every session endpoint answers ----------------------------------------


class PersonSerializer(serializers.Serializer):
    # Someone's id and name. ``name_source`` says where the name is, from the object the field reads
    # (a comment, not a docstring: a docstring would become the schema's description).

    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()

    def __init__(self, *args, name_source: str = "full_name", **kwargs):
        self.name_source = name_source
        super().__init__(*args, **kwargs)

    def get_fields(self):
        return {**super().get_fields(), "name": serializers.CharField(source=self.name_source)}


class SessionTypeBriefSerializer(serializers.ModelSerializer):
    duration = serializers.IntegerField(source="duration_minutes", help_text="Minutes.")

    class Meta:
        model = SessionType
        fields = ["id", "name", "duration", "mode"]
        read_only_fields = fields


@extend_schema_field({"type": "string", "format": "uri", "nullable": True})
class LinkField(serializers.URLField):
    """A link that may not be set yet: an empty one is sent as null."""

    def to_representation(self, value) -> str | None:
        return value or None


class LabelField(serializers.CharField):
    """A choice's label from the model's ``get_<field>_display`` (the source), called directly.

    DRF would run inspect.signature() on that method for every row before calling it; on a page
    of sessions that was a third of the time spent rendering.
    """

    def get_attribute(self, instance) -> str:
        return getattr(instance, self.source)()


# The columns SessionSerializer reads (the list loads only these: the users' and the type's other
# columns cost more to load than the page's own query). test_list_runs_fixed_queries fails on a missing one.
SESSION_JSON_COLUMNS = (
    *("id", "client", "therapist", "session_type", "start", "end", "status", "payment_status", "amount_kes"),
    *("client_notes", "decline_reason", "cancel_reason", "refund_due", "meeting_link", "respond_by", "pay_by"),
    *("mpesa_receipt_number", "created_at"),
    "client__full_name",
    "therapist__user__full_name",
    "session_type__name",
    "session_type__duration_minutes",
    "session_type__mode",
)
# Formats a moment as every DateTimeField of the API does (ISO 8601 in the current zone, "Z" for UTC).
_DATETIME = serializers.DateTimeField()


class SessionSerializer(serializers.ModelSerializer):
    """A session as its client or its therapist sees it. Needs ``request`` in the context (allowed_actions)."""

    reference = serializers.CharField(read_only=True, help_text="Neutral booking reference, e.g. BK000042.")
    therapist = PersonSerializer(read_only=True, name_source="user.full_name")
    client = PersonSerializer(read_only=True)
    session_type = SessionTypeBriefSerializer(read_only=True)
    status_label = LabelField(source="get_status_display", read_only=True)
    payment_status_label = LabelField(source="get_payment_status_display", read_only=True)
    amount = serializers.IntegerField(source="amount_kes", read_only=True, help_text="Whole KES.")
    notes = serializers.CharField(source="client_notes", read_only=True, help_text="The client's note on booking.")
    meeting_link = LinkField(read_only=True, help_text="The online session's link, once the therapist sets it.")
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
        # The same JSON as the declared fields give (the schema is built from them; a test compares the
        # two for sessions in every state), built directly: DRF's generic walk over the fields and the
        # three nested serializers was most of the session list's time (issue 21).
        if not isinstance(instance, Session):
            return super().to_representation(instance)
        when = _DATETIME.to_representation
        therapist, client, session_type = instance.therapist, instance.client, instance.session_type
        receipt = instance.mpesa_receipt_number
        return {
            "id": instance.pk,
            "reference": str(instance.reference),
            "therapist": {"id": therapist.pk, "name": str(therapist.user.full_name)},
            "client": {"id": client.pk, "name": str(client.full_name)},
            "session_type": {
                "id": session_type.pk,
                "name": str(session_type.name),
                "duration": int(session_type.duration_minutes),
                "mode": str(session_type.mode),
            },
            "start": when(instance.start),
            "end": when(instance.end),
            "status": str(instance.status),
            "status_label": str(instance.get_status_display()),
            "payment_status": str(instance.payment_status),
            "payment_status_label": str(instance.get_payment_status_display()),
            "amount": int(instance.amount_kes),
            "notes": str(instance.client_notes),
            "respond_by": when(instance.respond_by) if instance.respond_by is not None else None,
            "pay_by": when(instance.pay_by) if instance.pay_by is not None else None,
            "meeting_link": instance.meeting_link or None,
            "decline_reason": str(instance.decline_reason),
            "cancel_reason": str(instance.cancel_reason),
            "refund_due": bool(instance.refund_due),
            "mpesa_receipt_number": None if receipt is None else str(receipt),
            "allowed_actions": self.get_allowed_actions(instance),
            "created_at": when(instance.created_at) if instance.created_at is not None else None,
        }

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "string",
                "enum": sorted(services.STATUS_ACTIONS),
            },
        }
    )
    def get_allowed_actions(self, obj: Session) -> list[str]:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return []
        return sorted(services.allowed_actions(session=obj, user=user) & services.STATUS_ACTIONS)


def _has_related(session: Session) -> bool:
    """Whether everything the JSON needs (client, therapist with user, session type) is already loaded."""
    return (
        Session.client.is_cached(session)
        and Session.session_type.is_cached(session)
        and Session.therapist.is_cached(session)
        and TherapistProfile.user.is_cached(session.therapist)
    )


def _session_response(request, session: Session, *, status_code: int = status.HTTP_200_OK, headers=None):
    # What the service returned when it comes with its related rows; otherwise re-read
    # through the selector: one query, everything the JSON needs joined in.
    if not _has_related(session):
        session = selectors.session_get_visible(user=request.user, pk=session.pk) or session
    return Response(SessionSerializer(session, context={"request": request}).data, status=status_code, headers=headers)


def _visible_or_404(request, pk: int) -> Session:
    """First thing on every session endpoint: someone else's session does not exist for you (404, not 403)."""
    session = selectors.session_get_visible(user=request.user, pk=pk)
    if session is None:
        raise NotFound("No such session.")
    return session


# --- Asking for a session ------------------------------------------------------------------


def _idempotency_key(request) -> str | None:
    """The client's Idempotency-Key, namespaced per user and hashed to the column's 64 characters."""
    raw = request.headers.get("Idempotency-Key", "")
    if not raw:
        return None
    if len(raw) > IDEMPOTENCY_KEY_MAX or not raw.isprintable():
        raise ValidationError({"Idempotency-Key": [f"Use at most {IDEMPOTENCY_KEY_MAX} printable characters."]})
    return hashlib.sha256(f"api:{request.user.pk}:{raw}".encode()).hexdigest()


class SessionRequestApi(UserZoneMixin, APIView):
    @extend_schema_serializer(component_name="Booking")
    class InputSerializer(serializers.Serializer):
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
        intake = serializers.DictField(
            required=False,
            child=serializers.JSONField(),
            help_text="Answers to the session type's intake form, asked on a client's first request with the "
            'therapist: {"q<question id>": text | [options] | true/false}. Errors name each answer '
            "(intake.q<id>). Send nothing when no form is asked.",
        )

    OutputSerializer = SessionSerializer

    SCHEMA = {
        "request": InputSerializer,
        "parameters": [IDEMPOTENCY_HEADER],
        "responses": {201: OutputSerializer, **errors(400, 401, 403, 409, 413, 415, 429)},
        "tags": ["sessions"],
    }
    DESCRIPTION = (
        "A client asks for a free slot (see /slots). The session starts Pending Approval with payment Pending; "
        "the price comes from the session type. On a first request with a therapist whose session type has an "
        "intake form, `intake` carries the answers ("
        "the questions are in GET /api/therapists/{id}, each session type's `intake_questions`). Other fields are ignored. "
        f"At most {settings.BOOKING_REQUESTS_PER_DAY} requests per client per day (429)."
    )

    @extend_schema(operation_id="sessions_request", summary="Request a session", description=DESCRIPTION, **SCHEMA)
    def post(self, request):
        return self.request_session(request)

    @classmethod
    def request_session(cls, request) -> Response:
        serializer = cls.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = _idempotency_key(request)
        asked_at = timezone.now()
        try:
            session = services.session_request(
                client=request.user,
                therapist=data["therapist"],
                session_type=data["session_type"],
                start=data["start"],
                notes=data.get("notes", ""),
                idempotency_key=key,
                source="api",
                source_ip=client_ip(request),
                intake=data.get("intake"),
            )
        except IntakeInvalid as exc:
            errors = {name: [message] for name, message in exc.errors.items()}
            raise ValidationError({"intake": errors.pop("intake")} if "intake" in errors else {"intake": errors})
        replayed = key is not None and session.created_at < asked_at
        if (
            not replayed
            and Session.therapist.is_cached(session)
            and session.therapist_id == data["therapist"].pk
            and not TherapistProfile.user.is_cached(session.therapist)
        ):
            # The service locked the therapist row again (without its user); the serializer loaded the user.
            session.therapist.user = data["therapist"].user
        return _session_response(
            request,
            session,
            status_code=status.HTTP_201_CREATED,
            headers={"Idempotent-Replayed": "true"} if replayed else None,
        )


# --- Reading ------------------------------------------------------------------------------


class SessionListApi(UserZoneMixin, generics.ListAPIView):
    """GET lists; POST is the legacy alias of POST /api/sessions/request (SessionRequestApi)."""

    pagination_class = Pages

    class FilterSerializer(serializers.Serializer):
        status = serializers.MultipleChoiceField(
            required=False, choices=Session.Status.choices, help_text="Repeat to match any of several."
        )
        payment_status = serializers.MultipleChoiceField(
            required=False, choices=Session.PaymentStatus.choices, help_text="Repeat to match any of several."
        )

        def get_fields(self):
            # "from" is a Python keyword, so it cannot be declared as a class attribute.
            return {
                **super().get_fields(),
                "from": DateOrDateTimeField(
                    required=False, help_text="Sessions starting at or after this (a date: from that day's start)."
                ),
                "to": DateOrDateTimeField(
                    required=False, help_text="Sessions starting before this (a date: up to that day's end)."
                ),
            }

    OutputSerializer = SessionSerializer
    serializer_class = OutputSerializer

    def get_queryset(self):
        filters = query_params(self.FilterSerializer, self.request)
        qs = selectors.sessions_visible_to(user=self.request.user)
        if filters.get("status"):
            qs = qs.filter(status__in=sorted(filters["status"]))
        if filters.get("payment_status"):
            qs = qs.filter(payment_status__in=sorted(filters["payment_status"]))
        zone = timezone.get_current_timezone()
        start_from = window_edge(filters.get("from"), tz=zone, end=False)
        start_to = window_edge(filters.get("to"), tz=zone, end=True)
        if start_from is not None:
            qs = qs.filter(start__gte=start_from)
        if start_to is not None:
            qs = qs.filter(start__lt=start_to)
        return qs.only(*SESSION_JSON_COLUMNS).order_by("-start", "-id")

    @extend_schema(
        operation_id="sessions_list",
        summary="My sessions",
        description="A client's bookings, or a therapist's appointments; newest start first. Dates in `from`/`to` "
        "are read in your own time zone.",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer(many=True), **errors(400, 401, 404)},
        tags=["sessions"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="sessions_create",
        summary="Request a session (legacy alias of POST /api/sessions/request)",
        description=SessionRequestApi.DESCRIPTION,
        deprecated=True,
        **SessionRequestApi.SCHEMA,
    )
    def post(self, request):
        return SessionRequestApi.request_session(request)


class SessionDetailApi(UserZoneMixin, APIView):
    OutputSerializer = SessionSerializer

    @extend_schema(
        operation_id="sessions_retrieve",
        summary="One of my sessions",
        parameters=[ID_PATH],
        responses={200: OutputSerializer, **errors(401, 404)},
        tags=["sessions"],
    )
    def get(self, request, id: int):
        return Response(self.OutputSerializer(_visible_or_404(request, id), context={"request": request}).data)


# --- Transitions --------------------------------------------------------------------------

TRANSITION_ERRORS = errors(400, 401, 403, 404, 409, 413, 415)


class SessionApproveApi(UserZoneMixin, APIView):
    class InputSerializer(serializers.Serializer):
        """No fields: the body may be empty or {}."""

    OutputSerializer = SessionSerializer

    @extend_schema(
        operation_id="sessions_approve",
        summary="Approve a request (its therapist)",
        description="Pending Approval -> Approved; the client then has the payment window to pay.",
        parameters=[ID_PATH],
        request=InputSerializer,
        responses={200: OutputSerializer, **TRANSITION_ERRORS},
        tags=["sessions"],
    )
    def put(self, request, id: int):
        session = _visible_or_404(request, id)
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        session = services.session_approve(
            session=session.pk, actor=request.user, source="api", source_ip=client_ip(request)
        )
        return _session_response(request, session)


class SessionDeclineApi(UserZoneMixin, APIView):
    @extend_schema_serializer(component_name="Reason")
    class InputSerializer(serializers.Serializer):
        reason = StrictCharField(allow_blank=True, help_text="Why (required, shown to the other person).")

    OutputSerializer = SessionSerializer

    @extend_schema(
        operation_id="sessions_decline",
        summary="Decline a request (its therapist)",
        description="Pending Approval -> Declined, with a reason the client sees.",
        parameters=[ID_PATH],
        request=InputSerializer,
        responses={200: OutputSerializer, **TRANSITION_ERRORS},
        tags=["sessions"],
    )
    def put(self, request, id: int):
        session = _visible_or_404(request, id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = services.session_decline(
            session=session.pk,
            actor=request.user,
            reason=serializer.validated_data["reason"],
            source="api",
            source_ip=client_ip(request),
        )
        return _session_response(request, session)


class SessionCancelApi(UserZoneMixin, APIView):
    InputSerializer = SessionDeclineApi.InputSerializer  # the same {"reason"} body
    OutputSerializer = SessionSerializer

    @extend_schema(
        operation_id="sessions_cancel",
        summary="Cancel a session (its client or therapist)",
        description="Pending Approval, Approved or Confirmed -> Cancelled. A paid session is marked for refund when "
        "its therapist cancels, or its client cancels early enough (see refund_due).",
        parameters=[ID_PATH],
        request=InputSerializer,
        responses={200: OutputSerializer, **TRANSITION_ERRORS},
        tags=["sessions"],
    )
    def post(self, request, id: int):
        session = _visible_or_404(request, id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = services.session_cancel(
            session=session.pk,
            actor=request.user,
            reason=serializer.validated_data["reason"],
            source="api",
            source_ip=client_ip(request),
        )
        return _session_response(request, session)
