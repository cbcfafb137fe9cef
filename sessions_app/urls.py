from django.urls import include, path

from .views import health, home

app_name = "sessions"

urlpatterns = [
    path("", home.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("", include("sessions_app.urls_client")),
    path("dashboard/", include("sessions_app.urls_dashboard")),
]
