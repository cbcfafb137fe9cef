"""The admin's access log."""

from __future__ import annotations

from ..models import AuditEntry, User


def audit_record(
    *,
    actor: User | None,
    action: str,
    model: str,
    object_id: str = "",
    detail: str = "",
    path: str = "",
    source_ip: str | None = None,
) -> AuditEntry:
    """Append who read or changed what in the admin (Kenya DPA 2019: access to personal data is accounted for)."""
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        model=model,
        object_id=str(object_id)[:64],
        detail=detail[:500],
        path=path[:300],
        source_ip=source_ip,
    )
