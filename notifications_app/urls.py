from django.urls import include, path

app_name = "notifications"

# anymail's webhooks, e.g. /anymail/mailgun/tracking/ and /anymail/sendgrid/tracking/:
# their delivery events reach receivers.on_tracking through anymail.signals.tracking.
urlpatterns = [
    path("anymail/", include("anymail.urls")),
]
