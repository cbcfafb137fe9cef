"""Absolute links in emails: every URL an email carries is built here."""

from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse


def absolute_url(viewname: str, *args) -> str:
    """``settings.SITE_URL`` + the reversed path; a missing URL name raises NoReverseMatch."""
    return f"{settings.SITE_URL}{reverse(viewname, args=args)}"


def site_host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"
