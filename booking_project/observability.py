"""Request ids that follow a booking from its request into its Celery tasks, and the log filter that
puts them on every log line.

- ``RequestIdMiddleware`` (sessions_app.middleware) takes the id from the ``X-Request-ID`` header when
  it is a sane token (1 to 64 of ``A-Za-z0-9._-``; anything else is replaced, never echoed), or makes
  one, keeps it in ``request_id`` (a contextvar) while the request runs and returns it in the response's
  ``X-Request-ID`` header.
- ``before_task_publish`` copies the current id into the message headers of every task published
  meanwhile; ``task_prerun`` sets it in the worker for the task's run, ``task_postrun`` clears it. A task
  published by a task (a retry, a poll that queues the next poll) carries the same id on.
- ``RequestIdFilter`` sets ``record.request_id`` ("-" outside a request or task) for the formatters.

Sentry (``init_sentry``, called by settings when ``SENTRY_DSN`` is set): ``sentry_before_send`` applies
the log redaction (sessions_app.logging.scrub: phones, emails, the callback secret, the Daraja
credentials, bearer tokens, database error context) to every string of an event, drops what no
pattern can clean (request bodies, cookies, the Authorization and Cookie headers, local variables of
stack frames) and tags the event with the request id.
"""

from __future__ import annotations

import contextvars
import logging
import re
import urllib.parse
import uuid

from celery import signals

from sessions_app.logging import _secrets, scrub

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

HEADER = "request_id"  # the Celery message header
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The client's id when it is a sane token, else a new one (never echo arbitrary header text)."""
    if value and _SANE.fullmatch(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    return request_id.get()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id.get() or "-"
        return True


def _task_request_id(task) -> str | None:
    req = getattr(task, "request", None)
    if req is None:
        return None
    value = getattr(req, HEADER, None)
    if not value:
        value = (getattr(req, "headers", None) or {}).get(HEADER)
    return value if isinstance(value, str) and _SANE.fullmatch(value) else None


@signals.before_task_publish.connect(weak=False, dispatch_uid="observability.publish_request_id")
def _publish_request_id(sender=None, headers=None, **kwargs):
    value = request_id.get()
    if value and headers is not None and not headers.get(HEADER):
        headers[HEADER] = value


_tokens: dict[str, contextvars.Token] = {}


@signals.task_prerun.connect(weak=False, dispatch_uid="observability.task_request_id")
def _task_prerun(task_id=None, task=None, **kwargs):
    value = _task_request_id(task)
    if value and task_id:
        _tokens[task_id] = request_id.set(value)


@signals.task_postrun.connect(weak=False, dispatch_uid="observability.task_request_id_done")
def _task_postrun(task_id=None, **kwargs):
    token = _tokens.pop(task_id, None) if task_id else None
    if token is not None:
        try:
            request_id.reset(token)
        except ValueError:  # set in another context (a thread pool): just clear it
            request_id.set(None)


# --- Sentry -----------------------------------------------------------------------------------------

_DROPPED_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}


def _scrub_value(value, secrets: list[str]):
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {key: _scrub_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(item, secrets) for item in value]
    return value


def _drop_frame_vars(event: dict) -> None:
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)


def sentry_before_send(event: dict, hint: dict | None = None) -> dict:
    """The same redaction as the logs, on everything the event carries (tested directly, no network)."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)  # a form or JSON body: a client's free text no pattern recognises
        request.pop("cookies", None)
        if isinstance(request.get("query_string"), str):  # decoded, so an encoded email is seen as one
            request["query_string"] = urllib.parse.unquote_plus(request["query_string"])
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS}
    _drop_frame_vars(event)
    event = _scrub_value(event, _secrets())
    value = current_request_id()
    if value:
        event.setdefault("tags", {})["request_id"] = value
    return event


def sentry_before_breadcrumb(crumb: dict, hint: dict | None = None) -> dict:
    return _scrub_value(crumb, _secrets())


def init_sentry(dsn: str, *, environment: str = "", release: str = "", traces_sample_rate: float = 0.0) -> None:
    """sentry-sdk with the Django and Celery integrations (enabled by default when installed)."""
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
        before_send=sentry_before_send,
        before_breadcrumb=sentry_before_breadcrumb,
    )
