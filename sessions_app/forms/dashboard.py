"""Forms of the therapist's dashboard. They check shapes and types; the services hold the rules.

Each form names only the fields a therapist may set: status, payment, client and price of a
session are never form fields here.
"""

from __future__ import annotations

from django import forms

from ..models import SessionType, TherapistProfile, WeeklyAvailability
from ..services import NOTE_MAX_CHARS

TIME_INPUT = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def add_booking_error(form: forms.Form, exc) -> None:
    """Put a service's BookingError next to the field it names, or on top of the form."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason (the client will read it)",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Please give a reason."},
    )

    def __init__(self, *args, purpose: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if purpose:
            self.fields["reason"].label = f"Reason for {purpose} (the client will read it)"


class MeetingLinkForm(forms.Form):
    meeting_link = forms.URLField(
        label="Meeting link",
        max_length=200,
        assume_scheme="https",
        help_text="The video call address the client will use, e.g. https://meet.example.com/abc-defg.",
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
        error_messages={"required": "Enter the meeting link.", "invalid": "Enter a full web address (https://…)."},
    )

    def clean_meeting_link(self) -> str:
        link = self.cleaned_data["meeting_link"]
        if not link.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("Enter a full web address (https://…).")
        return link


class NoteForm(forms.Form):
    body = forms.CharField(
        label="Private note",
        max_length=NOTE_MAX_CHARS,
        help_text="Only you can read your notes: not the client, not staff.",
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Write the note first."},
    )


class WeeklyHoursForm(forms.Form):
    weekday = forms.TypedChoiceField(label="Day", choices=WeeklyAvailability.Weekday.choices, coerce=int)
    start_time = forms.TimeField(label="From", widget=TIME_INPUT, input_formats=["%H:%M", "%H:%M:%S"])
    end_time = forms.TimeField(label="To", widget=TIME_INPUT, input_formats=["%H:%M", "%H:%M:%S"])


class TimeOffForm(forms.Form):
    """Start and end are read in the therapist's own zone (the dashboard views activate it)."""

    start = forms.DateTimeField(label="From", widget=DATETIME_INPUT, input_formats=DATETIME_FORMATS)
    end = forms.DateTimeField(label="Until", widget=DATETIME_INPUT, input_formats=DATETIME_FORMATS)
    reason = forms.CharField(
        label="Note", max_length=200, required=False, help_text="Optional, for yourself; clients never see it."
    )


class SettingsForm(forms.Form):
    buffer_minutes = forms.IntegerField(
        label="Buffer between sessions (minutes)",
        min_value=0,
        max_value=240,
        help_text="Free time kept after each session.",
    )
    min_notice_hours = forms.IntegerField(
        label="Minimum notice (hours)", min_value=0, max_value=24 * 14, help_text="How soon ahead a client can book."
    )
    max_advance_days = forms.IntegerField(
        label="Furthest booking (days ahead)", min_value=1, max_value=365, help_text="How far ahead a client can book."
    )
    accepting_new_clients = forms.BooleanField(
        label="Accepting new clients",
        required=False,
        help_text="When off, only clients who have booked with you before can request a session.",
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=TherapistProfile._meta.get_field("time_zone").choices,
        help_text="Your weekly hours and time off are in this zone, and your dashboard shows times in it.",
    )


class SessionTypeForm(forms.Form):
    name = forms.CharField(label="Name", max_length=80, help_text="e.g. Individual session")
    duration_minutes = forms.IntegerField(label="Duration (minutes)", min_value=15, max_value=240)
    price_kes = forms.IntegerField(label="Price (whole KES)", min_value=1, max_value=250_000)
    mode = forms.ChoiceField(label="Where", choices=SessionType.Mode.choices, widget=forms.RadioSelect)
    is_active = forms.BooleanField(label="Offered to clients", required=False, initial=True)
