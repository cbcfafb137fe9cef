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
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from celery import signals

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
