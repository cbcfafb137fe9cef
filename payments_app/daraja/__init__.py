"""The Daraja gateway: a small interface (push, query, parse a callback) that never writes to the database.

``client`` talks HTTP, ``parse`` turns Daraja's bodies into values, ``errors``
is the error family, ``simulator`` a local sandbox for development and tests.
Services apply what this package returns; callers use the names re-exported here.
"""

from .client import (
    ACCOUNT_REFERENCE_MAX,
    DEFAULT_TRANSACTION_DESC,
    INVALID_TOKEN,
    PROCESSING,
    STK_PUSH_PATH,
    STK_QUERY_PATH,
    TOKEN_PATH,
    TRANSACTION_DESC_MAX,
    DarajaClient,
    account_reference,
    callback_url,
    client,
    password,
    timestamp,
    transaction_desc,
)
from .errors import (
    GENERIC_FAILURE,
    RESULT_MESSAGES,
    CallbackInvalid,
    DarajaCancelledByUser,
    DarajaDeclined,
    DarajaError,
    DarajaInvalidToken,
    DarajaPending,
    DarajaUnavailable,
    result_error,
    result_message,
)
from .parse import NAIROBI, PushAccepted, StkResult, parse_callback

__all__ = [
    "ACCOUNT_REFERENCE_MAX",
    "DEFAULT_TRANSACTION_DESC",
    "GENERIC_FAILURE",
    "INVALID_TOKEN",
    "NAIROBI",
    "PROCESSING",
    "RESULT_MESSAGES",
    "STK_PUSH_PATH",
    "STK_QUERY_PATH",
    "TOKEN_PATH",
    "TRANSACTION_DESC_MAX",
    "CallbackInvalid",
    "DarajaCancelledByUser",
    "DarajaClient",
    "DarajaDeclined",
    "DarajaError",
    "DarajaInvalidToken",
    "DarajaPending",
    "DarajaUnavailable",
    "PushAccepted",
    "StkResult",
    "account_reference",
    "callback_url",
    "client",
    "parse_callback",
    "password",
    "result_error",
    "result_message",
    "timestamp",
    "transaction_desc",
]
