"""Accounts: sign up, log in (rate limited, then the second step), log out, password reset and change, profile,
privacy notice; two-step sign-in set-up and management; email verification; the person's data rights (a copy
of their data, a correction request, deleting the account)."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, login, logout
from django.contrib.auth import views as auth_views
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET
from django.views.generic import TemplateView

from .. import services
from ..exceptions import BookingError, NotAllowed, RateLimited, ValidationFailed
from ..forms import CorrectionRequestForm, DeleteAccountForm, LoginForm, ProfileForm, SignupForm, TwoFactorCodeForm
from ..http import client_ip
from ..middleware import second_step_url
from ..services import data_rights, signin, two_factor
from .common import client_login_required


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    # Only a path on this site: anything else (a URL name such as "a:b" among them) falls back.
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(fallback)


def _signed_in(request, response):
    """The sign-in is complete (password, and the second step when one is due): note the browser, emailing
    the owner when it is one this account has not used before; the browser keeps its id cookie."""
    key = request.COOKIES.get(signin.DEVICE_COOKIE) or ""
    if not 20 <= len(key) <= 100:
        key = signin.new_device_key()
    signin.signin_device_seen(
        user=request.user, device_key=key, user_agent=request.headers.get("User-Agent", ""), ip=client_ip(request)
    )
    response.set_cookie(
        signin.DEVICE_COOKIE,
        key,
        max_age=signin.DEVICE_COOKIE_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


@sensitive_post_parameters("password1", "password2")
def signup(request):
    if request.user.is_authenticated:
        return redirect("sessions:home")
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        try:
            signin.signup_throttle(ip=client_ip(request), email=request.POST.get("email", "")[:254])
        except RateLimited as exc:
            form.is_valid()
            form.errors.clear()
            form.add_error(None, exc.message)
            response = render(request, "registration/signup.html", {"form": form, "next": _safe_next_raw(request)})
            response.status_code = 429
            return response
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_signup(
                email=data["email"],
                full_name=data["full_name"],
                phone=data["phone"],
                password=data["password1"],
                time_zone=data["time_zone"],
                privacy_consent=data["consent"],
                source_ip=client_ip(request),
            )
        except ValidationFailed as exc:
            field = {"password": "password1"}.get(exc.field, exc.field)
            form.add_error(field if field in form.fields else None, exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                f"Welcome, {user.get_short_name()}. Your account is ready. We have emailed a link to {user.email}: "
                "open it to confirm your address before you book.",
            )
            return _signed_in(request, redirect(_safe_next(request, "sessions:directory")))
    return render(request, "registration/signup.html", {"form": form, "next": _safe_next_raw(request)})


def _safe_next_raw(request) -> str:
    return request.GET.get("next") or request.POST.get("next") or ""


class LoginView(auth_views.LoginView):
    """Django's login (it rotates the session key) with lockouts per account and per address."""

    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.locked:
            response.status_code = 429
        return response

    def form_valid(self, form):
        response = super().form_valid(form)  # logged in: the password was right
        state = self.request.session.get(two_factor.STATE_KEY)
        if state in (two_factor.CODE, two_factor.SETUP):
            return redirect(second_step_url(state, self.get_redirect_url()))
        return _signed_in(self.request, response)


def _pending_user(request):
    """The user whose password this session gave, while their second step is still due (else None)."""
    if SESSION_KEY not in request.session or not request.user.is_authenticated:
        return None
    return request.user


@never_cache
@sensitive_post_parameters("code")
def login_code(request):
    """The second step of signing in: a code from the app, or a recovery code (used up)."""
    user = _pending_user(request)
    if user is None:
        return redirect("sessions:login")
    state = request.session.get(two_factor.STATE_KEY)
    if state == two_factor.SETUP:
        return redirect(second_step_url(state, _safe_next_raw(request)))
    if state != two_factor.CODE:
        return redirect(_safe_next(request, settings.LOGIN_REDIRECT_URL))
    form = TwoFactorCodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            device = two_factor.two_factor_verify(user=user, code=form.cleaned_data["code"])
        except RateLimited as exc:
            form.add_error("code", exc.message)
            status = 429
        except BookingError as exc:
            form.add_error("code", exc.message)
        else:
            return _second_step_passed(request, device, used_recovery=device.__class__.__name__ == "StaticDevice")
    if request.method == "POST" and form.errors and status == 200:
        status = 400
    response = render(request, "registration/login_code.html", {"form": form, "next": _safe_next_raw(request)})
    response.status_code = status
    return response


def _second_step_passed(request, device, *, used_recovery: bool):
    import django_otp

    request.session.cycle_key()  # a new session id for the fully signed-in session
    django_otp.login(request, device)
    request.session[two_factor.STATE_KEY] = two_factor.VERIFIED
    if used_recovery:
        left = two_factor.recovery_codes_left(request.user)
        messages.warning(
            request,
            f"You used a recovery code; {left} left. Each works once: make new ones from Two-step sign-in.",
        )
    return _signed_in(request, redirect(_safe_next(request, settings.LOGIN_REDIRECT_URL)))


def _show_recovery_codes(request, codes: list[str], *, next_url: str = ""):
    response = render(request, "registration/two_factor_recovery_codes.html", {"codes": codes, "next": next_url})
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@sensitive_post_parameters("code")
@client_login_required
def two_factor_setup(request):
    """Scan the QR code (or type the key), confirm with a code: the recovery codes are shown once."""
    user = request.user
    if two_factor.two_factor_enabled(user):
        return redirect("sessions:two_factor")
    form = TwoFactorCodeForm(request.POST if request.method == "POST" else None, app_only=True)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            codes = two_factor.two_factor_enrol_confirm(user=user, code=form.cleaned_data["code"])
        except RateLimited as exc:
            form.add_error("code", exc.message)
            status = 429
        except NotAllowed:
            return redirect("sessions:two_factor")
        except BookingError as exc:
            form.add_error("code", exc.message)
            status = 400
        else:
            was_pending = request.session.get(two_factor.STATE_KEY) == two_factor.SETUP
            import django_otp
            from django_otp.plugins.otp_totp.models import TOTPDevice

            request.session.cycle_key()
            django_otp.login(request, TOTPDevice.objects.get(user=user, confirmed=True))
            request.session[two_factor.STATE_KEY] = two_factor.VERIFIED
            response = _show_recovery_codes(request, codes, next_url=_safe_next(request, settings.LOGIN_REDIRECT_URL))
            return _signed_in(request, response) if was_pending else response
    elif request.method == "POST":
        status = 400
    enrolment = two_factor.two_factor_enrol_start(user=user)
    response = render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "enrolment": enrolment,
            "required": two_factor.two_factor_required(user),
            "next": _safe_next_raw(request),
        },
    )
    response.status_code = status
    return response


@never_cache
@sensitive_post_parameters("code")
@client_login_required
def two_factor_manage(request):
    """Two-step sign-in: on or off, recovery codes left; new recovery codes, or (clients) turn it off."""
    user = request.user
    enabled = two_factor.two_factor_enabled(user)
    required = two_factor.two_factor_required(user)
    form = TwoFactorCodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if not enabled or action not in ("recovery", "disable") or (action == "disable" and required):
            form = TwoFactorCodeForm({})
            form.is_valid()
            form.errors.clear()
            form.add_error(None, "Choose one of the actions on this page.")
            status = 400
        elif form.is_valid():
            code = form.cleaned_data["code"]
            try:
                if action == "recovery":
                    codes = two_factor.two_factor_recovery_regenerate(user=user, code=code)
                    return _show_recovery_codes(request, codes, next_url=reverse("sessions:two_factor"))
                two_factor.two_factor_disable(user=user, code=code)
            except RateLimited as exc:
                form.add_error("code", exc.message)
                status = 429
            except BookingError as exc:
                form.add_error("code", exc.message)
                status = 400
            else:
                request.session[two_factor.STATE_KEY] = two_factor.NONE
                messages.success(request, "Two-step sign-in is off. Your password alone now signs you in.")
                return redirect("sessions:two_factor")
        else:
            status = 400
    response = render(
        request,
        "registration/two_factor.html",
        {
            "form": form,
            "enabled": enabled,
            "required": required,
            "codes_left": two_factor.recovery_codes_left(user) if enabled else 0,
            "last_used": two_factor.two_factor_last_used(user) if enabled else None,
        },
    )
    response.status_code = status
    return response


def verify_email(request, token: str):
    """The link from the verification email (signed, expiring): confirms the address it was sent to."""
    try:
        user = signin.email_verify(token=token)
    except ValidationFailed as exc:
        response = render(request, "registration/verify_email.html", {"error": exc.message})
        response.status_code = 400
        return response
    if request.user.is_authenticated and request.user.pk == user.pk:
        request.user.email_verified_at = user.email_verified_at
    return render(request, "registration/verify_email.html", {"verified_email": user.email})


@client_login_required
def verify_email_resend(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        signin.email_verification_resend(user=request.user)
    except RateLimited as exc:
        messages.error(request, exc.message)
    except ValidationFailed as exc:
        messages.info(request, exc.message)
    else:
        hours = settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS // 3600
        messages.success(request, f"We have sent a new link to {request.user.email}. It works for {hours} hours.")
    return redirect(_safe_next(request, "sessions:profile"))


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default): a link or an image cannot log anyone out."""

    next_page = "sessions:home"


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("sessions:password_reset_done")

    def post(self, request, *args, **kwargs):
        try:
            signin.password_reset_throttle(ip=client_ip(request), email=request.POST.get("email", "")[:254])
        except RateLimited as exc:
            form = self.get_form()
            form.is_valid()
            form.errors.clear()
            form.add_error(None, exc.message)
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        # The email is rendered without the request's context processors.
        self.extra_email_context = {"PRODUCT_NAME": settings.PRODUCT_NAME}
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("sessions:password_reset_complete")


class PasswordResetCompleteView(TemplateView):
    # Not Django's PasswordResetCompleteView: it resolves settings.LOGIN_URL, and our
    # login page is sessions:login (the template links to it).
    template_name = "registration/password_reset_complete.html"


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("sessions:profile")

    def form_valid(self, form):
        messages.success(self.request, "Your password is changed.")
        return super().form_valid(form)


@client_login_required
def profile(request):
    form = ProfileForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.user_profile_update(
                user=request.user,
                full_name=data["full_name"],
                phone=data["phone"],
                time_zone=data["time_zone"],
                email=data["email"],
            )
        except ValidationFailed as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, "Your profile is saved.")
            return redirect("sessions:profile")
    return render(request, "registration/profile.html", {"form": form})


# --- Data rights --------------------------------------------------------------------------------


def _readable(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, indent=1)
    return str(value)


def _readable_sections(export: dict) -> list[dict]:
    """The export's rows as (label, value) pairs in plain words, for the HTML page."""
    sections = []
    for section in export["sections"]:
        rows = []
        for row in section["rows"]:
            pairs = []
            for key, value in row.items():
                if key.endswith("_label"):
                    continue
                shown = row.get(f"{key}_label", value)
                pairs.append((key.removesuffix("_id").replace("_", " ").capitalize(), _readable(shown)))
            rows.append({"id": row["id"], "pairs": pairs})
        sections.append({**section, "rows": rows})
    return sections


@client_login_required
@require_GET
def my_data(request):
    """Everything we hold about the signed-in person, on one readable page (the JSON download has the same)."""
    export = data_rights.user_export(user=request.user)
    return render(
        request,
        "registration/my_data.html",
        {"export": export, "sections": _readable_sections(export)},
    )


@client_login_required
@require_GET
def my_data_download(request):
    export = data_rights.user_export(user=request.user)
    response = JsonResponse(export, json_dumps_params={"ensure_ascii": False, "indent": 2})
    stamp = timezone.localtime().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="my-data-{stamp}.json"'
    response["Cache-Control"] = "no-store"
    return response


@client_login_required
def correction_request(request):
    form = CorrectionRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            data_rights.correction_request_create(user=request.user, message=form.cleaned_data["message"])
        except ValidationFailed as exc:
            form.add_error("message" if exc.field == "message" else None, exc.message)
        except NotAllowed as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Thank you. Your request is with our staff; they will answer within 14 days.")
            return redirect("sessions:profile")
    return render(request, "registration/correction_request.html", {"form": form})


@sensitive_post_parameters("password")
@client_login_required
def delete_account(request):
    """Deleting one's account: the consequences first, then the password and an explicit confirmation."""
    preview = data_rights.user_erase_preview(user=request.user)
    form = DeleteAccountForm(request.POST if request.method == "POST" else None, user=request.user)
    status = 200
    if request.method == "POST":
        if preview["refusal"]:
            form.add_error(None, preview["refusal"])
            status = 409
        elif form.is_valid():
            try:
                data_rights.user_erase(user=request.user, source="web", source_ip=client_ip(request))
            except NotAllowed as exc:
                form.add_error(None, exc.message)
                status = 409
            else:
                logout(request)
                return redirect("sessions:account_deleted")
        elif form.locked:
            status = 429
    return render(request, "registration/delete_account.html", {"form": form, "preview": preview}, status=status)


def account_deleted(request):
    return render(request, "registration/account_deleted.html")
