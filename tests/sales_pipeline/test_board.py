"""The board's reads (``sales_pipeline.board``): a card's "requirement met" agrees with
the services' checklist in every state, the sums per step, the month's closed ones in
the bank's time zone, the cap per column, and the allocation beside a proposal."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from contact_plans.models import PlannedContact
from sales_pipeline import board, services
from sales_pipeline.board import BoardFilters
from sales_pipeline.models import Opportunity
from tests.factories import (
    FxRateFactory,
    HeldAwayAssetFactory,
    HoldingFactory,
    InteractionFactory,
    OpportunityFactory,
    PlannedContactFactory,
    ProductFactory,
    ProposalFactory,
    ProposalLineFactory,
)
from vipcrm.roles import Actor
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")
Status = PlannedContact.Status


def contact(bank, client, status=Status.PLANNED, **kwargs) -> PlannedContact:
    return PlannedContactFactory(
        tenant=bank.tenant,
        client=client,
        reason=PlannedContact.Reason.FOLLOW_UP,
        due_on=timezone.localdate(),
        status=status,
        **kwargs,
    )


def check_in(bank, opportunity, days, status=Status.PLANNED) -> PlannedContact:
    return contact(
        bank,
        opportunity.client,
        status=status,
        source_key=f"opportunity:{opportunity.pk}:check_in:{days}",
    )


def states(bank, vip) -> dict[str, Opportunity]:
    """One opportunity per state of its step's requirement."""
    make = lambda **kw: OpportunityFactory(tenant=bank.tenant, client=vip, **kw)  # noqa: E731
    old = timezone.now() - DAY * 10
    found = {
        "1: nothing planned": make(),
        "1: planned": make(planned_contact=contact(bank, vip)),
        "1: planned, done": make(planned_contact=contact(bank, vip, Status.DONE)),
        "1: cancelled": make(planned_contact=contact(bank, vip, Status.CANCELLED)),
        "2: no contact": make(step=2),
        "2: linked, no needs": make(
            step=2,
            interaction=InteractionFactory(tenant=bank.tenant, client=vip, needs_found=[]),
        ),
        "3: proposal made": make(step=3),
        "4: no check-ins": make(step=4, status=Opportunity.Status.WON),
        "4: one of two done": make(step=4, status=Opportunity.Status.WON),
        "4: both done, one cancelled": make(step=4, status=Opportunity.Status.WON),
        "5: waiting": make(step=5, status=Opportunity.Status.WON),
    }
    with tenant_context(bank.tenant):
        Opportunity.objects.filter(pk=found["2: linked, no needs"].pk).update(created_at=old)
    ProposalFactory(tenant=bank.tenant, opportunity=found["3: proposal made"])
    check_in(bank, found["4: one of two done"], 7, Status.DONE)
    check_in(bank, found["4: one of two done"], 30)
    for days, status in ((7, Status.DONE), (30, Status.DONE), (90, Status.CANCELLED)):
        check_in(bank, found["4: both done, one cancelled"], days, status)
    return found


def _met_agreeing_with_the_checklist(bank, found) -> list[str]:
    """The states whose card says "met", having checked each against the checklist."""
    actor = Actor.for_staff(bank.rm)
    with tenant_context(bank.tenant):
        met = dict(
            board.with_requirements(
                board.board_opportunities(actor=actor, now=timezone.now())
            ).values_list("pk", "requirement_met")
        )
        for name, opportunity in found.items():
            fresh = Opportunity.objects.select_related("planned_contact", "interaction").get(
                pk=opportunity.pk
            )
            checklist = services.opportunity_checklist(opportunity=fresh)
            assert met[opportunity.pk] == checklist[fresh.step - 1].met, name
    return [name for name, opportunity in found.items() if met[opportunity.pk]]


def test_a_cards_requirement_met_agrees_with_the_services_checklist(bank_a, vip):
    found = states(bank_a, vip)
    met = ["1: planned", "1: planned, done", "4: both done, one cancelled"]
    assert _met_agreeing_with_the_checklist(bank_a, found) == met
    # The client's contact with needs, logged after both step-2 ones opened, counts for
    # both (the move links it).
    InteractionFactory(tenant=bank_a.tenant, client=vip, needs_found=["growth"])
    assert _met_agreeing_with_the_checklist(bank_a, found) == [
        *met[:2],
        "2: no contact",
        "2: linked, no needs",
        met[2],
    ]


def test_a_contact_with_needs_before_the_opportunity_does_not_count(bank_a, vip):
    InteractionFactory(tenant=bank_a.tenant, client=vip, needs_found=["growth"])
    opportunity = OpportunityFactory(tenant=bank_a.tenant, client=vip, step=2)
    with tenant_context(bank_a.tenant):
        card = board.board_card(
            actor=Actor.for_staff(bank_a.rm), pk=opportunity.pk, now=timezone.now()
        )
    assert not card.requirement_met


def test_the_sums_per_step_use_the_amount_won_else_the_expected_one(bank_a, vip):
    OpportunityFactory(tenant=bank_a.tenant, client=vip, expected_amount_cny=Decimal("100.10"))
    OpportunityFactory(tenant=bank_a.tenant, client=vip, expected_amount_cny=None)
    OpportunityFactory(
        tenant=bank_a.tenant,
        client=vip,
        step=4,
        status=Opportunity.Status.WON,
        expected_amount_cny=Decimal("1"),
        won_amount_cny=Decimal("250.25"),
    )
    with tenant_context(bank_a.tenant):
        totals = board.step_totals(Opportunity.objects.all())
    assert totals[1] == (2, Decimal("100.10"))
    assert totals[4] == (1, Decimal("250.25"))
    assert totals[2] == (0, Decimal("0"))


def test_closed_this_month_starts_at_midnight_of_the_first_in_the_banks_zone(bank_a, vip):
    now = datetime.datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)
    first = datetime.datetime(2026, 11, 1, tzinfo=SHANGHAI)
    for when, amount in ((first + datetime.timedelta(minutes=5), "10"), (first - DAY, "99")):
        OpportunityFactory(
            tenant=bank_a.tenant,
            client=vip,
            step=5,
            status=Opportunity.Status.WON,
            won_amount_cny=Decimal(amount),
            completed_at=when,
        )
    OpportunityFactory(
        tenant=bank_a.tenant,
        client=vip,
        status=Opportunity.Status.LOST,
        lost_at=first + datetime.timedelta(hours=1),
    )
    with tenant_context(bank_a.tenant):
        closed = board.closed_summary(
            actor=Actor.for_staff(bank_a.rm), filters=BoardFilters(), now=now
        )
    assert closed.month_start == datetime.date(2026, 11, 1)
    assert (closed.celebrated_count, closed.celebrated_amount_cny, closed.lost_count) == (
        1,
        Decimal("10.00"),
        1,
    )


def test_each_column_is_cut_at_the_limit_the_longest_in_the_step_first(bank_a, vip):
    now = timezone.now()
    for n in range(4):
        for step in (1, 2):
            OpportunityFactory(
                tenant=bank_a.tenant,
                client=vip,
                step=step,
                step_entered_at=now - DAY * n,
                title=f"{step}-{n}",
            )
    with tenant_context(bank_a.tenant):
        cards = board.board_cards(Opportunity.objects.all(), now=now, limit=3)
    assert [c.title for c in cards[1]] == ["1-3", "1-2", "1-1"]
    assert [c.title for c in cards[2]] == ["2-3", "2-2", "2-1"]
    assert [c.days_in_step for c in cards[1]] == [3, 2, 1]


def test_the_allocation_puts_the_proposed_mix_beside_the_wealth_by_category(bank_a, vip):
    today = timezone.localdate()
    deposit = ProductFactory(tenant=bank_a.tenant, category="time_deposit")
    fund = ProductFactory(tenant=bank_a.tenant, category="fund")
    HoldingFactory(tenant=bank_a.tenant, client=vip, product=deposit, balance=Decimal("300000"))
    HoldingFactory(
        tenant=bank_a.tenant, client=vip, product=fund, balance=Decimal("10000"), currency="USD"
    )
    FxRateFactory(tenant=bank_a.tenant, currency="USD", date=today, rate_to_cny=Decimal("7"))
    HeldAwayAssetFactory(tenant=bank_a.tenant, client=vip, amount_cny=Decimal("630000"))
    proposal = ProposalFactory(tenant=bank_a.tenant, opportunity__client=vip)
    ProposalLineFactory(tenant=bank_a.tenant, proposal=proposal, product=fund, amount_cny="150000")
    ProposalLineFactory(
        tenant=bank_a.tenant, proposal=proposal, product=deposit, amount_cny="50000"
    )
    with tenant_context(bank_a.tenant):
        allocation = board.proposal_allocation(client=vip, proposal=proposal, on=today)
    rows = {row.key: row for row in allocation.rows}
    assert allocation.wallet_total_cny == Decimal("1000000.00")
    assert (rows["time_deposit"].current_share, rows["time_deposit"].proposed_share) == (
        Decimal("30.0"),
        Decimal("25.0"),
    )
    assert (rows["fund"].current_cny, rows["fund"].proposed_share) == (
        Decimal("70000.00"),
        Decimal("75.0"),
    )
    assert rows["away-real_estate"].current_share == Decimal("63.0")
    assert [row.at_bank for row in allocation.rows] == [True, True, False]
