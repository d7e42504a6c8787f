"""The client list exported as CSV: the user's scope, masked per role, audited."""

import pytest
from django.urls import reverse

from tests.factories import ClientFactory
from vipcrm.models import AuditEntry
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

URL = reverse("customers:client-export")


@pytest.fixture
def clients(bank_a, bank_b):
    own = ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        name="王自己",
        mobile="13800001234",
    )
    other = ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.other_sub,
        owner_rm=bank_a.other_rm,
        name="李别人",
        mobile="13900005678",
    )
    ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub, name="乙行客户")
    return own, other


def export(client, staff, **params):
    client.force_login(staff)
    response = client.get(URL, params)
    return response, response.content.decode("utf-8-sig")


def test_rm_exports_their_book_with_mobiles_in_clear(client, bank_a, clients):
    response, body = export(client, bank_a.rm.user)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "王自己" in body and "13800001234" in body
    assert "李别人" not in body and "乙行客户" not in body


def test_head_office_export_is_masked_and_stays_in_the_tenant(client, bank_a, clients):
    _, body = export(client, bank_a.head.user)
    assert "王自己" in body and "李别人" in body and "乙行客户" not in body
    assert "138****1234" in body and "13800001234" not in body


def test_filters_apply_to_the_export(client, bank_a, clients):
    _, body = export(client, bank_a.head.user, q="李")
    assert "李别人" in body and "王自己" not in body


def test_every_export_is_audited(client, bank_a, clients):
    export(client, bank_a.head.user, q="李")
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(action="export")
    assert entry.actor == bank_a.head.user
    assert entry.detail["rows"] == 1
    assert entry.detail["filters"] == {"q": "李"}


def test_invalid_filters_are_a_400_with_the_reason(client, bank_a, clients):
    response, body = export(client, bank_a.head.user, maturing="soon")
    assert response.status_code == 400
    assert "maturing" in body
