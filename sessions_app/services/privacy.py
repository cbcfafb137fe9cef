"""Who read a client's booking note or intake answers: the therapist's reads and staff "view with reason".

Kenya's Data Protection Act, 2019 (s.25, s.41) asks that access to sensitive personal data be limited
and accounted for. The note and the answers are the session's therapist's to read; every such read
is recorded. Staff cannot see them at all, except through ``sensitive_reveal`` with a written reason,
which the client is shown.
"""

from __future__ import annotations

from django.db import transaction

from ..exceptions import NotAllowed, ValidationFailed
from ..models import IntakeAnswer, SensitiveAccess, Session, User

REASON_MIN = 10
REASON_MAX = 1000


def sensitive_read_record(
    *, session: Session, actor: User, kind: str, path: str = "", source_ip: str | None = None
) -> SensitiveAccess:
    """Record the session's therapist reading the note and/or the answers (no reason needed: their own)."""
    return SensitiveAccess.objects.create(
        actor=actor,
        actor_role=actor.role,
        subject_id=session.client_id,
        session=session,
        kind=kind,
        path=path[:300],
        source_ip=source_ip,
    )


def sensitive_reveal(
    *, session: Session, actor: User, reason: str, path: str = "", source_ip: str | None = None
) -> tuple[str, list[IntakeAnswer]]:
    """A staff member reads a session's note and intake answers for a stated legal need.

    Returns (note, answers). Records who, when and why first, in the same transaction; the client
    sees the record on their session page.
    """
    if not (actor.is_authenticated and actor.is_staff and actor.is_active):
        raise NotAllowed("Only staff can open a client's note with a reason.")
    reason = " ".join((reason or "").split())
    if len(reason) < REASON_MIN:
        raise ValidationFailed(
            f"Say why you need to read it (at least {REASON_MIN} characters): the client is shown this.",
            field="reason",
        )
    if len(reason) > REASON_MAX:
        raise ValidationFailed(f"Keep the reason under {REASON_MAX} characters.", field="reason")
    with transaction.atomic():
        SensitiveAccess.objects.create(
            actor=actor,
            actor_role="staff",
            subject_id=session.client_id,
            session=session,
            kind=SensitiveAccess.Kind.BOTH,
            reason=reason,
            path=path[:300],
            source_ip=source_ip,
        )
        note = Session.objects.values_list("client_notes", flat=True).get(pk=session.pk)
        answers = list(IntakeAnswer.objects.filter(session=session).order_by("position", "id"))
    return note, answers
