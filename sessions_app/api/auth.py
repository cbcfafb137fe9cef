"""POST /api/auth/token: email and password for an API token."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..exceptions import InvalidCredentials, NotAllowed, ValidationFailed
from ..http import client_ip
from ..selectors.privacy import consent_missing
from .common import errors
from .fields import StrictCharField


class TokenCreateApi(APIView):
    """Email and password for a token, with the login page's lockouts (per account and per address)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="Credentials")
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = StrictCharField(max_length=4096, trim_whitespace=False)
        code = StrictCharField(
            max_length=32,
            required=False,
            allow_blank=True,
            help_text="Two-step sign-in: the authenticator app's code or a recovery code. Required for staff, "
            "therapists and anyone who turned two-step sign-in on.",
        )

    @extend_schema_serializer(component_name="Token")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")

    @extend_schema(
        operation_id="auth_token",
        summary="Get an API token",
        description="Send it back as `Authorization: Token <token>`. Five failed attempts for one account (twenty "
        "from one address) lock it for up to 15 minutes: 429. An account that has not agreed to the current terms "
        "and privacy notice gets no token (403 `consent_required`) until it agrees on the website. "
        "Accounts with two-step sign-in (every staff and therapist account) also send `code`; without it: 400 naming `code`. A staff or therapist account that has "
        "not set two-step sign-in up yet gets 403 until it does so on the website.",
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(400, 403, 413, 415, 429)},
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.user_authenticate(
                email=serializer.validated_data["email"],
                password=serializer.validated_data["password"],
                ip=client_ip(request._request),
                request=request._request,
            )
        except InvalidCredentials as exc:
            return Response(
                {"code": "invalid_credentials", "message": exc.message, "fields": {"non_field_errors": [exc.message]}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if consent_missing(user=user):
            return Response(
                {
                    "code": "consent_required",
                    "message": "The terms of use or the privacy notice have changed: sign in on the website and "
                    "agree to them first.",
                    "fields": {},
                },
                status=status.HTTP_403_FORBIDDEN,
            )
        from ..services import two_factor

        state = two_factor.two_factor_state_for(user)
        if state == two_factor.SETUP:
            raise NotAllowed("Set up two-step sign-in on the website first; then ask for a token with its code.")
        if state == two_factor.CODE:
            code = serializer.validated_data.get("code") or ""
            if not code.strip():
                raise ValidationFailed("This account uses two-step sign-in: send its code as well.", field="code")
            two_factor.two_factor_verify(user=user, code=code)
        token, _ = Token.objects.get_or_create(user=user)
        return Response(self.OutputSerializer({"token": token.key}).data)
