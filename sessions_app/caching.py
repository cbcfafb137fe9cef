"""Version keys for what the read paths cache (the directory's pages, a therapist's free slots).

Each cached value is stored as ``(version, value)`` under its own key; the version is a counter
in the cache under ``v:<name>``. A change bumps the counter, so every value stored under an older
version is a miss on the next request, in every process. Reading the counter and the value is
one round trip (``get_many``).

Bumped (``bump``) right away and again once the transaction commits: the first makes the change
visible to whoever reads in the same transaction, the second closes the race in which another
request read the new counter and the old rows before the commit and cached them. Who bumps:
sessions_app.receivers (saves and deletes of the models each cache reads, whoever makes them:
the services, the admin, a shell) and the services that write in bulk (weekly hours).

A cache that is down costs the queries, never an error: every helper here logs and carries on.
A counter the cache lost (evicted, flushed) restarts at a new random value, never at one an old
entry may still carry.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger("sessions_app.caching")

DIRECTORY = "directory"
# How long a cached value may sit unused; correctness comes from the version, not from this.
VALUE_TIMEOUT = 300


def slots_name(therapist_id: int) -> str:
    return f"slots:{therapist_id}"


def _version_key(name: str) -> str:
    return f"v:{name}"


def _fresh_version() -> int:
    return secrets.randbits(48)


def lookup(name: str, key: str) -> tuple[int | None, Any]:
    """``(version, value)``: the current version of ``name`` and the value cached under ``key``
    for that version, or None. The version is None when the cache is unusable (then do not store)."""
    vkey = _version_key(name)
    try:
        got = cache.get_many([vkey, key])
        version = got.get(vkey)
        if version is None:
            cache.add(vkey, _fresh_version(), None)
            return cache.get(vkey), None
    except Exception:  # noqa: BLE001 - the cache is an optimisation here
        logger.warning("Cache unavailable for %s.", name, exc_info=True)
        return None, None
    entry = got.get(key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == version:
        return version, entry[1]
    return version, None


def store(key: str, version: int | None, value: Any, timeout: int = VALUE_TIMEOUT) -> None:
    """Cache ``value`` under ``key`` for ``version`` (the one ``lookup`` gave before the rows were read)."""
    if version is None:
        return
    try:
        cache.set(key, (version, value), timeout)
    except Exception:  # noqa: BLE001
        logger.warning("Cache unavailable for %s.", key, exc_info=True)


def _bump_now(name: str) -> None:
    vkey = _version_key(name)
    try:
        try:
            cache.incr(vkey)
        except ValueError:  # no counter yet (or it was lost): any new value invalidates
            cache.set(vkey, _fresh_version(), None)
    except Exception:  # noqa: BLE001
        logger.warning("Cache unavailable: could not bump %s.", name, exc_info=True)


def bump(*names: str) -> None:
    """What ``names`` cover changed: bump each now and once more when the transaction commits."""
    for name in names:
        _bump_now(name)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: [_bump_now(name) for name in names])
