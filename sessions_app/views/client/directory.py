"""The client's directory pages: the therapist directory and one therapist's page."""

from __future__ import annotations

import hashlib

from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from ... import caching, selectors
from ...forms import DirectoryFilterForm
from ...models import TherapistProfile, User
from ..common import paginate, query_without

DIRECTORY_PAGE_SIZE = 10
NEXT_SLOTS = 6


def directory(request):
    """The directory's content is cached rendered, per query string, under the directory's version
    (sessions_app/caching.py: bumped when a profile, a session type or a therapist's account changes).
    Not cached: a form with errors, and "available this week" (it depends on the time)."""
    key = "directory-page:" + hashlib.sha256(request.META.get("QUERY_STRING", "").encode()).hexdigest()[:40]
    version, html = caching.lookup(caching.DIRECTORY, key)
    context = {}
    if html is None:
        options = selectors.directory_filter_options()
        form = DirectoryFilterForm(request.GET or None, options=options)
        filters = {}
        cacheable = True
        if form.is_bound:
            cacheable = form.is_valid()  # errors show next to their fields; the valid filters still apply
            filters = form.filters()
            cacheable = cacheable and not filters.get("available_this_week")
        page = paginate(request, selectors.therapists_directory(**filters), per_page=DIRECTORY_PAGE_SIZE)
        context = {
            "form": form,
            "page": page,
            "filtered": any(value not in ("", None, False) for value in filters.values()),
            "page_query": query_without(request, "page"),
        }
        html = render_to_string("sessions_app/client/_directory_content.html", context, request=request)
        if cacheable:
            caching.store(key, version, html)
    content = mark_safe(html)  # noqa: S308 - our own template's output, escaped when it was rendered
    return render(request, "sessions_app/client/directory.html", {**context, "directory_content": content})


def therapist_detail(request, pk: int):
    therapist = get_object_or_404(
        TherapistProfile.objects.select_related("user").filter(user__is_active=True, user__role=User.Role.THERAPIST),
        pk=pk,
    )
    offers = [
        {
            "type": session_type,
            "slots": selectors.next_free_slots(therapist=therapist, session_type=session_type, count=NEXT_SLOTS),
        }
        for session_type in therapist.session_types.filter(is_active=True).order_by("duration_minutes", "price_kes")
    ]
    return render(request, "sessions_app/client/therapist_detail.html", {"therapist": therapist, "offers": offers})
