"""A Celery worker really killed in the middle of an email task loses nothing and duplicates nothing.

Real processes: a Redis broker, a worker started with ``celery worker``, killed
with SIGKILL (no chance to clean up), then a second worker started. Tasks are
acks_late, so the killed worker's message stays unacknowledged in Redis and is
handed to the next worker once its visibility timeout passes (seconds here,
an hour in production).
"""

import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from notifications_app.models import Notification
from sessions_app.tests.celery_workers import Workers, kill, redis_ready, redis_url, wait_for

from .factories import NotificationFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDIS_URL = redis_url(3)  # this run's own Redis server
VISIBILITY_TIMEOUT = 3


@pytest.fixture
def spool(tmp_path):
    return tmp_path


@pytest.fixture
def queue():
    return f"notifications-kill-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def workers(spool, queue):
    redis_ready(REDIS_URL)
    env = {
        "DJANGO_SETTINGS_MODULE": "notifications_app.tests.worker_settings",
        "WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        "WORKER_BROKER_URL": REDIS_URL,
        "WORKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "WORKER_SPOOL_DIR": str(spool),
    }
    pool = Workers(env=env, queue=queue, log_dir=spool)
    yield pool
    pool.stop_all()


def send_task(queue: str, notification_id: int) -> str:
    from celery import Celery

    sender = Celery("notifications-kill-test", broker=REDIS_URL)
    sender.conf.broker_transport_options = {"visibility_timeout": VISIBILITY_TIMEOUT}
    result = sender.send_task("notifications_app.tasks.send_notification", args=[notification_id], queue=queue)
    sender.close()
    return result.id


def sent_files(spool: Path) -> list[Path]:
    return sorted(spool.glob("sent-*.eml"))


def a_notification() -> Notification:
    return NotificationFactory()


def test_a_worker_killed_while_sending_loses_nothing(workers, spool, queue):
    notification = a_notification()
    (spool / "pause-before-send").touch()

    first = workers("first")
    send_task(queue, notification.pk)
    wait_for(lambda: (spool / "sending").exists(), timeout=60, what="the first worker to start sending")
    kill(first)

    notification.refresh_from_db()
    assert notification.status == Notification.Status.QUEUED, "the killed attempt's transaction rolled back"
    assert sent_files(spool) == []

    time.sleep(VISIBILITY_TIMEOUT + 1)
    workers("second")
    wait_for(
        lambda: Notification.objects.filter(pk=notification.pk, status=Notification.Status.SENT).exists(),
        timeout=60,
        what="the second worker to send the redelivered email",
    )

    assert len(sent_files(spool)) == 1
    notification.refresh_from_db()
    assert notification.attempts == 1
    assert notification.sent_at is not None


def test_a_worker_killed_after_sending_but_before_its_ack_sends_nothing_twice(workers, spool, queue):
    notification = a_notification()
    (spool / "pause-after-task").touch()

    first = workers("first")
    task_id = send_task(queue, notification.pk)
    wait_for(lambda: (spool / "finished").exists(), timeout=60, what="the first worker to finish the task")
    assert len(sent_files(spool)) == 1
    kill(first)

    time.sleep(VISIBILITY_TIMEOUT + 1)
    workers("second")
    log = spool / "second.log"
    wait_for(
        lambda: log.exists() and f"send_notification[{task_id}] succeeded" in log.read_text(errors="replace"),
        timeout=60,
        what="the second worker to run the redelivered task",
    )

    assert len(sent_files(spool)) == 1, "the redelivered task found the email sent and did not send it again"
    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    assert notification.attempts == 1
