"""System checks: refuse a callback set-up Daraja would reject, before any push goes out with it."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register

from .daraja.client import CALLBACK_FORBIDDEN_WORDS, callback_url, callback_url_problem

PRODUCTION_HOST = "api.safaricom.co.ke"


@register(Tags.compatibility)
def check_callback_url(app_configs=None, **kwargs) -> list[Error]:
    """DARAJA_CALLBACK_BASE_URL and MPESA_CALLBACK_SECRET make the CallBackURL: Daraja must accept it."""
    errors = []
    secret = getattr(settings, "MPESA_CALLBACK_SECRET", "")
    lowered = secret.lower()
    bad_word = next((word for word in CALLBACK_FORBIDDEN_WORDS if word in lowered), "")
    if not secret or bad_word or not secret.replace("-", "").replace("_", "").isalnum():
        why = f'contains "{bad_word}"' if bad_word else "must be letters, digits, - and _ only"
        errors.append(
            Error(
                f"MPESA_CALLBACK_SECRET {why}: Daraja would reject the CallBackURL built from it.",
                hint="Use a random token of letters and digits (e.g. secrets.token_hex(16)); Daraja refuses URLs "
                "containing mpesa, safaricom, query, cmd, exe or sql (docs/design.md#what-we-rely-on-in-daraja).",
                id="payments_app.E001",
            )
        )
    base = getattr(settings, "DARAJA_CALLBACK_BASE_URL", "")
    problem = callback_url_problem(base)
    if problem:
        errors.append(
            Error(
                f"DARAJA_CALLBACK_BASE_URL {base!r} would be rejected by Daraja: {problem}.",
                hint="A public http(s) address without the words mpesa, safaricom, query, cmd, exe or sql and not "
                "an ngrok tunnel (docs/design.md#what-we-rely-on-in-daraja).",
                id="payments_app.E002",
            )
        )
    production = (urlsplit(getattr(settings, "DARAJA_BASE_URL", "")).hostname or "") == PRODUCTION_HOST
    if production and not problem and urlsplit(base).scheme != "https":
        errors.append(
            Error(
                "DARAJA_CALLBACK_BASE_URL must be https with the production Daraja (the sandbox allows http).",
                id="payments_app.E003",
            )
        )
    if not errors and callback_url_problem(callback_url()):
        errors.append(
            Error(
                f"The CallBackURL would be rejected by Daraja: {callback_url_problem(callback_url())}.",
                id="payments_app.E004",
            )
        )
    return errors
