import re

from django.contrib import admin, messages
from django.utils.html import format_html

from sessions_app.admin import AuditedAdminMixin, LargeTableAdminMixin
from sessions_app.exceptions import BookingError
from sessions_app.models import Session

from . import services
from .models import Notification

REFERENCE = re.compile(r"^\s*BK0*(\d+)\s*$", re.IGNORECASE)


@admin.register(Notification)
class NotificationAdmin(LargeTableAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    """The email log: read-only, searchable, and staff can send an email again."""

    list_display = [
        "created_at",
        "kind",
        "recipient_email",
        "session_reference",
        "status",
        "delivery_status",
        "attempts",
        "sent_at",
    ]
    # delivery_status is free text (a DISTINCT over every row): filter it through the URL instead.
    list_filter = ["status", "kind", "created_at"]
    search_fields = ["recipient__email", "recipient__full_name", "provider_message_id", "subject", "=session__id"]
    list_select_related = ["recipient"]
    ordering = ["-created_at", "-id"]
    actions = ["resend"]
    readonly_fields = [
        "recipient",
        "session_link",
        "event",
        "kind",
        "status",
        "attempts",
        "last_error",
        "to_email",
        "subject",
        "provider_message_id",
        "delivery_status",
        "delivery_detail",
        "delivery_updated_at",
        "sent_at",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields

    @admin.display(description="Recipient", ordering="recipient__email")
    def recipient_email(self, obj: Notification) -> str:
        return obj.recipient.email

    @admin.display(description="Booking", ordering="session_id")
    def session_reference(self, obj: Notification) -> str:
        return Session(pk=obj.session_id).reference

    @admin.display(description="Booking")
    def session_link(self, obj: Notification) -> str:
        from django.urls import reverse

        url = reverse("admin:sessions_app_session_change", args=[obj.session_id])
        return format_html('<a href="{}">{}</a>', url, obj.session.reference)

    def get_search_results(self, request, queryset, search_term):
        """A booking reference (BK000123) finds that session's emails."""
        match = REFERENCE.match(search_term or "")
        if match:
            return queryset.filter(session_id=int(match.group(1))), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # The log is also what keeps an email from going twice: never deleted.
        return False

    @admin.action(description="Resend the selected emails", permissions=["change"])
    def resend(self, request, queryset):
        count = 0
        for notification in queryset:
            try:
                services.notification_resend(notification=notification, actor=request.user)
            except BookingError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return
            count += 1
        self.message_user(request, f"{count} email(s) queued to be sent again.", messages.SUCCESS)
