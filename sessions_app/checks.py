from django.conf import settings
from django.core.checks import Error, Tags, register

# The project-wide production checks (cache, tasks, email, callback URL) register on import.
from booking_project import checks as _project_checks  # noqa: F401


@register(Tags.security)
def refuse_dev_secret_key(app_configs, **kwargs):
    from booking_project.settings import DEV_SECRET_KEY

    if not settings.DEBUG and settings.SECRET_KEY == DEV_SECRET_KEY:
        return [
            Error(
                "DJANGO_SECRET_KEY is the development key; set a real one.",
                hint="Set DJANGO_SECRET_KEY to 50+ random characters (python -c 'import secrets; "
                "print(secrets.token_urlsafe(50))').",
                id="booking.E001",
            )
        ]
    return []


@register()
def data_map_is_complete(app_configs, **kwargs):
    """Every text column of every model is classified in DATA_MAP, so the export and erasure cover it."""
    from django.core.checks import Warning

    from .services.data_rights import data_map_problems

    return [
        Warning(
            problem,
            hint="Classify it in sessions_app/services/data_rights.py DATA_MAP (personal or not_personal, "
            "owners, erase): otherwise the data export and account deletion miss it.",
            id="booking.W101",
        )
        for problem in data_map_problems()
    ]
