"""Opening an opportunity and moving it through the steps (``sales_pipeline.services``):
each step's rule, allowed and refused; skips, moves backwards, stale moves; the time
spent in each step; and nothing half-written on a refusal."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contact_plans.models import Interaction, PlannedContact
from customers.models import Need
from sales_pipeline import services
from sales_pipeline.models import Opportunity, OpportunityAdvisor, OpportunityProduct, StepEntry
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    HoldingFactory,
    InteractionFactory,
    LifeEventFactory,
    OpportunityFactory,
    PlannedContactFactory,
    ProductFactory,
)
from tests.sales_pipeline.builders import call, opportunity_through, refused
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
S = PlannedContact.Status


def state(bank) -> tuple:
    """Everything a refused call must leave as it was."""
    with tenant_context(bank.tenant):
        return (
            list(Opportunity.objects.values_list("pk", "step", "status", "interaction_id")),
            list(StepEntry.objects.values_list("pk", "left_at")),
            list(PlannedContact.objects.values_list("pk", "status")),
            Interaction.objects.count(),
            OpportunityProduct.objects.count(),
            OpportunityAdvisor.objects.count(),
            AuditEntry.objects.count(),
        )


def history(bank, opportunity) -> list[tuple]:
    with tenant_context(bank.tenant):
        return list(
            StepEntry.objects.filter(opportunity=opportunity)
            .order_by("step")
            .values_list("step", "left_at")
        )


# --- Opening ---------------------------------------------------------------------------------


def test_an_opportunity_opens_at_step_1_for_the_clients_owner(bank_a, vip, rm):
    product = ProductFactory(tenant=bank_a.tenant)
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.advisor)
    event = LifeEventFactory(tenant=bank_a.tenant, client=vip)
    opportunity = call(
        bank_a,
        services.opportunity_create,
        actor=Actor.for_staff(bank_a.advisor),
        client=vip,
        title="  子女留学资金规划  ",
        source=Opportunity.Source.LIFE_EVENT,
        expected_amount_cny=Decimal("800000"),
        products=[product, product],
        advisors=[bank_a.advisor],
        life_event=event,
    )
    with tenant_context(bank_a.tenant):
        entry = StepEntry.objects.get(opportunity=opportunity)
        audit = AuditEntry.objects.get(object_type="sales_pipeline.opportunity")
        assert list(opportunity.products_of_interest.all()) == [product]
        assert list(opportunity.advisors.all()) == [bank_a.advisor]
    assert (opportunity.step, opportunity.status, opportunity.title) == (
        1,
        "open",
        "子女留学资金规划",
    )
    assert opportunity.owner_rm_id == bank_a.rm.pk  # the client's, not the advisor's
    assert opportunity.created_by_id == bank_a.advisor.pk
    assert opportunity.expected_amount_cny == Decimal("800000.00")
    assert (entry.step, entry.entered_at, entry.left_at) == (1, opportunity.step_entered_at, None)
    assert entry.entered_by_id == bank_a.advisor.pk
    assert audit.action == "create" and audit.detail["step"] == 1


def test_a_client_in_the_branch_pool_gets_the_acting_rm_as_owner(bank_a, rm):
    pooled = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub)
    ClientTeamMemberFactory(
        tenant=bank_a.tenant, client=pooled, staff=bank_a.rm, role="secondary_rm"
    )
    opportunity = call(
        bank_a, services.opportunity_create, actor=rm, client=pooled, title="存款", source="walk_in"
    )
    assert opportunity.owner_rm_id == bank_a.rm.pk


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 121}, "title"),
        ({"source": "gossip"}, "source"),
        ({"source": "maturity"}, "source"),
        ({"source": "cross_sell"}, "source"),
        ({"expected_amount_cny": Decimal("0")}, "expected_amount_cny"),
        ({"expected_amount_cny": Decimal("-5")}, "expected_amount_cny"),
        ({"expected_amount_cny": Decimal("1.001")}, "expected_amount_cny"),
        ({"expected_amount_cny": "lots"}, "expected_amount_cny"),
        ({"expected_amount_cny": Decimal("1e20")}, "expected_amount_cny"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_nothing_written(bank_a, vip, rm, changes, field):
    values = {"title": "到期续作", "source": "walk_in", **changes}
    before = state(bank_a)
    errors = refused(bank_a, services.opportunity_create, actor=rm, client=vip, **values)
    assert field in errors
    assert state(bank_a) == before


def test_products_of_another_bank_are_refused(bank_a, bank_b, vip, rm):
    theirs = ProductFactory(tenant=bank_b.tenant)
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.opportunity_create,
        actor=rm,
        client=vip,
        title="理财",
        source="walk_in",
        products=[ProductFactory(tenant=bank_a.tenant), theirs],
    )
    assert errors == {"products": ["Choose the products from your bank's catalogue."]}
    assert state(bank_a) == before


def test_advisors_must_be_on_the_clients_team(bank_a, vip, rm):
    errors = refused(
        bank_a,
        services.opportunity_create,
        actor=rm,
        client=vip,
        title="理财",
        source="walk_in",
        advisors=[bank_a.advisor],
    )
    assert "not on the client's team" in errors["advisors"][0]


def test_a_holding_life_event_or_parent_of_another_client_is_refused(bank_a, vip, rm):
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    errors = refused(
        bank_a,
        services.opportunity_create,
        actor=rm,
        client=vip,
        title="理财",
        source="walk_in",
        holding=HoldingFactory(tenant=bank_a.tenant, client=other),
        life_event=LifeEventFactory(tenant=bank_a.tenant, client=other),
        parent=OpportunityFactory(tenant=bank_a.tenant, client=other, status="won", step=4),
    )
    assert set(errors) == {"holding", "life_event", "parent"}


def test_an_edit_changes_what_differs_and_is_audited(bank_a, vip, rm):
    keep, drop, add = ProductFactory.create_batch(3, tenant=bank_a.tenant)
    opportunity = call(
        bank_a,
        services.opportunity_create,
        actor=rm,
        client=vip,
        title="理财",
        source="walk_in",
        products=[keep, drop],
    )
    call(
        bank_a,
        services.opportunity_update,
        actor=rm,
        opportunity=opportunity,
        title="理财续作",
        expected_amount_cny=Decimal("200000"),
        products=[keep, add],
        advisors=[],
    )
    with tenant_context(bank_a.tenant):
        opportunity.refresh_from_db()
        products = set(opportunity.products_of_interest.values_list("pk", flat=True))
        audit = AuditEntry.objects.filter(action="update").get()
    assert (opportunity.title, opportunity.expected_amount_cny) == ("理财续作", Decimal("200000"))
    assert products == {keep.pk, add.pk}
    assert audit.detail["title"] == ["理财", "理财续作"]
    assert audit.detail["products"] == [sorted([keep.pk, drop.pk]), sorted([keep.pk, add.pk])]


# --- Step 1: the planned contact -------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "reason"),
    [("life_event", "life_event"), ("campaign", "campaign"), ("walk_in", "follow_up")],
)
def test_step_1_plans_the_contact_with_the_reason_of_the_source(bank_a, vip, rm, source, reason):
    opportunity = opportunity_through(bank_a, vip, 1, source=source)
    due = timezone.localdate() + DAY * 3
    contact = call(
        bank_a,
        services.opportunity_plan_contact,
        actor=rm,
        opportunity=opportunity,
        due_on=due,
        channel="phone",
    )
    with tenant_context(bank_a.tenant):
        opportunity.refresh_from_db()
    assert opportunity.planned_contact_id == contact.pk
    assert (contact.reason, contact.due_on, contact.assigned_to_id) == (reason, due, bank_a.rm.pk)


def test_a_second_contact_is_refused_while_the_first_is_open(bank_a, vip, rm):
    opportunity = opportunity_through(bank_a, vip, 1)
    call(
        bank_a,
        services.opportunity_plan_contact,
        actor=rm,
        opportunity=opportunity,
        due_on=timezone.localdate(),
    )
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.opportunity_plan_contact,
        actor=rm,
        opportunity=opportunity,
        due_on=timezone.localdate(),
    )
    assert "already planned" in errors["__all__"][0]
    assert state(bank_a) == before


def test_a_contact_in_the_past_is_refused_by_the_contact_plan(bank_a, vip, rm):
    opportunity = opportunity_through(bank_a, vip, 1)
    errors = refused(
        bank_a,
        services.opportunity_plan_contact,
        actor=rm,
        opportunity=opportunity,
        due_on=timezone.localdate() - DAY,
    )
    assert "due_on" in errors


def test_1_to_2_needs_a_planned_contact(bank_a, vip, rm):
    opportunity = opportunity_through(bank_a, vip, 1)
    before = state(bank_a)
    errors = refused(
        bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=2
    )
    assert errors == {"to_step": ["Plan the contact with the client first (step 1)."]}
    assert state(bank_a) == before


def test_1_to_2_refuses_a_cancelled_contact(bank_a, vip, rm):
    contact = PlannedContactFactory(tenant=bank_a.tenant, client=vip, status=S.CANCELLED)
    opportunity = opportunity_through(bank_a, vip, 1, planned_contact=contact)
    errors = refused(
        bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=2
    )
    assert "to_step" in errors


@pytest.mark.parametrize("status", [S.PLANNED, S.OVERDUE, S.DONE])
def test_1_to_2_with_a_contact_planned_or_done(bank_a, vip, rm, status):
    contact = PlannedContactFactory(tenant=bank_a.tenant, client=vip, status=status)
    opportunity = opportunity_through(bank_a, vip, 1, planned_contact=contact)
    moved = call(bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=2)
    steps = history(bank_a, opportunity)
    assert moved.step == 2
    assert [step for step, _left in steps] == [1, 2]
    assert steps[0][1] == moved.step_entered_at  # step 1 left when step 2 was entered
    assert steps[1][1] is None


# --- Step 2: the needs -----------------------------------------------------------------------


def test_step_2_logs_the_contact_answering_the_planned_one(bank_a, vip, rm):
    contact = PlannedContactFactory(tenant=bank_a.tenant, client=vip)
    opportunity = opportunity_through(bank_a, vip, 2, planned_contact=contact)
    interaction = call(
        bank_a,
        services.opportunity_log_contact,
        actor=rm,
        opportunity=opportunity,
        channel="visit",
        occurred_at=timezone.now() - datetime.timedelta(hours=2),
        summary="上门拜访：客户希望为子女留学准备外币资金",
        needs_found=["global_investment", "preservation"],
    )
    with tenant_context(bank_a.tenant):
        opportunity.refresh_from_db()
        contact.refresh_from_db()
        needs = set(Need.objects.filter(client=vip).values_list("kind", flat=True))
    assert opportunity.interaction_id == interaction.pk
    assert interaction.planned_contact_id == contact.pk and contact.status == S.DONE
    assert needs == {"global_investment", "preservation"}


def test_the_needs_are_assessed_at_step_2_only(bank_a, vip, rm):
    opportunity = opportunity_through(bank_a, vip, 1)
    errors = refused(
        bank_a,
        services.opportunity_log_contact,
        actor=rm,
        opportunity=opportunity,
        channel="phone",
        occurred_at=timezone.now(),
        summary="电话",
        needs_found=["growth"],
    )
    assert "step 2" in errors["__all__"][0]


def test_a_bad_contact_is_refused_by_the_contact_log_and_nothing_is_linked(bank_a, vip, rm):
    opportunity = opportunity_through(bank_a, vip, 2)
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.opportunity_log_contact,
        actor=rm,
        opportunity=opportunity,
        channel="",
        occurred_at=timezone.now() + DAY,
        summary="",
        needs_found=["world_peace"],
    )
    assert {"channel", "occurred_at", "summary", "needs_found"} <= set(errors)
    assert state(bank_a) == before


def test_2_to_3_needs_an_interaction_with_needs(bank_a, vip, rm):
    silent = InteractionFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.rm)
    opportunity = opportunity_through(bank_a, vip, 2, interaction=silent)
    errors = refused(
        bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=3
    )
    assert errors == {
        "to_step": ["Log the contact with the client, with the needs found, first (step 2)."]
    }


def test_2_to_3_with_the_linked_interaction(bank_a, vip, rm):
    found = InteractionFactory(
        tenant=bank_a.tenant, client=vip, staff=bank_a.rm, needs_found=["growth"]
    )
    opportunity = opportunity_through(bank_a, vip, 2, interaction=found)
    moved = call(bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=3)
    assert (moved.step, moved.interaction_id) == (3, found.pk)


def test_2_to_3_finds_the_latest_interaction_logged_since_the_opening(bank_a, vip, rm):
    opportunity = opportunity_through(bank_a, vip, 2)
    older = InteractionFactory(
        tenant=bank_a.tenant, client=vip, staff=bank_a.rm, needs_found=["growth"]
    )
    with tenant_context(bank_a.tenant):  # logged before the opportunity was opened
        Interaction.objects.filter(pk=older.pk).update(
            created_at=opportunity.created_at - datetime.timedelta(minutes=1)
        )
    errors = refused(
        bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=3
    )
    assert "to_step" in errors
    latest = InteractionFactory(
        tenant=bank_a.tenant, client=vip, staff=bank_a.rm, needs_found=["tax_advice"]
    )
    moved = call(bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=3)
    with tenant_context(bank_a.tenant):
        audit = AuditEntry.objects.filter(action="update").latest("pk")
    assert moved.interaction_id == latest.pk  # linked by the move
    assert audit.detail == {"step": [2, 3], "interaction": latest.pk}


# --- Steps 3 and 4 ---------------------------------------------------------------------------


def test_3_to_4_is_the_win_not_a_move(bank_a, vip, rm):
    opportunity = opportunity_through(bank_a, vip, 3)
    errors = refused(
        bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=4
    )
    assert "Record the sale first" in errors["to_step"][0]


def check_in(bank, opportunity, days: int, status=S.PLANNED) -> PlannedContact:
    """An after-sales check-in of ``opportunity``, as the win plans them."""
    with tenant_context(bank.tenant):
        client = opportunity.client
    return PlannedContactFactory(
        tenant=bank.tenant,
        client=client,
        reason=PlannedContact.Reason.FOLLOW_UP,
        source_key=f"opportunity:{opportunity.pk}:check_in:{days}",
        status=status,
    )


def test_4_to_5_waits_for_every_check_in(bank_a, vip, rm):
    opportunity = opportunity_through(bank_a, vip, 4, status="won")
    first = check_in(bank_a, opportunity, 7, S.DONE)
    second = check_in(bank_a, opportunity, 30, S.OVERDUE)
    errors = refused(
        bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=5
    )
    assert errors == {"to_step": ["Do the after-sales check-ins first: 1 of 2 done."]}
    with tenant_context(bank_a.tenant):
        PlannedContact.objects.filter(pk=second.pk).update(status=S.DONE)
    moved = call(bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=5)
    assert moved.step == 5
    assert first.pk != second.pk


def test_a_cancelled_check_in_does_not_count(bank_a, vip, rm):
    opportunity = opportunity_through(bank_a, vip, 4, status="won")
    check_in(bank_a, opportunity, 7, S.DONE)
    check_in(bank_a, opportunity, 30, S.CANCELLED)
    moved = call(bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=5)
    assert moved.step == 5


def test_4_to_5_needs_at_least_one_check_in(bank_a, vip, rm):
    opportunity = opportunity_through(bank_a, vip, 4, status="won")
    check_in(bank_a, opportunity, 7, S.CANCELLED)
    # Another opportunity's check-in of the same client is not this one's.
    other = opportunity_through(bank_a, vip, 4, status="won")
    check_in(bank_a, other, 7, S.DONE)
    errors = refused(
        bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=5
    )
    assert "No after-sales check-in" in errors["to_step"][0]


# --- What a move never does ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "to_step", "message"),
    [
        (1, 3, "A step cannot be skipped: finish step 1 (Plan), then move to step 2."),
        (2, 5, "A step cannot be skipped: finish step 2 (Contact & assess needs), then move"),
        (3, 2, "An opportunity never moves back: it is at step 3 (Execute)."),
        (2, 2, "An opportunity never moves back: it is at step 2"),
        (2, 0, "Choose a step from 1 to 5."),
        (2, 6, "Choose a step from 1 to 5."),
        (2, "two", "Choose a step from 1 to 5."),
    ],
)
def test_skips_and_moves_back_are_refused(bank_a, vip, rm, step, to_step, message):
    done = PlannedContactFactory(tenant=bank_a.tenant, client=vip, status=S.DONE)
    opportunity = opportunity_through(bank_a, vip, step, planned_contact=done)
    before = state(bank_a)
    errors = refused(
        bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=to_step
    )
    assert errors["to_step"][0].startswith(message)
    assert state(bank_a) == before


@pytest.mark.parametrize("closed", [{"status": "lost"}, {"status": "won", "completed_at": True}])
def test_a_closed_opportunity_does_not_move(bank_a, vip, rm, closed):
    if closed.get("completed_at"):
        closed = {**closed, "completed_at": timezone.now()}
    opportunity = opportunity_through(bank_a, vip, 5 if "completed_at" in closed else 2, **closed)
    errors = refused(
        bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=6
    )
    assert "to_step" in errors
    errors = refused(
        bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=3
    )
    assert "closed" in errors["to_step"][0] or "lost" in errors["to_step"][0]


def test_a_move_from_a_step_the_opportunity_has_left_is_a_conflict(bank_a, vip, rm):
    done = PlannedContactFactory(tenant=bank_a.tenant, client=vip, status=S.DONE)
    opportunity = opportunity_through(bank_a, vip, 1, planned_contact=done)
    call(bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=2)
    before = state(bank_a)
    with pytest.raises(services.StepConflict) as caught:
        call(
            bank_a,
            services.opportunity_move,
            actor=rm,
            opportunity=opportunity,
            to_step=2,
            from_step=1,
        )
    assert "moved meanwhile: it is at step 2" in caught.value.message_dict["from_step"][0]
    assert isinstance(caught.value, ValidationError)
    assert state(bank_a) == before


def test_a_move_with_the_current_step_as_from_step_goes_through(bank_a, vip, rm):
    done = PlannedContactFactory(tenant=bank_a.tenant, client=vip, status=S.DONE)
    opportunity = opportunity_through(bank_a, vip, 1, planned_contact=done)
    moved = call(
        bank_a, services.opportunity_move, actor=rm, opportunity=opportunity, to_step=2, from_step=1
    )
    with tenant_context(bank_a.tenant):
        audit = AuditEntry.objects.get(action="update")
    assert moved.step == 2
    assert (audit.object_id, audit.detail) == (str(opportunity.pk), {"step": [1, 2]})


# --- Time in step: the checklist -------------------------------------------------------------


def test_the_checklist_shows_each_steps_time_and_rule(bank_a, vip, rm):
    contact = PlannedContactFactory(tenant=bank_a.tenant, client=vip, status=S.DONE)
    opportunity = opportunity_through(bank_a, vip, 3, planned_contact=contact)
    with tenant_context(bank_a.tenant):
        checklist = services.opportunity_checklist(opportunity=opportunity)
    assert [(s.step, s.status, s.days_in_step) for s in checklist] == [
        (1, "done", 1),
        (2, "done", 1),
        (3, "current", 0),
        (4, "todo", None),
        (5, "todo", None),
    ]
    assert [s.met for s in checklist] == [True, False, False, False, False]
    assert checklist[0].left_at == checklist[1].entered_at
    assert checklist[2].requirement.startswith("A suitable proposal is accepted")
    assert checklist[3].label == "Follow up"


def test_the_checklist_costs_the_same_whatever_the_history(bank_a, vip, rm):
    short = opportunity_through(bank_a, vip, 1)
    long = opportunity_through(bank_a, vip, 5, status="won")
    for days in (7, 30):
        check_in(bank_a, long, days, S.DONE)
    counts = []
    for opportunity in (short, long):
        with tenant_context(bank_a.tenant), CaptureQueriesContext(connection) as queries:
            services.opportunity_checklist(opportunity=opportunity)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 4


def test_a_whole_opportunity_through_the_services(bank_a, vip, rm):
    """Plan, contact, propose, win, check in twice, celebrate: every step entered once,
    left when the next was entered, and the last left by the celebration."""
    product = ProductFactory(tenant=bank_a.tenant, category="deposit", risk_level="R1")
    with tenant_context(bank_a.tenant):
        opportunity = services.opportunity_create(
            actor=rm, client=vip, title="定期续存", source="walk_in"
        )
        services.opportunity_plan_contact(
            actor=rm, opportunity=opportunity, due_on=timezone.localdate()
        )
        services.opportunity_move(actor=rm, opportunity=opportunity, to_step=2, from_step=1)
        services.opportunity_log_contact(
            actor=rm,
            opportunity=opportunity,
            channel="phone",
            occurred_at=timezone.now() - datetime.timedelta(minutes=5),
            summary="客户希望续存一年期定期",
            needs_found=["preservation"],
        )
        services.opportunity_move(actor=rm, opportunity=opportunity, to_step=3, from_step=2)
        proposal = services.proposal_create(
            actor=rm, opportunity=opportunity, lines=[(product, Decimal("300000"))]
        )
        services.opportunity_win(
            actor=rm, opportunity=opportunity, proposal=proposal, recording_refs={}
        )
        for _ in services.FOLLOW_UP_DAYS:
            services.opportunity_check_in_log(
                actor=rm,
                opportunity=opportunity,
                channel="wechat",
                occurred_at=timezone.now() - datetime.timedelta(minutes=1),
                summary="售后回访：客户满意",
            )
        services.opportunity_move(actor=rm, opportunity=opportunity, to_step=5, from_step=4)
        services.celebration_record(actor=rm, opportunity=opportunity, team_recognition="感谢团队")
        opportunity.refresh_from_db()
        checklist = services.opportunity_checklist(opportunity=opportunity)
    entries = history(bank_a, opportunity)
    assert [step for step, _left in entries] == [1, 2, 3, 4, 5]
    assert all(left is not None for _step, left in entries)
    assert opportunity.completed_at == entries[-1][1]
    assert [s.status for s in checklist] == ["done"] * 5
    assert all(s.met for s in checklist)
