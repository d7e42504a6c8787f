""" "Name contains" through the names' bigrams (customers.name_search): the same rule in
Python and SQL, kept by every writer of names, isolated per tenant, and on PostgreSQL
served by the bigram index under Row-Level Security."""

import json

import pytest
from django.db import connection

from customers import selectors
from customers.models import Client, ClientNameGram
from customers.name_search import client_name_grams_refresh, name_grams
from tests.factories import ClientFactory
from vipcrm.roles import Actor
from vipcrm.services import api_token_create
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

NAMES = [
    "王小明",
    "欧阳明华",
    "John SMITH",
    "ABC贸易有限公司",
    "客户123号",
    "李",
    "Zoë Ng",
    "a  b",
]


def stored_grams(tenant, client) -> set[str]:
    with tenant_context(tenant):
        return set(ClientNameGram.objects.filter(client=client).values_list("gram", flat=True))


def found(bank, query, staff=None) -> list[str]:
    with tenant_context(bank.tenant):
        actor = Actor.for_staff(staff or bank.head)
        return sorted(
            selectors.client_search(actor=actor, query=query).values_list("name", flat=True)
        )


def test_the_rule_in_python_and_in_sql_agree(bank_a):
    clients = [ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, name=n) for n in NAMES]
    with tenant_context(bank_a.tenant):
        ClientNameGram.objects.all().delete()
        client_name_grams_refresh()  # the whole bank, in SQL
    for client in clients:
        assert stored_grams(bank_a.tenant, client) == name_grams(client.name), client.name


def test_the_rule():
    assert name_grams("王小明") == {"王小", "小明"}
    assert name_grams("John SMITH") == {"jo", "oh", "hn", "sm", "mi", "it", "th"}
    assert name_grams("客户123号") == {"客户"}  # no pair with a digit or a space
    assert name_grams("李") == set()
    assert name_grams("Zoë") == {"zo", "oë"}  # only ASCII letters are folded


def test_contains_finds_the_middle_the_end_and_any_ascii_case(bank_a):
    for name in NAMES:
        ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, name=name)
    assert found(bank_a, "阳明华") == ["欧阳明华"]
    assert found(bank_a, "贸易有限") == ["ABC贸易有限公司"]
    assert found(bank_a, "abc贸") == ["ABC贸易有限公司"]
    assert found(bank_a, "smith") == ["John SMITH"]
    assert found(bank_a, "n sm") == ["John SMITH"]  # the space is checked on the name
    assert found(bank_a, "明华王") == []  # every bigram, and then the name itself
    assert found(bank_a, "小明王") == []


def test_a_rename_through_the_orm_moves_the_bigrams(bank_a, django_assert_num_queries):
    client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, name="张三丰")
    with tenant_context(bank_a.tenant):
        client = Client.objects.get(pk=client.pk)
        client.name = "张无忌"
        client.save()
    assert stored_grams(bank_a.tenant, client) == {"张无", "无忌"}
    assert found(bank_a, "张无忌") == ["张无忌"] and found(bank_a, "张三丰") == []
    with tenant_context(bank_a.tenant):
        client = Client.objects.get(pk=client.pk)
        client.occupation = "武术"
        with django_assert_num_queries(1):  # the name did not change: no bigram work
            client.save()
        with django_assert_num_queries(1):
            client.save(update_fields=["occupation"])


def test_the_sync_keeps_the_bigrams_of_created_and_renamed_clients(client, bank_a):
    key = api_token_create(tenant=bank_a.tenant, name="core", scopes=["read", "write"])[1]

    def sync(records):
        response = client.post(
            "/api/v1/sync/clients/",
            json.dumps({"records": records}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {key}",
        )
        assert response.status_code == 200, response.content
        return response.json()

    base = {"branch_code": "BJ01", "rm_code": "R1"}
    sync(
        [
            {**base, "external_id": "S1", "name": "司马相如"},
            {**base, "external_id": "S2", "name": "卓文君"},
        ]
    )
    assert found(bank_a, "马相如") == ["司马相如"]
    sync(
        [
            {**base, "external_id": "S1", "name": "司马迁"},
            {**base, "external_id": "S2", "name": "卓文君"},
        ]
    )
    assert found(bank_a, "马相如") == [] and found(bank_a, "司马迁") == ["司马迁"]
    assert found(bank_a, "卓文君") == ["卓文君"]


def test_another_tenants_names_are_never_found(bank_a, bank_b):
    ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub, name="欧阳明华")
    assert found(bank_a, "阳明华") == []
    assert found(bank_b, "阳明华") == ["欧阳明华"]


def test_deleting_a_client_deletes_its_bigrams(bank_a):
    client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, name="王小明")
    with tenant_context(bank_a.tenant):
        Client.objects.filter(pk=client.pk).delete()
        assert not ClientNameGram.objects.filter(client_id=client.pk).exists()


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_contains_uses_the_bigram_index_under_row_level_security(bank_a):
    """LIKE cannot use an index ahead of the tenant policy; equality on the bigrams can."""
    for i in range(300):
        ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, name=f"客{i:03d}户名")
    ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, name="欧阳明华")
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user")
        (bypass,) = cursor.fetchone()
        assert not bypass
    with tenant_context(bank_a.tenant):
        actor = Actor.for_staff(bank_a.head)
        plan = selectors.client_search(actor=actor, query="阳明华").explain()
    assert "client_name_gram_unique" in plan, plan
