from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Notification(models.Model):
    """One email about one session to one person: the send log and the idempotency key.

    ``(session, recipient, kind)`` is unique, so each kind of email goes out once
    per session and recipient however often the triggering signal or task runs.
    A payment can fail more than once; those emails are keyed by the session
    event that recorded each failure instead.
    """

    class Kind(models.TextChoices):
        # To the practitioner
        THERAPIST_NEW_REQUEST = "therapist_new_request", "New request (practitioner)"
        THERAPIST_PAYMENT_RECEIVED = "therapist_payment_received", "Payment received (practitioner)"
        THERAPIST_CANCELLED = "therapist_cancelled", "Cancelled (practitioner)"
        # To the client
        CLIENT_REQUEST_RECEIVED = "client_request_received", "Request received (client)"
        CLIENT_APPROVED = "client_approved", "Approved, pay now (client)"
        CLIENT_DECLINED = "client_declined", "Declined (client)"
        CLIENT_PAYMENT_FAILED = "client_payment_failed", "Payment failed (client)"
        CLIENT_CONFIRMED = "client_confirmed", "Receipt and calendar invite (client)"
        CLIENT_CANCELLED = "client_cancelled", "Cancelled (client)"
        CLIENT_EXPIRED = "client_expired", "Expired (client)"
        CLIENT_REFUNDED = "client_refunded", "Refund recorded (client)"
        REMINDER_24H = "reminder_24h", "Reminder 24 hours before (client)"
        REMINDER_1H = "reminder_1h", "Reminder 1 hour before (client)"
        # To staff
        STAFF_PAYMENT_ALERT = "staff_payment_alert", "M-Pesa set-up problem (staff)"

    # Kinds that may go out more than once per session: keyed by their event.
    PER_EVENT_KINDS = (Kind.CLIENT_PAYMENT_FAILED,)

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (no longer relevant)"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    session = models.ForeignKey("sessions_app.Session", on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey(
        "sessions_app.SessionEvent",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The event this email is about, for kinds that can repeat (a failed payment).",
    )
    kind = models.CharField(max_length=40, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0, help_text="Send attempts, failed ones included.")
    last_error = models.TextField(blank=True)
    to_email = models.EmailField(blank=True, help_text="The address it was last sent to.")
    subject = models.CharField(max_length=200, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    delivery_status = models.CharField(
        max_length=20, blank=True, help_text="Last event the provider reported: delivered, bounced, opened…"
    )
    delivery_detail = models.CharField(max_length=255, blank=True)
    delivery_updated_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "recipient", "kind"],
                condition=~Q(kind="client_payment_failed"),
                name="notification_once_per_kind",
            ),
            models.UniqueConstraint(
                fields=["event", "recipient", "kind"],
                condition=Q(kind="client_payment_failed"),
                name="notification_once_per_event",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="notification_status_idx"),
            models.Index(fields=["session", "kind"], name="notification_session_kind_idx"),
            # 0003_perf_indexes: the admin's newest-first list.
            models.Index(fields=["created_at", "id"], name="notification_created_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient} ({self.get_status_display()})"
