"""Publish a notifications task by its registered name, so services never import tasks.py.

With a broker the message goes out by name (``send_task``): the publishing
process needs neither the task's code nor its module. In eager mode (no
broker: ``make run``, the tests) ``send_task`` would ignore
``task_always_eager`` and try to reach a broker, so the registered task is
looked up instead and applied in-process, retries and all, exactly as
``task.delay()`` would.
"""

from __future__ import annotations

from typing import Any

from celery import current_app

SEND_NOTIFICATION = "notifications_app.tasks.send_notification"
NOTIFY_SESSION_CHANGE = "notifications_app.tasks.notify_session_change"


def task_send(name: str, *args: Any, **options: Any) -> None:
    """Queue task ``name`` with positional ``args``; ``options`` go to apply_async (countdown, ...)."""
    app = current_app
    if app.conf.task_always_eager:
        if name not in app.tasks:
            # Task modules are discovered lazily (on the worker, at start): load them here.
            app.loader.import_default_modules()
        app.tasks[name].apply_async(args=args, **options)
    else:
        app.send_task(name, args=args, **options)
