"""Request helpers shared by the payment pages and endpoints."""

from __future__ import annotations

import ipaddress

from sessions_app.http import client_ip  # noqa: F401 - re-exported for the payment views


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
