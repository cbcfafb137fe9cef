"""Accounts: sign up, log in (rate limited), log out, password reset and change, profile, privacy notice;
the person's data rights (a copy of their data, a correction request, deleting the account)."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET
from django.views.generic import TemplateView

from .. import services
from ..exceptions import NotAllowed, ValidationFailed
from ..forms import CorrectionRequestForm, DeleteAccountForm, LoginForm, ProfileForm, SignupForm
from ..http import client_ip
from ..services import data_rights
from .common import client_login_required


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(fallback)


@sensitive_post_parameters("password1", "password2")
def signup(request):
    if request.user.is_authenticated:
        return redirect("sessions:home")
    form = SignupForm(request.POST if request.method == "POST" else None)
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
            messages.success(request, f"Welcome, {user.get_short_name()}. Your account is ready.")
            return redirect(_safe_next(request, "sessions:directory"))
    next_url = request.GET.get("next") or request.POST.get("next") or ""
    return render(request, "registration/signup.html", {"form": form, "next": next_url})


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


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default): a link or an image cannot log anyone out."""

    next_page = "sessions:home"


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("sessions:password_reset_done")

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
