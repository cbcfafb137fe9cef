from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sessions_app"
    verbose_name = "Sessions"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from . import checks  # noqa: F401
        from .middleware import on_user_logged_in

        user_logged_in.connect(on_user_logged_in, dispatch_uid="sessions_app.signin_state")
