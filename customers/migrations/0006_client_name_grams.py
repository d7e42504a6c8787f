"""The clients' name bigrams (``customers.name_search``), filled for the clients there
are; the trigram index, which Row-Level Security kept from serving the application's
searches, is dropped (every client row carried it, and rewrote it with each AUM change).
"""

import django.db.models.deletion
from django.db import migrations, models

TRIGRAM_INDEX = "client_name_trgm_idx"


def grams_fill(apps, schema_editor):
    from customers.name_search import client_name_grams_refresh
    from vipcrm.tenancy import tenant_context

    Tenant = apps.get_model("vipcrm", "Tenant")
    for tenant_id in Tenant.objects.values_list("pk", flat=True):
        with tenant_context(tenant_id):
            client_name_grams_refresh()


def trigram_index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")


def trigram_index_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON customers_client "
            "USING gin (name gin_trgm_ops)"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0005_client_holding_lean_indexes'),
        ('vipcrm', '0003_notification'),
    ]

    operations = [
        migrations.CreateModel(
            name='ClientNameGram',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('gram', models.CharField(max_length=2)),
                ('client', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='customers.client')),
                ('tenant', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='vipcrm.tenant')),
            ],
            options={
                'indexes': [models.Index(fields=['tenant', 'client'], name='client_name_gram_client_idx')],
                'constraints': [models.UniqueConstraint(fields=('tenant', 'gram', 'client'), name='client_name_gram_unique')],
            },
        ),
        migrations.RunPython(grams_fill, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(trigram_index_drop, trigram_index_create, elidable=False),
    ]
