"""JSON API routes under /api/ (the M-Pesa ones are in payments_app). Paths follow shared/DESIGN.md exactly."""

from django.urls import path

from . import api

urlpatterns = [
    path("auth/token", api.TokenView.as_view(), name="api-token"),
    path("therapists", api.TherapistListView.as_view(), name="api-therapists"),
    path("therapists/<int:id>", api.TherapistDetailView.as_view(), name="api-therapist"),
    path("therapists/<int:id>/slots", api.TherapistSlotsView.as_view(), name="api-therapist-slots"),
    path("sessions", api.SessionListView.as_view(), name="api-sessions"),
    path("sessions/request", api.SessionRequestView.as_view(), name="api-session-request"),
    path("sessions/<int:id>", api.SessionDetailView.as_view(), name="api-session"),
    path("sessions/<int:id>/approve", api.SessionApproveView.as_view(), name="api-session-approve"),
    path("sessions/<int:id>/decline", api.SessionDeclineView.as_view(), name="api-session-decline"),
    path("sessions/<int:id>/cancel", api.SessionCancelView.as_view(), name="api-session-cancel"),
]
