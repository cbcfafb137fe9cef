"""Rows as-is (no service), for set-ups that need a payment or a callback without a push: use services for moves."""

import factory

from payments_app.daraja import account_reference
from payments_app.models import MpesaCallback, PaymentAttempt
from sessions_app.tests.factories import SessionFactory


class PaymentAttemptFactory(factory.django.DjangoModelFactory):
    """A push for an approved session: ``created`` (not yet sent) unless ``processing=True``."""

    class Meta:
        model = PaymentAttempt

    session = factory.SubFactory(SessionFactory, approved=True)
    initiated_by = factory.LazyAttribute(lambda o: o.session.client)
    phone = "254712345670"
    amount = factory.LazyAttribute(lambda o: o.session.amount_kes)
    account_reference = factory.LazyAttribute(lambda o: account_reference(o.session.reference))
    status = PaymentAttempt.Status.CREATED

    class Params:
        processing = factory.Trait(
            status=PaymentAttempt.Status.PROCESSING,
            checkout_request_id=factory.Sequence(lambda n: f"ws_CO_TEST{n:010d}"),
            merchant_request_id=factory.Sequence(lambda n: f"29115-{n:08d}-1"),
        )


def _stk_callback(o) -> dict:
    """Daraja's STK callback body for the factory's fields (docs/design.md#what-we-rely-on-in-daraja)."""
    body = {
        "MerchantRequestID": o.merchant_request_id,
        "CheckoutRequestID": o.checkout_request_id,
        "ResultCode": o.result_code,
        "ResultDesc": o.result_desc,
    }
    if o.result_code == 0:
        body["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": float(o.amount)},
                {"Name": "MpesaReceiptNumber", "Value": o.receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": 20260105150000},
                {"Name": "PhoneNumber", "Value": int(o.phone)},
            ]
        }
    return {"Body": {"stkCallback": body}}


class MpesaCallbackFactory(factory.django.DjangoModelFactory):
    """A stored, unprocessed STK callback for a processing attempt; a success unless ``result_code`` says otherwise.

    ``amount``, ``receipt``, ``phone`` and ``result_desc`` shape the payload only.
    """

    class Meta:
        model = MpesaCallback

    class Params:
        amount = factory.LazyAttribute(lambda o: o.attempt.amount if o.attempt else 1)
        receipt = factory.Sequence(lambda n: f"TST{n:07d}")
        phone = factory.LazyAttribute(lambda o: o.attempt.phone if o.attempt else "254708374149")
        result_desc = factory.LazyAttribute(
            lambda o: (
                "The service request is processed successfully." if o.result_code == 0 else "Request cancelled by user"
            )
        )

    attempt = factory.SubFactory(PaymentAttemptFactory, processing=True)
    source_ip = "196.201.214.200"
    checkout_request_id = factory.LazyAttribute(lambda o: o.attempt.checkout_request_id)
    merchant_request_id = factory.LazyAttribute(lambda o: o.attempt.merchant_request_id)
    result_code = 0
    payload = factory.LazyAttribute(_stk_callback)
