"""POST /api/v1/sync/<kind>/ — the core-banking contract (shared/spec/sync-api.md)."""

import datetime
import json
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

import psycopg2
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import api
from customers.models import Client, FxRate, Holding, Product, RiskAssessment
from customers.validators import id_check_char
from tests.factories import (
    BranchFactory,
    ClientFactory,
    HoldingFactory,
    ProductFactory,
    StaffFactory,
)
from vipcrm.models import Branch, IdempotencyRecord, StaffProfile
from vipcrm.services import api_token_create
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

# Every kind's batch costs at most this many queries, for 10 records as for 5,000
# (token lookup, tenant binding, savepoints, references, existing rows, writes, follow-ups).
# The most is a holdings batch with an Idempotency-Key on PostgreSQL, whose AUM refresh
# checks the deferred foreign keys, locks its clients, reads the FX rates and updates
# (customers.aum).
MAX_SYNC_QUERIES = 23


def id_number(serial: int) -> str:
    first17 = f"11010519900307{serial % 1000:03d}"
    return first17 + id_check_char(first17)


@dataclass(frozen=True)
class Kind:
    name: str
    model: type
    key: str
    change: dict

    def record(self, i: int) -> dict:
        return RECORDS[self.name](i)

    def stored(self, tenant, i: int):
        with tenant_context(tenant):
            return self.model.objects.get(**{self.key: self.lookup(i)})

    def lookup(self, i: int):
        return self.record(i)[self.key]


RECORDS = {
    "branches": lambda i: {"code": f"N{i:05d}", "name": f"新支行{i}", "parent_code": "BJ"},
    "staff": lambda i: {
        "code": f"X{i:05d}",
        "name": f"员工{i}",
        "branch_code": "BJ01",
        "role": "rm",
        "email": f"s{i}@bank.example.cn",
    },
    "products": lambda i: {
        "code": f"P{i:05d}",
        "name": f"理财{i}号",
        "category": "wealth_management",
        "risk_level": "R2",
    },
    "fx-rates": lambda i: {
        "currency": "USD",
        "date": (datetime.date(2010, 1, 1) + datetime.timedelta(days=i)).isoformat(),
        "rate_to_cny": "7.12345678",
    },
    "clients": lambda i: {
        "external_id": f"C{i:08d}",
        "name": f"客户{i}",
        "branch_code": "BJ01",
        "rm_code": "R1",
        "gender": "F",
        "birth_date": "1990-03-07",
        "id_number": id_number(i),
        "mobile": f"138{i:08d}",
        "email": f"c{i}@mail.example.cn",
        "occupation": "企业主",
        "is_entrepreneur": True,
        "risk_level": "C3",
        "risk_assessed_on": "2026-01-15",
    },
    "holdings": lambda i: {
        "external_id": f"H{i:08d}",
        "client_external_id": "CX",
        "product_code": "PX",
        "balance": "100000.00",
        "currency": "CNY",
        "opened_on": "2025-01-01",
        "matures_on": "2027-01-01",
        "status": "active",
    },
}

KINDS = [
    Kind("branches", Branch, "code", {"name": "改名支行"}),
    Kind("staff", StaffProfile, "code", {"role": "advisor"}),
    Kind("products", Product, "code", {"risk_level": "R4"}),
    Kind("fx-rates", FxRate, "date", {"rate_to_cny": "7.20000000"}),
    Kind("clients", Client, "external_id", {"mobile": "13911112222"}),
    Kind("holdings", Holding, "external_id", {"balance": "250000.50"}),
]
KIND_IDS = [kind.name for kind in KINDS]


@pytest.fixture
def write_key(bank_a):
    # Holdings need a client and a product to point at.
    ClientFactory(tenant=bank_a.tenant, external_id="CX", branch=bank_a.sub)
    ProductFactory(tenant=bank_a.tenant, code="PX")
    return api_token_create(tenant=bank_a.tenant, name="core", scopes=["read", "write"])[1]


@pytest.fixture
def post(client):
    def _post(kind, records, key, *, body=None, **headers):
        if body is None:
            body = json.dumps({"records": records})
        extra = {f"HTTP_{name.upper().replace('-', '_')}": v for name, v in headers.items()}
        if key is not None:
            extra["HTTP_AUTHORIZATION"] = f"Token {key}"
        return client.post(f"/api/v1/sync/{kind}/", body, content_type="application/json", **extra)

    return _post


def counts(response):
    data = response.json()
    return data["created"], data["updated"], data["unchanged"]


# --- Every kind: create, update, unchanged, idempotency, query counts -------------------


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_new_records_are_created(kind, post, write_key, bank_a):
    response = post(kind.name, [kind.record(1), kind.record(2)], write_key)
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0, "errors": []}
    row = kind.stored(bank_a.tenant, 2)
    assert row.tenant_id == bank_a.tenant.pk


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_sending_the_same_batch_twice_changes_nothing_the_second_time(
    kind, post, write_key, bank_a
):
    batch = [kind.record(i) for i in range(3)]
    assert counts(post(kind.name, batch, write_key)) == (3, 0, 0)
    before = kind.stored(bank_a.tenant, 1).updated_at
    assert counts(post(kind.name, batch, write_key)) == (0, 0, 3)
    assert kind.stored(bank_a.tenant, 1).updated_at == before


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_a_changed_record_is_updated_and_its_timestamp_moves(kind, post, write_key, bank_a):
    post(kind.name, [kind.record(1), kind.record(2)], write_key)
    first = kind.stored(bank_a.tenant, 1)
    changed = {**kind.record(1), **kind.change}
    assert counts(post(kind.name, [changed, kind.record(2)], write_key)) == (0, 1, 1)
    again = kind.stored(bank_a.tenant, 1)
    assert again.pk == first.pk
    assert again.created_at == first.created_at
    assert again.updated_at > first.updated_at
    field, value = next(iter(kind.change.items()))
    assert str(getattr(again, field)) == value
    assert kind.stored(bank_a.tenant, 2).updated_at < again.updated_at


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_an_idempotency_key_replays_the_first_response_and_applies_nothing(
    kind, post, write_key, bank_a
):
    batch = [kind.record(1), kind.record(2)]
    first = post(kind.name, batch, write_key, idempotency_key="batch-0001")
    assert counts(first) == (2, 0, 0)
    with tenant_context(bank_a.tenant):
        kind.model.objects.filter(**{kind.key: kind.lookup(1)}).delete()

    replay = post(kind.name, batch, write_key, idempotency_key="batch-0001")
    assert replay.status_code == first.status_code
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    with tenant_context(bank_a.tenant):
        assert not kind.model.objects.filter(**{kind.key: kind.lookup(1)}).exists()


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_the_query_count_does_not_grow_with_the_batch(
    kind, post, write_key, django_assert_max_num_queries
):
    post(kind.name, [], write_key)  # the token's first use also stamps last_used_at
    small = [kind.record(i) for i in range(10)]
    large = [kind.record(i) for i in range(10, 5010)]
    with django_assert_max_num_queries(MAX_SYNC_QUERIES) as ten:
        assert counts(post(kind.name, small, write_key)) == (10, 0, 0)
    with django_assert_max_num_queries(MAX_SYNC_QUERIES) as five_thousand:
        assert counts(post(kind.name, large, write_key)) == (5000, 0, 0)
    assert len(ten.captured_queries) == len(five_thousand.captured_queries)

    changed = [{**record, **kind.change} for record in large]
    with django_assert_max_num_queries(MAX_SYNC_QUERIES):
        assert counts(post(kind.name, changed, write_key, idempotency_key="k1")) == (0, 5000, 0)
    with django_assert_max_num_queries(MAX_SYNC_QUERIES):
        assert counts(post(kind.name, changed, write_key)) == (0, 0, 5000)


# --- Idempotency-Key -------------------------------------------------------------------


def test_the_same_key_with_another_body_is_a_conflict(post, write_key, bank_a):
    kind = KINDS[2]
    post(kind.name, [kind.record(1)], write_key, idempotency_key="k-1")
    response = post(kind.name, [kind.record(2)], write_key, idempotency_key="k-1")
    assert response.status_code == 409
    assert "Idempotency-Key" in response.json()["detail"]
    with tenant_context(bank_a.tenant):
        assert not Product.objects.filter(code=kind.lookup(2)).exists()


def test_the_same_key_on_another_kind_is_a_conflict(post, write_key):
    body = {"code": "Z1", "name": "同名", "parent_code": None}
    post("branches", [body], write_key, idempotency_key="k-2")
    product = {**body, "category": "fund", "risk_level": "R1"}
    assert post("products", [product], write_key, idempotency_key="k-2").status_code == 409


def test_a_key_older_than_24_hours_is_forgotten(post, write_key, bank_a):
    kind = KINDS[2]
    post(kind.name, [kind.record(1)], write_key, idempotency_key="old")
    with tenant_context(bank_a.tenant):
        IdempotencyRecord.objects.update(created_at=timezone.now() - datetime.timedelta(hours=25))
    response = post(kind.name, [kind.record(1)], write_key, idempotency_key="old")
    assert counts(response) == (0, 0, 1)
    assert "Idempotent-Replayed" not in response


def test_keys_are_per_tenant(post, write_key, bank_a, bank_b):
    key_b = api_token_create(tenant=bank_b.tenant, name="core", scopes=["read", "write"])[1]
    record = {"code": "Z1", "name": "总部直属"}
    post("branches", [record], write_key, idempotency_key="shared")
    response = post("branches", [record], key_b, idempotency_key="shared")
    assert counts(response) == (1, 0, 0)
    with tenant_context(bank_b.tenant):
        assert Branch.objects.filter(code="Z1").exists()


@pytest.mark.parametrize("key", ["", " padded ", "x" * 256, "换行"])
def test_a_malformed_idempotency_key_is_refused(post, write_key, key):
    response = post("branches", [], write_key, idempotency_key=key)
    assert response.status_code == 400


# --- Batches refused whole ----------------------------------------------------------------


def test_more_than_5000_records_are_refused_whole(post, write_key, bank_a):
    records = [RECORDS["products"](i) for i in range(5001)]
    response = post("products", records, write_key)
    assert response.status_code == 400
    assert "5,000" in response.json()["detail"]
    with tenant_context(bank_a.tenant):
        assert Product.objects.count() == 1  # the fixture's


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"items": []}',
        b'{"records": {"code": "X"}}',
        b'{"records": "X"}',
        b'{"records": null}',
        b"[" * 100_000,
    ],
    ids=[
        "malformed",
        "empty",
        "not-utf8",
        "a-list",
        "no-records",
        "records-object",
        "records-string",
        "records-null",
        "deeply-nested",
    ],
)
def test_a_body_that_is_not_a_batch_is_a_400(post, write_key, body):
    response = post("branches", None, write_key, body=body)
    assert response.status_code == 400
    assert "detail" in response.json()


def test_a_body_over_the_byte_cap_is_a_413(post, write_key, monkeypatch):
    monkeypatch.setattr(api, "SYNC_MAX_BODY_BYTES", 100)
    response = post("branches", [RECORDS["branches"](i) for i in range(10)], write_key)
    assert response.status_code == 413


def test_an_empty_batch_is_fine(post, write_key):
    assert post("branches", [], write_key).json() == {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "errors": [],
    }


# --- Authentication and scope --------------------------------------------------------


def test_a_read_only_token_cannot_sync(post, bank_a):
    key = api_token_create(tenant=bank_a.tenant, name="reader", scopes=["read"])[1]
    response = post("branches", [RECORDS["branches"](1)], key)
    assert response.status_code == 403
    with tenant_context(bank_a.tenant):
        assert not Branch.objects.filter(code="N00001").exists()


def test_no_token_is_a_401(post, bank_a):
    assert post("branches", [RECORDS["branches"](1)], None).status_code == 401


def test_staff_sessions_cannot_sync_even_as_head_office(client, bank_a):
    client.force_login(bank_a.head.user)
    response = client.post(
        "/api/v1/sync/branches/",
        json.dumps({"records": [RECORDS["branches"](1)]}),
        content_type="application/json",
    )
    assert response.status_code == 403
    with tenant_context(bank_a.tenant):
        assert not Branch.objects.filter(code="N00001").exists()


# --- Per-record validation -------------------------------------------------------------


def test_valid_records_apply_and_invalid_ones_are_reported(post, write_key, bank_a):
    records = [
        RECORDS["clients"](1),
        {**RECORDS["clients"](2), "mobile": "1234"},
        {**RECORDS["clients"](3), "branch_code": "NOPE"},
        "not an object",
        {"name": "无编号"},
        RECORDS["clients"](5),
    ]
    response = post("clients", records, write_key, **{"Accept-Language": "en"})
    assert response.status_code == 200
    data = response.json()
    assert (data["created"], data["updated"], data["unchanged"]) == (2, 0, 0)
    errors = {e["index"]: e for e in data["errors"]}
    assert sorted(errors) == [1, 2, 3, 4]
    assert errors[1]["key"] == "C00000002"
    assert list(errors[1]["errors"]) == ["mobile"]
    assert errors[2]["errors"] == {"branch_code": ['Unknown branch code "NOPE".']}
    assert errors[3]["key"] is None and "non_field_errors" in errors[3]["errors"]
    assert errors[4]["key"] is None
    assert set(errors[4]["errors"]) == {"external_id", "branch_code"}
    with tenant_context(bank_a.tenant):
        synced = set(Client.objects.values_list("external_id", flat=True))
    assert synced == {"CX", "C00000001", "C00000005"}


@pytest.mark.parametrize(
    ("kind", "patch", "field"),
    [
        ("clients", {"name": 123}, "name"),
        ("clients", {"name": ""}, "name"),
        ("clients", {"name": None}, "name"),
        ("clients", {"name": "长" * 101}, "name"),
        ("clients", {"is_entrepreneur": "yes"}, "is_entrepreneur"),
        ("clients", {"birth_date": "1990/03/07"}, "birth_date"),
        ("clients", {"birth_date": "1990-02-30"}, "birth_date"),
        ("clients", {"gender": "X"}, "gender"),
        ("clients", {"risk_level": "C6"}, "risk_level"),
        ("clients", {"email": "not-an-email"}, "email"),
        ("clients", {"mobile": "23812345678"}, "mobile"),
        ("clients", {"mobile": "1381234567"}, "mobile"),
        ("clients", {"mobile": 13812345678}, "mobile"),
        ("clients", {"id_number": "110105194912310021"}, "id_number"),
        ("clients", {"id_number": "11010519491231002"}, "id_number"),
        ("clients", {"id_number": "110105194902300028"}, "id_number"),
        ("clients", {"risk_assessed_on": None}, "risk_assessed_on"),
        ("clients", {"risk_assessed_on": "2999-01-01"}, "risk_assessed_on"),
        ("holdings", {"balance": "12.345"}, "balance"),
        ("holdings", {"balance": "abc"}, "balance"),
        ("holdings", {"balance": True}, "balance"),
        ("holdings", {"balance": "-5.00"}, "balance"),
        ("holdings", {"balance": "1e30"}, "balance"),
        ("holdings", {"balance": "10000000000000000.00"}, "balance"),
        ("holdings", {"currency": "usd"}, "currency"),
        ("holdings", {"status": "open"}, "status"),
        ("holdings", {"matures_on": "2024-01-01"}, "matures_on"),
        ("products", {"category": "stocks"}, "category"),
        ("products", {"risk_level": "C1"}, "risk_level"),
        ("staff", {"role": "teller"}, "role"),
        ("staff", {"email": "x@"}, "email"),
        ("fx-rates", {"rate_to_cny": "0"}, "rate_to_cny"),
        ("fx-rates", {"rate_to_cny": "7.123456789"}, "rate_to_cny"),
        ("fx-rates", {"date": 20260101}, "date"),
    ],
)
def test_a_bad_field_is_reported_with_its_name_and_a_message(post, write_key, kind, patch, field):
    response = post(kind, [{**RECORDS[kind](1), **patch}], write_key)
    assert response.status_code == 200
    data = response.json()
    assert data["created"] == 0
    (error,) = data["errors"]
    assert error["index"] == 0
    assert field in error["errors"], error
    assert all(isinstance(m, str) and m for m in error["errors"][field])


def test_a_wrong_id_check_digit_has_a_clear_message(post, write_key, client):
    client.cookies["django_language"] = "en"
    response = post(
        "clients",
        [{**RECORDS["clients"](1), "id_number": "11010519491231002X"[:-1] + "5"}],
        write_key,
    )
    (error,) = response.json()["errors"]
    assert error["errors"]["id_number"] == ["The check digit of the national ID number is wrong."]


def test_a_lowercase_id_check_x_is_accepted_in_upper_case(post, write_key, bank_a):
    record = {**RECORDS["clients"](1), "id_number": "11010519491231002x"}
    assert counts(post("clients", [record], write_key)) == (1, 0, 0)
    with tenant_context(bank_a.tenant):
        assert Client.objects.get(external_id="C00000001").id_number == "11010519491231002X"


def test_json_numbers_are_accepted_for_amounts_with_their_exact_digits(post, write_key, bank_a):
    body = json.dumps({"records": [RECORDS["holdings"](1)]}).replace(
        '"balance": "100000.00"', '"balance": 1234567.89'
    )
    assert counts(post("holdings", None, write_key, body=body)) == (1, 0, 0)
    with tenant_context(bank_a.tenant):
        assert Holding.objects.get(external_id="H00000001").balance == Decimal("1234567.89")


def test_unknown_fields_are_ignored(post, write_key):
    record = {**RECORDS["products"](1), "launched_by": "总行"}
    assert counts(post("products", [record], write_key)) == (1, 0, 0)


# --- References ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "patch", "field"),
    [
        ("branches", {"parent_code": "NOPE"}, "parent_code"),
        ("staff", {"branch_code": "NOPE"}, "branch_code"),
        ("clients", {"branch_code": "NOPE"}, "branch_code"),
        ("clients", {"rm_code": "NOPE"}, "rm_code"),
        ("clients", {"rm_code": "S1"}, "rm_code"),  # a supervisor is not an RM
        ("clients", {"company_external_id": "NOPE"}, "company_external_id"),
        ("holdings", {"client_external_id": "NOPE"}, "client_external_id"),
        ("holdings", {"product_code": "NOPE"}, "product_code"),
    ],
)
def test_an_unknown_reference_is_a_record_error(post, write_key, kind, patch, field):
    data = post(kind, [{**RECORDS[kind](1), **patch}], write_key).json()
    assert data["created"] == 0
    assert list(data["errors"][0]["errors"]) == [field]


@pytest.mark.parametrize(
    ("kind", "patch", "field"),
    [
        ("branches", {"parent_code": "GZ"}, "parent_code"),
        ("staff", {"branch_code": "GZ"}, "branch_code"),
        ("clients", {"branch_code": "GZ"}, "branch_code"),
        ("clients", {"rm_code": "RB"}, "rm_code"),
        ("clients", {"company_external_id": "CB"}, "company_external_id"),
        ("holdings", {"client_external_id": "CB"}, "client_external_id"),
        ("holdings", {"product_code": "PB"}, "product_code"),
    ],
)
def test_another_tenants_code_is_simply_unknown(
    post, write_key, bank_a, bank_b, kind, patch, field
):
    gz = BranchFactory(tenant=bank_b.tenant, code="GZ")
    StaffFactory(tenant=bank_b.tenant, code="RB", branch=gz)
    ClientFactory(tenant=bank_b.tenant, external_id="CB", branch=gz)
    ProductFactory(tenant=bank_b.tenant, code="PB")
    data = post(kind, [{**RECORDS[kind](1), **patch}], write_key).json()
    assert data["created"] == 0
    assert list(data["errors"][0]["errors"]) == [field]


def test_a_record_never_lands_in_another_tenant(post, write_key, bank_a, bank_b):
    theirs = ClientFactory(tenant=bank_b.tenant, external_id="C00000001", name="乙行客户")
    record = {**RECORDS["clients"](1), "tenant": bank_b.tenant.pk, "tenant_id": bank_b.tenant.pk}
    assert counts(post("clients", [record], write_key)) == (1, 0, 0)
    with tenant_context(bank_b.tenant):
        assert Client.objects.get(external_id="C00000001").name == theirs.name
    with tenant_context(bank_a.tenant):
        assert Client.objects.get(external_id="C00000001").name == "客户1"


def test_a_branch_may_hang_under_an_earlier_branch_of_the_same_batch(post, write_key, bank_a):
    records = [
        {"code": "GZ", "name": "广州分行", "parent_code": "HQ"},
        {"code": "GZ01", "name": "天河支行", "parent_code": "GZ"},
        {"code": "GZ02", "name": "越秀支行", "parent_code": "GZ03"},  # later: unknown
        {"code": "GZ03", "name": "海珠支行", "parent_code": "GZ"},
    ]
    data = post("branches", records, write_key).json()
    assert (data["created"], [e["index"] for e in data["errors"]]) == (3, [2])
    with tenant_context(bank_a.tenant):
        parents = dict(Branch.objects.values_list("code", "parent__code"))
    assert parents["GZ"] == "HQ" and parents["GZ01"] == "GZ" and parents["GZ03"] == "GZ"


def test_an_existing_branch_may_move_under_a_new_one(post, write_key, bank_a):
    records = [
        {"code": "NORTH", "name": "华北区", "parent_code": "HQ"},
        {"code": "BJ", "name": "北京分行", "parent_code": "NORTH"},
    ]
    assert counts(post("branches", records, write_key)) == (1, 1, 0)
    with tenant_context(bank_a.tenant):
        assert Branch.objects.get(code="BJ").parent.code == "NORTH"


def test_a_branch_cycle_is_refused(post, write_key, bank_a):
    records = [
        {"code": "HQ", "name": "总行", "parent_code": "BJ01"},
        {"code": "SH01", "name": "浦东支行", "parent_code": "SH01"},
    ]
    data = post("branches", records, write_key).json()
    assert data["created"] + data["updated"] == 0
    assert [list(e["errors"]) for e in data["errors"]] == [["parent_code"], ["parent_code"]]
    with tenant_context(bank_a.tenant):
        assert Branch.objects.get(code="HQ").parent is None


def test_a_client_may_link_a_company_from_earlier_in_the_batch(post, write_key, bank_a):
    company = {**RECORDS["clients"](1), "is_entrepreneur": False, "name": "某某实业有限公司"}
    person = {**RECORDS["clients"](2), "company_external_id": company["external_id"]}
    myself = {**RECORDS["clients"](3), "company_external_id": RECORDS["clients"](3)["external_id"]}
    data = post("clients", [company, person, myself], write_key).json()
    assert (data["created"], [e["index"] for e in data["errors"]]) == (2, [2])
    with tenant_context(bank_a.tenant):
        assert Client.objects.get(external_id="C00000002").company.external_id == "C00000001"


def test_the_same_key_twice_in_a_batch_applies_in_order(post, write_key, bank_a):
    first = RECORDS["products"](1)
    second = {"code": first["code"], "name": "改名", "category": "fund", "risk_level": "R2"}
    assert counts(post("products", [first, second, second], write_key)) == (1, 1, 1)
    with tenant_context(bank_a.tenant):
        product = Product.objects.get(code=first["code"])
    assert (product.name, product.category) == ("改名", "fund")


# --- Omitted keeps, null clears --------------------------------------------------------


def test_an_omitted_optional_field_keeps_its_value_and_null_clears_it(post, write_key, bank_a):
    full = RECORDS["clients"](1)
    post("clients", [full], write_key)
    required = {k: full[k] for k in ("external_id", "name", "branch_code")}
    assert counts(post("clients", [required], write_key)) == (0, 0, 1)
    with tenant_context(bank_a.tenant):
        kept = Client.objects.select_related("owner_rm").get(external_id=full["external_id"])
    assert (kept.email, kept.owner_rm.code, kept.mobile) == (full["email"], "R1", full["mobile"])

    cleared = {**required, "email": None, "rm_code": None, "birth_date": None}
    cleared |= {"is_entrepreneur": None, "risk_level": None, "risk_assessed_on": None}
    assert counts(post("clients", [cleared], write_key)) == (0, 1, 0)
    with tenant_context(bank_a.tenant):
        client = Client.objects.get(external_id=full["external_id"])
    assert (client.email, client.owner_rm, client.birth_date) == ("", None, None)
    assert (client.is_entrepreneur, client.risk_level, client.risk_assessed_on) == (False, "", None)
    assert client.mobile == full["mobile"]


def test_null_resets_a_field_with_a_default_to_the_default(post, write_key, bank_a):
    post("holdings", [{**RECORDS["holdings"](1), "currency": "USD", "status": "closed"}], write_key)
    record = {**RECORDS["holdings"](1), "currency": None, "status": None, "matures_on": None}
    assert counts(post("holdings", [record], write_key)) == (0, 1, 0)
    with tenant_context(bank_a.tenant):
        holding = Holding.objects.get(external_id="H00000001")
    assert (holding.currency, holding.status, holding.matures_on) == ("CNY", "active", None)


def test_a_resent_null_for_a_stored_default_is_unchanged(post, write_key, bank_a):
    record = {**RECORDS["holdings"](1), "currency": None, "status": None, "matures_on": None}
    assert counts(post("holdings", [record], write_key)) == (1, 0, 0)
    assert counts(post("holdings", [record], write_key)) == (0, 0, 1)


def test_a_resent_record_pointing_elsewhere_is_updated(post, write_key, bank_a):
    ClientFactory(tenant=bank_a.tenant, external_id="CY", branch=bank_a.sub)
    post("holdings", [RECORDS["holdings"](1)], write_key)
    moved = {**RECORDS["holdings"](1), "client_external_id": "CY"}
    assert counts(post("holdings", [moved], write_key)) == (0, 1, 0)
    gone = {**RECORDS["holdings"](1), "client_external_id": "NOPE"}
    response = post("holdings", [gone], write_key)
    assert counts(response) == (0, 0, 0)
    assert list(response.json()["errors"][0]["errors"]) == ["client_external_id"]
    with tenant_context(bank_a.tenant):
        assert Holding.objects.get(external_id="H00000001").client.external_id == "CY"


def test_a_resent_partial_record_equal_to_the_stored_row_is_unchanged(post, write_key):
    post("clients", [RECORDS["clients"](1)], write_key)
    partial = {key: RECORDS["clients"](1)[key] for key in ("external_id", "name", "branch_code")}
    assert counts(post("clients", [partial], write_key)) == (0, 0, 1)
    assert counts(post("clients", [{**partial, "rm_code": None}], write_key)) == (0, 1, 0)


def test_an_unchanged_record_then_a_change_of_the_same_key_in_one_batch(post, write_key, bank_a):
    post("products", [RECORDS["products"](1)], write_key)
    before = Kind("products", Product, "code", {}).stored(bank_a.tenant, 1).updated_at
    changed = {**RECORDS["products"](1), "risk_level": "R5"}
    batch = [RECORDS["products"](1), changed, RECORDS["products"](1)]
    # Each record counts against the one before it; the row ends as it was: not written.
    assert counts(post("products", batch, write_key)) == (0, 2, 1)
    with tenant_context(bank_a.tenant):
        product = Product.objects.get(code="P00001")
    assert (product.risk_level, product.updated_at) == ("R2", before)


def test_defaults_apply_to_omitted_fields_on_create(post, write_key, bank_a):
    record = {k: RECORDS["holdings"](1)[k] for k in ("external_id", "client_external_id")}
    record |= {"product_code": "PX", "balance": "1.00"}
    post("holdings", [record], write_key)
    with tenant_context(bank_a.tenant):
        holding = Holding.objects.get(external_id="H00000001")
    assert (holding.currency, holding.status, holding.opened_on) == ("CNY", "active", None)


# --- Kind-specific behaviour -----------------------------------------------------------


def test_staff_sync_creates_no_login_and_keeps_an_existing_one(post, write_key, bank_a):
    records = [
        {"code": "R1", "name": "新名字", "branch_code": "BJ01", "role": "rm"},
        RECORDS["staff"](1),
    ]
    assert counts(post("staff", records, write_key)) == (1, 1, 0)
    with tenant_context(bank_a.tenant):
        assert StaffProfile.objects.get(code="R1").user == bank_a.rm.user
        assert StaffProfile.objects.get(code="X00001").user is None


def test_client_risk_assessments_are_kept_as_history(post, write_key, bank_a):
    record = RECORDS["clients"](1)
    post("clients", [record], write_key)
    post("clients", [record], write_key)  # unchanged: no new history
    post("clients", [{**record, "risk_level": "C4", "risk_assessed_on": "2026-03-01"}], write_key)
    post("clients", [{**record, "risk_level": "C5", "risk_assessed_on": "2026-03-01"}], write_key)
    with tenant_context(bank_a.tenant):
        history = list(
            RiskAssessment.objects.filter(client__external_id=record["external_id"])
            .order_by("assessed_on")
            .values_list("level", "assessed_on")
        )
    assert history == [
        ("C3", datetime.date(2026, 1, 15)),
        ("C5", datetime.date(2026, 3, 1)),
    ]


def test_holding_sync_refreshes_the_aum_of_the_affected_clients_only(post, write_key, bank_a):
    other = ClientFactory(tenant=bank_a.tenant, external_id="CY", branch=bank_a.sub)
    bystander = ClientFactory(tenant=bank_a.tenant, external_id="CZ", branch=bank_a.sub)
    with tenant_context(bank_a.tenant):
        Client.objects.filter(pk=bystander.pk).update(aum_cny=Decimal("42.00"))
    records = [
        {**RECORDS["holdings"](1), "balance": "100.00"},
        {**RECORDS["holdings"](2), "balance": "50.25"},
        {**RECORDS["holdings"](3), "balance": "999.00", "status": "closed"},
    ]
    post("holdings", records, write_key)

    def aum(external_id):
        with tenant_context(bank_a.tenant):
            return Client.objects.get(external_id=external_id).aum_cny

    assert aum("CX") == Decimal("150.25")
    moved = {**RECORDS["holdings"](2), "balance": "50.25", "client_external_id": other.external_id}
    post("holdings", [moved], write_key)
    assert (aum("CX"), aum("CY"), aum("CZ")) == (Decimal("100.00"), Decimal("50.25"), Decimal("42"))


def test_fx_rate_sync_refreshes_the_aum_of_clients_holding_that_currency(post, write_key, bank_a):
    with tenant_context(bank_a.tenant):
        cx = Client.objects.get(external_id="CX")
    HoldingFactory(tenant=bank_a.tenant, client=cx, currency="USD", balance=Decimal("1000.00"))
    today = timezone.localdate().isoformat()
    post("fx-rates", [{"currency": "USD", "date": today, "rate_to_cny": "7.1"}], write_key)
    with tenant_context(bank_a.tenant):
        assert Client.objects.get(pk=cx.pk).aum_cny == Decimal("7100.00")


def test_the_sync_endpoints_are_in_the_openapi_schema(client, bank_a):
    client.force_login(bank_a.head.user)
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    for kind in ("branches", "staff", "products", "fx-rates", "clients", "holdings"):
        assert f"/api/v1/sync/{kind}/" in schema
    assert "ClientRecord" in schema and "SyncResult" in schema


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
def test_a_holdings_batch_checks_its_foreign_keys_before_locking_its_clients(
    post, write_key, django_assert_max_num_queries
):
    """What runs under the client locks runs one batch at a time (customers.aum): the
    deferred constraint checks are done before, not at commit under the locks."""
    records = [RECORDS["holdings"](i) for i in range(3)]
    with django_assert_max_num_queries(MAX_SYNC_QUERIES) as captured:
        assert counts(post("holdings", records, write_key)) == (3, 0, 0)
    sqls = [q["sql"] for q in captured.captured_queries]
    checked = sqls.index("SET CONSTRAINTS ALL IMMEDIATE")
    locked = next(i for i, sql in enumerate(sqls) if "FOR NO KEY UPDATE" in sql)
    assert checked < locked
    assert sqls[checked + 1] == "SET CONSTRAINTS ALL DEFERRED"


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_client_another_batch_is_writing_is_not_waited_for_but_refreshed_after_commit(
    client, bank_a
):
    """customers.aum._clients_lock: a holdings batch skips a client locked by another
    transaction (no waiting under its own locks, no deadlock), and refreshes that
    client's AUM once it has committed, in a transaction of its own."""
    key = api_token_create(tenant=bank_a.tenant, name="core", scopes=["read", "write"])[1]
    busy = ClientFactory(tenant=bank_a.tenant, external_id="BUSY", branch=bank_a.sub)
    free = ClientFactory(tenant=bank_a.tenant, external_id="FREE", branch=bank_a.sub)
    ProductFactory(tenant=bank_a.tenant, code="PX")
    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"],
    )
    locked, order = threading.Event(), []

    def hold_the_busy_client():
        with other, other.cursor() as cursor:
            cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(bank_a.tenant.pk)])
            cursor.execute(
                "SELECT id FROM customers_client WHERE id = %s FOR NO KEY UPDATE", [busy.pk]
            )
            locked.set()
            time.sleep(1.5)
            order.append("released")

    holder = threading.Thread(target=hold_the_busy_client)
    holder.start()
    try:
        assert locked.wait(10)
        records = [
            {**RECORDS["holdings"](i), "client_external_id": owner, "balance": "1000.00"}
            for i, owner in enumerate(["BUSY", "FREE"])
        ]
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                "/api/v1/sync/holdings/",
                json.dumps({"records": records}),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Token {key}",
            )
        order.append("answered")
    finally:
        holder.join()
        other.close()
    assert response.status_code == 200 and counts(response) == (2, 0, 0)
    assert any("SKIP LOCKED" in q["sql"] for q in captured.captured_queries)
    with tenant_context(bank_a.tenant):
        assert Client.objects.get(pk=free.pk).aum_cny == Decimal("1000.00")
        # Refreshed after the batch committed, once the other transaction let go.
        assert Client.objects.get(pk=busy.pk).aum_cny == Decimal("1000.00")
    assert order == ["released", "answered"]


def test_the_email_check_caches_domains_not_verdicts_on_addresses():
    """customers.sync._email_error: Django's rule, each domain's check remembered."""
    from customers.sync import _email_error

    for _ in range(2):  # the second time from the cache
        assert _email_error("c1@mail.example.cn") is None
        assert _email_error("c2@mail.example.cn") is None
        assert _email_error("bad user@mail.example.cn")  # the user part is checked each time
        assert _email_error("c1@bad_domain")
        assert _email_error("c1@例子.中国") is None
