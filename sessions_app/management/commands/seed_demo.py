"""Demo data for `make run`. Idempotent: running it again changes nothing. Never run in production."""

import datetime as dt

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from sessions_app.models import SessionType, TherapistProfile, User, WeeklyAvailability
from sessions_app.services.consent import consent_record

PASSWORD = "demo-pass-2026"

THERAPISTS = [
    {
        "email": "therapist1@example.com",
        "full_name": "Dr. Amina Odhiambo",
        "phone": "+254711000001",
        "title": "Clinical Psychologist",
        "bio": "Fifteen years helping adults with anxiety, low mood and life transitions. Warm, practical, evidence-based.",
        "specialties": "Anxiety, Depression, Life transitions",
        "languages": "English, Kiswahili",
        "city": "Nairobi",
        "types": [
            ("Individual session", 50, 3500, "online"),
            ("Individual session (in person)", 50, 4500, "in_person"),
        ],
        "hours": {
            0: [("09:00", "13:00"), ("14:00", "17:00")],
            1: [("09:00", "17:00")],
            2: [("09:00", "13:00")],
            3: [("09:00", "17:00")],
            4: [("09:00", "15:00")],
            5: [("10:00", "13:00")],
            6: [("14:00", "17:00")],
        },
    },
    {
        "email": "therapist2@example.com",
        "full_name": "Brian Kamau",
        "phone": "+254711000002",
        "title": "Counselling Psychologist",
        "bio": "Couples and family counselling, with a focus on communication and rebuilding trust.",
        "specialties": "Couples, Family, Grief",
        "languages": "English, Kiswahili, Kikuyu",
        "city": "Nairobi",
        "types": [("Couples session", 80, 6000, "in_person"), ("Individual session", 50, 3000, "online")],
        "hours": {d: [("08:00", "12:00"), ("13:00", "18:00")] for d in range(0, 7)},
    },
    {
        "email": "therapist3@example.com",
        "full_name": "Grace Wanjiru",
        "phone": "+254711000003",
        "title": "Trauma-informed Therapist",
        "bio": "Trauma, stress and burnout. Sessions online across Kenya and East Africa.",
        "specialties": "Trauma, Stress, Burnout",
        "languages": "English, Kiswahili, French",
        "city": "Mombasa",
        "types": [("Short check-in", 30, 1500, "online"), ("Individual session", 60, 4000, "online")],
        "hours": {d: [("07:00", "11:00"), ("16:00", "20:00")] for d in range(0, 7)},
    },
]

CLIENTS = [
    ("client1@example.com", "Wanjiku Mwangi", "+254708374149"),
    ("client2@example.com", "Otieno Ochieng", "+254712345678"),
]


class Command(BaseCommand):
    help = "Create demo logins, therapists with session types and weekly hours. Safe to run again."

    @transaction.atomic
    def handle(self, *args, **options):
        created = []
        staff, was_created = self._user("staff@example.com", "Staff Admin", "+254700000000", User.Role.STAFF)
        if not staff.is_staff:
            staff.is_staff = staff.is_superuser = True
            staff.save(update_fields=["is_staff", "is_superuser"])
        if was_created:
            created.append(staff.email)
        for spec in THERAPISTS:
            user, was_created = self._user(spec["email"], spec["full_name"], spec["phone"], User.Role.THERAPIST)
            if was_created:
                created.append(user.email)
            profile, _ = TherapistProfile.objects.get_or_create(
                user=user,
                defaults={k: spec[k] for k in ("title", "bio", "specialties", "languages", "city")},
            )
            for name, minutes, price, mode in spec["types"]:
                SessionType.objects.get_or_create(
                    therapist=profile,
                    name=name,
                    defaults={"duration_minutes": minutes, "price_kes": price, "mode": mode},
                )
            if not profile.weekly_hours.exists():
                WeeklyAvailability.objects.bulk_create(
                    WeeklyAvailability(
                        therapist=profile,
                        weekday=day,
                        start_time=dt.time.fromisoformat(start),
                        end_time=dt.time.fromisoformat(end),
                    )
                    for day, ranges in spec["hours"].items()
                    for start, end in ranges
                )
        for email, name, phone in CLIENTS:
            user, was_created = self._user(email, name, phone, User.Role.CLIENT)
            if was_created:
                created.append(user.email)

        if created:
            self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {PASSWORD}):"))
            for email in created:
                self.stdout.write(f"  {email}")
        else:
            self.stdout.write("Demo data already present (staff@example.com, therapist1..3@, client1..2@example.com).")

    def _user(self, email, full_name, phone, role):
        user = User.objects.filter(email=email).first()
        if user:
            return user, False
        user = User.objects.create_user(
            email=email,
            password=PASSWORD,
            full_name=full_name,
            phone=phone,
            role=role,
            email_verified_at=timezone.now(),
        )
        consent_record(user=user, agreed=True)  # as signup records it: demo logins are not asked first
        if role == User.Role.STAFF:
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        return user, True
