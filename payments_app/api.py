"""JSON endpoints: start a payment, follow it, and Daraja's callback."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from sessions_app import parsers as strict_json
from sessions_app.api.errors import error_response

from . import daraja, selectors, services
from .http import client_ip, ip_allowed
from .models import PaymentAttempt
from .serializers import (
    AttemptSerializer,
    CallbackAckSerializer,
    CallbackSerializer,
    ErrorSerializer,
    InitiateSerializer,
)

logger = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64 * 1024


def _errors(*codes: int) -> dict:
    text = {
        400: "Invalid input; `fields` names the field.",
        401: "Not logged in.",
        403: "Not allowed.",
        404: "Not found (or not yours).",
        409: "Not possible in the session's current state (for example not approved yet, or already paid).",
        429: "Too many payment requests for this session; wait a few minutes.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=text[code]) for code in codes}


def _attempt_data(attempt: PaymentAttempt) -> dict:
    fresh = PaymentAttempt.objects.select_related("session").get(pk=attempt.pk)
    return AttemptSerializer(fresh).data


class InitiateApi(APIView):
    @extend_schema(
        operation_id="mpesa_initiate",
        tags=["payments"],
        summary="Pay for an approved session with an M-Pesa STK Push",
        description=(
            "Sends the PIN prompt to the phone and moves the session's payment to Processing. "
            "While a push is still waiting, the same attempt is returned (200) and no second prompt is sent. "
            "A push M-Pesa refuses comes back as an attempt with status `failed` and a plain `message`. "
            "Follow the attempt with GET /api/mpesa/status/{checkout_request_id}."
        ),
        request=InitiateSerializer,
        responses={
            201: OpenApiResponse(AttemptSerializer, description="A new STK Push was sent (or refused: see status)."),
            200: OpenApiResponse(AttemptSerializer, description="A push is already waiting; this is it."),
            **_errors(400, 401, 404, 409, 429),
        },
        examples=[OpenApiExample("Pay", value={"session": 123, "phone": "0712345678"}, request_only=True)],
    )
    def post(self, request):
        serializer = InitiateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = selectors.session_for_payer(user=request.user, pk=serializer.validated_data["session"])
        if session is None:
            raise Http404
        attempt = services.payment_initiate(
            session=session,
            phone=serializer.validated_data["phone"],
            actor=request.user,
            source="api",
            source_ip=client_ip(request),
        )
        return Response(
            _attempt_data(attempt), status=status.HTTP_200_OK if attempt.reused else status.HTTP_201_CREATED
        )


class StatusApi(APIView):
    @extend_schema(
        operation_id="mpesa_status",
        tags=["payments"],
        summary="Where a payment stands",
        description=(
            "The attempt and its session's status. While the attempt is still processing this asks Daraja "
            "(STK Push Query), at most once every few seconds per attempt. Only the session's client may ask."
        ),
        responses={200: AttemptSerializer, **_errors(401, 404)},
    )
    def get(self, request, checkout_request_id: str):
        attempt = selectors.attempt_for_payer(user=request.user, checkout_request_id=checkout_request_id)
        if attempt is None:
            raise Http404
        attempt = services.payment_check(
            attempt=attempt,
            source="status",
            actor=request.user,
            source_ip=client_ip(request),
            min_interval=settings.MPESA_STATUS_QUERY_INTERVAL_SECONDS,
        )
        return Response(_attempt_data(attempt))


class CallbackApi(APIView):
    """Daraja's STK result. Unsigned, so it is stored, acknowledged, and only used as a trigger."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    # Django's request log names the path of every 4xx/5xx, and this path carries the callback secret:
    # such answers are logged here instead, without the path.
    def handle_exception(self, exc):
        try:
            return super().handle_exception(exc)
        except Exception:
            logger.exception("M-Pesa callback crashed")
            return error_response(
                code="server_error", message="Something went wrong on our side. Please try again.", http_status=500
            )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:
            response._has_been_logged = True
            code = response.data.get("code", "") if isinstance(getattr(response, "data", None), dict) else ""
            logger.warning("M-Pesa callback answered %s %s", response.status_code, code)
        return response

    @extend_schema(
        operation_id="mpesa_callback",
        tags=["payments"],
        summary="Daraja STK Push callback",
        description=(
            "Called by Safaricom. The secret in the path must match MPESA_CALLBACK_SECRET (else 404); the "
            "caller's address must be in MPESA_CALLBACK_ALLOWED_IPS when that is set (else 403). The body is "
            "stored and committed, then settled in the background by asking STK Push Query."
        ),
        request=CallbackSerializer,
        responses={
            200: OpenApiResponse(
                CallbackAckSerializer, description='Always {"ResultCode": 0, "ResultDesc": "Accepted"}.'
            ),
            **_errors(400, 403, 404),
            413: OpenApiResponse(ErrorSerializer, description="Body over 64 KB."),
        },
        auth=[],
    )
    def post(self, request, secret: str):
        if not hmac.compare_digest(secret.encode(), settings.MPESA_CALLBACK_SECRET.encode()):
            raise Http404
        ip = client_ip(request)
        if not ip_allowed(ip, settings.MPESA_CALLBACK_ALLOWED_IPS):
            logger.warning("Callback refused from an address outside MPESA_CALLBACK_ALLOWED_IPS: %s", ip)
            return error_response(
                code="forbidden", message="This address may not post M-Pesa results.", http_status=403
            )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_CALLBACK_BYTES:
            return error_response(code="too_large", message="The body is larger than 64 KB.", http_status=413)
        raw = request.body
        if len(raw) > MAX_CALLBACK_BYTES:
            return error_response(code="too_large", message="The body is larger than 64 KB.", http_status=413)
        try:
            # The project's strict decoder (sessions_app.parsers): no NaN/Infinity/1e309, no integer past
            # 64 bits, no NUL or lone surrogate, no duplicate key, no deep nesting: all a ValueError (400).
            payload = strict_json.loads(raw)
        except (ValueError, RecursionError):
            return error_response(code="parse_error", message="The body is not valid JSON.", http_status=400)
        try:
            parsed = daraja.parse_callback(payload)
        except daraja.CallbackInvalid as exc:
            return error_response(
                code="invalid_callback",
                message=f"Not an STK callback: {exc.message}",
                http_status=400,
                fields={exc.field: [exc.message]},
            )
        services.mpesa_callback_record(payload=payload, parsed=parsed, source_ip=ip)
        return Response({"ResultCode": 0, "ResultDesc": "Accepted"})


class _Alias:
    """The same endpoint under its other spelling (trailing slash, neutral path): left out of the schema."""

    schema = None


class InitiateAliasApi(_Alias, InitiateApi):
    pass


class StatusAliasApi(_Alias, StatusApi):
    pass


class CallbackAliasApi(_Alias, CallbackApi):
    pass
