from django.conf import settings
from django.utils import timezone


def product(request):
    return {"PRODUCT_NAME": settings.PRODUCT_NAME, "CURRENT_TZ": timezone.get_current_timezone_name()}
