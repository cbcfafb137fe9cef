"""Accounts: signing up, signing in (the lockout rule), one's own profile."""

from __future__ import annotations

import math

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import ratelimit
from ..exceptions import InvalidCredentials, RateLimited, ValidationFailed
from ..models import User
from ..phone import InvalidPhone, to_e164
from . import signin
from .consent import consent_record

_TIME_ZONES = {name for name, _ in User._meta.get_field("time_zone").choices}


def _account_fields(*, full_name: str, phone: str, time_zone: str) -> dict:
    full_name = " ".join((full_name or "").split())
    if not full_name:
        raise ValidationFailed("Please enter your name.", field="full_name")
    try:
        phone = to_e164(phone)
    except InvalidPhone as exc:
        raise ValidationFailed(exc.message, field="phone")
    if time_zone not in _TIME_ZONES:
        raise ValidationFailed("Choose a time zone from the list.", field="time_zone")
    return {"full_name": full_name[:150], "phone": phone, "time_zone": time_zone}


def user_signup(
    *,
    email: str,
    full_name: str,
    phone: str,
    password: str,
    time_zone: str = "Africa/Nairobi",
    privacy_consent: bool,
    source_ip: str | None = None,
) -> User:
    """A new client account. Consent to the terms and the privacy notice is required; the versions
    agreed to and the time are kept (Consent rows)."""
    """A new client account. Consent to the privacy notice is required, and its time is kept.

    The account starts with its email unconfirmed: the link to confirm it is emailed once this commits."""
    if not privacy_consent:
        raise ValidationFailed(
            "Please agree to the terms of use and the privacy notice to create an account.", field="consent"
        )
    email = (email or "").strip().lower()
    if not email:
        raise ValidationFailed("Please enter your email.", field="email")
    fields = _account_fields(full_name=full_name, phone=phone, time_zone=time_zone)
    try:
        validate_password(password, user=User(email=email, full_name=fields["full_name"]))
    except DjangoValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), field="password")
    duplicate = ValidationFailed("An account with this email already exists.", field="email")
    if User.objects.filter(email__iexact=email).exists():
        raise duplicate
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email,
                password=password,
                role=User.Role.CLIENT,
                privacy_consent_at=timezone.now(),
                email_verified_at=None,
                **fields,
            )
            consent_record(user=user, agreed=True, source_ip=source_ip)
            signin.email_verification_send(user=user)
            return user
    except IntegrityError:
        raise duplicate


def user_profile_update(*, user: User, full_name: str, phone: str, time_zone: str, email: str | None = None) -> User:
    """A person edits their own name, phone, time zone and (optionally) email.

    A new email is unconfirmed until its link (emailed once this commits) is followed."""
    fields = _account_fields(full_name=full_name, phone=phone, time_zone=time_zone)
    if email is not None:
        email = email.strip().lower()
        if not email:
            raise ValidationFailed("Please enter your email.", field="email")
        if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
            raise ValidationFailed("Another account already uses this email.", field="email")
        fields["email"] = email
    try:
        with transaction.atomic():
            locked = User.objects.select_for_update().get(pk=user.pk)
            if "email" in fields and fields["email"] != locked.email.lower():
                fields["email_verified_at"] = None
                signin.email_verification_send(user=locked)
            for name, value in fields.items():
                setattr(locked, name, value)
            locked.save(update_fields=list(fields))
    except IntegrityError:
        raise ValidationFailed("Another account already uses this email.", field="email")
    for name, value in fields.items():
        setattr(user, name, value)
    return user


# --- Signing in ---------------------------------------------------------------------------
# Lockouts per account and per address: while either is locked the password is not checked at
# all; a failed attempt counts against both; a good login clears the account's counter.

LOGIN_ACCOUNT_LIMIT = 5
LOGIN_IP_LIMIT = 20
LOGIN_WINDOW = 15 * 60


def _login_scopes(*, email: str, ip: str | None) -> list[tuple[str, str, int]]:
    return [("login-account", email, LOGIN_ACCOUNT_LIMIT), ("login-ip", ip or "unknown", LOGIN_IP_LIMIT)]


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def user_authenticate(*, email: str, password: str, ip: str | None, request=None) -> User:
    """The user these credentials sign in, under the lockout rule (shared by the login page and the API).

    Raises RateLimited ("Too many attempts, try again in N minutes.", with ``retry_after``
    seconds) while the account or the address is locked, InvalidCredentials for a wrong
    pair or an inactive account (counted), ValidationFailed when a field is empty (not counted).
    """
    email = (email or "").strip().lower()
    if not email:
        raise ValidationFailed("Please enter your email.", field="email")
    if not password:
        raise ValidationFailed("Please enter your password.", field="password")
    scopes = _login_scopes(email=email, ip=ip)
    for checked, (scope, ident, limit) in enumerate(scopes):
        if ratelimit.is_limited(scope=scope, ident=ident, limit=limit, window=LOGIN_WINDOW):
            for earlier, earlier_ident, _ in scopes[:checked]:  # the places those checks reserved go back
                ratelimit.release(scope=earlier, ident=earlier_ident, window=LOGIN_WINDOW)
            retry_after = max(1, ratelimit.retry_after(scope=scope, ident=ident, limit=limit, window=LOGIN_WINDOW))
            exc = RateLimited(f"Too many attempts, try again in {_minutes(retry_after)}.")
            exc.retry_after = retry_after
            raise exc
    user = authenticate(request, username=email, password=password)
    if user is None or not user.is_active:
        for scope, ident, limit in scopes:
            try:
                ratelimit.hit(scope=scope, ident=ident, limit=limit, window=LOGIN_WINDOW)
            except RateLimited:
                pass  # Counted; the next attempt is refused before any password check.
        raise InvalidCredentials()
    ratelimit.reset(scope="login-account", ident=email, window=LOGIN_WINDOW)
    for scope, ident, _ in scopes[1:]:  # a good login is no failure of its address: give its place back
        ratelimit.release(scope=scope, ident=ident, window=LOGIN_WINDOW)
    return user
