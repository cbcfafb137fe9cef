"""A therapist's private notes on a session: only the session's own therapist writes or reads them."""

from __future__ import annotations

from django.db import transaction

from ..exceptions import NotAllowed, ValidationFailed
from ..models import Session, TherapistNote, TherapistProfile, User

NOTE_MAX_CHARS = 10_000


def _note_author(*, session: Session, actor: User) -> TherapistProfile:
    """Only the session's own therapist writes or reads its private notes (not staff, not the client)."""
    profile = getattr(actor, "therapist_profile", None) if actor.role == User.Role.THERAPIST else None
    if profile is None or session.therapist_id != profile.pk:
        raise NotAllowed("Only the session's therapist can keep private notes on it.")
    return profile


def _clean_note(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("Write the note first.", field="body")
    if len(body) > NOTE_MAX_CHARS:
        raise ValidationFailed(f"Please keep a note under {NOTE_MAX_CHARS:,} characters.", field="body")
    return body


def therapist_note_add(*, session: Session, actor: User, body: str) -> TherapistNote:
    profile = _note_author(session=session, actor=actor)
    return TherapistNote.objects.create(session=session, therapist=profile, body=_clean_note(body))


def therapist_note_update(*, note: TherapistNote, actor: User, body: str) -> TherapistNote:
    profile = _note_author(session=note.session, actor=actor)
    if note.therapist_id != profile.pk:
        raise NotAllowed("Only the note's author can change it.")
    with transaction.atomic():
        locked = TherapistNote.objects.select_for_update().get(pk=note.pk)
        locked.body = _clean_note(body)
        locked.save(update_fields=["body", "updated_at"])
    return locked


def therapist_note_delete(*, note: TherapistNote, actor: User) -> None:
    profile = _note_author(session=note.session, actor=actor)
    if note.therapist_id != profile.pk:
        raise NotAllowed("Only the note's author can delete it.")
    TherapistNote.objects.filter(pk=note.pk, therapist=profile).delete()
