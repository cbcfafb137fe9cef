"""JSON API routes under /api/ (the M-Pesa ones are in payments_app). Paths follow docs/design.md#http-contract exactly."""

from django.urls import path

from .auth import TokenCreateApi
from .sessions import (
    SessionApproveApi,
    SessionCancelApi,
    SessionDeclineApi,
    SessionDetailApi,
    SessionListApi,
    SessionRequestApi,
)
from .therapists import TherapistDetailApi, TherapistListApi, TherapistSlotListApi

urlpatterns = [
    path("auth/token", TokenCreateApi.as_view(), name="api-token"),
    path("therapists", TherapistListApi.as_view(), name="api-therapists"),
    path("therapists/<int:id>", TherapistDetailApi.as_view(), name="api-therapist"),
    path("therapists/<int:id>/slots", TherapistSlotListApi.as_view(), name="api-therapist-slots"),
    path("sessions", SessionListApi.as_view(), name="api-sessions"),
    path("sessions/request", SessionRequestApi.as_view(), name="api-session-request"),
    path("sessions/<int:id>", SessionDetailApi.as_view(), name="api-session"),
    path("sessions/<int:id>/approve", SessionApproveApi.as_view(), name="api-session-approve"),
    path("sessions/<int:id>/decline", SessionDeclineApi.as_view(), name="api-session-decline"),
    path("sessions/<int:id>/cancel", SessionCancelApi.as_view(), name="api-session-cancel"),
]
