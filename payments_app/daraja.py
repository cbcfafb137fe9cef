"""A small Daraja (M-Pesa Express) client: token, STK Push, STK Push Query, callback parsing.

It never touches the database; services apply what it returns. Every failure is
a ``DarajaError`` carrying Daraja's ``error_code``/``error_message`` and a
``user_message`` a person can read. Protocol facts: shared/reference/daraja.md.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")
TOKEN_PATH = "/oauth/v1/generate?grant_type=client_credentials"
STK_PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY_PATH = "/mpesa/stkpushquery/v1/query"
INVALID_TOKEN = "404.001.03"
PROCESSING = "500.001.1001"
ACCOUNT_REFERENCE_MAX = 12
TRANSACTION_DESC_MAX = 13
DEFAULT_TRANSACTION_DESC = "Booking"

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


# --- Errors --------------------------------------------------------------------------------


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


# --- Results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushAccepted:
    merchant_request_id: str
    checkout_request_id: str
    response_code: str
    customer_message: str


@dataclass(frozen=True)
class StkResult:
    """A final answer for one push, from STK Query or from a parsed callback."""

    checkout_request_id: str
    merchant_request_id: str
    result_code: int
    result_desc: str
    amount: int | None = None
    amount_raw: Any = None
    receipt_number: str | None = None
    phone: str | None = None
    transaction_date: dt.datetime | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.result_code == 0

    @property
    def message(self) -> str:
        return result_message(self.result_code)

    def error(self) -> DarajaDeclined | None:
        return None if self.succeeded else result_error(self.result_code, self.result_desc)


# --- Helpers ---------------------------------------------------------------------------------


def timestamp(now: dt.datetime | None = None) -> str:
    """yyyyMMddHHmmss in Kenya time, whatever zone the server runs in."""
    now = now or dt.datetime.now(tz=NAIROBI)
    return now.astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


def password(shortcode: str, passkey: str, ts: str) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{ts}".encode()).decode()


def account_reference(reference: str) -> str:
    """Daraja shows this on the phone: keep it neutral, alphanumeric, at most 12 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9]", "", reference or "")[:ACCOUNT_REFERENCE_MAX]
    if not cleaned:
        raise ValueError("An account reference needs at least one letter or digit.")
    return cleaned


def transaction_desc(desc: str = DEFAULT_TRANSACTION_DESC) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9 ]", "", desc or DEFAULT_TRANSACTION_DESC).strip()[:TRANSACTION_DESC_MAX]
    return cleaned or DEFAULT_TRANSACTION_DESC


def callback_url() -> str:
    """The public URL Daraja posts results to. A neutral path: Daraja rejects URLs naming M-Pesa."""
    return f"{settings.DARAJA_CALLBACK_BASE_URL}/api/pay/cb/{settings.MPESA_CALLBACK_SECRET}/"


def _parse_date(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(str(int(value)), "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    except (TypeError, ValueError, OverflowError):
        return None


def _whole_shillings(value: Any) -> int | None:
    """1.00 -> 1; 1.5, "abc", None -> None (never rounds money)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(number) if number.is_integer() and 0 <= number <= 10**9 else None


# --- Callback parsing ------------------------------------------------------------------------


def parse_callback(payload: Any) -> StkResult:
    """Parse an STK callback body (``Body.stkCallback``). Raises CallbackInvalid for anything else."""
    if not isinstance(payload, dict):
        raise CallbackInvalid("Expected a JSON object.")
    body = payload.get("Body")
    if not isinstance(body, dict):
        raise CallbackInvalid("Expected a Body object.", "Body")
    cb = body.get("stkCallback")
    if not isinstance(cb, dict):
        raise CallbackInvalid("Expected Body.stkCallback to be an object.", "Body.stkCallback")

    checkout = cb.get("CheckoutRequestID")
    if not isinstance(checkout, str) or not checkout.strip() or len(checkout) > 64:
        raise CallbackInvalid("CheckoutRequestID must be a non-empty string.", "Body.stkCallback.CheckoutRequestID")
    merchant = cb.get("MerchantRequestID", "")
    if not isinstance(merchant, str) or len(merchant) > 64:
        raise CallbackInvalid("MerchantRequestID must be a string.", "Body.stkCallback.MerchantRequestID")
    code = cb.get("ResultCode")
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        code = int(code)
    if isinstance(code, bool) or not isinstance(code, int) or not -(2**31) < code < 2**31:
        raise CallbackInvalid("ResultCode must be a number.", "Body.stkCallback.ResultCode")
    desc = cb.get("ResultDesc", "")
    if not isinstance(desc, str):
        raise CallbackInvalid("ResultDesc must be a string.", "Body.stkCallback.ResultDesc")

    metadata: dict[str, Any] = {}
    meta = cb.get("CallbackMetadata")
    if meta is not None:
        items = meta.get("Item") if isinstance(meta, dict) else None
        if not isinstance(items, list):
            raise CallbackInvalid("CallbackMetadata.Item must be a list.", "Body.stkCallback.CallbackMetadata")
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
                raise CallbackInvalid(
                    "Each CallbackMetadata item needs a Name.", "Body.stkCallback.CallbackMetadata.Item"
                )
            if "Value" in item:  # Balance often comes without a Value
                metadata[item["Name"]] = item["Value"]

    receipt = metadata.get("MpesaReceiptNumber")
    receipt = str(receipt).strip()[:32] if isinstance(receipt, str | int) and str(receipt).strip() else None
    phone = metadata.get("PhoneNumber")
    phone = str(phone) if isinstance(phone, int | str) and re.fullmatch(r"254\d{9}", str(phone)) else None
    return StkResult(
        checkout_request_id=checkout.strip(),
        merchant_request_id=merchant.strip(),
        result_code=code,
        result_desc=desc[:255],
        amount=_whole_shillings(metadata.get("Amount")),
        amount_raw=metadata.get("Amount"),
        receipt_number=receipt,
        phone=phone,
        transaction_date=_parse_date(metadata.get("TransactionDate")),
        metadata=metadata,
    )


# --- The client ------------------------------------------------------------------------------


class DarajaClient:
    """Talks to Daraja (or the bundled simulator). Settings are read when the client is built."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        shortcode: str | None = None,
        passkey: str | None = None,
        transaction_type: str | None = None,
        party_b: str | None = None,
        timeout: float | None = None,
    ):
        self.base_url = (base_url or settings.DARAJA_BASE_URL).rstrip("/")
        self.consumer_key = consumer_key if consumer_key is not None else settings.DARAJA_CONSUMER_KEY
        self.consumer_secret = consumer_secret if consumer_secret is not None else settings.DARAJA_CONSUMER_SECRET
        self.shortcode = str(shortcode or settings.DARAJA_SHORTCODE)
        self.passkey = passkey or settings.DARAJA_PASSKEY
        self.transaction_type = transaction_type or settings.DARAJA_TRANSACTION_TYPE
        self.party_b = str(party_b or settings.DARAJA_PARTY_B or self.shortcode)
        self.timeout = timeout if timeout is not None else settings.DARAJA_TIMEOUT_SECONDS

    # -- token ---------------------------------------------------------------------------------

    @property
    def _token_cache_key(self) -> str:
        digest = hashlib.sha256(f"{self.base_url}|{self.consumer_key}".encode()).hexdigest()[:24]
        return f"daraja:token:{digest}"

    def get_token(self, *, force: bool = False) -> str:
        """OAuth token, cached until a minute before it expires."""
        if not force:
            token = cache.get(self._token_cache_key)
            if token:
                return token
        basic = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode()).decode()
        data = self._send("GET", TOKEN_PATH, headers={"Authorization": f"Basic {basic}"})
        token = data.get("access_token")
        try:
            expires_in = int(data.get("expires_in"))  # a string on the wire
        except (TypeError, ValueError):
            raise DarajaUnavailable("token", "Daraja sent a token without a valid expires_in.")
        if not isinstance(token, str) or not token:
            raise DarajaUnavailable("token", "Daraja sent no access_token.")
        ttl = expires_in - 60 if expires_in > 120 else max(expires_in // 2, 1)
        cache.set(self._token_cache_key, token, timeout=ttl)
        return token

    def _authorised(self, path: str, body: dict) -> dict:
        """POST with the bearer token; on 404.001.03 fetch a new token once and try again."""
        for attempt in (1, 2):
            token = self.get_token(force=attempt == 2)
            try:
                return self._send(
                    "POST",
                    path,
                    json=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
            except DarajaInvalidToken:
                cache.delete(self._token_cache_key)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- calls ---------------------------------------------------------------------------------

    def _credentials(self) -> dict:
        ts = timestamp()
        return {
            "BusinessShortCode": self.shortcode,
            "Password": password(self.shortcode, self.passkey, ts),
            "Timestamp": ts,
        }

    def stk_push(
        self,
        *,
        phone: str,
        amount: int,
        reference: str,
        description: str = DEFAULT_TRANSACTION_DESC,
        callback: str | None = None,
    ) -> PushAccepted:
        """Send the PIN prompt. ``phone`` is a 12-digit MSISDN; ``amount`` whole KES."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise DarajaDeclined("400.002.02", "Bad Request - Invalid Amount")
        body = {
            **self._credentials(),
            "TransactionType": self.transaction_type,
            "Amount": amount,
            "PartyA": phone,
            "PartyB": self.party_b,
            "PhoneNumber": phone,
            "CallBackURL": callback or callback_url(),
            "AccountReference": account_reference(reference),
            "TransactionDesc": transaction_desc(description),
        }
        data = self._authorised(STK_PUSH_PATH, body)
        code = str(data.get("ResponseCode", ""))
        checkout = data.get("CheckoutRequestID")
        if code != "0" or not isinstance(checkout, str) or not checkout:
            raise DarajaDeclined(code or "unknown", str(data.get("ResponseDescription") or "Push not accepted"))
        return PushAccepted(
            merchant_request_id=str(data.get("MerchantRequestID") or ""),
            checkout_request_id=checkout,
            response_code=code,
            customer_message=str(data.get("CustomerMessage") or ""),
        )

    def stk_query(self, *, checkout_request_id: str) -> StkResult:
        """The final answer for a push. Raises DarajaPending while the customer has not answered."""
        body = {**self._credentials(), "CheckoutRequestID": checkout_request_id}
        data = self._authorised(STK_QUERY_PATH, body)
        raw_code = data.get("ResultCode")
        try:
            code = int(raw_code)  # a string in query replies
        except (TypeError, ValueError):
            raise DarajaUnavailable(str(data.get("ResponseCode", "")), "STK Query reply without a ResultCode.")
        return StkResult(
            checkout_request_id=str(data.get("CheckoutRequestID") or checkout_request_id),
            merchant_request_id=str(data.get("MerchantRequestID") or ""),
            result_code=code,
            result_desc=str(data.get("ResultDesc") or "")[:255],
        )

    # -- transport -------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs) -> dict:
        url = f"{self.base_url}{path}"
        try:
            response = requests.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise DarajaUnavailable("timeout", f"No answer from M-Pesa within {self.timeout:g} s.")
        except requests.RequestException as exc:
            raise DarajaUnavailable("connection", f"Could not reach M-Pesa ({type(exc).__name__}).")
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.ok and isinstance(data, dict) and "errorCode" not in data:
            return data
        if not isinstance(data, dict):
            logger.warning(
                "Daraja %s %s answered HTTP %s without JSON", method, path.split("?")[0], response.status_code
            )
            raise DarajaUnavailable(str(response.status_code), f"M-Pesa answered HTTP {response.status_code}.")
        raise self._error(data, response.status_code)

    @staticmethod
    def _error(data: dict, http_status: int) -> DarajaError:
        code = str(data.get("errorCode") or http_status)
        message = str(data.get("errorMessage") or "")
        lowered = message.lower()
        if code == INVALID_TOKEN:
            return DarajaInvalidToken(code, message, http_status=http_status)
        if code == PROCESSING and "being processed" in lowered:
            return DarajaPending(code, message, http_status=http_status)
        if code.startswith("500.003") or code.startswith("503") or http_status >= 502:
            return DarajaUnavailable(code, message, http_status=http_status)
        return DarajaDeclined(code, message, http_status=http_status)


def client() -> DarajaClient:
    return DarajaClient()
