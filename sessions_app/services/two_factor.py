"""Two-factor sign-in (issue 18): an authenticator app (TOTP) and single-use recovery codes, on django-otp.

Required for staff and therapists (they enrol before any page after their password), optional for clients.
django-otp keeps the devices (``TOTPDevice``, ``StaticDevice`` with its ``StaticToken`` rows) and checks codes
(RFC 6238, one step of drift, a code used once is never accepted again, growing delays after failures); this
module adds the rules: who must have it, enrolment, checking a code under a row lock (two requests cannot both
spend one code), a per-account limit on wrong codes, and recovery codes shown once.

What a session has passed is kept in it under ``STATE_KEY`` (see sessions_app.middleware.SignInMiddleware):
``none`` (no second step for this person), ``code`` (password given, code due), ``setup`` (password given,
enrolment due), ``verified``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .. import ratelimit
from ..exceptions import NotAllowed, RateLimited, ValidationFailed
from ..models import User

STATE_KEY = "signin_two_factor"
NONE, CODE, SETUP, VERIFIED = "none", "code", "setup", "verified"

RECOVERY_CODE_COUNT = 10
APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
CODE_LIMIT = 5  # wrong codes per account per window; django-otp's own growing delay comes on top
CODE_WINDOW = 15 * 60

_SEPARATORS = re.compile(r"[\s-]+")
WRONG_CODE = "That code is not right. Enter the 6 digits your app shows now, or one of your recovery codes."


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    secret: str  # base32, grouped in fours, for typing into an app by hand
    qr_svg: str  # inline <svg> of the otpauth:// URL


def two_factor_required(user: User) -> bool:
    """Staff and therapists (and anyone who can open the admin) must use a second step."""
    return bool(user.is_staff or user.is_superuser or user.role in (User.Role.STAFF, User.Role.THERAPIST))


def two_factor_enabled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def two_factor_state_for(user: User) -> str:
    """What a password-only sign-in of ``user`` still owes: CODE, SETUP, or NONE."""
    if two_factor_enabled(user):
        return CODE
    return SETUP if two_factor_required(user) else NONE


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _qr_svg(url: str) -> str:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = image.to_string(encoding="unicode")
    return re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)


def two_factor_enrol_start(*, user: User) -> Enrolment:
    """The unconfirmed app device to scan (made on the first call, the same one until confirmed)."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False, name=APP_DEVICE_NAME)
            .order_by("pk")
            .first()
        )
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode()
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return Enrolment(device=device, secret=grouped, qr_svg=_qr_svg(device.config_url))


def _normalise(code: str) -> str:
    return _SEPARATORS.sub("", code or "").lower()


def _count_wrong_code(user: User) -> None:
    try:
        ratelimit.hit(scope="two-factor", ident=str(user.pk), limit=CODE_LIMIT, window=CODE_WINDOW)
    except RateLimited:
        pass  # counted: the next attempt is refused before any code is checked


def _refuse_when_limited(user: User) -> None:
    wait = ratelimit.retry_after(scope="two-factor", ident=str(user.pk), limit=CODE_LIMIT, window=CODE_WINDOW)
    if wait:
        minutes = max(1, -(-wait // 60))
        exc = RateLimited(f"Too many wrong codes, try again in {minutes} minute{'s' if minutes != 1 else ''}.")
        exc.retry_after = wait
        raise exc


def _new_recovery_codes(user: User) -> list[str]:
    """Replace every recovery code of ``user`` with RECOVERY_CODE_COUNT new ones (inside the caller's transaction)."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = []
    while len(codes) < RECOVERY_CODE_COUNT:
        token = StaticToken.random_token()
        if token not in codes:
            codes.append(token)
    StaticToken.objects.bulk_create([StaticToken(device=device, token=token) for token in codes])
    return codes


def two_factor_enrol_confirm(*, user: User, code: str) -> list[str]:
    """Confirm the app device with a code it shows; returns the new recovery codes, for the page to show once."""
    code = _normalise(code)
    if not re.fullmatch(r"\d{6}", code):
        raise ValidationFailed("Enter the 6-digit code your app shows.", field="code")
    _refuse_when_limited(user)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False, name=APP_DEVICE_NAME)
            .order_by("pk")
            .first()
        )
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise NotAllowed("Two-step sign-in is already set up on this account.")
        if device is None:
            raise ValidationFailed("Scan the code on this page again: the set-up expired.", field="code")
        if not device.verify_token(code):
            ok = False
        else:
            ok = True
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            codes = _new_recovery_codes(user)
    if not ok:
        _count_wrong_code(user)
        raise ValidationFailed("That code is not right. Enter the 6 digits your app shows now.", field="code")
    ratelimit.reset(scope="two-factor", ident=str(user.pk), window=CODE_WINDOW)
    return codes


def two_factor_verify(*, user: User, code: str):
    """The device (app or recovery codes) that accepts ``code`` for ``user``; a recovery code is used up.

    Raises ValidationFailed for a wrong or malformed code (counted), RateLimited after CODE_LIMIT wrong codes
    in CODE_WINDOW, NotAllowed when the account has no second step set up."""
    code = _normalise(code)
    if not code:
        raise ValidationFailed("Enter the code from your app, or a recovery code.", field="code")
    if len(code) > 16:
        raise ValidationFailed(WRONG_CODE, field="code")
    _refuse_when_limited(user)
    matched = None
    with transaction.atomic():
        if code.isdigit():
            devices = list(TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"))
        else:
            devices = list(StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"))
        if not devices and not two_factor_enabled(user):
            raise NotAllowed("Two-step sign-in is not set up on this account.")
        for device in devices:
            if device.verify_token(code):
                matched = device
                break
    if matched is None:
        _count_wrong_code(user)
        raise ValidationFailed(WRONG_CODE, field="code")
    ratelimit.reset(scope="two-factor", ident=str(user.pk), window=CODE_WINDOW)
    return matched


def two_factor_recovery_regenerate(*, user: User, code: str) -> list[str]:
    """New recovery codes (the old ones stop working), after a current code."""
    two_factor_verify(user=user, code=code)
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        return _new_recovery_codes(user)


def two_factor_disable(*, user: User, code: str) -> None:
    """A client turns two-step sign-in off with a current code. Staff and therapists cannot."""
    if two_factor_required(user):
        raise NotAllowed("Two-step sign-in is required for your account and cannot be turned off.")
    two_factor_verify(user=user, code=code)
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()


def two_factor_last_used(user: User):
    device = TOTPDevice.objects.filter(user=user, confirmed=True).only("last_used_at").first()
    return device.last_used_at if device is not None else None
