"""What Daraja answers, as values: the push's acceptance, a final STK result, and the STK callback parser.

Pure functions of their input: no HTTP, no database.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from .errors import CallbackInvalid, DarajaDeclined, result_error, result_message

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
