"""Breach duty (DPA 2019 s.43, notify within 72 hours): who saw whose data, from the audit trail, as CSV.

    manage.py audit_report --account staff@example.com   whose data did this account see, and when
    manage.py audit_report --subject client@example.com  who saw this client's data, and when
    [--since 2026-12-01] [--until 2026-12-04T12:00+03:00] [--output report.csv]

Times in the CSV are UTC (ISO 8601). Columns: sessions_app.selectors.breach.COLUMNS.
"""

from __future__ import annotations

import csv
import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from sessions_app.models import User
from sessions_app.selectors.breach import COLUMNS, accesses


def _moment(value: str | None, option: str) -> dt.datetime | None:
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"{option}: give a date (2026-12-01) or a date and time (2026-12-01T09:00+03:00).")
        moment = dt.datetime.combine(day, dt.time())
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = "CSV of recorded accesses: by an account (--account EMAIL) or to a client's data (--subject EMAIL)."

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--account", metavar="EMAIL", help="whose data did this account see, and when")
        who.add_argument("--subject", metavar="EMAIL", help="who saw this person's data, and when")
        parser.add_argument("--since", help="from this date or time (inclusive)")
        parser.add_argument("--until", help="up to this date or time (exclusive)")
        parser.add_argument("--output", help="write the CSV to this file instead of standard output")

    def handle(self, *args, account=None, subject=None, since=None, until=None, output=None, **options):
        email = (account or subject or "").strip()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No account has the email {email!r}.")
        since_at, until_at = _moment(since, "--since"), _moment(until, "--until")
        if since_at and until_at and since_at >= until_at:
            raise CommandError("--since must be before --until.")
        rows = accesses(
            account=user if account else None, subject=user if subject else None, since=since_at, until=until_at
        )
        stream = open(output, "w", newline="", encoding="utf-8") if output else self.stdout  # noqa: SIM115
        try:
            writer = csv.writer(stream if output else _Lines(self.stdout))
            writer.writerow(COLUMNS)
            count = 0
            for row in rows:
                writer.writerow(row.as_list())
                count += 1
        finally:
            if output:
                stream.close()
        (self.stdout if output else self.stderr).write(f"{count} access(es) recorded.")


class _Lines:
    """csv.writer target on the command's stdout (which adds its own line endings otherwise)."""

    def __init__(self, out):
        self.out = out

    def write(self, text: str) -> None:
        self.out.write(text, ending="")
