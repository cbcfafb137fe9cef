"""Run the retention job by hand: ``manage.py apply_retention [--dry-run] [--batch-size N]``."""

from django.core.management.base import BaseCommand, CommandError

from sessions_app.services.retention import retention_apply, retention_periods


class Command(BaseCommand):
    help = "Anonymise or delete what is past its retention period (the nightly beat job), or with --dry-run count it."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would change; change nothing")
        parser.add_argument("--batch-size", type=int, default=None, help="rows per transaction (default: setting)")

    def handle(self, *args, dry_run: bool, batch_size: int | None, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        for kind, period in retention_periods().items():
            self.stdout.write(f"{kind}: kept {period.days} days")
        report = retention_apply(dry_run=dry_run, batch_size=batch_size)
        verb = "would change" if dry_run else "changed"
        for key, value in report.items():
            if key != "dry_run":
                self.stdout.write(f"{key}: {value} ({verb})")
        self.stdout.write(self.style.SUCCESS("Dry run: nothing changed." if dry_run else "Done."))
