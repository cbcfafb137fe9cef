"""Kenyan mobile numbers: accept what people type, store one form.

Accepted: 07XXXXXXXX, 01XXXXXXXX, 7XXXXXXXX, 1XXXXXXXX, +2547XXXXXXXX,
+2541XXXXXXXX, 2547XXXXXXXX, 2541XXXXXXXX, with spaces, dashes, dots or brackets.
"""

from __future__ import annotations

import re

ACCEPTED_FORMS = "07XX XXX XXX, 01XX XXX XXX, +2547XX XXX XXX or 2547XX XXX XXX"
INVALID_MESSAGE = f"Enter a Kenyan mobile number, for example {ACCEPTED_FORMS}."

_SEPARATORS = re.compile(r"[\s\-.()]")
_MSISDN = re.compile(r"^254[17]\d{8}$")


class InvalidPhone(ValueError):
    def __init__(self, message: str = INVALID_MESSAGE):
        self.message = message
        super().__init__(message)


def normalize_msisdn(raw: str) -> str:
    """Return the 12-digit MSISDN Daraja expects (2547XXXXXXXX / 2541XXXXXXXX) or raise InvalidPhone."""
    digits = _SEPARATORS.sub("", str(raw or ""))
    if digits.startswith("+"):
        digits = digits[1:]
    if digits.startswith("0") and len(digits) == 10:
        digits = "254" + digits[1:]
    elif len(digits) == 9 and digits[:1] in ("7", "1"):
        digits = "254" + digits
    if not _MSISDN.match(digits):
        raise InvalidPhone()
    return digits


def to_e164(raw: str) -> str:
    """+2547XXXXXXXX, for storing on a user's profile."""
    return "+" + normalize_msisdn(raw)


def mask(msisdn: str) -> str:
    """2547******49: enough for a person to recognise, nothing for a log to leak."""
    digits = re.sub(r"\D", "", msisdn or "")
    return digits[:4] + "*" * max(len(digits) - 6, 0) + digits[-2:] if len(digits) > 6 else "***"
