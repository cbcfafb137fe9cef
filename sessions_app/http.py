"""Request helpers shared by every app's views."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The caller's address.

    Behind TRUSTED_PROXY_COUNT proxies (DJANGO_TRUSTED_PROXY_COUNT; 1 with DJANGO_BEHIND_PROXY, for nginx) each
    proxy appends the address it was called from to X-Forwarded-For, so the caller's is that many entries
    from the end; anything earlier is what the caller wrote itself and is ignored (a spoofed header cannot
    pick the address a throttle counts). A header shorter than the proxy chain did not come through it:
    REMOTE_ADDR then. With no proxy configured the header is never read.
    """
    addr = request.META.get("REMOTE_ADDR") or ""
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= count:
            addr = forwarded[-count]
    try:
        return str(ipaddress.ip_address(addr))
    except ValueError:
        return None
