from __future__ import annotations

from rest_framework import serializers

from sessions_app.api.errors import ErrorSerializer  # the API's one error shape
from sessions_app.phone import mask

__all__ = ["AttemptSerializer", "CallbackAckSerializer", "CallbackSerializer", "ErrorSerializer", "InitiateSerializer"]

from .models import PaymentAttempt


class InitiateSerializer(serializers.Serializer):
    session = serializers.IntegerField(min_value=1, help_text="The session's id.")
    phone = serializers.CharField(
        max_length=32, help_text="Kenyan mobile number: 07XXXXXXXX, 01XXXXXXXX, +2547XXXXXXXX or 2547XXXXXXXX."
    )


class AttemptSerializer(serializers.ModelSerializer):
    """One STK Push and where its session stands."""

    status_label = serializers.CharField(source="get_status_display")
    final = serializers.BooleanField(source="is_final", help_text="True once the answer can no longer change.")
    phone = serializers.SerializerMethodField(help_text="The phone the prompt went to, masked.")
    reference = serializers.CharField(source="account_reference")
    session_status = serializers.CharField(source="session.status")
    session_status_label = serializers.CharField(source="session.get_status_display")
    payment_status = serializers.CharField(source="session.payment_status")
    payment_status_label = serializers.CharField(source="session.get_payment_status_display")

    class Meta:
        model = PaymentAttempt
        fields = [
            "id",
            "session",
            "reference",
            "status",
            "status_label",
            "final",
            "message",
            "amount",
            "phone",
            "checkout_request_id",
            "merchant_request_id",
            "result_code",
            "mpesa_receipt_number",
            "initiated_at",
            "completed_at",
            "session_status",
            "session_status_label",
            "payment_status",
            "payment_status_label",
        ]
        read_only_fields = fields

    def get_phone(self, obj: PaymentAttempt) -> str:
        return mask(obj.phone)


class CallbackItemSerializer(serializers.Serializer):
    Name = serializers.CharField()
    Value = serializers.JSONField(required=False)


class CallbackMetadataSerializer(serializers.Serializer):
    Item = CallbackItemSerializer(many=True)


class StkCallbackSerializer(serializers.Serializer):
    MerchantRequestID = serializers.CharField()
    CheckoutRequestID = serializers.CharField()
    ResultCode = serializers.IntegerField()
    ResultDesc = serializers.CharField()
    CallbackMetadata = CallbackMetadataSerializer(required=False)


class CallbackBodySerializer(serializers.Serializer):
    stkCallback = StkCallbackSerializer()  # noqa: N815 - Daraja's name


class CallbackSerializer(serializers.Serializer):
    """Documentation of Daraja's STK callback body (validated by payments_app.daraja.parse_callback)."""

    Body = CallbackBodySerializer()


class CallbackAckSerializer(serializers.Serializer):
    ResultCode = serializers.IntegerField()
    ResultDesc = serializers.CharField()
