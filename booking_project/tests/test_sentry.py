"""Sentry: initialised only with SENTRY_DSN, and every event redacted like the logs (before_send,
tested directly: no network)."""

from __future__ import annotations

import importlib
import json

import pytest

from booking_project import observability


@pytest.fixture
def secrets(settings):
    settings.MPESA_CALLBACK_SECRET = "cb-secret-abcdef0123456789"
    settings.DARAJA_PASSKEY = "passkey-bfb279f9aa9bdbcf158e97dd71a467cd"
    return settings


def an_event() -> dict:
    return {
        "message": "payment for 0712345678 failed",
        "logentry": {"message": "client %s", "params": ["jane@example.com"]},
        "exception": {
            "values": [
                {
                    "type": "IntegrityError",
                    "value": "duplicate key\nDETAIL:  Key (notes)=(my private notes) already exists.",
                    "stacktrace": {"frames": [{"function": "pay", "vars": {"phone": "254712345678"}}]},
                }
            ]
        },
        "request": {
            "url": "https://example.com/api/mpesa/callback/cb-secret-abcdef0123456789/",
            "headers": {"Authorization": "Bearer abc.def", "Cookie": "sessionid=x", "User-Agent": "t"},
            "cookies": {"sessionid": "x"},
            "data": {"notes": "my private notes"},
            "query_string": "email=jane%40example.com&p=passkey-bfb279f9aa9bdbcf158e97dd71a467cd",
        },
        "breadcrumbs": {"values": [{"message": "SMS to +254712345678"}]},
        "extra": {"nested": [{"to": "jane@example.com"}]},
    }


def test_before_send_redacts_every_string_and_drops_what_no_pattern_cleans(secrets):
    event = observability.sentry_before_send(an_event(), {})
    text = json.dumps(event)
    for leaked in ("0712345678", "254712345678", "jane@example.com", "cb-secret-abcdef", "passkey-bfb2", "abc.def"):
        assert leaked not in text, leaked
    assert "my private notes" not in text
    assert event["message"] == "payment for [phone …78] failed"
    assert event["logentry"]["params"] == ["[email]"]
    assert event["request"]["url"] == "https://example.com/api/mpesa/callback/[secret]/"
    assert event["request"]["headers"] == {"User-Agent": "t"}
    assert event["request"]["query_string"] == "email=[email]&p=[secret]"
    assert "data" not in event["request"] and "cookies" not in event["request"]
    assert "vars" not in event["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert event["breadcrumbs"]["values"][0]["message"] == "SMS to [phone …78]"


def test_before_send_tags_the_request_id():
    token = observability.request_id.set("req-sentry")
    try:
        event = observability.sentry_before_send({"message": "x"}, {})
    finally:
        observability.request_id.reset(token)
    assert event["tags"]["request_id"] == "req-sentry"


def test_before_breadcrumb_redacts():
    crumb = observability.sentry_before_breadcrumb({"message": "mail to jane@example.com", "data": {"p": "0712345678"}})
    assert crumb == {"message": "mail to [email]", "data": {"p": "[phone …78]"}}


def _reload_settings(monkeypatch, **env):
    import booking_project.settings as base

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return importlib.reload(base)


def test_sentry_is_initialised_only_with_a_dsn_and_with_the_redaction(monkeypatch):
    import sentry_sdk

    calls = []
    monkeypatch.setattr(sentry_sdk, "init", lambda **kwargs: calls.append(kwargs))
    try:
        monkeypatch.delenv("SENTRY_DSN", raising=False)
        _reload_settings(monkeypatch)
        assert calls == []
        _reload_settings(monkeypatch, SENTRY_DSN="https://public@sentry.example.invalid/1", SENTRY_ENVIRONMENT="prod")
        [kwargs] = calls
        assert kwargs["dsn"] == "https://public@sentry.example.invalid/1" and kwargs["environment"] == "prod"
        assert kwargs["before_send"] is observability.sentry_before_send
        assert kwargs["send_default_pii"] is False and kwargs["include_local_variables"] is False
        assert kwargs["max_request_body_size"] == "never"
    finally:
        monkeypatch.delenv("SENTRY_DSN", raising=False)
        monkeypatch.delenv("SENTRY_ENVIRONMENT", raising=False)
        import booking_project.settings as base

        importlib.reload(base)


def test_sentry_sdk_is_pinned():
    from pathlib import Path

    requirements = (Path(__file__).resolve().parents[2] / "requirements.txt").read_text()
    assert "\nsentry-sdk==" in requirements
