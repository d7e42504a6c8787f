"""Drill-downs (``kpi:drill``): the list behind each figure, for a scope and period.

The lists sum to the figures shown: on rows the snapshot job computed
(``kpi_snapshot_take``) over a book that exercises every drill, each drill-down's
totals equal the snapshot's values of every metric pointing to it — for an RM, a branch
with its sub-branches, a branch without, and the bank; for a month that is over and
for a quarter that is running. Then: who may drill where (role scoping, another
bank's scope or an unknown drill is a 404), the viewer's scope on top of the figure's,
paging, and the page's text.

The book (October 2026, in Asia/Shanghai; rm in 朝阳支行 BJ01 under 北京分行 BJ, other_rm
in 浦东支行 SH01): clients of rm homed in BJ01 and in SH01, one of other_rm's; AUM
snapshots around the period; tier changes; maturities 30 days gone; planned contacts
on time, late, overdue, done after the figures' date, cancelled; sales won with an
advisor, with a secondary RM, credited across RMs; an opportunity through three steps,
one lost, one new; time logged (an advisor's too); interactions either side of
midnight; referrals, surveys and complaints.
"""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contact_plans.models import PlannedContact
from kpi import drilldowns
from kpi.dashboards import KpiPeriod, kpi_scope_for
from kpi.definitions import METRICS
from kpi.models import KpiSnapshot
from kpi.services import kpi_snapshot_take
from sales_pipeline.models import Opportunity, Referral, SaleCredit
from tests.factories import (
    AumSnapshotFactory,
    ClientFactory,
    ComplaintFactory,
    HoldingFactory,
    InteractionFactory,
    OpportunityAdvisorFactory,
    OpportunityFactory,
    PlannedContactFactory,
    ReferralFactory,
    SaleCreditFactory,
    SatisfactionSurveyFactory,
    ServiceStandardFactory,
    StepEntryFactory,
    TierChangeFactory,
    TierFactory,
    TimeLogFactory,
)
from vipcrm.roles import Actor
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = datetime.date
OCTOBER = {"period": "month", "start": "2026-10-01"}
DRILL_CODES = sorted({m.drill for m in METRICS if m.drill})


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


def drill_url(code: str) -> str:
    return reverse("kpi:drill", args=[code])


@pytest.fixture
def book(bank_a):
    t, rm, other = bank_a.tenant, bank_a.rm, bank_a.other_rm
    pot = TierFactory(tenant=t, code="POT", name="潜力", rank=1, aum_floor=Decimal("200000"))
    gold = TierFactory(tenant=t, code="GOLD", name="金卡", rank=2, aum_floor=Decimal("500000"))
    ServiceStandardFactory(tenant=t, tier=pot, contact_cadence_days=180)
    ServiceStandardFactory(tenant=t, tier=gold, contact_cadence_days=90)

    def client(name, owner, branch, tier, aum_now, snapshots=()):
        made = ClientFactory(
            tenant=t,
            name=name,
            owner_rm=owner,
            branch=branch,
            tier=tier,
            aum_cny=Decimal(aum_now),
        )
        for day, amount in snapshots:
            AumSnapshotFactory(tenant=t, client=made, date=day, aum_cny=Decimal(amount))
        return made

    a = client(
        "安然",
        rm,
        bank_a.sub,
        gold,
        "650000",
        [(D(2026, 9, 30), "600000"), (D(2026, 10, 31), "650000.5")],
    )
    b = client(
        "白露",
        rm,
        bank_a.other_sub,
        pot,
        "250000",
        [(D(2026, 9, 30), "400000"), (D(2026, 10, 20), "250000")],
    )
    c = client("陈晨", rm, bank_a.sub, None, "100000", [(D(2026, 10, 31), "100000")])
    d = client("丁一", other, bank_a.other_sub, gold, "1000000", [(D(2026, 10, 31), "1000000")])
    e = client("鄂尔", rm, bank_a.sub, gold, "480000", [(D(2026, 10, 31), "480000")])
    f = client("樊凡", rm, bank_a.sub, pot, "470000", [(D(2026, 10, 31), "470000")])
    TierChangeFactory(tenant=t, client=e, from_tier=pot, to_tier=gold, effective_on=D(2026, 10, 12))
    TierChangeFactory(tenant=t, client=f, from_tier=None, to_tier=pot, effective_on=D(2026, 9, 2))

    # Maturities on 1 October (30 days before the figures' date), one left out (no amount).
    for client_, amount in [(a, "200000"), (b, "300000"), (c, None)]:
        holding = HoldingFactory(tenant=t, client=client_, matures_on=D(2026, 10, 1))
        PlannedContactFactory(
            tenant=t,
            client=client_,
            assigned_to=rm,
            reason=PlannedContact.Reason.MATURITY,
            due_on=D(2026, 9, 20),
            status=PlannedContact.Status.DONE,
            completed_at=at(2026, 9, 19, 10),
            source_key=f"maturity:{holding.pk}:2026-10-01",
            holding=holding,
            source_date=D(2026, 10, 1),
            amount_cny=Decimal(amount) if amount else None,
        )

    Status = PlannedContact.Status
    for client_, due, status, done in [
        (a, D(2026, 10, 5), Status.DONE, at(2026, 10, 4, 9)),
        (a, D(2026, 10, 10), Status.DONE, at(2026, 10, 12, 9)),
        (b, D(2026, 10, 20), Status.OVERDUE, None),
        (b, D(2026, 10, 15), Status.CANCELLED, None),
        (a, D(2026, 11, 3), Status.PLANNED, None),
        (e, D(2026, 9, 20), Status.OVERDUE, None),
        (e, D(2026, 10, 25), Status.DONE, at(2026, 11, 2, 9)),
        (d, D(2026, 10, 18), Status.OVERDUE, None),
    ]:
        PlannedContactFactory(
            tenant=t,
            client=client_,
            assigned_to=client_.owner_rm,
            due_on=due,
            status=status,
            completed_at=done,
        )

    Won = Opportunity.Status.WON
    sold_a = OpportunityFactory(
        tenant=t,
        client=a,
        owner_rm=rm,
        status=Won,
        step=4,
        won_at=at(2026, 10, 15, 11),
        won_amount_cny=Decimal("300000"),
        step_entered_at=at(2026, 10, 15, 11),
    )
    SaleCreditFactory(
        tenant=t,
        opportunity=sold_a,
        staff=rm,
        amount_cny=Decimal("300000"),
        credited_on=D(2026, 10, 15),
    )
    OpportunityAdvisorFactory(tenant=t, opportunity=sold_a, staff=bank_a.advisor)
    sold_b = OpportunityFactory(
        tenant=t,
        client=b,
        owner_rm=rm,
        status=Won,
        step=4,
        won_at=at(2026, 10, 20, 15),
        won_amount_cny=Decimal("100000"),
    )
    SaleCreditFactory(
        tenant=t,
        opportunity=sold_b,
        staff=rm,
        share_percent=Decimal("60"),
        amount_cny=Decimal("60000"),
        credited_on=D(2026, 10, 20),
    )
    SaleCreditFactory(
        tenant=t,
        opportunity=sold_b,
        staff=other,
        role=SaleCredit.Role.SECONDARY,
        share_percent=Decimal("40"),
        amount_cny=Decimal("40000"),
        credited_on=D(2026, 10, 20),
    )
    sold_d = OpportunityFactory(
        tenant=t,
        client=d,
        owner_rm=other,
        status=Won,
        step=4,
        won_at=at(2026, 10, 8, 10),
        won_amount_cny=Decimal("500000"),
    )
    SaleCreditFactory(
        tenant=t,
        opportunity=sold_d,
        staff=other,
        share_percent=Decimal("90"),
        amount_cny=Decimal("450000"),
        credited_on=D(2026, 10, 8),
    )
    SaleCreditFactory(
        tenant=t,
        opportunity=sold_d,
        staff=rm,
        role=SaleCredit.Role.SECONDARY,
        share_percent=Decimal("10"),
        amount_cny=Decimal("50000"),
        credited_on=D(2026, 10, 8),
    )
    # sold_a's way through the steps; a new one at step 1; a lost one.
    for step, entered, left in [
        (1, at(2026, 10, 1, 9), at(2026, 10, 3, 9)),
        (2, at(2026, 10, 3, 9), at(2026, 10, 10, 21)),
        (3, at(2026, 10, 10, 21), at(2026, 10, 15, 11)),
        (4, at(2026, 10, 15, 11), None),
    ]:
        StepEntryFactory(tenant=t, opportunity=sold_a, step=step, entered_at=entered, left_at=left)
    fresh = OpportunityFactory(tenant=t, client=b, owner_rm=rm, step_entered_at=at(2026, 10, 25))
    StepEntryFactory(tenant=t, opportunity=fresh, step=1, entered_at=at(2026, 10, 25))
    lost = OpportunityFactory(
        tenant=t,
        client=c,
        owner_rm=rm,
        status=Opportunity.Status.LOST,
        lost_at=at(2026, 10, 5, 12),
        lost_reason="declined",
        step_entered_at=at(2026, 10, 2),
    )
    StepEntryFactory(tenant=t, opportunity=lost, step=1, entered_at=at(2026, 10, 2))

    for staff, day, kind, hours in [
        (rm, D(2026, 10, 6), "vip_service", "6"),
        (rm, D(2026, 10, 6), "admin", "2"),
        (rm, D(2026, 10, 7), "non_vip_service", "2.5"),
        (rm, D(2026, 11, 2), "vip_service", "8"),
        (other, D(2026, 10, 6), "vip_service", "8"),
        (bank_a.advisor, D(2026, 10, 6), "vip_service", "4"),
    ]:
        TimeLogFactory(tenant=t, staff=staff, date=day, kind=kind, hours=Decimal(hours))

    for client_, staff, when in [
        (a, rm, at(2026, 10, 10, 14)),
        (c, rm, at(2026, 10, 31, 23, 30)),
        (c, rm, at(2026, 11, 1, 0, 30)),
        (d, other, at(2026, 10, 3, 9)),
        (a, bank_a.advisor, at(2026, 10, 11, 9)),
    ]:
        InteractionFactory(tenant=t, client=client_, staff=staff, occurred_at=when)

    for credited, received, when in [
        (rm, other, at(2026, 10, 5)),
        (other, rm, at(2026, 10, 30)),
        (rm, rm, at(2026, 11, 1, 0, 10)),
    ]:
        referral = ReferralFactory(
            tenant=t,
            referrer=a if credited == rm else d,
            prospect=ClientFactory(tenant=t, branch=received.branch, owner_rm=received),
            credited_to=credited,
            received_by=received,
        )
        with tenant_context(t):
            Referral.objects.filter(pk=referral.pk).update(created_at=when)

    for client_, staff, score, day in [
        (a, rm, 5, D(2026, 10, 20)),
        (b, rm, 4, D(2026, 10, 21)),
        (d, other, 2, D(2026, 10, 22)),
        (a, rm, 1, D(2026, 11, 2)),
    ]:
        SatisfactionSurveyFactory(
            tenant=t, client=client_, staff=staff, score=score, surveyed_on=day
        )
    ComplaintFactory(tenant=t, client=b, staff=rm, received_on=D(2026, 10, 18))
    ComplaintFactory(tenant=t, client=d, staff=other, received_on=D(2026, 10, 19))
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f}


def snapshots(bank, *, period="month", start=D(2026, 10, 1)) -> dict[str, KpiSnapshot]:
    with tenant_context(bank.tenant):
        kpi_snapshot_take(period=period, start=start)
        return {
            s.scope_key: s for s in KpiSnapshot.objects.filter(period=period, period_start=start)
        }


def scope_keys(bank) -> list[str]:
    return [
        f"rm:{bank.rm.pk}",
        f"rm:{bank.other_rm.pk}",
        f"branch:{bank.sub.pk}",
        f"branch:{bank.city.pk}",
        f"branch:{bank.other_sub.pk}",
        f"branch:{bank.head_office.pk}",
        "tenant",
    ]


def totals(bank, code: str, key: str, period: KpiPeriod, as_of: datetime.date) -> dict:
    """The drill-down's totals as head office sees them."""
    with tenant_context(bank.tenant):
        actor = Actor.for_staff(bank.head)
        scope = kpi_scope_for(actor=actor, key=key)
        listing = drilldowns.drill_list(
            actor=actor, drill=drilldowns.DRILLS[code], scope=scope, period=period, as_of=as_of
        )
        return listing.totals()


# --- The lists sum to the figures ---------------------------------------------------------


def test_every_drill_code_of_the_definitions_has_a_drill_down():
    assert sorted(drilldowns.DRILLS) == DRILL_CODES


@pytest.mark.parametrize(
    ("period", "start"), [("month", D(2026, 10, 1)), ("quarter", D(2026, 10, 1))]
)
def test_drill_down_lists_sum_to_the_figure_shown(bank_a, book, period, start):
    rows = snapshots(bank_a, period=period, start=start)
    kpi_period = KpiPeriod.containing(period, start)
    checked = 0
    for key in scope_keys(bank_a):
        snapshot = rows[key]
        for code in DRILL_CODES:
            found = totals(bank_a, code, key, kpi_period, snapshot.as_of)
            found.pop(drilldowns.ROW_COUNT)
            expected = {m.code for m in METRICS if m.drill == code}
            assert set(found) == expected, code
            for metric_code, value in found.items():
                assert value == snapshot.values[metric_code], (key, code, metric_code)
                checked += 1
    assert checked == len([m for m in METRICS if m.drill]) * len(scope_keys(bank_a))


def test_a_supervisors_own_branch_lists_what_head_office_sees_filtered_once(bank_a, book):
    """The lists of the branch's clients and of their planned contacts: on their own
    branch a supervisor's are head office's, with the branch filtered once (their scope
    does it) — the same condition twice would mislead PostgreSQL's estimates."""
    rows = snapshots(bank_a)
    october = KpiPeriod.containing("month", D(2026, 10, 1))
    key = f"branch:{bank_a.city.pk}"
    as_of = rows[key].as_of
    supervisor = Actor.for_staff(bank_a.supervisor)
    for code in ("vip_clients", "uncovered_clients", "contacts_due", "overdue_contacts"):
        expected = totals(bank_a, code, key, october, as_of)
        assert expected[drilldowns.ROW_COUNT] > 0, code
        with tenant_context(bank_a.tenant):
            listing = drilldowns.drill_list(
                actor=supervisor,
                drill=drilldowns.DRILLS[code],
                scope=kpi_scope_for(actor=supervisor, key=key),
                period=october,
                as_of=as_of,
            )
            assert listing.totals() == expected, code
            if code == "overdue_contacts":
                sql = str(listing.base.query)
                assert sql.count('"customers_client"."branch_id" IN') == 1, sql


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL planner setting")
def test_the_totals_are_planned_in_one_process_and_the_setting_restored(bank_a, book):
    head = Actor.for_staff(bank_a.head)
    with tenant_context(bank_a.tenant):
        listing = drilldowns.drill_list(
            actor=head,
            drill=drilldowns.DRILLS["overdue_contacts"],
            scope=kpi_scope_for(actor=head, key="tenant"),
            period=KpiPeriod.containing("month", D(2026, 10, 1)),
            as_of=D(2026, 10, 31),
        )
        with connection.cursor() as cursor:
            cursor.execute("SHOW max_parallel_workers_per_gather")
            before = cursor.fetchone()[0]
        with CaptureQueriesContext(connection) as queries:
            listing.totals()
        with connection.cursor() as cursor:
            cursor.execute("SHOW max_parallel_workers_per_gather")
            after = cursor.fetchone()[0]
    sql = [q["sql"] for q in queries]
    assert sql[0] == "SET LOCAL max_parallel_workers_per_gather = 0"
    assert "COUNT(" in sql[1]
    assert sql[2] == "SET LOCAL max_parallel_workers_per_gather TO DEFAULT"
    assert before == after


def test_overdue_contacts_of_today_are_the_open_ones(bank_a):
    """Figures of today: a contact due before today is overdue while open; one done today
    is not (no contact is done after today yet, so the list reads the status alone)."""
    zone = ZoneInfo("Asia/Shanghai")
    today = timezone.localdate(timezone=zone)
    with tenant_context(bank_a.tenant):
        client_ = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
        still_open = PlannedContactFactory(
            tenant=bank_a.tenant,
            client=client_,
            assigned_to=bank_a.rm,
            due_on=today - datetime.timedelta(days=2),
            status=PlannedContact.Status.OVERDUE,
        )
        PlannedContactFactory(
            tenant=bank_a.tenant,
            client=client_,
            assigned_to=bank_a.rm,
            due_on=today - datetime.timedelta(days=1),
            status=PlannedContact.Status.DONE,
            completed_at=timezone.now(),
        )
        head = Actor.for_staff(bank_a.head)
        listing = drilldowns.drill_list(
            actor=head,
            drill=drilldowns.DRILLS["overdue_contacts"],
            scope=kpi_scope_for(actor=head, key=f"rm:{bank_a.rm.pk}"),
            period=KpiPeriod.containing("month", today),
            as_of=today,
        )
        assert list(listing.rows) == [still_open]
        assert listing.totals()[drilldowns.ROW_COUNT] == 1
        assert "completed_at" not in str(listing.base.query).split("WHERE", 1)[1]


def test_the_hand_counted_book_gives_the_expected_lists(bank_a, book):
    """A few of the figures above, counted by hand, so the comparison is not empty."""
    rows = snapshots(bank_a)
    october = KpiPeriod.containing("month", D(2026, 10, 1))
    rm = f"rm:{bank_a.rm.pk}"
    as_of = rows[rm].as_of
    assert as_of == D(2026, 10, 31)
    vip = totals(bank_a, "vip_clients", rm, october, as_of)
    assert (vip[drilldowns.ROW_COUNT], vip["vip_count"]) == (5, 4)
    # 650,000.50 + 250,000 (its snapshot of 20 October) + 100,000 + 480,000 + 470,000
    assert vip["book_aum_cny"] == "1950000.50"
    maturities = totals(bank_a, "maturities", rm, october, as_of)
    assert maturities == {
        drilldowns.ROW_COUNT: 2,
        "maturity_matured_cny": "500000.00",
        "maturity_retention_pct": 70.0,  # 200,000 + 150,000 of 500,000
    }
    due = totals(bank_a, "contacts_due", rm, october, as_of)
    assert due == {drilldowns.ROW_COUNT: 4, "adherence_pct": 25.0}
    overdue = totals(bank_a, "overdue_contacts", rm, october, as_of)
    assert overdue == {drilldowns.ROW_COUNT: 3, "overdue_count": 3}
    sales = totals(bank_a, "won_sales", rm, october, as_of)
    assert sales == {
        drilldowns.ROW_COUNT: 3,
        "sales_won_count": 2,
        "sales_won_cny": "400000.00",
        "sales_credited_cny": "410000.00",  # 300,000 + 60,000 + 50,000 on other_rm's sale
        "joint_sales": 2,
    }
    time = totals(bank_a, "time_logs", rm, october, as_of)
    assert time == {drilldowns.ROW_COUNT: 3, "hours_logged": 10.5, "vip_time_pct": 57.1}
    steps = totals(bank_a, "step_1", rm, october, as_of)
    assert steps == {
        drilldowns.ROW_COUNT: 3,
        "conversion_1_pct": 33.3,
        "days_in_step_1": 2.0,
        "open_at_step_1": 1,
    }
    assert rows[rm].values["book_aum_cny"] == vip["book_aum_cny"]


# --- Who may drill where ------------------------------------------------------------------


@pytest.fixture
def computed(bank_a, book):
    return snapshots(bank_a)


def test_an_rm_drills_into_their_own_figures_only(login, bank_a, computed):
    http = login(bank_a.rm)
    own = http.get(drill_url("overdue_contacts"), {**OCTOBER, "scope": f"rm:{bank_a.rm.pk}"})
    assert own.status_code == 200
    assert own.context["row_count"] == 3
    default = http.get(drill_url("overdue_contacts"), OCTOBER)  # no scope: their own
    assert default.context["scope"].key == f"rm:{bank_a.rm.pk}"
    for key in [f"rm:{bank_a.other_rm.pk}", f"branch:{bank_a.sub.pk}", "tenant"]:
        assert http.get(drill_url("overdue_contacts"), {**OCTOBER, "scope": key}).status_code == 404


def test_a_supervisor_drills_into_their_branch_subtree(login, bank_a, computed):
    http = login(bank_a.supervisor)
    for key in [f"branch:{bank_a.city.pk}", f"branch:{bank_a.sub.pk}", f"rm:{bank_a.rm.pk}"]:
        assert http.get(drill_url("vip_clients"), {**OCTOBER, "scope": key}).status_code == 200
    for key in [f"branch:{bank_a.other_sub.pk}", f"rm:{bank_a.other_rm.pk}", "tenant"]:
        assert http.get(drill_url("vip_clients"), {**OCTOBER, "scope": key}).status_code == 404


def test_the_viewers_scope_narrows_the_list_beyond_the_figure(login, bank_a, book, computed):
    """rm's book has 白露, homed in 浦东 — outside the supervisor's 北京 subtree: the
    supervisor's list of rm's clients leaves her out, head office's has her."""
    query = {**OCTOBER, "scope": f"rm:{bank_a.rm.pk}"}
    supervisor = login(bank_a.supervisor).get(drill_url("vip_clients"), query)
    names = {row[1].value for row in supervisor.context["rows"]}
    assert "白露" not in names and "安然" in names
    head = login(bank_a.head).get(drill_url("vip_clients"), query)
    assert "白露" in {row[1].value for row in head.context["rows"]}


def test_an_advisor_has_no_figures_to_drill(login, bank_a, computed):
    assert login(bank_a.advisor).get(drill_url("interactions"), OCTOBER).status_code == 404


def test_another_banks_scope_and_an_unknown_drill_are_404s(login, bank_a, bank_b, computed):
    http = login(bank_a.head)
    for key in [f"rm:{bank_b.rm.pk}", f"branch:{bank_b.sub.pk}", "rm:x", "branch:", "tenant:1"]:
        assert http.get(drill_url("vip_clients"), {**OCTOBER, "scope": key}).status_code == 404
    assert http.get(drill_url("everything"), OCTOBER).status_code == 404


# --- The page -------------------------------------------------------------------------------


def test_the_page_shows_the_rows_and_their_totals_beside_the_figures(
    login, english, bank_a, book, computed
):
    query = {**OCTOBER, "scope": f"rm:{bank_a.rm.pk}", "metric": "overdue_count"}
    response = login(bank_a.rm).get(drill_url("overdue_contacts"), query)
    page = response.content.decode()
    assert "Overdue contacts" in page and "3 rows" in page
    assert [row[0].value for row in response.context["rows"]] == [
        D(2026, 9, 20),
        D(2026, 10, 20),
        D(2026, 10, 25),
    ]
    assert [row[1].value for row in response.context["rows"]] == [41, 11, 6]  # days overdue
    total = response.context["totals"][0]
    assert (total["list_text"], total["figure_text"], total["current"]) == ("3", "3", True)
    assert reverse("customers:client-detail", args=[book["b"].external_id]) in page


def test_a_period_without_a_snapshot_still_lists_and_says_so(login, english, bank_a, book):
    response = login(bank_a.rm).get(drill_url("time_logs"), OCTOBER)
    assert response.status_code == 200
    assert response.context["snapshot"] is None
    assert response.context["row_count"] == 3
    assert "not computed yet" in response.content.decode()


def test_long_lists_are_paged(login, bank_a, book, computed):
    taken = {(D(2026, 10, 6), "vip_service"), (D(2026, 10, 6), "admin")}
    taken.add((D(2026, 10, 7), "non_vip_service"))
    cells = [
        (D(2026, 10, 1) + datetime.timedelta(days=n), kind)
        for kind in ("vip_service", "admin")
        for n in range(31)
    ]
    for day, kind in [cell for cell in cells if cell not in taken][:55]:
        TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=day, kind=kind, hours=1)
    http = login(bank_a.rm)
    first = http.get(drill_url("time_logs"), OCTOBER)
    assert (len(first.context["rows"]), first.context["row_count"]) == (25, 58)
    assert first.context["page_obj"].has_next()
    third = http.get(drill_url("time_logs"), {**OCTOBER, "page": 3})
    assert len(third.context["rows"]) == 8
    assert not third.context["page_obj"].has_next()
    assert http.get(drill_url("time_logs"), {**OCTOBER, "page": 99}).status_code == 404


def test_a_drill_down_page_costs_the_same_queries_for_few_or_many_rows(
    login, bank_a, book, computed, django_assert_max_num_queries
):
    http = login(bank_a.head)
    query = {**OCTOBER, "scope": f"branch:{bank_a.sub.pk}"}
    with CaptureQueriesContext(connection) as few:
        http.get(drill_url("won_sales"), query)
    for n in range(20):
        client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
        OpportunityFactory(
            tenant=bank_a.tenant,
            client=client,
            status=Opportunity.Status.WON,
            won_at=at(2026, 10, 2 + n % 20, 10),
            won_amount_cny=Decimal(1000 + n),
        )
    with django_assert_max_num_queries(len(few)):
        response = http.get(drill_url("won_sales"), query)
    assert response.context["row_count"] == 23  # 3 of the book (won, credited, joint) + 20
