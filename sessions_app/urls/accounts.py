"""Sign up, log in and out, the client's profile and password, privacy; in the "sessions" namespace."""

from django.urls import path

from ..views import accounts, privacy
from ..views.common import client_login_required

urlpatterns = [
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
    path("privacy/", privacy.privacy, name="privacy"),
    path("terms/", privacy.terms, name="terms"),
    path("consent/", privacy.consent, name="consent"),
    path("profile/data/", accounts.my_data, name="my_data"),
    path("profile/data/download/", accounts.my_data_download, name="my_data_download"),
    path("profile/data/correct/", accounts.correction_request, name="correction_request"),
    path("profile/delete/", accounts.delete_account, name="delete_account"),
    path("account-deleted/", accounts.account_deleted, name="account_deleted"),
]

# Two-step sign-in and email verification (issue 18).
urlpatterns += [
    path("login/code/", accounts.login_code, name="login_code"),
    path("account/two-factor/", accounts.two_factor_manage, name="two_factor"),
    path("account/two-factor/setup/", accounts.two_factor_setup, name="two_factor_setup"),
    path("account/verify/resend/", accounts.verify_email_resend, name="verify_email_resend"),
    path("account/verify/<str:token>/", accounts.verify_email, name="verify_email"),
]
