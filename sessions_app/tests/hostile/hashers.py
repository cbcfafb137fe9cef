"""A password hasher that counts, in Redis, every password it checks (for the concurrency tests)."""

from __future__ import annotations

import os

import redis
from django.contrib.auth.hashers import MD5PasswordHasher

COUNTER = "hostile:passwords-checked"


class CountingHasher(MD5PasswordHasher):
    algorithm = "counting_md5"

    def verify(self, password, encoded):
        redis.Redis.from_url(os.environ["HOSTILE_COUNTER_REDIS"]).incr(COUNTER)
        return super().verify(password, encoded)
