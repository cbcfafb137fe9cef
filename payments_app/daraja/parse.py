"""What Daraja answers, as values: the push's acceptance, a final STK result, and the STK callback parser.

Pure functions of their input: no HTTP, no database.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from .errors import (
    CallbackInvalid,
    DarajaConfigurationError,
    DarajaDeclined,
    DarajaError,
    DarajaInvalidToken,
    DarajaPending,
    DarajaUnavailable,
    DarajaUnexpectedReply,
    result_class,
    result_code_text,
    result_error,
    result_info,
    result_message,
)

NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")


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
    result_code: str  # always a string: "0", "1032", "SFC_IC0003"
    result_desc: str
    amount: int | None = None
    amount_raw: Any = None
    receipt_number: str | None = None
    phone: str | None = None
    transaction_date: dt.datetime | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "result_code", result_code_text(self.result_code))  # 1032 -> "1032"

    @property
    def succeeded(self) -> bool:
        return self.result_code == "0"

    @property
    def message(self) -> str:
        return result_message(self.result_code)

    @property
    def error_class(self) -> str:
        """final, transient or configuration (see errors.py); "final" for success."""
        return result_class(self.result_code)

    @property
    def known_code(self) -> bool:
        return result_info(self.result_code).known

    def error(self) -> DarajaDeclined | None:
        return None if self.succeeded else result_error(self.result_code, self.result_desc)


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


# Numbers, or Daraja's lettered codes: letters first, digits last ("SFC_IC0003", "C2B00011"); not "x" or "abc".
_CODE = re.compile(r"-?\d{1,10}|[A-Za-z][A-Za-z0-9_.]{0,30}\d")


def result_code(value: Any) -> str | None:
    """A ResultCode as Daraja may send it (0, "0", 1032, "SFC_IC0003") as a string; None if it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    if isinstance(value, int | float) and not -(2**31) < value < 2**31:
        return None
    if not isinstance(value, int | float | str):
        return None
    text = result_code_text(value)
    return text if _CODE.fullmatch(text) else None


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
    code = result_code(cb.get("ResultCode"))
    if code is None:
        raise CallbackInvalid(
            "ResultCode must be a number or a short code such as SFC_IC0003.", "Body.stkCallback.ResultCode"
        )
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


# --- Replies to our own calls ------------------------------------------------------------------

_MAX_RAW_TEXT = 2000
# "Bad Request - Invalid X" where X is the customer's to fix; every other field is our set-up.
_CUSTOMER_FIELDS = ("phonenumber", "partya", "amount")


def raw_body(text: str | bytes | None) -> Any:
    """What Daraja sent, as something a JSON field can keep: the object, or ``{"text": ...}`` (cut short)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text or ""
    try:
        data = json.loads(text)
    except ValueError:
        return {"text": text[:_MAX_RAW_TEXT]}
    return data if isinstance(data, dict) else {"json": data}


def reply_data(http_status: int, text: str | bytes | None, *, oauth: bool = False) -> dict:
    """The JSON object of a successful reply, or the typed DarajaError the reply means (raised)."""
    raw = raw_body(text)
    data = raw if "text" not in raw and "json" not in raw else None
    if 200 <= http_status < 300 and isinstance(data, dict) and "errorCode" not in data:
        return data
    raise error_for(data, http_status, oauth=oauth, raw=raw)


def error_for(data: dict | None, http_status: int, *, oauth: bool = False, raw: Any = None) -> DarajaError:
    """Classify an error reply. ``data`` is its JSON object, None when the body was not JSON."""
    raw = raw if raw is not None else data
    if not isinstance(data, dict):
        if http_status in (401, 403) or (oauth and http_status < 500):
            # OAuth 400 with an empty body: wrong consumer key or secret; 403 HTML: the app or address is not
            # allowed; a token request answered by an HTML page: the wrong base URL (osenco/osen-wc-mpesa#10).
            return DarajaConfigurationError(
                str(http_status),
                f"M-Pesa refused our credentials (HTTP {http_status}).",
                http_status=http_status,
                raw=raw,
            )
        if 200 <= http_status < 300:
            return DarajaUnexpectedReply(
                str(http_status), "M-Pesa answered without a JSON object.", http_status=http_status, raw=raw
            )
        return DarajaUnavailable(
            str(http_status), f"M-Pesa answered HTTP {http_status}.", http_status=http_status, raw=raw
        )
    code = str(data.get("errorCode") or http_status)
    message = str(data.get("errorMessage") or "")
    lowered = message.lower()
    if code == "404.001.03":
        return DarajaInvalidToken(code, message, http_status=http_status, raw=raw)
    if code == "500.001.1001" and "being processed" in lowered:
        return DarajaPending(code, message, http_status=http_status, raw=raw)
    if code.startswith("500.003") or code.startswith("503") or http_status >= 502:
        return DarajaUnavailable(code, message, http_status=http_status, raw=raw)
    if oauth or code.startswith("400.008") or http_status in (401, 403):
        return DarajaConfigurationError(code, message, http_status=http_status, raw=raw)
    if code in ("404.001.01", "405.001") or "wrong credentials" in lowered or "merchant does not exist" in lowered:
        return DarajaConfigurationError(code, message, http_status=http_status, raw=raw)
    if "invalid" in lowered and code.startswith("400.002"):
        field = lowered.rpartition("invalid")[2].strip()
        if field == "checkoutrequestid":
            return DarajaUnexpectedReply(code, message, http_status=http_status, raw=raw)
        if not any(name in field for name in _CUSTOMER_FIELDS):
            return DarajaConfigurationError(code, message, http_status=http_status, raw=raw)
    error = DarajaDeclined(code, message, http_status=http_status, raw=raw)
    if "unable to lock subscriber" in lowered:
        error.error_class, error.transient = result_class("1001"), True
    return error


def query_result(data: dict, *, checkout_request_id: str) -> StkResult:
    """The final answer in an STK Query reply (HTTP 200, JSON object) for the push we asked about.

    Raises DarajaUnexpectedReply for a reply that is not about that push or has
    no usable ResultCode: nothing in such a reply is used.
    """
    code = result_code(data.get("ResultCode"))
    if code is None:
        raise DarajaUnexpectedReply(
            str(data.get("ResponseCode", "")), "STK Query reply without a usable ResultCode.", http_status=200, raw=data
        )
    replied = data.get("CheckoutRequestID")
    if replied is not None and str(replied).strip() != checkout_request_id:
        raise DarajaUnexpectedReply(
            "checkout_mismatch",
            f"STK Query reply is about another checkout request ({str(replied)[:64]!r}).",
            http_status=200,
            raw=data,
        )
    return StkResult(
        checkout_request_id=checkout_request_id,
        merchant_request_id=str(data.get("MerchantRequestID") or "")[:64],
        result_code=code,
        result_desc=str(data.get("ResultDesc") or "")[:255],
    )


def parse_query_reply(http_status: int, text: str | bytes | None, *, checkout_request_id: str) -> StkResult:
    """An STK Query reply as it came over the wire: the final StkResult, or the DarajaError it means (raised)."""
    return query_result(reply_data(http_status, text), checkout_request_id=checkout_request_id)


# --- Asynchronous APIs (Reversal, Transaction Status: reference/daraja.md section 6) ------------


@dataclass(frozen=True)
class AsyncAccepted:
    """Daraja's synchronous reply to an asynchronous request: the request is queued, the result comes later."""

    originator_conversation_id: str
    conversation_id: str
    response_code: str
    response_description: str


@dataclass(frozen=True)
class AsyncResult:
    """The result Daraja POSTs to a ResultURL for a Reversal or a Transaction Status query.

    Body shape: ``{"Result": {"ResultType", "ResultCode", "ResultDesc", "OriginatorConversationID",
    "ConversationID", "TransactionID", "ResultParameters": {"ResultParameter": [{"Key", "Value"}...]}}}``.
    ``parameters`` holds ResultParameters as a flat dict (a single parameter may come as an object).
    """

    result_code: str
    result_desc: str
    originator_conversation_id: str
    conversation_id: str
    transaction_id: str
    parameters: dict = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.result_code == "0"


def accepted_reply(data: dict) -> AsyncAccepted:
    """Read the synchronous reply of an asynchronous request; a non-zero ResponseCode is a refusal."""
    code = str(data.get("ResponseCode", ""))
    if code != "0":
        raise DarajaDeclined(
            code or "unknown", str(data.get("ResponseDescription") or "Request not accepted"), raw=data
        )
    originator = data.get("OriginatorConversationID")
    if not isinstance(originator, str) or not originator.strip() or len(originator) > 64:
        raise DarajaUnexpectedReply(
            "no_conversation", "Request accepted without an OriginatorConversationID.", raw=data
        )
    return AsyncAccepted(
        originator_conversation_id=originator,
        conversation_id=str(data.get("ConversationID") or "")[:64],
        response_code=code,
        response_description=str(data.get("ResponseDescription") or "")[:255],
    )


def parse_async_result(payload: Any) -> AsyncResult:
    """Parse a ResultURL (or QueueTimeOutURL) body. Raises CallbackInvalid when it is not one."""
    if not isinstance(payload, dict) or not isinstance(payload.get("Result"), dict):
        raise CallbackInvalid("Not a Daraja result: no Result object.")
    result = payload["Result"]
    code = result_code(result.get("ResultCode"))
    if code is None:
        raise CallbackInvalid("Result without a usable ResultCode.")
    originator = result.get("OriginatorConversationID")
    if not isinstance(originator, str) or not originator.strip() or len(originator) > 64:
        raise CallbackInvalid("Result without a usable OriginatorConversationID.")
    raw_params = (result.get("ResultParameters") or {}) if isinstance(result.get("ResultParameters"), dict) else {}
    items = raw_params.get("ResultParameter") or []
    if isinstance(items, dict):
        items = [items]
    parameters = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("Key"), str):
            parameters[item["Key"]] = item.get("Value")
    return AsyncResult(
        result_code=code,
        result_desc=str(result.get("ResultDesc") or "")[:255],
        originator_conversation_id=originator,
        conversation_id=str(result.get("ConversationID") or "")[:64],
        transaction_id=str(result.get("TransactionID") or "")[:32],
        parameters=parameters,
    )
