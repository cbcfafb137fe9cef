"""The simulator speaks Daraja over real HTTP: validation, error shapes, value types, callbacks."""

import base64
import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from payments_app.daraja import NAIROBI, password
from payments_app.daraja.simulator import SANDBOX_PASSKEY, DarajaSimulator, SimConfig


class Receiver:
    """A stand-in for our callback endpoint: records what the simulator posts."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.event = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.event.set()
                data = b'{"ResultCode": 0, "ResultDesc": "Accepted"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cb/"

    def wait_for(self, count: int, timeout: float = 5) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.bodies


@pytest.fixture
def sim():
    server = DarajaSimulator(SimConfig(pending_seconds=0.2, callback_delay=0.1), port=0).start()
    yield server
    server.stop()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()
    r.httpd.server_close()


def _token(sim) -> str:
    basic = base64.b64encode(b"sandbox-consumer-key:sandbox-consumer-secret").decode()
    response = requests.get(
        f"{sim.url}/oauth/v1/generate?grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}"},
        timeout=5,
    )
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["expires_in"], str) and body["expires_in"] == "3599"
    return body["access_token"]


def _body(callback: str, **overrides) -> dict:
    ts = dt.datetime.now(tz=NAIROBI).strftime("%Y%m%d%H%M%S")
    body = {
        "BusinessShortCode": 174379,
        "Password": password("174379", SANDBOX_PASSKEY, ts),
        "Timestamp": ts,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 1,
        "PartyA": "254708374149",
        "PartyB": "174379",
        "PhoneNumber": "254708374149",
        "CallBackURL": callback,
        "AccountReference": "BK000123",
        "TransactionDesc": "Booking",
    }
    body.update(overrides)
    return body


def _push(sim, body, token=None, headers=None):
    hdrs = {"Authorization": f"Bearer {token or _token(sim)}", **(headers or {})}
    return requests.post(f"{sim.url}/mpesa/stkpush/v1/processrequest", json=body, headers=hdrs, timeout=5)


def _query(sim, checkout_id, token):
    ts = dt.datetime.now(tz=NAIROBI).strftime("%Y%m%d%H%M%S")
    body = {
        "BusinessShortCode": "174379",
        "Password": password("174379", SANDBOX_PASSKEY, ts),
        "Timestamp": ts,
        "CheckoutRequestID": checkout_id,
    }
    return requests.post(
        f"{sim.url}/mpesa/stkpushquery/v1/query", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )


def test_oauth_errors(sim):
    url = f"{sim.url}/oauth/v1/generate"
    r = requests.get(f"{url}?grant_type=client_credentials", headers={"Authorization": "Bearer x"}, timeout=5)
    assert (r.status_code, r.json()["errorCode"]) == (400, "400.008.01")
    basic = base64.b64encode(b"sandbox-consumer-key:sandbox-consumer-secret").decode()
    r = requests.get(f"{url}?grant_type=password", headers={"Authorization": f"Basic {basic}"}, timeout=5)
    assert (r.status_code, r.json()["errorCode"]) == (400, "400.008.02")


def test_push_reply_uses_strings(sim, receiver):
    r = _push(sim, _body(receiver.url))
    assert r.status_code == 200
    body = r.json()
    assert body["ResponseCode"] == "0"
    assert body["CheckoutRequestID"].startswith("ws_CO_")
    assert isinstance(body["MerchantRequestID"], str)
    assert body["CustomerMessage"] == "Success. Request accepted for processing"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"Amount": 100.00}, "Amount"),
        ({"Amount": 0}, "Amount"),
        ({"Amount": 250_001}, "Amount"),
        ({"Amount": "12.5"}, "Amount"),
        ({"PartyA": "0708374149"}, "PartyA"),
        ({"PhoneNumber": "255708374149"}, "PhoneNumber"),
        ({"PhoneNumber": "25470837414"}, "PhoneNumber"),
        ({"AccountReference": "BK0001234567X"}, "AccountReference"),
        ({"AccountReference": ""}, "AccountReference"),
        ({"TransactionDesc": "Fourteen chars"}, "TransactionDesc"),
        ({"TransactionType": "CustomerPayBill"}, "TransactionType"),
        ({"CallBackURL": "https://example.com/a b"}, "CallBackURL"),
        ({"CallBackURL": "not a url"}, "CallBackURL"),
        ({"PartyB": "600000"}, "PartyB"),
        ({"Timestamp": "2026-01-01"}, "Timestamp"),
        ({"BusinessShortCode": "17"}, "BusinessShortCode"),
    ],
)
def test_push_validation_matches_daraja(sim, receiver, overrides, field):
    r = _push(sim, _body(receiver.url, **overrides))
    assert r.status_code == 400
    assert r.json()["errorCode"] == "400.002.02"
    assert r.json()["errorMessage"] == f"Bad Request - Invalid {field}"
    assert set(r.json()) == {"requestId", "errorCode", "errorMessage"}


def test_timestamp_in_utc_instead_of_nairobi_is_refused(sim, receiver):
    ts = (dt.datetime.now(tz=dt.UTC) - dt.timedelta(hours=3)).astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")
    r = _push(sim, _body(receiver.url, Timestamp=ts, Password=password("174379", SANDBOX_PASSKEY, ts)))
    assert r.status_code == 400 and r.json()["errorMessage"] == "Bad Request - Invalid Timestamp"


def test_password_built_with_another_timestamp_is_wrong_credentials(sim, receiver):
    body = _body(receiver.url)
    body["Password"] = password("174379", SANDBOX_PASSKEY, "20160216165627")
    r = _push(sim, body)
    assert r.status_code == 500
    assert r.json() | {"requestId": ""} == {
        "requestId": "",
        "errorCode": "500.001.1001",
        "errorMessage": "Wrong credentials",
    }


def test_missing_json_content_type_complains_about_the_shortcode(sim, receiver):
    r = requests.post(
        f"{sim.url}/mpesa/stkpush/v1/processrequest",
        data=json.dumps(_body(receiver.url)),
        headers={"Authorization": f"Bearer {_token(sim)}", "Content-Type": "text/plain"},
        timeout=5,
    )
    assert r.status_code == 400 and r.json()["errorMessage"] == "Bad Request - Invalid BusinessShortCode"


def test_get_on_push_is_method_not_allowed(sim):
    r = requests.get(f"{sim.url}/mpesa/stkpush/v1/processrequest", timeout=5)
    assert (r.status_code, r.json()["errorCode"]) == (405, "405.001")


def test_query_is_pending_then_final_with_string_codes(sim, receiver):
    token = _token(sim)
    checkout = _push(sim, _body(receiver.url, PhoneNumber="254708374142", PartyA="254708374142"), token).json()[
        "CheckoutRequestID"
    ]
    r = _query(sim, checkout, token)
    assert r.status_code == 500
    assert r.json()["errorCode"] == "500.001.1001"
    assert r.json()["errorMessage"] == "The transaction is being processed"
    time.sleep(0.25)
    r = _query(sim, checkout, token)
    assert r.status_code == 200
    assert r.json()["ResultCode"] == "1032" and r.json()["ResponseCode"] == "0"
    assert r.json()["ResultDesc"] == "Request cancelled by user"


def test_query_for_an_unknown_checkout_id(sim):
    r = _query(sim, "ws_CO_000", _token(sim))
    assert r.status_code == 400 and r.json()["errorMessage"] == "Bad Request - Invalid CheckoutRequestID"


def test_success_callback_shape(sim, receiver):
    _push(sim, _body(receiver.url, Amount=3500))
    (body,) = receiver.wait_for(1)
    cb = body["Body"]["stkCallback"]
    assert cb["ResultCode"] == 0 and isinstance(cb["ResultCode"], int)
    items = {i["Name"]: i for i in cb["CallbackMetadata"]["Item"]}
    assert items["Amount"]["Value"] == 3500.0 and isinstance(items["Amount"]["Value"], float)
    assert "Value" not in items["Balance"]
    assert isinstance(items["PhoneNumber"]["Value"], int) and items["PhoneNumber"]["Value"] == 254708374149
    assert isinstance(items["TransactionDate"]["Value"], int) and len(str(items["TransactionDate"]["Value"])) == 14
    assert len(items["MpesaReceiptNumber"]["Value"]) == 10


@pytest.mark.parametrize(("digit", "code"), [("1", 1), ("2", 1032), ("3", 1037), ("4", 2001), ("7", 1019)])
def test_failure_callbacks_have_numeric_codes_and_no_metadata(sim, receiver, digit, code):
    phone = f"25470837414{digit}"
    _push(sim, _body(receiver.url, PhoneNumber=phone, PartyA=phone))
    (body,) = receiver.wait_for(1)
    assert body["Body"]["stkCallback"]["ResultCode"] == code
    assert "CallbackMetadata" not in body["Body"]["stkCallback"]


def test_digit_5_never_calls_back_and_digit_6_calls_back_twice(sim, receiver):
    _push(sim, _body(receiver.url, PhoneNumber="254708374145", PartyA="254708374145"))
    _push(sim, _body(receiver.url, PhoneNumber="254708374146", PartyA="254708374146"))
    bodies = receiver.wait_for(2)
    time.sleep(0.3)
    assert len(bodies) == 2
    assert {b["Body"]["stkCallback"]["CheckoutRequestID"] for b in bodies} == {
        t.checkout_request_id for t in sim.transactions.values() if t.phone.endswith("6")
    }


# --- Issue 22: as strict as Daraja, and no stricter -----------------------------------------


@pytest.mark.parametrize(
    "callback",
    [
        "https://example.com/mpesa/cb/",
        "https://example.com/pay/M-PESA/",
        "https://safaricom-hooks.example.com/cb/",
        "https://example.com/cb/?query=1",
        "https://example.com/cmd/cb/",
        "https://example.com/cb.exe",
        "https://example.com/sql/cb/",
        "https://abc123.ngrok.io/cb/",
        "https://abc123.ngrok-free.app/cb/",
        "https://example.com/ cb/",
        "ftp://example.com/cb/",
    ],
)
def test_callback_urls_daraja_rejects_are_rejected(sim, callback):
    response = _push(sim, _body(callback))
    assert response.status_code == 400
    assert response.json()["errorMessage"] == "Bad Request - Invalid CallBackURL"


def test_the_project_s_own_callback_url_is_accepted(sim, receiver, settings):
    from payments_app.daraja import callback_url

    settings.DARAJA_CALLBACK_BASE_URL = "https://book.example.com"
    settings.MPESA_CALLBACK_SECRET = "test-callback-secret-5f1c"
    assert _push(sim, _body(callback_url())).status_code == 200


@pytest.mark.parametrize("desc", [None, "__absent__", "Booking"])
def test_transaction_desc_is_optional_as_the_portal_says(sim, receiver, desc):
    body = _body(receiver.url)
    if desc == "__absent__":
        del body["TransactionDesc"]
    else:
        body["TransactionDesc"] = desc
    assert _push(sim, body).status_code == 200


@pytest.mark.parametrize("desc", [123, "Fourteen chars", ["x"]])
def test_transaction_desc_that_is_there_must_still_be_a_short_string(sim, receiver, desc):
    assert _push(sim, _body(receiver.url, TransactionDesc=desc)).status_code == 400


def test_a_new_token_invalidates_the_previous_one(sim, receiver):
    old = _token(sim)
    new = _token(sim)
    refused = _push(sim, _body(receiver.url), token=old)
    assert refused.status_code == 404 and refused.json()["errorCode"] == "404.001.03"
    assert _push(sim, _body(receiver.url), token=new).status_code == 200
