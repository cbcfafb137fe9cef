import datetime as dt

import factory
from django.conf import settings
from django.utils import timezone

from sessions_app.models import Consent, Session, SessionType, TherapistProfile, TimeOff, User, WeeklyAvailability

PASSWORD = "a-strong-test-pass-2026"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    phone = factory.Sequence(lambda n: f"+2547{n % 100000000:08d}")
    role = User.Role.CLIENT
    password = factory.django.Password(PASSWORD)
    email_verified_at = factory.LazyFunction(timezone.now)  # issue 18: unverified clients cannot book

    class Params:
        staff = factory.Trait(role=User.Role.STAFF, is_staff=True, is_superuser=True)

    @factory.post_generation
    def consented(obj, create, extracted, **kwargs):
        """Agreed to the current terms and privacy notice, as signup records (``consented=False``: not)."""
        if create and extracted is not False:
            Consent.objects.bulk_create(
                [Consent(user=obj, document=d, version=v) for d, v in settings.CONSENT_VERSIONS.items()],
                ignore_conflicts=True,
            )


class ClientFactory(UserFactory):
    role = User.Role.CLIENT


class TherapistUserFactory(UserFactory):
    role = User.Role.THERAPIST


class TherapistProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TherapistProfile
        skip_postgeneration_save = True

    user = factory.SubFactory(TherapistUserFactory)
    title = "Counselling Psychologist"
    bio = "Helps with anxiety."
    specialties = "Anxiety, Depression"
    languages = "English, Kiswahili"
    buffer_minutes = 0
    min_notice_hours = 24
    max_advance_days = 60

    @factory.post_generation
    def hours(obj, create, extracted, **kwargs):
        """Every day 08:00-18:00 unless ``hours=[...]`` (list of (weekday, "HH:MM", "HH:MM")) is given."""
        if not create:
            return
        spec = extracted if extracted is not None else [(d, "08:00", "18:00") for d in range(7)]
        for weekday, start, end in spec:
            WeeklyAvailability.objects.create(
                therapist=obj,
                weekday=weekday,
                start_time=dt.time.fromisoformat(start),
                end_time=dt.time.fromisoformat(end),
            )


class SessionTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionType

    therapist = factory.SubFactory(TherapistProfileFactory)
    name = "Individual session"
    duration_minutes = 60
    price_kes = 3000
    mode = SessionType.Mode.ONLINE


class TimeOffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TimeOff

    therapist = factory.SubFactory(TherapistProfileFactory)
    start = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=3))
    end = factory.LazyAttribute(lambda o: o.start + dt.timedelta(days=1))


def future_slot(days: int = 3, hour: int = 10, tz: str = "Africa/Nairobi") -> dt.datetime:
    """An aware datetime `days` from today at `hour`:00 in `tz` (inside the factory's default hours)."""
    import zoneinfo

    zone = zoneinfo.ZoneInfo(tz)
    day = (timezone.now().astimezone(zone) + dt.timedelta(days=days)).date()
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zone)


class SessionFactory(factory.django.DjangoModelFactory):
    """A session row as-is (no service): for reads and admin. Use services for transitions."""

    class Meta:
        model = Session

    client = factory.SubFactory(ClientFactory)
    session_type = factory.SubFactory(SessionTypeFactory)
    therapist = factory.LazyAttribute(lambda o: o.session_type.therapist)
    start = factory.LazyFunction(future_slot)
    end = factory.LazyAttribute(lambda o: o.start + dt.timedelta(minutes=o.session_type.duration_minutes))
    amount_kes = factory.LazyAttribute(lambda o: o.session_type.price_kes)
    respond_by = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=48))
    status = Session.Status.PENDING_APPROVAL
    payment_status = Session.PaymentStatus.PENDING

    class Params:
        approved = factory.Trait(
            status=Session.Status.APPROVED, pay_by=factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=24))
        )
        confirmed = factory.Trait(
            status=Session.Status.CONFIRMED,
            payment_status=Session.PaymentStatus.PAID,
            mpesa_receipt_number=factory.Sequence(lambda n: f"TST{n:07d}"),
        )
