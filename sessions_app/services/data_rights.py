"""A person's data rights, self-service (Kenya DPA 2019 s.26, s.40): a copy of everything, a correction, erasure.

``DATA_MAP`` is the one list of what the database holds, model by model and field by field: each text,
email, JSON or address column is either ``personal`` (about a person: exported and erased) or
``not_personal`` (codes, states, our own wording). ``sessions_app/tests/services/test_data_rights.py``
walks the app registry and fails on any such column the map does not classify, on a personal field
the export leaves out, and on a model with personal fields that erasure has no rule for. A model added
later (in any app) therefore fails that test until someone decides, here, what it holds.

Other apps' models are named by label (``apps.get_model``), never imported: sessions_app still imports
neither payments_app nor notifications_app (docs/design.md#apps-and-dependencies).

Erasure anonymises in place rather than deleting: payments, receipts and the sessions they paid for
are kept for the tax and payment records the law asks for (receipt, amount, date, booking reference),
with every name, email, phone, note and address gone. It cannot be undone.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.sessions.models import Session as LoginSession
from django.core.mail import send_mail
from django.db import models, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from ..exceptions import NotAllowed, ValidationFailed
from ..models import CorrectionRequest, Session, SessionType, TherapistNote, TherapistProfile, User
from ..selectors.sessions import sessions_booked_ahead
from .sessions import session_cancel

logger = logging.getLogger(__name__)

S = Session.Status
P = Session.PaymentStatus

ERASED = "[erased]"
ERASED_NAME = "Deleted account"
CANCEL_REASON = "The client closed their account."
CORRECTION_MAX_CHARS = 2000


# --- What we hold -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """What one model holds, and whose it is.

    ``owners``: lookups from the model to the person the row is about (``"session__client"``); empty
    for rows about no one. ``secret``: personal fields never put in a copy (a password hash, a login
    key) but still erased. ``withheld``: why rows are counted, not copied, in the export ("" = copied).
    ``erase``: how erasure treats the rows (the words of the export's "what deletion does" list).
    """

    personal: frozenset[str] = frozenset()
    not_personal: frozenset[str] = frozenset()
    owners: tuple[str, ...] = ()
    secret: frozenset[str] = frozenset()
    withheld: str = ""
    erase: str = ""
    title: str = ""


def _spec(personal=(), not_personal=(), **kw) -> ModelSpec:
    return ModelSpec(personal=frozenset(personal), not_personal=frozenset(not_personal), **kw)


DATA_MAP: dict[str, ModelSpec] = {
    # --- Django's own tables
    "admin.LogEntry": _spec(
        personal={"object_repr", "change_message"},
        not_personal={"object_id"},
        withheld="Django admin's change history; every staff view and change is under 'Who viewed your data'.",
        erase="Entries about the account keep what was done and when, not the name.",
    ),
    "auth.Permission": _spec(not_personal={"name", "codename"}),
    "auth.Group": _spec(not_personal={"name"}),
    "contenttypes.ContentType": _spec(not_personal={"app_label", "model"}),
    "sessions.Session": _spec(
        personal={"session_key", "session_data"},
        secret={"session_key", "session_data"},
        erase="Every login session is ended.",
    ),
    "authtoken.Token": _spec(
        personal={"key"},
        secret={"key"},
        owners=("user",),
        withheld="Keys that sign the app in as you: secrets, so counted, never copied.",
        title="API sign-in keys",
        erase="Deleted.",
    ),
    # django-otp's two-step sign-in devices: the app secret and recovery codes are secrets.
    "otp_totp.TOTPDevice": _spec(
        personal={"key"},
        not_personal={"name"},
        owners=("user",),
        secret={"key"},
        withheld="Your authenticator app's secret: counted, never copied.",
        title="Two-step sign-in (authenticator app)",
        erase="Deleted.",
    ),
    "otp_static.StaticDevice": _spec(
        not_personal={"name"},
        owners=("user",),
        title="Two-step sign-in (recovery codes)",
        erase="Deleted.",
    ),
    "otp_static.StaticToken": _spec(
        personal={"token"},
        secret={"token"},
        owners=("device__user",),
        withheld="Your recovery codes: secrets, so counted, never copied.",
        title="Recovery codes",
        erase="Deleted.",
    ),
    # --- sessions_app
    "sessions_app.User": _spec(
        personal={"email", "full_name", "phone", "password"},
        not_personal={"role", "time_zone"},
        owners=("pk",),
        secret={"password"},
        title="Your account",
        erase="Name, email and phone are removed; the account can no longer sign in.",
    ),
    "sessions_app.TherapistProfile": _spec(
        personal={"title", "bio", "specialties", "languages", "city"},
        not_personal={"time_zone"},
        owners=("user",),
        title="Your practitioner profile",
        erase="The profile is emptied and taken out of the directory.",
    ),
    "sessions_app.SessionType": _spec(
        not_personal={"name", "mode"}, owners=("therapist__user",), title="Your session types"
    ),
    "sessions_app.TimeOff": _spec(
        personal={"reason"}, owners=("therapist__user",), title="Your time off", erase="Deleted."
    ),
    "sessions_app.Session": _spec(
        personal={"client_notes", "decline_reason", "cancel_reason", "meeting_link", "mpesa_phone"},
        not_personal={
            "status",
            "payment_status",
            "idempotency_key",
            "payment_method",
            "mpesa_checkout_request_id",
            "mpesa_merchant_request_id",
            "mpesa_receipt_number",
            "mpesa_result_code",
            "mpesa_result_desc",
        },
        owners=("client", "therapist__user"),
        title="Sessions",
        erase=(
            "Future bookings are cancelled first, under the cancellation policy. Notes, reasons, links and "
            "the paying phone are removed; the reference, date, amount and M-Pesa receipt stay."
        ),
    ),
    "sessions_app.SessionEvent": _spec(
        personal={"note", "source_ip"},
        not_personal={"action", "from_status", "to_status", "from_payment_status", "to_payment_status", "source"},
        owners=("session__client", "session__therapist__user", "actor"),
        title="The history of your sessions",
        erase="Notes and addresses are removed; what happened and when stays.",
    ),
    "sessions_app.TherapistNote": _spec(
        personal={"body"},
        owners=("session__client", "therapist__user"),
        withheld=(
            "Your practitioner's private working notes. Nobody but that practitioner can read them, staff "
            "included; ask your practitioner for a copy."
        ),
        title="Practitioner's private notes",
        erase="Deleted.",
    ),
    "sessions_app.AuditEntry": _spec(
        personal={"detail", "path", "source_ip"},
        not_personal={"action", "model", "object_id"},
        title="Who viewed your data",
        erase="Kept as the record of who saw what; any search text naming you is removed.",
    ),
    "sessions_app.CorrectionRequest": _spec(
        personal={"message", "staff_note"},
        not_personal={"status"},
        owners=("user",),
        title="Your correction requests",
        erase="The text is removed.",
    ),
    "sessions_app.KnownDevice": _spec(
        personal={"ip_address", "user_agent", "key_hash"},
        owners=("user",),
        secret={"key_hash"},
        title="Browsers you signed in from",
        erase="Deleted.",
    ),
    "sessions_app.IntakeQuestion": _spec(
        # A practitioner's own questions, the same for every client: no one's personal data.
        not_personal={"kind", "text", "help_text", "choices"},
    ),
    "sessions_app.IntakeAnswer": _spec(
        personal={"value", "question_text"},
        not_personal={"kind"},
        owners=("session__client",),
        title="Your answers to intake questions",
        erase="Deleted.",
    ),
    "sessions_app.Consent": _spec(
        personal={"source_ip"},
        not_personal={"document", "version"},
        owners=("user",),
        title="What you agreed to, and when",
        erase="The versions and times stay, as proof of what was agreed; the network address is removed.",
    ),
    "sessions_app.SensitiveAccess": _spec(
        personal={"reason", "path", "source_ip"},
        not_personal={"actor_role", "kind"},
        owners=("subject",),
        title="Who read your booking notes and intake answers",
        erase="Kept as the record of who read what; any text naming you and your network address are removed.",
    ),
    # --- payments_app
    "payments_app.MoneyCase": _spec(
        personal={"phone", "reason", "resolution_note"},
        not_personal={"kind", "status", "receipt", "refund_reference"},
        owners=("client",),
        title="Money owed back to you",
        erase="The phone is removed; amount, receipt, refund reference and date stay (the law keeps money records).",
    ),
    "payments_app.Refund": _spec(
        personal={"result_desc", "result_payload"},
        not_personal={
            "method",
            "status",
            "originator_conversation_id",
            "conversation_id",
            "mpesa_reference",
            "result_code",
        },
        owners=("case__client",),
        title="Refunds to you",
        erase="Phones in M-Pesa's answer are removed; amount, reference and date stay.",
    ),
    "payments_app.CreditEntry": _spec(
        personal={"reason"},
        not_personal={"kind"},
        owners=("client",),
        title="Your session credit",
        erase="Any text naming you is removed; amounts and dates stay.",
    ),
    # --- payments_app
    "payments_app.PaymentAttempt": _spec(
        personal={"phone", "payer_phone", "callback_payload", "problem_payload", "message"},
        not_personal={
            "account_reference",
            "merchant_request_id",
            "checkout_request_id",
            "status",
            "result_code",
            "result_desc",
            "mpesa_receipt_number",
            "review_reason",
            "problem_class",
            "problem",
        },
        owners=("session__client", "initiated_by"),
        title="M-Pesa payments",
        erase="Phones are removed; amount, receipt and date stay.",
    ),
    "payments_app.MpesaCallback": _spec(
        personal={"payload"},
        # source_ip is Safaricom's server, not the payer.
        not_personal={"source_ip", "checkout_request_id", "merchant_request_id", "result_code", "outcome", "note"},
        owners=("attempt__session__client",),
        title="M-Pesa's messages about your payments",
        erase="The payer's phone is removed from each message; amount, receipt and date stay.",
    ),
    "payments_app.PaymentEvent": _spec(
        personal={"message", "data", "source_ip"},
        not_personal={"kind", "source"},
        owners=("session__client", "attempt__session__client"),
        title="The history of your payments",
        erase="Phones and addresses are removed.",
    ),
    # --- notifications_app
    "notifications_app.Notification": _spec(
        personal={"to_email", "last_error", "delivery_detail"},
        # A subject names the booking reference only (notifications_app/emails.py); erasure still scrubs it.
        not_personal={"subject", "kind", "status", "provider_message_id", "delivery_status"},
        owners=("recipient",),
        title="Emails we sent you",
        erase="The address is removed; emails not yet sent are not sent.",
    ),
}

# Models with personal fields that the export shows in a section of its own, not by owner.
EXPORTED_APART = {"sessions_app.AuditEntry": "viewed_by"}

# The column types that may hold personal data: every one of them must be classified above.
TEXT_FIELDS = (models.CharField, models.TextField, models.EmailField, models.JSONField, models.GenericIPAddressField)


def classifiable_fields(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if isinstance(f, TEXT_FIELDS)]


def data_map_problems() -> list[str]:
    """What ``DATA_MAP`` fails to say about the installed models ([] when it is complete).

    Every text, email, JSON and address column of every concrete model must be classified; a
    classified field must exist; a model with personal fields needs an erasure rule, and a way into the
    export (``owners``) unless its personal fields are all secrets or it says why it is withheld.
    """
    problems = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        label = model._meta.label
        fields = set(classifiable_fields(model))
        spec = DATA_MAP.get(label)
        if spec is None:
            if fields:
                problems.append(f"{label}: not in DATA_MAP; classify {sorted(fields)}")
            continue
        unclassified = fields - spec.personal - spec.not_personal
        if unclassified:
            problems.append(f"{label}: classify {sorted(unclassified)} as personal or not_personal")
        both = spec.personal & spec.not_personal
        if both:
            problems.append(f"{label}: {sorted(both)} both personal and not personal")
        names = {f.name for f in model._meta.concrete_fields}
        stale = (spec.personal | spec.not_personal) - names
        if stale:
            problems.append(f"{label}: DATA_MAP names {sorted(stale)}, which the model does not have")
        if spec.personal and not spec.erase:
            problems.append(f"{label}: holds personal data ({sorted(spec.personal)}) but has no erasure rule")
        if spec.personal - spec.secret and not spec.owners and not spec.withheld and label not in EXPORTED_APART:
            problems.append(f"{label}: personal fields but no owners (how rows are found for the export)")
    return problems


def _model(label: str) -> type[models.Model] | None:
    try:
        return apps.get_model(label)
    except LookupError:  # an app of the map not installed (a trimmed settings module)
        return None


# --- Export ------------------------------------------------------------------------------------


def _owner_q(spec: ModelSpec, user: User) -> Q:
    q = Q(pk__in=[])
    for path in spec.owners:
        q |= Q(pk=user.pk) if path == "pk" else Q(**{path: user})
    return q


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def _row(obj: models.Model, spec: ModelSpec) -> dict[str, Any]:
    row: dict[str, Any] = {"id": obj.pk}
    for f in obj._meta.concrete_fields:
        if f.primary_key or f.name in spec.secret:
            continue
        if isinstance(f, TEXT_FIELDS) and f.name not in spec.personal | spec.not_personal:
            continue  # unclassified (the registry test fails on it): never guessed into a copy
        value = getattr(obj, f.attname)
        if f.choices and value not in (None, ""):
            row[f"{f.name}_label"] = str(dict(f.flatchoices).get(value, value))
        row[f.attname if f.is_relation else f.name] = _plain(value)
    return row


def _rows_about(user: User, label: str, spec: ModelSpec) -> models.QuerySet:
    model = _model(label)
    return model._default_manager.filter(_owner_q(spec, user)).distinct().order_by("pk")


def _viewed(user: User, held: dict[str, list[int]]) -> list[dict[str, Any]]:
    """AuditEntry rows about any row held about ``user`` (opened, changed, or in an admin action)."""
    from ..models import AuditEntry

    q = Q(pk__in=[])
    for label, pks in held.items():
        if pks:
            q |= Q(model=label.lower(), object_id__in=[str(pk) for pk in pks])
    entries = list(AuditEntry.objects.filter(q).select_related("actor").order_by("at", "id"))
    # An admin action names its rows in ``detail`` ("mark_refunded on 3,4"): read those too.
    for label, pks in held.items():
        wanted = {str(pk) for pk in pks}
        if not wanted:
            continue
        for entry in AuditEntry.objects.filter(model=label.lower(), action="action").select_related("actor"):
            ids = set(entry.detail.rpartition(" on ")[2].split(","))
            if ids & wanted and entry not in entries:
                entries.append(entry)
    entries.sort(key=lambda e: (e.at, e.pk))
    return [
        {
            "at": _plain(e.at),
            "who": "You" if e.actor_id == user.pk else (f"Staff member #{e.actor_id}" if e.actor_id else "Staff"),
            "action": e.get_action_display(),
            "what": e.model,
            "record": e.object_id,
        }
        for e in entries
    ]


def user_export(*, user: User) -> dict[str, Any]:
    """Everything held about ``user``, as plain JSON-ready data (the download and the readable page).

    Sections follow ``DATA_MAP``: every model with rows about the person, every classified field of
    those rows (never a secret), plus who viewed them (the audit trail) and what deletion would do.
    """
    sections: list[dict[str, Any]] = []
    held: dict[str, list[int]] = {}
    for label, spec in DATA_MAP.items():
        if not spec.owners or _model(label) is None:
            continue
        rows = list(_rows_about(user, label, spec))
        held[label] = [r.pk for r in rows]
        if spec.withheld:
            sections.append(
                {"model": label, "title": spec.title, "count": len(rows), "withheld": spec.withheld, "rows": []}
            )
            continue
        if not rows and label != "sessions_app.User":
            continue
        sections.append(
            {
                "model": label,
                "title": spec.title or label,
                "count": len(rows),
                "rows": [_row(obj, spec) for obj in rows],
            }
        )
    consents = [
        {
            "what": "Privacy notice",
            "agreed_at": _plain(user.privacy_consent_at) if user.privacy_consent_at else None,
        }
    ]
    return {
        "format": "data-export/1",
        "generated_at": _plain(timezone.now()),
        "site": settings.PRODUCT_NAME,
        "account": {
            "id": user.pk,
            "email": user.email,
            "full_name": user.full_name,
            "phone": user.phone,
            "role": user.role,
            "time_zone": user.time_zone,
            "date_joined": _plain(user.date_joined),
            "last_login": _plain(user.last_login) if user.last_login else None,
        },
        "consents": consents,
        "sections": sections,
        "viewed_by": _viewed(user, held),
        "deletion": [
            {"what": DATA_MAP[label].title or label, "does": DATA_MAP[label].erase}
            for label in DATA_MAP
            if DATA_MAP[label].erase and DATA_MAP[label].title
        ],
    }


# --- Correction --------------------------------------------------------------------------------


def _staff_emails() -> list[str]:
    return list(
        User.objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .order_by("pk")
        .values_list("email", flat=True)
    )


def _tell_staff_of_correction(request_id: int) -> None:
    """Staff hear that a request is waiting; the email names the request, never the person or their words."""
    recipients = _staff_emails()
    if not recipients:
        logger.warning("Correction request %s: no staff member with an email to tell.", request_id)
        return
    link = f"{settings.SITE_URL}/admin/sessions_app/correctionrequest/{request_id}/change/"
    try:
        send_mail(
            subject=f"Correction request {request_id} is waiting",
            message=(
                f"Someone asked us to correct the data we hold about them (request {request_id}).\n"
                f"Please answer it within 14 days: {link}\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
    except Exception:  # noqa: BLE001 - the request is recorded; staff also see it in the admin
        logger.exception("Could not email staff about correction request %s.", request_id)


def correction_request_create(*, user: User, message: str) -> CorrectionRequest:
    """Record a person's request to correct their data and tell staff (once the row is committed)."""
    text = (message or "").strip()
    if not text:
        raise ValidationFailed("Tell us what is wrong and what it should say.", field="message")
    if len(text) > CORRECTION_MAX_CHARS:
        raise ValidationFailed(f"Please keep it under {CORRECTION_MAX_CHARS} characters.", field="message")
    if user.erased_at is not None or not user.is_active:
        raise NotAllowed("This account is closed.")
    with transaction.atomic():
        request = CorrectionRequest.objects.create(user=user, message=text)
        transaction.on_commit(lambda: _tell_staff_of_correction(request.pk), robust=True)
    return request


def correction_request_handle(
    *, request: CorrectionRequest, actor: User, status: str, staff_note: str = ""
) -> CorrectionRequest:
    """Staff record what they did about a correction request (and who, and when)."""
    if not actor.is_staff:
        raise NotAllowed("Only staff answer correction requests.")
    if status not in CorrectionRequest.Status.values:
        raise ValidationFailed("Choose a status from the list.", field="status")
    with transaction.atomic():
        locked = CorrectionRequest.objects.select_for_update().get(pk=request.pk)
        locked.status = status
        locked.staff_note = (staff_note or "").strip()
        if status == CorrectionRequest.Status.OPEN:
            locked.handled_by, locked.handled_at = None, None
        elif locked.handled_at is None or locked.handled_by_id != actor.pk:
            locked.handled_by, locked.handled_at = actor, timezone.now()
        locked.save(update_fields=["status", "staff_note", "handled_by", "handled_at"])
    return locked


# --- Erasure -----------------------------------------------------------------------------------


@dataclass
class ErasureResult:
    user_id: int
    cancelled: list[str] = field(default_factory=list)  # references of the bookings cancelled first
    changed: dict[str, int] = field(default_factory=dict)  # model label -> rows anonymised
    deleted: dict[str, int] = field(default_factory=dict)  # model label -> rows deleted
    already: bool = False


_MASKED_PHONE = re.compile(r"\b(?:\+?254|0)[17]\d?\*{3,}\d{1,3}\b")


def _phone_forms(phone: str) -> list[str]:
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 12 and digits.startswith("254"):
        return [f"+{digits}", digits, "0" + digits[3:]]
    return [phone] if phone else []


def _needles(*, user: User, phones: set[str]) -> list[str]:
    found = {user.email, user.full_name, *[form for p in {user.phone, *phones} for form in _phone_forms(p)]}
    # Longest first, so a full name goes before any shorter form inside it; nothing under 5 characters.
    return sorted((n for n in found if n and len(n) >= 5), key=len, reverse=True)


def scrub_text(text: str, needles: list[str]) -> str:
    """``text`` with every needle (case-insensitive) and every masked phone replaced by [erased]."""
    if not text:
        return text
    for needle in needles:
        text = re.sub(re.escape(needle), ERASED, text, flags=re.IGNORECASE)
    return _MASKED_PHONE.sub(ERASED, text)


def scrub_json(value: Any, needles: list[str]) -> Any:
    """A JSON value with the payer's phone (Daraja's ``PhoneNumber`` item, any phone key) and every needle gone."""
    if isinstance(value, dict):
        if value.get("Name") == "PhoneNumber":
            return {**value, "Value": None}
        return {
            k: (None if "phone" in k.lower() or k.lower() == "msisdn" else scrub_json(v, needles))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub_json(v, needles) for v in value]
    if isinstance(value, str):
        return scrub_text(value, needles)
    if isinstance(value, int) and not isinstance(value, bool):
        digits = {re.sub(r"\D", "", n) for n in needles if n[-9:].isdigit()}
        return None if str(value) in digits else value
    return value


def _refusal(user: User, now: dt.datetime) -> str:
    """Why this account cannot be deleted now ("" when it can)."""
    if user.is_staff or user.is_superuser or user.role == User.Role.STAFF:
        return "Staff accounts are closed by another staff member in the admin, so that the access record stays whole."
    if hasattr(user, "therapist_profile"):
        ahead = list(sessions_booked_ahead(therapist=user.therapist_profile)[:6])
        if ahead:
            refs = ", ".join(f"{s.reference} ({timezone.localtime(s.start):%d %b %Y %H:%M})" for s in ahead[:5])
            more = " and more" if len(ahead) > 5 else ""
            return (
                f"You have sessions ahead: {refs}{more}. Complete, decline or cancel them first (your clients "
                "are told), then delete your account."
            )
    own = Session.objects.filter(client=user, end__gt=now)
    running = own.filter(Q(status=S.IN_PROGRESS) | Q(status=S.CONFIRMED, start__lte=now)).first()
    if running is not None:
        return f"Your session {running.reference} is under way. You can delete your account once it has ended."
    paying = own.filter(payment_status=P.PROCESSING).exclude(status__in=(S.CANCELLED, S.EXPIRED, S.DECLINED)).first()
    if paying is not None:
        return (
            f"An M-Pesa payment for {paying.reference} is still waiting for an answer. Try again in a few minutes, "
            "once it has gone through or failed."
        )
    return ""


def user_erase_preview(*, user: User, now: dt.datetime | None = None) -> dict[str, Any]:
    """What deleting the account would do now: the refusal, if any, and the bookings that would be cancelled."""
    from ..selectors.sessions import session_cancellation_policy

    now = now or timezone.now()
    refusal = _refusal(user, now)
    future = Session.objects.filter(
        client=user, status__in=(S.PENDING_APPROVAL, S.APPROVED, S.CONFIRMED), start__gt=now
    )
    return {
        "refusal": refusal,
        "cancels": [
            {"session": s, "policy": session_cancellation_policy(session=s, actor=user, now=now)}
            for s in future.select_related("therapist__user", "session_type").order_by("start")
        ],
        "deletion": [
            {"what": spec.title, "does": spec.erase} for spec in DATA_MAP.values() if spec.erase and spec.title
        ],
    }


def _count(result: ErasureResult, label: str, n: int, *, deleted: bool = False) -> None:
    target = result.deleted if deleted else result.changed
    if n:
        target[label] = target.get(label, 0) + n


def _scrub_rows(qs: models.QuerySet, fields: dict[str, str], needles: list[str]) -> int:
    """Rewrite rows one by one: ``fields`` maps a field to "clear", "none", "text" (scrub) or "json" (scrub)."""
    changed = 0
    for row in qs.only("pk", *fields).iterator(chunk_size=500):
        update: dict[str, Any] = {}
        for name, how in fields.items():
            old = getattr(row, name)
            new = {"clear": "", "none": None}.get(how, old)
            if how == "text":
                new = scrub_text(old or "", needles)
            elif how == "json":
                new = scrub_json(old, needles)
            if new != old:
                update[name] = new
        if update:
            type(row)._default_manager.filter(pk=row.pk).update(**update)
            changed += 1
    return changed


def _end_logins(user: User, result: ErasureResult) -> None:
    token_model = _model("authtoken.Token")
    if token_model is not None:
        _count(result, "authtoken.Token", token_model.objects.filter(user=user).delete()[0], deleted=True)
    for label in ("otp_totp.TOTPDevice", "otp_static.StaticDevice", "sessions_app.KnownDevice"):
        model = _model(label)
        if model is not None:
            _count(result, label, model.objects.filter(user=user).delete()[0], deleted=True)
    ended = 0
    for login in LoginSession.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500):
        if str(login.get_decoded().get("_auth_user_id")) == str(user.pk):
            login.delete()
            ended += 1
    _count(result, "sessions.Session", ended, deleted=True)


def _erase_payments(user: User, session_ids: list[int], needles: list[str], result: ErasureResult) -> None:
    attempt_model = _model("payments_app.PaymentAttempt")
    callback_model = _model("payments_app.MpesaCallback")
    event_model = _model("payments_app.PaymentEvent")
    if attempt_model is not None:
        attempts = attempt_model.objects.filter(Q(session_id__in=session_ids) | Q(initiated_by=user))
        fields = {
            "phone": "clear",
            "payer_phone": "clear",
            "message": "text",
            "result_desc": "text",
            "callback_payload": "json",
            "problem_payload": "json",
        }
        _count(result, "payments_app.PaymentAttempt", _scrub_rows(attempts, fields, needles))
    if callback_model is not None:
        # Callbacks of the person's pushes, and any other that carries their phone (an unknown checkout id).
        phone_q = Q(pk__in=[])
        for needle in needles:
            if needle[-9:].isdigit():
                phone_q |= Q(as_text__contains=needle.lstrip("+"))
        callbacks = callback_model.objects.annotate(as_text=Cast("payload", TextField())).filter(
            Q(attempt__session_id__in=session_ids) | phone_q
        )
        _count(
            result,
            "payments_app.MpesaCallback",
            _scrub_rows(callbacks, {"payload": "json"}, needles),
        )
    if event_model is not None:
        events = event_model.objects.filter(Q(session_id__in=session_ids) | Q(attempt__session_id__in=session_ids))
        n = _scrub_rows(events, {"message": "text", "data": "json"}, needles)
        n += event_model.objects.filter(actor=user).exclude(source_ip=None).update(source_ip=None)
        _count(result, "payments_app.PaymentEvent", n)


def _erase_notifications(user: User, session_ids: list[int], needles: list[str], result: ErasureResult) -> None:
    model = _model("notifications_app.Notification")
    if model is None:
        return
    queued = model.Status.QUEUED
    mine = model.objects.filter(recipient=user)
    n = mine.filter(status=queued).update(status=model.Status.SKIPPED)
    n += mine.exclude(to_email="", last_error="", delivery_detail="").update(
        to_email="", last_error="", delivery_detail=""
    )
    n += _scrub_rows(
        model.objects.filter(Q(recipient=user) | Q(session_id__in=session_ids)), {"subject": "text"}, needles
    )
    _count(result, "notifications_app.Notification", n)


def _erase_audit(user: User, needles: list[str], result: ErasureResult) -> None:
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    from ..models import AuditEntry

    text_q = Q(pk__in=[])
    for needle in needles:
        text_q |= Q(detail__icontains=needle) | Q(path__icontains=needle)
    _count(
        result,
        "sessions_app.AuditEntry",
        _scrub_rows(AuditEntry.objects.filter(text_q), {"detail": "text", "path": "text"}, needles),
    )
    about = Q(content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk))
    profile = TherapistProfile.objects.filter(user=user).first()
    if profile is not None:
        about |= Q(content_type=ContentType.objects.get_for_model(TherapistProfile), object_id=str(profile.pk))
    log_q = about
    for needle in needles:
        log_q |= Q(object_repr__icontains=needle) | Q(change_message__icontains=needle)
    n = LogEntry.objects.filter(about).exclude(object_repr=ERASED_NAME).update(object_repr=ERASED_NAME)
    n += _scrub_rows(LogEntry.objects.filter(log_q), {"object_repr": "text", "change_message": "text"}, needles)
    _count(result, "admin.LogEntry", n)


def _erase_sessions(user: User, session_ids: list[int], needles: list[str], result: ErasureResult) -> None:
    from ..models import SessionEvent

    as_client = Session.objects.filter(client=user)
    n = _scrub_rows(
        as_client,
        {
            "client_notes": "clear",
            "decline_reason": "clear",
            "cancel_reason": "clear",
            "meeting_link": "clear",
            "mpesa_phone": "clear",
            "mpesa_result_desc": "text",
        },
        needles,
    )
    # A practitioner's past sessions are their clients' history: only the practitioner's traces go.
    n += _scrub_rows(
        Session.objects.filter(therapist__user=user),
        {"meeting_link": "clear", "decline_reason": "text", "cancel_reason": "text"},
        needles,
    )
    _count(result, "sessions_app.Session", n)
    events = SessionEvent.objects.filter(session__client=user)
    n = _scrub_rows(events, {"note": "clear", "source_ip": "none"}, needles)
    n += _scrub_rows(
        SessionEvent.objects.filter(Q(actor=user) | Q(session_id__in=session_ids)).exclude(session__client=user),
        {"note": "text", "source_ip": "none"},
        needles,
    )
    _count(result, "sessions_app.SessionEvent", n)
    notes = TherapistNote.objects.filter(Q(session__client=user) | Q(therapist__user=user))
    _count(result, "sessions_app.TherapistNote", notes.delete()[0], deleted=True)


def _erase_privacy_records(user: User, needles: list[str], result: ErasureResult) -> None:
    from ..models import Consent, IntakeAnswer, SensitiveAccess

    _count(
        result, "sessions_app.IntakeAnswer", IntakeAnswer.objects.filter(session__client=user).delete()[0], deleted=True
    )
    _count(
        result, "sessions_app.Consent", Consent.objects.filter(user=user).exclude(source_ip=None).update(source_ip=None)
    )
    accesses = SensitiveAccess.objects.filter(Q(subject=user) | Q(actor=user))
    n = _scrub_rows(accesses, {"reason": "text", "path": "text"}, needles)
    n += SensitiveAccess.objects.filter(actor=user).exclude(source_ip=None).update(source_ip=None)
    _count(result, "sessions_app.SensitiveAccess", n)


def _erase_money(user: User, needles: list[str], result: ErasureResult) -> None:
    case_model = _model("payments_app.MoneyCase")
    refund_model = _model("payments_app.Refund")
    credit_model = _model("payments_app.CreditEntry")
    if case_model is not None:
        cases = case_model.objects.filter(client=user)
        n = _scrub_rows(cases, {"phone": "clear", "reason": "text", "resolution_note": "text"}, needles)
        _count(result, "payments_app.MoneyCase", n)
    if refund_model is not None:
        refunds = refund_model.objects.filter(case__client=user)
        _count(
            result,
            "payments_app.Refund",
            _scrub_rows(refunds, {"result_desc": "text", "result_payload": "json"}, needles),
        )
    if credit_model is not None:
        _count(
            result,
            "payments_app.CreditEntry",
            _scrub_rows(credit_model.objects.filter(client=user), {"reason": "text"}, needles),
        )


def _erase_practice(user: User, result: ErasureResult) -> None:
    from ..models import TimeOff, WeeklyAvailability

    profile = TherapistProfile.objects.filter(user=user).first()
    if profile is None:
        return
    TherapistProfile.objects.filter(pk=profile.pk).update(
        title="", bio="", specialties="", languages="", city="", accepting_new_clients=False
    )
    _count(result, "sessions_app.TherapistProfile", 1)
    SessionType.objects.filter(therapist=profile).update(is_active=False)
    profile.refresh_from_price()  # no active type: out of the directory
    _count(result, "sessions_app.TimeOff", TimeOff.objects.filter(therapist=profile).delete()[0], deleted=True)
    _count(
        result,
        "sessions_app.WeeklyAvailability",
        WeeklyAvailability.objects.filter(therapist=profile).delete()[0],
        deleted=True,
    )


def user_erase(
    *, user: User, source: str = "web", source_ip: str | None = None, now: dt.datetime | None = None
) -> ErasureResult:
    """Delete a person's account: cancel their future bookings under the policy, then anonymise everything.

    One transaction. Raises NotAllowed, with the reason, for staff, for a practitioner with sessions
    ahead, and while a session is under way or a payment waits for M-Pesa. Safe to call twice (the
    second call finds the account erased and changes nothing). Cannot be undone.
    """
    now = now or timezone.now()
    result = ErasureResult(user_id=user.pk)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.erased_at is not None:
            result.already = True
            return result
        refusal = _refusal(locked, now)
        if refusal:
            raise NotAllowed(refusal)
        future = Session.objects.filter(
            client=locked, status__in=(S.PENDING_APPROVAL, S.APPROVED, S.CONFIRMED), start__gt=now
        ).order_by("start")
        for session in future:
            cancelled = session_cancel(
                session=session, actor=locked, reason=CANCEL_REASON, source=source, source_ip=source_ip
            )
            result.cancelled.append(cancelled.reference)

        session_ids = list(
            Session.objects.filter(Q(client=locked) | Q(therapist__user=locked)).values_list("pk", flat=True)
        )
        client_session_ids = list(Session.objects.filter(client=locked).values_list("pk", flat=True))
        phones = set(
            Session.objects.filter(client=locked).exclude(mpesa_phone="").values_list("mpesa_phone", flat=True)
        )
        attempt_model = _model("payments_app.PaymentAttempt")
        if attempt_model is not None:
            for phone, payer in attempt_model.objects.filter(session_id__in=client_session_ids).values_list(
                "phone", "payer_phone"
            ):
                phones.update(p for p in (phone, payer) if p)
        needles = _needles(user=locked, phones=phones)

        _erase_sessions(locked, session_ids, needles, result)
        _erase_payments(locked, client_session_ids, needles, result)
        _erase_notifications(locked, session_ids, needles, result)
        _erase_audit(locked, needles, result)
        _erase_practice(locked, result)
        _erase_privacy_records(locked, needles, result)
        _erase_money(locked, needles, result)
        _count(
            result,
            "sessions_app.CorrectionRequest",
            CorrectionRequest.objects.filter(user=locked).update(message="", staff_note=""),
        )
        _end_logins(locked, result)

        locked.email = f"deleted-{locked.pk}@deleted.invalid"
        locked.full_name = ERASED_NAME
        locked.phone = ""
        locked.is_active = False
        locked.is_staff = False
        locked.is_superuser = False
        locked.erased_at = now
        locked.set_unusable_password()  # also invalidates every login session, whatever the session store
        locked.save()
        locked.groups.clear()
        locked.user_permissions.clear()
        _count(result, "sessions_app.User", 1)
    logger.info(
        "Account %s deleted: %s bookings cancelled, anonymised %s, deleted %s.",
        user.pk,
        len(result.cancelled),
        result.changed,
        result.deleted,
    )
    return result
