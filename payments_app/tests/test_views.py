"""The client's pay page: form, live status, outcomes, and who may see it."""

import pytest
from django.urls import reverse

from payments_app import services
from payments_app.models import PaymentAttempt
from sessions_app.tests.factories import ClientFactory, SessionFactory

from .conftest import CANCEL_PHONE, PAID_PHONE

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(approved_session):
    return reverse("payments:pay", args=[approved_session.pk])


@pytest.fixture
def logged_in(client, client_user):
    client_user.phone = "+254712345670"
    client_user.save()
    client.force_login(client_user)
    return client


def test_anonymous_is_sent_to_log_in(client, page):
    response = client.get(page)
    assert response.status_code == 302 and "next=" in response["Location"]


def test_another_client_or_the_therapist_gets_404(client, page, approved_session):
    client.force_login(ClientFactory())
    assert client.get(page).status_code == 404
    assert client.post(page, {"phone": PAID_PHONE}).status_code == 404
    client.force_login(approved_session.therapist.user)
    assert client.get(page).status_code == 404
    assert not PaymentAttempt.objects.exists()


def test_approved_session_shows_the_pay_button_with_the_profile_phone(logged_in, page, simulator):
    response = logged_in.get(page)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Pay KES 3,500 with M-Pesa" in html
    assert 'value="0712345670"' in html
    assert '<label for="id_phone">' in html
    assert "js/payment_status.js" in html and "<script>" not in html


def test_pay_then_check_your_phone_then_paid_with_receipt(logged_in, page, simulator):
    simulator.config.pending_seconds = 3600
    response = logged_in.post(page, {"phone": "0712 345 670"})
    assert response.status_code == 302 and response["Location"] == page
    attempt = PaymentAttempt.objects.get()
    html = logged_in.get(page).content.decode()
    assert "Check your phone" in html and "2547******70" in html
    assert f'data-status-url="/api/mpesa/status/{attempt.checkout_request_id}"' in html
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert "Check again" in html
    # Second press while waiting: no second push.
    logged_in.post(page, {"phone": PAID_PHONE})
    assert PaymentAttempt.objects.count() == 1 and len(simulator.transactions) == 1
    # The customer enters the PIN; the next look (Check again) asks Daraja.
    simulator.config.pending_seconds = 0
    from django.core.cache import cache

    cache.clear()
    html = logged_in.get(page).content.decode()
    assert "Paid" in html and "Your session is confirmed" in html
    assert "The M-Pesa receipt number will show here once M-Pesa sends it." in html


def test_failure_shows_plain_words_and_try_again(logged_in, page, simulator):
    logged_in.post(page, {"phone": CANCEL_PHONE})
    html = logged_in.get(page).content.decode()
    assert "Payment not completed" in html
    assert "You cancelled the request on your phone." in html
    assert "Try again" in html
    response = logged_in.post(page, {"phone": PAID_PHONE})
    assert response.status_code == 302
    assert PaymentAttempt.objects.count() == 2


def test_invalid_phone_shows_the_error_next_to_the_field(logged_in, page, simulator):
    response = logged_in.post(page, {"phone": "12345"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="phone-errors"' in html and "Enter a Kenyan mobile number" in html
    assert 'aria-invalid="true"' in html and 'value="12345"' in html
    assert not PaymentAttempt.objects.exists()


def test_pending_approval_explains_and_refuses_to_pay(client, client_user, simulator):
    pending = SessionFactory(client=client_user)
    client.force_login(client_user)
    url = reverse("payments:pay", args=[pending.pk])
    html = client.get(url).content.decode()
    assert "You can pay once your request has been approved" in html and "<form" not in html.split("<main")[1]
    response = client.post(url, {"phone": PAID_PHONE})
    assert response.status_code == 409
    assert "approved" in response.content.decode()
    assert not PaymentAttempt.objects.exists()


def test_rate_limit_is_a_readable_message(logged_in, page, simulator, settings):
    settings.MPESA_STK_PUSHES_PER_SESSION = 1
    logged_in.post(page, {"phone": CANCEL_PHONE})
    logged_in.get(page)  # settles the failure
    response = logged_in.post(page, {"phone": CANCEL_PHONE})
    assert response.status_code == 429
    assert "Too many payment requests for this session" in response.content.decode()


def test_paid_session_shows_the_receipt(client, client_user):
    paid = SessionFactory(client=client_user, confirmed=True, mpesa_receipt_number="SAB12CD34E")
    client.force_login(client_user)
    html = client.get(reverse("payments:pay", args=[paid.pk])).content.decode()
    assert "Paid" in html and "SAB12CD34E" in html and '<form method="post" action="/pay/' not in html


def test_cancelled_session_has_nothing_to_pay(client, client_user):
    gone = SessionFactory(client=client_user, status="cancelled")
    client.force_login(client_user)
    html = client.get(reverse("payments:pay", args=[gone.pk])).content.decode()
    assert "nothing to pay" in html


def test_admin_lists_take_a_fixed_number_of_queries(
    client, simulator, approved_session, client_user, django_assert_max_num_queries
):
    from sessions_app.tests.factories import UserFactory

    for phone in (CANCEL_PHONE, "0712345671", "0712345673"):
        services.payment_initiate(session=approved_session, phone=phone, actor=client_user)
        simulator.config.pending_seconds = 0
        services.payment_check(attempt=PaymentAttempt.objects.latest("id"), source="poll")
    client.force_login(UserFactory(staff=True))
    for url in (
        "/admin/payments_app/paymentattempt/",
        "/admin/payments_app/paymentevent/",
        "/admin/payments_app/mpesacallback/",
    ):
        with django_assert_max_num_queries(12):
            assert client.get(url).status_code == 200
    attempt = PaymentAttempt.objects.latest("id")
    detail = client.get(f"/admin/payments_app/paymentattempt/{attempt.pk}/change/")
    assert detail.status_code == 200 and attempt.checkout_request_id.encode() in detail.content
