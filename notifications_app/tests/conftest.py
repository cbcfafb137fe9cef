import pytest

from notifications_app import tasks
from sessions_app.tests.factories import ClientFactory, SessionTypeFactory, TherapistProfileFactory, UserFactory

from .factories import NotificationFactory
from .helpers import take_outbox


@pytest.fixture
def therapist():
    return TherapistProfileFactory(
        user__full_name="Wanjiru Kamau", user__time_zone="Africa/Nairobi", city="Nairobi", time_zone="Africa/Nairobi"
    )


@pytest.fixture
def session_type(therapist):
    return SessionTypeFactory(therapist=therapist, duration_minutes=60, price_kes=3000)


@pytest.fixture
def client_user():
    # Another zone than the practitioner's, so the tests see each recipient's own times.
    return ClientFactory(full_name="Otieno Ochieng", time_zone="Europe/London")


@pytest.fixture
def staff_user():
    return UserFactory(staff=True)


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run a service as a view would: its on-commit hooks (signal, queueing, sending) run after it."""

    def run(func, /, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return func(**kwargs)

    return run


@pytest.fixture
def anymail_test_backend(settings):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook-user:hook-pass"}


@pytest.fixture
def sent_notification(anymail_test_backend):
    notification = NotificationFactory()
    tasks.send_notification.apply(args=[notification.pk])
    notification.refresh_from_db()
    take_outbox()
    return notification
