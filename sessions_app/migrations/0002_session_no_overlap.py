"""No two slot-holding sessions of one therapist may overlap (PostgreSQL, btree_gist).

SQLite (the embedded `make run` default) has no exclusion constraints; there the
booking service's per-therapist row lock is the only guard, which suffices for a
single-process development server.
"""

from django.db import migrations

HOLDING = "('pending_approval', 'approved', 'confirmed', 'in_progress')"

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    f"""ALTER TABLE sessions_app_session ADD CONSTRAINT session_no_overlap
        EXCLUDE USING gist (therapist_id WITH =, tstzrange("start", "end", '[)') WITH &&)
        WHERE (status IN {HOLDING})""",
]
BACKWARD = ["ALTER TABLE sessions_app_session DROP CONSTRAINT IF EXISTS session_no_overlap"]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
