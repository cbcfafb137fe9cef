"""The gateway client against the simulator running as a real HTTP server."""

import base64
import datetime as dt
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.core.cache import cache

from payments_app import daraja
from payments_app.daraja import (
    DarajaCancelledByUser,
    DarajaClient,
    DarajaDeclined,
    DarajaInvalidToken,
    DarajaPending,
    DarajaUnavailable,
)
from payments_app.daraja.simulator import DarajaSimulator, SimConfig


@pytest.fixture
def sim():
    server = DarajaSimulator(SimConfig(pending_seconds=0.3, callbacks=False), port=0).start()
    yield server
    server.stop()


@pytest.fixture
def gateway(sim, settings):
    settings.DARAJA_CALLBACK_BASE_URL = "https://example.com"
    return DarajaClient(base_url=sim.url)


def test_password_matches_the_reference_test_vector():
    assert (
        daraja.password("174379", "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919", "20160216165627")
        == "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3"
    )


def test_timestamp_is_nairobi_time_whatever_the_input_zone():
    utc_noon = dt.datetime(2026, 1, 5, 12, 0, 0, tzinfo=dt.UTC)
    assert daraja.timestamp(utc_noon) == "20260105150000"


def test_account_reference_and_description_are_neutral_and_short():
    assert daraja.account_reference("BK000123") == "BK000123"
    assert daraja.account_reference("BK-0001234567890") == "BK0001234567"
    assert daraja.transaction_desc() == "Booking"
    assert len(daraja.transaction_desc("A very long description here")) <= 13
    assert "mpesa" not in daraja.callback_url().lower()


def test_token_is_fetched_with_basic_auth_and_cached(gateway, sim):
    token = gateway.get_token()
    assert token in sim.tokens
    assert gateway.get_token() == token
    assert sim.requests_seen.count(("GET", "/oauth/v1/generate")) == 1


def test_token_expiry_comes_from_the_string_expires_in(gateway, sim):
    sim.config.token_ttl = 90
    gateway.get_token()
    assert cache.get(gateway._token_cache_key)  # cached for ttl // 2 = 45 s, not forever
    assert isinstance(sim.oauth({"Authorization": "x"}, {})[1]["errorCode"], str)


def test_wrong_consumer_secret_is_a_typed_error(sim):
    bad = DarajaClient(base_url=sim.url, consumer_secret="wrong")
    with pytest.raises(DarajaDeclined) as exc:
        bad.get_token()
    assert exc.value.error_code == "400.008.01"
    assert exc.value.http_status == 400


def test_push_is_accepted_and_queried_until_final(gateway, sim):
    accepted = gateway.stk_push(phone="254708374149", amount=3500, reference="BK000123")
    assert accepted.checkout_request_id.startswith("ws_CO_")
    assert accepted.response_code == "0"
    sent = sim.transactions[accepted.checkout_request_id].request
    assert sent["Amount"] == 3500 and sent["AccountReference"] == "BK000123" and sent["TransactionDesc"] == "Booking"
    assert sent["CallBackURL"].startswith("https://example.com/api/pay/cb/")
    assert base64.b64decode(sent["Password"]).decode() == "174379" + sim.config.passkey + sent["Timestamp"]
    with pytest.raises(DarajaPending) as exc:
        gateway.stk_query(checkout_request_id=accepted.checkout_request_id)
    assert exc.value.transient and exc.value.error_code == "500.001.1001"
    sim.transactions[accepted.checkout_request_id].created -= 1
    result = gateway.stk_query(checkout_request_id=accepted.checkout_request_id)
    assert result.succeeded and result.result_code == "0"
    assert result.checkout_request_id == accepted.checkout_request_id


@pytest.mark.parametrize(
    ("phone", "code", "message"),
    [
        ("254708374141", "1", "balance"),
        ("254708374142", "1032", "You cancelled the request on your phone."),
        ("254708374143", "1037", "could not be reached"),
        ("254708374144", "2001", "PIN"),
        ("254708374147", "1019", "expired"),
    ],
)
def test_failure_codes_come_back_with_plain_words(gateway, sim, phone, code, message):
    sim.config.pending_seconds = 0
    accepted = gateway.stk_push(phone=phone, amount=10, reference="BK1")
    result = gateway.stk_query(checkout_request_id=accepted.checkout_request_id)
    assert result.result_code == code and not result.succeeded
    assert message in result.message
    error = result.error()
    assert isinstance(error, DarajaDeclined)
    assert isinstance(error, DarajaCancelledByUser) == (code == "1032")
    assert message in error.user_message


def test_invalid_token_is_refetched_once(gateway, sim):
    sim.config.pending_seconds = 0
    gateway.get_token()
    sim.revoke_tokens()
    accepted = gateway.stk_push(phone="254708374149", amount=10, reference="BK1")
    assert accepted.checkout_request_id
    assert sim.requests_seen.count(("GET", "/oauth/v1/generate")) == 2


def test_invalid_token_twice_raises(gateway, sim, monkeypatch):
    monkeypatch.setattr(
        sim, "_check_token", lambda headers: (404, {"errorCode": "404.001.03", "errorMessage": "Invalid Access Token"})
    )
    with pytest.raises(DarajaInvalidToken):
        gateway.stk_push(phone="254708374149", amount=10, reference="BK1")


def test_wrong_passkey_gives_wrong_credentials(sim):
    bad = DarajaClient(base_url=sim.url, passkey="not-the-passkey")
    with pytest.raises(DarajaDeclined) as exc:
        bad.stk_push(phone="254708374149", amount=10, reference="BK1", callback="https://example.com/cb")
    assert exc.value.error_code == "500.001.1001"
    assert exc.value.error_message == "Wrong credentials"
    assert exc.value.http_status == 500


def test_daraja_refuses_a_bad_phone_with_a_readable_message(gateway):
    with pytest.raises(DarajaDeclined) as exc:
        gateway.stk_push(phone="0712345678", amount=10, reference="BK1")
    assert exc.value.error_code == "400.002.02"
    assert "phone number" in exc.value.user_message


def test_subscriber_lock_while_a_push_is_pending(gateway):
    gateway.stk_push(phone="254708374149", amount=10, reference="BK1")
    with pytest.raises(DarajaDeclined) as exc:
        gateway.stk_push(phone="254708374149", amount=10, reference="BK1")
    assert "Unable to lock subscriber" in exc.value.error_message
    assert "Another M-Pesa request" in exc.value.user_message


class _SlowHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        threading.Event().wait(2)

    def log_message(self, *args):
        pass


def test_every_request_has_a_timeout():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        slow = DarajaClient(base_url=f"http://127.0.0.1:{server.server_address[1]}", timeout=0.3)
        with pytest.raises(DarajaUnavailable) as exc:
            slow.get_token()
        assert exc.value.transient and exc.value.error_code == "timeout"
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_daraja_is_transient():
    with pytest.raises(DarajaUnavailable):
        DarajaClient(base_url="http://127.0.0.1:9", timeout=1).get_token()


def test_error_status_matches_the_code_prefix_over_raw_http(sim):
    response = requests.post(f"{sim.url}/mpesa/stkpush/v1/processrequest", json={}, timeout=5)
    assert response.status_code == 404
    assert response.json()["errorCode"] == "404.001.03"
    response = requests.get(f"{sim.url}/nowhere", timeout=5)
    assert response.status_code == 404 and response.json()["errorCode"] == "404.001.01"


def test_till_numbers_use_buy_goods_with_the_till_as_party_b(settings):
    server = DarajaSimulator(SimConfig(pending_seconds=0, callbacks=False, party_b="600100"), port=0).start()
    try:
        till = DarajaClient(base_url=server.url, transaction_type="CustomerBuyGoodsOnline", party_b="600100")
        accepted = till.stk_push(phone="254708374149", amount=10, reference="BK1", callback="https://example.com/cb")
        sent = server.transactions[accepted.checkout_request_id].request
        assert (sent["TransactionType"], sent["PartyB"], sent["BusinessShortCode"]) == (
            "CustomerBuyGoodsOnline",
            "600100",
            "174379",
        )
        wrong = DarajaClient(base_url=server.url, transaction_type="CustomerBuyGoodsOnline", party_b="600999")
        with pytest.raises(DarajaDeclined) as exc:
            wrong.stk_push(phone="254708374140", amount=10, reference="BK1", callback="https://example.com/cb")
        assert exc.value.error_message == "Bad Request - Invalid PartyB"
    finally:
        server.stop()


def test_a_token_another_worker_replaced_is_taken_up_not_fetched_again(gateway, sim, monkeypatch):
    """Each new token invalidates the previous one (docs/design.md#what-we-rely-on-in-daraja): a worker whose token another worker
    replaced must use that worker's token from the cache, not fetch one more and invalidate it in turn."""
    sim.config.pending_seconds = 0
    held = gateway.get_token()  # worker A read this before worker B refreshed
    DarajaClient(base_url=sim.url).get_token(force=True)  # worker B: `held` is dead on Daraja now
    real = DarajaClient.get_token
    monkeypatch.setattr(
        gateway, "get_token", lambda *, force=False, stale=None: held if stale is None else real(gateway, stale=stale)
    )
    accepted = gateway.stk_push(phone="254708374149", amount=10, reference="BK1")
    assert accepted.checkout_request_id
    assert sim.requests_seen.count(("GET", "/oauth/v1/generate")) == 2  # A's first and B's; none after the 404
