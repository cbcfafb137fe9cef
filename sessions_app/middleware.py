import binascii
import logging
import re
import zoneinfo
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.views import defaults

from . import parsers


class RequestIdMiddleware:
    """X-Request-ID: the client's (when a sane token) or a new one, on this request's logs, its tasks
    (booking_project.observability) and the response's own X-Request-ID header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from booking_project import observability

        value = observability.accept_request_id(request.headers.get("X-Request-ID"))
        request.request_id = value
        token = observability.request_id.set(value)
        try:
            response = self.get_response(request)
        finally:
            observability.request_id.reset(token)
        response["X-Request-ID"] = value
        return response


class UserTimezoneMiddleware:
    """Show times in the signed-in person's own zone (Africa/Nairobi otherwise)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        tz_name = getattr(user, "time_zone", "") if user is not None and user.is_authenticated else ""
        try:
            timezone.activate(zoneinfo.ZoneInfo(tz_name)) if tz_name else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """Sends settings.CONTENT_SECURITY_POLICY (no inline script anywhere) on every response."""

    def __init__(self, get_response):
        from django.conf import settings

        self.policy = settings.CONTENT_SECURITY_POLICY
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response


# What PostgreSQL cannot store (NUL) and UTF-8 cannot encode (lone surrogates), in a path, a query string
# or a form field. Other control characters are stored and shown escaped like any text.
_FORBIDDEN_TEXT = re.compile("[\x00\ud800-\udfff]")
# Header values arrive from WSGI as latin-1 text: NUL, CR, LF or anything outside latin-1 is forged.
_FORBIDDEN_HEADER = re.compile("[\x00\r\n]|[^\x00-\xff]")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_JSON_TYPES = ("application/json", "text/json")
API, WEBHOOKS = "/api/", "/anymail/"
# Exceptions an email provider's webhook view (anymail's code, not ours) raises on a body it cannot read.
_UNREADABLE = (ValueError, LookupError, TypeError, AttributeError, RecursionError, binascii.Error)

hostile_logger = logging.getLogger("sessions_app.hostile")
_OUR_APPS = ("sessions_app", "payments_app", "notifications_app", "booking_project")


def _raised_in_our_code(exception: BaseException) -> bool:
    """True when one of our own modules (a tracking receiver, a service) is in the exception's traceback:
    then it is our bug or our data, not a body the provider's view could not read."""
    ours = tuple(str(Path(settings.BASE_DIR) / app) + "/" for app in _OUR_APPS)
    tb = exception.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(ours):
            return True
        tb = tb.tb_next
    return False


class HostileInputMiddleware:
    """Refuses, at the edge, paths, query strings, headers and form fields no honest client sends.

    NUL and lone surrogates in any of them (and CR/LF or non-latin-1 text in a header) get a 400 before any
    view, form or query sees them (the API answers its JSON error shape, naming the query parameter as its
    serializers would; pages the 400 page); so does a page POST whose
    body is neither of the two form encodings, and a form body Django cannot read (over
    DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields, a broken multipart body). JSON bodies are the business
    of sessions_app.parsers (the API) and the callback view, except for anymail's webhooks, whose JSON
    bodies are decoded here with the same strict decoder; a webhook body anymail's view still cannot read
    is a 400 too (process_exception), and a webhook of a provider that is not configured here a 404.
    Refusals are logged without the path (the callback's path carries its secret) or the offending value.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reason = self._reason(request)
        if reason is not None:
            return self._refuse(request, *reason)
        return self.get_response(request)

    def _reason(self, request) -> tuple | None:
        if _FORBIDDEN_TEXT.search(request.path_info) or _FORBIDDEN_TEXT.search(request.path):
            return 400, "path"
        for name, value in request.META.items():
            if (name.startswith("HTTP_") or name in ("CONTENT_TYPE", "CONTENT_LENGTH")) and (
                not isinstance(value, str) or _FORBIDDEN_HEADER.search(value)
            ):
                return 400, "header"
        try:
            bad = _bad_query(request.GET)
        except SuspiciousOperation:  # too many fields
            return 400, "query string"
        if bad is not None:
            return 400, "query string", bad
        if request.method in ("POST", "PUT", "PATCH") and not request.path_info.startswith(API):
            content_type = request.content_type or ""
            webhook = request.path_info.startswith(WEBHOOKS)
            if webhook and content_type in _JSON_TYPES:
                try:
                    parsers.loads(request.body)
                except (parsers.JSONRefused, SuspiciousOperation):
                    return 400, "JSON body"
            elif content_type in _FORM_TYPES:
                try:
                    if webhook:
                        # A provider's view reads the raw body: keep it (a multipart parse would consume it).
                        request.body  # noqa: B018
                    fields = request.POST
                    files = request.FILES
                except (SuspiciousOperation, MultiPartParserError, UnicodeError, ValueError):
                    return 400, "form body"
                if _bad_query(fields) is not None or any(_FORBIDDEN_TEXT.search(f.name or "") for f in files.values()):
                    return 400, "form field"
            elif content_type and _has_body(request) and not webhook:
                return 400, "content type"
        return None

    def process_exception(self, request, exception):
        if not request.path_info.startswith(WEBHOOKS):
            return None
        from anymail.exceptions import AnymailConfigurationError

        if isinstance(exception, AnymailConfigurationError):
            hostile_logger.warning("Webhook of a provider that is not configured here: answered 404")
            return _json_error(404, "not_found", "There is no such webhook here.")
        if isinstance(exception, _UNREADABLE) and not _raised_in_our_code(exception):
            hostile_logger.warning(
                "Webhook body the provider's view could not read (%s): answered 400", type(exception).__name__
            )
            return _json_error(400, "bad_request", "The webhook body could not be read.")
        # A database outage, or a bug in our own receivers, stays a 500, so that the provider retries.
        return None

    def _refuse(self, request, status: int, where: str, field: tuple[str, str] | None = None):
        hostile_logger.warning("Refused a request: forbidden characters or encoding in its %s", where)
        message = f"The request's {where} contains characters or an encoding that is not accepted."
        if request.path_info.startswith(API) and field is not None:
            name, problem = field  # as the API's serializers name a bad query parameter
            response = JsonResponse(
                {"code": "invalid", "message": f"{name}: {problem}", "fields": {name: [problem]}}, status=status
            )
            response._has_been_logged = True
            return response
        if request.path_info.startswith((API, WEBHOOKS)):
            return _json_error(status, "bad_request", message)
        response = defaults.bad_request(request, SuspiciousOperation(message))
        response._has_been_logged = True  # Django's request log would print the path (and its secret)
        return response


def _json_error(status: int, code: str, message: str) -> JsonResponse:
    """The API's error shape (sessions_app.api.errors)."""
    response = JsonResponse({"code": code, "message": message, "fields": {}}, status=status)
    response._has_been_logged = True
    return response


def _bad_query(data) -> tuple[str, str] | None:
    """The first parameter holding NUL or a lone surrogate (in its name or a value), and what is wrong."""
    for key in data:
        for text in (key, *data.getlist(key)):
            match = _FORBIDDEN_TEXT.search(text)
            if match is not None:
                name = key if not _FORBIDDEN_TEXT.search(key) else "non_field_errors"
                if match.group() == "\x00":
                    return name, "Null characters are not allowed."
                return name, f"Surrogate characters are not allowed: U+{ord(match.group()):X}."
    return None


def _has_body(request) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return True


CONSENT_SESSION_KEY = "consent_versions"


def consent_remember(request, user) -> bool:
    """Whether ``user`` has agreed to the current texts; if so, note it in the login session (one query),
    so that the pages after it ask nothing. Called on login and by ConsentMiddleware."""
    from .selectors.privacy import consent_missing, consent_token

    if consent_missing(user=user):
        request.session.pop(CONSENT_SESSION_KEY, None)
        return False
    request.session[CONSENT_SESSION_KEY] = consent_token()
    return True


class ConsentMiddleware:
    """A signed-in person who has not agreed to the current terms and privacy notice is asked first.

    Pages redirect to the consent page (and back afterwards); the API answers 403
    ``consent_required``. Only the texts themselves, the consent page, logging out, static files and
    the health probes stay open. Once agreed, the login session remembers the versions: no query on
    later requests until settings.CONSENT_VERSIONS changes.
    """

    # The second step of signing in comes first (SignInMiddleware): its pages must not bounce back here.
    OPEN_NAMES = (
        "sessions:consent",
        "sessions:logout",
        "sessions:privacy",
        "sessions:terms",
        "sessions:login_code",
        "sessions:two_factor_setup",
    )

    def __init__(self, get_response):
        self.get_response = get_response
        self._open: tuple[str, ...] | None = None

    def _open_paths(self) -> tuple[str, ...]:
        if self._open is None:
            from django.urls import reverse

            self._open = (*(reverse(name) for name in self.OPEN_NAMES), settings.STATIC_URL or "/static/", "/healthz")
        return self._open

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or request.path_info.startswith(self._open_paths()):
            return self.get_response(request)
        from .selectors.privacy import consent_token

        if request.session.get(CONSENT_SESSION_KEY) == consent_token() or consent_remember(request, user):
            return self.get_response(request)
        if request.path_info.startswith(API):
            return JsonResponse(
                {
                    "code": "consent_required",
                    "message": "The terms of use or the privacy notice have changed: sign in on the website "
                    "and agree to them to continue.",
                    "fields": {},
                },
                status=403,
            )
        from django.shortcuts import redirect
        from django.urls import reverse
        from django.utils.http import urlencode

        target = request.get_full_path() if request.method == "GET" else ""
        return redirect(reverse("sessions:consent") + (f"?{urlencode({'next': target})}" if target else ""))


# --- Signing in (issue 18) ------------------------------------------------------------------------

SEEN_KEY = "signin_seen"  # the time (epoch seconds) of the last request, for the inactivity timeout
SEEN_GRANULARITY = 60  # the session is rewritten at most once a minute for it
# What a session whose second step is due may still open.
SECOND_STEP_VIEWS = frozenset(
    {
        "sessions:login_code",
        "sessions:two_factor_setup",
        "sessions:logout",
        "sessions:privacy",
        "sessions:healthz",
        "sessions:healthz-live",
        "sessions:healthz-ready",
    }
)


def on_user_logged_in(sender, request, user, **kwargs):
    """Every login (the login page, signup, the test client's force_login) records what the session owes."""
    from .services import two_factor

    session = getattr(request, "session", None)
    if session is None:
        return
    session[two_factor.STATE_KEY] = two_factor.two_factor_state_for(user)
    session[SEEN_KEY] = int(timezone.now().timestamp())


def second_step_url(state: str, next_url: str = "") -> str:
    from django.urls import reverse
    from django.utils.http import urlencode

    from .services import two_factor

    url = reverse("sessions:login_code" if state == two_factor.CODE else "sessions:two_factor_setup")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


class SignInMiddleware:
    """Staff and therapists (and clients who turned it on) pass their second step before any page, the admin
    and the API's session authentication included; staff and therapists are signed out after
    STAFF_IDLE_TIMEOUT_SECONDS without a request.

    The state lives in the session (services.two_factor.STATE_KEY), set at login, so a signed-in request
    costs no query for it. A session from before this existed is given its state on its next request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        from django.contrib.auth import SESSION_KEY

        from .services import two_factor

        session = getattr(request, "session", None)
        if session is None or SESSION_KEY not in session:
            return None
        user = request.user
        if not user.is_authenticated:
            return None
        api = request.path_info.startswith(API)
        if two_factor.two_factor_required(user):
            now = int(timezone.now().timestamp())
            seen = session.get(SEEN_KEY)
            if seen is not None and now - seen > settings.STAFF_IDLE_TIMEOUT_SECONDS:
                return self._timed_out(request, api=api)
            if seen is None or now - seen >= SEEN_GRANULARITY:
                session[SEEN_KEY] = now
        state = session.get(two_factor.STATE_KEY)
        if state is None:
            state = session[two_factor.STATE_KEY] = two_factor.two_factor_state_for(user)
        if state not in (two_factor.CODE, two_factor.SETUP):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in SECOND_STEP_VIEWS:
            return None
        if api:
            return _json_error(
                403,
                "two_factor_required",
                "Finish signing in on the website (two-step sign-in) first, or use an API token.",
            )
        from django.shortcuts import redirect

        next_url = request.get_full_path() if request.method == "GET" else ""
        return redirect(second_step_url(state, next_url))

    def _timed_out(self, request, *, api: bool):
        from django.contrib import messages
        from django.contrib.auth import logout
        from django.shortcuts import redirect
        from django.urls import reverse
        from django.utils.http import urlencode

        minutes = max(1, settings.STAFF_IDLE_TIMEOUT_SECONDS // 60)
        logout(request)
        if api:
            return _json_error(401, "session_expired", f"Signed out after {minutes} minutes without activity.")
        messages.info(request, f"You were signed out after {minutes} minutes without activity. Please sign in again.")
        next_url = request.get_full_path() if request.method == "GET" else ""
        url = reverse("sessions:login")
        return redirect(f"{url}?{urlencode({'next': next_url})}" if next_url else url)
