"""django-appointment's slot finder on the bench's busy schedule; prints one JSON object.

Run by benchmarks/slotfinder.py with benchmarks/.peer-venv/bin/python:

    peer_bench.py SCHEDULE.json

It migrates its own database (booking_peer), loads the same working hours and
the same existing appointments as the product's side, then asks for every day
of the window what django-appointment's own ``get_available_slots_ajax`` view
asks: ``check_day_off_for_staff``, ``is_working_day`` and
``get_available_slots_for_staff(date, staff_member, weekday_num, service=...)``.
"""

import datetime as dt
import hashlib
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ["DJANGO_SETTINGS_MODULE"] = "peer_settings"

import django  # noqa: E402

django.setup()

import appointment  # noqa: E402
from appointment.models import (  # noqa: E402
    Appointment,
    AppointmentRequest,
    Config,
    Service,
    StaffMember,
    WorkingHours,
)
from appointment.services import get_available_slots_for_staff  # noqa: E402
from appointment.utils.db_helpers import (  # noqa: E402
    check_day_off_for_staff,
    get_weekday_num_from_date,
    is_working_day,
)
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def seed(spec: dict) -> tuple[StaffMember, Service]:
    User = get_user_model()
    with transaction.atomic():
        Appointment.objects.all().delete()
        AppointmentRequest.objects.all().delete()
        WorkingHours.objects.all().delete()
        StaffMember.objects.all().delete()
        Service.objects.all().delete()
        Config.objects.all().delete()
        User.objects.all().delete()
        Config.objects.create(
            slot_duration=spec["slot_minutes"],
            lead_time=dt.time(9, 0),
            finish_time=dt.time(17, 0),
            appointment_buffer_time=0,
            slot_gap_time=0,
            default_to_service_duration=True,
        )
        short = Service.objects.create(
            name="Short check-in", duration=dt.timedelta(minutes=spec["busy_minutes"]), price=0
        )
        service = Service.objects.create(
            name="Individual session", duration=dt.timedelta(minutes=spec["service_minutes"]), price=0
        )
        staff_user = User.objects.create_user(username="staff", email="staff@example.com", first_name="Busy")
        client = User.objects.create_user(username="client", email="client@example.com", first_name="Client")
        staff = StaffMember.objects.create(
            user=staff_user, slot_duration=spec["slot_minutes"], appointment_buffer_time=0, slot_gap_time=0
        )
        staff.services_offered.add(short, service)
        for weekday, start, end in spec["weekly"]:
            # The peer numbers days from Sunday (0); Python's weekday() from Monday.
            WorkingHours.objects.create(
                staff_member=staff,
                day_of_week=(weekday + 1) % 7,
                start_time=dt.time.fromisoformat(start),
                end_time=dt.time.fromisoformat(end),
            )
        requests = AppointmentRequest.objects.bulk_create(
            [
                AppointmentRequest(
                    date=dt.date.fromisoformat(day),
                    start_time=dt.time.fromisoformat(start),
                    end_time=dt.time.fromisoformat(end),
                    service=short,
                    staff_member=staff,
                    id_request=f"bench{i}",
                )
                for i, (day, start, end) in enumerate(spec["busy"])
            ]
        )
        Appointment.objects.bulk_create(
            [
                Appointment(client=client, appointment_request=ar, amount_to_pay=0, id_request=f"bench{ar.pk}")
                for ar in requests
            ]
        )
    staff.refresh_from_db()
    return staff, service


def window_slots(staff: StaffMember, service: Service, first_day: dt.date, days: int) -> list[dt.datetime]:
    """Per day, what the peer's own get_available_slots_ajax view does."""
    slots: list[dt.datetime] = []
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        if check_day_off_for_staff(staff_member=staff, date=day):
            continue
        weekday_num = get_weekday_num_from_date(day)
        if not is_working_day(staff_member=staff, day=weekday_num):
            continue
        slots.extend(get_available_slots_for_staff(day, staff, weekday_num, service=service))
    return slots


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    # The package ships no migrations: syncdb creates its tables from the models.
    call_command("migrate", verbosity=0, interactive=False, run_syncdb=True)
    staff, service = seed(spec)
    first_day = dt.date.fromisoformat(spec["window_start"])
    cache.clear()
    window_slots(staff, service, first_day, spec["days"])  # warm-up: connection, caches
    times = []
    for _ in range(spec["repeats"]):
        started = time.perf_counter()
        slots = window_slots(staff, service, first_day, spec["days"])
        times.append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as ctx:
        window_slots(staff, service, first_day, spec["days"])
    queries_by_days = {}
    for days in spec.get("query_windows", []):
        with CaptureQueriesContext(connection) as short_ctx:
            window_slots(staff, service, first_day, days)
        queries_by_days[str(days)] = len(short_ctx.captured_queries)
    local = sorted(s.strftime("%Y-%m-%dT%H:%M") for s in slots)
    print(
        json.dumps(
            {
                "peer": "django-appointment",
                "version": appointment.__version__,
                "django": django.get_version(),
                "median_s": statistics.median(times),
                "times_s": times,
                "queries": len(ctx.captured_queries),
                "queries_by_days": queries_by_days,
                "slots": len(local),
                "slots_sha1": hashlib.sha1("\n".join(local).encode()).hexdigest(),
                "appointments": Appointment.objects.count(),
            }
        )
    )


if __name__ == "__main__":
    main()
