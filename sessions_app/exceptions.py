"""Domain errors. Views turn them into a form message or a JSON error (409/400/403)."""

from __future__ import annotations


class BookingError(Exception):
    code = "booking_error"
    http_status = 400
    default_message = "This request could not be completed."

    def __init__(self, message: str | None = None, *, field: str | None = None):
        self.message = message or self.default_message
        self.field = field
        super().__init__(self.message)


class ValidationFailed(BookingError):
    code = "invalid"
    http_status = 400


class NotAllowed(BookingError):
    code = "not_allowed"
    http_status = 403
    default_message = "You are not allowed to do that."


class IllegalTransition(BookingError):
    code = "illegal_transition"
    http_status = 409
    default_message = "That is not possible in the session's current state."


class SlotUnavailable(BookingError):
    code = "slot_taken"
    http_status = 409
    default_message = "Sorry, that time has just been taken. Please pick another time."


class RateLimited(BookingError):
    code = "rate_limited"
    http_status = 429
    default_message = "Too many attempts. Please wait a little and try again."


class InvalidCredentials(ValidationFailed):
    code = "invalid_credentials"
    default_message = "That email and password do not match an account. Check them and try again."
