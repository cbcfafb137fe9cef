"""Daraja's errors and plain words for its ResultCodes: a small hierarchy whose ``user_message`` a person can read.

Protocol facts: shared/reference/daraja.md.
"""

from __future__ import annotations

# Plain words for STK ResultCodes (shared/reference/daraja.md section 5).
RESULT_MESSAGES: dict[int, str] = {
    0: "Paid.",
    1: "Your M-Pesa balance was not enough for this payment. Top up and try again.",
    2: "The amount is below the M-Pesa minimum.",
    3: "The amount is above the M-Pesa maximum for one payment.",
    4: "This payment would go over your daily M-Pesa limit.",
    8: "The business account cannot receive this payment just now. Please try again later.",
    17: "A payment of the same amount was just made. Please wait two minutes and try again.",
    26: "M-Pesa is busy just now. Please try again in a minute.",
    1001: "Another M-Pesa request is open on your phone. Finish or cancel it, wait a minute, and try again.",
    1019: "The request expired before it was answered. Please try again.",
    1025: "M-Pesa could not send the request to your phone. Please try again.",
    1032: "You cancelled the request on your phone.",
    1037: "Your phone could not be reached. Check it is on and has signal, then try again.",
    2001: "The M-Pesa PIN was wrong. Please try again.",
    2028: "This payment is not permitted by M-Pesa. Please contact us.",
    8006: "Your M-Pesa security credential is locked. Please call Safaricom customer care.",
    9999: "M-Pesa could not send the request to your phone. Please try again.",
}
GENERIC_FAILURE = "M-Pesa did not complete the payment. Please try again."


def result_message(code: int | str | None) -> str:
    try:
        return RESULT_MESSAGES.get(int(code), GENERIC_FAILURE)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return GENERIC_FAILURE


class DarajaError(Exception):
    """Daraja refused or could not answer. ``user_message`` is safe to show to a person."""

    transient = False
    default_user_message = "M-Pesa could not take the payment request just now. Please try again in a minute."

    def __init__(self, error_code: str = "", error_message: str = "", *, http_status: int | None = None):
        self.error_code = error_code
        self.error_message = error_message
        self.http_status = http_status
        super().__init__(f"{error_code} {error_message}".strip())

    @property
    def user_message(self) -> str:
        return self.default_user_message


class DarajaUnavailable(DarajaError):
    """Network failure, timeout, spike arrest, internal error: ask again later."""

    transient = True


class DarajaInvalidToken(DarajaError):
    """404.001.03: the access token expired or was revoked."""

    transient = True


class DarajaPending(DarajaError):
    """The STK Query's "The transaction is being processed": not a failure, ask again later."""

    transient = True
    default_user_message = "Waiting for you to enter your M-Pesa PIN."


class DarajaDeclined(DarajaError):
    """M-Pesa said no: a push it refused, or a final non-zero ResultCode."""

    def __init__(self, error_code: str = "", error_message: str = "", *, http_status=None, result_code=None):
        super().__init__(error_code, error_message, http_status=http_status)
        self.result_code = result_code

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
            return RESULT_MESSAGES[1001]
        return "M-Pesa refused the payment request. Please try again in a minute, or contact us if it keeps happening."


class DarajaCancelledByUser(DarajaDeclined):
    """ResultCode 1032: the customer dismissed the prompt."""


def result_error(result_code: int, result_desc: str) -> DarajaDeclined:
    """The typed error for a final non-zero ResultCode (its ``user_message`` is the plain reason)."""
    cls = DarajaCancelledByUser if result_code == 1032 else DarajaDeclined
    return cls(str(result_code), result_desc, result_code=result_code)


class CallbackInvalid(ValueError):
    """A body that is not an STK callback. ``field`` names the offending part."""

    def __init__(self, message: str, field: str = "Body"):
        self.message = message
        self.field = field
        super().__init__(message)
