"""Client-side forms: the directory filters, the booking stepper, cancelling a session.

Forms validate and normalise input; writes happen in services.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import forms

from ..models import SessionType, TherapistProfile
from ..phone import INVALID_MESSAGE, InvalidPhone, normalize_msisdn
from .accounts import PHONE_HELP

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


class TherapistSearchForm(forms.Form):
    """Step 1's search: a name, specialty or city, and the page of matches."""

    MAX_PAGE = 1000

    q = forms.CharField(
        label="Find a therapist", required=False, max_length=100, help_text="A name, specialty or city."
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE, widget=forms.HiddenInput)

    def query(self) -> tuple[str, int]:
        """The search and page asked for; a malformed one is dropped (its error shows next to the field)."""
        if not self.is_bound:
            return "", 1
        self.is_valid()
        return self.cleaned_data.get("q") or "", self.cleaned_data.get("page") or 1


def _therapist_label(therapist: TherapistProfile) -> str:
    return f"{therapist.user.full_name}, {therapist.title}" if therapist.title else str(therapist)


class ChooseTherapistForm(forms.Form):
    therapist = forms.ModelChoiceField(
        label="Therapist",
        queryset=TherapistProfile.objects.none(),
        empty_label="Choose…",
        error_messages={"invalid_choice": "Please choose a therapist from the list."},
    )

    def __init__(self, *args, queryset, shown: list[TherapistProfile] = (), **kwargs):
        """``queryset``: who may be chosen (checked with one query); ``shown``: the page of them the list offers."""
        super().__init__(*args, **kwargs)
        field = self.fields["therapist"]
        field.queryset = queryset
        field.label_from_instance = _therapist_label
        # Rendering a ModelChoiceField lists its whole queryset: offer only the page shown.
        field.widget.choices = [("", field.empty_label), *((t.pk, _therapist_label(t)) for t in shown)]


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
