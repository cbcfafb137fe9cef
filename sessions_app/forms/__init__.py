"""The site's forms, by area: accounts, the client's booking pages, the therapist's dashboard."""

from .accounts import CorrectionRequestForm, DeleteAccountForm, LoginForm, ProfileForm, SignupForm, TwoFactorCodeForm
from .booking import (
    BookingDetailsForm,
    CancelForm,
    ChooseSessionTypeForm,
    ChooseTherapistForm,
    DayForm,
    DirectoryFilterForm,
    SlotForm,
)
from .dashboard import (
    MeetingLinkForm,
    NoteForm,
    ReasonForm,
    SessionTypeForm,
    SettingsForm,
    TimeOffForm,
    WeeklyHoursForm,
    add_booking_error,
)

__all__ = [
    "BookingDetailsForm",
    "CancelForm",
    "CorrectionRequestForm",
    "DeleteAccountForm",
    "ChooseSessionTypeForm",
    "ChooseTherapistForm",
    "DayForm",
    "DirectoryFilterForm",
    "LoginForm",
    "MeetingLinkForm",
    "NoteForm",
    "ProfileForm",
    "ReasonForm",
    "SessionTypeForm",
    "SettingsForm",
    "SignupForm",
    "TwoFactorCodeForm",
    "SlotForm",
    "TimeOffForm",
    "WeeklyHoursForm",
    "add_booking_error",
]
