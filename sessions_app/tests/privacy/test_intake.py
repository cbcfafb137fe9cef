"""Issue 18, intake forms: the therapist's editor, the stepper's step on a first request, the API's answers."""

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sessions_app import selectors
from sessions_app.exceptions import NotAllowed, ValidationFailed
from sessions_app.models import IntakeAnswer, IntakeQuestion, Session
from sessions_app.selectors.privacy import intake_questions
from sessions_app.services import intake_forms

from ..factories import ClientFactory, SessionFactory, SessionTypeFactory, TherapistProfileFactory, future_slot
from .helpers import ANSWER, K, answers_for, intake_form

pytestmark = pytest.mark.django_db
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")


@pytest.fixture
def offer():
    therapist = TherapistProfileFactory(user__full_name="Amina Odhiambo")
    session_type = SessionTypeFactory(therapist=therapist)
    return therapist, session_type, intake_form(session_type)


# --- The form, as the service keeps it --------------------------------------------------------


@pytest.mark.parametrize(
    "kind, text, choices, field",
    [
        ("essay", "Q?", [], "kind"),
        (K.SHORT_TEXT, "   ", [], "text"),
        (K.SHORT_TEXT, "x" * 301, [], "text"),
        (K.ONE_CHOICE, "Pick", ["Only one"], "choices"),
        (K.MANY_CHOICES, "Pick", ["A", "a"], "choices"),
        (K.MANY_CHOICES, "Pick", [str(i) for i in range(13)], "choices"),
        (K.YES_NO, "Yes?", ["Yes", "No"], "choices"),
    ],
)
def test_a_bad_question_is_refused_with_its_field_and_nothing_saved(offer, kind, text, choices, field):
    therapist, session_type, _ = offer
    with pytest.raises(ValidationFailed) as error:
        intake_forms.intake_question_save(
            therapist=therapist, session_type=session_type, kind=kind, text=text, choices=choices
        )
    assert error.value.field == field
    assert session_type.intake_questions.count() == 5


def test_only_the_owner_edits_a_form(offer):
    therapist, session_type, questions = offer
    other = TherapistProfileFactory()
    with pytest.raises(NotAllowed):
        intake_forms.intake_question_save(therapist=other, session_type=session_type, kind=K.SHORT_TEXT, text="Q")
    with pytest.raises(NotAllowed):
        intake_forms.intake_question_delete(therapist=other, question=questions[0])
    assert session_type.intake_questions.count() == 5


def test_questions_are_ordered_and_move(offer):
    therapist, session_type, questions = offer
    intake_forms.intake_question_move(therapist=therapist, question=questions[2], up=True)
    intake_forms.intake_question_move(therapist=therapist, question=questions[0], up=True)  # already first
    intake_forms.intake_question_move(therapist=therapist, question=questions[4], up=False)  # already last
    order = [q.pk for q in intake_questions(session_type=session_type)]
    assert order == [questions[0].pk, questions[2].pk, questions[1].pk, questions[3].pk, questions[4].pk]


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"short": None}, "short", "Please answer this question."),
        ({"yes_no": None}, "yes_no", "Please answer this question."),
        ({"yes_no": "maybe"}, "yes_no", "Answer yes or no."),
        ({"one": "A cousin"}, "one", "Choose one of the options given."),
        ({"many": ["Sun"]}, "many", "Choose from the options given."),
        ({"many": "Mon"}, "many", "Send a list"),
        ({"short": "x" * 301}, "short", "under 300"),
        ({"short": 42}, "short", "as text"),
    ],
)
def test_bad_answers_name_each_question(offer, change, field, message):
    _, _, questions = offer
    names = {
        "short": intake_forms.field_name(questions[0]),
        "one": intake_forms.field_name(questions[2]),
        "many": intake_forms.field_name(questions[3]),
        "yes_no": intake_forms.field_name(questions[4]),
    }
    raw = answers_for(questions)
    for key, value in change.items():
        raw[names[key]] = value
    with pytest.raises(intake_forms.IntakeInvalid) as error:
        intake_forms.intake_answers_clean(questions=questions, raw=raw)
    assert message in error.value.errors[names[field]]


def test_an_unknown_answer_key_is_refused(offer):
    _, _, questions = offer
    with pytest.raises(intake_forms.IntakeInvalid) as error:
        intake_forms.intake_answers_clean(questions=questions, raw={**answers_for(questions), "q0": "x"})
    assert "q0" in error.value.errors


# --- The therapist's editor -------------------------------------------------------------------


def test_the_therapist_builds_a_form_in_the_dashboard(client):
    therapist = TherapistProfileFactory()
    session_type = SessionTypeFactory(therapist=therapist)
    client.force_login(therapist.user)
    url = reverse("sessions:dashboard_intake", args=[session_type.pk])
    assert "No questions yet" in client.get(url).content.decode()
    assert url in client.get(reverse("sessions:dashboard_session_types")).content.decode()

    bad = client.post(url, {"text": "Which?", "kind": K.ONE_CHOICE, "choices": "Only"})
    assert bad.status_code == 400
    assert "Give at least two options" in bad.content.decode()
    assert not IntakeQuestion.objects.exists()

    client.post(url, {"text": "What brings you here?", "kind": K.LONG_TEXT, "required": "on"})
    client.post(url, {"text": "Which days?", "kind": K.MANY_CHOICES, "choices": "Mon\nWed\n\nFri"})
    first, second = IntakeQuestion.objects.order_by("position")
    assert (first.text, first.required, second.choices) == ("What brings you here?", True, ["Mon", "Wed", "Fri"])

    edit = reverse("sessions:dashboard_intake_edit", args=[session_type.pk, second.pk])
    assert "Mon\nWed\nFri" in client.get(edit).content.decode()
    client.post(edit, {"text": "Which weekdays suit you?", "kind": K.MANY_CHOICES, "choices": "Mon\nFri"})
    second.refresh_from_db()
    assert second.text == "Which weekdays suit you?" and second.choices == ["Mon", "Fri"]

    client.post(reverse("sessions:dashboard_intake_move", args=[session_type.pk, second.pk]), {"direction": "up"})
    assert list(IntakeQuestion.objects.order_by("position").values_list("pk", flat=True)) == [second.pk, first.pk]
    client.post(reverse("sessions:dashboard_intake_move", args=[session_type.pk, second.pk]), {"direction": "sideways"})
    client.post(reverse("sessions:dashboard_intake_delete", args=[session_type.pk, first.pk]))
    assert list(IntakeQuestion.objects.values_list("pk", flat=True)) == [second.pk]


# --- The stepper ------------------------------------------------------------------------------

BOOK = reverse("sessions:book")
TIME = reverse("sessions:book_time")
DETAILS = reverse("sessions:book_details")
INTAKE = reverse("sessions:book_intake")
REVIEW = reverse("sessions:book_review")


def _to_details_done(client, therapist, session_type):
    now = timezone.now()
    start = selectors.free_slots(
        therapist=therapist, session_type=session_type, window_start=now, window_end=now + dt.timedelta(days=14)
    )[0]
    client.get(BOOK, {"therapist": therapist.pk, "session_type": session_type.pk})
    client.post(TIME, {"date": start.astimezone(NAIROBI).date().isoformat(), "start": start.isoformat()})
    return client.post(DETAILS, {"notes": "Mornings.", "phone": "0712 345 678", "agree_policy": "on"})


def test_a_first_request_asks_the_questions_as_a_step(client, offer):
    therapist, session_type, questions = offer
    client.force_login(ClientFactory())
    assert _to_details_done(client, therapist, session_type)["Location"] == INTAKE
    assert client.get(REVIEW)["Location"] == INTAKE  # the review waits for the answers

    page = client.get(INTAKE)
    html = page.content.decode()
    assert [s["label"] for s in page.context["steps"]][3] == "A few questions"
    assert "Step 4" in html and "What brings you here?" in html and "Only Amina Odhiambo reads your answers" in html

    names = [intake_forms.field_name(q) for q in questions]
    missing = client.post(INTAKE, {names[1]: "Nothing else"})
    assert missing.status_code == 400
    assert missing.content.decode().count("Please answer this question.") >= 2
    assert not Session.objects.exists()

    answered = client.post(INTAKE, {names[0]: ANSWER, names[2]: "Online", names[3]: ["Fri", "Mon"], names[4]: "yes"})
    assert answered["Location"] == REVIEW
    review = client.get(REVIEW).content.decode()
    assert "Step 5" in review and "4 answers" in review
    done = client.post(REVIEW)
    session = Session.objects.get()
    assert done["Location"] == reverse("sessions:book_confirmed", args=[session.pk])
    stored = {a.question_text: a.value for a in IntakeAnswer.objects.filter(session=session)}
    assert stored == {
        "What brings you here?": ANSWER,
        "How did you hear of us?": "Online",
        "Which days suit you?": ["Mon", "Fri"],
        "Have you seen a therapist before?": True,
    }


def test_a_later_request_with_the_same_therapist_is_not_asked_again(client, offer):
    therapist, session_type, _ = offer
    booker = ClientFactory()
    SessionFactory(client=booker, session_type=session_type, status=Session.Status.COMPLETED)
    client.force_login(booker)
    assert _to_details_done(client, therapist, session_type)["Location"] == REVIEW
    assert client.get(INTAKE)["Location"] == REVIEW
    assert "A few questions" not in client.get(REVIEW).content.decode()


def test_a_type_without_a_form_skips_the_step(client):
    therapist = TherapistProfileFactory()
    session_type = SessionTypeFactory(therapist=therapist)
    client.force_login(ClientFactory())
    assert _to_details_done(client, therapist, session_type)["Location"] == REVIEW


def test_a_form_changed_before_sending_sends_the_client_back(client, offer):
    therapist, session_type, questions = offer
    client.force_login(ClientFactory())
    _to_details_done(client, therapist, session_type)
    names = [intake_forms.field_name(q) for q in questions]
    client.post(INTAKE, {names[0]: ANSWER, names[4]: "no"})
    intake_forms.intake_question_save(
        therapist=therapist, session_type=session_type, kind=K.SHORT_TEXT, text="New must-answer", required=True
    )
    response = client.post(REVIEW)
    assert response["Location"] == DETAILS
    assert not Session.objects.exists() and not IntakeAnswer.objects.exists()


# --- The API ----------------------------------------------------------------------------------


def _api(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return api


def _body(session_type, **extra):
    return {
        "therapist": session_type.therapist_id,
        "session_type": session_type.pk,
        "start": future_slot().isoformat(),
        **extra,
    }


def test_the_api_takes_the_answers(offer):
    _, session_type, questions = offer
    response = _api(ClientFactory()).post(
        "/api/sessions/request", _body(session_type, intake=answers_for(questions)), format="json"
    )
    assert response.status_code == 201, response.json()
    assert "intake" not in response.json() and ANSWER not in response.content.decode()
    assert IntakeAnswer.objects.filter(session_id=response.json()["id"]).count() == 3


def test_the_api_names_each_bad_answer_and_books_nothing(offer):
    _, session_type, questions = offer
    raw = answers_for(questions)
    first, yes_no = intake_forms.field_name(questions[0]), intake_forms.field_name(questions[4])
    del raw[first]
    raw[yes_no] = "perhaps"
    response = _api(ClientFactory()).post("/api/sessions/request", _body(session_type, intake=raw), format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["fields"][f"intake.{first}"] == ["Please answer this question."]
    assert body["fields"][f"intake.{yes_no}"] == ["Answer yes or no."]
    assert not Session.objects.exists()
    missing = _api(ClientFactory()).post("/api/sessions/request", _body(session_type), format="json")
    assert missing.status_code == 400 and f"intake.{first}" in missing.json()["fields"]
    wrong_shape = _api(ClientFactory()).post("/api/sessions/request", _body(session_type, intake=["x"]), format="json")
    assert wrong_shape.status_code == 400 and "intake" in wrong_shape.json()["fields"]


def test_the_api_refuses_answers_nobody_asked_for(offer):
    _, session_type, questions = offer
    booker = ClientFactory()
    SessionFactory(client=booker, session_type=session_type, status=Session.Status.COMPLETED)
    response = _api(booker).post(
        "/api/sessions/request", _body(session_type, intake=answers_for(questions)), format="json"
    )
    assert response.status_code == 400
    assert "intake" in response.json()["fields"]
    assert Session.objects.count() == 1


def test_the_api_lists_the_questions_never_the_answers(offer):
    therapist, session_type, questions = offer
    SessionFactory(session_type=session_type)  # someone's session (no answers are ever listed)
    data = APIClient().get(f"/api/therapists/{therapist.pk}").json()
    listed = data["session_types"][0]["intake_questions"]
    assert [q["key"] for q in listed] == [intake_forms.field_name(q) for q in questions]
    assert listed[2] == {
        "key": intake_forms.field_name(questions[2]),
        "kind": "one_choice",
        "text": "How did you hear of us?",
        "help_text": "",
        "choices": ["A friend", "Online", "A doctor"],
        "required": False,
    }
