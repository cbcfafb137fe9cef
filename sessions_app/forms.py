"""Forms for the client's pages: accounts, the directory filters, the booking stepper, cancelling.

Forms validate and normalise input; writes happen in services. Django renders
``aria-invalid`` and ``aria-describedby`` (pointing at ``<id>_error`` and
``<id>_helptext``) on fields with errors, and templates/sessions_app/partials/field.html
puts the error list right next to its field.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import zoneinfo

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from . import ratelimit
from .exceptions import RateLimited
from .http import client_ip
from .models import TIME_ZONE_CHOICES, SessionType, TherapistProfile, User
from .phone import ACCEPTED_FORMS, INVALID_MESSAGE, InvalidPhone, normalize_msisdn, to_e164

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
        label="I have read the privacy notice and agree that my details are kept as it describes.",
        error_messages={"required": "Please agree to the privacy notice to create an account."},
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
    """Email and password, with lockouts per account and per address (sessions_app.ratelimit).

    While locked, the password is not checked at all. A failed attempt counts
    against both; a good login clears the account's counter.
    """

    ACCOUNT_LIMIT = 5
    IP_LIMIT = 20
    WINDOW = 15 * 60

    username = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. Check them and try again.",
        "locked": "Too many attempts, try again in %(minutes)s.",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.locked = False

    def _client_ip(self) -> str:
        return (client_ip(self.request) if self.request else None) or "unknown"

    def _minutes_left(self) -> str:
        seconds = self.WINDOW - int(time.time() % self.WINDOW)
        minutes = max(1, math.ceil(seconds / 60))
        return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"

    def _scopes(self, email: str) -> list[tuple[str, str, int]]:
        return [("login-account", email.lower(), self.ACCOUNT_LIMIT), ("login-ip", self._client_ip(), self.IP_LIMIT)]

    def clean(self):
        email = (self.cleaned_data.get("username") or "").strip().lower()
        password = self.cleaned_data.get("password")
        if not email or not password:
            return self.cleaned_data
        for scope, ident, limit in self._scopes(email):
            if ratelimit.is_limited(scope=scope, ident=ident, limit=limit, window=self.WINDOW):
                self.locked = True
                raise forms.ValidationError(
                    self.error_messages["locked"], code="locked", params={"minutes": self._minutes_left()}
                )
        self.cleaned_data["username"] = email
        try:
            return super().clean()
        except forms.ValidationError:
            for scope, ident, limit in self._scopes(email):
                try:
                    ratelimit.hit(scope=scope, ident=ident, limit=limit, window=self.WINDOW)
                except RateLimited:
                    pass  # Counted; the next attempt is refused before any password check.
            raise

    def reset_account_limit(self) -> None:
        email = self.cleaned_data.get("username", "")
        ratelimit.reset(scope="login-account", ident=email.lower(), window=self.WINDOW)


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


# --- Directory ----------------------------------------------------------------------------


class DirectoryFilterForm(forms.Form):
    MODE_CHOICES = [("", "Online or in person"), *SessionType.Mode.choices]

    specialty = forms.ChoiceField(label="Specialty", required=False)
    language = forms.ChoiceField(label="Language", required=False)
    min_price = forms.IntegerField(label="Lowest price (KES)", required=False, min_value=0, max_value=1_000_000)
    max_price = forms.IntegerField(label="Highest price (KES)", required=False, min_value=0, max_value=1_000_000)
    mode = forms.ChoiceField(label="Where", choices=MODE_CHOICES, required=False)
    available_this_week = forms.BooleanField(label="Available this week", required=False)

    def __init__(self, *args, options: dict[str, list[str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["specialty"].choices = [("", "Any specialty")] + [(s, s) for s in options["specialties"]]
        self.fields["language"].choices = [("", "Any language")] + [(s, s) for s in options["languages"]]

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_price"), cleaned.get("max_price")
        if low is not None and high is not None and low > high:
            self.add_error("max_price", "The highest price must be at least the lowest price.")
        return cleaned

    def filters(self) -> dict:
        """The valid filters (an invalid one is left out, with its error shown next to it)."""
        data = getattr(self, "cleaned_data", {})
        result = {
            "specialty": data.get("specialty") or "",
            "language": data.get("language") or "",
            "mode": data.get("mode") or "",
            "available_this_week": bool(data.get("available_this_week")),
        }
        if "max_price" not in self.errors:
            result["min_price"] = data.get("min_price")
            result["max_price"] = data.get("max_price")
        return result


# --- Booking stepper ----------------------------------------------------------------------


class ChooseTherapistForm(forms.Form):
    therapist = forms.ModelChoiceField(
        label="Therapist",
        queryset=TherapistProfile.objects.none(),
        empty_label="Choose…",
        error_messages={"invalid_choice": "Please choose a therapist from the list."},
    )

    def __init__(self, *args, queryset, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["therapist"].queryset = queryset
        self.fields["therapist"].label_from_instance = lambda t: f"{t.user.full_name}, {t.title}" if t.title else str(t)


class ChooseSessionTypeForm(forms.Form):
    session_type = forms.ModelChoiceField(
        label="Session type",
        queryset=SessionType.objects.none(),
        widget=forms.RadioSelect,
        empty_label=None,
        error_messages={
            "required": "Please choose a session type.",
            "invalid_choice": "Please choose one of the session types offered.",
        },
    )

    def __init__(self, *args, therapist: TherapistProfile, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["session_type"]
        field.queryset = therapist.session_types.filter(is_active=True).order_by("duration_minutes", "price_kes")
        field.label_from_instance = lambda t: (
            f"{t.name}: {t.duration_minutes} min, {t.get_mode_display().lower()}, KES {t.price_kes:,}"
        )


class SlotForm(forms.Form):
    """One start time out of the free ones offered for the chosen day (ISO 8601 with offset)."""

    start = forms.ChoiceField(
        label="Start time",
        widget=forms.RadioSelect,
        error_messages={
            "required": "Please choose a time.",
            "invalid_choice": "That time is no longer free. Please choose one of the times shown.",
        },
    )

    def __init__(self, *args, slots: list[dt.datetime], tz: zoneinfo.ZoneInfo, **kwargs):
        super().__init__(*args, **kwargs)
        self.slots = {slot.isoformat(): slot for slot in slots}
        self.fields["start"].choices = [(key, f"{slot.astimezone(tz):%H:%M}") for key, slot in self.slots.items()]

    def clean_start(self) -> dt.datetime:
        return self.slots[self.cleaned_data["start"]]


class DayForm(forms.Form):
    date = forms.DateField(
        label="Date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )

    def __init__(self, *args, first: dt.date, last: dt.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.first, self.last = first, last
        widget = self.fields["date"].widget
        widget.attrs.update({"min": first.isoformat(), "max": last.isoformat()})

    def clean_date(self) -> dt.date:
        day = self.cleaned_data["date"]
        if day < self.first:
            raise forms.ValidationError(f"Choose {self.first:%-d %B %Y} or later.")
        if day > self.last:
            raise forms.ValidationError(f"Bookings open up to {self.last:%-d %B %Y}; choose an earlier date.")
        return day


class BookingDetailsForm(forms.Form):
    notes = forms.CharField(
        label="Anything the therapist should know",
        required=False,
        max_length=2000,
        help_text="Only your therapist sees this. Up to 2000 characters.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    phone = forms.CharField(
        label="M-Pesa number to pay from",
        max_length=20,
        help_text=PHONE_HELP + " You pay only after the therapist approves.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    save_phone = forms.BooleanField(
        label="Also save this number on my profile",
        required=False,
        help_text="The pay page suggests your profile's number.",
    )
    agree_policy = forms.BooleanField(
        label="I agree to the cancellation policy above.",
        error_messages={"required": "Please agree to the cancellation policy to continue."},
    )

    def clean_notes(self) -> str:
        return self.cleaned_data["notes"].strip()

    def clean_phone(self) -> str:
        try:
            return normalize_msisdn(self.cleaned_data["phone"])
        except InvalidPhone:
            raise forms.ValidationError(INVALID_MESSAGE, code="invalid_phone")


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Why are you cancelling?",
        max_length=1000,
        help_text="Your therapist sees this. Up to 1000 characters.",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Please give a reason."},
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Please give a reason.", code="required")
        return reason
