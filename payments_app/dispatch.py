"""Queue Celery tasks by name, so that services never import a tasks module (the tasks import the services).

A payment task's name is "<module>.<function>" (each sets ``name=`` so). The
module is imported on first use, as a worker's autodiscovery would import it, and
the registered task is called: under CELERY_TASK_ALWAYS_EAGER (``make run``, the
tests) it runs in this process; with a broker it is published. A name that no
module registers is published as it is, for a worker that knows it.
"""

from __future__ import annotations

import importlib
from typing import Any

from celery import current_app


def _registered(name: str):
    tasks = current_app.tasks
    if name not in tasks:
        try:
            importlib.import_module(name.rpartition(".")[0])
        except ImportError:
            return None
    return tasks.get(name)


def eager() -> bool:
    """True when tasks run in-process (no broker, so no countdowns)."""
    return bool(current_app.conf.task_always_eager)


def delay(name: str, *args: Any) -> None:
    task = _registered(name)
    if task is None:
        current_app.send_task(name, args=list(args))
    else:
        task.delay(*args)


def apply_async(name: str, *, args: list, countdown: float | None = None) -> None:
    task = _registered(name)
    if task is None:
        current_app.send_task(name, args=args, countdown=countdown)
    else:
        task.apply_async(args=args, countdown=countdown)
