"""parse_callback against Daraja's documented samples and other shapes."""

import datetime as dt
import json

import pytest

from payments_app import daraja
from payments_app.daraja import (
    CallbackInvalid,
    parse_callback,
)

SUCCESS_SAMPLE = {
    "Body": {
        "stkCallback": {
            "MerchantRequestID": "29115-34620561-1",
            "CheckoutRequestID": "ws_CO_191220191020363925",
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "CallbackMetadata": {
                "Item": [
                    {"Name": "Amount", "Value": 1.00},
                    {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": 20191219102115},
                    {"Name": "PhoneNumber", "Value": 254708374149},
                ]
            },
        }
    }
}
FAILURE_SAMPLE = {
    "Body": {
        "stkCallback": {
            "MerchantRequestID": "f1e2-4b95-a71d-b30d3cdbb7a7942864",
            "CheckoutRequestID": "ws_CO_21072024125243250722943992",
            "ResultCode": 1032,
            "ResultDesc": "Request cancelled by user",
        }
    }
}


def test_parse_success_sample():
    result = parse_callback(SUCCESS_SAMPLE)
    assert result.succeeded
    assert result.amount == 1 and result.receipt_number == "NLJ7RT61SV" and result.phone == "254708374149"
    assert result.transaction_date == dt.datetime(2019, 12, 19, 10, 21, 15, tzinfo=daraja.NAIROBI)
    assert "Balance" not in result.metadata


def test_parse_failure_sample():
    result = parse_callback(FAILURE_SAMPLE)
    assert result.result_code == "1032" and result.receipt_number is None and result.amount is None
    assert result.message == "You cancelled the request on your phone."


def test_parse_tolerates_a_string_balance_and_refuses_fractional_amounts():
    body = json.loads(json.dumps(SUCCESS_SAMPLE))
    items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    items[2]["Value"] = "0.00"
    items[0]["Value"] = 1.5
    result = parse_callback(body)
    assert result.amount is None and result.amount_raw == 1.5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "Body"),
        ({}, "Body"),
        ({"Body": {"stkCallback": "x"}}, "Body.stkCallback"),
        ({"stkCallback": FAILURE_SAMPLE["Body"]["stkCallback"]}, "Body"),
        ({"Body": {"stkCallback": {"ResultCode": 0, "CheckoutRequestID": ""}}}, "Body.stkCallback.CheckoutRequestID"),
        (
            {"Body": {"stkCallback": {"ResultCode": "zero", "CheckoutRequestID": "ws_CO_1"}}},
            "Body.stkCallback.ResultCode",
        ),
        (
            {"Body": {"stkCallback": {"ResultCode": True, "CheckoutRequestID": "ws_CO_1"}}},
            "Body.stkCallback.ResultCode",
        ),
        (
            {
                "Body": {
                    "stkCallback": {"ResultCode": 0, "CheckoutRequestID": "ws_CO_1", "CallbackMetadata": {"Item": 3}}
                }
            },
            "Body.stkCallback.CallbackMetadata",
        ),
    ],
)
def test_parse_rejects_other_shapes(body, field):
    with pytest.raises(CallbackInvalid) as exc:
        parse_callback(body)
    assert exc.value.field == field
