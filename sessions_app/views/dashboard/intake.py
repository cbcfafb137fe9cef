"""The therapist's intake form for one session type: questions added, changed, reordered, removed.

Each POST validates its form, calls one services.intake_forms function and redirects with a message.
Another therapist's session type or question is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ...exceptions import BookingError
from ...forms import add_booking_error
from ...forms.intake import IntakeQuestionForm
from ...models import IntakeQuestion, SessionType
from ...selectors.privacy import intake_questions
from ...services import intake_forms
from .common import therapist_required


def _own_type(request: HttpRequest, pk: int) -> SessionType:
    return get_object_or_404(SessionType, pk=pk, therapist=request.therapist)


def _own_question(request: HttpRequest, pk: int, question_pk: int) -> IntakeQuestion:
    return get_object_or_404(
        IntakeQuestion.objects.select_related("session_type"),
        pk=question_pk,
        session_type_id=pk,
        session_type__therapist=request.therapist,
    )


def _save(request: HttpRequest, session_type: SessionType, form: IntakeQuestionForm, question=None) -> bool:
    if not form.is_valid():
        return False
    try:
        intake_forms.intake_question_save(
            therapist=request.therapist, session_type=session_type, question=question, **form.cleaned_data
        )
    except BookingError as exc:
        add_booking_error(form, exc)
        return False
    return True


@therapist_required
def intake_form(request: HttpRequest, pk: int) -> HttpResponse:
    """The form's questions in order, and a form to add one (POST adds)."""
    session_type = _own_type(request, pk)
    form = IntakeQuestionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and _save(request, session_type, form):
        messages.success(request, "Question added.")
        return redirect("sessions:dashboard_intake", pk=pk)
    return render(
        request,
        "sessions_app/dashboard/intake_form.html",
        {"session_type": session_type, "questions": intake_questions(session_type=session_type), "form": form},
        status=400 if form.is_bound else 200,
    )


@therapist_required
def intake_question_edit(request: HttpRequest, pk: int, question_pk: int) -> HttpResponse:
    question = _own_question(request, pk, question_pk)
    if request.method == "POST":
        form = IntakeQuestionForm(request.POST)
        if _save(request, question.session_type, form, question):
            messages.success(request, "Question saved. Answers already given keep the wording they were given under.")
            return redirect("sessions:dashboard_intake", pk=pk)
    else:
        form = IntakeQuestionForm(initial=IntakeQuestionForm.initial_for(question))
    return render(
        request,
        "sessions_app/dashboard/intake_question_edit.html",
        {"session_type": question.session_type, "question": question, "form": form},
        status=400 if form.is_bound else 200,
    )


@require_POST
@therapist_required
def intake_question_delete(request: HttpRequest, pk: int, question_pk: int) -> HttpResponse:
    question = _own_question(request, pk, question_pk)
    intake_forms.intake_question_delete(therapist=request.therapist, question=question)
    messages.success(request, "Question removed. Answers already given stay with their sessions.")
    return redirect("sessions:dashboard_intake", pk=pk)


@require_POST
@therapist_required
def intake_question_move(request: HttpRequest, pk: int, question_pk: int) -> HttpResponse:
    question = _own_question(request, pk, question_pk)
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        messages.error(request, "Choose to move the question up or down.")
    else:
        intake_forms.intake_question_move(therapist=request.therapist, question=question, up=direction == "up")
    return redirect("sessions:dashboard_intake", pk=pk)
