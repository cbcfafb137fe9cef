"""The client's pages (directory, booking stepper, my sessions), in the "sessions" namespace."""

from django.urls import path

from ..views.client import booking, directory, sessions

urlpatterns = [
    # Directory
    path("therapists/", directory.directory, name="directory"),
    path("therapists/<int:pk>/", directory.therapist_detail, name="therapist_detail"),
    # Booking stepper
    path("book/", booking.book, name="book"),
    path("book/time/", booking.book_time, name="book_time"),
    path("book/details/", booking.book_details, name="book_details"),
    path("book/questions/", booking.book_intake, name="book_intake"),
    path("book/review/", booking.book_review, name="book_review"),
    path("book/sent/<int:pk>/", booking.book_confirmed, name="book_confirmed"),
    # My sessions
    path("my/sessions/", sessions.my_sessions, name="my_sessions"),
    path("my/sessions/<int:pk>/", sessions.session_detail, name="session_detail"),
    path("my/sessions/<int:pk>/cancel/", sessions.session_cancel, name="session_cancel"),
]
