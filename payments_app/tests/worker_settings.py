"""Settings for the real Celery worker that test_e2e.py starts (never for a deployment).

The test settings plus the test process's database, Redis as the broker, no eager
tasks, the simulator and live server of the running test, and a fast poll cadence.
"""

import os

from booking_project.settings.test import *  # noqa: F403
from booking_project.settings.test import DATABASES

DATABASES["default"]["NAME"] = os.environ["WORKER_DATABASE_NAME"]
CELERY_BROKER_URL = os.environ["WORKER_BROKER_URL"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = os.environ["WORKER_QUEUE"]
DARAJA_BASE_URL = os.environ["WORKER_DARAJA_BASE_URL"]
DARAJA_CALLBACK_BASE_URL = os.environ["WORKER_CALLBACK_BASE_URL"]
MPESA_CALLBACK_SECRET = os.environ["WORKER_CALLBACK_SECRET"]
MPESA_POLL_FIRST_DELAY_SECONDS = 1.0
MPESA_POLL_INTERVAL_SECONDS = 1.0
if os.environ.get("WORKER_VISIBILITY_TIMEOUT"):
    # test_payment_worker_kill.py: a killed worker's unacknowledged message comes back within seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ["WORKER_VISIBILITY_TIMEOUT"]),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
