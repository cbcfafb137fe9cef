"""The client's directory pages: the therapist directory and one therapist's page."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render

from ... import selectors
from ...forms import DirectoryFilterForm
from ...models import TherapistProfile, User
from ..common import paginate, query_without

DIRECTORY_PAGE_SIZE = 10
NEXT_SLOTS = 6


def directory(request):
    options = selectors.directory_filter_options()
    form = DirectoryFilterForm(request.GET or None, options=options)
    filters = {}
    if form.is_bound:
        form.is_valid()  # errors show next to their fields; the valid filters still apply
        filters = form.filters()
    page = paginate(request, selectors.therapists_directory(**filters), per_page=DIRECTORY_PAGE_SIZE)
    return render(
        request,
        "sessions_app/client/directory.html",
        {
            "form": form,
            "page": page,
            "filtered": any(value not in ("", None, False) for value in filters.values()),
            "page_query": query_without(request, "page"),
        },
    )


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
