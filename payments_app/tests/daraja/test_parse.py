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


# --- Issue 22: every code has plain words and a class; codes are strings -----------------------

SECTION_5 = ["0", "1", "2", "3", "4", "8", "17", "26", "1001", "1019", "1025", "9999", "1032", "1037", "2001"]
SECTION_5 += ["2028", "SFC_IC0003", "8006", "1036", "2002"]


@pytest.mark.parametrize("code", SECTION_5)
def test_every_known_code_has_plain_words_and_a_class(code):
    from payments_app.daraja import CLASSES, GENERIC_FAILURE, result_info

    info = result_info(code)
    assert info.known and info.message and info.message != GENERIC_FAILURE
    assert info.error_class in CLASSES


@pytest.mark.parametrize(
    ("code", "cls"),
    [("2028", "configuration"), ("SFC_IC0003", "configuration"), ("2002", "configuration"), ("8006", "configuration")]
    + [("1", "final"), ("1032", "final"), ("1037", "final"), ("17", "transient"), ("26", "transient")]
    + [("1036", "transient"), ("9999", "transient")],
)
def test_classes_follow_section_5(code, cls):
    from payments_app.daraja import result_class

    assert result_class(code) == cls


@pytest.mark.parametrize("code", ["4999", "C2B00011", 77, "-1"])
def test_an_unknown_code_is_a_plain_final_failure(code):
    from payments_app.daraja import GENERIC_FAILURE, result_info

    info = result_info(code)
    assert (info.known, info.message, info.error_class) == (False, GENERIC_FAILURE, "final")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (0, "0"),
        ("0", "0"),
        (" 1032 ", "1032"),
        (1032.0, "1032"),
        ("SFC_IC0003", "SFC_IC0003"),
        ("C2B00011", "C2B00011"),
    ],
)
def test_callback_result_codes_come_back_as_strings(raw, text):
    body = {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "MerchantRequestID": "m", "ResultCode": raw}}}
    assert parse_callback(body).result_code == text


@pytest.mark.parametrize("raw", ["x", "abc", "", None, True, 1.5, [], {}, "SFC IC", "1" * 11, 2**40])
def test_callback_result_codes_that_are_not_codes_are_refused(raw):
    body = {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": raw}}}
    with pytest.raises(CallbackInvalid):
        parse_callback(body)
