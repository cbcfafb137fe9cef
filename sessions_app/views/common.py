"""Small helpers shared by the views: the client's login check, pagination, a session's log in words."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpRequest

LOGIN_URL = "sessions:login"


def client_login_required(view):
    """Send anonymous people to our login page, then back where they were going."""
    return login_required(view, login_url=LOGIN_URL)


def paginate(request: HttpRequest, items, *, per_page: int, param: str = "page") -> Page:
    """One page of ``items``; an out-of-range or malformed page number gives the nearest real page."""
    return Paginator(items, per_page).get_page(request.GET.get(param))


def query_without(request: HttpRequest, *names: str) -> str:
    """The current query string minus ``names`` (to build pagination links that keep the filters)."""
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


# Plain words for each event in a session's log (SessionEvent.action), as each side reads them:
# (the client's pages, the therapist's dashboard).
EVENT_LABELS: dict[str, tuple[str, str]] = {
    "request": ("You asked for this session", "Requested"),
    "approve": ("Approved by the therapist", "Approved"),
    "decline": ("Declined by the therapist", "Declined"),
    "cancel": ("Cancelled", "Cancelled"),
    "expire": ("Expired", "Expired"),
    "confirm": ("Paid with M-Pesa and confirmed", "Paid and confirmed"),
    "start": ("Session started", "Started"),
    "complete": ("Session completed", "Completed"),
    "mark_no_show": ("Marked as missed", "Marked as no-show"),
    "set_link": ("Meeting link added", "Meeting link set"),
    "payment_processing": ("M-Pesa payment requested", "M-Pesa payment requested"),
    "payment_failed": ("M-Pesa payment did not go through", "M-Pesa payment failed"),
    "refund": ("Refund recorded", "Refund recorded"),
}
AUDIENCES = ("client", "therapist")


def event_label(action: str, *, audience: str) -> str:
    """How ``audience`` ("client" or "therapist") reads one log entry; an unknown action reads as itself."""
    labels = EVENT_LABELS.get(action)
    if labels is None:
        return action.replace("_", " ").capitalize()
    return labels[AUDIENCES.index(audience)]
