from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.paginator import Paginator
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from . import services
from .exceptions import BookingError
from .http import client_ip
from .models import (
    AuditEntry,
    CorrectionRequest,
    SensitiveAccess,
    Session,
    SessionEvent,
    SessionType,
    TherapistProfile,
    TimeOff,
    User,
    WeeklyAvailability,
)
from .services import privacy

COUNT_CAP = 10_000


class BoundedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows, in one query whatever the table's size.

    The admin's own paginator runs ``COUNT(*)`` over the whole filtered table on every page
    (2.6 M session events: seconds). Past the cap the list says "10,001 results" and pages up to
    there; a search or a filter narrows it. Used with ``show_full_result_count = False``, so the
    admin does not count the unfiltered table a second time either.
    """

    @cached_property
    def count(self) -> int:
        return self.object_list[: COUNT_CAP + 1].count()


def values_filter(field: str, title: str, values) -> type[admin.SimpleListFilter]:
    """A list filter over a fixed list of values.

    Django's default filter for a plain CharField (``AllValuesFieldListFilter``) runs
    ``SELECT DISTINCT field`` over the whole table on every page. A value missing here can
    still be filtered on through the URL (``?field=value``).
    """

    class ValuesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            return [(value, label) for value, label in values]

        def queryset(self, request, queryset):
            return queryset.filter(**{field: self.value()}) if self.value() else queryset

    ValuesFilter.title = title
    ValuesFilter.__name__ = f"{field.title()}ValuesFilter"
    return ValuesFilter


class LargeTableAdminMixin:
    """Changelist settings for tables that grow without bound: no whole-table count or scan.

    No ``date_hierarchy`` (it runs MIN/MAX then DISTINCT date_trunc over the whole table); the
    date filters used instead (``DateFieldListFilter``) are fixed links that run no query.
    """

    paginator = BoundedCountPaginator
    show_full_result_count = False


class AuditedAdminMixin:
    """Writes an AuditEntry whenever staff list, open, change or run an action on these rows."""

    def _audit(self, request, action: str, object_id: str = "", detail: str = "") -> None:
        services.audit_record(
            actor=request.user,
            action=action,
            model=self.model._meta.label_lower,
            object_id=object_id,
            detail=detail,
            path=request.get_full_path(),
            source_ip=client_ip(request),
        )

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if request.method == "POST" and request.POST.get("action"):
            ids = ",".join(request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME))[:400]
            self._audit(request, "action", detail=f"{request.POST['action']} on {ids}")
        elif getattr(response, "status_code", 200) == 200:
            self._audit(request, "list", detail=request.GET.urlencode()[:500])
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if getattr(response, "status_code", 200) < 400:
            self._audit(request, "change" if request.method == "POST" else "view", object_id=object_id)
        return response


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "phone", "role", "is_active", "is_staff", "date_joined"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["email", "full_name", "phone"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal", {"fields": ("full_name", "phone", "time_zone", "privacy_consent_at", "email_verified_at")}),
        (
            "Role and permissions",
            {"fields": ("role", "is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "role", "password1", "password2")}),
    )


class SessionTypeInline(admin.TabularInline):
    model = SessionType
    extra = 0


class WeeklyAvailabilityInline(admin.TabularInline):
    model = WeeklyAvailability
    extra = 0


class TimeOffInline(admin.TabularInline):
    model = TimeOff
    extra = 0


class RevealForm(forms.Form):
    reason = forms.CharField(
        label="Why do you need to read this client's note and intake answers?",
        min_length=privacy.REASON_MIN,
        max_length=privacy.REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="A legal need only (e.g. a court order, a risk to life). Who, when and this reason are recorded "
        "and shown to the client.",
    )


@admin.register(TherapistProfile)
class TherapistProfileAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["display_name", "title", "city", "accepting_new_clients", "time_zone"]
    list_filter = ["accepting_new_clients", "time_zone"]
    search_fields = ["user__full_name", "user__email", "specialties", "languages"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    inlines = [SessionTypeInline, WeeklyAvailabilityInline, TimeOffInline]


@admin.register(SessionType)
class SessionTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "therapist", "duration_minutes", "price_kes", "mode", "is_active"]
    list_filter = ["mode", "is_active"]
    list_select_related = ["therapist__user"]
    search_fields = ["name", "therapist__user__full_name"]

    def delete_queryset(self, request, queryset):
        # "Delete selected" deletes in bulk, which skips SessionType.delete(): refresh each therapist's
        # stored from-price (the directory's) once the rows are gone.
        therapist_ids = set(queryset.values_list("therapist_id", flat=True))
        super().delete_queryset(request, queryset)
        for therapist_id in therapist_ids:
            TherapistProfile(pk=therapist_id).refresh_from_price()


@admin.register(WeeklyAvailability)
class WeeklyAvailabilityAdmin(admin.ModelAdmin):
    list_display = ["therapist", "weekday", "start_time", "end_time"]
    list_filter = ["weekday"]
    list_select_related = ["therapist__user"]


@admin.register(TimeOff)
class TimeOffAdmin(admin.ModelAdmin):
    list_display = ["therapist", "start", "end", "reason"]
    list_select_related = ["therapist__user"]
    date_hierarchy = "start"


class SessionEventInline(admin.TabularInline):
    model = SessionEvent
    extra = 0
    can_delete = False
    fields = [
        "at",
        "action",
        "actor",
        "from_status",
        "to_status",
        "from_payment_status",
        "to_payment_status",
        "note",
        "source",
        "source_ip",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TherapistFilter(admin.SimpleListFilter):
    """Filter by the therapist whose name was clicked in the list (one query, for that therapist).

    A list of every therapist (Django's RelatedFieldListFilter) read every profile and then each
    one's user: 2,005 queries and 2,004 links at the platform's size.
    """

    title = "therapist"
    parameter_name = "therapist"

    def lookups(self, request, model_admin):
        value = self.value()
        if not value or not value.isdigit():
            return []
        therapist = TherapistProfile.objects.select_related("user").filter(pk=int(value)).first()
        return [(str(therapist.pk), str(therapist))] if therapist else []

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(therapist_id=int(value)) if value.isdigit() else queryset.none()


@admin.register(Session)
class SessionAdmin(LargeTableAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "reference",
        "start",
        "client",
        "therapist_link",
        "session_type",
        "status",
        "payment_status",
        "amount_kes",
        "refund_due",
    ]
    list_filter = ["status", "payment_status", "refund_due", TherapistFilter, ("start", admin.DateFieldListFilter)]
    search_fields = [
        "client__full_name",
        "client__email",
        "client__phone",
        "therapist__user__full_name",
        "mpesa_phone",
        "mpesa_receipt_number",
        "mpesa_checkout_request_id",
    ]
    list_select_related = ["client", "therapist__user", "session_type"]
    inlines = [SessionEventInline]
    actions = ["expire_selected", "record_refund"]
    # State is changed only through the services (actions below), never by editing fields.
    readonly_fields = [
        "client",
        "therapist",
        "session_type",
        "start",
        "end",
        "status",
        "payment_status",
        "amount_kes",
        "sensitive_data",
        "decline_reason",
        "cancel_reason",
        "cancelled_by",
        "refund_due",
        "respond_by",
        "pay_by",
        "payment_method",
        "mpesa_phone",
        "mpesa_checkout_request_id",
        "mpesa_merchant_request_id",
        "mpesa_receipt_number",
        "mpesa_amount",
        "mpesa_result_code",
        "mpesa_result_desc",
        "payment_initiated_at",
        "payment_verified_at",
        "payment_attempts",
        "idempotency_key",
        "created_at",
        "updated_at",
    ]
    fields = ["meeting_link", *readonly_fields]

    # The client's booking note and intake answers are the therapist's only (issue 18): never a field,
    # a column, a search field or an export here. "View with reason" opens them, recording who, when
    # and why (SensitiveAccess); the client sees that record on their session page.
    @admin.display(description="Client's note and intake answers")
    def sensitive_data(self, obj: Session) -> str:
        url = reverse("admin:sessions_app_session_sensitive", args=[obj.pk])
        return format_html(
            'Hidden: only the therapist reads them. <a href="{}">View with reason…</a> '
            "(recorded, and shown to the client)",
            url,
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.sensitive_view)
        return [
            path("<int:object_id>/sensitive/", view, name="sessions_app_session_sensitive"),
            *super().get_urls(),
        ]

    def sensitive_view(self, request, object_id: int):
        session = Session.objects.select_related("client", "therapist__user").filter(pk=object_id).first()
        if session is None or not self.has_view_permission(request, session):
            raise Http404("No such session.")
        form = RevealForm(request.POST if request.method == "POST" else None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"View with reason: {session.reference}",
            "session": session,
            "form": form,
            "revealed": False,
        }
        if request.method == "POST" and form.is_valid():
            try:
                note, answers = privacy.sensitive_reveal(
                    session=session,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    path=request.get_full_path(),
                    source_ip=client_ip(request),
                )
            except BookingError as exc:
                form.add_error("reason", exc.message)
            else:
                context.update(revealed=True, note=note, answers=answers)
        response = TemplateResponse(request, "admin/sessions_app/session/sensitive.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="Therapist", ordering="therapist__user__full_name")
    def therapist_link(self, obj: Session) -> str:
        return format_html(
            '<a href="?therapist={}" title="Only this therapist">{}</a>', obj.therapist_id, obj.therapist
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Expire selected sessions that are past their deadline")
    def expire_selected(self, request, queryset):
        done = sum(1 for session in queryset if services.session_expire(session=session) is not None)
        self.message_user(request, f"{done} session(s) expired.")

    @admin.action(description="Record refund for selected paid sessions")
    def record_refund(self, request, queryset):
        for session in queryset:
            try:
                services.session_mark_refunded(session=session, actor=request.user, source_ip=client_ip(request))
            except BookingError as exc:
                self.message_user(request, f"{session.reference}: {exc.message}", level=messages.ERROR)


EVENT_ACTIONS = sorted({"request", *(move.event or name for name, move in services.MOVES.items())})
# The sources the services write on session events (SessionEvent.source's help text).
EVENT_SOURCES = ["system", "web", "api", "admin", "daraja", "poll", "sweeper"]


@admin.register(SessionEvent)
class SessionEventAdmin(LargeTableAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "at",
        "session_reference",
        "action",
        "actor",
        "from_status",
        "to_status",
        "to_payment_status",
        "source",
        "source_ip",
    ]
    list_filter = [
        values_filter("action", "action", [(a, a.replace("_", " ")) for a in EVENT_ACTIONS]),
        values_filter("source", "source", [(s, s) for s in EVENT_SOURCES]),
        ("at", admin.DateFieldListFilter),
    ]
    search_fields = ["session__id", "actor__email", "note"]
    list_select_related = ["actor"]
    # Newest first, served by session_event_at_idx (the model's own order is oldest first, for timelines).
    ordering = ["-at", "-id"]

    @admin.display(description="Session", ordering="session_id")
    def session_reference(self, obj: SessionEvent) -> str:
        return Session(pk=obj.session_id).reference

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["at", "actor", "action", "model", "object_id", "source_ip", "detail"]
    search_fields = ["actor__email", "object_id", "detail", "source_ip"]
    list_select_related = ["actor"]

    def get_list_filter(self, request):
        # The audited models are the ones registered here, known without a query.
        models = sorted((m._meta.label_lower, m._meta.verbose_name_plural) for m in self.admin_site._registry)
        return ["action", values_filter("model", "model", models), ("at", admin.DateFieldListFilter)]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SensitiveAccess)
class SensitiveAccessAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """Who read a client's note or intake answers (read-only; the breach command reads it too)."""

    list_display = ["at", "actor", "actor_role", "kind", "session_id", "subject", "reason", "source_ip"]
    list_filter = ["actor_role", "kind", ("at", admin.DateFieldListFilter)]
    search_fields = ["actor__email", "subject__email", "reason"]
    list_select_related = ["actor", "subject"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Two-step sign-in (issue 18) ------------------------------------------------------------------
# django-otp's own admin shows each app secret as a QR code to every staff user: not here. Staff see who has
# two-step sign-in and may delete a device (a lost phone: the person then sets it up again at next sign-in),
# never the secret or the recovery codes.

from django_otp.plugins.otp_static.models import StaticDevice  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class _SecondStepDeviceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "last_used_at", "created_at")
    list_filter = ("confirmed",)
    search_fields = ("user__email", "user__full_name")
    list_select_related = ("user",)
    fields = ("user", "name", "confirmed", "last_used_at", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(_SecondStepDeviceAdmin):
    pass


@admin.register(StaticDevice)
class StaticDeviceAdmin(_SecondStepDeviceAdmin):
    pass


@admin.register(CorrectionRequest)
class CorrectionRequestAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """A person's request to correct their data: staff correct it (in the person's record) and say what they did."""

    list_display = ["id", "created_at", "status", "user", "handled_by", "handled_at"]
    list_filter = ["status", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["user", "handled_by"]
    fields = ["user", "created_at", "message", "status", "staff_note", "handled_by", "handled_at"]
    readonly_fields = ["user", "created_at", "message", "handled_by", "handled_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        from .services.data_rights import correction_request_handle

        correction_request_handle(
            request=obj, actor=request.user, status=obj.status, staff_note=form.cleaned_data.get("staff_note", "")
        )
