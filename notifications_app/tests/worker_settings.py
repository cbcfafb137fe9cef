"""Settings for the real Celery workers started by test_worker_kill.py (never for a deployment).

The test settings plus: the test process's database, a real Redis broker, the
spool email backend, and a visibility timeout of seconds instead of an hour so
the killed worker's unacknowledged message comes back within the test.
"""

import os
import time
from pathlib import Path

from celery.signals import task_postrun

from booking_project.settings.test import *  # noqa: F403
from booking_project.settings.test import DATABASES

DATABASES["default"]["NAME"] = os.environ["WORKER_DATABASE_NAME"]
CELERY_BROKER_URL = os.environ["WORKER_BROKER_URL"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("WORKER_VISIBILITY_TIMEOUT", "3600")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
EMAIL_BACKEND = "notifications_app.tests.backends.SpoolBackend"


def _pause_after_task(**kwargs):
    """With ``pause-after-task`` in the spool: hang after the task committed, before its ack."""
    spool = Path(os.environ["WORKER_SPOOL_DIR"])
    flag = spool / "pause-after-task"
    if flag.exists():
        flag.unlink()
        (spool / "finished").write_text(str(kwargs.get("task_id")))
        time.sleep(120)


task_postrun.connect(_pause_after_task, weak=False)
