"""The JSON API (DRF) for therapists, slots and sessions; the M-Pesa endpoints live in payments_app.api.

Each view validates its input with a serializer, finds what the user may see
through selectors, calls ONE service (the same ones the pages call) and renders.
Domain errors become JSON by sessions_app.api_errors.exception_handler.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
import zoneinfo

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .exceptions import RateLimited
from .forms import LoginForm
from .http import client_ip
from .models import Session, SessionType, TherapistProfile
from .serializers import (
    MAX_ID,
    BookingSerializer,
    CredentialsSerializer,
    EmptySerializer,
    ErrorSerializer,
    ReasonSerializer,
    SessionFilterSerializer,
    SessionSerializer,
    SlotQuerySerializer,
    SlotsSerializer,
    TherapistFilterSerializer,
    TherapistSerializer,
    TokenSerializer,
)

# The widest window /slots searches in one call.
SLOTS_MAX_WINDOW_DAYS = 62
SLOTS_DEFAULT_WINDOW_DAYS = 14
IDEMPOTENCY_KEY_MAX = 200

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
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}


ID_PATH = OpenApiParameter(
    "id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, OpenApiParameter.PATH, description="Object id."
)
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string per booking attempt: a retry with the same key returns the same session "
    "instead of booking twice.",
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


# --- Auth ---------------------------------------------------------------------------------


class TokenView(APIView):
    """Email and password for a token, with the login page's lockouts (per account and per address)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_token",
        summary="Get an API token",
        description="Send it back as `Authorization: Token <token>`. Five failed attempts for one account (twenty "
        "from one address) lock it for up to 15 minutes: 429.",
        request=CredentialsSerializer,
        responses={200: TokenSerializer, **errors(400, 413, 415, 429)},
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        serializer = CredentialsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        form = LoginForm(
            request._request,
            data={"username": serializer.validated_data["email"], "password": serializer.validated_data["password"]},
        )
        if not form.is_valid():
            message = " ".join(form.non_field_errors()) or "Those credentials are not valid."
            if form.locked:
                exc = RateLimited(message)
                exc.retry_after = LoginForm.WINDOW - int(time.time() % LoginForm.WINDOW)
                raise exc
            return Response(
                {"code": "invalid_credentials", "message": message, "fields": {"non_field_errors": [message]}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        form.reset_account_limit()
        token, _ = Token.objects.get_or_create(user=form.get_user())
        return Response({"token": token.key})


# --- Therapists ---------------------------------------------------------------------------


def _with_active_types(qs):
    return qs.prefetch_related(
        Prefetch("session_types", queryset=SessionType.objects.filter(is_active=True), to_attr="active_types")
    )


def _query_params(serializer_class, request) -> dict:
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


class TherapistListView(UserZoneMixin, generics.ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = TherapistSerializer
    pagination_class = Pages

    @extend_schema(
        operation_id="therapists_list",
        summary="The therapist directory",
        description="Therapists taking new clients, with their active session types. Filters combine.",
        parameters=[TherapistFilterSerializer],
        responses={200: TherapistSerializer(many=True), **errors(400, 401, 404)},
        tags=["therapists"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = _query_params(TherapistFilterSerializer, self.request)
        return _with_active_types(
            selectors.therapists_directory(
                specialty=filters.get("specialty", ""),
                language=filters.get("language", ""),
                min_price=filters.get("min_price"),
                max_price=filters.get("max_price"),
                mode=filters.get("mode", ""),
                available_this_week=filters.get("available_this_week", False),
            )
        )


def _therapist_or_404(pk: int) -> TherapistProfile:
    therapist = (
        _with_active_types(TherapistProfile.objects.select_related("user").filter(user__is_active=True))
        .filter(pk=pk)
        .first()
    )
    if therapist is None:
        raise NotFound("No such therapist.")
    return therapist


class TherapistDetailView(UserZoneMixin, APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="therapists_retrieve",
        summary="One therapist",
        parameters=[ID_PATH],
        responses={200: TherapistSerializer, **errors(401, 404)},
        tags=["therapists"],
    )
    def get(self, request, id: int):
        return Response(TherapistSerializer(_therapist_or_404(id)).data)


def _window_edge(value: dt.date | dt.datetime | None, *, tz, end: bool) -> dt.datetime | None:
    """A date means the start of that day in ``tz`` (or, for an end, the start of the next day)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    start, next_day = selectors.day_window(day=value, tz=tz)
    return next_day if end else start


class TherapistSlotsView(UserZoneMixin, APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="therapists_slots",
        summary="Free start times",
        description=f"Free start times for one session type in a window of at most {SLOTS_MAX_WINDOW_DAYS} days, "
        "honouring the therapist's hours, time off, bookings, notice and furthest booking date.",
        parameters=[ID_PATH, SlotQuerySerializer],
        responses={200: SlotsSerializer, **errors(400, 401, 404)},
        tags=["therapists"],
    )
    def get(self, request, id: int):
        params = _query_params(SlotQuerySerializer, request)
        # One query on the way that succeeds: the type, its therapist and their user together.
        session_type = (
            SessionType.objects.select_related("therapist__user")
            .filter(pk=params["session_type"], therapist_id=id, is_active=True, therapist__user__is_active=True)
            .first()
        )
        if session_type is None:
            if not TherapistProfile.objects.filter(pk=id, user__is_active=True).exists():
                raise NotFound("No such therapist.")
            raise ValidationError({"session_type": ["Choose one of this therapist's session types."]})
        therapist = session_type.therapist
        tz = therapist.tz
        window_start = _window_edge(params.get("from"), tz=tz, end=False) or timezone.now()
        window_end = _window_edge(params.get("to"), tz=tz, end=True) or (
            window_start + dt.timedelta(days=SLOTS_DEFAULT_WINDOW_DAYS)
        )
        if window_end <= window_start:
            raise ValidationError({"to": ["Must be after from."]})
        if window_end - window_start > dt.timedelta(days=SLOTS_MAX_WINDOW_DAYS):
            raise ValidationError({"to": [f"The window can be at most {SLOTS_MAX_WINDOW_DAYS} days long."]})
        slots = selectors.free_slots(
            therapist=therapist, session_type=session_type, window_start=window_start, window_end=window_end
        )
        return Response(
            {
                "therapist": therapist.pk,
                "session_type": session_type.pk,
                "time_zone": therapist.time_zone,
                "from": window_start.astimezone(tz).isoformat(),
                "to": window_end.astimezone(tz).isoformat(),
                "slots": [slot.astimezone(tz).isoformat() for slot in slots],
            }
        )


# --- Sessions -----------------------------------------------------------------------------


def _idempotency_key(request) -> str | None:
    """The client's Idempotency-Key, namespaced per user and hashed to the column's 64 characters."""
    raw = request.headers.get("Idempotency-Key", "")
    if not raw:
        return None
    if len(raw) > IDEMPOTENCY_KEY_MAX or not raw.isprintable():
        raise ValidationError({"Idempotency-Key": [f"Use at most {IDEMPOTENCY_KEY_MAX} printable characters."]})
    return hashlib.sha256(f"api:{request.user.pk}:{raw}".encode()).hexdigest()


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


def _request_session(request) -> Response:
    serializer = BookingSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    key = _idempotency_key(request)
    asked_at = timezone.now()
    session = services.session_request(
        client=request.user,
        therapist=data["therapist"],
        session_type=data["session_type"],
        start=data["start"],
        notes=data.get("notes", ""),
        idempotency_key=key,
        source="api",
        source_ip=client_ip(request),
    )
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


REQUEST_SCHEMA = {
    "request": BookingSerializer,
    "parameters": [IDEMPOTENCY_HEADER],
    "responses": {201: SessionSerializer, **errors(400, 401, 403, 409, 413, 415, 429)},
    "tags": ["sessions"],
}
REQUEST_DESCRIPTION = (
    "A client asks for a free slot (see /slots). The session starts Pending Approval with payment Pending; "
    "the price comes from the session type. Fields other than these four are ignored. "
    f"At most {settings.BOOKING_REQUESTS_PER_DAY} requests per client per day (429)."
)


class SessionListView(UserZoneMixin, generics.ListAPIView):
    serializer_class = SessionSerializer
    pagination_class = Pages

    def get_queryset(self):
        filters = _query_params(SessionFilterSerializer, self.request)
        qs = selectors.sessions_visible_to(user=self.request.user)
        if filters.get("status"):
            qs = qs.filter(status__in=sorted(filters["status"]))
        if filters.get("payment_status"):
            qs = qs.filter(payment_status__in=sorted(filters["payment_status"]))
        zone = timezone.get_current_timezone()
        start_from = _window_edge(filters.get("from"), tz=zone, end=False)
        start_to = _window_edge(filters.get("to"), tz=zone, end=True)
        if start_from is not None:
            qs = qs.filter(start__gte=start_from)
        if start_to is not None:
            qs = qs.filter(start__lt=start_to)
        return qs.order_by("-start", "-id")

    @extend_schema(
        operation_id="sessions_list",
        summary="My sessions",
        description="A client's bookings, or a therapist's appointments; newest start first. Dates in `from`/`to` "
        "are read in your own time zone.",
        parameters=[SessionFilterSerializer],
        responses={200: SessionSerializer(many=True), **errors(400, 401, 404)},
        tags=["sessions"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="sessions_create",
        summary="Request a session (legacy alias of POST /api/sessions/request)",
        description=REQUEST_DESCRIPTION,
        deprecated=True,
        **REQUEST_SCHEMA,
    )
    def post(self, request):
        return _request_session(request)


class SessionRequestView(UserZoneMixin, APIView):
    @extend_schema(
        operation_id="sessions_request", summary="Request a session", description=REQUEST_DESCRIPTION, **REQUEST_SCHEMA
    )
    def post(self, request):
        return _request_session(request)


def _visible_or_404(request, pk: int) -> Session:
    """First thing on every session endpoint: someone else's session does not exist for you (404, not 403)."""
    session = selectors.session_get_visible(user=request.user, pk=pk)
    if session is None:
        raise NotFound("No such session.")
    return session


class SessionDetailView(UserZoneMixin, APIView):
    @extend_schema(
        operation_id="sessions_retrieve",
        summary="One of my sessions",
        parameters=[ID_PATH],
        responses={200: SessionSerializer, **errors(401, 404)},
        tags=["sessions"],
    )
    def get(self, request, id: int):
        return Response(SessionSerializer(_visible_or_404(request, id), context={"request": request}).data)


TRANSITION_ERRORS = errors(400, 401, 403, 404, 409, 413, 415)


class SessionApproveView(UserZoneMixin, APIView):
    @extend_schema(
        operation_id="sessions_approve",
        summary="Approve a request (its therapist)",
        description="Pending Approval -> Approved; the client then has the payment window to pay.",
        parameters=[ID_PATH],
        request=EmptySerializer,
        responses={200: SessionSerializer, **TRANSITION_ERRORS},
        tags=["sessions"],
    )
    def put(self, request, id: int):
        session = _visible_or_404(request, id)
        EmptySerializer(data=request.data).is_valid(raise_exception=True)
        session = services.session_approve(
            session=session.pk, actor=request.user, source="api", source_ip=client_ip(request)
        )
        return _session_response(request, session)


class SessionDeclineView(UserZoneMixin, APIView):
    @extend_schema(
        operation_id="sessions_decline",
        summary="Decline a request (its therapist)",
        description="Pending Approval -> Declined, with a reason the client sees.",
        parameters=[ID_PATH],
        request=ReasonSerializer,
        responses={200: SessionSerializer, **TRANSITION_ERRORS},
        tags=["sessions"],
    )
    def put(self, request, id: int):
        session = _visible_or_404(request, id)
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = services.session_decline(
            session=session.pk,
            actor=request.user,
            reason=serializer.validated_data["reason"],
            source="api",
            source_ip=client_ip(request),
        )
        return _session_response(request, session)


class SessionCancelView(UserZoneMixin, APIView):
    @extend_schema(
        operation_id="sessions_cancel",
        summary="Cancel a session (its client or therapist)",
        description="Pending Approval, Approved or Confirmed -> Cancelled. A paid session is marked for refund when "
        "its therapist cancels, or its client cancels early enough (see refund_due).",
        parameters=[ID_PATH],
        request=ReasonSerializer,
        responses={200: SessionSerializer, **TRANSITION_ERRORS},
        tags=["sessions"],
    )
    def post(self, request, id: int):
        session = _visible_or_404(request, id)
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = services.session_cancel(
            session=session.pk,
            actor=request.user,
            reason=serializer.validated_data["reason"],
            source="api",
            source_ip=client_ip(request),
        )
        return _session_response(request, session)
