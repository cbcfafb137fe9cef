from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sessions_app"
    verbose_name = "Sessions"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from . import checks, receivers  # noqa: F401
        from .middleware import consent_remember

        def remember_consent(sender, request, user, **kwargs):
            # The consent check's one query happens at login, not on the first page after it.
            if request is not None and hasattr(request, "session"):
                consent_remember(request, user)

        user_logged_in.connect(remember_consent, dispatch_uid="sessions_app.remember_consent", weak=False)

        receivers.connect()
        from .middleware import on_user_logged_in

        user_logged_in.connect(on_user_logged_in, dispatch_uid="sessions_app.signin_state")
