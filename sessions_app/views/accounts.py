"""Accounts: sign up, log in (rate limited), log out, password reset and change, profile, privacy notice."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import TemplateView

from .. import services
from ..exceptions import ValidationFailed
from ..forms import LoginForm, ProfileForm, SignupForm
from ..http import client_ip
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
