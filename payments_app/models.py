"""M-Pesa payments: one PaymentAttempt per STK Push, every raw callback, an append-only event log,
the money cases that owe money back, their refunds, and the session-credit ledger."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from sessions_app.models import AppendOnly


class PaymentAttempt(models.Model):
    """One STK Push. Its status only ever moves forward; final ones never change again."""

    class Status(models.TextChoices):
        CREATED = "created", "Created"  # row committed, push not (yet) acknowledged by Daraja
        PROCESSING = "processing", "Processing"  # Daraja accepted the push; waiting for the customer
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "No answer"  # deadline passed without a final answer; a late one still applies
        # Daraja's answers could not be used (set-up error, or only replies that do not fit) and no more
        # asking will help: staff settle it from the statement. A late valid answer still applies.
        REVIEW = "review", "Needs attention"

    class Problem(models.TextChoices):
        FINAL = "final", "Final"
        TRANSIENT = "transient", "Transient"
        CONFIGURATION = "configuration", "Configuration (staff must fix)"

    IN_FLIGHT = (Status.CREATED, Status.PROCESSING)
    FINAL = (Status.SUCCEEDED, Status.FAILED)

    session = models.ForeignKey("sessions_app.Session", on_delete=models.PROTECT, related_name="mpesa_attempts")
    initiated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phone = models.CharField(max_length=12, help_text="12-digit MSISDN the prompt was sent to.")
    amount = models.PositiveIntegerField(help_text="Whole KES.")
    account_reference = models.CharField(max_length=12)
    merchant_request_id = models.CharField(max_length=64, blank=True)
    # NULL until Daraja accepts the push, so the unique constraint only covers real ids.
    checkout_request_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    result_code = models.CharField(max_length=32, blank=True, help_text="Daraja's ResultCode or errorCode.")
    result_desc = models.CharField(max_length=255, blank=True, help_text="Daraja's own words.")
    message = models.CharField(max_length=255, blank=True, help_text="Plain words shown to the client.")
    mpesa_receipt_number = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    payer_phone = models.CharField(max_length=12, blank=True)
    paid_amount = models.PositiveIntegerField(null=True, blank=True, help_text="Amount M-Pesa reported, KES.")
    transaction_date = models.DateTimeField(null=True, blank=True)
    callback_payload = models.JSONField(null=True, blank=True, help_text="First raw callback for this push.")
    initiated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    needs_review = models.BooleanField(default=False)
    review_reason = models.CharField(max_length=255, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The last reply from Daraja that could not be used as it was, exactly as it came (every one is in the events).
    problem_class = models.CharField(max_length=16, choices=Problem.choices, blank=True)
    problem = models.CharField(max_length=255, blank=True, help_text="What was wrong with Daraja's reply.")
    problem_payload = models.JSONField(null=True, blank=True, help_text="Daraja's raw reply.")
    problem_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-initiated_at", "-id"]
        indexes = [
            models.Index(fields=["checkout_request_id", "status"], name="attempt_checkout_status_idx"),
            models.Index(fields=["session", "status"], name="attempt_session_status_idx"),
            models.Index(fields=["status", "initiated_at"], name="attempt_status_initiated_idx"),
            models.Index(fields=["needs_review"], condition=Q(needs_review=True), name="attempt_needs_review_idx"),
            # 0003_perf_indexes: the admin's newest-first list.
            models.Index(fields=["initiated_at", "id"], name="attempt_initiated_id_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["checkout_request_id"],
                condition=Q(checkout_request_id__isnull=False),
                name="attempt_unique_checkout_request_id",
            ),
            models.UniqueConstraint(
                fields=["mpesa_receipt_number"],
                condition=Q(mpesa_receipt_number__isnull=False),
                name="attempt_unique_receipt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_reference} KES {self.amount:,} ({self.get_status_display()})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def is_in_flight(self) -> bool:
        return self.status in self.IN_FLIGHT


class MpesaCallback(models.Model):
    """A raw STK callback exactly as received, committed before any processing."""

    class Outcome(models.TextChoices):
        PAID = "paid", "Confirmed paid"
        FAILED = "failed", "Confirmed failed"
        DUPLICATE = "duplicate", "Duplicate or late: changed nothing"
        UNKNOWN_CHECKOUT = "unknown_checkout", "Unknown checkout id: changed nothing"
        REVIEW = "review", "Flagged for staff"
        ABANDONED = "abandoned", "Gave up: Daraja gave no final answer"

    received_at = models.DateTimeField(default=timezone.now)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    checkout_request_id = models.CharField(max_length=64, blank=True)
    merchant_request_id = models.CharField(max_length=64, blank=True)
    result_code = models.CharField(max_length=32, blank=True, help_text="As Daraja sent it, as a string.")
    payload = models.JSONField()
    attempt = models.ForeignKey(
        PaymentAttempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="callbacks"
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    process_tries = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["checkout_request_id", "received_at"], name="callback_checkout_idx"),
            models.Index(
                fields=["received_at"], condition=Q(processed_at__isnull=True), name="callback_unprocessed_idx"
            ),
            # 0003_perf_indexes: the admin's newest-first list.
            models.Index(fields=["received_at", "id"], name="callback_received_id_idx"),
        ]
        verbose_name = "M-Pesa callback"

    def __str__(self) -> str:
        return f"{self.checkout_request_id or '?'} code {self.result_code} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class PaymentEvent(AppendOnly, models.Model):
    """Append-only log of everything that happened to a payment: who, when, from where, what."""

    class Kind(models.TextChoices):
        INITIATED = "initiated", "Payment started"
        PUSH_SENT = "push_sent", "STK Push accepted by M-Pesa"
        PUSH_FAILED = "push_failed", "STK Push refused or failed"
        CALLBACK_RECEIVED = "callback_received", "Callback received"
        SUCCEEDED = "succeeded", "Payment confirmed"
        FAILED = "failed", "Payment failed"
        DUPLICATE = "duplicate", "Duplicate or late result ignored"
        RECEIPT_RECORDED = "receipt_recorded", "Receipt recorded"
        UNKNOWN_CHECKOUT = "unknown_checkout", "Callback for an unknown checkout id"
        FLAGGED = "flagged", "Flagged for staff review"
        TIMED_OUT = "timed_out", "No final answer by the deadline"
        REVIEWED = "reviewed", "Reviewed by staff"
        ANOMALY = "anomaly", "Unexpected reply from M-Pesa"
        NEEDS_ATTENTION = "needs_attention", "Needs attention: not settled automatically"

    attempt = models.ForeignKey(PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    session = models.ForeignKey(
        "sessions_app.Session", null=True, blank=True, on_delete=models.PROTECT, related_name="payment_events"
    )
    callback = models.ForeignKey(MpesaCallback, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=32, help_text="web, api, daraja, poll, status, sweeper, admin…")
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["kind", "at"], name="payment_event_kind_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.at:%Y-%m-%d %H:%M:%S})"

    append_only_rows = "Payment events"


class MoneyCase(models.Model):
    """Money M-Pesa confirmed that no live session keeps: it is owed back until refunded, credited or applied.

    One case per payment attempt (a unique constraint). A case ends only one of three ways (refunded,
    credited, applied); "reviewed" without one of them does not exist. Personal data: ``phone``.
    """

    class Kind(models.TextChoices):
        AFTER_CANCEL = "after_cancel", "Paid after the session was cancelled"
        AFTER_EXPIRY = "after_expiry", "Paid after the session expired"
        NOT_OPEN = "not_open", "Paid after the session could no longer be confirmed"
        DUPLICATE = "duplicate", "Second payment for a session already paid"
        AMOUNT_MISMATCH = "amount_mismatch", "Amount differs from the price"
        CANCELLED_PAID = "cancelled_paid", "Paid session cancelled with money due back"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        REFUNDING = "refunding", "Refund in progress"  # a Daraja Reversal was requested; its result is awaited
        REFUNDED = "refunded", "Refunded"
        CREDITED = "credited", "Credited"
        APPLIED = "applied", "Applied to another booking"

    OPEN_STATUSES = (Status.OPEN, Status.REFUNDING)
    CLOSED_STATUSES = (Status.REFUNDED, Status.CREDITED, Status.APPLIED)

    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="money_cases")
    session = models.ForeignKey("sessions_app.Session", on_delete=models.PROTECT, related_name="money_cases")
    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="money_cases")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    amount = models.PositiveIntegerField(help_text="KES owed back.")
    phone = models.CharField(max_length=12, blank=True, help_text="Payer's MSISDN as M-Pesa reported it.")
    receipt = models.CharField(max_length=32, blank=True, help_text="M-Pesa receipt of the payment.")
    reason = models.CharField(max_length=255)
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.CharField(max_length=255, blank=True)
    refund_reference = models.CharField(max_length=32, blank=True, help_text="M-Pesa reference of the refund.")
    applied_to = models.ForeignKey(
        "sessions_app.Session", null=True, blank=True, on_delete=models.PROTECT, related_name="applied_money_cases"
    )

    class Meta:
        ordering = ["opened_at", "id"]
        indexes = [models.Index(fields=["status", "opened_at"], name="money_case_status_opened_idx")]
        constraints = [
            models.UniqueConstraint(fields=["attempt"], name="money_case_one_per_attempt"),
            models.CheckConstraint(
                condition=Q(status__in=["open", "refunding"], resolved_at__isnull=True)
                | Q(status__in=["refunded", "credited", "applied"], resolved_at__isnull=False),
                name="money_case_resolved_iff_closed",
            ),
        ]

    def __str__(self) -> str:
        return f"Case {self.pk}: KES {self.amount:,} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class Refund(models.Model):
    """Money sent back for a case: a Daraja Reversal (asynchronous) or a refund staff made by hand.

    Exactly once: our own ``originator_conversation_id`` keys the Reversal; at most one refund per case is
    in flight and at most one succeeds (partial unique constraints). A failed one keeps its reason and the
    case stays open.
    """

    class Method(models.TextChoices):
        REVERSAL = "reversal", "M-Pesa Reversal"
        MANUAL = "manual", "Recorded by staff"

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    case = models.ForeignKey(MoneyCase, on_delete=models.PROTECT, related_name="refunds")
    method = models.CharField(max_length=12, choices=Method.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REQUESTED)
    amount = models.PositiveIntegerField(help_text="KES.")
    originator_conversation_id = models.CharField(max_length=64, unique=True)
    conversation_id = models.CharField(max_length=64, blank=True)
    mpesa_reference = models.CharField(max_length=32, blank=True, help_text="M-Pesa's reference for the refund.")
    result_code = models.CharField(max_length=32, blank=True)
    result_desc = models.CharField(max_length=255, blank=True)
    result_payload = models.JSONField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(status="requested"), name="refund_one_in_flight_per_case"
            ),
            models.UniqueConstraint(
                fields=["case"], condition=Q(status="succeeded"), name="refund_one_success_per_case"
            ),
        ]

    def __str__(self) -> str:
        return f"Refund KES {self.amount:,} ({self.get_status_display()})"


class CreditEntry(AppendOnly, models.Model):
    """One line of a client's session-credit ledger. Append-only: the balance is the sum of ``amount``.

    Granted lines are positive; used, expired and refunded lines are negative. There is no balance field.
    """

    class Kind(models.TextChoices):
        GRANTED = "granted", "Granted"
        USED = "used", "Used"
        EXPIRED = "expired", "Expired"
        REFUNDED = "refunded", "Paid out"

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_entries")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = models.IntegerField(help_text="KES; positive when granted, negative otherwise.")
    case = models.ForeignKey(MoneyCase, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries")
    session = models.ForeignKey(
        "sessions_app.Session", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries"
    )
    reason = models.CharField(max_length=255)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["client", "created_at"], name="credit_client_created_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="granted", amount__gt=0) | (~Q(kind="granted") & Q(amount__lt=0)),
                name="credit_sign_matches_kind",
            ),
            models.UniqueConstraint(fields=["case"], condition=Q(kind="granted"), name="credit_one_grant_per_case"),
            models.UniqueConstraint(fields=["session"], condition=Q(kind="used"), name="credit_one_use_per_session"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} KES {self.amount:,}"

    append_only_rows = "Credit entries"
