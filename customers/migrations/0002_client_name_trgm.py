"""A trigram index on client names for "name contains" search. PostgreSQL only: pg_trgm
is a trusted extension, so the schema owner that runs ``migrate`` may create it; SQLite
needs (and gets) nothing.

Under the forced Row-Level Security of tenant tables the planner may use an index only
for leakproof operators, and LIKE is not one: the application role's LIKE queries do
not use this index (measured, see ``customers.selectors.client_search``, which searches
prefixes and identifiers through leakproof ranges and equalities instead). It serves the
schema owner's and maintenance queries, and the application once a DBA accepts marking
``textlike`` LEAKPROOF (a superuser decision)."""

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
