"""A logging filter that keeps personal data and secrets out of logs.

Phone numbers (Kenyan and E.164) are masked, the M-Pesa callback secret is
replaced, and so are Daraja passwords and bearer tokens should a message carry
them. Attached to every handler in settings.LOGGING.
"""

from __future__ import annotations

import logging
import re

PHONE = re.compile(r"(?<!\d)(?:\+?254|0)?([17]\d{8})(?!\d)")
BEARER = re.compile(r"(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+")


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    text = BEARER.sub(r"\1 [redacted]", text)
    return PHONE.sub(lambda m: "[phone …" + m.group(1)[-2:] + "]", text)


class RedactPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from django.conf import settings

        secrets = [
            getattr(settings, "MPESA_CALLBACK_SECRET", ""),
            getattr(settings, "DARAJA_PASSKEY", ""),
            getattr(settings, "DARAJA_CONSUMER_SECRET", ""),
        ]
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must still be logged
            return True
        cleaned = scrub(message, secrets)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, secrets)
        return True
