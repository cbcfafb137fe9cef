import pytest

from .factories import ClientFactory, SessionTypeFactory, TherapistProfileFactory, UserFactory


@pytest.fixture
def therapist():
    return TherapistProfileFactory()


@pytest.fixture
def session_type(therapist):
    return SessionTypeFactory(therapist=therapist)


@pytest.fixture
def client_user():
    return ClientFactory()


@pytest.fixture
def staff_user():
    return UserFactory(staff=True)
