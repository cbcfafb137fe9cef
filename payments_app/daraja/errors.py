"""Daraja's errors and plain words for its ResultCodes: a small hierarchy whose ``user_message`` a person can read.

Every ResultCode is a string here (Daraja sends numbers in callbacks, strings in
query replies, and non-numeric codes such as "SFC_IC0003"). Each code, known or
not, has a plain message and a class:

- ``final``: this push is over; the customer may start a new one;
- ``transient``: this push is over or not answered yet, and asking again (or a
  new push a little later) may work;
- ``configuration``: our M-Pesa set-up is wrong (shortcode, till, credentials):
  no retry helps, staff must fix it.

Protocol facts: docs/design.md#what-we-rely-on-in-daraja.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FINAL = "final"
TRANSIENT = "transient"
CONFIGURATION = "configuration"
CLASSES = (FINAL, TRANSIENT, CONFIGURATION)

GENERIC_FAILURE = "M-Pesa did not complete the payment. Please try again."
CONFIGURATION_MESSAGE = (
    "M-Pesa refused the payment request because of a problem on our side. Our team has been told; "
    "please try again later."
)


@dataclass(frozen=True)
class ResultInfo:
    message: str
    error_class: str
    known: bool = True


# Plain words and class for every STK ResultCode in docs/design.md#what-we-rely-on-in-daraja, plus 1036 and 2002.
RESULTS: dict[str, ResultInfo] = {
    "0": ResultInfo("Paid.", FINAL),
    "1": ResultInfo("Your M-Pesa balance was not enough for this payment. Top up and try again.", FINAL),
    "2": ResultInfo("The amount is below the M-Pesa minimum.", FINAL),
    "3": ResultInfo("The amount is above the M-Pesa maximum for one payment.", FINAL),
    "4": ResultInfo("This payment would go over your daily M-Pesa limit.", FINAL),
    "8": ResultInfo("The business account cannot receive this payment just now. Please try again later.", FINAL),
    "17": ResultInfo("A payment of the same amount was just made. Please wait two minutes and try again.", TRANSIENT),
    "26": ResultInfo("M-Pesa is busy just now. Please try again in a minute.", TRANSIENT),
    "1001": ResultInfo(
        "Another M-Pesa request is open on your phone. Finish or cancel it, wait a minute, and try again.", TRANSIENT
    ),
    "1019": ResultInfo("The request expired before it was answered. Please try again.", FINAL),
    "1025": ResultInfo("M-Pesa could not send the request to your phone. Please try again.", TRANSIENT),
    "1032": ResultInfo("You cancelled the request on your phone.", FINAL),
    # 1036: "SMSC ACK timeout." (django-daraja's tests, tests/test_parse_result.py; not on the portal page).
    "1036": ResultInfo(
        "M-Pesa could not deliver the request to your phone. Check it is on and has signal, then try again.",
        TRANSIENT,
    ),
    "1037": ResultInfo("Your phone could not be reached. Check it is on and has signal, then try again.", FINAL),
    "2001": ResultInfo("The M-Pesa PIN was wrong. Please try again.", FINAL),
    # 2002: "Agent number and Store number do not match" (till and head-office shortcode mixed up): our set-up.
    "2002": ResultInfo(CONFIGURATION_MESSAGE, CONFIGURATION),
    "2028": ResultInfo(CONFIGURATION_MESSAGE, CONFIGURATION),
    "SFC_IC0003": ResultInfo(CONFIGURATION_MESSAGE, CONFIGURATION),
    # The issue that asked for these classes counts a locked security credential as a set-up error staff must see;
    # the customer is still told what they can do.
    "8006": ResultInfo(
        "Your M-Pesa security credential is locked. Please call Safaricom customer care.", CONFIGURATION
    ),
    "9999": ResultInfo("M-Pesa could not send the request to your phone. Please try again.", TRANSIENT),
}
UNKNOWN_RESULT = ResultInfo(GENERIC_FAILURE, FINAL, known=False)
# The old name, kept for callers that only want the words.
RESULT_MESSAGES: dict[str, str] = {code: info.message for code, info in RESULTS.items()}


def result_code_text(code: Any) -> str:
    """Daraja's ResultCode as a string: 1032, "1032", " 1032 " -> "1032"; "SFC_IC0003" stays; None -> ""."""
    if code is None or isinstance(code, bool):
        return ""
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    text = str(code).strip()
    if text.lstrip("-").isdigit():
        return str(int(text))
    return text


def result_info(code: Any) -> ResultInfo:
    return RESULTS.get(result_code_text(code), UNKNOWN_RESULT)


def result_message(code: Any) -> str:
    return result_info(code).message


def result_class(code: Any) -> str:
    return result_info(code).error_class


class DarajaError(Exception):
    """Daraja refused or could not answer. ``user_message`` is safe to show to a person.

    ``error_class`` is final, transient or configuration (see the module doc);
    ``raw`` is the body Daraja sent (a dict, or ``{"text": ...}`` for a body that
    was not JSON), kept so staff can see exactly what came back.
    """

    transient = False
    error_class = FINAL
    default_user_message = "M-Pesa could not take the payment request just now. Please try again in a minute."

    def __init__(
        self, error_code: str = "", error_message: str = "", *, http_status: int | None = None, raw: Any = None
    ):
        self.error_code = error_code
        self.error_message = error_message
        self.http_status = http_status
        self.raw = raw
        super().__init__(f"{error_code} {error_message}".strip())

    @property
    def user_message(self) -> str:
        return self.default_user_message


class DarajaUnavailable(DarajaError):
    """Network failure, timeout, spike arrest, internal error: ask again later."""

    transient = True
    error_class = TRANSIENT


class DarajaInvalidToken(DarajaError):
    """404.001.03: the access token expired or was revoked."""

    transient = True
    error_class = TRANSIENT


class DarajaPending(DarajaError):
    """The STK Query's "The transaction is being processed": not a failure, ask again later."""

    transient = True
    error_class = TRANSIENT
    default_user_message = "Waiting for you to enter your M-Pesa PIN."


class DarajaUnexpectedReply(DarajaError):
    """A reply that does not fit the protocol (another CheckoutRequestID, no ResultCode, not JSON...).

    Nothing in it is used. It is recorded for staff and the push is asked about
    again; by the deadline an attempt that only ever got such replies needs attention.
    """

    transient = True
    error_class = TRANSIENT


class DarajaDeclined(DarajaError):
    """M-Pesa said no: a push it refused, or a final non-zero ResultCode."""

    def __init__(
        self, error_code: str = "", error_message: str = "", *, http_status=None, result_code=None, raw: Any = None
    ):
        super().__init__(error_code, error_message, http_status=http_status, raw=raw)
        self.result_code = result_code_text(result_code) if result_code is not None else None
        if self.result_code is not None:
            self.error_class = result_class(self.result_code)
            self.transient = self.error_class == TRANSIENT

    @property
    def user_message(self) -> str:
        if self.result_code is not None:
            return result_message(self.result_code)
        text = self.error_message.lower()
        if "phonenumber" in text or "partya" in text:
            return "M-Pesa did not accept that phone number. Check it and try again."
        if "amount" in text:
            return "M-Pesa did not accept the amount. Please contact us."
        if "unable to lock subscriber" in text:
            return RESULT_MESSAGES["1001"]
        return "M-Pesa refused the payment request. Please try again in a minute, or contact us if it keeps happening."


class DarajaConfigurationError(DarajaDeclined):
    """Our M-Pesa set-up is wrong (consumer key or secret, shortcode, passkey, TransactionType, till).

    No retry helps: the calling service stops asking and alerts staff.
    """

    error_class = CONFIGURATION

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.error_class = CONFIGURATION
        self.transient = False

    @property
    def user_message(self) -> str:
        return CONFIGURATION_MESSAGE


class DarajaCancelledByUser(DarajaDeclined):
    """ResultCode 1032: the customer dismissed the prompt."""


def result_error(result_code: Any, result_desc: str) -> DarajaDeclined:
    """The typed error for a final non-zero ResultCode (its ``user_message`` is the plain reason)."""
    code = result_code_text(result_code)
    cls = DarajaCancelledByUser if code == "1032" else DarajaDeclined
    return cls(code, result_desc, result_code=code)


class CallbackInvalid(ValueError):
    """A body that is not an STK callback. ``field`` names the offending part."""

    def __init__(self, message: str, field: str = "Body"):
        self.message = message
        self.field = field
        super().__init__(message)
