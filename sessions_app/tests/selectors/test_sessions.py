import datetime as dt

import pytest
from django.utils import timezone

from sessions_app import selectors

pytestmark = pytest.mark.django_db


def test_respond_by_is_before_notice_or_48h(therapist):
    now = timezone.now()
    far = selectors.session_respond_by(start=now + dt.timedelta(days=10), therapist=therapist, now=now)
    assert far == now + dt.timedelta(hours=48)
    near = selectors.session_respond_by(start=now + dt.timedelta(hours=40), therapist=therapist, now=now)
    assert near == now + dt.timedelta(hours=16)
