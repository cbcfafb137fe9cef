import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread, _StaticFilesHandler
from rest_framework.test import APIClient

from payments_app.daraja.simulator import DarajaSimulator, SimConfig
from sessions_app.tests.factories import ClientFactory, SessionFactory, SessionTypeFactory

SECRET = "test-callback-secret-5f1c"
PAID_PHONE = "0712345670"  # last digit 0: paid
CANCEL_PHONE = "0712345672"  # last digit 2: 1032 cancelled by user


@pytest.fixture(autouse=True)
def _usable_celery_producer_pool():
    """Celery (5.7) takes a producer even for eager tasks. If an earlier test elsewhere closed the app's
    connection pool but left the producer pool pointing at it, every ``.delay()`` would fail: start clean."""
    from booking_project.celery import app

    amqp = app.__dict__.get("amqp")
    producers = getattr(amqp, "_producer_pool", None)
    if producers is not None and getattr(producers.connections, "_closed", False):
        app._pool = None
        amqp._producer_pool = None


@pytest.fixture
def simulator(settings):
    """The Daraja simulator as a real HTTP server on a free port. Callbacks off: tests post their own."""
    sim = DarajaSimulator(
        SimConfig(
            consumer_key=settings.DARAJA_CONSUMER_KEY,
            consumer_secret=settings.DARAJA_CONSUMER_SECRET,
            callbacks=False,
            pending_seconds=0,
            callback_delay=0.05,
        ),
        port=0,
    ).start()
    settings.DARAJA_BASE_URL = sim.url
    settings.DARAJA_CALLBACK_BASE_URL = "http://127.0.0.1:9"  # nothing listens; callbacks are off anyway
    settings.MPESA_CALLBACK_SECRET = SECRET
    yield sim
    sim.stop()


@pytest.fixture
def client_user():
    return ClientFactory()


@pytest.fixture
def approved_session(client_user):
    return SessionFactory(approved=True, client=client_user, session_type=SessionTypeFactory(price_kes=3500))


@pytest.fixture
def api(client_user):
    api = APIClient()
    api.force_authenticate(client_user)
    return api


class _WideServer(ThreadedWSGIServer):
    request_queue_size = 256  # Django's 10 resets connections when 50 callbacks land at once


class _WideLiveServerThread(LiveServerThread):
    server_class = _WideServer


def serve_live(thread_class):
    """Run a LiveServerThread subclass on a free port; yield its base URL, stop it afterwards."""
    thread = thread_class("127.0.0.1", _StaticFilesHandler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()
    thread.join(10)


@pytest.fixture
def wide_live_server(transactional_db):
    """A live server of our own (function-scoped) whose listen backlog takes a burst of callbacks."""
    yield from serve_live(_WideLiveServerThread)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "thirdparty: runs our Daraja client against third-party code from PyPI (fast; part of make test)"
    )
