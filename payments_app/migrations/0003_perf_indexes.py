"""The payments admin's lists, newest first, as attempts and callbacks grow (issue 21: 457 k attempts).

CONCURRENTLY: payments and Daraja's callbacks insert here all the time; a plain CREATE INDEX would
block them (and time out Daraja's callbacks) while it builds.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("payments_app", "0002_gateway_problems")]

    operations = [
        # PaymentAttemptAdmin: ORDER BY initiated_at DESC, id DESC LIMIT 100 (read backwards), also
        # with the initiated_at date filter.
        AddIndexConcurrently(
            model_name="paymentattempt",
            index=models.Index(fields=["initiated_at", "id"], name="attempt_initiated_id_idx"),
        ),
        # MpesaCallbackAdmin: ORDER BY received_at DESC, id DESC LIMIT 100 (read backwards), also
        # with the received_at date filter.
        AddIndexConcurrently(
            model_name="mpesacallback",
            index=models.Index(fields=["received_at", "id"], name="callback_received_id_idx"),
        ),
    ]
