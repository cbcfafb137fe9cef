import factory

from notifications_app.models import Notification
from sessions_app.tests.factories import SessionFactory


class NotificationFactory(factory.django.DjangoModelFactory):
    """A logged email, queued by default, to the session's client."""

    class Meta:
        model = Notification

    session = factory.SubFactory(SessionFactory)
    recipient = factory.LazyAttribute(lambda o: o.session.client)
    kind = Notification.Kind.CLIENT_REQUEST_RECEIVED
