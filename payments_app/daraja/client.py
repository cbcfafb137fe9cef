"""A small Daraja (M-Pesa Express) client: token, STK Push, STK Push Query.

It never touches the database; services apply what it returns. Every failure is
a ``DarajaError`` carrying Daraja's ``error_code``/``error_message`` and a
``user_message`` a person can read. Protocol facts: docs/design.md#what-we-rely-on-in-daraja.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import re
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache

from .errors import DarajaDeclined, DarajaError, DarajaInvalidToken, DarajaUnavailable, DarajaUnexpectedReply
from .parse import NAIROBI, AsyncAccepted, PushAccepted, StkResult, accepted_reply, error_for, query_result, reply_data

# The name it had as payments_app/daraja.py, so log filters keep matching.
logger = logging.getLogger("payments_app.daraja")

TOKEN_PATH = "/oauth/v1/generate?grant_type=client_credentials"
STK_PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY_PATH = "/mpesa/stkpushquery/v1/query"
REVERSAL_PATH = "/mpesa/reversal/v1/request"
TRANSACTION_STATUS_PATH = "/mpesa/transactionstatus/v1/query"
INVALID_TOKEN = "404.001.03"
PROCESSING = "500.001.1001"
ACCOUNT_REFERENCE_MAX = 12
TRANSACTION_DESC_MAX = 13
DEFAULT_TRANSACTION_DESC = "Booking"


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


# Daraja rejects a CallBackURL containing these (docs/design.md#what-we-rely-on-in-daraja), anywhere in it.
CALLBACK_FORBIDDEN_WORDS = ("m-pesa", "mpesa", "safaricom", "query", "cmd", "exe", "sql")
CALLBACK_FORBIDDEN_HOSTS = ("ngrok.io", "ngrok-free.app", "ngrok.app", "ngrok.dev", "ngrok-free.dev")


def callback_url_problem(url: str) -> str:
    """Why Daraja would reject ``url`` as a CallBackURL ("" if it would take it)."""
    if not isinstance(url, str) or not url:
        return "it is empty"
    if re.search(r"\s", url):
        return "it contains spaces"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it is not an http(s) URL with a host"
    lowered = url.lower()
    for word in CALLBACK_FORBIDDEN_WORDS:
        if word in lowered:
            return f'it contains "{word}"'
    host = parts.hostname.lower()
    if "ngrok" in host or any(host == h or host.endswith(f".{h}") for h in CALLBACK_FORBIDDEN_HOSTS):
        return "it is an ngrok address"
    return ""


def callback_url() -> str:
    """The public URL Daraja posts results to. A neutral path: Daraja rejects URLs naming M-Pesa."""
    return f"{settings.DARAJA_CALLBACK_BASE_URL}/api/pay/cb/{settings.MPESA_CALLBACK_SECRET}/"


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

    def get_token(self, *, force: bool = False, stale: str | None = None) -> str:
        """OAuth token, cached until a minute before it expires.

        Each new token invalidates the previous one (docs/design.md#what-we-rely-on-in-daraja),
        so a token is fetched only when the cache has none, or only the one that just
        failed (``stale``): a worker whose token was replaced by another worker's new
        one picks that one up instead of invalidating it in turn.
        """
        token = cache.get(self._token_cache_key)
        if token and not force and token != stale:
            return token
        basic = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode()).decode()
        data = self._send("GET", TOKEN_PATH, headers={"Authorization": f"Basic {basic}"}, oauth=True)
        token = data.get("access_token")
        try:
            expires_in = int(data.get("expires_in"))  # a string on the wire
        except (TypeError, ValueError):
            raise DarajaUnexpectedReply("token", "Daraja sent a token without a valid expires_in.", raw=data)
        if not isinstance(token, str) or not token:
            raise DarajaUnexpectedReply("token", "Daraja sent no access_token.", raw=data)
        ttl = expires_in - 60 if expires_in > 120 else max(expires_in // 2, 1)
        cache.set(self._token_cache_key, token, timeout=ttl)
        return token

    def _authorised(self, path: str, body: dict) -> dict:
        """POST with the bearer token; on 404.001.03 fetch a new token once and try again."""
        failed: str | None = None
        for attempt in (1, 2):
            token = self.get_token(stale=failed)
            try:
                return self._send(
                    "POST",
                    path,
                    json=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
            except DarajaInvalidToken:
                failed = token
                if attempt == 2:
                    cache.delete(self._token_cache_key)
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
        if code != "0":
            raise DarajaDeclined(
                code or "unknown", str(data.get("ResponseDescription") or "Push not accepted"), raw=data
            )
        if not isinstance(checkout, str) or not checkout.strip() or len(checkout) > 64:
            raise DarajaUnexpectedReply(
                "no_checkout", "STK Push accepted without a usable CheckoutRequestID.", raw=data
            )
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
        return query_result(data, checkout_request_id=checkout_request_id)

    def async_request(self, path: str, body: dict) -> AsyncAccepted:
        """POST an asynchronous request (Reversal, Transaction Status) with the initiator's credentials.

        ``body`` carries the API's own fields (CommandID, TransactionID, ResultURL, QueueTimeOutURL...);
        Initiator and SecurityCredential come from settings. The result arrives later at ResultURL.
        """
        full = {
            "Initiator": settings.DARAJA_INITIATOR_NAME,
            "SecurityCredential": settings.DARAJA_SECURITY_CREDENTIAL,
            **body,
        }
        return accepted_reply(self._authorised(path, full))

    # -- transport -------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, oauth: bool = False, **kwargs) -> dict:
        url = f"{self.base_url}{path}"
        try:
            response = requests.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise DarajaUnavailable("timeout", f"No answer from M-Pesa within {self.timeout:g} s.")
        except requests.RequestException as exc:
            raise DarajaUnavailable("connection", f"Could not reach M-Pesa ({type(exc).__name__}).")
        try:
            return reply_data(response.status_code, response.content, oauth=oauth)
        except DarajaError as exc:
            if exc.error_class != "transient" or not isinstance(exc.raw, dict) or "errorCode" not in exc.raw:
                logger.warning(
                    "Daraja %s %s answered HTTP %s: %s %s",
                    method,
                    path.split("?")[0],
                    response.status_code,
                    exc.error_code,
                    exc.error_message,
                )
            raise

    @staticmethod
    def _error(data: dict, http_status: int) -> DarajaError:
        """Kept for callers of the old name: see parse.error_for."""
        return error_for(data, http_status)


def client() -> DarajaClient:
    return DarajaClient()
