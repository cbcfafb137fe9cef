"""Reads for issue 18: intake forms, a session's intake answers, consent versions, who read what.

A client's booking note and intake answers are for the session's therapist (and the client) only:
``intake_answers_for`` gives nobody else any. A therapist's read goes through
``services.privacy.sensitive_read_record``; a staff read only through "view with reason".
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from ..models import Consent, IntakeAnswer, IntakeQuestion, SensitiveAccess, Session, SessionType, User


def intake_questions(*, session_type: SessionType | int) -> list[IntakeQuestion]:
    return list(IntakeQuestion.objects.filter(session_type=session_type).order_by("position", "id"))


def intake_needed(*, client: User, session_type: SessionType) -> list[IntakeQuestion]:
    """The questions a client is asked when booking this type: its form, on their first request with
    this therapist; none after that (or when the type has no form)."""
    questions = intake_questions(session_type=session_type)
    if not questions:
        return []
    if Session.objects.filter(client=client, therapist_id=session_type.therapist_id).exists():
        return []
    return questions


def intake_answers_for(*, session: Session, user: User) -> list[IntakeAnswer]:
    """A session's intake answers for its own therapist or its own client; nobody else gets any."""
    if not user.is_authenticated:
        return []
    own_therapist = user.is_therapist and session.therapist_id == user.therapist_profile.pk
    own_client = user.role == User.Role.CLIENT and session.client_id == user.pk
    if not (own_therapist or own_client):
        return []
    return list(IntakeAnswer.objects.filter(session=session).order_by("position", "id"))


# --- Consent ------------------------------------------------------------------------------------


def consent_versions() -> dict[str, str]:
    """The current version of each text people agree to (settings.CONSENT_VERSIONS)."""
    return dict(settings.CONSENT_VERSIONS)


def consent_token() -> str:
    """The current versions as one string, kept in a person's login session once they have agreed."""
    return ",".join(f"{doc}:{version}" for doc, version in sorted(consent_versions().items()))


def consent_missing(*, user: User) -> list[str]:
    """The documents whose current version this person has not agreed to (one query)."""
    current = consent_versions()
    agreed = set(Consent.objects.filter(user=user, document__in=list(current)).values_list("document", "version"))
    return [doc for doc, version in current.items() if (doc, version) not in agreed]


def consents_of(*, user: User) -> QuerySet[Consent]:
    return Consent.objects.filter(user=user).order_by("-accepted_at", "-id")


# --- Who read what ------------------------------------------------------------------------------


def staff_reveals_for_client(*, client: User, session: Session | None = None) -> QuerySet[SensitiveAccess]:
    """Staff "view with reason" reads of this client's note or intake answers (the client is shown them)."""
    qs = SensitiveAccess.objects.filter(subject=client).exclude(reason="").select_related("actor")
    if session is not None:
        qs = qs.filter(session=session)
    return qs.order_by("-at", "-id")
