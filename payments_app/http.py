"""Request helpers shared by the payment pages and endpoints."""

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


def ip_allowed(ip: str | None, allowed: list[str]) -> bool:
    """True when no allow-list is set, or ``ip`` is in it (single addresses or CIDR ranges)."""
    if not allowed:
        return True
    if ip is None:
        return False
    address = ipaddress.ip_address(ip)
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False
