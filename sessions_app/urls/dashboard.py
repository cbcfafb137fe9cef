"""The therapist's dashboard, included at /dashboard/ in the "sessions" namespace."""

from django.urls import path

from ..views.dashboard import availability, intake, overview, session

urlpatterns = [
    path("", overview.dashboard, name="dashboard"),
    path("sessions/", overview.session_list, name="dashboard_sessions"),
    path("week/", overview.week, name="dashboard_week"),
    # One request or session, and its actions (each a POST calling one service).
    path("sessions/<int:pk>/", session.session_detail, name="dashboard_session"),
    path("sessions/<int:pk>/approve/", session.session_approve, name="dashboard_session_approve"),
    path("sessions/<int:pk>/decline/", session.session_decline, name="dashboard_session_decline"),
    path("sessions/<int:pk>/cancel/", session.session_cancel, name="dashboard_session_cancel"),
    path("sessions/<int:pk>/start/", session.session_start, name="dashboard_session_start"),
    path("sessions/<int:pk>/complete/", session.session_complete, name="dashboard_session_complete"),
    path("sessions/<int:pk>/no-show/", session.session_no_show, name="dashboard_session_no_show"),
    path("sessions/<int:pk>/link/", session.session_set_link, name="dashboard_session_link"),
    path("sessions/<int:pk>/notes/", session.note_add, name="dashboard_note_add"),
    path("sessions/<int:pk>/notes/<int:note_pk>/", session.note_edit, name="dashboard_note_edit"),
    path("sessions/<int:pk>/notes/<int:note_pk>/delete/", session.note_delete, name="dashboard_note_delete"),
    # Availability and booking settings.
    path("availability/", availability.availability, name="dashboard_availability"),
    path("availability/hours/", availability.hours_add, name="dashboard_hours_add"),
    path("availability/hours/<int:pk>/remove/", availability.hours_remove, name="dashboard_hours_remove"),
    path("availability/time-off/", availability.time_off_add, name="dashboard_time_off_add"),
    path(
        "availability/time-off/<int:pk>/remove/",
        availability.time_off_remove,
        name="dashboard_time_off_remove",
    ),
    path("settings/", availability.booking_settings, name="dashboard_settings"),
    path("session-types/", availability.session_types, name="dashboard_session_types"),
    path("session-types/<int:pk>/", availability.session_type_edit, name="dashboard_session_type_edit"),
    path(
        "session-types/<int:pk>/active/",
        availability.session_type_toggle,
        name="dashboard_session_type_toggle",
    ),
    # The intake form of a session type (issue 18).
    path("session-types/<int:pk>/intake/", intake.intake_form, name="dashboard_intake"),
    path("session-types/<int:pk>/intake/<int:question_pk>/", intake.intake_question_edit, name="dashboard_intake_edit"),
    path(
        "session-types/<int:pk>/intake/<int:question_pk>/delete/",
        intake.intake_question_delete,
        name="dashboard_intake_delete",
    ),
    path(
        "session-types/<int:pk>/intake/<int:question_pk>/move/",
        intake.intake_question_move,
        name="dashboard_intake_move",
    ),
]
