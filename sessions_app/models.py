from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

TIME_ZONE_CHOICES = sorted((tz, tz.replace("_", " ")) for tz in zoneinfo.available_timezones() if "/" in tz)

e164_validator = RegexValidator(r"^\+[1-9]\d{7,14}$", "Enter the phone in international form, e.g. +254712345678.")


class AppendOnly:
    """A log whose rows are written once: saving an existing row or deleting one raises ValueError.

    ``append_only_rows`` names the rows in the message ("Audit entries")."""

    append_only_rows = "Rows"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError(f"{self.append_only_rows} are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(f"{self.append_only_rows} are append-only.")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True, role=User.Role.STAFF)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    class Role(models.TextChoices):
        CLIENT = "client", "Client"
        THERAPIST = "therapist", "Therapist"
        STAFF = "staff", "Staff"

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150)
    phone = models.CharField(
        max_length=16, blank=True, validators=[e164_validator], help_text="E.164, e.g. +254712345678"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CLIENT)
    time_zone = models.CharField(max_length=64, choices=TIME_ZONE_CHOICES, default="Africa/Nairobi")
    privacy_consent_at = models.DateTimeField(null=True, blank=True)
    # Set when the person deleted their account: the row stays (money and history point at it), its
    # personal data is gone (sessions_app.services.data_rights.user_erase).
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    # None until the person follows the link sent to ``email`` (issue 18): a client cannot book before then.
    email_verified_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name", "email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def is_client(self) -> bool:
        return self.role == self.Role.CLIENT

    @property
    def is_therapist(self) -> bool:
        return self.role == self.Role.THERAPIST and hasattr(self, "therapist_profile")


class TherapistProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="therapist_profile")
    title = models.CharField(max_length=120, blank=True, help_text="e.g. Counselling Psychologist")
    bio = models.TextField(blank=True)
    specialties = models.CharField(max_length=300, blank=True, help_text="Comma-separated, e.g. Anxiety, Couples")
    languages = models.CharField(max_length=200, blank=True, help_text="Comma-separated, e.g. English, Kiswahili")
    city = models.CharField(max_length=80, blank=True)
    accepting_new_clients = models.BooleanField(default=True)
    time_zone = models.CharField(max_length=64, choices=TIME_ZONE_CHOICES, default="Africa/Nairobi")
    buffer_minutes = models.PositiveIntegerField(default=10, validators=[MaxValueValidator(240)])
    min_notice_hours = models.PositiveIntegerField(default=24, validators=[MaxValueValidator(24 * 14)])
    max_advance_days = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    # Denormalised for the directory (which read MIN(price) over every listed therapist's types per
    # request): the lowest price among the active session types; None while none is active (not
    # listed). Kept true by SessionType.save() and delete(), i.e. by the services, the admin and
    # anything else that saves a type; services.therapists locks the profile around it.
    from_price = models.PositiveIntegerField(
        null=True, blank=True, editable=False, help_text="Lowest price (KES) of the active session types."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__full_name"]

    def __str__(self) -> str:
        return self.user.full_name

    @property
    def display_name(self) -> str:
        return self.user.full_name

    def refresh_from_price(self) -> int | None:
        """Set ``from_price`` from the active session types (one aggregate, one update)."""
        price = self.session_types.filter(is_active=True).aggregate(low=models.Min("price_kes"))["low"]
        TherapistProfile.objects.filter(pk=self.pk).update(from_price=price)
        self.from_price = price
        return price

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def specialty_list(self) -> list[str]:
        return [s.strip() for s in self.specialties.split(",") if s.strip()]

    @property
    def language_list(self) -> list[str]:
        return [s.strip() for s in self.languages.split(",") if s.strip()]


# The longest a session can be. Reads of a time range use it as the lower bound on ``start`` (a
# session ending after T started after T - MAX_SESSION_LENGTH), so that they read that range of
# the (therapist, start) index and not the therapist's whole history.
MAX_DURATION_MINUTES = 240
MAX_SESSION_LENGTH = dt.timedelta(minutes=MAX_DURATION_MINUTES)


class SessionType(models.Model):
    class Mode(models.TextChoices):
        ONLINE = "online", "Online"
        IN_PERSON = "in_person", "In person"

    therapist = models.ForeignKey(TherapistProfile, on_delete=models.CASCADE, related_name="session_types")
    name = models.CharField(max_length=80)
    duration_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(15), MaxValueValidator(MAX_DURATION_MINUTES)]
    )
    price_kes = models.PositiveIntegerField(
        "price (KES)", validators=[MinValueValidator(1), MaxValueValidator(250_000)]
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.ONLINE)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["therapist", "duration_minutes", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.duration_minutes} min, KES {self.price_kes:,})"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        TherapistProfile(pk=self.therapist_id).refresh_from_price()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        TherapistProfile(pk=self.therapist_id).refresh_from_price()
        return result


class WeeklyAvailability(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    therapist = models.ForeignKey(TherapistProfile, on_delete=models.CASCADE, related_name="weekly_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        ordering = ["therapist", "weekday", "start_time"]
        verbose_name_plural = "weekly availability"
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=models.F("start_time")), name="weekly_hours_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}–{self.end_time:%H:%M}"


class TimeOff(models.Model):
    therapist = models.ForeignKey(TherapistProfile, on_delete=models.CASCADE, related_name="time_off")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["therapist", "start"]
        verbose_name_plural = "time off"
        constraints = [models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="time_off_end_after_start")]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} – {self.end:%Y-%m-%d %H:%M}"


class Session(models.Model):
    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Pending Approval"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"
        CONFIRMED = "confirmed", "Confirmed"
        IN_PROGRESS = "in_progress", "In Progress"
        COMPLETED = "completed", "Completed"
        NO_SHOW = "no_show", "No Show"

    class PaymentStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        REFUNDED = "refunded", "Refunded"

    # Statuses that hold the time slot; the PostgreSQL exclusion constraint
    # (migration 0002) uses the same list.
    SLOT_HOLDING = (Status.PENDING_APPROVAL, Status.APPROVED, Status.CONFIRMED, Status.IN_PROGRESS)
    ACTIVE = SLOT_HOLDING

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sessions_as_client")
    therapist = models.ForeignKey(TherapistProfile, on_delete=models.PROTECT, related_name="sessions")
    session_type = models.ForeignKey(SessionType, on_delete=models.PROTECT, related_name="sessions")
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_APPROVAL)
    payment_status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    amount_kes = models.PositiveIntegerField("amount (KES)")
    client_notes = models.TextField(blank=True)
    decline_reason = models.TextField(blank=True)
    cancel_reason = models.TextField(blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    refund_due = models.BooleanField(default=False, help_text="Paid, then cancelled within policy: staff to refund.")
    meeting_link = models.URLField(blank=True)
    respond_by = models.DateTimeField(help_text="A pending request expires if not answered by then.")
    pay_by = models.DateTimeField(null=True, blank=True, help_text="An approved session expires if unpaid by then.")
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True)

    # Payment summary (the seed's M-Pesa fields); attempts live in payments_app.
    payment_method = models.CharField(max_length=20, blank=True, default="")
    mpesa_phone = models.CharField(max_length=12, blank=True)
    mpesa_checkout_request_id = models.CharField(max_length=64, blank=True)
    mpesa_merchant_request_id = models.CharField(max_length=64, blank=True)
    # NULL, not "", when unset: the unique constraint applies only to real receipts.
    mpesa_receipt_number = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    mpesa_amount = models.PositiveIntegerField(null=True, blank=True)
    mpesa_result_code = models.CharField(max_length=16, blank=True)
    mpesa_result_desc = models.CharField(max_length=255, blank=True)
    payment_initiated_at = models.DateTimeField(null=True, blank=True)
    payment_verified_at = models.DateTimeField(null=True, blank=True)
    payment_attempts = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start"]
        indexes = [
            models.Index(fields=["mpesa_checkout_request_id", "payment_status"], name="session_checkout_pay_idx"),
            models.Index(fields=["client", "payment_status", "start"], name="session_client_pay_idx"),
            models.Index(fields=["therapist", "payment_status", "start"], name="session_therapist_pay_idx"),
            models.Index(fields=["status", "respond_by"], name="session_status_respond_idx"),
            models.Index(fields=["therapist", "start"], name="session_therapist_start_idx"),
            # 0005_perf_indexes says which query each of these serves.
            models.Index(fields=["start", "id"], name="session_start_id_idx"),
            models.Index(fields=["status", "start"], name="session_status_start_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["mpesa_receipt_number"],
                condition=Q(mpesa_receipt_number__isnull=False),
                name="session_unique_receipt",
            ),
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="session_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.start:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def reference(self) -> str:
        """Neutral booking reference: safe on a phone screen or an M-Pesa statement."""
        return f"BK{self.pk:06d}" if self.pk else "BK------"

    @property
    def is_upcoming(self) -> bool:
        return self.end > timezone.now()


class SessionEvent(AppendOnly, models.Model):
    """Append-only audit row for every change of a session's status or payment status."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=32)
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    from_payment_status = models.CharField(max_length=20, blank=True)
    to_payment_status = models.CharField(max_length=20, blank=True)
    note = models.TextField(blank=True)
    source = models.CharField(max_length=64, blank=True, help_text="system, web, api, admin, daraja…")
    source_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        # 0005_perf_indexes: the admin's newest-first list.
        indexes = [models.Index(fields=["at", "id"], name="session_event_at_id_idx")]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_status}→{self.to_status} ({self.at:%Y-%m-%d %H:%M})"

    append_only_rows = "Session events"

    @property
    def to_status_label(self) -> str:
        return Session.Status(self.to_status).label if self.to_status else ""

    @property
    def to_payment_status_label(self) -> str:
        return Session.PaymentStatus(self.to_payment_status).label if self.to_payment_status else ""


class TherapistNote(models.Model):
    """A therapist's private note on one session: readable by that therapist alone.

    Not registered in the admin, never serialised by the API and never logged;
    staff do not read it by default.
    """

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="therapist_notes")
    therapist = models.ForeignKey(TherapistProfile, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["session", "therapist"], name="note_session_therapist_idx")]

    def __str__(self) -> str:
        # Never the body: this string shows up in logs, admin history and error pages.
        return f"Private note {self.pk or '-'} on session {self.session_id}"


class AuditEntry(AppendOnly, models.Model):
    """Append-only record of staff reading or changing personal data in the admin.

    State changes are in SessionEvent and payment events in payments_app; this
    covers the rest of the Data Protection Act's "who looked at what".
    """

    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        LIST = "list", "Listed"
        CHANGE = "change", "Changed"
        ACTION = "action", "Ran an action"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    model = models.CharField(max_length=100, help_text="app_label.model")
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    path = models.CharField(max_length=300, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["model", "object_id"], name="audit_model_object_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_action_display()} {self.model} {self.object_id}"

    append_only_rows = "Audit entries"


# --- Intake forms, consent, and who read a client's sensitive data (issue 18) ---------------------


class IntakeQuestion(models.Model):
    """One question of a session type's intake form, in the therapist's words. Holds no personal data."""

    class Kind(models.TextChoices):
        SHORT_TEXT = "short_text", "Short text"
        LONG_TEXT = "long_text", "Long text"
        ONE_CHOICE = "one_choice", "One choice"
        MANY_CHOICES = "many_choices", "Several choices"
        YES_NO = "yes_no", "Yes or no"

    CHOICE_KINDS = (Kind.ONE_CHOICE, Kind.MANY_CHOICES)

    session_type = models.ForeignKey(SessionType, on_delete=models.CASCADE, related_name="intake_questions")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.CharField(max_length=300)
    help_text = models.CharField(max_length=300, blank=True)
    choices = models.JSONField(default=list, blank=True, help_text="The options of a choice question, in order.")
    required = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session_type", "position", "id"]

    def __str__(self) -> str:
        return f"Intake question {self.pk or '-'} of session type {self.session_type_id}"


class IntakeAnswer(models.Model):
    """A client's answer to one intake question. Personal data (sensitive): ``value``, with ``question_text``
    for context, about ``session.client``. Readable by the session's therapist (and the client) only."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="intake_answers")
    question = models.ForeignKey(IntakeQuestion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # What the client was asked, kept as asked: the therapist may reword or remove the question later.
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=IntakeQuestion.Kind.choices)
    question_text = models.CharField(max_length=300)
    value = models.JSONField(help_text="Text, a list of the options chosen, or true/false.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "question"], condition=Q(question__isnull=False), name="intake_answer_once"
            )
        ]

    def __str__(self) -> str:
        # Never the answer: this string shows up in logs and error pages.
        return f"Intake answer {self.pk or '-'} on session {self.session_id}"

    @property
    def display(self) -> str:
        if self.kind == IntakeQuestion.Kind.YES_NO:
            return "Yes" if self.value else "No"
        if isinstance(self.value, list):
            return ", ".join(str(v) for v in self.value)
        return str(self.value or "")


class Consent(models.Model):
    """A person's agreement to one version of the terms or the privacy notice. Personal data: ``user``,
    ``accepted_at``, ``source_ip``."""

    class Document(models.TextChoices):
        TERMS = "terms", "Terms of use"
        PRIVACY = "privacy", "Privacy notice"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consents")
    document = models.CharField(max_length=16, choices=Document.choices)
    version = models.CharField(max_length=20)
    accepted_at = models.DateTimeField(default=timezone.now)
    source_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-accepted_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "document", "version"], name="consent_once_per_version")]

    def __str__(self) -> str:
        return f"{self.get_document_display()} v{self.version} ({self.accepted_at:%Y-%m-%d %H:%M})"


class SensitiveAccess(AppendOnly, models.Model):
    """Append-only: who read a client's booking note or intake answers, when, and (staff) why.

    Personal data: ``actor``, ``subject``, ``reason``, ``source_ip``. A row with a ``reason`` is a staff
    "view with reason" and is shown to the client on their session page.
    """

    class Kind(models.TextChoices):
        INTAKE = "intake_answers", "Intake answers"
        NOTES = "client_notes", "Booking note"
        BOTH = "notes_and_intake", "Booking note and intake answers"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_role = models.CharField(max_length=16)
    subject = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    session = models.ForeignKey(Session, null=True, on_delete=models.SET_NULL, related_name="sensitive_accesses")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    path = models.CharField(max_length=300, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "sensitive accesses"
        indexes = [
            models.Index(fields=["subject", "at"], name="sensitive_subject_at_idx"),
            models.Index(fields=["actor", "at"], name="sensitive_actor_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_kind_display()} of session {self.session_id}"

    append_only_rows = "Access records"


class CorrectionRequest(models.Model):
    """A person asks staff to correct what we hold about them (Kenya DPA 2019 s.26(d), s.40)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Corrected"
        REFUSED = "refused", "Refused, with reason"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="correction_requests")
    message = models.TextField(help_text="What is wrong and what it should say, in the person's words.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    staff_note = models.TextField(blank=True, help_text="What was done, or why not (the person is told).")
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="correction_status_idx")]

    def __str__(self) -> str:
        # Never the message: it is the person's own words about their data.
        return f"Correction request {self.pk or '-'} ({self.get_status_display()})"


class KnownDevice(models.Model):
    """A browser someone has signed in from (issue 18): a sign-in from one not listed here emails them.

    The browser keeps a random id in a long-lived cookie; only its SHA-256 is stored.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="known_devices")
    key_hash = models.CharField(max_length=64)
    user_agent = models.CharField(max_length=200, blank=True, help_text="The browser as it described itself.")
    ip_address = models.GenericIPAddressField(null=True, blank=True, help_text="The address of the first sign-in.")
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "key_hash"], name="known_device_once_per_user")]

    def __str__(self) -> str:
        return f"{self.user} on {self.user_agent or 'an unknown browser'}"
