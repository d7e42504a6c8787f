"""The second wall: PostgreSQL Row-Level Security, proven as the application role."""

import pytest
from django.db import DatabaseError, connection, transaction

from tests.factories import ClientFactory
from vipcrm.tenancy import tenant_context, tenant_models

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="Row-Level Security is PostgreSQL's"
    ),
]


def fetch(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.mark.django_db
def test_the_app_role_is_neither_owner_superuser_nor_bypassrls():
    ((super_, bypass),) = fetch(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    )
    assert not super_ and not bypass
    owned = fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user"
    )
    assert owned == []


@pytest.mark.django_db
def test_every_tenant_table_has_forced_rls_and_the_policy():
    tables = {model._meta.db_table for model in tenant_models()}
    rows = fetch(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(%s)",
        [list(tables)],
    )
    assert {name for name, enabled, forced in rows if enabled and forced} == tables
    policies = {
        name
        for (name,) in fetch(
            "SELECT tablename FROM pg_policies WHERE policyname = 'tenant_isolation'"
        )
    }
    assert policies == tables


@pytest.mark.django_db
def test_raw_select_with_no_tenant_set_returns_no_rows(bank_a, bank_b):
    ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub)
    ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub)
    assert fetch("SELECT current_setting('app.tenant_id', true)") in ([("",)], [(None,)])
    for table in ("customers_client", "vipcrm_branch", "vipcrm_staffprofile"):
        assert fetch(f"SELECT count(*) FROM {table}") == [(0,)]


@pytest.mark.django_db
def test_raw_select_in_a_tenant_sees_only_that_tenant(bank_a, bank_b):
    ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub)
    ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub)
    with tenant_context(bank_a.tenant):
        assert fetch("SELECT DISTINCT tenant_id FROM customers_client") == [(bank_a.tenant.pk,)]


@pytest.mark.django_db
def test_insert_into_another_tenant_is_rejected(bank_a, bank_b):
    with tenant_context(bank_a.tenant):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            fetch(
                "INSERT INTO vipcrm_branch (tenant_id, code, name, created_at, updated_at) "
                "VALUES (%s, 'EVIL', 'evil', now(), now()) RETURNING id",
                [bank_b.tenant.pk],
            )
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            fetch("UPDATE vipcrm_branch SET tenant_id = %s RETURNING id", [bank_b.tenant.pk])


@pytest.mark.django_db
def test_the_setting_is_transaction_local(bank_a):
    with tenant_context(bank_a.tenant):
        assert fetch("SELECT current_setting('app.tenant_id', true)") == [(str(bank_a.tenant.pk),)]
    assert fetch("SELECT current_setting('app.tenant_id', true)") == [("",)]


@pytest.mark.django_db(transaction=True)
def test_nothing_leaks_to_the_next_transaction_on_the_same_connection(bank_a):
    """A pooled connection's next user starts with no tenant: SET LOCAL, never SET."""
    with tenant_context(bank_a.tenant):
        pass  # commits
    connection.ensure_connection()
    assert fetch("SELECT current_setting('app.tenant_id', true)") in ([("",)], [(None,)])
    assert fetch("SELECT count(*) FROM vipcrm_branch") == [(0,)]
