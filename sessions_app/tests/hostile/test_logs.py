"""Issue 20, point 3: no log line carries personal data, whoever logs it and whatever failed.

The production logging is set up as the processes set it up: settings.LOGGING (Django's dictConfig),
then Celery's worker logging (which takes over the root logger) and gunicorn's error and access logs,
each writing to a buffer or file of its own. Then PostgreSQL is made to fail on statements that quote
a phone number, an email and a client's note (a JSON cast with a lone surrogate, whose error quotes the
statement and the JSON; a duplicate email, whose DETAIL quotes the key), and those errors are logged the
ways code logs them: ``logger.exception``, the error as an argument, the error as the message, from
Django's, gunicorn's, Celery's and our own loggers. Every handler's output is then searched.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from sessions_app.models import User

from ..factories import UserFactory

pytestmark = pytest.mark.django_db

PHONE = "0712345678"
PHONE_E164 = "+254 712 345 678"
EMAIL = "amina.wanjiru@example.com"
NOTE = "Struggling since the miscarriage in March"
LOGGERS = ["", "django", "django.request", "gunicorn.error", "celery.app.trace", "celery.worker", "payments_app.api"]

FORBIDDEN = {
    "phone": re.compile(r"712[\s-]?345[\s-]?678"),
    "email": re.compile(re.escape(EMAIL.split("@")[0])),
    "note": re.compile(re.escape(NOTE[:20])),
}


@pytest.fixture(params=["web", "worker"])
def production_logging(request, settings, tmp_path):
    """As a web process (settings.LOGGING, then gunicorn's error and access logs) or a Celery worker
    (settings.LOGGING, then Celery's worker log, which takes the root logger over) sets logging up,
    every output captured; restored after."""
    from celery.app.log import Logging
    from gunicorn.config import Config
    from gunicorn.glogging import Logger as GunicornLogger

    from booking_project.celery import app

    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level, root.filters[:])
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name, lg in logging.Logger.manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    saved_factory = logging.getLogRecordFactory()

    logging.config.dictConfig(settings.LOGGING)
    buffers = []
    for handler in _all_handlers():
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            buffer = io.StringIO()
            handler.setStream(buffer)
            buffers.append(buffer)
    if request.param == "worker":
        app.log.already_setup = False
        Logging.setup_logging_subsystem(app.log, loglevel="DEBUG", logfile=str(tmp_path / "celery.log"), colorize=False)
    else:
        cfg = Config()
        cfg.set("errorlog", str(tmp_path / "gunicorn-error.log"))
        cfg.set("accesslog", str(tmp_path / "gunicorn-access.log"))
        cfg.set("loglevel", "debug")
        GunicornLogger(cfg)
    outputs_expected = {"worker": {"celery.log"}, "web": {"gunicorn-error.log", "stream 0"}}[request.param]
    for name in LOGGERS:
        if logging.getLogger(name).level > logging.INFO:
            logging.getLogger(name).setLevel(logging.INFO)

    def outputs() -> dict[str, str]:
        for handler in _all_handlers():
            handler.flush()
        found = {f"stream {i}": b.getvalue() for i, b in enumerate(buffers)}
        found.update({path.name: path.read_text() for path in tmp_path.glob("*.log")})
        return found

    outputs.expected = outputs_expected
    yield outputs

    app.log.already_setup = False
    logging.setLogRecordFactory(saved_factory)
    for handler in _all_handlers():
        if isinstance(handler, logging.FileHandler):
            handler.close()
    root.handlers[:], root.level, root.filters[:] = saved_root
    for name, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate


def _all_handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    return list({id(h): h for lg in loggers for h in lg.handlers}.values())


def _database_errors() -> list[DatabaseError]:
    errors = []
    payload = json.dumps({"PhoneNumber": PHONE, "email": EMAIL, "notes": NOTE})[:-1] + ', "x": "\\ud800"}'
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT %s::jsonb", [payload])
    except DatabaseError as exc:
        errors.append(exc)
    user = UserFactory(email=EMAIL)
    try:
        with transaction.atomic():
            User.objects.create(email=EMAIL, full_name=user.full_name)
    except IntegrityError as exc:
        errors.append(exc)
    return errors


def test_database_errors_quoting_personal_data_reach_no_log_output(production_logging):
    errors = _database_errors()
    assert len(errors) == 2
    assert PHONE in str(errors[0]) and EMAIL in str(errors[1]), (
        "the errors must quote the data, else this proves nothing"
    )

    for name in LOGGERS:
        logger = logging.getLogger(name)
        for exc in errors:
            try:
                raise exc
            except DatabaseError:
                logger.exception("Storing the callback failed")
            logger.error("Storing the callback failed: %s", exc)
            logger.error(str(exc))
            logger.error("Storing failed", exc_info=(type(exc), exc, exc.__traceback__), stack_info=True)
        logger.warning("Payment for %s (%s) refused", PHONE_E164, EMAIL)
        logger.warning({"phone": PHONE, "email": EMAIL})

    outputs = production_logging()
    written = {where: text for where, text in outputs.items() if text}
    # Django's console and gunicorn's error log (web), or Celery's log file (worker): each wrote.
    assert set(written) >= production_logging.expected, written.keys()
    assert all("Storing the callback failed" in text for text in written.values())
    leaks = [
        (where, what, line)
        for where, text in written.items()
        for line in text.splitlines()
        for what, pattern in FORBIDDEN.items()
        if pattern.search(line)
    ]
    assert leaks == [], f"{len(leaks)} log lines carry personal data, e.g. {leaks[:3]}"
    assert any("[database error context removed]" in text for text in written.values())
    assert any("duplicate key value violates unique constraint" in text for text in written.values())


def test_records_of_loggers_without_our_handlers_are_clean_before_any_handler(production_logging):
    """A handler we never configured (a library's, gunicorn's) still gets a redacted record."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record)

    stranger = logging.getLogger("some.library")
    stranger.propagate = False
    stranger.addHandler(Keep())
    try:
        try:
            raise ValueError(f"bad phone {PHONE} for {EMAIL}")
        except ValueError:
            stranger.exception("Lookup for %s failed", PHONE)
    finally:
        stranger.handlers.clear()
        stranger.propagate = True
    (record,) = seen
    text = logging.Formatter().format(record)
    assert "Lookup for [phone …78] failed" in text
    assert "ValueError: bad phone [phone …78] for [email]" in text
    assert not any(pattern.search(text) for pattern in FORBIDDEN.values())
