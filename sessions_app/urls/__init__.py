"""The site's pages (namespace "sessions"); the JSON API is sessions_app.api.urls, under /api/."""

from django.urls import include, path

from ..views import health, home

app_name = "sessions"

urlpatterns = [
    path("", home.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/live", health.live, name="healthz-live"),
    path("healthz/ready", health.ready, name="healthz-ready"),
    path("", include("sessions_app.urls.accounts")),
    path("", include("sessions_app.urls.client")),
    path("dashboard/", include("sessions_app.urls.dashboard")),
]
