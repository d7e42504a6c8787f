"""A trigram index on client names, so "name contains" stays an index scan on a
million-client tenant. PostgreSQL only: pg_trgm is a trusted extension, so the schema
owner that runs ``migrate`` may create it; SQLite needs (and gets) nothing."""

from django.db import migrations

INDEX = "client_name_trgm_idx"


def create_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON customers_client USING gin (name gin_trgm_ops)"
    )


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # The extension stays: other indexes may use it, and it costs nothing unused.
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_trigram_index, drop_trigram_index, elidable=False),
    ]
