"""A local Daraja sandbox: OAuth, STK Push and STK Push Query over real HTTP, and the callback.

Speaks the protocol of docs/design.md#what-we-rely-on-in-daraja: Basic-auth tokens with a
string ``expires_in``, each new one invalidating the one before; CallBackURLs
refused as Daraja refuses them (words such as "mpesa" or "query", ngrok hosts); STK Push validated like Daraja (password, Nairobi-time
timestamp, phone, whole amount, field lengths); error bodies whose HTTP status
is the errorCode's prefix; strings for ResponseCode/ResultCode in replies,
numbers in callbacks; "The transaction is being processed" while pending.

The outcome follows the last digit of the phone number:

    digit  outcome
    1      ResultCode 1     insufficient balance
    2      ResultCode 1032  cancelled by the user
    3      ResultCode 1037  phone cannot be reached
    4      ResultCode 2001  wrong PIN
    5      ResultCode 0     paid, but the callback is never sent (only STK Query tells)
    6      ResultCode 0     paid, and the callback is sent twice
    7      ResultCode 1019  the request expired
    0 8 9  ResultCode 0     paid

Used by ``manage.py daraja_simulator`` and started in-process by the tests.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

from .client import callback_url_problem, password
from .parse import NAIROBI

# The name it had as payments_app/simulator.py, so log filters keep matching.
logger = logging.getLogger("payments_app.simulator")

SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
TIMESTAMP_TOLERANCE = dt.timedelta(minutes=60)
MSISDN = re.compile(r"^254[17]\d{8}$")


@dataclass(frozen=True)
class Outcome:
    result_code: int
    result_desc: str
    callbacks: int = 1  # how many times the callback is posted


OUTCOMES: dict[str, Outcome] = {
    "1": Outcome(1, "The balance is insufficient for the transaction."),
    "2": Outcome(1032, "Request cancelled by user"),
    "3": Outcome(1037, "DS timeout user cannot be reached"),
    "4": Outcome(2001, "The initiator information is invalid."),
    "5": Outcome(0, "The service request is processed successfully.", callbacks=0),
    "6": Outcome(0, "The service request is processed successfully.", callbacks=2),
    "7": Outcome(1019, "Transaction has expired"),
}
SUCCESS = Outcome(0, "The service request is processed successfully.")


def outcome_for(phone: str) -> Outcome:
    return OUTCOMES.get(phone[-1:], SUCCESS)


@dataclass
class SimConfig:
    consumer_key: str = "sandbox-consumer-key"
    consumer_secret: str = "sandbox-consumer-secret"
    shortcode: str = SANDBOX_SHORTCODE
    passkey: str = SANDBOX_PASSKEY
    party_b: str = ""  # till number for CustomerBuyGoodsOnline; empty: anything numeric
    callback_delay: float = 3.0  # seconds after the push until the callback is posted
    pending_seconds: float = 3.0  # seconds after the push during which STK Query says "being processed"
    callbacks: bool = True  # False: never post callbacks (tests post their own)
    token_ttl: int = 3599


@dataclass
class Transaction:
    checkout_request_id: str
    merchant_request_id: str
    phone: str
    amount: int
    account_reference: str
    callback_url: str
    outcome: Outcome
    created: float
    receipt: str
    request: dict
    callbacks_sent: list[dict] = field(default_factory=list)
    callback_statuses: list[int | str] = field(default_factory=list)


class DarajaSimulator:
    """State and behaviour. ``serve()`` blocks; ``start()`` runs it on a daemon thread (tests)."""

    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 8001):
        self.config = config or SimConfig()
        self.tokens: dict[str, float] = {}  # token -> expires at (monotonic)
        self.transactions: dict[str, Transaction] = {}
        self.requests_seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"sim": self})
        self.httpd = _Server((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> DarajaSimulator:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="daraja-simulator", daemon=True
        )
        self._thread.start()
        return self

    def serve(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def revoke_tokens(self) -> None:
        """Make every issued token invalid (as a new token request does on the real Daraja)."""
        with self._lock:
            self.tokens.clear()

    # -- endpoints -----------------------------------------------------------------------------

    def oauth(self, headers, query: dict) -> tuple[int, dict]:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return _error("400.008.01", "Invalid Authentication passed")
        if query.get("grant_type", [""])[0] != "client_credentials":
            return _error("400.008.02", "Invalid grant type passed")
        try:
            key, _, secret = base64.b64decode(auth[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return _error("400.008.01", "Invalid Authentication passed")
        if not (
            secrets.compare_digest(key, self.config.consumer_key)
            and secrets.compare_digest(secret, self.config.consumer_secret)
        ):
            return _error("400.008.01", "Invalid Authentication passed")
        token = secrets.token_urlsafe(21)[:28]
        with self._lock:
            # Each new token invalidates the previous one (docs/design.md#what-we-rely-on-in-daraja).
            self.tokens.clear()
            self.tokens[token] = time.monotonic() + self.config.token_ttl
        return 200, {"access_token": token, "expires_in": str(self.config.token_ttl)}

    def _check_token(self, headers) -> tuple[int, dict] | None:
        auth = headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            expires = self.tokens.get(token)
        if expires is None or expires < time.monotonic():
            return _error("404.001.03", "Invalid Access Token")
        return None

    def _check_credentials(self, body: dict) -> tuple[int, dict] | None:
        shortcode = str(body.get("BusinessShortCode", ""))
        if not re.fullmatch(r"\d{5,7}", shortcode):
            return _invalid("BusinessShortCode")
        ts = body.get("Timestamp")
        if not isinstance(ts, str) or not re.fullmatch(r"\d{14}", ts):
            return _invalid("Timestamp")
        try:
            when = dt.datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
        except ValueError:
            return _invalid("Timestamp")
        if abs(dt.datetime.now(tz=NAIROBI) - when) > TIMESTAMP_TOLERANCE:
            return _invalid("Timestamp")
        expected = password(self.config.shortcode, self.config.passkey, ts)
        if shortcode != self.config.shortcode or not secrets.compare_digest(str(body.get("Password", "")), expected):
            return _error("500.001.1001", "Wrong credentials")
        return None

    def stk_push(self, headers, body) -> tuple[int, dict]:
        if (problem := self._check_token(headers)) or (problem := _json_object(headers, body)):
            return problem
        if problem := self._check_credentials(body):
            return problem
        if body.get("TransactionType") not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
            return _invalid("TransactionType")
        amount = body.get("Amount")
        if isinstance(amount, str) and amount.isdigit():
            amount = int(amount)
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= 250_000:
            return _invalid("Amount")
        for name in ("PartyA", "PhoneNumber"):
            if not isinstance(body.get(name), str | int) or not MSISDN.match(str(body.get(name))):
                return _invalid(name)
        party_b = str(body.get("PartyB", ""))
        wanted_b = (
            self.config.shortcode
            if body["TransactionType"] == "CustomerPayBillOnline"
            else (self.config.party_b or party_b)
        )
        if not party_b.isdigit() or party_b != wanted_b:
            return _invalid("PartyB")
        callback = body.get("CallBackURL")
        if not isinstance(callback, str) or callback_url_problem(callback):
            return _invalid("CallBackURL")
        reference = body.get("AccountReference")
        if not isinstance(reference, str) or not 1 <= len(reference) <= 12:
            return _invalid("AccountReference")
        desc = body.get("TransactionDesc")  # the portal's only optional field: absent or null is fine
        if desc is not None and (not isinstance(desc, str) or len(desc) > 13):
            return _invalid("TransactionDesc")

        phone = str(body["PhoneNumber"])
        now = time.monotonic()
        with self._lock:
            if any(
                t.phone == phone and now < t.created + self.config.pending_seconds for t in self.transactions.values()
            ):
                return _error(
                    "500.001.1001",
                    "Unable to lock subscriber, a transaction is already in process for the current subscriber",
                )
            stamp = dt.datetime.now(tz=NAIROBI).strftime("%d%m%Y%H%M%S")
            txn = Transaction(
                checkout_request_id=f"ws_CO_{stamp}{secrets.randbelow(10**9):09d}",
                merchant_request_id=f"{secrets.randbelow(10**5):05d}-{secrets.randbelow(10**8):08d}-1",
                phone=phone,
                amount=amount,
                account_reference=reference,
                callback_url=callback,
                outcome=outcome_for(phone),
                created=now,
                receipt=_receipt(),
                request=dict(body),
            )
            self.transactions[txn.checkout_request_id] = txn
        if self.config.callbacks and txn.outcome.callbacks:
            timer = threading.Timer(self.config.callback_delay, self._post_callbacks, args=(txn,))
            timer.daemon = True
            timer.start()
        return 200, {
            "MerchantRequestID": txn.merchant_request_id,
            "CheckoutRequestID": txn.checkout_request_id,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        }

    def stk_query(self, headers, body) -> tuple[int, dict]:
        if (problem := self._check_token(headers)) or (problem := _json_object(headers, body)):
            return problem
        if problem := self._check_credentials(body):
            return problem
        with self._lock:
            txn = self.transactions.get(str(body.get("CheckoutRequestID", "")))
        if txn is None:
            return _invalid("CheckoutRequestID")
        if time.monotonic() < txn.created + self.config.pending_seconds:
            return _error("500.001.1001", "The transaction is being processed", request_id=txn.checkout_request_id)
        return 200, {
            "ResponseCode": "0",
            "ResponseDescription": "The service request has been accepted successsfully",
            "MerchantRequestID": txn.merchant_request_id,
            "CheckoutRequestID": txn.checkout_request_id,
            "ResultCode": str(txn.outcome.result_code),
            "ResultDesc": txn.outcome.result_desc,
        }

    # -- callbacks -------------------------------------------------------------------------------

    def callback_body(self, txn: Transaction) -> dict:
        cb: dict = {
            "MerchantRequestID": txn.merchant_request_id,
            "CheckoutRequestID": txn.checkout_request_id,
            "ResultCode": txn.outcome.result_code,
            "ResultDesc": txn.outcome.result_desc,
        }
        if txn.outcome.result_code == 0:
            cb["CallbackMetadata"] = {
                "Item": [
                    {"Name": "Amount", "Value": float(txn.amount)},
                    {"Name": "MpesaReceiptNumber", "Value": txn.receipt},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": int(dt.datetime.now(tz=NAIROBI).strftime("%Y%m%d%H%M%S"))},
                    {"Name": "PhoneNumber", "Value": int(txn.phone)},
                ]
            }
        return {"Body": {"stkCallback": cb}}

    def _post_callbacks(self, txn: Transaction) -> None:
        for _ in range(txn.outcome.callbacks):
            body = self.callback_body(txn)
            try:
                response = requests.post(txn.callback_url, json=body, timeout=10)
                status: int | str = response.status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            with self._lock:
                txn.callbacks_sent.append(body)
                txn.callback_statuses.append(status)
            logger.info("Simulator posted the callback for %s: %s", txn.checkout_request_id, status)


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # bursts of queries (the concurrency tests) must not be reset


class _Handler(BaseHTTPRequestHandler):
    sim: DarajaSimulator
    server_version = "DarajaSimulator/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        logger.debug("simulator: " + format, *args)

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            return _BAD_JSON

    def do_GET(self):  # noqa: N802
        parts = urlsplit(self.path)
        self.sim.requests_seen.append(("GET", parts.path))
        if parts.path == "/oauth/v1/generate":
            self._reply(*self.sim.oauth(self.headers, parse_qs(parts.query)))
        elif parts.path in ROUTES:
            self._reply(*_error("405.001", "Method not allowed"))
        else:
            self._reply(*_error("404.001.01", "Resource not found"))

    def do_POST(self):  # noqa: N802
        parts = urlsplit(self.path)
        self.sim.requests_seen.append(("POST", parts.path))
        body = self._body()
        route = ROUTES.get(parts.path)
        if route is None:
            status, reply = (
                _error("405.001", "Method not allowed")
                if parts.path == "/oauth/v1/generate"
                else _error("404.001.01", "Resource not found")
            )
        else:
            status, reply = getattr(self.sim, route)(self.headers, body)
        self._reply(status, reply)

    do_PUT = do_DELETE = do_PATCH = lambda self: self._reply(*_error("405.001", "Method not allowed"))  # noqa: E731


ROUTES = {"/mpesa/stkpush/v1/processrequest": "stk_push", "/mpesa/stkpushquery/v1/query": "stk_query"}
_BAD_JSON = object()


def _request_id() -> str:
    return f"{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(8)}"


def _error(code: str, message: str, request_id: str | None = None) -> tuple[int, dict]:
    status = int(code.split(".")[0])
    return status, {"requestId": request_id or _request_id(), "errorCode": code, "errorMessage": message}


def _invalid(name: str) -> tuple[int, dict]:
    return _error("400.002.02", f"Bad Request - Invalid {name}")


def _json_object(headers, body) -> tuple[int, dict] | None:
    # Daraja's own quirk: without a JSON content type it complains about the shortcode.
    if "application/json" not in (headers.get("Content-Type") or ""):
        return _invalid("BusinessShortCode")
    if body is _BAD_JSON or not isinstance(body, dict):
        return _error("400.002.02", "Bad Request - Invalid JSON")
    return None


def _receipt() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "S" + "".join(secrets.choice(alphabet) for _ in range(9))
