"""Reading endpoints of segmentation: /api/v1/tiers/ and /api/v1/tier-changes/
(shared/spec/sync-api.md, Reading) — formats, filters, cursor, scope, query counts."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from segmentation.models import ServiceStandard, TierChange
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    ServiceStandardFactory,
    TierChangeFactory,
    TierFactory,
)
from vipcrm.services import api_token_create
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

TIERS = "/api/v1/tiers/"
# On PostgreSQL the request binds its transaction for Row-Level Security: no tenant on
# entry, the token's tenant once authenticated, none again on exit.
PG_RLS_QUERIES = 3 if connection.vendor == "postgresql" else 0
CHANGES = "/api/v1/tier-changes/"


@pytest.fixture
def tiers(bank_a):
    gold = TierFactory(
        tenant=bank_a.tenant, code="GOLD", name="金卡", rank=2, aum_floor=Decimal("500000")
    )
    potential = TierFactory(
        tenant=bank_a.tenant, code="POT", name="潜力客户", rank=1, aum_floor=Decimal("200000")
    )
    ServiceStandardFactory(
        tenant=bank_a.tenant,
        tier=gold,
        contact_cadence_days=90,
        maturity_lead_days=14,
        meetings_per_year=2,
        book_weight=Decimal("1"),
    )
    return {"GOLD": gold, "POT": potential}


@pytest.fixture
def changes(bank_a, tiers):
    """C1 (RM R1, BJ01) went up to Gold; C2 (RM R2, SH01) went down to Potential."""
    mine = ClientFactory(
        tenant=bank_a.tenant, external_id="C1", branch=bank_a.sub, owner_rm=bank_a.rm
    )
    theirs = ClientFactory(
        tenant=bank_a.tenant, external_id="C2", branch=bank_a.other_sub, owner_rm=bank_a.other_rm
    )
    up = TierChangeFactory(
        tenant=bank_a.tenant,
        client=mine,
        from_tier=tiers["POT"],
        to_tier=tiers["GOLD"],
        reason=TierChange.Reason.UPGRADE,
        average_aum_cny=Decimal("512345.67"),
        effective_on=datetime.date(2026, 11, 27),
    )
    down = TierChangeFactory(
        tenant=bank_a.tenant,
        client=theirs,
        from_tier=tiers["GOLD"],
        to_tier=tiers["POT"],
        reason=TierChange.Reason.DOWNGRADE,
        average_aum_cny=Decimal("300000"),
        effective_on=datetime.date(2026, 10, 31),
    )
    return {"up": up, "down": down}


# --- Tiers ------------------------------------------------------------------------------


def test_tiers_carry_their_code_floor_and_service_standard(api, read_key, tiers):
    rows = {row["code"]: row for row in api(TIERS, read_key).json()["results"]}
    gold = rows["GOLD"]
    assert (gold["name"], gold["rank"], gold["aum_floor"]) == ("金卡", 2, "500000.00")
    standard = gold["service_standard"]
    assert standard["contact_cadence_days"] == 90
    assert standard["maturity_lead_days"] == 14
    assert standard["meetings_per_year"] == 2
    assert standard["book_weight"] == "1.00"
    assert rows["POT"]["service_standard"] is None
    assert datetime.datetime.fromisoformat(gold["updated_at"]).utcoffset() is not None


def test_a_tier_is_looked_up_by_code(api, read_key, tiers):
    assert api(f"{TIERS}GOLD/", read_key).json()["aum_floor"] == "500000.00"
    assert api(f"{TIERS}NOPE/", read_key).status_code == 404


def test_another_banks_tier_is_a_404(api, read_key, bank_b):
    TierFactory(tenant=bank_b.tenant, code="B-GOLD")
    assert api(f"{TIERS}B-GOLD/", read_key).status_code == 404
    assert api(TIERS, read_key).json()["results"] == []


def test_a_tier_counts_as_updated_when_its_standard_changes(api, read_key, bank_a, tiers):
    later = timezone.now() + datetime.timedelta(seconds=5)
    with tenant_context(bank_a.tenant):
        ServiceStandard.objects.filter(tier=tiers["GOLD"]).update(updated_at=later)
    rows = api(TIERS, read_key, updated_since=later.isoformat()).json()["results"]
    assert [row["code"] for row in rows] == ["GOLD"]


def test_the_tier_list_query_count_does_not_grow_with_tiers(
    api, read_key, bank_a, tiers, django_assert_max_num_queries
):
    for rank in range(3, 13):
        ServiceStandardFactory(tenant=bank_a.tenant, tier__rank=rank)
    # The tiers and their standards (2); the token (lookup, last use) and the request's
    # transaction (savepoints) (6).
    with django_assert_max_num_queries(8 + PG_RLS_QUERIES):
        rows = api(TIERS, read_key).json()["results"]
    assert len(rows) == 12


@pytest.mark.parametrize("role", ["rm", "advisor", "supervisor", "head"])
def test_every_staff_member_reads_the_tiers(login, bank_a, tiers, role):
    response = login(getattr(bank_a, role)).get(TIERS)
    assert {row["code"] for row in response.json()["results"]} == {"GOLD", "POT"}


# --- Tier changes ---------------------------------------------------------------------


def test_a_tier_change_carries_joinable_codes_and_contract_formats(api, read_key, changes):
    (row,) = api(CHANGES, read_key, client="C1").json()["results"]
    assert row["client_external_id"] == "C1"
    assert (row["from_tier"], row["to_tier"], row["reason"]) == ("POT", "GOLD", "upgrade")
    assert (row["branch_code"], row["rm_code"]) == ("BJ01", "R1")
    assert row["average_aum_cny"] == "512345.67"
    assert row["effective_on"] == "2026-11-27"
    assert datetime.datetime.fromisoformat(row["updated_at"]).utcoffset() is not None


def test_a_move_out_of_vip_has_a_null_tier(api, read_key, bank_a, tiers):
    client = ClientFactory(tenant=bank_a.tenant, external_id="C9", branch=bank_a.sub)
    TierChangeFactory(
        tenant=bank_a.tenant,
        client=client,
        from_tier=tiers["POT"],
        to_tier=None,
        reason=TierChange.Reason.DOWNGRADE,
    )
    (row,) = api(CHANGES, read_key, client="C9").json()["results"]
    assert (row["from_tier"], row["to_tier"], row["rm_code"]) == ("POT", None, None)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"branch_code": "BJ01"}, {"C1"}),
        ({"branch_code": "SH01"}, {"C2"}),
        ({"rm_code": "R2"}, {"C2"}),
        ({"tier": "GOLD"}, {"C1"}),
        ({"tier": "POT"}, {"C2"}),
        ({"from_tier": "GOLD"}, {"C2"}),
        ({"client": "C2"}, {"C2"}),
        ({"reason": "upgrade"}, {"C1"}),
        ({"effective_from": "2026-11-01"}, {"C1"}),
        ({"effective_to": "2026-10-31"}, {"C2"}),
        ({"effective_from": "2026-10-31", "effective_to": "2026-11-27"}, {"C1", "C2"}),
        ({"tier": "NOPE"}, set()),
    ],
)
def test_tier_changes_filter(api, read_key, changes, filters, expected):
    rows = api(CHANGES, read_key, **filters).json()["results"]
    assert {row["client_external_id"] for row in rows} == expected


@pytest.mark.parametrize(
    "bad", [{"reason": "lottery"}, {"effective_from": "27/11/2026"}, {"updated_since": "x"}]
)
def test_a_bad_filter_is_a_400_with_the_field_named(api, read_key, changes, bad):
    response = api(CHANGES, read_key, **bad)
    assert response.status_code == 400
    assert set(response.json()) == set(bad)


def test_updated_since_returns_only_later_changes(api, read_key, bank_a, changes):
    later = timezone.now() + datetime.timedelta(seconds=5)
    with tenant_context(bank_a.tenant):
        TierChange.objects.filter(pk=changes["down"].pk).update(updated_at=later)
    rows = api(CHANGES, read_key, updated_since=later.isoformat()).json()["results"]
    assert [row["client_external_id"] for row in rows] == ["C2"]


def test_tier_changes_are_cursor_paginated(api, read_key, bank_a, changes):
    TierChangeFactory(tenant=bank_a.tenant, client__branch=bank_a.sub)
    first = api(CHANGES, read_key, page_size=2).json()
    assert len(first["results"]) == 2 and "cursor=" in first["next"]
    second = api(first["next"], read_key).json()
    assert len(second["results"]) == 1 and second["next"] is None
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_the_change_list_query_count_does_not_grow_with_rows(
    api, read_key, bank_a, tiers, changes, django_assert_max_num_queries
):
    for _ in range(20):
        TierChangeFactory(
            tenant=bank_a.tenant,
            client__branch=bank_a.sub,
            client__owner_rm=bank_a.rm,
            from_tier=tiers["POT"],
            to_tier=tiers["GOLD"],
        )
    # One query for the page (clients, branches, RMs and tiers joined) + the shell's 6.
    with django_assert_max_num_queries(7 + PG_RLS_QUERIES):
        rows = api(CHANGES, read_key).json()["results"]
    assert len(rows) == 22


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("rm", {"C1", "C3"}),  # own book + the team they are on
        ("advisor", {"C3"}),  # the team only
        ("supervisor", {"C1", "C3"}),  # the city branch and its sub-branch
        ("head", {"C1", "C2", "C3"}),
    ],
)
def test_staff_read_the_changes_of_the_clients_they_may_see(
    login, bank_a, tiers, changes, role, expected
):
    on_team = ClientFactory(tenant=bank_a.tenant, external_id="C3", branch=bank_a.city)
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=on_team, staff=bank_a.rm)
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=on_team, staff=bank_a.advisor)
    TierChangeFactory(tenant=bank_a.tenant, client=on_team, to_tier=tiers["POT"])
    rows = login(getattr(bank_a, role)).get(CHANGES).json()["results"]
    assert {row["client_external_id"] for row in rows} == expected


def test_a_change_outside_the_role_scope_is_a_404(login, bank_a, changes):
    url = f"{CHANGES}{changes['down'].pk}/"
    assert login(bank_a.rm).get(url).status_code == 404
    assert login(bank_a.head).get(url).json()["client_external_id"] == "C2"


def test_another_banks_changes_are_never_listed_or_found(api, read_key, bank_b, changes):
    theirs = TierChangeFactory(tenant=bank_b.tenant, client__external_id="B1")
    rows = api(CHANGES, read_key).json()["results"]
    assert "B1" not in {row["client_external_id"] for row in rows}
    response = api(f"{CHANGES}{theirs.pk}/", read_key)
    assert response.status_code == 404 and set(response.json()) == {"detail"}


# --- Tokens and methods --------------------------------------------------------------


def test_no_token_is_a_401(api, changes):
    assert api(CHANGES).status_code == 401
    assert api(TIERS, "not-a-key").status_code == 401


def test_a_token_without_the_read_scope_is_a_403(api, bank_a, changes):
    _, write_only = api_token_create(tenant=bank_a.tenant, name="writer", scopes=["write"])
    assert api(CHANGES, write_only).status_code == 403
    assert api(TIERS, write_only).status_code == 403


def test_the_endpoints_are_read_only(client, read_key, bank_a, tiers):
    _, key = api_token_create(tenant=bank_a.tenant, name="rw", scopes=["read", "write"])
    headers = {"HTTP_AUTHORIZATION": f"Token {key}"}
    assert client.post(TIERS, {}, **headers).status_code == 405
    assert client.put(f"{TIERS}GOLD/", {}, **headers).status_code == 405
    assert client.delete(f"{TIERS}GOLD/", **headers).status_code == 405
    assert client.post(CHANGES, {}, **headers).status_code == 405


def test_the_schema_documents_both_endpoints(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for fragment in (
        "/api/v1/tiers/",
        "/api/v1/tiers/{code}/",
        "/api/v1/tier-changes/",
        "effective_from",
        "rm_code",
        "service_standard",
        "override_ended",
    ):
        assert fragment in text, fragment
