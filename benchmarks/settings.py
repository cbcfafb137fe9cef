"""Settings for `make bench`: the product's settings, production-like, on their own databases.

PostgreSQL ``booking_bench``, Redis DB 3 for the cache and the Celery broker (tasks
really queued, never eager), DEBUG off, console email, persistent database
connections (as any production deployment sets DB_CONN_MAX_AGE), and the
benchmark baselines mounted next to the product's URLs. Every value can still be
overridden from the environment (BENCH_DATABASE_URL, BENCH_REDIS_URL, ...).
"""

from booking_project.settings import *  # noqa: F403
from booking_project.settings import BASE_DIR, LOGGING, TEMPLATES, env

DEBUG = False
SECRET_KEY = env.str("BENCH_SECRET_KEY", default="bench-only-secret-key-not-for-production-0123456789abcdef")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "benchmarks.urls"

DATABASES = {"default": env.db("BENCH_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/booking_bench")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("BENCH_DB_CONN_MAX_AGE", default=600)
DATABASES["default"]["ATOMIC_REQUESTS"] = False

REDIS_URL = env.str("BENCH_REDIS_URL", default="redis://127.0.0.1:6379/3")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = {}

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # seeding thousands of users quickly

# Plain HTTP on loopback: no TLS redirect, cookies usable over http.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0

DARAJA_BASE_URL = env.str("BENCH_DARAJA_BASE_URL", default="http://127.0.0.1:8731").rstrip("/")
DARAJA_CALLBACK_BASE_URL = f"http://127.0.0.1:{env.int('BENCH_PORT', default=8730)}"
SITE_URL = DARAJA_CALLBACK_BASE_URL
MPESA_CALLBACK_SECRET = env.str("BENCH_MPESA_CALLBACK_SECRET", default="bench-callback-secret")
MPESA_CALLBACK_ALLOWED_IPS = []

TEMPLATES = [{**TEMPLATES[0], "DIRS": [*TEMPLATES[0]["DIRS"], BASE_DIR / "benchmarks" / "templates"]}]

# The product's logging (with its redaction filter), quieter: no per-request lines under load.
LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": env.str("BENCH_LOG_LEVEL", default="WARNING")}}

# A production-like harness on loopback: email goes to the console and Daraja (the simulator) calls
# back over http on 127.0.0.1 on purpose; the other DEBUG-off checks (secret key, Redis, broker) hold.
SILENCED_SYSTEM_CHECKS = ["booking.E004", "booking.E005"]
