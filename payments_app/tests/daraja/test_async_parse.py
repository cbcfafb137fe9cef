"""The shared pieces of Daraja's asynchronous APIs (Reversal, Transaction Status): reply and Result parsing."""

import pytest

from payments_app import daraja


def test_parse_async_result_reads_parameters():
    r = daraja.parse_async_result(
        {
            "Result": {
                "ResultType": 0,
                "ResultCode": 0,
                "ResultDesc": "ok",
                "OriginatorConversationID": "o-1",
                "ConversationID": "AG_1",
                "TransactionID": "SAB1",
                "ResultParameters": {"ResultParameter": {"Key": "Amount", "Value": 100}},
            }
        }
    )
    assert r.succeeded and r.parameters == {"Amount": 100} and r.transaction_id == "SAB1"


@pytest.mark.parametrize("body", [None, [], {"Result": {}}, {"Result": {"ResultCode": 0}}])
def test_parse_async_result_refuses_non_results(body):
    with pytest.raises(daraja.CallbackInvalid):
        daraja.parse_async_result(body)


def test_accepted_reply_reads_and_refuses():
    a = daraja.accepted_reply({"ResponseCode": "0", "OriginatorConversationID": "x", "ConversationID": "y"})
    assert a.originator_conversation_id == "x"
    with pytest.raises(daraja.DarajaDeclined):
        daraja.accepted_reply({"ResponseCode": "1", "ResponseDescription": "no"})
