"""Strong sign-in (issue 18): two-step sign-in, email verification, throttles, idle timeout, new-device email."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp

from sessions_app.middleware import SEEN_KEY
from sessions_app.models import KnownDevice, User
from sessions_app.services import signin, two_factor

from ..celery_workers import redis_ready, redis_url
from ..factories import PASSWORD, ClientFactory, TherapistProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


def _login(client, email, password=PASSWORD, **extra):
    return client.post(reverse("sessions:login"), {"username": email, "password": password}, **extra)


def _code_for(secret_grouped: str) -> str:
    key = base64.b32decode(secret_grouped.replace(" ", ""))
    return f"{totp(key):06d}"


def _enrol(client) -> list[str]:
    page = client.get(reverse("sessions:two_factor_setup"))
    assert page.status_code == 200
    enrolment = page.context["enrolment"]
    assert "<svg" in page.content.decode()
    done = client.post(reverse("sessions:two_factor_setup"), {"code": _code_for(enrolment.secret)})
    assert done.status_code == 200, done.content
    return done.context["codes"]


def test_a_therapist_must_enrol_before_the_dashboard_and_then_signs_in_with_a_code():
    therapist = TherapistProfileFactory()
    client = Client()
    response = _login(client, therapist.user.email)
    assert response["Location"].startswith(reverse("sessions:two_factor_setup"))
    dashboard = client.get(reverse("sessions:dashboard"))
    assert dashboard.status_code == 302 and dashboard["Location"].startswith(reverse("sessions:two_factor_setup"))
    # A wrong code changes nothing.
    assert client.post(reverse("sessions:two_factor_setup"), {"code": "000000"}).status_code == 400
    assert not two_factor.two_factor_enabled(therapist.user)
    codes = _enrol(client)
    assert len(codes) == two_factor.RECOVERY_CODE_COUNT
    assert client.get(reverse("sessions:dashboard")).status_code == 200

    # Next time: the password, then a code; a recovery code works once only.
    second = Client()
    response = _login(second, therapist.user.email)
    assert response["Location"].startswith(reverse("sessions:login_code"))
    assert second.get(reverse("sessions:dashboard"))["Location"].startswith(reverse("sessions:login_code"))
    assert second.post(reverse("sessions:login_code"), {"code": codes[0]}).status_code == 302
    assert second.get(reverse("sessions:dashboard")).status_code == 200
    assert two_factor.recovery_codes_left(therapist.user) == two_factor.RECOVERY_CODE_COUNT - 1
    third = Client()
    _login(third, therapist.user.email)
    again = third.post(reverse("sessions:login_code"), {"code": codes[0]})
    assert again.status_code == 400 and "not right" in again.content.decode()
    assert third.get(reverse("sessions:dashboard")).status_code == 302


def test_staff_without_two_factor_cannot_reach_the_admin():
    staff = UserFactory(staff=True)
    client = Client()
    _login(client, staff.email)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("sessions:two_factor_setup"))
    # The admin's own login form is not a way around: it sends people to ours.
    assert Client().get("/admin/login/")["Location"].startswith(reverse("sessions:login"))
    # The API's session authentication neither.
    api = client.get("/api/sessions")
    assert api.status_code == 403 and api.json()["code"] == "two_factor_required"


def test_api_tokens_for_therapists_need_the_code():
    therapist = TherapistProfileFactory()
    body = {"email": therapist.user.email, "password": PASSWORD}
    refused = Client().post("/api/auth/token", body, content_type="application/json")
    assert refused.status_code == 403  # not set up yet
    client = Client()
    _login(client, therapist.user.email)
    codes = _enrol(client)
    no_code = Client().post("/api/auth/token", body, content_type="application/json")
    assert no_code.status_code == 400 and "code" in no_code.json()["fields"]
    ok = Client().post("/api/auth/token", {**body, "code": codes[1]}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["token"]


def test_a_client_can_turn_two_factor_on_and_off_with_a_code():
    user = ClientFactory()
    client = Client()
    assert _login(client, user.email).status_code == 302
    assert client.get(reverse("sessions:profile")).status_code == 200  # no second step by default
    codes = _enrol(client)
    assert two_factor.two_factor_enabled(user)
    refused = client.post(reverse("sessions:two_factor"), {"action": "bogus", "code": codes[2]})
    assert refused.status_code == 400 and two_factor.two_factor_enabled(user)
    off = client.post(reverse("sessions:two_factor"), {"action": "disable", "code": codes[2]})
    assert off.status_code == 302 and not two_factor.two_factor_enabled(user)


def test_staff_are_signed_out_after_inactivity(settings):
    therapist = TherapistProfileFactory()
    client = Client()
    client.force_login(therapist.user)
    assert client.get(reverse("sessions:dashboard")).status_code == 200
    session = client.session
    session[SEEN_KEY] = int(timezone.now().timestamp()) - settings.STAFF_IDLE_TIMEOUT_SECONDS - 5
    session.save()
    response = client.get(reverse("sessions:dashboard"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("sessions:login"))
    assert client.get(reverse("sessions:dashboard"))["Location"].startswith(reverse("sessions:login"))


def test_signing_in_from_a_new_browser_emails_the_owner(django_capture_on_commit_callbacks):
    user = ClientFactory()
    KnownDevice.objects.create(user=user, key_hash="0" * 64, user_agent="old")
    mail.outbox.clear()
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 14) Chrome/130.0 Mobile Safari/537.36")
    with django_capture_on_commit_callbacks(execute=True):
        assert _login(client, user.email).status_code == 302
    assert [m.subject for m in mail.outbox] == ["New sign-in to your account"]
    assert "Chrome on Android" in mail.outbox[0].body
    # The same browser again: no email.
    client.post(reverse("sessions:logout"))
    with django_capture_on_commit_callbacks(execute=True):
        assert _login(client, user.email).status_code == 302
    assert len(mail.outbox) == 1
    assert KnownDevice.objects.filter(user=user).count() == 2


def test_a_new_account_confirms_its_email_before_booking(django_capture_on_commit_callbacks):
    from sessions_app.exceptions import NotAllowed
    from sessions_app.services.sessions import session_request

    from ..factories import SessionTypeFactory, future_slot

    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("sessions:signup"),
            {
                "full_name": "Neema Kariuki",
                "email": "neema@example.com",
                "phone": "0712345678",
                "password1": PASSWORD,
                "password2": PASSWORD,
                "time_zone": "Africa/Nairobi",
                "consent": "on",
            },
        )
    assert response.status_code == 302
    user = User.objects.get(email="neema@example.com")
    assert user.email_verified_at is None
    assert mail.outbox[-1].subject == "Confirm your email address"
    link = next(w for w in mail.outbox[-1].body.split() if "/account/verify/" in w)
    therapist = TherapistProfileFactory()
    session_type = SessionTypeFactory(therapist=therapist)
    with pytest.raises(NotAllowed, match="confirm your email"):
        session_request(client=user, therapist=therapist, session_type=session_type, start=future_slot())
    bad = client.get(reverse("sessions:verify_email", args=["not-a-token"]))
    assert bad.status_code == 400
    ok = client.get("/" + link.split("://", 1)[1].split("/", 1)[1])
    assert ok.status_code == 200
    user.refresh_from_db()
    assert user.email_verified_at is not None


def test_an_expired_verification_link_is_refused(settings):
    user = ClientFactory(email_verified_at=None)
    token = signin.email_verification_token(user)
    settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS = -1
    assert Client().get(reverse("sessions:verify_email", args=[token])).status_code == 400
    user.refresh_from_db()
    assert user.email_verified_at is None


def test_a_spoofed_x_forwarded_for_cannot_dodge_the_password_reset_limit(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.PASSWORD_RESET_PER_IP_PER_HOUR = 3
    client = Client()
    statuses = []
    for n in range(5):
        # The caller writes any first entry; our proxy appends the real address (the last one).
        response = client.post(
            reverse("sessions:password_reset"),
            {"email": f"someone{n}@example.com"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}, 198.51.100.7",
        )
        statuses.append(response.status_code)
    assert statuses == [302, 302, 302, 429, 429]
    # Another real address is not limited.
    other = client.post(
        reverse("sessions:password_reset"), {"email": "x@example.com"}, HTTP_X_FORWARDED_FOR="198.51.100.8"
    )
    assert other.status_code == 302


def test_signup_is_throttled_per_email(settings):
    settings.SIGNUP_PER_EMAIL_PER_HOUR = 2
    client = Client()
    body = {"email": "same@example.com", "full_name": "", "password1": "x", "password2": "y"}
    statuses = [client.post(reverse("sessions:signup"), body, REMOTE_ADDR=f"10.0.0.{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    assert not User.objects.filter(email="same@example.com").exists()


_PROCESS = """
import json, os, sys
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "booking_project.settings.test"
django.setup()
from django.conf import settings
settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": sys.argv[1]}}
from sessions_app.exceptions import RateLimited
from sessions_app.services import signin
out = []
for _ in range(int(sys.argv[2])):
    try:
        signin.signup_throttle(ip="198.51.100.9", email="")
        out.append("ok")
    except RateLimited:
        out.append("limited")
print(json.dumps(out))
"""


def test_the_signup_limit_is_shared_by_two_processes(settings):
    url = redis_url(5)
    redis_ready(url)
    import redis

    redis.Redis.from_url(url).flushdb()
    env = {**os.environ}
    env.setdefault("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/booking")
    limit = settings.SIGNUP_PER_IP_PER_HOUR
    first = subprocess.run(
        [sys.executable, "-c", _PROCESS, url, str(limit - 2)], capture_output=True, text=True, env=env, timeout=60
    )
    second = subprocess.run(
        [sys.executable, "-c", _PROCESS, url, "4"], capture_output=True, text=True, env=env, timeout=60
    )
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-2000:] + second.stderr[-2000:]
    assert json.loads(first.stdout.strip().splitlines()[-1]) == ["ok"] * (limit - 2)
    assert json.loads(second.stdout.strip().splitlines()[-1]) == ["ok", "ok", "limited", "limited"]
