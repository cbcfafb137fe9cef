"""Signing in, the parts around the password (issue 18): email verification, throttles, known devices.

- Email verification: a new account (and an account whose email changes) is unverified until its owner
  follows a signed link (``EMAIL_VERIFICATION_MAX_AGE_SECONDS``) sent to that address; an unverified client
  cannot book (services.sessions.session_request refuses, with the reason).
- Throttles on signup and password reset, per client address and per email, counted in Redis
  (sessions_app.ratelimit) so every process shares them. The login's own lockout is in services.users.
- Known devices: each browser carries a random id cookie; signing in from one this account has not used
  before (when it has used others) emails the account's owner.

Emails are account emails, not about a session (notifications_app's Notification is one per session): they
use the same email design (templates sessions_app/email/account_*.html and .txt, a copy of
notifications_app/email/base.* without the booking rows; sessions_app imports nothing of notifications_app)
and are sent by the task ``sessions_app.tasks.send_account_email`` once the transaction commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
import zoneinfo

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .. import ratelimit
from ..exceptions import RateLimited, ValidationFailed
from ..models import KnownDevice, User

VERIFY_SALT = "sessions_app.email-verification"
HOUR = 60 * 60
SEND_ACCOUNT_EMAIL = "sessions_app.tasks.send_account_email"
DEVICE_COOKIE = "device"
DEVICE_COOKIE_AGE = 2 * 365 * 24 * HOUR
RESEND_LIMIT = 3  # verification emails per account per hour

SUBJECTS = {
    "verify_email": "Confirm your email address",
    "new_device": "New sign-in to your account",
}


# --- Throttles ------------------------------------------------------------------------------------


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def _throttle(*, action: str, ip: str | None, email: str, per_ip: int, per_email: int, what: str) -> None:
    """Count one attempt at ``action`` against the address and the email; RateLimited when either is full.

    The address is checked (and counted) first; a refused attempt counts against nothing else."""
    checks = [(f"{action}-ip", ip or "unknown", per_ip)]
    email = (email or "").strip().lower()
    if email:
        checks.append((f"{action}-email", email, per_email))
    for scope, ident, limit in checks:
        try:
            ratelimit.hit(scope=scope, ident=ident, limit=limit, window=HOUR)
        except RateLimited as exc:
            refused = RateLimited(f"Too many {what}, try again in {_minutes(exc.retry_after)}.")
            refused.retry_after = exc.retry_after
            raise refused from None


def signup_throttle(*, ip: str | None, email: str) -> None:
    _throttle(
        action="signup",
        ip=ip,
        email=email,
        per_ip=settings.SIGNUP_PER_IP_PER_HOUR,
        per_email=settings.SIGNUP_PER_EMAIL_PER_HOUR,
        what="sign-up attempts",
    )


def password_reset_throttle(*, ip: str | None, email: str) -> None:
    _throttle(
        action="password-reset",
        ip=ip,
        email=email,
        per_ip=settings.PASSWORD_RESET_PER_IP_PER_HOUR,
        per_email=settings.PASSWORD_RESET_PER_EMAIL_PER_HOUR,
        what="password reset requests",
    )


# --- Account emails -------------------------------------------------------------------------------


def _task_send(name: str, *args) -> None:
    """Queue task ``name`` by its registered name (as notifications_app.dispatch does): in-process when eager."""
    from celery import current_app

    if current_app.conf.task_always_eager:
        if name not in current_app.tasks:
            current_app.loader.import_default_modules()
        current_app.tasks[name].apply_async(args=args)
    else:
        current_app.send_task(name, args=args)


def _queue_account_email(*, kind: str, user_id: int, **context) -> None:
    transaction.on_commit(lambda: _task_send(SEND_ACCOUNT_EMAIL, kind, user_id, context), robust=True)


def _moment(value: dt.datetime, user: User) -> str:
    """'Tuesday 3 March 2026 at 14:00 (Africa/Nairobi time)', in the recipient's zone (as the booking emails)."""
    try:
        zone = zoneinfo.ZoneInfo(user.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    local = timezone.localtime(value, zone)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M} ({zone.key.replace('_', ' ')} time)"


def account_email_send(*, kind: str, user_id: int, context: dict | None = None) -> bool:
    """Render and send one account email to the user's current address (the task calls this). False when
    there is nobody to send it to any more (deleted, inactive, or the link was for an old address)."""
    if kind not in SUBJECTS:
        raise ValueError(f"Unknown account email {kind!r}.")
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return False
    ctx = {"product_name": settings.PRODUCT_NAME, "site_url": settings.SITE_URL, "recipient": user, **(context or {})}
    ctx["subject"] = SUBJECTS[kind]
    if kind == "verify_email":
        if user.email_verified_at is not None:
            return False
        ctx["verify_url"] = settings.SITE_URL + reverse("sessions:verify_email", args=[email_verification_token(user)])
        ctx["valid_hours"] = settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS // HOUR
    elif kind == "new_device":
        at = dt.datetime.fromisoformat(ctx["at"]) if ctx.get("at") else timezone.now()
        ctx["when"] = _moment(at, user)
        ctx["password_url"] = settings.SITE_URL + reverse("sessions:password_reset")
        ctx["two_factor_url"] = settings.SITE_URL + reverse("sessions:two_factor")
    text = render_to_string(f"sessions_app/email/account_{kind}.txt", ctx)
    html = render_to_string(f"sessions_app/email/account_{kind}.html", ctx)
    message = EmailMultiAlternatives(
        subject=ctx["subject"], body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email]
    )
    message.attach_alternative(html, "text/html")
    message.send()
    return True


# --- Email verification ---------------------------------------------------------------------------


def email_verification_token(user: User) -> str:
    """A signed, timestamped token naming the account and the address it was sent to."""
    return signing.dumps({"u": user.pk, "e": user.email.lower()}, salt=VERIFY_SALT, compress=True)


def email_verification_send(*, user: User) -> None:
    """Queue the verification email (after this transaction commits)."""
    _queue_account_email(kind="verify_email", user_id=user.pk)


def email_verification_resend(*, user: User) -> None:
    """Send the link again (RESEND_LIMIT an hour); ValidationFailed when already verified."""
    if user.email_verified_at is not None:
        raise ValidationFailed("Your email address is already confirmed.")
    try:
        ratelimit.hit(scope="verify-resend", ident=str(user.pk), limit=RESEND_LIMIT, window=HOUR)
    except RateLimited as exc:
        raise RateLimited(
            f"We have sent the link {RESEND_LIMIT} times this hour. Check your spam folder, or try again in "
            f"{_minutes(exc.retry_after)}."
        ) from None
    email_verification_send(user=user)


def email_verify(*, token: str) -> User:
    """Mark the account in ``token`` verified. ValidationFailed for a broken, expired or outdated link."""
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise ValidationFailed("This link has expired. Sign in and ask for a new one.", field="token") from None
    except signing.BadSignature:
        raise ValidationFailed("This link is not valid. Check that you copied all of it.", field="token") from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("e"), str):
        raise ValidationFailed("This link is not valid. Check that you copied all of it.", field="token")
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=data["u"], is_active=True).first()
        if user is None or user.email.lower() != data["e"]:
            raise ValidationFailed(
                "This link was for another email address. Sign in and ask for a new one.", field="token"
            )
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
    return user


# --- Known devices --------------------------------------------------------------------------------


def new_device_key() -> str:
    return secrets.token_urlsafe(32)


def _key_hash(device_key: str) -> str:
    return hashlib.sha256(device_key.encode()).hexdigest()


def _browser(user_agent: str) -> str:
    """A short description of the browser and system from its User-Agent."""
    ua = user_agent or ""
    browser = next(
        (
            name
            for token, name in (
                ("Edg/", "Edge"),
                ("OPR/", "Opera"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
            )
            if token in ua
        ),
        "A browser",
    )
    system = next(
        (
            name
            for token, name in (
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Windows", "Windows"),
                ("Mac OS X", "macOS"),
                ("Linux", "Linux"),
            )
            if token in ua
        ),
        "",
    )
    return f"{browser} on {system}" if system else browser


def signin_device_seen(*, user: User, device_key: str, user_agent: str, ip: str | None) -> bool:
    """Note that ``user`` completed a sign-in from the browser holding ``device_key``.

    A browser this account has not used before is recorded, and when the account already had others its
    owner is emailed (a first sign-in, or the first since this was introduced, records silently). Returns
    True when that email was queued."""
    key_hash = _key_hash(device_key)
    now = timezone.now()
    with transaction.atomic():
        updated = KnownDevice.objects.filter(user=user, key_hash=key_hash).update(last_seen=now)
        if updated:
            return False
        had_others = KnownDevice.objects.filter(user=user).exists()
        try:
            with transaction.atomic():
                KnownDevice.objects.create(
                    user=user,
                    key_hash=key_hash,
                    user_agent=(user_agent or "")[:200],
                    ip_address=ip,
                    first_seen=now,
                    last_seen=now,
                )
        except IntegrityError:
            return False  # the same browser's other request got there first
        if had_others:
            _queue_account_email(
                kind="new_device", user_id=user.pk, at=now.isoformat(), browser=_browser(user_agent), ip=ip or ""
            )
    return had_others
