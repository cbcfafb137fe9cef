from django.urls import include, path

from .views import home

app_name = "sessions"

urlpatterns = [
    path("", home.home, name="home"),
    path("", include("sessions_app.urls_client")),
    path("dashboard/", include("sessions_app.urls_dashboard")),
]
