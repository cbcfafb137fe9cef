"""A therapist's intake form per session type, and a client's answers to it.

Not to be confused with payments_app.services.intake (payment intake). The questions are the
therapist's; the answers are sensitive personal data, readable by the session's therapist (and
the client) only, and every read by the therapist is recorded (services.privacy).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from ..exceptions import NotAllowed, ValidationFailed
from ..models import IntakeAnswer, IntakeQuestion, Session, SessionType, TherapistProfile

Kind = IntakeQuestion.Kind

MAX_QUESTIONS = 20
MAX_CHOICES = 12
TEXT_MAX = 300
CHOICE_MAX = 100
SHORT_ANSWER_MAX = 300
LONG_ANSWER_MAX = 4000


class IntakeInvalid(ValidationFailed):
    """Answers that do not fit the form: ``errors`` maps each question's field name to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        first_field, first_message = next(iter(errors.items()))
        super().__init__(first_message, field=first_field)


def field_name(question: IntakeQuestion) -> str:
    """The form field (and the API's ``intake`` key) a question's answer arrives under."""
    return f"q{question.pk}"


# --- The therapist's form ----------------------------------------------------------------------


def _own_type(*, therapist: TherapistProfile, session_type: SessionType) -> None:
    if session_type.therapist_id != therapist.pk:
        raise NotAllowed("That session type is not yours.")


def _clean_question(*, kind: str, text: str, help_text: str, choices: list[str]) -> dict:
    if kind not in Kind.values:
        raise ValidationFailed("Choose a kind of question from the list.", field="kind")
    text = " ".join((text or "").split())
    if not text:
        raise ValidationFailed("Write the question.", field="text")
    if len(text) > TEXT_MAX:
        raise ValidationFailed(f"Keep the question under {TEXT_MAX} characters.", field="text")
    help_text = " ".join((help_text or "").split())
    if len(help_text) > TEXT_MAX:
        raise ValidationFailed(f"Keep the hint under {TEXT_MAX} characters.", field="help_text")
    cleaned: list[str] = []
    for choice in choices or []:
        choice = " ".join(str(choice).split())
        if not choice:
            continue
        if len(choice) > CHOICE_MAX:
            raise ValidationFailed(f"Keep each option under {CHOICE_MAX} characters.", field="choices")
        if choice.casefold() in {c.casefold() for c in cleaned}:
            raise ValidationFailed(f"The option “{choice}” is listed twice.", field="choices")
        cleaned.append(choice)
    if kind in IntakeQuestion.CHOICE_KINDS:
        if len(cleaned) < 2:
            raise ValidationFailed("Give at least two options, one a line.", field="choices")
        if len(cleaned) > MAX_CHOICES:
            raise ValidationFailed(f"Give at most {MAX_CHOICES} options.", field="choices")
    elif cleaned:
        raise ValidationFailed("Only a choice question has options; leave them empty.", field="choices")
    return {"kind": kind, "text": text, "help_text": help_text, "choices": cleaned}


def intake_question_save(
    *,
    therapist: TherapistProfile,
    session_type: SessionType,
    kind: str,
    text: str,
    help_text: str = "",
    choices: list[str] | None = None,
    required: bool = False,
    question: IntakeQuestion | None = None,
) -> IntakeQuestion:
    """Add a question at the end of a session type's form, or change one (answers already given keep
    the wording they were given under)."""
    _own_type(therapist=therapist, session_type=session_type)
    fields = _clean_question(kind=kind, text=text, help_text=help_text, choices=choices or [])
    with transaction.atomic():
        SessionType.objects.select_for_update().get(pk=session_type.pk)  # one writer per form: positions
        if question is None:
            count = IntakeQuestion.objects.filter(session_type=session_type).count()
            if count >= MAX_QUESTIONS:
                raise ValidationFailed(f"A form holds at most {MAX_QUESTIONS} questions.", field="text")
            last = IntakeQuestion.objects.filter(session_type=session_type).aggregate(m=Max("position"))["m"]
            return IntakeQuestion.objects.create(
                session_type=session_type, position=(last or 0) + 1, required=bool(required), **fields
            )
        locked = IntakeQuestion.objects.select_for_update().filter(pk=question.pk, session_type=session_type).first()
        if locked is None:
            raise NotAllowed("That question is not on this form.")
        for name, value in {**fields, "required": bool(required)}.items():
            setattr(locked, name, value)
        locked.save()
        return locked


def intake_question_delete(*, therapist: TherapistProfile, question: IntakeQuestion) -> None:
    """Remove a question from the form; answers already given stay with their sessions."""
    _own_type(therapist=therapist, session_type=question.session_type)
    IntakeQuestion.objects.filter(pk=question.pk).delete()


def intake_question_move(*, therapist: TherapistProfile, question: IntakeQuestion, up: bool) -> None:
    """Swap a question with its neighbour above (``up``) or below; at either end nothing changes."""
    _own_type(therapist=therapist, session_type=question.session_type)
    with transaction.atomic():
        SessionType.objects.select_for_update().get(pk=question.session_type_id)
        ordered = list(IntakeQuestion.objects.filter(session_type_id=question.session_type_id))
        index = next((i for i, q in enumerate(ordered) if q.pk == question.pk), None)
        if index is None:
            return
        other = index - 1 if up else index + 1
        if not 0 <= other < len(ordered):
            return
        ordered[index], ordered[other] = ordered[other], ordered[index]
        for position, item in enumerate(ordered, start=1):
            if item.position != position:
                item.position = position
                item.save(update_fields=["position"])


# --- The client's answers ------------------------------------------------------------------------


def _clean_answer(question: IntakeQuestion, raw: Any) -> Any:
    """The answer to store, or None when none was given; ValueError with the message when it is wrong."""
    kind = question.kind
    if kind == Kind.YES_NO:
        if raw in (True, "yes", "true", "on", "1"):
            return True
        if raw in (False, "no", "false", "0"):
            return False
        if raw in (None, ""):
            return None
        raise ValueError("Answer yes or no.")
    if kind == Kind.MANY_CHOICES:
        if raw in (None, "", []):
            return None
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise ValueError("Send a list of the options chosen.")
        unknown = [item for item in raw if item not in question.choices]
        if unknown:
            raise ValueError("Choose from the options given.")
        return [choice for choice in question.choices if choice in raw]  # in the form's order, once each
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError("Send the answer as text.")
    value = raw.strip()
    if kind == Kind.ONE_CHOICE:
        if value and value not in question.choices:
            raise ValueError("Choose one of the options given.")
        return value or None
    limit = SHORT_ANSWER_MAX if kind == Kind.SHORT_TEXT else LONG_ANSWER_MAX
    if len(value) > limit:
        raise ValueError(f"Please keep this under {limit} characters.")
    return value or None


def intake_answers_clean(*, questions: list[IntakeQuestion], raw: dict[str, Any] | None) -> dict[int, Any]:
    """Check answers (keyed by ``field_name``) against the form; raises IntakeInvalid naming every wrong one.

    Keys that are no question of this form are refused too, so that a typo does not pass silently.
    """
    raw = raw or {}
    if not isinstance(raw, dict):
        raise IntakeInvalid({"intake": "Send the answers as an object keyed by question (q<id>)."})
    by_name = {field_name(q): q for q in questions}
    errors: dict[str, str] = {}
    for key in raw:
        if key not in by_name:
            errors[str(key)[:40]] = "There is no such question on this form."
    answers: dict[int, Any] = {}
    for name, question in by_name.items():
        try:
            value = _clean_answer(question, raw.get(name))
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        if value is None:
            if question.required:
                errors[name] = "Please answer this question."
            continue
        answers[question.pk] = value
    if errors:
        raise IntakeInvalid(errors)
    return answers


def intake_answers_save(*, session: Session, questions: list[IntakeQuestion], answers: dict[int, Any]) -> int:
    """Store cleaned answers on a new session (called inside session_request's transaction)."""
    rows = [
        IntakeAnswer(
            session=session,
            question=question,
            position=question.position,
            kind=question.kind,
            question_text=question.text,
            value=answers[question.pk],
        )
        for question in questions
        if question.pk in answers
    ]
    IntakeAnswer.objects.bulk_create(rows)
    return len(rows)
