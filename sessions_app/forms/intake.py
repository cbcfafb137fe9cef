"""Intake forms: the therapist's question editor, and the client's answers in the booking stepper.

Forms validate and normalise input; services.intake_forms checks it again and writes.
"""

from __future__ import annotations

from django import forms

from ..models import IntakeQuestion
from ..services.intake_forms import (
    CHOICE_MAX,
    LONG_ANSWER_MAX,
    MAX_CHOICES,
    SHORT_ANSWER_MAX,
    TEXT_MAX,
    field_name,
)

Kind = IntakeQuestion.Kind


class IntakeQuestionForm(forms.Form):
    text = forms.CharField(label="Question", max_length=TEXT_MAX)
    kind = forms.ChoiceField(label="Kind of answer", choices=Kind.choices)
    choices = forms.CharField(
        label="Options",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"For “one choice” and “several choices” only: one option a line, 2 to {MAX_CHOICES}, "
        f"each under {CHOICE_MAX} characters.",
    )
    help_text = forms.CharField(label="Hint shown under the question", required=False, max_length=TEXT_MAX)
    required = forms.BooleanField(label="The client must answer", required=False)

    def clean_choices(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["choices"].splitlines() if line.strip()]

    @classmethod
    def initial_for(cls, question: IntakeQuestion) -> dict:
        return {
            "text": question.text,
            "kind": question.kind,
            "choices": "\n".join(question.choices),
            "help_text": question.help_text,
            "required": question.required,
        }


YES_NO = [("yes", "Yes"), ("no", "No")]


class IntakeAnswersForm(forms.Form):
    """One field per question of the session type's form, named ``q<id>`` (as the API's keys)."""

    def __init__(self, *args, questions: list[IntakeQuestion], **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = questions
        for question in questions:
            self.fields[field_name(question)] = self._field(question)

    @staticmethod
    def _field(question: IntakeQuestion) -> forms.Field:
        common = {"label": question.text, "required": question.required, "help_text": question.help_text}
        errors = {"required": "Please answer this question."}
        if question.kind == Kind.SHORT_TEXT:
            return forms.CharField(max_length=SHORT_ANSWER_MAX, error_messages=errors, **common)
        if question.kind == Kind.LONG_TEXT:
            return forms.CharField(
                max_length=LONG_ANSWER_MAX, widget=forms.Textarea(attrs={"rows": 4}), error_messages=errors, **common
            )
        if question.kind == Kind.ONE_CHOICE:
            return forms.ChoiceField(
                choices=[(c, c) for c in question.choices],
                widget=forms.RadioSelect,
                error_messages={**errors, "invalid_choice": "Choose one of the options given."},
                **common,
            )
        if question.kind == Kind.MANY_CHOICES:
            return forms.MultipleChoiceField(
                choices=[(c, c) for c in question.choices],
                widget=forms.CheckboxSelectMultiple,
                error_messages={**errors, "invalid_choice": "Choose from the options given."},
                **common,
            )
        return forms.ChoiceField(
            choices=YES_NO,
            widget=forms.RadioSelect,
            error_messages={**errors, "invalid_choice": "Answer yes or no."},
            **common,
        )

    def answers(self) -> dict[str, object]:
        """The answers as the service (and the API) take them: text, a list of options, or true/false."""
        result: dict[str, object] = {}
        for question in self.questions:
            name = field_name(question)
            value = self.cleaned_data.get(name)
            if question.kind == Kind.YES_NO:
                value = {"yes": True, "no": False}.get(value)
            if value not in (None, "", []):
                result[name] = value
        return result

    @staticmethod
    def initial_from(answers: dict[str, object]) -> dict[str, object]:
        return {k: ({True: "yes", False: "no"}.get(v, v) if isinstance(v, bool) else v) for k, v in answers.items()}
