"""Shared set-up for the issue-18 privacy tests: a session with a note and intake answers."""

from __future__ import annotations

from sessions_app.models import IntakeQuestion
from sessions_app.services import intake_forms

from ..factories import ClientFactory, SessionFactory, SessionTypeFactory, TherapistProfileFactory

NOTE = "Panic attacks since the move; mornings are worst."
ANSWER = "Sleeping four hours a night"

K = IntakeQuestion.Kind


def intake_form(session_type) -> list[IntakeQuestion]:
    """One question of every kind, in order; the first and the yes/no one required."""
    therapist = session_type.therapist
    specs = [
        (K.SHORT_TEXT, "What brings you here?", [], True),
        (K.LONG_TEXT, "Anything else about your health?", [], False),
        (K.ONE_CHOICE, "How did you hear of us?", ["A friend", "Online", "A doctor"], False),
        (K.MANY_CHOICES, "Which days suit you?", ["Mon", "Wed", "Fri"], False),
        (K.YES_NO, "Have you seen a therapist before?", [], True),
    ]
    return [
        intake_forms.intake_question_save(
            therapist=therapist, session_type=session_type, kind=kind, text=text, choices=choices, required=required
        )
        for kind, text, choices, required in specs
    ]


def answers_for(questions) -> dict:
    q = {question.kind: intake_forms.field_name(question) for question in questions}
    return {q[K.SHORT_TEXT]: ANSWER, q[K.MANY_CHOICES]: ["Fri", "Mon"], q[K.YES_NO]: False}


def sensitive_session():
    """A pending session whose client left a note and answered the therapist's intake form."""
    therapist = TherapistProfileFactory(user__full_name="Dr Wanjiru Kamau")
    session_type = SessionTypeFactory(therapist=therapist)
    questions = intake_form(session_type)
    session = SessionFactory(
        session_type=session_type, client=ClientFactory(full_name="Otieno Client"), client_notes=NOTE
    )
    intake_forms.intake_answers_save(
        session=session,
        questions=questions,
        answers=intake_forms.intake_answers_clean(questions=questions, raw=answers_for(questions)),
    )
    return session
