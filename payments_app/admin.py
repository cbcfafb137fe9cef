"""Read-only views of payments for staff: attempts, raw callbacks and the event log."""

import datetime as dt
import json

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from sessions_app.admin import AuditedAdminMixin, LargeTableAdminMixin, values_filter
from sessions_app.exceptions import BookingError

from . import services
from .http import client_ip
from .models import MpesaCallback, PaymentAttempt, PaymentEvent


def _pretty(value) -> str:
    if value in (None, "", {}):
        return "—"
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


class ReadOnlyAdmin(LargeTableAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    """Payments are written by Daraja's answers through services only; staff read them (and are audited)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PaymentEventInline(admin.TabularInline):
    model = PaymentEvent
    fk_name = "attempt"
    extra = 0
    can_delete = False
    fields = ["at", "kind", "source", "source_ip", "actor", "message"]
    readonly_fields = fields
    ordering = ["at", "id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MpesaCallbackInline(admin.TabularInline):
    model = MpesaCallback
    extra = 0
    can_delete = False
    fields = ["received_at", "source_ip", "result_code", "outcome", "processed_at", "note"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "account_reference",
        "checkout_request_id",
        "status",
        "amount",
        "mpesa_receipt_number",
        "result_code",
        "needs_review",
        "review_reason",
        "problem_class",
        "initiated_at",
        "completed_at",
    ]
    list_filter = ["needs_review", "status", "problem_class", "initiated_at"]
    search_fields = ["=checkout_request_id", "=merchant_request_id", "=mpesa_receipt_number", "=account_reference"]
    inlines = [MpesaCallbackInline, PaymentEventInline]
    actions = ["mark_reviewed"]
    readonly_fields = ["raw_callback", "raw_problem"]
    fieldsets = (
        (None, {"fields": ("session", "initiated_by", "status", "message", "amount", "account_reference")}),
        ("Daraja", {"fields": ("checkout_request_id", "merchant_request_id", "result_code", "result_desc")}),
        ("Money", {"fields": ("mpesa_receipt_number", "paid_amount", "phone", "payer_phone", "transaction_date")}),
        ("Review", {"fields": ("needs_review", "review_reason", "reviewed_at", "reviewed_by")}),
        ("Unusable reply from M-Pesa", {"fields": ("problem_class", "problem", "problem_at", "raw_problem")}),
        ("Times", {"fields": ("initiated_at", "completed_at", "created_at", "updated_at")}),
        ("Raw callback", {"fields": ("raw_callback",)}),
    )

    @admin.display(description="Callback payload")
    def raw_callback(self, obj):
        return _pretty(obj.callback_payload)

    @admin.display(description="Daraja's raw reply")
    def raw_problem(self, obj):
        return _pretty(obj.problem_payload)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["raw_callback", "raw_problem"]

    def changelist_view(self, request, extra_context=None):
        # A set-up problem stops every payment: say so on top of the list, not only in a filter.
        since = timezone.now() - dt.timedelta(hours=24)
        problems = PaymentAttempt.objects.filter(
            problem_class=PaymentAttempt.Problem.CONFIGURATION, problem_at__gte=since
        )
        latest = problems.order_by("-problem_at").first()
        if latest is not None:
            self.message_user(
                request,
                f"M-Pesa refused our set-up {problems.count()} time(s) in the last 24 hours; payments cannot be "
                f"taken until it is fixed. Latest: {latest.problem}",
                messages.ERROR,
            )
        return super().changelist_view(request, extra_context)

    @admin.action(description="Mark the selected payments as reviewed")
    def mark_reviewed(self, request, queryset):
        done = 0
        for attempt in queryset.filter(needs_review=True):
            try:
                services.payment_mark_reviewed(attempt=attempt, actor=request.user, source_ip=client_ip(request))
                done += 1
            except BookingError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return
        self.message_user(request, f"{done} payment(s) marked as reviewed.", messages.SUCCESS)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_staff:
            actions.pop("mark_reviewed", None)
        return actions


@admin.register(MpesaCallback)
class MpesaCallbackAdmin(ReadOnlyAdmin):
    list_display = ["id", "received_at", "source_ip", "checkout_request_id", "result_code", "outcome", "processed_at"]
    # result_code is a free integer (its default filter is a DISTINCT over every row): ?result_code=N filters it.
    list_filter = ["outcome", ("processed_at", admin.EmptyFieldListFilter), "received_at"]
    search_fields = ["=checkout_request_id", "=merchant_request_id", "source_ip"]

    @admin.display(description="Payload")
    def pretty_payload(self, obj):
        return _pretty(obj.payload)

    def get_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "payload"] + ["pretty_payload"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)


PAYMENT_EVENT_SOURCES = ["web", "api", "daraja", "callback", "poll", "status", "sweeper", "initiate", "admin"]


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "session", "attempt", "actor", "source", "source_ip", "message"]
    # source is free text (its default filter is a DISTINCT over every row): the values the services write.
    list_filter = [
        "kind",
        values_filter("source", "source", [(v, v) for v in PAYMENT_EVENT_SOURCES]),
        "at",
    ]
    search_fields = ["=session__id", "=attempt__checkout_request_id", "message"]
    list_select_related = ["session", "attempt", "actor"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]
