"""The payments admin's lists: same queries at 5 and 50 rows, and none that scans a whole table."""

import pytest
from django.urls import reverse

from sessions_app.tests.factories import UserFactory
from sessions_app.tests.querycount import assert_flat

from .factories import MpesaCallbackFactory, PaymentAttemptFactory

pytestmark = pytest.mark.django_db


def _page(client, name, params):
    def page():
        response = client.get(reverse(name), params)
        assert response.status_code == 200
        page.response = response

    return page


@pytest.mark.parametrize("params", [{}, {"status__exact": "processing"}, {"needs_review__exact": "1"}])
def test_payment_attempt_changelist_is_flat(client, params):
    client.force_login(UserFactory(staff=True))
    page = _page(client, "admin:payments_app_paymentattempt_changelist", params)
    assert_flat(lambda n: PaymentAttemptFactory.create_batch(n, processing=True), page, whole_table_check=True)
    if not params:
        assert page.response.context["cl"].result_count == 50


@pytest.mark.parametrize("params", [{}, {"outcome__exact": "paid"}, {"result_code": "1032"}])
def test_callback_changelist_is_flat(client, params):
    client.force_login(UserFactory(staff=True))
    page = _page(client, "admin:payments_app_mpesacallback_changelist", params)

    def callbacks(n):
        for _ in range(n):
            MpesaCallbackFactory(attempt=PaymentAttemptFactory(processing=True))

    assert_flat(callbacks, page, whole_table_check=True)
    if not params:
        assert page.response.context["cl"].result_count == 50


@pytest.mark.parametrize("params", [{}, {"source": "callback"}, {"kind__exact": "initiated"}])
def test_payment_event_changelist_is_flat(client, params):
    from payments_app.models import PaymentEvent

    client.force_login(UserFactory(staff=True))
    page = _page(client, "admin:payments_app_paymentevent_changelist", params)

    def events(n):
        for _ in range(n):
            attempt = PaymentAttemptFactory(processing=True)
            PaymentEvent.objects.create(attempt=attempt, session=attempt.session, kind="initiated", source="callback")

    assert_flat(events, page, whole_table_check=True)
    assert page.response.context["cl"].result_count == 50
