"""Account forms: sign up, log in (with lockouts), the client's profile.

Forms validate and normalise input; writes happen in services. Django renders
``aria-invalid`` and ``aria-describedby`` (pointing at ``<id>_error`` and
``<id>_helptext``) on fields with errors, and templates/sessions_app/partials/field.html
puts the error list right next to its field.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from ..exceptions import InvalidCredentials, RateLimited
from ..http import client_ip
from ..models import TIME_ZONE_CHOICES, User
from ..phone import ACCEPTED_FORMS, INVALID_MESSAGE, InvalidPhone, to_e164
from ..services.users import user_authenticate

PHONE_HELP = f"A Kenyan mobile number, e.g. {ACCEPTED_FORMS}."


def _clean_phone_e164(value: str) -> str:
    try:
        return to_e164(value)
    except InvalidPhone:
        raise forms.ValidationError(INVALID_MESSAGE, code="invalid_phone")


def _email_taken(email: str, *, exclude_pk: int | None = None) -> bool:
    qs = User.objects.filter(email__iexact=email)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


# --- Accounts -----------------------------------------------------------------------------


class SignupForm(forms.Form):
    full_name = forms.CharField(
        label="Full name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    phone = forms.CharField(
        label="Mobile number",
        max_length=20,
        help_text=PHONE_HELP,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        help_text="At least 10 characters; not only numbers, and not a common password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    time_zone = forms.ChoiceField(
        label="Your time zone",
        choices=TIME_ZONE_CHOICES,
        initial="Africa/Nairobi",
        help_text="Session times are shown in this zone.",
    )
    consent = forms.BooleanField(
        label="I have read the terms of use and the privacy notice, and I agree to them.",
        error_messages={"required": "Please agree to the terms of use and the privacy notice to create an account."},
    )

    def clean_full_name(self) -> str:
        name = " ".join(self.cleaned_data["full_name"].split())
        if not name:
            raise forms.ValidationError("Please enter your name.", code="required")
        return name

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if _email_taken(email):
            raise forms.ValidationError(
                "An account with this email already exists. Log in, or reset your password.", code="email_taken"
            )
        return email

    def clean_phone(self) -> str:
        return _clean_phone_e164(self.cleaned_data["phone"])

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", forms.ValidationError("The two passwords differ.", code="password_mismatch"))
        elif password1:
            probe = User(email=cleaned.get("email", ""), full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(password1, user=probe)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class LoginForm(AuthenticationForm):
    """Email and password, under the lockout rule of ``services.users.user_authenticate``.

    While locked, the password is not checked at all; ``locked`` tells the view.
    """

    username = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": InvalidCredentials.default_message,
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.locked = False

    def clean(self):
        email = (self.cleaned_data.get("username") or "").strip().lower()
        password = self.cleaned_data.get("password")
        if not email or not password:
            return self.cleaned_data
        try:
            self.user_cache = user_authenticate(
                email=email,
                password=password,
                ip=client_ip(self.request) if self.request else None,
                request=self.request,
            )
        except RateLimited as exc:
            self.locked = True
            raise forms.ValidationError(exc.message, code="locked") from None
        except InvalidCredentials:
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login") from None
        self.cleaned_data["username"] = email
        return self.cleaned_data


class ProfileForm(forms.Form):
    full_name = forms.CharField(
        label="Full name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    phone = forms.CharField(
        label="Mobile number",
        max_length=20,
        help_text=PHONE_HELP + " Used to pre-fill M-Pesa payments.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    time_zone = forms.ChoiceField(label="Your time zone", choices=TIME_ZONE_CHOICES)

    def __init__(self, *args, user: User, **kwargs):
        self.user = user
        kwargs.setdefault(
            "initial",
            {"full_name": user.full_name, "email": user.email, "phone": user.phone, "time_zone": user.time_zone},
        )
        super().__init__(*args, **kwargs)

    def clean_full_name(self) -> str:
        name = " ".join(self.cleaned_data["full_name"].split())
        if not name:
            raise forms.ValidationError("Please enter your name.", code="required")
        return name

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if _email_taken(email, exclude_pk=self.user.pk):
            raise forms.ValidationError("Another account already uses this email.", code="email_taken")
        return email

    def clean_phone(self) -> str:
        return _clean_phone_e164(self.cleaned_data["phone"])


# --- Data rights ---------------------------------------------------------------------------

CORRECTION_MAX_CHARS = 2000
ERASE_PASSWORD_LIMIT = 5  # wrong passwords on the delete form, per account, in ERASE_PASSWORD_WINDOW
ERASE_PASSWORD_WINDOW = 15 * 60


class CorrectionRequestForm(forms.Form):
    message = forms.CharField(
        label="What should we correct?",
        max_length=CORRECTION_MAX_CHARS,
        help_text="Say what is wrong and what it should say. Staff answer within 14 days.",
        widget=forms.Textarea(attrs={"rows": 6}),
    )

    def clean_message(self) -> str:
        text = self.cleaned_data["message"].strip()
        if not text:
            raise forms.ValidationError("Tell us what is wrong and what it should say.", code="required")
        return text


class DeleteAccountForm(forms.Form):
    """The person's password and an explicit "I understand": deleting cannot be undone."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    understood = forms.BooleanField(
        label="I understand that my account and my data will be deleted for good, and that this cannot be undone.",
        error_messages={"required": "Tick the box to confirm that you understand this cannot be undone."},
    )

    def __init__(self, *args, user: User, **kwargs):
        self.user = user
        self.locked = False
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        from .. import ratelimit

        password = self.cleaned_data["password"]
        scope, ident = "erase-password", str(self.user.pk)
        if ratelimit.is_limited(scope=scope, ident=ident, limit=ERASE_PASSWORD_LIMIT, window=ERASE_PASSWORD_WINDOW):
            self.locked = True
            raise forms.ValidationError("Too many wrong passwords. Try again in 15 minutes.", code="locked")
        if not self.user.check_password(password):
            try:
                ratelimit.hit(scope=scope, ident=ident, limit=ERASE_PASSWORD_LIMIT, window=ERASE_PASSWORD_WINDOW)
            except RateLimited:
                pass
            raise forms.ValidationError("That is not your password.", code="wrong_password")
        ratelimit.release(scope=scope, ident=ident, window=ERASE_PASSWORD_WINDOW)
        return password


class TwoFactorCodeForm(forms.Form):
    """A code from the authenticator app (6 digits) or a recovery code (issue 18)."""

    code = forms.CharField(
        label="Code",
        max_length=32,
        strip=True,
        help_text="The 6 digits your authenticator app shows now, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "off"}),
        error_messages={"required": "Enter the code from your app, or a recovery code."},
    )

    def __init__(self, *args, app_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if app_only:
            self.fields["code"].help_text = "The 6 digits your authenticator app shows now."
            self.fields["code"].widget.attrs["inputmode"] = "numeric"
            self.fields["code"].error_messages["required"] = "Enter the 6-digit code your app shows."
