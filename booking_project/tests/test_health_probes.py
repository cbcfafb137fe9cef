"""/healthz/live answers without the database; /healthz/ready (and the older /healthz) check it."""

import pytest
from django.db import DatabaseError

from sessions_app.views import health

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_down(monkeypatch):
    def broken():
        raise DatabaseError("down")

    monkeypatch.setitem(health.CHECKS, "database", broken)


def test_live_answers_ok_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_live_stays_200_while_the_database_is_down(client, database_down):
    assert client.get("/healthz/live").status_code == 200


@pytest.mark.parametrize("url", ["/healthz/ready", "/healthz"])
def test_ready_checks_the_dependencies(client, url):
    response = client.get(url)
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"] == "ok" and body["checks"]["cache"] == "ok"
    assert body["checks"]["broker"].startswith("not configured")


@pytest.mark.parametrize("url", ["/healthz/ready", "/healthz"])
def test_ready_is_503_while_the_database_is_down(client, database_down, url):
    response = client.get(url)
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error: DatabaseError"


def test_probes_refuse_a_post(client):
    assert client.post("/healthz/live").status_code == 405
    assert client.post("/healthz/ready").status_code == 405
