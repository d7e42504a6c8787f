"""Reading endpoints: clients, holdings, products, FX rates (shared/spec/sync-api.md)."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Client
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    ContactPlanFactory,
    FxRateFactory,
    HoldingFactory,
    PlannedContactFactory,
    ProductFactory,
    TierFactory,
)
from vipcrm.models import AuditEntry
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

ID_NUMBER = "11010519491231002X"
MOBILE = "13812345678"


@pytest.fixture
def vip(bank_a):
    """A client of RM R1 in sub-branch BJ01, with a tier, a company and holdings."""
    tier = TierFactory(tenant=bank_a.tenant, code="GOLD", name="金卡")
    company = ClientFactory(tenant=bank_a.tenant, external_id="CORP1", branch=bank_a.sub)
    person = ClientFactory(
        tenant=bank_a.tenant,
        external_id="C1",
        name="王女士",
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        tier=tier,
        company=company,
        is_entrepreneur=True,
        id_number=ID_NUMBER,
        mobile=MOBILE,
        risk_level="C4",
        risk_assessed_on=datetime.date(2026, 2, 1),
        aum_cny=Decimal("1250000.00"),
    )
    product = ProductFactory(tenant=bank_a.tenant, code="WM01", category="wealth_management")
    HoldingFactory(
        tenant=bank_a.tenant,
        external_id="H1",
        client=person,
        product=product,
        balance=Decimal("1250000.00"),
        matures_on=datetime.date(2026, 12, 31),
    )
    return person


def test_the_client_list_carries_joinable_codes_and_contract_formats(api, read_key, vip):
    response = api("/api/v1/clients/", read_key, external_id="C1")
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["external_id"] == "C1"
    assert (row["branch_code"], row["rm_code"], row["tier"]) == ("BJ01", "R1", "GOLD")
    assert row["company_external_id"] == "CORP1"
    assert row["aum_cny"] == "1250000.00"
    assert row["risk_assessed_on"] == "2026-02-01"
    assert datetime.datetime.fromisoformat(row["updated_at"]).utcoffset() is not None
    assert "holdings" not in row


def test_the_client_detail_has_tier_rm_aum_holdings_and_the_contact_plan(api, read_key, vip):
    data = api("/api/v1/clients/C1/", read_key).json()
    assert (data["tier"], data["tier_name"], data["rm_code"]) == ("GOLD", "金卡", "R1")
    assert data["aum_cny"] == "1250000.00"
    (holding,) = data["holdings"]
    assert holding["external_id"] == "H1"
    assert (holding["product_code"], holding["product_category"]) == ("WM01", "wealth_management")
    assert (holding["balance"], holding["currency"]) == ("1250000.00", "CNY")
    assert (holding["matures_on"], holding["status"]) == ("2026-12-31", "active")
    assert holding["product_risk_level"] == "R2"
    assert data["contact_plan"] is None  # no plan yet: the nightly planning makes it


def test_the_client_detail_summarises_the_contact_plan(api, read_key, vip, bank_a):
    ContactPlanFactory(
        tenant=bank_a.tenant,
        client=vip,
        cadence_days=90,
        last_contact_on=datetime.date(2026, 9, 1),
        next_due_on=datetime.date(2026, 11, 30),
    )
    soon = PlannedContactFactory(
        tenant=bank_a.tenant, client=vip, reason="maturity", due_on=datetime.date(2026, 12, 17)
    )
    PlannedContactFactory(
        tenant=bank_a.tenant, client=vip, reason="cadence", due_on=datetime.date(2026, 11, 30)
    )
    PlannedContactFactory(
        tenant=bank_a.tenant, client=vip, status="done", due_on=datetime.date(2026, 9, 1)
    )
    plan = api("/api/v1/clients/C1/", read_key).json()["contact_plan"]
    assert plan["cadence_days"] == 90
    assert (plan["last_contact_on"], plan["next_due_on"]) == ("2026-09-01", "2026-11-30")
    assert plan["open_planned_contacts"] == 2
    assert plan["next_planned_contact"]["reason"] == "cadence"
    assert plan["next_planned_contact"]["due_on"] == "2026-11-30"
    assert soon.pk != plan["next_planned_contact"]["id"]


def test_viewing_a_client_detail_is_audited(api, read_key, vip, bank_a):
    api("/api/v1/clients/C1/", read_key)
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(action="view")
    assert (entry.object_type, entry.object_id) == ("customers.client", str(vip.pk))
    assert entry.actor_label == "token:reader"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"branch_code": "BJ01"}, {"C1", "CORP1"}),
        ({"branch_code": "SH01"}, {"C2"}),
        ({"rm_code": "R1"}, {"C1"}),
        ({"tier": "GOLD"}, {"C1"}),
        ({"risk_level": "C4"}, {"C1"}),
        ({"is_entrepreneur": "true"}, {"C1"}),
        ({"external_id": "C2"}, {"C2"}),
    ],
)
def test_clients_filter(api, read_key, vip, bank_a, filters, expected):
    ClientFactory(tenant=bank_a.tenant, external_id="C2", branch=bank_a.other_sub)
    rows = api("/api/v1/clients/", read_key, **filters).json()["results"]
    assert {row["external_id"] for row in rows} == expected


def test_updated_since_returns_only_later_changes(api, read_key, vip, bank_a):
    later = timezone.now() + datetime.timedelta(seconds=1)
    with tenant_context(bank_a.tenant):
        Client.objects.filter(external_id="C1").update(updated_at=later)
    rows = api("/api/v1/clients/", read_key, updated_since=later.isoformat()).json()["results"]
    assert [row["external_id"] for row in rows] == ["C1"]


@pytest.mark.parametrize(
    "path", ["/api/v1/clients/", "/api/v1/holdings/", "/api/v1/staff/", "/api/v1/branches/"]
)
def test_an_updated_since_beyond_the_calendar_is_a_400(api, read_key, path):
    response = api(path, read_key, updated_since="0001-01-01T00:00:00+08:00")
    assert response.status_code == 400
    assert "updated_since" in response.json()


def test_lists_are_cursor_paginated(api, read_key, bank_a):
    for _ in range(3):
        ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub)
    first = api("/api/v1/clients/", read_key, page_size=2).json()
    assert len(first["results"]) == 2 and "cursor=" in first["next"]
    second = api(first["next"], read_key).json()
    assert len(second["results"]) == 1 and second["next"] is None


# --- Identity masking per role ---------------------------------------------------------


@pytest.mark.parametrize(
    ("viewer", "clear"),
    [("rm", True), ("advisor", True), ("supervisor", False), ("head", False)],
)
def test_identity_is_clear_only_for_the_owner_rm_and_the_team(client, vip, bank_a, viewer, clear):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.advisor)
    client.force_login(getattr(bank_a, viewer).user)
    for row in (
        client.get("/api/v1/clients/", {"external_id": "C1"}).json()["results"][0],
        client.get("/api/v1/clients/C1/").json(),
    ):
        if clear:
            assert (row["id_number"], row["mobile"]) == (ID_NUMBER, MOBILE)
        else:
            assert (row["id_number"], row["mobile"]) == ("1101**********002X", "138****5678")


def test_an_integration_token_sees_identity_masked(api, read_key, vip):
    row = api("/api/v1/clients/C1/", read_key).json()
    assert (row["id_number"], row["mobile"]) == ("1101**********002X", "138****5678")


def test_an_rm_reads_only_their_book(client, vip, bank_a):
    ClientFactory(
        tenant=bank_a.tenant, external_id="C2", branch=bank_a.sub, owner_rm=bank_a.other_rm
    )
    HoldingFactory(tenant=bank_a.tenant, external_id="H2", client__external_id="C3")
    client.force_login(bank_a.rm.user)
    assert [r["external_id"] for r in client.get("/api/v1/clients/").json()["results"]] == ["C1"]
    assert client.get("/api/v1/clients/C2/").status_code == 404
    holdings = client.get("/api/v1/holdings/").json()["results"]
    assert [h["external_id"] for h in holdings] == ["H1"]
    assert client.get("/api/v1/holdings/H2/").status_code == 404


def test_another_tenants_client_is_a_404_for_a_token(api, read_key, bank_b):
    ClientFactory(tenant=bank_b.tenant, external_id="SECRET1", name="乙行客户")
    response = api("/api/v1/clients/SECRET1/", read_key)
    assert response.status_code == 404
    assert "乙行客户" not in response.content.decode()


def test_another_tenants_rows_never_appear_in_lists(api, read_key, vip, bank_b):
    HoldingFactory(tenant=bank_b.tenant, external_id="HB")
    FxRateFactory(tenant=bank_b.tenant, currency="EUR")
    for path, key in [
        ("/api/v1/clients/", "external_id"),
        ("/api/v1/holdings/", "external_id"),
        ("/api/v1/products/", "code"),
        ("/api/v1/fx-rates/", "currency"),
    ]:
        rows = api(path, read_key).json()["results"]
        assert "HB" not in {r[key] for r in rows} and "EUR" not in {r[key] for r in rows}


# --- Holdings, products, FX rates ------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"client_external_id": "C1"}, {"H1"}),
        ({"product_code": "WM01"}, {"H1"}),
        ({"status": "closed"}, {"H9"}),
        ({"matures_before": "2026-12-31"}, {"H1"}),
        ({"matures_after": "2027-01-01"}, {"H9"}),
        ({"branch_code": "SH01"}, {"H9"}),
        ({"rm_code": "R1"}, {"H1"}),
        ({"currency": "USD"}, {"H9"}),
    ],
)
def test_holdings_filter(api, read_key, vip, bank_a, filters, expected):
    HoldingFactory(
        tenant=bank_a.tenant,
        external_id="H9",
        client__branch=bank_a.other_sub,
        status="closed",
        currency="USD",
        matures_on=datetime.date(2027, 6, 1),
    )
    rows = api("/api/v1/holdings/", read_key, **filters).json()["results"]
    assert {row["external_id"] for row in rows} == expected


def test_a_holding_carries_its_client_and_product_codes(api, read_key, vip):
    data = api("/api/v1/holdings/H1/", read_key).json()
    assert (data["client_external_id"], data["product_code"]) == ("C1", "WM01")
    assert data["balance"] == "1250000.00"


def test_products_list_and_detail(api, read_key, vip, bank_a):
    ProductFactory(tenant=bank_a.tenant, code="FD01", category="fund", risk_level="R4")
    rows = api("/api/v1/products/", read_key, category="fund").json()["results"]
    assert [(r["code"], r["risk_level"]) for r in rows] == [("FD01", "R4")]
    assert api("/api/v1/products/WM01/", read_key).json()["category"] == "wealth_management"


def test_fx_rates_filter_by_currency_and_dates(api, read_key, bank_a):
    for day in (1, 2, 3):
        FxRateFactory(tenant=bank_a.tenant, currency="USD", date=datetime.date(2026, 5, day))
    FxRateFactory(tenant=bank_a.tenant, currency="HKD", date=datetime.date(2026, 5, 2))
    rows = api(
        "/api/v1/fx-rates/", read_key, currency="USD", date_from="2026-05-02", date_to="2026-05-03"
    ).json()["results"]
    assert [(r["currency"], r["date"]) for r in rows] == [
        ("USD", "2026-05-02"),
        ("USD", "2026-05-03"),
    ]
    assert rows[0]["rate_to_cny"] == "7.10000000"


def test_staff_read_the_catalogue(client, vip, bank_a):
    client.force_login(bank_a.rm.user)
    assert client.get("/api/v1/products/").json()["results"][0]["code"] == "WM01"


# --- Query counts do not grow with the page ---------------------------------------------


def make_rows(bank, n):
    tier = TierFactory(tenant=bank.tenant)
    company = ClientFactory(tenant=bank.tenant, branch=bank.sub)
    for i in range(n):
        person = ClientFactory(
            tenant=bank.tenant, branch=bank.sub, owner_rm=bank.rm, tier=tier, company=company
        )
        HoldingFactory(tenant=bank.tenant, client=person)
        FxRateFactory(tenant=bank.tenant, date=datetime.date(2020, 1, 1) + datetime.timedelta(i))


@pytest.mark.parametrize(
    "path", ["/api/v1/clients/", "/api/v1/holdings/", "/api/v1/products/", "/api/v1/fx-rates/"]
)
@pytest.mark.parametrize("viewer", ["token", "rm"])
def test_list_query_counts_do_not_grow_with_the_page_size(
    client, api, read_key, bank_a, path, viewer
):
    make_rows(bank_a, 100)
    key = read_key if viewer == "token" else None
    if viewer == "rm":
        client.force_login(bank_a.rm.user)
    api(path, key)  # warm up: the token's first use stamps last_used_at
    sizes = {}
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            response = api(path, key, page_size=size)
        assert len(response.json()["results"]) == (size if viewer == "token" else min(size, 100))
        sizes[size] = len(queries.captured_queries)
    assert sizes[25] == sizes[100], sizes


def test_client_detail_query_count_does_not_grow_with_holdings(api, read_key, vip, bank_a):
    api("/api/v1/clients/C1/", read_key)
    with CaptureQueriesContext(connection) as one:
        api("/api/v1/clients/C1/", read_key)
    for _ in range(30):
        HoldingFactory(tenant=bank_a.tenant, client=vip)
    with CaptureQueriesContext(connection) as many:
        assert len(api("/api/v1/clients/C1/", read_key).json()["holdings"]) == 31
    assert len(one.captured_queries) == len(many.captured_queries)
