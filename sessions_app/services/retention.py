"""Retention: what is kept how long, and the nightly job that anonymises or deletes what is past it.

The periods are settings (``RETENTION_*``, env-readable; the README's "Your data and retention" gives
each default and its reason). Each kind is worked through in batches of ``RETENTION_BATCH_SIZE``,
one transaction a batch, and chosen by a condition the work itself makes false (a redacted payload
carries ``redacted_at``, an anonymised row has nothing left to clear, a deleted row is gone), so a
second run, or two at once, finds nothing left to do. Nothing a payment record needs is touched:
receipt, amount, date and booking reference stay.

Other apps' models are named by label, not imported (docs/design.md#apps-and-dependencies).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ..models import AuditEntry, Session, SessionEvent, TherapistNote
from .data_rights import scrub_json

logger = logging.getLogger(__name__)

REDACTED_KEY = "redacted_at"
CLOSED_REQUESTS = (Session.Status.EXPIRED, Session.Status.DECLINED)


def _model(label: str) -> type[models.Model] | None:
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def retention_periods() -> dict[str, dt.timedelta]:
    return {
        "callbacks": dt.timedelta(days=settings.RETENTION_CALLBACK_PAYLOAD_DAYS),
        "notifications": dt.timedelta(days=settings.RETENTION_NOTIFICATION_DAYS),
        "audit": dt.timedelta(days=settings.RETENTION_AUDIT_DAYS),
        "closed_requests": dt.timedelta(days=settings.RETENTION_CLOSED_REQUEST_DAYS),
    }


def _in_batches(
    due: Callable[[], models.QuerySet], work: Callable[[models.QuerySet], int], *, batch: int, dry_run: bool
) -> int:
    """Apply ``work`` to the rows ``due()`` selects, ``batch`` at a time, each batch in one transaction.

    ``due`` is re-evaluated for every batch and, under the row locks, for the batch itself, so rows
    another run already handled are skipped. A dry run only counts.
    """
    if dry_run:
        return due().count()
    done = 0
    while True:
        pks = list(due().order_by("pk").values_list("pk", flat=True)[:batch])
        if not pks:
            return done
        with transaction.atomic():
            query = due()
            locked = list(query.filter(pk__in=pks).select_for_update(skip_locked=True).values_list("pk", flat=True))
            changed = work(query.model._default_manager.filter(pk__in=locked)) if locked else 0
        done += changed
        if changed == 0:  # every row of this batch was locked by another run: it finishes them
            return done


def _redact_payloads(rows: models.QuerySet, field: str, now: dt.datetime) -> int:
    changed = 0
    for row in rows.only("pk", field):
        payload = scrub_json(getattr(row, field), [])
        if isinstance(payload, dict):
            payload[REDACTED_KEY] = now.isoformat()
        type(row)._default_manager.filter(pk=row.pk).update(**{field: payload})
        changed += 1
    return changed


def _callbacks(now: dt.datetime, cutoff: dt.datetime, batch: int, dry_run: bool) -> dict[str, int]:
    out = {"callbacks_redacted": 0, "attempt_payloads_redacted": 0}
    callback = _model("payments_app.MpesaCallback")
    if callback is not None:
        out["callbacks_redacted"] = _in_batches(
            lambda: callback.objects.filter(received_at__lt=cutoff).exclude(payload__has_key=REDACTED_KEY),
            lambda rows: _redact_payloads(rows, "payload", now),
            batch=batch,
            dry_run=dry_run,
        )
    attempt = _model("payments_app.PaymentAttempt")
    if attempt is not None:
        out["attempt_payloads_redacted"] = _in_batches(
            lambda: attempt.objects.filter(initiated_at__lt=cutoff, callback_payload__isnull=False).exclude(
                callback_payload__has_key=REDACTED_KEY
            ),
            lambda rows: _redact_payloads(rows, "callback_payload", now),
            batch=batch,
            dry_run=dry_run,
        )
    return out


def _notifications(cutoff: dt.datetime, batch: int, dry_run: bool) -> dict[str, int]:
    notification = _model("notifications_app.Notification")
    if notification is None:
        return {"notifications_anonymised": 0}
    # Never deleted: the row is what stops the same email going out twice. What it said goes.
    return {
        "notifications_anonymised": _in_batches(
            lambda: notification.objects.filter(created_at__lt=cutoff).exclude(
                to_email="", last_error="", delivery_detail=""
            ),
            lambda rows: rows.update(to_email="", last_error="", delivery_detail=""),
            batch=batch,
            dry_run=dry_run,
        )
    }


def _audit(cutoff: dt.datetime, batch: int, dry_run: bool) -> dict[str, int]:
    def delete(rows: models.QuerySet) -> int:
        # QuerySet.delete does not call AuditEntry.delete(), which refuses single rows: retention is the one deleter.
        return rows.delete()[0]

    return {
        "audit_deleted": _in_batches(
            lambda: AuditEntry.objects.filter(at__lt=cutoff), delete, batch=batch, dry_run=dry_run
        )
    }


def _closed_requests(cutoff: dt.datetime, batch: int, dry_run: bool) -> dict[str, int]:
    attempt = _model("payments_app.PaymentAttempt")
    leftovers = (
        ~Q(client_notes="")
        | ~Q(decline_reason="")
        | ~Q(cancel_reason="")
        | ~Q(mpesa_phone="")
        | ~Q(meeting_link="")
        | Exists(SessionEvent.objects.filter(session=OuterRef("pk")).exclude(note="", source_ip=None))
        | Exists(TherapistNote.objects.filter(session=OuterRef("pk")))
    )
    if attempt is not None:
        leftovers |= Exists(attempt.objects.filter(session=OuterRef("pk")).exclude(phone="", payer_phone=""))

    def anonymise(rows: models.QuerySet) -> int:
        pks = list(rows.values_list("pk", flat=True))
        Session.objects.filter(pk__in=pks).update(
            client_notes="", decline_reason="", cancel_reason="", mpesa_phone="", meeting_link=""
        )
        SessionEvent.objects.filter(session_id__in=pks).update(note="", source_ip=None)
        TherapistNote.objects.filter(session_id__in=pks).delete()
        if attempt is not None:
            # No money moved on these (expired or declined): the phone a push went to has no use left.
            attempt.objects.filter(session_id__in=pks).update(phone="", payer_phone="")
        return len(pks)

    return {
        "requests_anonymised": _in_batches(
            lambda: Session.objects.filter(status__in=CLOSED_REQUESTS, updated_at__lt=cutoff).filter(leftovers),
            anonymise,
            batch=batch,
            dry_run=dry_run,
        )
    }


def retention_apply(*, now: dt.datetime | None = None, dry_run: bool = False, batch_size: int | None = None) -> dict:
    """Anonymise or delete everything past its retention period. Safe to run twice; a dry run changes nothing.

    Returns what it did (or, dry, would do), kind by kind, and logs one line saying the same.
    """
    now = now or timezone.now()
    batch = batch_size or settings.RETENTION_BATCH_SIZE
    periods = retention_periods()
    report: dict = {}
    report.update(_callbacks(now, now - periods["callbacks"], batch, dry_run))
    report.update(_notifications(now - periods["notifications"], batch, dry_run))
    report.update(_audit(now - periods["audit"], batch, dry_run))
    report.update(_closed_requests(now - periods["closed_requests"], batch, dry_run))
    logger.info(
        "retention%s: %s",
        " (dry run)" if dry_run else "",
        ", ".join(f"{key}={value}" for key, value in report.items()),
    )
    return {**report, "dry_run": dry_run}
