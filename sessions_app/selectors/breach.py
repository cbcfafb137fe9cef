"""Reads for the breach duty (DPA 2019 s.43: notify within 72 hours): who saw whose data, from the audit trail.

Two sources: ``SensitiveAccess`` (a client's note and intake answers, read by their therapist or
opened by staff with a reason) and ``AuditEntry`` (staff opening, changing or listing rows in the
admin). An admin row is traced to the people it is about through its model's links (the user itself,
a session's client and therapist, an attempt's session, a notification's recipient). A list page
names no rows: it is reported for the account that opened it, and for a subject only when its search
(``q=``) was their email, phone or name.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q

from ..models import AuditEntry, SensitiveAccess, Session, User

# Paths from an audited model to the users its row is about, tried in order (those the model has).
SUBJECT_PATHS = (
    "client",
    "therapist__user",
    "user",
    "recipient",
    "session__client",
    "session__therapist__user",
    "attempt__session__client",
    "attempt__session__therapist__user",
)

COLUMNS = [
    "at",
    "actor_email",
    "actor_role",
    "source",
    "action",
    "data",
    "object_id",
    "session_reference",
    "subject_email",
    "reason",
    "source_ip",
    "path",
]


@dataclass
class AccessRow:
    at: dt.datetime
    actor_email: str
    actor_role: str
    source: str
    action: str
    data: str
    object_id: str
    session_reference: str
    subject_email: str
    reason: str
    source_ip: str
    path: str

    def as_list(self) -> list[str]:
        values = [getattr(self, name) for name in COLUMNS]
        values[0] = self.at.astimezone(dt.UTC).isoformat()
        return [str(v or "") for v in values]


def _has_path(model, path: str) -> bool:
    current = model
    for part in path.split("__"):
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if not field.is_relation or field.related_model is None:
            return False
        current = field.related_model
    return current is User


def _subjects_by_object(entries: list[AuditEntry]) -> dict[tuple[str, str], set[int]]:
    """For each (model, object id) the admin rows name: the ids of the users that row is about."""
    ids_by_model: dict[str, set[int]] = defaultdict(set)
    for entry in entries:
        if entry.object_id.isdigit():
            ids_by_model[entry.model].add(int(entry.object_id))
    found: dict[tuple[str, str], set[int]] = defaultdict(set)
    for label, ids in ids_by_model.items():
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            continue
        if model is User:
            for pk in ids:
                found[(label, str(pk))].add(pk)
            continue
        paths = [p for p in SUBJECT_PATHS if _has_path(model, p)]
        if not paths:
            continue
        for row in model._default_manager.filter(pk__in=ids).values("pk", *paths):
            found[(label, str(row["pk"]))].update(row[p] for p in paths if row[p] is not None)
    return found


def _search_term(entry: AuditEntry) -> str:
    return (parse_qs(entry.detail).get("q") or [""])[0].strip().lower()


def _matches(term: str, user: User) -> bool:
    if not term:
        return False
    return term in {user.email.lower(), user.phone.lower(), user.full_name.lower()} or (
        len(term) >= 4 and (term in user.email.lower() or term in user.phone)
    )


def _window(qs, since: dt.datetime | None, until: dt.datetime | None):
    if since is not None:
        qs = qs.filter(at__gte=since)
    if until is not None:
        qs = qs.filter(at__lt=until)
    return qs


def accesses(
    *, account: User | None = None, subject: User | None = None, since=None, until=None
) -> Iterator[AccessRow]:
    """Every recorded access by ``account``, or to ``subject``'s data, oldest first."""
    if (account is None) == (subject is None):
        raise ValueError("Give exactly one of account or subject.")
    sensitive = SensitiveAccess.objects.select_related("actor", "subject")
    sensitive = sensitive.filter(actor=account) if account is not None else sensitive.filter(subject=subject)
    rows: list[AccessRow] = [
        AccessRow(
            at=a.at,
            actor_email=a.actor.email if a.actor else "(deleted account)",
            actor_role=a.actor_role,
            source="access log",
            action="view with reason" if a.reason else "view",
            data=a.get_kind_display(),
            object_id=str(a.session_id or ""),
            session_reference=Session(pk=a.session_id).reference if a.session_id else "",
            subject_email=a.subject.email if a.subject else "(deleted account)",
            reason=a.reason,
            source_ip=a.source_ip or "",
            path=a.path,
        )
        for a in _window(sensitive, since, until)
    ]

    audit = _window(AuditEntry.objects.select_related("actor"), since, until)
    if account is not None:
        audit = audit.filter(actor=account)
    else:
        # Rows naming an object (resolved below), and list pages (a search may name the subject).
        audit = audit.filter(Q(action=AuditEntry.Action.LIST) | ~Q(object_id=""))
    entries = list(audit.order_by("at", "id"))
    subjects = _subjects_by_object(entries)
    users = User.objects.in_bulk({pk for ids in subjects.values() for pk in ids})
    for entry in entries:
        about = sorted(subjects.get((entry.model, entry.object_id), set()))
        if subject is not None:
            if entry.action == AuditEntry.Action.LIST:
                if not _matches(_search_term(entry), subject):
                    continue
                about = [subject.pk]
            elif subject.pk not in about:
                continue
            else:
                about = [subject.pk]
        for pk in about or [None]:
            person = users.get(pk) if pk is not None else (subject if subject is not None else None)
            rows.append(
                AccessRow(
                    at=entry.at,
                    actor_email=entry.actor.email if entry.actor else "(deleted account)",
                    actor_role=entry.actor.role if entry.actor else "",
                    source="admin audit",
                    action=entry.get_action_display(),
                    data=entry.model,
                    object_id=entry.object_id or entry.detail[:200],
                    session_reference=Session(pk=int(entry.object_id)).reference
                    if entry.model == "sessions_app.session" and entry.object_id.isdigit()
                    else "",
                    subject_email=person.email if person else "",
                    reason="",
                    source_ip=entry.source_ip or "",
                    path=entry.path,
                )
            )
    rows.sort(key=lambda r: (r.at, r.source))
    yield from rows
