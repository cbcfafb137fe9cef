from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def refuse_dev_secret_key(app_configs, **kwargs):
    from booking_project.settings import DEV_SECRET_KEY

    if not settings.DEBUG and settings.SECRET_KEY == DEV_SECRET_KEY:
        return [Error("DJANGO_SECRET_KEY is the development key; set a real one.", id="booking.E001")]
    return []
