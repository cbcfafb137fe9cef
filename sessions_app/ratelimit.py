"""Cache-backed fixed-window limits (Redis in production, locmem in development).

    ratelimit.hit(scope="login-ip", ident=ip, limit=20, window=900)   # raises RateLimited when over
    ratelimit.reset(scope="login-account", ident=email)               # e.g. after a good login

Keys are hashed, so an email or a phone never sits in the cache in clear.
"""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache

from .exceptions import RateLimited


def _key(scope: str, ident: str, window: int) -> str:
    bucket = int(time.time() // window)
    digest = hashlib.sha256(f"{scope}:{ident}".lower().encode()).hexdigest()[:32]
    return f"rl:{scope}:{digest}:{bucket}"


def count(*, scope: str, ident: str, window: int) -> int:
    return int(cache.get(_key(scope, ident, window)) or 0)


def hit(*, scope: str, ident: str, limit: int, window: int, message: str | None = None) -> int:
    """Count one attempt; raise RateLimited (with ``retry_after`` seconds) when over the limit."""
    key = _key(scope, ident, window)
    cache.add(key, 0, timeout=window + 5)
    try:
        current = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 5)
        current = 1
    if current > limit:
        exc = RateLimited(message)
        exc.retry_after = window - int(time.time() % window)
        raise exc
    return current


def is_limited(*, scope: str, ident: str, limit: int, window: int) -> bool:
    return count(scope=scope, ident=ident, window=window) >= limit


def reset(*, scope: str, ident: str, window: int) -> None:
    cache.delete(_key(scope, ident, window))
