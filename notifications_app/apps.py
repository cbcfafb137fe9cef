from django.apps import AppConfig


class NotificationsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications_app"
    verbose_name = "Notifications"

    def ready(self):
        from anymail.signals import tracking
        from django.db.models.signals import post_save

        from sessions_app.models import SessionEvent
        from sessions_app.signals import session_changed

        from . import receivers

        post_save.connect(
            receivers.on_session_event_created, sender=SessionEvent, dispatch_uid="notifications_on_session_event"
        )
        session_changed.connect(receivers.on_session_changed, dispatch_uid="notifications_on_session_changed")
        tracking.connect(receivers.on_tracking, dispatch_uid="notifications_on_anymail_tracking")
