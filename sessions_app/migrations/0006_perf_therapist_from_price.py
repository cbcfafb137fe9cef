"""TherapistProfile.from_price: the directory's "from KES" without MIN() over every therapist's types per request (issue 21).

Filled here from the active session types; from then on SessionType.save() and delete() keep it.
The profiles table is small (2,004 rows at the bench's large size): a plain transaction is fine.
"""

from django.db import migrations, models
from django.db.models import Min, OuterRef, Subquery


def fill(apps, schema_editor):
    TherapistProfile = apps.get_model("sessions_app", "TherapistProfile")
    SessionType = apps.get_model("sessions_app", "SessionType")
    lowest = (
        SessionType.objects.filter(therapist=OuterRef("pk"), is_active=True)
        .values("therapist")
        .annotate(low=Min("price_kes"))
        .values("low")
    )
    TherapistProfile.objects.update(from_price=Subquery(lowest))


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0005_perf_indexes")]

    operations = [
        migrations.AddField(
            model_name="therapistprofile",
            name="from_price",
            field=models.PositiveIntegerField(
                blank=True, editable=False, help_text="Lowest price (KES) of the active session types.", null=True
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
