from django.urls import path

from . import api, views

app_name = "payments"

urlpatterns = [
    path("pay/<int:pk>/", views.pay, name="pay"),
    path("api/mpesa/initiate", api.InitiateApi.as_view(), name="api_initiate"),
    path("api/mpesa/initiate/", api.InitiateAliasApi.as_view()),
    path("api/mpesa/status/<str:checkout_request_id>", api.StatusApi.as_view(), name="api_status"),
    path("api/mpesa/status/<str:checkout_request_id>/", api.StatusAliasApi.as_view()),
    path("api/mpesa/callback/<str:secret>/", api.CallbackApi.as_view(), name="api_callback"),
    path("api/mpesa/callback/<str:secret>", api.CallbackAliasApi.as_view()),
    # The CallBackURL we give Daraja: same endpoint, a path without "mpesa" (Daraja rejects such URLs).
    path("api/pay/cb/<str:secret>/", api.CallbackAliasApi.as_view(), name="api_callback_neutral"),
]
