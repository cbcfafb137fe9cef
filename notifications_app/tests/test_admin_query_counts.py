"""The email log's admin list: same queries at 5 and 50 rows, and none that scans the whole table."""

import pytest
from django.urls import reverse

from sessions_app.tests.factories import UserFactory
from sessions_app.tests.querycount import assert_flat

from .factories import NotificationFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("params", [{}, {"status__exact": "queued"}, {"delivery_status": "bounced"}, {"q": "BK000001"}])
def test_notification_changelist_is_flat(client, params):
    client.force_login(UserFactory(staff=True))

    def page():
        response = client.get(reverse("admin:notifications_app_notification_changelist"), params)
        assert response.status_code == 200
        page.response = response

    assert_flat(lambda n: NotificationFactory.create_batch(n), page, whole_table_check=True)
    if not params:
        html = page.response.content.decode()
        assert page.response.context["cl"].result_count == 50
        assert "BK0" in html  # the booking reference column, read from session_id without a join
