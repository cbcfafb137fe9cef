from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from . import services
from .exceptions import BookingError
from .http import client_ip
from .models import AuditEntry, Session, SessionEvent, SessionType, TherapistProfile, TimeOff, User, WeeklyAvailability


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
        ("Personal", {"fields": ("full_name", "phone", "time_zone", "privacy_consent_at")}),
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


@admin.register(Session)
class SessionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "reference",
        "start",
        "client",
        "therapist",
        "session_type",
        "status",
        "payment_status",
        "amount_kes",
        "refund_due",
    ]
    list_filter = ["status", "payment_status", "refund_due", "therapist", ("start", admin.DateFieldListFilter)]
    search_fields = [
        "client__full_name",
        "client__email",
        "client__phone",
        "mpesa_phone",
        "mpesa_receipt_number",
        "mpesa_checkout_request_id",
    ]
    list_select_related = ["client", "therapist__user", "session_type"]
    date_hierarchy = "start"
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
        "client_notes",
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


@admin.register(SessionEvent)
class SessionEventAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "at",
        "session",
        "action",
        "actor",
        "from_status",
        "to_status",
        "to_payment_status",
        "source",
        "source_ip",
    ]
    list_filter = ["action", "source"]
    search_fields = ["session__id", "actor__email", "note"]
    list_select_related = ["session", "actor"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "model", "object_id", "source_ip", "detail"]
    list_filter = ["action", "model"]
    search_fields = ["actor__email", "object_id", "detail", "source_ip"]
    list_select_related = ["actor"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
