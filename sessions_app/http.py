"""Request helpers shared by every app's views."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The caller's address. Behind our proxy (DJANGO_BEHIND_PROXY) the proxy's own X-Forwarded-For entry
    (the last one) is used; anything earlier in that header is caller-supplied and ignored."""
    addr = request.META.get("REMOTE_ADDR") or ""
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            addr = forwarded[-1]
    try:
        return str(ipaddress.ip_address(addr))
    except ValueError:
        return None
