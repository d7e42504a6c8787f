"""The audit log is append-only, by every path."""

import pytest
from django.db import DatabaseError, connection, transaction

from vipcrm.audit import audit_record
from vipcrm.models import AuditEntry
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(bank_a):
    with tenant_context(bank_a.tenant):
        audit_record(action="view", user=bank_a.rm.user, obj=bank_a.sub)
        return AuditEntry.objects.get()


def test_an_entry_records_who_what_and_when(entry, bank_a):
    assert entry.actor == bank_a.rm.user
    assert entry.actor_label == bank_a.rm.user.username
    assert entry.object_type == "vipcrm.branch"
    assert entry.object_id == str(bank_a.sub.pk)
    assert entry.tenant_id == bank_a.tenant.pk


def test_entries_cannot_be_edited_or_deleted_through_the_orm(entry, bank_a):
    with tenant_context(bank_a.tenant):
        entry.object_repr = "changed"
        with pytest.raises(PermissionError):
            entry.save()
        with pytest.raises(PermissionError):
            entry.delete()
        with pytest.raises(PermissionError):
            AuditEntry.objects.filter(pk=entry.pk).update(object_repr="changed")
        with pytest.raises(PermissionError):
            AuditEntry.objects.all().delete()
        assert AuditEntry.objects.get().object_repr == entry.__class__.objects.get().object_repr


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_raw_sql_cannot_edit_or_delete_entries(entry, bank_a):
    with tenant_context(bank_a.tenant), connection.cursor() as cursor:
        for sql in (
            "UPDATE vipcrm_auditentry SET object_repr = 'x'",
            "DELETE FROM vipcrm_auditentry",
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(sql)


def test_head_office_browses_and_filters_the_log(client, bank_a, entry):
    client.force_login(bank_a.head.user)
    response = client.get("/audit/", {"action": "view"})
    assert response.status_code == 200
    assert list(response.context["entries"]) == [entry]
    assert client.get("/audit/", {"action": "export"}).context["entries"].count() == 0


def test_bad_audit_filters_get_a_form_error_not_a_500(client, bank_a):
    client.force_login(bank_a.head.user)
    response = client.get("/audit/", {"date_from": "2026-02-30", "action": "nonsense"})
    assert response.status_code == 200
    form = response.context["filter_form"]
    assert "date_from" in form.errors and "action" in form.errors


def test_the_audit_page_offers_no_way_to_change_entries(client, bank_a, entry):
    client.force_login(bank_a.head.user)
    assert client.post("/audit/", {"id": entry.pk}).status_code == 405


def test_valid_filters_still_apply_beside_an_invalid_one(client, bank_a, entry):
    client.force_login(bank_a.head.user)  # writes a "login" entry
    response = client.get("/audit/", {"action": "view", "date_from": "not-a-date"})
    assert list(response.context["entries"]) == [entry]
    assert "date_from" in response.context["filter_form"].errors
