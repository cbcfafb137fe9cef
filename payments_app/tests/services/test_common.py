"""callback_read: a stored callback parsed once and judged once against its push (factory rows, no HTTP)."""

import pytest

from payments_app.services import callback_read

from ..factories import MpesaCallbackFactory, PaymentAttemptFactory

pytestmark = pytest.mark.django_db


def test_a_matching_success_is_trusted_and_carries_its_details():
    callback = MpesaCallbackFactory(receipt="NLJ7RT61SV")
    reading = callback_read(callback=callback, attempt=callback.attempt)
    assert reading.callback_id == callback.pk and reading.untrusted == ""
    assert reading.details is not None
    assert (reading.details.receipt_number, reading.details.amount) == ("NLJ7RT61SV", callback.attempt.amount)
    assert reading.description == "The service request is processed successfully."


def test_a_different_amount_is_untrusted_and_gives_no_details():
    callback = MpesaCallbackFactory(amount=1)
    reading = callback_read(callback=callback, attempt=callback.attempt)
    assert reading.untrusted.startswith("Amount mismatch: M-Pesa reported 1.0")
    assert reading.details is None


def test_another_push_s_merchant_id_is_untrusted():
    callback = MpesaCallbackFactory(merchant_request_id="someone-else")
    reading = callback_read(callback=callback, attempt=callback.attempt)
    assert reading.untrusted == "Merchant request id in the callback does not match the push."


def test_a_failure_has_nothing_to_trust_or_distrust():
    callback = MpesaCallbackFactory(result_code=1032)
    reading = callback_read(callback=callback, attempt=callback.attempt)
    assert (reading.untrusted, reading.details) == ("", None)
    assert reading.result.result_code == "1032" and reading.description == "Request cancelled by user"


def test_a_body_that_is_not_a_callback_reads_as_nothing():
    callback = MpesaCallbackFactory(payload={"Body": []})
    reading = callback_read(callback=callback, attempt=callback.attempt)
    assert (reading.result, reading.details, reading.description, reading.untrusted) == (None, None, "", "")


def test_without_an_attempt_nothing_is_judged():
    callback = MpesaCallbackFactory(attempt=None, checkout_request_id="ws_CO_UNKNOWN", merchant_request_id="m-1")
    assert callback_read(callback=callback, attempt=None).untrusted == ""


def test_factory_attempts_are_distinct_pushes():
    first, second = PaymentAttemptFactory(processing=True), PaymentAttemptFactory(processing=True)
    assert first.checkout_request_id != second.checkout_request_id
    assert first.status == second.status == "processing"
