"""The KPI snapshots API: /api/v1/kpi-snapshots/ — the row's format, the cursor, the
filters, the role scope, another bank's rows (404) and a page's query count."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kpi.definitions import METRICS
from kpi.models import KpiSnapshot
from kpi.services import kpi_snapshot_take
from tests.factories import ClientFactory, InteractionFactory, KpiSnapshotFactory
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

SNAPSHOTS = "/api/v1/kpi-snapshots/"
D = datetime.date
# On PostgreSQL the request binds its transaction for Row-Level Security.
PG_RLS_QUERIES = 3 if connection.vendor == "postgresql" else 0
Scope = KpiSnapshot.Scope


def rm_row(bank, staff, start=D(2026, 10, 1), period="month", **fields) -> KpiSnapshot:
    return KpiSnapshotFactory(
        tenant=bank.tenant, staff=staff, period=period, period_start=start, **fields
    )


def branch_row(bank, branch, start=D(2026, 10, 1), period="month") -> KpiSnapshot:
    return KpiSnapshotFactory(
        tenant=bank.tenant,
        scope=Scope.BRANCH,
        staff=None,
        branch=branch,
        scope_key=f"branch:{branch.pk}",
        period=period,
        period_start=start,
    )


def tenant_row(bank, start=D(2026, 10, 1)) -> KpiSnapshot:
    return KpiSnapshotFactory(
        tenant=bank.tenant,
        scope=Scope.TENANT,
        staff=None,
        branch=None,
        scope_key="tenant",
        period_start=start,
    )


@pytest.fixture
def rows(bank_a) -> dict[str, KpiSnapshot]:
    """October's rows of bank A: both RMs, every branch, the bank; and rm's September."""
    made = {
        "rm": rm_row(bank_a, bank_a.rm),
        "rm_september": rm_row(bank_a, bank_a.rm, start=D(2026, 9, 1)),
        "other_rm": rm_row(bank_a, bank_a.other_rm),
        "tenant": tenant_row(bank_a),
    }
    for name in ("head_office", "city", "sub", "other_sub"):
        made[name] = branch_row(bank_a, getattr(bank_a, name))
    return made


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# --- The rows -------------------------------------------------------------------------------


def test_a_row_carries_every_metric_its_scores_and_codes(api, read_key, bank_a):
    client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    InteractionFactory(
        tenant=bank_a.tenant,
        client=client,
        staff=bank_a.rm,
        occurred_at=datetime.datetime(2026, 10, 9, 2, tzinfo=datetime.UTC),
    )
    with tenant_context(bank_a.tenant):
        kpi_snapshot_take(period="month", start=D(2026, 10, 1))
    row = api(SNAPSHOTS, read_key, scope="rm", rm_code="R1").json()["results"][0]
    assert set(row) == {
        "id",
        "period",
        "period_start",
        "period_end",
        "as_of",
        "scope",
        "scope_key",
        "rm_code",
        "branch_code",
        "values",
        "scores",
        "score",
        "rank_in_branch",
        "computed_at",
        "updated_at",
    }
    assert (row["period"], row["period_start"], row["period_end"], row["as_of"]) == (
        "month",
        "2026-10-01",
        "2026-10-31",
        "2026-10-31",
    )
    assert (row["scope"], row["scope_key"]) == ("rm", f"rm:{bank_a.rm.pk}")
    assert (row["rm_code"], row["branch_code"]) == ("R1", "BJ01")
    assert set(row["values"]) == {metric.code for metric in METRICS}
    assert row["values"]["interactions_logged"] == 1
    assert row["values"]["book_aum_cny"] == "0.00"
    assert row["values"]["satisfaction_avg"] is None
    assert set(row["scores"]) == {"results", "process", "tool_use", "teamwork", "feedback", "total"}
    assert row["score"] == "100.00"
    assert row["rank_in_branch"] == 1
    bank = api(SNAPSHOTS, read_key, scope="tenant").json()["results"][0]
    assert (bank["rm_code"], bank["branch_code"], bank["score"], bank["scores"]) == (
        None,
        None,
        None,
        {},
    )


def test_snapshots_are_cursor_paginated(api, read_key, rows):
    seen, url, params = [], SNAPSHOTS, {"page_size": 3}
    while url:
        page = api(url, read_key, **params).json()
        seen += [row["id"] for row in page["results"]]
        url, params = page["next"], {}
    assert seen == sorted(row.pk for row in rows.values())


def test_filters(api, read_key, bank_a, rows):
    def found(**params):
        return ids(api(SNAPSHOTS, read_key, **params))

    assert found(period_start="2026-09-01") == {rows["rm_september"].pk}
    assert found(period="month", scope="tenant") == {rows["tenant"].pk}
    assert found(period="quarter") == set()
    assert found(rm_code="R1") == {rows["rm"].pk, rows["rm_september"].pk}
    assert found(branch_code="BJ01", period_start="2026-10-01") == {rows["rm"].pk, rows["sub"].pk}
    assert found(scope="branch") == {
        rows[name].pk for name in ("head_office", "city", "sub", "other_sub")
    }
    with tenant_context(bank_a.tenant):
        KpiSnapshot.objects.filter(pk=rows["other_rm"].pk).update(
            updated_at=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
        )
    assert found(updated_since="2029-12-31T23:00:00+08:00") == {rows["other_rm"].pk}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "week"}, "period"),
        ({"scope": "team"}, "scope"),
        ({"period_start": "October"}, "period_start"),
        ({"updated_since": "yesterday"}, "updated_since"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, read_key, rows, params, field):
    response = api(SNAPSHOTS, read_key, **params)
    assert response.status_code == 400
    assert field in response.json()


def test_the_api_reads_only(client, read_key, rows):
    auth = {"HTTP_AUTHORIZATION": f"Token {read_key}"}
    assert client.post(SNAPSHOTS, {}, **auth).status_code in (403, 405)
    assert client.delete(f"{SNAPSHOTS}{rows['rm'].pk}/", **auth).status_code in (403, 405)


def test_no_token_is_a_401(api, rows):
    assert api(SNAPSHOTS).status_code == 401


# --- Who sees what --------------------------------------------------------------------------


def test_an_rm_sees_only_their_own_rows(login, bank_a, rows):
    session = login(bank_a.rm)
    assert ids(session.get(SNAPSHOTS)) == {rows["rm"].pk, rows["rm_september"].pk}
    for name in ("other_rm", "sub", "tenant"):
        response = session.get(f"{SNAPSHOTS}{rows[name].pk}/")
        assert response.status_code == 404 and set(response.json()) == {"detail"}
    assert session.get(f"{SNAPSHOTS}{rows['rm'].pk}/").json()["rm_code"] == "R1"


def test_a_supervisor_sees_the_rms_and_branches_of_their_subtree(login, bank_a, rows):
    """The supervisor works in the city branch BJ, above the sub-branch BJ01."""
    session = login(bank_a.supervisor)
    expected = {rows[name].pk for name in ("rm", "rm_september", "city", "sub")}
    assert ids(session.get(SNAPSHOTS)) == expected
    for name in ("other_rm", "other_sub", "head_office", "tenant"):
        assert session.get(f"{SNAPSHOTS}{rows[name].pk}/").status_code == 404


def test_head_office_and_tokens_see_the_whole_bank(login, api, read_key, bank_a, rows):
    everything = {row.pk for row in rows.values()}
    assert ids(login(bank_a.head).get(SNAPSHOTS)) == everything
    assert ids(api(SNAPSHOTS, read_key)) == everything


def test_an_advisor_sees_no_scorecard(login, bank_a, rows):
    session = login(bank_a.advisor)
    assert ids(session.get(SNAPSHOTS)) == set()
    assert session.get(f"{SNAPSHOTS}{rows['rm'].pk}/").status_code == 404


def test_another_banks_snapshot_is_a_404(api, read_key, login, bank_a, bank_b, rows):
    theirs = rm_row(bank_b, bank_b.rm)
    theirs_tenant = tenant_row(bank_b)
    for pk in (theirs.pk, theirs_tenant.pk):
        response = api(f"{SNAPSHOTS}{pk}/", read_key)
        assert response.status_code == 404 and set(response.json()) == {"detail"}
        assert login(bank_a.head).get(f"{SNAPSHOTS}{pk}/").status_code == 404
    assert theirs.pk not in ids(api(SNAPSHOTS, read_key))
    assert ids(api(SNAPSHOTS, read_key, rm_code="R1")) == {rows["rm"].pk, rows["rm_september"].pk}


# --- Cost -----------------------------------------------------------------------------------


def _fill(bank, count: int, first: int = 0) -> None:
    for number in range(first, first + count):
        rm_row(bank, bank.rm, start=D(2020, 1, 1) + datetime.timedelta(days=31 * number))


def test_a_page_costs_the_same_queries_for_5_and_50_rows(api, read_key, bank_a):
    _fill(bank_a, 5)
    api(SNAPSHOTS, read_key)  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as small:
        assert len(api(SNAPSHOTS, read_key, page_size=100).json()["results"]) == 5
    _fill(bank_a, 45, first=5)
    with CaptureQueriesContext(connection) as large:
        assert len(api(SNAPSHOTS, read_key, page_size=100).json()["results"]) == 50
    assert len(large) == len(small) <= 7 + PG_RLS_QUERIES


def test_the_score_travels_as_a_string_with_two_decimals(api, read_key, bank_a):
    rm_row(bank_a, bank_a.rm, score=Decimal("88.5"), rank_in_branch=2)
    row = api(SNAPSHOTS, read_key).json()["results"][0]
    assert (row["score"], row["rank_in_branch"]) == ("88.50", 2)
