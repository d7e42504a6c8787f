"""Tool use, teamwork, client feedback and capacity in the snapshots, against
hand-computed fixtures: interactions logged, plans updated (from the audit log),
proposals, referrals given and received, joint sales, satisfaction, surveys, complaints,
unqualified VIPs, near-threshold clients and the effective service ratio.

October 2026, figures to 31 October, in Asia/Shanghai; rm (R1) in BJ01, other_rm (R2)
in SH01, the advisor (A1) in BJ01.
"""

import datetime
from decimal import Decimal

import pytest

from contact_plans import services as contact_services
from contact_plans.models import PlannedContact
from kpi.models import KpiSnapshot
from kpi.periods import period_start
from kpi.services import kpi_snapshot_take
from sales_pipeline.models import Opportunity, Proposal, Referral, SaleCredit
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    ComplaintFactory,
    InteractionFactory,
    OpportunityAdvisorFactory,
    OpportunityFactory,
    ProposalFactory,
    ReferralFactory,
    RmCapacityFactory,
    SaleCreditFactory,
    SatisfactionSurveyFactory,
    ServiceStandardFactory,
    StaffFactory,
    TierFactory,
    TierOverrideFactory,
)
from tests.kpi.builders import shanghai
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor, Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

OCTOBER = datetime.date(2026, 10, 1)
D = datetime.date


def take(bank, start=OCTOBER, **kwargs) -> dict[str, dict]:
    """The month's figures by scope key."""
    with tenant_context(bank.tenant):
        kpi_snapshot_take(period="month", start=start, **kwargs)
        rows = KpiSnapshot.objects.filter(period="month", period_start=start)
        return {row.scope_key: row.values for row in rows}


def rm_key(staff) -> str:
    return f"rm:{staff.pk}"


def branch_key(branch) -> str:
    return f"branch:{branch.pk}"


@pytest.fixture
def client_of(bank_a):
    def make(owner=None, **fields):
        owner = owner or bank_a.rm
        fields.setdefault("branch", owner.branch)
        return ClientFactory(tenant=bank_a.tenant, owner_rm=owner, **fields)

    return make


# --- Tool use -------------------------------------------------------------------------------


def test_interactions_logged_by_the_rm_on_local_days_of_the_period(bank_a, client_of):
    t, client = bank_a.tenant, client_of()
    for staff, at in [
        (bank_a.rm, shanghai(2026, 10, 31, 23, 30)),  # 15:30 UTC on the 31st
        (bank_a.rm, shanghai(2026, 10, 1, 0, 0)),  # 16:00 UTC on 30 September
        (bank_a.rm, shanghai(2026, 11, 1, 0, 10)),  # 16:10 UTC on the 31st: November's
        (bank_a.rm, shanghai(2026, 9, 30, 23, 59)),
        (bank_a.advisor, shanghai(2026, 10, 15)),  # not an RM
    ]:
        InteractionFactory(tenant=t, client=client, staff=staff, occurred_at=at)
    rows = take(bank_a)
    assert rows[rm_key(bank_a.rm)]["interactions_logged"] == 2
    assert rows[branch_key(bank_a.sub)]["interactions_logged"] == 2
    assert rows["tenant"]["interactions_logged"] == 2
    assert rows[rm_key(bank_a.other_rm)]["interactions_logged"] == 0


def test_plans_updated_counts_the_rms_hand_changes_from_the_audit_log(bank_a):
    def entry(staff, at, action="update", object_type=PlannedContact._meta.label_lower):
        AuditEntry.objects.create(
            at=at,
            actor=staff.user,
            actor_label=staff.user.username,
            action=action,
            object_type=object_type,
            object_id="1",
        )

    with tenant_context(bank_a.tenant):
        entry(bank_a.rm, shanghai(2026, 10, 5, 9), action="create")
        entry(bank_a.rm, shanghai(2026, 10, 31, 23, 30))
        entry(bank_a.rm, shanghai(2026, 11, 1, 0, 10))
        entry(bank_a.rm, shanghai(2026, 10, 6), action="view")
        entry(bank_a.rm, shanghai(2026, 10, 6), object_type="contact_plans.interaction")
        entry(bank_a.supervisor, shanghai(2026, 10, 6))
    rows = take(bank_a)
    assert rows[rm_key(bank_a.rm)]["plans_updated"] == 2
    assert rows[branch_key(bank_a.sub)]["plans_updated"] == 2
    assert rows["tenant"]["plans_updated"] == 2


def test_plans_made_rescheduled_and_cancelled_through_the_services_count(bank_a, client_of):
    """This month, figures to today: a contact made, rescheduled and cancelled by hand."""
    client = client_of()
    actor = Actor.for_staff(bank_a.rm)
    with tenant_context(bank_a.tenant):
        today = contact_services.tenant_today(bank_a.tenant.pk)
        contact = contact_services.planned_contact_create(
            actor=actor,
            client=client,
            reason=PlannedContact.Reason.FOLLOW_UP,
            due_on=today + datetime.timedelta(days=3),
        )
        contact_services.planned_contact_reschedule(
            actor=actor,
            planned_contact=contact,
            due_on=today + datetime.timedelta(days=5),
            reason="客户出差",
        )
        contact_services.planned_contact_cancel(
            actor=actor, planned_contact=contact, reason="客户已到网点办理"
        )
    rows = take(bank_a, start=period_start("month", today))
    assert rows[rm_key(bank_a.rm)]["plans_updated"] == 3


def test_proposals_made_by_the_rm_in_the_period(bank_a, client_of):
    opportunity = OpportunityFactory(tenant=bank_a.tenant, client=client_of(), step=3)
    for author, at in [
        (bank_a.rm, shanghai(2026, 10, 1, 0, 0)),
        (bank_a.rm, shanghai(2026, 10, 31, 23, 59)),
        (bank_a.rm, shanghai(2026, 9, 30, 23, 59)),
        (bank_a.advisor, shanghai(2026, 10, 5)),
    ]:
        proposal = ProposalFactory(tenant=bank_a.tenant, opportunity=opportunity, created_by=author)
        with tenant_context(bank_a.tenant):
            Proposal.objects.filter(pk=proposal.pk).update(created_at=at)
    rows = take(bank_a)
    assert rows[rm_key(bank_a.rm)]["proposals_made"] == 2
    assert rows[branch_key(bank_a.sub)]["proposals_made"] == 2


# --- Teamwork -------------------------------------------------------------------------------


def test_referrals_given_and_received(bank_a, client_of):
    def referral(credited_to, received_by, at):
        made = ReferralFactory(
            tenant=bank_a.tenant,
            referrer=client_of(credited_to),
            prospect=client_of(received_by),
            credited_to=credited_to,
            received_by=received_by,
        )
        with tenant_context(bank_a.tenant):
            Referral.objects.filter(pk=made.pk).update(created_at=at)

    referral(bank_a.rm, bank_a.other_rm, shanghai(2026, 10, 5))
    referral(bank_a.other_rm, bank_a.rm, shanghai(2026, 11, 1, 0, 10))
    referral(bank_a.rm, bank_a.rm, shanghai(2026, 10, 31, 23))
    rows = take(bank_a)
    rm, other = rows[rm_key(bank_a.rm)], rows[rm_key(bank_a.other_rm)]
    assert (rm["referrals_given"], rm["referrals_received"]) == (2, 1)
    assert (other["referrals_given"], other["referrals_received"]) == (0, 1)
    # Teamwork is the staff's: each branch counts its RMs'.
    sub, other_sub = rows[branch_key(bank_a.sub)], rows[branch_key(bank_a.other_sub)]
    assert (sub["referrals_given"], sub["referrals_received"]) == (2, 1)
    assert (other_sub["referrals_given"], other_sub["referrals_received"]) == (0, 1)
    assert rows["tenant"]["referrals_given"] == 2


def test_joint_sales_with_an_advisor_or_a_secondary_rm(bank_a, client_of):
    t = bank_a.tenant

    def won(at):
        return OpportunityFactory(
            tenant=t,
            client=client_of(),
            status=Opportunity.Status.WON,
            step=4,
            won_at=at,
            won_amount_cny=Decimal("100000"),
        )

    with_advisor = won(shanghai(2026, 10, 3))
    OpportunityAdvisorFactory(tenant=t, opportunity=with_advisor, staff=bank_a.advisor)
    with_secondary = won(shanghai(2026, 10, 31, 23, 30))
    SaleCreditFactory(
        tenant=t,
        opportunity=with_secondary,
        staff=bank_a.other_rm,
        role=SaleCredit.Role.SECONDARY,
        share_percent=Decimal("30"),
        amount_cny=Decimal("30000"),
        credited_on=D(2026, 10, 31),
    )
    won(shanghai(2026, 10, 10))  # alone
    OpportunityAdvisorFactory(
        tenant=t, opportunity=won(shanghai(2026, 11, 1, 0, 10)), staff=bank_a.advisor
    )
    rows = take(bank_a)
    assert rows[rm_key(bank_a.rm)]["joint_sales"] == 2
    assert rows[rm_key(bank_a.rm)]["sales_won_count"] == 3
    assert rows[rm_key(bank_a.other_rm)]["joint_sales"] == 0  # the owner's, not the secondary's
    assert rows[branch_key(bank_a.sub)]["joint_sales"] == 2


# --- Client feedback ------------------------------------------------------------------------


def test_satisfaction_surveys_and_complaints(bank_a, client_of):
    t = bank_a.tenant
    mine = client_of()
    theirs_here = client_of(bank_a.other_rm, branch=bank_a.sub)  # homed in BJ01
    for staff, client, score, on in [
        (bank_a.rm, mine, 5, D(2026, 10, 1)),
        (bank_a.rm, mine, 2, D(2026, 10, 31)),
        (bank_a.rm, mine, 1, D(2026, 11, 1)),
        (bank_a.rm, mine, 1, D(2026, 9, 30)),
        (bank_a.other_rm, theirs_here, 4, D(2026, 10, 15)),
    ]:
        SatisfactionSurveyFactory(tenant=t, client=client, staff=staff, score=score, surveyed_on=on)
    for on in (D(2026, 10, 3), D(2026, 10, 31), D(2026, 11, 1)):
        ComplaintFactory(tenant=t, client=mine, staff=bank_a.rm, received_on=on)
    rows = take(bank_a)
    rm, other = rows[rm_key(bank_a.rm)], rows[rm_key(bank_a.other_rm)]
    assert (rm["satisfaction_avg"], rm["surveys_count"], rm["complaints_count"]) == (3.5, 2, 2)
    assert (other["satisfaction_avg"], other["surveys_count"]) == (4.0, 1)
    # A branch's feedback is its clients': BJ01 has the three surveys of clients homed there.
    sub = rows[branch_key(bank_a.sub)]
    assert (sub["satisfaction_avg"], sub["surveys_count"]) == (3.7, 3)  # 11 / 3
    other_sub = rows[branch_key(bank_a.other_sub)]
    assert (other_sub["satisfaction_avg"], other_sub["surveys_count"]) == (None, 0)


def test_feedback_score_from_satisfaction_and_complaints(bank_a, client_of):
    """rm: satisfaction 3.5 → (3.5 − 1) / 4 × 100 = 62.5; complaints 2 against other_rm's
    0, lower being better → 0. Feedback (62.5 + 0) / 2 = 31.25, shown 31.3."""
    t, mine = bank_a.tenant, client_of()
    for score in (5, 2):
        SatisfactionSurveyFactory(
            tenant=t, client=mine, staff=bank_a.rm, score=score, surveyed_on=D(2026, 10, 9)
        )
    for _ in range(2):
        ComplaintFactory(tenant=t, client=mine, staff=bank_a.rm, received_on=D(2026, 10, 9))
    with tenant_context(t):
        kpi_snapshot_take(period="month", start=OCTOBER)
        rm = KpiSnapshot.objects.get(scope_key=rm_key(bank_a.rm), period_start=OCTOBER)
        other = KpiSnapshot.objects.get(scope_key=rm_key(bank_a.other_rm), period_start=OCTOBER)
    assert rm.scores["feedback"] == 31.3
    assert other.scores["feedback"] == 100.0  # no surveys: complaints alone, the best


# --- Capacity -------------------------------------------------------------------------------


@pytest.fixture
def tiers(bank_a):
    t = bank_a.tenant
    made = {
        "POT": TierFactory(tenant=t, code="POT", rank=1, aum_floor=Decimal("200000")),
        "GOLD": TierFactory(tenant=t, code="GOLD", rank=2, aum_floor=Decimal("500000")),
        "DIA": TierFactory(tenant=t, code="DIA", rank=3, aum_floor=Decimal("5000000")),
    }
    for code, weight in (("POT", "0.5"), ("GOLD", "1"), ("DIA", "4")):
        ServiceStandardFactory(tenant=t, tier=made[code], book_weight=Decimal(weight))
    return made


@pytest.fixture
def capacity_book(bank_a, tiers, client_of):
    """rm's book (tiering basis from the segment, else the current AUM):

    u1 GOLD 400,000 (below its floor), u2 no tier 100,000 (below every floor), u3 GOLD
    400,000 pinned by a standing override, n1 POT 460,000 (within 10% of GOLD's
    500,000), n2 POT 449,950 (just outside), n3 no tier 190,000 (within 10% of POT's
    200,000, and not a VIP). BJ01's pool: p1 no tier 100,000, p2 no tier 195,000.
    other_rm owns one DIA client. rm's capacity: 20.
    """
    t, pot, gold, dia = bank_a.tenant, tiers["POT"], tiers["GOLD"], tiers["DIA"]

    def client(tier, basis=None, aum="0", owner=None, pool=False):
        made = client_of(owner, tier=tier, aum_cny=Decimal(aum))
        if pool:
            made.owner_rm = None
            with tenant_context(t):
                made.save(update_fields=["owner_rm"])
        if basis is not None:
            ClientSegmentFactory(tenant=t, client=made, average_aum_cny=Decimal(basis))
        return made

    client(gold, basis="400000")
    client(None, aum="100000")
    pinned = client(gold, basis="400000")
    TierOverrideFactory(tenant=t, client=pinned, tier=gold, expires_on=D(2026, 11, 15))
    client(pot, basis="460000")
    client(pot, basis="449950")
    client(None, aum="190000")
    client(None, aum="100000", pool=True)
    client(None, aum="195000", pool=True)
    client(dia, basis="6000000", owner=bank_a.other_rm)
    RmCapacityFactory(tenant=t, staff=bank_a.rm, capacity=Decimal("20"))
    # An RM who left: neither a row nor a capacity in the bank's figures.
    gone = StaffFactory(tenant=t, branch=bank_a.sub, role=Role.RM, is_active=False)
    RmCapacityFactory(tenant=t, staff=gone, capacity=Decimal("100"))


def test_unqualified_vips_and_near_threshold_clients(bank_a, capacity_book):
    rows = take(bank_a)
    rm = rows[rm_key(bank_a.rm)]
    assert (rm["unqualified_vips"], rm["near_threshold"]) == (3, 2)  # u1 u2 n3; n1 n3
    sub = rows[branch_key(bank_a.sub)]
    assert (sub["unqualified_vips"], sub["near_threshold"]) == (3, 3)  # the pool's p2 too
    other = rows[rm_key(bank_a.other_rm)]
    assert (other["unqualified_vips"], other["near_threshold"]) == (0, 0)


def test_effective_service_ratio_of_rms_branches_and_the_bank(bank_a, capacity_book):
    rows = take(bank_a)
    # rm: GOLD 1 + GOLD 1 + POT 0.5 + POT 0.5 = 3 over 20; other_rm: DIA 4 over the
    # default 150.
    assert rows[rm_key(bank_a.rm)]["effective_service_ratio_pct"] == 15.0
    assert rows[rm_key(bank_a.other_rm)]["effective_service_ratio_pct"] == 2.7
    assert rows[branch_key(bank_a.city)]["effective_service_ratio_pct"] == 15.0
    assert rows[branch_key(bank_a.other_sub)]["effective_service_ratio_pct"] == 2.7
    # The bank: 7 over 170.
    assert rows[branch_key(bank_a.head_office)]["effective_service_ratio_pct"] == 4.1
    assert rows["tenant"]["effective_service_ratio_pct"] == 4.1


def test_the_nightly_job_reads_the_loads_once_per_figures_date(bank_a, capacity_book, monkeypatch):
    """The RMs' loads (every client as it stands) are the same for every period taken
    as of one day: the job reads them once for the month, quarter and year, with the
    figures a period taken alone has."""
    from kpi import services

    calls = []
    real = services.rm_loads
    monkeypatch.setattr(
        services, "rm_loads", lambda **kwargs: calls.append(kwargs["today"]) or real(**kwargs)
    )
    with tenant_context(bank_a.tenant):
        services.kpi_snapshot_job(run_date=D(2026, 11, 18))
        rows = KpiSnapshot.objects.filter(scope_key=rm_key(bank_a.rm))
        by_period = {row.period: row.values for row in rows}
    assert calls == [D(2026, 11, 18)]
    assert set(by_period) == {"month", "quarter", "year"}
    for values in by_period.values():
        assert values["effective_service_ratio_pct"] == 15.0
        # u3's override expired on 15 November: unqualified by the 18th.
        assert (values["unqualified_vips"], values["near_threshold"]) == (4, 2)
    alone = take(bank_a)
    assert alone[rm_key(bank_a.rm)]["effective_service_ratio_pct"] == 15.0
    assert len(calls) == 2
