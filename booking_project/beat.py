"""One beat, even by mistake: a scheduler that claims each periodic run in the shared cache first.

``celery -A booking_project beat`` uses ``SingleBeatScheduler`` (set in celery.py). Before it publishes
a due entry it adds a cache key per entry (``cache.add``: only one process can create it) that lives
a little less than the entry's period (90 %). A second beat started by mistake finds the key taken and
sends nothing for that run, so the schedule is not doubled; whichever beat fires first in a period
publishes, the other one's copy is a no-op. The entry still advances in the beat that skipped, so it
tries again at its next due time, and if the first beat dies the second takes over within one period.

The key lives in Django's default cache: Redis in production (``REDIS_URL``; the system checks refuse a
per-process cache with DEBUG off), so both beats see the same key. Every periodic task is safe to run
twice anyway (sessions_app/tests/system/test_beat.py runs each twice); the lock keeps the load and
the logs single, it is not what keeps the data right.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket

from celery.beat import PersistentScheduler, ScheduleEntry
from celery.schedules import crontab, schedule

logger = logging.getLogger(__name__)

LOCK_PREFIX = "beat-run:"
LOCK_SHARE = 0.9  # of the period: shorter than it, so the next run is never blocked by this one
MIN_LOCK_SECONDS = 1.0


def _crontab_period(entry_schedule: crontab) -> float:
    """The shortest gap between two runs of a crontab, in seconds (60 s when it is not a simple pattern).

    60 s is always safe for a crontab: it never fires twice within a minute.
    """
    every_hour = len(entry_schedule.hour) == 24
    every_day = len(entry_schedule.day_of_week) == 7 and len(entry_schedule.day_of_month) == 31
    every_month = len(entry_schedule.month_of_year) == 12
    minutes = sorted(entry_schedule.minute)
    if every_hour and every_day and every_month and minutes:
        if len(minutes) == 1:
            return 3600.0
        gaps = [b - a for a, b in zip(minutes, minutes[1:], strict=False)] + [60 - minutes[-1] + minutes[0]]
        return min(gaps) * 60.0
    return 60.0


def period_seconds(entry_schedule) -> float:
    if isinstance(entry_schedule, crontab):
        return _crontab_period(entry_schedule)
    if isinstance(entry_schedule, schedule):
        return entry_schedule.run_every.total_seconds()
    if isinstance(entry_schedule, dt.timedelta):
        return entry_schedule.total_seconds()
    if isinstance(entry_schedule, int | float):
        return float(entry_schedule)
    return 60.0


def lock_seconds(entry: ScheduleEntry) -> float:
    return max(period_seconds(entry.schedule) * LOCK_SHARE, MIN_LOCK_SECONDS)


def claim_run(name: str, seconds: float) -> bool:
    """True for the one caller that gets this entry's run; False while another beat holds it."""
    from django.core.cache import cache

    owner = f"{socket.gethostname()}:{os.getpid()}"
    return cache.add(LOCK_PREFIX + name, owner, timeout=seconds)


class SingleBeatScheduler(PersistentScheduler):
    """celery's default scheduler (schedule state in a local file), with each run claimed first."""

    def apply_entry(self, entry, producer=None):
        try:
            claimed = claim_run(entry.name, lock_seconds(entry))
        except Exception:  # noqa: BLE001 - the cache away: sending twice is safe, not sending is not
            logger.warning("beat: the run lock for %s could not be taken; sending anyway.", entry.name)
            claimed = True
        if not claimed:
            logger.info("beat: %s skipped, another beat sent this run.", entry.name)
            return None
        return super().apply_entry(entry, producer=producer)
