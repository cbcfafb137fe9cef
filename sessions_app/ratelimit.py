"""Limits that hold under concurrency and across processes (Redis in production, locmem in development).

    ratelimit.hit(scope="login-ip", ident=ip, limit=20, window=900)   # raises RateLimited when over
    ratelimit.reset(scope="login-account", ident=email)               # e.g. after a good login

Each (scope, ident) has a sliding window of counted events and, from the event that reaches the limit,
a lock that lasts a full ``window`` from that event, whatever the clock says: no fixed buckets, so a
burst that straddles a bucket edge gets no second allowance.

Counting and checking are one atomic step: one Lua script on Redis (so every gunicorn worker and Celery
process shares one count), one process-wide lock on any other cache (locmem: one process anyway).

- ``hit`` counts one event unless the key is locked, in which case it raises RateLimited with
  ``retry_after``, the lock's remaining seconds. The event that reaches the limit is allowed and sets
  the lock.
- ``is_limited`` is the check before an expensive attempt whose failure is counted later by ``hit``
  (the login: check, then the password, then ``hit`` on a failure). So that N simultaneous attempts
  cannot all pass the check before any of them is counted, a check that passes *reserves* one place
  of the limit, atomically; the caller's ``hit`` (same thread) turns the reservation into the counted
  failure, ``release`` gives it back uncounted (a good password), ``reset`` drops it with the count,
  and one that is none of these (an attempt that never reports back) lapses after RESERVATION_SECONDS.
- ``retry_after`` says how long a locked key stays locked.

Keys are hashed, so an email or a phone never sits in the cache in clear.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import uuid

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache

from .exceptions import RateLimited

RESERVATION_SECONDS = (
    10  # longer than any password check; the place of an attempt that never reports back returns after it
)

_local = threading.local()  # (scope, digest) -> this thread's reservation member
_process_lock = threading.Lock()

# KEYS: events (zset), reservations (zset), lock (string: locked-until ms)
# ARGV: mode (hit, reserve, peek, count, reset), now_ms, window_ms, limit, member, reservation member ("" for none), reservation_ms
# Returns {outcome, count, retry_ms}; outcome 1 = refused (locked or limited), 0 = allowed.
_SCRIPT = """
local events, reservations, lock = KEYS[1], KEYS[2], KEYS[3]
local mode = ARGV[1]
local now, window, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local member, reserved, reservation_ms = ARGV[5], ARGV[6], tonumber(ARGV[7])
if mode == 'reset' then
  redis.call('DEL', events, reservations, lock)
  return {0, 0, 0}
end
if reserved ~= '' then redis.call('ZREM', reservations, reserved) end
redis.call('ZREMRANGEBYSCORE', events, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', reservations, '-inf', now)
local count = redis.call('ZCARD', events)
if mode == 'count' then return {0, count, 0} end
local until_ms = tonumber(redis.call('GET', lock) or '0')
if until_ms > now then return {1, count, until_ms - now} end
if mode == 'reserve' or mode == 'peek' then
  local pending = redis.call('ZCARD', reservations)
  if count + pending >= limit then
    local first = redis.call('ZRANGE', reservations, 0, 0, 'WITHSCORES')
    local retry = 1000
    if first[2] then retry = tonumber(first[2]) - now end
    return {1, count, retry}
  end
  if mode == 'peek' then return {0, count, 0} end
  redis.call('ZADD', reservations, now + reservation_ms, member)
  redis.call('PEXPIRE', reservations, reservation_ms + 1000)
  return {0, count, 0}
end
-- mode == 'hit'
if count >= limit then
  redis.call('SET', lock, now + window, 'PX', window + 1000)
  return {1, count, window}
end
redis.call('ZADD', events, now, member)
redis.call('PEXPIRE', events, window + 1000)
count = count + 1
if count >= limit then redis.call('SET', lock, now + window, 'PX', window + 1000) end
return {0, count, 0}
"""


def _digest(scope: str, ident: str) -> str:
    return hashlib.sha256(f"{scope}:{ident}".lower().encode()).hexdigest()[:32]


def _keys(scope: str, digest: str) -> list[str]:
    return [f"rl:{scope}:{digest}:{part}" for part in ("events", "reserved", "lock")]


def _redis_client():
    """The redis.Redis behind Django's RedisCache, or None for any other cache."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(write=True)


def _run(mode: str, scope: str, ident: str, *, limit: int = 0, window: int = 1, reserved: str = "") -> tuple:
    digest = _digest(scope, ident)
    keys = _keys(scope, digest)
    now_ms = int(time.time() * 1000)
    member = f"{now_ms}:{uuid.uuid4().hex}"
    args = [mode, now_ms, int(window * 1000), int(limit), member, reserved, RESERVATION_SECONDS * 1000]
    client = _redis_client()
    if client is not None:
        script = client.register_script(_SCRIPT)  # EVALSHA, loading the script on first use
        outcome, count, retry_ms = script(keys=[cache.make_key(k) for k in keys], args=args)
        return int(outcome), int(count), int(retry_ms), member
    with _process_lock:
        return (*_run_in_process(keys, *args), member)


def _run_in_process(keys, mode, now, window, limit, member, reserved, reservation_ms) -> tuple[int, int, int]:
    """The script above, on the Django cache, under the process lock (locmem and other caches)."""
    events_key, reservations_key, lock_key = keys
    timeout = (max(window, reservation_ms) + 1000) / 1000
    if mode == "reset":
        cache.delete_many(keys)
        return 0, 0, 0
    reservations = {m: s for m, s in (cache.get(reservations_key) or {}).items() if s > now and m != reserved}
    cache.set(reservations_key, reservations, timeout=timeout)
    events = {m: s for m, s in (cache.get(events_key) or {}).items() if s > now - window}
    count = len(events)
    if mode == "count":
        return 0, count, 0
    until = cache.get(lock_key) or 0
    if until > now:
        return 1, count, until - now
    if mode in ("reserve", "peek"):
        if count + len(reservations) >= limit:
            return 1, count, (min(reservations.values()) - now) if reservations else 1000
        if mode == "peek":
            return 0, count, 0
        reservations[member] = now + reservation_ms
        cache.set(reservations_key, reservations, timeout=timeout)
        return 0, count, 0
    if count >= limit:
        cache.set(lock_key, now + window, timeout=timeout)
        return 1, count, window
    events[member] = now
    cache.set(events_key, events, timeout=timeout)
    if count + 1 >= limit:
        cache.set(lock_key, now + window, timeout=timeout)
    return 0, count + 1, 0


def _reservations() -> dict:
    if not hasattr(_local, "reservations"):
        _local.reservations = {}
    return _local.reservations


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


def count(*, scope: str, ident: str, window: int) -> int:
    """Events counted in the last ``window`` seconds."""
    return _run("count", scope, ident, window=window)[1]


def hit(*, scope: str, ident: str, limit: int, window: int, message: str | None = None) -> int:
    """Count one event; raise RateLimited (with ``retry_after`` seconds) when the key is locked.

    The ``limit``-th event within ``window`` seconds is allowed and locks the key for ``window`` seconds
    from now. A reservation this thread made with ``is_limited`` becomes this event."""
    reserved = _reservations().pop((scope, _digest(scope, ident)), "")
    outcome, current, retry_ms, _ = _run("hit", scope, ident, limit=limit, window=window, reserved=reserved)
    if outcome:
        exc = RateLimited(message)
        # Clocks of processes differ by milliseconds: never more than the window.
        exc.retry_after = _seconds(min(retry_ms, window * 1000))
        raise exc
    return current


def is_limited(*, scope: str, ident: str, limit: int, window: int) -> bool:
    """True when locked, or when counted events and attempts in flight fill the limit; else reserve a place
    for this attempt (see the module's docstring) and return False."""
    key = (scope, _digest(scope, ident))
    previous = _reservations().pop(key, "")
    outcome, _, _, member = _run("reserve", scope, ident, limit=limit, window=window, reserved=previous)
    if not outcome:
        _reservations()[key] = member
    return bool(outcome)


def release(*, scope: str, ident: str, window: int) -> None:
    """Give back the place this thread's ``is_limited`` reserved, counting nothing (the attempt succeeded,
    or another limit refused it before it was made)."""
    reserved = _reservations().pop((scope, _digest(scope, ident)), "")
    if reserved:
        _run("count", scope, ident, window=window, reserved=reserved)


def retry_after(*, scope: str, ident: str, limit: int, window: int) -> int:
    """Seconds until an attempt may be made again (0 when one may be made now); reserves nothing."""
    outcome, _, retry_ms, _ = _run("peek", scope, ident, limit=limit, window=window)
    return _seconds(min(retry_ms, window * 1000)) if outcome else 0


def reset(*, scope: str, ident: str, window: int) -> None:
    _reservations().pop((scope, _digest(scope, ident)), None)
    _run("reset", scope, ident, window=window)
