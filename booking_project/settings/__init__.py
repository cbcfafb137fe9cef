"""Settings for the booking system.

Every value comes from the environment (django-environ) with a working local
default: SQLite, eager Celery tasks, console email and the bundled Daraja
simulator. Production differs only by environment values (see .env.example).

DEBUG is off unless DJANGO_DEBUG is set (`make run` sets it). With DEBUG off the
system checks in booking_project/checks.py refuse the local defaults that would
fail silently in production (memory cache, in-process tasks, console email, ...).
"""

import json
import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-0123456789abcdefghijklmnop"

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
PRODUCT_NAME = env.str("PRODUCT_NAME", default="Tulia Booking")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "anymail",
    # Two-factor sign-in (issue 18): TOTP devices and single-use recovery codes (sessions_app/services/two_factor.py).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "sessions_app",
    "payments_app",
    "notifications_app",
]

MIDDLEWARE = [
    # The request id (X-Request-ID when a sane token, or a new one) on every log line and task of this
    # request, refusals too; it reads only that header, and validates it.
    "sessions_app.middleware.RequestIdMiddleware",
    # Then: NUL, control characters and lone surrogates in paths, query strings, headers and form
    # fields are refused (400) before anything else reads them (issue 20).
    "sessions_app.middleware.HostileInputMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sessions_app.middleware.UserTimezoneMiddleware",
    # A signed-in person who has not agreed to the current terms and privacy notice is asked first.
    "sessions_app.middleware.ConsentMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Staff and therapists: two-factor before any page (the admin too), and signed out after inactivity.
    "sessions_app.middleware.SignInMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "sessions_app.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "booking_project.urls"
WSGI_APPLICATION = "booking_project.wsgi.application"
AUTH_USER_MODEL = "sessions_app.User"
LOGIN_URL = "sessions:login"
LOGIN_REDIRECT_URL = "sessions:home"
LOGOUT_REDIRECT_URL = "sessions:home"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sessions_app.context_processors.product",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
# A persistent connection the database dropped (restart, failover) is replaced before a request uses it.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "Africa/Nairobi"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed file names (collectstatic writes the manifest): browsers may cache them for ever.
        "BACKEND": env.str("STATICFILES_STORAGE", default="whitenoise.storage.CompressedManifestStaticFilesStorage")
    },
}

# --- Email -----------------------------------------------------------------
# SMTP from the EMAIL_* variables (EMAIL_HOST alone switches the default backend to SMTP), or any
# anymail provider: EMAIL_BACKEND=anymail.backends.<provider>.EmailBackend plus its ANYMAIL_* variables.
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if "EMAIL_HOST" in os.environ
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tulia Booking <bookings@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Seconds before an SMTP connection gives up, well inside the Celery task time limit.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)


def _anymail_value(text: str):
    """An ANYMAIL_* environment value: true/false as booleans, a JSON object or list parsed, else the text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


# Every ANYMAIL_<NAME> variable becomes ANYMAIL["<NAME>"] (ANYMAIL_POSTMARK_SERVER_TOKEN -> POSTMARK_SERVER_TOKEN),
# so any provider is configured without a code change. The older unprefixed names still work.
ANYMAIL = {
    key: value
    for key, value in {
        "MAILGUN_API_KEY": env.str("MAILGUN_API_KEY", default=""),
        "MAILGUN_SENDER_DOMAIN": env.str("MAILGUN_SENDER_DOMAIN", default=""),
        "MAILGUN_API_URL": env.str("MAILGUN_API_URL", default=""),  # EU: https://api.eu.mailgun.net/v3
        "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
        "SENDGRID_API_KEY": env.str("SENDGRID_API_KEY", default=""),
    }.items()
    if value
}
ANYMAIL.update(
    {
        name.removeprefix("ANYMAIL_"): _anymail_value(value)
        for name, value in sorted(os.environ.items())
        if name.startswith("ANYMAIL_") and len(name) > len("ANYMAIL_") and value
    }
)

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# No broker configured: run every task in-process (the embedded default).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
# Longer than any countdown or retry backoff we use, so an unacked task is
# redelivered only when its worker really died.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A queue of their own for the payment tasks (callbacks, STK Query polls, sweepers), so a backlog of
# emails never delays a payment: set CELERY_PAYMENTS_QUEUE=payments and run one worker with
# `-Q payments` and one with `-Q celery` (deploy/systemd/). Unset, every task goes to the default queue.
CELERY_PAYMENTS_QUEUE = env.str("CELERY_PAYMENTS_QUEUE", default="")
CELERY_TASK_ROUTES = {"payments_app.tasks.*": {"queue": CELERY_PAYMENTS_QUEUE}} if CELERY_PAYMENTS_QUEUE else {}
HEALTHZ_CHECK_WORKER = env.bool("HEALTHZ_CHECK_WORKER", default=False)

# --- Booking rules ---------------------------------------------------------
BOOKING_SLOT_STEP_MINUTES = env.int("BOOKING_SLOT_STEP_MINUTES", default=30)
BOOKING_REQUEST_TTL_HOURS = env.int("BOOKING_REQUEST_TTL_HOURS", default=48)
BOOKING_PAYMENT_WINDOW_HOURS = env.int("BOOKING_PAYMENT_WINDOW_HOURS", default=24)
BOOKING_FREE_CANCEL_HOURS = env.int("BOOKING_FREE_CANCEL_HOURS", default=24)
BOOKING_REQUESTS_PER_DAY = env.int("BOOKING_REQUESTS_PER_DAY", default=10)  # per client; more is refused (429)

# --- Privacy (issue 18) ----------------------------------------------------
# The versions of the texts people agree to: templates/sessions_app/legal/<document>_v<version>.html.
# Publishing a new text = a new template file and a new version here; everyone is asked again at their
# next request (sessions_app.middleware.ConsentMiddleware). Old files stay: they are what was agreed to.
CONSENT_VERSIONS = {"terms": "1", "privacy": "2"}
# --- Retention (README "Your data and retention": each default and its reason) ---------------
# Days kept before the nightly job (sessions_app.services.retention) anonymises or deletes them.
RETENTION_CALLBACK_PAYLOAD_DAYS = env.int("RETENTION_CALLBACK_PAYLOAD_DAYS", default=90)  # payer phone in raw callbacks
RETENTION_NOTIFICATION_DAYS = env.int("RETENTION_NOTIFICATION_DAYS", default=180)  # address and errors of sent emails
RETENTION_AUDIT_DAYS = env.int("RETENTION_AUDIT_DAYS", default=730)  # the staff access record
RETENTION_CLOSED_REQUEST_DAYS = env.int("RETENTION_CLOSED_REQUEST_DAYS", default=90)  # expired / declined requests
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=500)
for _name in (
    "RETENTION_CALLBACK_PAYLOAD_DAYS",
    "RETENTION_NOTIFICATION_DAYS",
    "RETENTION_AUDIT_DAYS",
    "RETENTION_CLOSED_REQUEST_DAYS",
    "RETENTION_BATCH_SIZE",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be a whole number of at least 1, not {globals()[_name]}.")

# --- Daraja (M-Pesa) -------------------------------------------------------
DARAJA_BASE_URL = env.str("DARAJA_BASE_URL", default="http://127.0.0.1:8001").rstrip("/")
DARAJA_CONSUMER_KEY = env.str("DARAJA_CONSUMER_KEY", default="sandbox-consumer-key")
DARAJA_CONSUMER_SECRET = env.str("DARAJA_CONSUMER_SECRET", default="sandbox-consumer-secret")
DARAJA_SHORTCODE = env.str("DARAJA_SHORTCODE", default="174379")
DARAJA_PASSKEY = env.str("DARAJA_PASSKEY", default="bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919")
DARAJA_TRANSACTION_TYPE = env.str("DARAJA_TRANSACTION_TYPE", default="CustomerPayBillOnline")
DARAJA_PARTY_B = env.str("DARAJA_PARTY_B", default="")  # till number for CustomerBuyGoodsOnline
DARAJA_CALLBACK_BASE_URL = env.str("DARAJA_CALLBACK_BASE_URL", default=SITE_URL).rstrip("/")
DARAJA_TIMEOUT_SECONDS = env.float("DARAJA_TIMEOUT_SECONDS", default=10.0)
MPESA_CALLBACK_SECRET = env.str("MPESA_CALLBACK_SECRET", default="dev-callback-secret")
MPESA_CALLBACK_ALLOWED_IPS = env.list("MPESA_CALLBACK_ALLOWED_IPS", default=[])
MPESA_POLL_DEADLINE_SECONDS = env.int("MPESA_POLL_DEADLINE_SECONDS", default=180)
MPESA_POLL_FIRST_DELAY_SECONDS = env.float("MPESA_POLL_FIRST_DELAY_SECONDS", default=20.0)
MPESA_POLL_INTERVAL_SECONDS = env.float("MPESA_POLL_INTERVAL_SECONDS", default=12.0)
MPESA_STATUS_QUERY_INTERVAL_SECONDS = env.float("MPESA_STATUS_QUERY_INTERVAL_SECONDS", default=4.0)
MPESA_STK_PUSHES_PER_SESSION = env.int("MPESA_STK_PUSHES_PER_SESSION", default=5)  # per 10 minutes
# Daraja's asynchronous APIs (Reversal, Transaction Status: reference/daraja.md section 6) need an initiator
# and its password RSA-encrypted with Safaricom's certificate. Empty: Reversal is not enabled for this
# shortcode, so staff record refunds by hand with their M-Pesa reference.
DARAJA_INITIATOR_NAME = env.str("DARAJA_INITIATOR_NAME", default="testapi")
DARAJA_SECURITY_CREDENTIAL = env.str("DARAJA_SECURITY_CREDENTIAL", default="sandbox-security-credential")
DARAJA_REVERSAL_ENABLED = env.bool("DARAJA_REVERSAL_ENABLED", default=True)
# When a refund reaches the client's M-Pesa, in the words the cancel page and emails use.
REFUND_TIMEFRAME = env.str("REFUND_TIMEFRAME", default="within 3 working days")
# Cancelling while a payment is in flight asks M-Pesa first (STK Push Query) with this short timeout.
MPESA_CANCEL_QUERY_TIMEOUT_SECONDS = env.float("MPESA_CANCEL_QUERY_TIMEOUT_SECONDS", default=4.0)
# Open money cases older than this are in the staff's daily digest.
MONEY_CASE_DIGEST_AGE_HOURS = env.int("MONEY_CASE_DIGEST_AGE_HOURS", default=24)

# --- REST framework --------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous API call gets 401 with WWW-Authenticate: Token.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Strict JSON (sessions_app.parsers): the DATA_UPLOAD_MAX_MEMORY_SIZE limit (413); non-finite numbers,
    # integers past 64 bits, NUL, lone surrogates, duplicate keys and deep nesting refused (400).
    "DEFAULT_PARSER_CLASSES": ["sessions_app.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "sessions_app.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tulia Booking API",
    "DESCRIPTION": "Session booking with M-Pesa payments.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Security (production values come from the environment) ---------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_PROXY", default=False) else None
)
X_FRAME_OPTIONS = "DENY"
# No inline script anywhere: every script is a file under static/. Inline style
# attributes are allowed (Django admin uses a few); nothing is loaded from elsewhere.
CONTENT_SECURITY_POLICY = env.str(
    "CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; "
        "object-src 'none'"
    ),
)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 24 * 14)

# --- Signing in (issue 18; README "Signing in") -----------------------------
# The admin's path (no leading slash, one trailing slash): a less guessable one keeps scanners off it.
DJANGO_ADMIN_URL = env.str("DJANGO_ADMIN_URL", default="admin/").strip("/") + "/"
# Staff and therapists are signed out after this many seconds without a request.
STAFF_IDLE_TIMEOUT_SECONDS = env.int("STAFF_IDLE_TIMEOUT_SECONDS", default=30 * 60)
# How long an email verification link works.
EMAIL_VERIFICATION_MAX_AGE_SECONDS = env.int("EMAIL_VERIFICATION_MAX_AGE_SECONDS", default=3 * 24 * 60 * 60)
# Proxies in front of the site that append to X-Forwarded-For (nginx: 1). The client's address is the entry
# that many places from the end; anything before it is the caller's own claim and is ignored.
TRUSTED_PROXY_COUNT = env.int(
    "DJANGO_TRUSTED_PROXY_COUNT", default=1 if env.bool("DJANGO_BEHIND_PROXY", default=False) else 0
)
# Throttles per hour, per client address and per email (sessions_app/services/signin.py), shared through Redis.
SIGNUP_PER_IP_PER_HOUR = env.int("SIGNUP_PER_IP_PER_HOUR", default=10)
SIGNUP_PER_EMAIL_PER_HOUR = env.int("SIGNUP_PER_EMAIL_PER_HOUR", default=5)
PASSWORD_RESET_PER_IP_PER_HOUR = env.int("PASSWORD_RESET_PER_IP_PER_HOUR", default=10)
PASSWORD_RESET_PER_EMAIL_PER_HOUR = env.int("PASSWORD_RESET_PER_EMAIL_PER_HOUR", default=3)
OTP_TOTP_ISSUER = PRODUCT_NAME
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

# Sentry: errors of the web and worker processes, redacted like the logs (booking_project.observability).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from booking_project.observability import init_sentry

    init_sentry(
        SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default=""),
        release=env.str("SENTRY_RELEASE", default=""),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# GET /metrics (Prometheus text) with "Authorization: Bearer <METRICS_TOKEN>"; unset: staff sessions only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# LOG_FORMAT=json: one JSON object per line and event (time, level, logger, message, request_id,
# exception), for a log shipper; plain (the default) for people. Both carry the request id.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "sessions_app.logging.JsonFormatter"},
    },
    # Making this filter also installs a record factory that redacts every record as it is made, so the
    # loggers of gunicorn, Celery's worker and libraries, whose handlers are not these, are clean too.
    "filters": {
        "redact": {"()": "sessions_app.logging.RedactPersonalData"},
        "request_id": {"()": "booking_project.observability.RequestIdFilter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact", "request_id"]},
        # runserver's request log prints paths, and the callback path carries its secret.
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact", "request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}
