"""Test helpers for two-step sign-in: an account with a confirmed authenticator app, and its current code."""

from __future__ import annotations

import base64

from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from sessions_app.services.two_factor import APP_DEVICE_NAME


def confirmed_authenticator(user) -> str:
    """Give ``user`` a confirmed authenticator app (as enrolment leaves it); return its base32 secret."""
    device = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=True)
    return base64.b32encode(device.bin_key).decode()


def code_for(secret: str) -> str:
    """The code the app shows now for a base32 secret."""
    return f"{totp(base64.b32decode(secret.replace(' ', ''))):06d}"
