from django.urls import path

from .views import accounts, booking, client
from .views.common import client_login_required

urlpatterns = [
    # Accounts
    path("signup/", accounts.signup, name="signup"),
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("logout/", accounts.LogoutView.as_view(), name="logout"),
    path("profile/", accounts.profile, name="profile"),
    path(
        "profile/password/",
        client_login_required(accounts.PasswordChangeView.as_view()),
        name="password_change",
    ),
    path("password-reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", accounts.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        accounts.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/done/", accounts.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("privacy/", accounts.privacy, name="privacy"),
    # Directory
    path("therapists/", client.directory, name="directory"),
    path("therapists/<int:pk>/", client.therapist_detail, name="therapist_detail"),
    # Booking stepper
    path("book/", booking.book, name="book"),
    path("book/time/", booking.book_time, name="book_time"),
    path("book/details/", booking.book_details, name="book_details"),
    path("book/review/", booking.book_review, name="book_review"),
    path("book/sent/<int:pk>/", booking.book_confirmed, name="book_confirmed"),
    # My sessions
    path("my/sessions/", client.my_sessions, name="my_sessions"),
    path("my/sessions/<int:pk>/", client.session_detail, name="session_detail"),
    path("my/sessions/<int:pk>/cancel/", client.session_cancel, name="session_cancel"),
]
