"""The email log's admin list, newest first, as the log grows (issue 21: 3.2 M rows at the bench's large size).

CONCURRENTLY: every booking and payment inserts here; a plain CREATE INDEX would block them while it builds.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("notifications_app", "0002_staff_payment_alert")]

    operations = [
        # NotificationAdmin: ORDER BY created_at DESC, id DESC LIMIT 100 (read backwards), also
        # with the created_at date filter.
        AddIndexConcurrently(
            model_name="notification",
            index=models.Index(fields=["created_at", "id"], name="notification_created_id_idx"),
        ),
    ]
