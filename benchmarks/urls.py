"""The product's URLs plus the three baselines under /bench/."""

from django.urls import path

from booking_project.urls import urlpatterns as product_urlpatterns

from . import baselines

urlpatterns = [
    path("bench/bare", baselines.bare, name="bench-bare"),
    path("bench/one/<int:pk>", baselines.one_query, name="bench-one-query"),
    path("bench/rows", baselines.template_page, name="bench-template"),
    *product_urlpatterns,
]
