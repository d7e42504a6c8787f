"""The snapshot run as a whole: period boundaries at midnight in the bank's zone and at
quarter and year ends, the figures' date, re-runs (same rows, scopes gone removed),
tenant isolation and a query count that does not grow with the bank."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contact_plans.models import PlannedContact
from contact_plans.services import tenant_today
from kpi.models import KpiSnapshot, TimeLog
from kpi.periods import period_bounds
from kpi.services import kpi_snapshot_take
from sales_pipeline.models import Opportunity
from tests.factories import (
    AumSnapshotFactory,
    BranchFactory,
    ClientFactory,
    ComplaintFactory,
    InteractionFactory,
    OpportunityFactory,
    PlannedContactFactory,
    SatisfactionSurveyFactory,
    ServiceStandardFactory,
    StaffFactory,
    StepEntryFactory,
    TenantFactory,
    TierChangeFactory,
    TierFactory,
    TimeLogFactory,
)
from tests.kpi.builders import shanghai
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

D = datetime.date


def take(tenant, period, start, **kwargs) -> dict[str, KpiSnapshot]:
    with tenant_context(tenant):
        kpi_snapshot_take(period=period, start=start, **kwargs)
        rows = KpiSnapshot.objects.filter(period=period, period_start=start)
        return {row.scope_key: row for row in rows}


def figure(rows, staff, code):
    return rows[f"rm:{staff.pk}"].values[code]


# --- Boundaries -----------------------------------------------------------------------------


@pytest.fixture
def around_the_quarter_end(bank_a):
    """The last and first moments of the first two quarters of 2026, in Shanghai."""
    t, rm = bank_a.tenant, bank_a.rm
    client = ClientFactory(tenant=t, branch=bank_a.sub, owner_rm=rm)
    for at in (shanghai(2026, 3, 31, 23, 30), shanghai(2026, 4, 1, 0, 30)):
        InteractionFactory(tenant=t, client=client, staff=rm, occurred_at=at)
        OpportunityFactory(
            tenant=t,
            client=client,
            status=Opportunity.Status.WON,
            step=4,
            won_at=at,
            won_amount_cny=Decimal("1000.00") if at.month == 3 else Decimal("2000.00"),
        )
    for day in (D(2026, 3, 31), D(2026, 4, 1)):
        SatisfactionSurveyFactory(tenant=t, client=client, staff=rm, surveyed_on=day)
        ComplaintFactory(tenant=t, client=client, staff=rm, received_on=day)
        TimeLogFactory(tenant=t, staff=rm, date=day, hours=Decimal("2"))


def test_31_march_23_30_in_shanghai_is_the_first_quarters(bank_a, around_the_quarter_end):
    """23:30 on 31 March in Shanghai is 15:30 UTC; 00:30 on 1 April is still 31 March
    (16:30) in UTC, but the second quarter's."""
    q1 = take(bank_a.tenant, "quarter", D(2026, 1, 1))
    q2 = take(bank_a.tenant, "quarter", D(2026, 4, 1))
    for rows, won in ((q1, "1000.00"), (q2, "2000.00")):
        assert figure(rows, bank_a.rm, "interactions_logged") == 1
        assert figure(rows, bank_a.rm, "sales_won_cny") == won
        assert figure(rows, bank_a.rm, "surveys_count") == 1
        assert figure(rows, bank_a.rm, "complaints_count") == 1
        assert figure(rows, bank_a.rm, "hours_logged") == 2.0
    march = take(bank_a.tenant, "month", D(2026, 3, 1))
    assert figure(march, bank_a.rm, "interactions_logged") == 1
    assert march[f"rm:{bank_a.rm.pk}"].period_end == D(2026, 3, 31)
    year = take(bank_a.tenant, "year", D(2026, 1, 1), as_of=D(2026, 11, 28))
    assert figure(year, bank_a.rm, "interactions_logged") == 2


def test_new_years_eve_in_shanghai_is_the_old_years(bank_a):
    client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    InteractionFactory(
        tenant=bank_a.tenant,
        client=client,
        staff=bank_a.rm,
        occurred_at=shanghai(2025, 12, 31, 23, 59),  # 15:59 UTC
    )
    assert figure(take(bank_a.tenant, "year", D(2025, 1, 1)), bank_a.rm, "interactions_logged") == 1
    assert figure(take(bank_a.tenant, "year", D(2026, 1, 1)), bank_a.rm, "interactions_logged") == 0


def test_periods_follow_the_banks_own_time_zone():
    """A bank in New York: 03:00 UTC on 1 November is 23:00 on 31 October there."""
    tenant = TenantFactory(slug="bank-ny", time_zone="America/New_York")
    branch = BranchFactory(tenant=tenant)
    rm = StaffFactory(tenant=tenant, branch=branch, role=Role.RM)
    client = ClientFactory(tenant=tenant, branch=branch, owner_rm=rm)
    InteractionFactory(
        tenant=tenant,
        client=client,
        staff=rm,
        occurred_at=datetime.datetime(2026, 11, 1, 3, 0, tzinfo=datetime.UTC),
    )
    october = take(tenant, "month", D(2026, 10, 1))
    november = take(tenant, "month", D(2026, 11, 1), as_of=D(2026, 11, 20))
    assert figure(october, rm, "interactions_logged") == 1
    assert figure(november, rm, "interactions_logged") == 0


# --- The figures' date ------------------------------------------------------------------------


def test_a_running_period_runs_to_today_and_a_past_one_to_its_end(bank_a):
    with tenant_context(bank_a.tenant):
        today = tenant_today(bank_a.tenant.pk)
    start, end = period_bounds("month", today)
    running = take(bank_a.tenant, "month", start)["tenant"]
    assert (running.period_end, running.as_of) == (end, today)
    past = take(bank_a.tenant, "month", D(2026, 1, 1))["tenant"]
    assert (past.period_end, past.as_of) == (D(2026, 1, 31), D(2026, 1, 31))
    late = take(bank_a.tenant, "quarter", D(2026, 1, 1), as_of=D(2026, 7, 15))["tenant"]
    assert late.as_of == D(2026, 3, 31)  # a figures' date past the end is the end


@pytest.mark.parametrize(
    ("period", "start", "as_of", "message"),
    [
        ("week", D(2026, 10, 1), None, "Unknown KPI period"),
        ("month", D(2026, 10, 2), None, "not the first day"),
        ("quarter", D(2026, 11, 1), None, "not the first day"),
        ("month", D(2026, 10, 1), D(2026, 9, 30), "before the period begins"),
        ("year", D(2099, 1, 1), None, "before the period begins"),
    ],
)
def test_bad_periods_are_refused_and_nothing_is_written(bank_a, period, start, as_of, message):
    with tenant_context(bank_a.tenant):
        with pytest.raises(ValueError, match=message):
            kpi_snapshot_take(period=period, start=start, as_of=as_of)
        assert not KpiSnapshot.objects.exists()


# --- Re-runs --------------------------------------------------------------------------------


@pytest.fixture
def busy_october(bank_a):
    t, rm = bank_a.tenant, bank_a.rm
    tier = TierFactory(tenant=t, rank=1)
    ServiceStandardFactory(tenant=t, tier=tier)
    for number in range(3):
        client = ClientFactory(tenant=t, branch=bank_a.sub, owner_rm=rm, tier=tier)
        AumSnapshotFactory(
            tenant=t, client=client, date=D(2026, 10, 31), aum_cny=Decimal(f"{number + 5}00000")
        )
        InteractionFactory(
            tenant=t, client=client, staff=rm, occurred_at=shanghai(2026, 10, 3 + number, 10)
        )
        PlannedContactFactory(
            tenant=t,
            client=client,
            assigned_to=rm,
            due_on=D(2026, 10, 5 + number),
            status=PlannedContact.Status.DONE if number else PlannedContact.Status.OVERDUE,
            completed_at=shanghai(2026, 10, 5, 9),
        )
    return tier


def test_a_rerun_for_a_past_month_gives_the_same_rows(bank_a, busy_october):
    first = take(bank_a.tenant, "month", D(2026, 10, 1))
    # Work of other months meanwhile changes nothing in October's figures.
    with tenant_context(bank_a.tenant):
        client = bank_a.rm.book.first()
    InteractionFactory(
        tenant=bank_a.tenant, client=client, staff=bank_a.rm, occurred_at=shanghai(2026, 11, 3)
    )
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=D(2026, 11, 2))
    second = take(bank_a.tenant, "month", D(2026, 10, 1))
    assert second.keys() == first.keys()
    for key, row in first.items():
        again = second[key]
        assert again.pk == row.pk  # replaced in place
        assert (again.values, again.scores, again.score, again.rank_in_branch) == (
            row.values,
            row.scores,
            row.score,
            row.rank_in_branch,
        )
        assert again.computed_at >= row.computed_at
    assert figure(second, bank_a.rm, "interactions_logged") == 3
    assert figure(second, bank_a.rm, "adherence_pct") == 66.7


def test_a_rerun_writes_only_the_rows_that_changed(bank_a, busy_october):
    with tenant_context(bank_a.tenant):
        kpi_snapshot_take(period="month", start=D(2026, 10, 1))
        stamps = dict(KpiSnapshot.objects.values_list("scope_key", "updated_at"))
        unchanged = kpi_snapshot_take(period="month", start=D(2026, 10, 1))
        assert (unchanged["written"], unchanged["removed"]) == (0, 0)
        assert dict(KpiSnapshot.objects.values_list("scope_key", "updated_at")) == stamps
        client = bank_a.rm.book.first()
    InteractionFactory(
        tenant=bank_a.tenant, client=client, staff=bank_a.rm, occurred_at=shanghai(2026, 10, 20)
    )
    with tenant_context(bank_a.tenant):
        changed = kpi_snapshot_take(period="month", start=D(2026, 10, 1))
        now = dict(KpiSnapshot.objects.values_list("scope_key", "updated_at"))
    # rm's row, their branch's with its parents', and the bank's; not other_rm's nor SH01's.
    assert changed["written"] == 5
    moved = {key for key in now if now[key] != stamps[key]}
    assert moved == {
        f"rm:{bank_a.rm.pk}",
        f"branch:{bank_a.sub.pk}",
        f"branch:{bank_a.city.pk}",
        f"branch:{bank_a.head_office.pk}",
        "tenant",
    }


def test_a_rerun_removes_the_rows_of_scopes_gone(bank_a, busy_october):
    with tenant_context(bank_a.tenant):
        first = kpi_snapshot_take(period="month", start=D(2026, 10, 1))
        assert first == {"rm": 2, "branch": 4, "tenant": 1, "written": 7, "removed": 0}
        bank_a.other_rm.is_active = False
        bank_a.other_rm.save(update_fields=["is_active"])
        again = kpi_snapshot_take(period="month", start=D(2026, 10, 1))
        assert (again["rm"], again["branch"], again["tenant"]) == (1, 4, 1)
        assert again["removed"] == 1
        assert not KpiSnapshot.objects.filter(staff=bank_a.other_rm).exists()
        # Other periods keep their rows.
        kpi_snapshot_take(period="month", start=D(2026, 9, 1))
        assert KpiSnapshot.objects.filter(period_start=D(2026, 10, 1)).count() == 6


# --- Tenant isolation -----------------------------------------------------------------------


def test_a_banks_run_reads_and_writes_only_its_own_rows(bank_a, bank_b, busy_october):
    b_client = ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub, owner_rm=bank_b.rm)
    InteractionFactory(
        tenant=bank_b.tenant, client=b_client, staff=bank_b.rm, occurred_at=shanghai(2026, 10, 9)
    )
    take(bank_b.tenant, "month", D(2026, 10, 1))
    a_rows = take(bank_a.tenant, "month", D(2026, 10, 1))
    assert a_rows["tenant"].values["interactions_logged"] == 3
    assert a_rows["tenant"].values["vip_count"] == 3
    assert all(row.tenant_id == bank_a.tenant.pk for row in a_rows.values())
    with tenant_context(bank_b.tenant):
        b_rows = {row.scope_key: row for row in KpiSnapshot.objects.all()}
    assert len(b_rows) == 7  # untouched by bank A's run and its clean-up
    assert b_rows["tenant"].values["interactions_logged"] == 1
    assert b_rows["tenant"].values["vip_count"] == 0
    assert b_rows[f"rm:{bank_b.rm.pk}"].values["book_aum_cny"] == "0.00"


# --- Constant queries -----------------------------------------------------------------------


def _grow(bank, tier, first: int, count: int) -> None:
    """Clients ``first`` to ``first + count − 1`` of rm, each with a bit of everything
    the run reads."""
    t, rm = bank.tenant, bank.rm
    kinds = list(TimeLog.Kind)
    for number in range(first, first + count):
        client = ClientFactory(tenant=t, branch=bank.sub, owner_rm=rm, tier=tier)
        AumSnapshotFactory(tenant=t, client=client, date=D(2026, 9, 30))
        AumSnapshotFactory(tenant=t, client=client, date=D(2026, 10, 31))
        TierChangeFactory(tenant=t, client=client, to_tier=tier, effective_on=D(2026, 10, 2))
        InteractionFactory(tenant=t, client=client, staff=rm, occurred_at=shanghai(2026, 10, 8))
        PlannedContactFactory(tenant=t, client=client, assigned_to=rm, due_on=D(2026, 10, 9))
        opportunity = OpportunityFactory(
            tenant=t,
            client=client,
            status=Opportunity.Status.WON,
            won_at=shanghai(2026, 10, 9),
            won_amount_cny=Decimal("100"),
        )
        StepEntryFactory(tenant=t, opportunity=opportunity, entered_at=shanghai(2026, 10, 2))
        SatisfactionSurveyFactory(tenant=t, client=client, staff=rm, surveyed_on=D(2026, 10, 9))
        TimeLogFactory(
            tenant=t,
            staff=rm,
            date=D(2026, 10, 1) + datetime.timedelta(days=number % 31),
            kind=kinds[number // 31],
        )


def _queries(bank) -> int:
    with tenant_context(bank.tenant), CaptureQueriesContext(connection) as captured:
        kpi_snapshot_take(period="month", start=D(2026, 10, 1))
    return len(captured)


def test_the_run_costs_the_same_queries_for_5_or_50_clients(bank_a):
    tier = TierFactory(tenant=bank_a.tenant, rank=1)
    ServiceStandardFactory(tenant=bank_a.tenant, tier=tier)
    _grow(bank_a, tier, 0, 5)
    few = _queries(bank_a)
    _grow(bank_a, tier, 5, 45)
    StaffFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, role=Role.RM)
    BranchFactory(tenant=bank_a.tenant, parent=bank_a.city)
    many = _queries(bank_a)
    assert few == many
    assert many <= 35
