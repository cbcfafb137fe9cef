"""Tasks are published by name: in-process when eager, through the broker otherwise; services never import tasks."""

from pathlib import Path

import pytest
from celery import current_app

from notifications_app import dispatch, tasks

APP_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", [dispatch.SEND_NOTIFICATION, dispatch.NOTIFY_SESSION_CHANGE])
def test_every_dispatched_name_is_a_registered_task(name):
    assert current_app.tasks[name].name == name


def test_eager_mode_runs_the_registered_task_in_process(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.send_notification, "apply_async", lambda **kwargs: calls.append(kwargs))

    dispatch.task_send(dispatch.SEND_NOTIFICATION, 7, countdown=30)

    assert calls == [{"args": (7,), "countdown": 30}]


def test_with_a_broker_the_task_is_sent_by_name(monkeypatch):
    sent = []
    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    monkeypatch.setattr(current_app, "send_task", lambda name, **kwargs: sent.append((name, kwargs)))

    dispatch.task_send(dispatch.NOTIFY_SESSION_CHANGE, 12, "approve")

    assert sent == [(dispatch.NOTIFY_SESSION_CHANGE, {"args": (12, "approve")})]
