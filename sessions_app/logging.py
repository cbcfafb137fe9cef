"""Keeps personal data and secrets out of every log line, whoever logs it.

What is removed, from the message, its arguments, the exception text and traceback and the stack:

- phone numbers (Kenyan and E.164) are masked to their last two digits, emails to ``[email]``;
- the M-Pesa callback secret, the Daraja passkey and consumer secret, and bearer/basic/token
  credentials are replaced;
- PostgreSQL's error context, which quotes the data of the statement that failed (free text such as a
  client's notes included, which no pattern could recognise), is dropped: the ``LINE n:`` excerpt of
  the statement and its caret, the ``DETAIL:``, ``CONTEXT:``, ``HINT:``, ``QUERY:`` and ``WHERE:``
  lines, and the value quoted by "invalid input syntax/value for ...". The first line (what went wrong,
  and in which constraint) stays.

Two hooks apply it. ``RedactPersonalData`` is the filter on every handler of settings.LOGGING; when
logging is configured it also installs a log record factory that applies the same filter to every
record as it is made, so records of loggers whose handlers are not ours (gunicorn's, Celery's worker
log, a library's own) are clean before any handler sees them. Exception text is rendered (and
redacted) then, and ``exc_info`` dropped, so no handler can render the raw traceback again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading

PHONE = re.compile(r"(?<!\d)(?:\+?254[\s-]?|0)?([17]\d{2})[\s-]?(\d{3})[\s-]?(\d{3})(?!\d)")
EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
BEARER = re.compile(r"(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+")
# PostgreSQL's error context: these lines quote the failed statement's data.
DB_CONTEXT = re.compile(r"^[ \t]*(?:LINE \d+:|DETAIL:|CONTEXT:|HINT:|QUERY:|WHERE:).*$|^[ \t]*\^[ \t]*$", re.MULTILINE)
DB_QUOTED = re.compile(r"(invalid input (?:syntax|value) for [\w .()\"]+?): .*$", re.MULTILINE)


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    text = BEARER.sub(r"\1 [redacted]", text)
    text = DB_CONTEXT.sub("[database error context removed]", text)
    text = DB_QUOTED.sub(r"\1: [value removed]", text)
    text = EMAIL.sub("[email]", text)
    return PHONE.sub(lambda m: "[phone …" + m.group(3)[-2:] + "]", text)


def _secrets() -> list[str]:
    try:
        from django.conf import settings

        return [
            getattr(settings, "MPESA_CALLBACK_SECRET", ""),
            getattr(settings, "DARAJA_PASSKEY", ""),
            getattr(settings, "DARAJA_CONSUMER_SECRET", ""),
        ]
    except Exception:  # noqa: BLE001 - settings not configured yet: patterns still apply
        return []


_exception_formatter = logging.Formatter()


class RedactPersonalData(logging.Filter):
    def __init__(self, name: str = ""):
        super().__init__(name)
        install_record_factory()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _secrets()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must still be logged
            message = str(record.msg)
        cleaned = scrub(message, secrets)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            try:
                record.exc_text = _exception_formatter.formatException(record.exc_info)
            except Exception:  # noqa: BLE001
                record.exc_text = "[the exception could not be rendered]"
        if record.exc_info:
            record.exc_info = None  # rendered above: nothing may render the raw one again
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, secrets)
        return True


_installed = threading.Lock()
_factory_installed = False


def install_record_factory() -> None:
    """Redact every record as it is made (once per process; further calls do nothing)."""
    global _factory_installed
    with _installed:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()
        redactor = RedactPersonalData.__new__(RedactPersonalData)
        logging.Filter.__init__(redactor)

        def redacting_factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            # Looked up on the class at each call, so a test that disables the filter disables this too.
            RedactPersonalData.filter(redactor, record)
            return record

        logging.setLogRecordFactory(redacting_factory)
        _factory_installed = True


class JsonFormatter(logging.Formatter):
    """One JSON object per line and per event (LOG_FORMAT=json): time (UTC), level, logger, message,
    request_id and, when there was one, the exception text; the message and the exception are scrubbed
    here once more, so the line is clean even from a handler without the redaction filter."""

    def format(self, record: logging.LogRecord) -> str:
        secrets = _secrets()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must still be logged
            message = str(record.msg)
        event = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(message, secrets),
            "request_id": getattr(record, "request_id", None) or "-",
        }
        exc_text = record.exc_text
        if record.exc_info and not exc_text:
            exc_text = self.formatException(record.exc_info)
        if exc_text:
            event["exception"] = scrub(exc_text, secrets)
        if record.stack_info:
            event["stack"] = scrub(record.stack_info, secrets)
        return json.dumps(event, ensure_ascii=False, default=str)
