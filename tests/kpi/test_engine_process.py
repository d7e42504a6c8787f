"""The process KPIs of the snapshots against a hand-computed book: plan adherence,
coverage, overdue contacts, time on VIP service, step conversion, time in step and the
pipeline by step — each with its boundaries at midnight in Shanghai.

October 2026, figures to 31 October; rm (R1) in BJ01, other_rm (R2) in SH01.
"""

import datetime
from decimal import Decimal

import pytest

from contact_plans.models import PlannedContact
from kpi.models import KpiSnapshot, TimeLog
from kpi.services import kpi_snapshot_take
from sales_pipeline.models import Opportunity
from tests.factories import (
    ClientFactory,
    InteractionFactory,
    OpportunityFactory,
    PlannedContactFactory,
    ServiceStandardFactory,
    StepEntryFactory,
    TierChangeFactory,
    TierFactory,
    TimeLogFactory,
)
from tests.kpi.builders import shanghai
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

OCTOBER = datetime.date(2026, 10, 1)
D = datetime.date
Status = PlannedContact.Status


def take(bank, start=OCTOBER, period="month", **kwargs) -> dict[str, KpiSnapshot]:
    with tenant_context(bank.tenant):
        kpi_snapshot_take(period=period, start=start, **kwargs)
        rows = KpiSnapshot.objects.filter(period=period, period_start=start)
        return {row.scope_key: row for row in rows}


@pytest.fixture
def client_of(bank_a):
    def make(tier=None, owner=None, branch=None):
        owner = owner or bank_a.rm
        return ClientFactory(
            tenant=bank_a.tenant, branch=branch or owner.branch, owner_rm=owner, tier=tier
        )

    return make


@pytest.fixture
def contacts(bank_a, client_of):
    """rm's planned contacts: p1 due 10 Oct, done that afternoon; p2 due 10 Oct, done at
    23:30 that night (15:30 UTC); p3 due 10 Oct, done at 00:30 on the 11th (still the
    10th in UTC): late; p4 cancelled; p5 due 31 Oct, still open; p6 due 30 Sep, open;
    p7 due 1 Nov; p8 due 25 Oct, done on 2 Nov."""
    client = client_of()

    def contact(due, status=Status.PLANNED, completed=None):
        return PlannedContactFactory(
            tenant=bank_a.tenant,
            client=client,
            assigned_to=bank_a.rm,
            due_on=due,
            status=status,
            completed_at=completed,
        )

    contact(D(2026, 10, 10), Status.DONE, shanghai(2026, 10, 10, 15))
    contact(D(2026, 10, 10), Status.DONE, shanghai(2026, 10, 10, 23, 30))
    contact(D(2026, 10, 10), Status.DONE, shanghai(2026, 10, 11, 0, 30))
    contact(D(2026, 10, 20), Status.CANCELLED)
    contact(D(2026, 10, 31), Status.OVERDUE)
    contact(D(2026, 9, 30), Status.OVERDUE)
    contact(D(2026, 11, 1))
    contact(D(2026, 10, 25), Status.DONE, shanghai(2026, 11, 2, 9))


def test_adherence_counts_contacts_done_by_their_local_due_day(bank_a, contacts):
    rows = take(bank_a)
    rm = rows[f"rm:{bank_a.rm.pk}"].values
    # Due in October, not cancelled: p1 p2 p3 p5 p8; done by the due day: p1 p2.
    assert rm["adherence_pct"] == 40.0
    assert rows[f"branch:{bank_a.sub.pk}"].values["adherence_pct"] == 40.0
    assert rows[f"rm:{bank_a.other_rm.pk}"].values["adherence_pct"] is None


def test_overdue_counts_contacts_still_open_on_the_figures_date(bank_a, contacts):
    rows = take(bank_a)
    # Due before 31 Oct and not done by its end: p6 (open), p8 (done only on 2 Nov).
    assert rows[f"rm:{bank_a.rm.pk}"].values["overdue_count"] == 2
    assert rows["tenant"].values["overdue_count"] == 2


def test_adherence_while_the_period_runs_leaves_today_out(bank_a, contacts):
    rows = take(bank_a, as_of=D(2026, 10, 25))
    # Due 1–24 Oct: p1 p2 p3 (p8 is due on the figures' date: not late yet).
    assert rows[f"rm:{bank_a.rm.pk}"].values["adherence_pct"] == 66.7
    assert rows[f"rm:{bank_a.rm.pk}"].as_of == D(2026, 10, 25)
    # Due before 25 Oct and open at its end: p6 only (p3 was done on the 11th).
    assert rows[f"rm:{bank_a.rm.pk}"].values["overdue_count"] == 1


def test_coverage_counts_vip_clients_contacted_within_their_cadence(bank_a, client_of):
    t = bank_a.tenant
    gold = TierFactory(tenant=t, rank=2)
    diamond = TierFactory(tenant=t, rank=3)
    potential = TierFactory(tenant=t, rank=1)
    unserviced = TierFactory(tenant=t, rank=4)  # a tier without a service standard
    ServiceStandardFactory(tenant=t, tier=gold, contact_cadence_days=90)
    ServiceStandardFactory(tenant=t, tier=diamond, contact_cadence_days=45)
    ServiceStandardFactory(tenant=t, tier=potential, contact_cadence_days=180)

    def contacted(client, at):
        InteractionFactory(tenant=t, client=client, staff=bank_a.advisor, occurred_at=at)

    # 31 Oct − 90 days = 2 Aug: from local midnight starting 2 Aug.
    contacted(client_of(gold), shanghai(2026, 8, 2, 0, 30))  # covered (1 Aug 16:30 UTC)
    contacted(client_of(gold), shanghai(2026, 8, 1, 23, 30))  # a day too early
    contacted(client_of(diamond), shanghai(2026, 11, 1, 0, 10))  # after the figures' date
    contacted(client_of(potential), shanghai(2026, 10, 31, 23, 59))  # covered
    contacted(client_of(None), shanghai(2026, 10, 15))  # not a VIP: not in the count
    client_of(unserviced)  # a VIP without a cadence: never covered
    rows = take(bank_a)
    assert rows[f"rm:{bank_a.rm.pk}"].values["coverage_pct"] == 40.0  # 2 of 5
    assert rows[f"branch:{bank_a.city.pk}"].values["coverage_pct"] == 40.0
    assert rows[f"rm:{bank_a.other_rm.pk}"].values["coverage_pct"] is None  # no VIPs


def test_coverage_uses_the_tier_on_the_periods_last_day(bank_a, client_of):
    """A Diamond client (45 days) who was Gold (90 days) on 30 September: contacted on
    1 August, covered at the end of September by Gold's cadence."""
    t = bank_a.tenant
    gold, diamond = TierFactory(tenant=t, rank=2), TierFactory(tenant=t, rank=3)
    ServiceStandardFactory(tenant=t, tier=gold, contact_cadence_days=90)
    ServiceStandardFactory(tenant=t, tier=diamond, contact_cadence_days=45)
    client = client_of(diamond)
    TierChangeFactory(
        tenant=t, client=client, from_tier=gold, to_tier=diamond, effective_on=D(2026, 10, 5)
    )
    InteractionFactory(
        tenant=t, client=client, staff=bank_a.rm, occurred_at=shanghai(2026, 8, 1, 10)
    )
    september = take(bank_a, start=D(2026, 9, 1))
    assert september[f"rm:{bank_a.rm.pk}"].values["coverage_pct"] == 100.0
    october = take(bank_a)
    assert october[f"rm:{bank_a.rm.pk}"].values["coverage_pct"] == 0.0


def test_time_on_vip_service_against_all_hours_logged(bank_a):
    t, rm = bank_a.tenant, bank_a.rm
    Kind = TimeLog.Kind
    for day, kind, hours in [
        (D(2026, 10, 1), Kind.VIP_SERVICE, "6.00"),
        (D(2026, 10, 1), Kind.ADMIN, "1.50"),
        (D(2026, 10, 31), Kind.NON_VIP_SERVICE, "2.25"),
        (D(2026, 9, 30), Kind.VIP_SERVICE, "8.00"),
        (D(2026, 11, 1), Kind.VIP_SERVICE, "8.00"),
    ]:
        TimeLogFactory(tenant=t, staff=rm, date=day, kind=kind, hours=Decimal(hours))
    TimeLogFactory(tenant=t, staff=bank_a.advisor, date=D(2026, 10, 2), hours=Decimal("8"))
    rows = take(bank_a)
    rm_values = rows[f"rm:{rm.pk}"].values
    assert rm_values["hours_logged"] == 9.75
    assert rm_values["vip_time_pct"] == 61.5  # 6 / 9.75
    # A branch's time is its RMs': the advisor's day is not in it.
    assert rows[f"branch:{bank_a.sub.pk}"].values["hours_logged"] == 9.75
    assert rows["tenant"].values["vip_time_pct"] == 61.5
    assert rows[f"rm:{bank_a.other_rm.pk}"].values["vip_time_pct"] is None


@pytest.fixture
def pipeline(bank_a, client_of):
    """rm's opportunities and their step entries (times in Shanghai):

    oA: step 1 1 Oct 00:00 → 3 Oct 12:00, step 2 → 4 Oct 12:00, step 3 since;
    oB: step 1 30 Sep 23:00 → 2 Oct 23:00, step 2 since;
    oC: step 1 since 31 Oct 23:30;
    oD: step 1 10 Oct 12:00 → 1 Nov 01:00, step 2 since;
    oE: step 1 15 Oct 00:00, lost 20 Oct 00:00;
    oF: step 5 5 Oct 00:00 → celebrated 6 Oct 00:00;
    oG: won, step 4 12 Oct 00:00 → 19 Oct 12:00, step 5 since.
    """
    t = bank_a.tenant

    def opportunity(*steps, **fields):
        made = OpportunityFactory(
            tenant=t, client=client_of(), step=len(steps), step_entered_at=steps[-1][0], **fields
        )
        for number, (entered, left) in enumerate(steps, start=1):
            StepEntryFactory(
                tenant=t, opportunity=made, step=number, entered_at=entered, left_at=left
            )
        return made

    s = shanghai
    opportunity((s(2026, 10, 1), s(2026, 10, 3, 12)), (s(2026, 10, 3, 12), s(2026, 10, 4, 12)),
                (s(2026, 10, 4, 12), None))  # fmt: skip
    opportunity((s(2026, 9, 30, 23), s(2026, 10, 2, 23)), (s(2026, 10, 2, 23), None))
    opportunity((s(2026, 10, 31, 23, 30), None))
    opportunity((s(2026, 10, 10, 12), s(2026, 11, 1, 1)), (s(2026, 11, 1, 1), None))
    opportunity(
        (s(2026, 10, 15), s(2026, 10, 20)),
        status=Opportunity.Status.LOST,
        lost_at=s(2026, 10, 20),
        lost_reason=Opportunity.LostReason.DECLINED,
    )
    celebrated = OpportunityFactory(
        tenant=t,
        client=client_of(),
        step=5,
        status=Opportunity.Status.WON,
        step_entered_at=s(2026, 10, 5),
        completed_at=s(2026, 10, 6),
    )
    StepEntryFactory(
        tenant=t, opportunity=celebrated, step=5, entered_at=s(2026, 10, 5), left_at=s(2026, 10, 6)
    )
    followed_up = OpportunityFactory(
        tenant=t,
        client=client_of(),
        step=5,
        status=Opportunity.Status.WON,
        step_entered_at=s(2026, 10, 19, 12),
    )
    StepEntryFactory(
        tenant=t,
        opportunity=followed_up,
        step=4,
        entered_at=s(2026, 10, 12),
        left_at=s(2026, 10, 19, 12),
    )
    StepEntryFactory(tenant=t, opportunity=followed_up, step=5, entered_at=s(2026, 10, 19, 12))


def test_step_conversion_counts_entries_of_the_period_that_moved_on(bank_a, pipeline):
    rm = take(bank_a)[f"rm:{bank_a.rm.pk}"].values
    # Step 1 entered in October: oA, oC, oD, oE; at step 2 by 31 Oct: oA (oD on 1 Nov).
    assert rm["conversion_1_pct"] == 25.0
    # Step 2 entered in October: oA, oB; at step 3: oA.
    assert rm["conversion_2_pct"] == 50.0
    assert rm["conversion_3_pct"] == 0.0  # oA, not yet at step 4
    assert rm["conversion_4_pct"] == 100.0  # oG


def test_days_in_step_average_the_entries_left_in_the_period(bank_a, pipeline):
    rm = take(bank_a)[f"rm:{bank_a.rm.pk}"].values
    # Step 1 left in October: oA 2.5 days, oB 2 days, oE 5 days → 3.17.
    assert rm["days_in_step_1"] == 3.2
    assert rm["days_in_step_2"] == 1.0  # oA
    assert rm["days_in_step_3"] is None
    assert rm["days_in_step_4"] == 7.5  # oG
    assert rm["days_in_step_5"] == 1.0  # oF, celebrated


def test_pipeline_by_step_on_the_figures_date(bank_a, pipeline):
    rows = take(bank_a)
    rm = rows[f"rm:{bank_a.rm.pk}"].values
    # oC and oD at step 1 (oD left it only on 1 Nov), oB at 2, oA at 3, oG at 5; oE
    # lost, oF celebrated.
    assert [rm[f"open_at_step_{k}"] for k in range(1, 6)] == [2, 1, 1, 0, 1]
    assert rows[f"branch:{bank_a.sub.pk}"].values["open_at_step_1"] == 2
    november = take(bank_a, start=D(2026, 11, 1), as_of=D(2026, 11, 28))
    assert [november[f"rm:{bank_a.rm.pk}"].values[f"open_at_step_{k}"] for k in (1, 2, 3)] == [
        1,
        2,
        1,
    ]


def test_process_score_is_the_mean_of_its_scored_metrics(bank_a, contacts, pipeline):
    """rm: adherence 40.0, overdue 2 against other_rm's 0 (inverse rank: 0), conversion
    25.0, 50.0, 0.0, 100.0; coverage and time not defined. Process = 215 / 6 = 35.83."""
    rows = take(bank_a)
    assert rows[f"rm:{bank_a.rm.pk}"].scores["process"] == 35.8
    # other_rm: only the overdue count is defined, and it is the best: 100.
    assert rows[f"rm:{bank_a.other_rm.pk}"].scores["process"] == 100.0
