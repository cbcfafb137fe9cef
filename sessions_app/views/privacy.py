"""The texts people agree to (terms of use, privacy notice), and the page that asks for agreement again."""

from __future__ import annotations

from email.utils import parseaddr

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render

from ..exceptions import ValidationFailed
from ..http import client_ip
from ..middleware import consent_remember
from ..selectors.privacy import consent_missing, consent_versions
from ..services.consent import consent_record
from ..services.retention import retention_periods
from .accounts import _safe_next
from .common import client_login_required

DOCUMENT_TITLES = {"terms": "Terms of use", "privacy": "Privacy notice"}


def legal_template(document: str, version: str | None = None) -> str:
    """The template holding one version of a text (the current one by default)."""
    return f"sessions_app/legal/{document}_v{version or consent_versions()[document]}.html"


def _legal_context() -> dict:
    return {
        "contact_email": parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
        "versions": consent_versions(),
        "retention": {kind: period.days for kind, period in retention_periods().items()},
    }


def _legal_page(request, document: str):
    context = {
        **_legal_context(),
        "title": DOCUMENT_TITLES[document],
        "body": legal_template(document),
        "version": consent_versions()[document],
    }
    return render(request, "sessions_app/legal_page.html", context)


def terms(request):
    return _legal_page(request, "terms")


def privacy(request):
    return _legal_page(request, "privacy")


class ConsentForm(forms.Form):
    agree = forms.BooleanField(
        label="I have read the terms of use and the privacy notice, and I agree to them.",
        error_messages={"required": "Please agree to the terms of use and the privacy notice to continue."},
    )


@client_login_required
def consent(request):
    """Asks a signed-in person to agree to the current texts; anything else waits until they do."""
    missing = consent_missing(user=request.user)
    if not missing:
        consent_remember(request, request.user)
        return redirect(_safe_next(request, "sessions:home"))
    form = ConsentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            consent_record(user=request.user, agreed=form.cleaned_data["agree"], source_ip=client_ip(request))
        except ValidationFailed as exc:
            form.add_error("agree", exc.message)
        else:
            consent_remember(request, request.user)
            messages.success(request, "Thank you. Your agreement is recorded.")
            return redirect(_safe_next(request, "sessions:home"))
    documents = [{"name": doc, "title": DOCUMENT_TITLES[doc], "template": legal_template(doc)} for doc in missing]
    next_url = request.GET.get("next") or request.POST.get("next") or ""
    return render(
        request,
        "sessions_app/consent.html",
        {**_legal_context(), "form": form, "documents": documents, "next": next_url},
        status=400 if form.is_bound else 200,
    )
