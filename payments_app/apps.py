from django.apps import AppConfig


class PaymentsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments_app"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
