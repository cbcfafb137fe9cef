from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import metrics

# JSON errors under /api/, the usual pages elsewhere.
handler404 = "sessions_app.api.errors.handler404"
handler500 = "sessions_app.api.errors.handler500"

urlpatterns = [
    # The admin's path comes from DJANGO_ADMIN_URL (default "admin/"). Its own login form would skip the
    # lockouts and throttles of ours: it sends people to ours (which then asks for the second step).
    path(
        f"{settings.DJANGO_ADMIN_URL}login/",
        RedirectView.as_view(pattern_name="sessions:login", query_string=True),
        name="admin-login-redirect",
    ),
    path(settings.DJANGO_ADMIN_URL, admin.site.urls),
    # Prometheus text: METRICS_TOKEN (Authorization: Bearer) or a staff session (booking_project/metrics.py).
    path("metrics", metrics.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("sessions_app.api.urls")),
    path("", include("payments_app.urls")),
    path("", include("notifications_app.urls")),
    path("", include("sessions_app.urls")),
]
