from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from . import services
from .exceptions import BookingError
from .models import Session, SessionEvent, SessionType, TherapistProfile, TimeOff, User, WeeklyAvailability


@admin.register(User)
class UserAdmin(BaseUserAdmin):
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
class TherapistProfileAdmin(admin.ModelAdmin):
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
class SessionAdmin(admin.ModelAdmin):
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
                services.session_mark_refunded(session=session, actor=request.user)
            except BookingError as exc:
                self.message_user(request, f"{session.reference}: {exc.message}", level=messages.ERROR)


@admin.register(SessionEvent)
class SessionEventAdmin(admin.ModelAdmin):
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
