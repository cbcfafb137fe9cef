"""Reads of a therapist's private notes on a session."""

from __future__ import annotations

from django.db.models import QuerySet

from ..models import Session, TherapistNote, User


def therapist_notes_for(*, session: Session, user: User) -> QuerySet[TherapistNote]:
    """A session's private notes: only its own therapist gets any. Clients, staff and other therapists get none."""
    profile = getattr(user, "therapist_profile", None) if user.is_authenticated and user.is_therapist else None
    if profile is None or session.therapist_id != profile.pk:
        return TherapistNote.objects.none()
    return TherapistNote.objects.filter(session=session, therapist=profile).order_by("created_at", "id")
