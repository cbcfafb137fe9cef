"""Small helpers shared by the client's views."""

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
