"""What a minimal Django app does on this machine: the yardsticks every figure is divided by.

Served by the same gunicorn, through the same middleware, on the same database as
the product's views:

- ``bare``: a fixed small JSON body, no database;
- ``one_query``: JSON from one primary-key query;
- ``template``: a page extending templates/base.html that lists 20 rows from one query.
"""

from django.http import Http404, JsonResponse
from django.shortcuts import render

from sessions_app.models import TherapistProfile

BARE_BODY = {"ok": True, "service": "baseline", "version": 1}


def bare(request):
    return JsonResponse(BARE_BODY)


def one_query(request, pk: int):
    row = TherapistProfile.objects.filter(pk=pk).values("id", "title", "city", "time_zone").first()
    if row is None:
        raise Http404
    return JsonResponse(row)


def template_page(request):
    rows = TherapistProfile.objects.values("id", "title", "city", "user__full_name").order_by("id")[:20]
    return render(request, "benchmarks/rows.html", {"rows": rows})
