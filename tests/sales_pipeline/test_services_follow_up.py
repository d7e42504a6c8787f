"""After the win and around it (``sales_pipeline.services``): losing at any step (and a
sale cancelled after the win), the check-ins, cross-sell, referrals and the
celebration with its notification."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from contact_plans.models import Interaction, PlannedContact
from customers.models import Client, Relationship
from sales_pipeline import services
from sales_pipeline.models import (
    Celebration,
    Opportunity,
    Proposal,
    Referral,
    SaleCredit,
    StepEntry,
)
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    OpportunityAdvisorFactory,
    PlannedContactFactory,
    ProductFactory,
    ProposalFactory,
    SaleCreditFactory,
)
from tests.sales_pipeline.builders import call, opportunity_at, refused, vip_client
from vipcrm.models import AuditEntry, Notification
from vipcrm.notifications import notification_text
from vipcrm.roles import Actor
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
S = PlannedContact.Status


@pytest.fixture
def vip(bank_a) -> Client:
    return vip_client(bank_a, name="王芳")


def won(bank, client, step: int = 4, **kwargs) -> Opportunity:
    """A won opportunity at ``step``: credited to the owner, with its check-ins."""
    opportunity = opportunity_at(
        bank,
        client,
        step,
        status="won",
        won_amount_cny=Decimal("1000000.00"),
        won_at=timezone.now() - DAY,
        **kwargs,
    )
    SaleCreditFactory(
        tenant=bank.tenant, opportunity=opportunity, staff=client.owner_rm, amount_cny="1000000"
    )
    ProposalFactory(tenant=bank.tenant, opportunity=opportunity, status="accepted")
    for days in services.FOLLOW_UP_DAYS:
        PlannedContactFactory(
            tenant=bank.tenant,
            client=client,
            reason=PlannedContact.Reason.FOLLOW_UP,
            source_key=f"opportunity:{opportunity.pk}:check_in:{days}",
            source_date=timezone.localdate() - DAY,
        )
    return opportunity


def state(bank) -> tuple:
    """Everything a refused call must leave as it was."""
    with tenant_context(bank.tenant):
        return (
            list(Opportunity.objects.values_list("pk", "step", "status", "completed_at")),
            list(StepEntry.objects.values_list("pk", "left_at")),
            list(PlannedContact.objects.values_list("pk", "status")),
            Client.objects.count(),
            Relationship.objects.count(),
            Referral.objects.count(),
            Celebration.objects.count(),
            SaleCredit.objects.count(),
            Interaction.objects.count(),
            Notification.objects.count(),
            AuditEntry.objects.count(),
        )


# --- Losing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [1, 2, 3])
def test_an_opportunity_is_lost_at_any_step_with_its_reason(bank_a, vip, rm, step):
    opportunity = opportunity_at(bank_a, vip, step)
    lost = call(
        bank_a,
        services.opportunity_lose,
        actor=rm,
        opportunity=opportunity,
        reason="competitor",
        note=" 他行利率更高 ",
    )
    with tenant_context(bank_a.tenant):
        entry = StepEntry.objects.get(opportunity=opportunity)
        audit = AuditEntry.objects.get(object_type="sales_pipeline.opportunity")
    assert (lost.status, lost.step, lost.lost_reason, lost.lost_note) == (
        "lost",
        step,
        "competitor",
        "他行利率更高",
    )
    assert entry.left_at == lost.lost_at  # the step it was lost at is left
    assert audit.detail == {"status": ["open", "lost"], "reason": "competitor"}


@pytest.mark.parametrize(
    ("reason", "note", "field"),
    [
        ("", "", "reason"),
        ("bored", "", "reason"),
        ("other", "  ", "note"),
        ("timing", "x" * 301, "note"),
    ],
)
def test_a_loss_needs_a_known_reason_and_a_note_for_other(bank_a, vip, rm, reason, note, field):
    opportunity = opportunity_at(bank_a, vip, 2)
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.opportunity_lose,
        actor=rm,
        opportunity=opportunity,
        reason=reason,
        note=note,
    )
    assert field in errors
    assert state(bank_a) == before


def test_other_with_a_note_is_accepted(bank_a, vip, rm):
    opportunity = opportunity_at(bank_a, vip, 1)
    lost = call(
        bank_a,
        services.opportunity_lose,
        actor=rm,
        opportunity=opportunity,
        reason="other",
        note="客户移民",
    )
    assert (lost.lost_reason, lost.lost_note) == ("other", "客户移民")


def test_a_sale_cancelled_after_the_win_withdraws_the_credits_and_the_check_ins(bank_a, vip, rm):
    opportunity = won(bank_a, vip, step=4)
    with tenant_context(bank_a.tenant):
        done = PlannedContact.objects.filter(source_key__endswith=":check_in:7").get()
        PlannedContact.objects.filter(pk=done.pk).update(status=S.DONE)
    unrelated = PlannedContactFactory(tenant=bank_a.tenant, client=vip)
    lost = call(
        bank_a,
        services.opportunity_lose,
        actor=rm,
        opportunity=opportunity,
        reason="declined",
        note="犹豫期内撤单",
    )
    with tenant_context(bank_a.tenant):
        statuses = dict(PlannedContact.objects.values_list("pk", "status"))
        cancelled = PlannedContact.objects.get(source_key__endswith=":check_in:30")
        proposals = set(Proposal.objects.values_list("status", flat=True))
        audit = AuditEntry.objects.get(object_type="sales_pipeline.opportunity")
        credits = SaleCredit.objects.count()
    assert lost.status == "lost" and lost.won_amount_cny == Decimal("1000000.00")
    assert credits == 0
    assert proposals == {"declined"}
    assert statuses == {done.pk: S.DONE, cancelled.pk: S.CANCELLED, unrelated.pk: S.PLANNED}
    assert cancelled.cancel_reason == "The sale was cancelled: Client declined"
    assert audit.detail["credits_withdrawn"] == [[bank_a.rm.pk, "1000000.00"]]
    assert audit.detail["check_ins_cancelled"] == [cancelled.pk]


@pytest.mark.parametrize("closed", ["lost", "celebrated"])
def test_a_closed_opportunity_cannot_be_lost(bank_a, vip, rm, closed):
    if closed == "lost":
        opportunity = opportunity_at(bank_a, vip, 2, status="lost", lost_reason="timing")
    else:
        opportunity = won(bank_a, vip, step=5, completed_at=timezone.now())
    before = state(bank_a)
    errors = refused(
        bank_a, services.opportunity_lose, actor=rm, opportunity=opportunity, reason="timing"
    )
    assert "closed" in errors["__all__"][0]
    assert state(bank_a) == before


# --- Check-ins -------------------------------------------------------------------------------


def test_a_check_in_answers_the_earliest_open_one(bank_a, vip, rm):
    opportunity = won(bank_a, vip)
    with tenant_context(bank_a.tenant):
        first, second = PlannedContact.objects.filter(source_key__contains=":check_in:").order_by(
            "due_on", "pk"
        )
        PlannedContact.objects.filter(pk=second.pk).update(due_on=first.due_on + DAY * 23)
    interaction = call(
        bank_a,
        services.opportunity_check_in_log,
        actor=rm,
        opportunity=opportunity,
        channel="phone",
        occurred_at=timezone.now() - datetime.timedelta(minutes=10),
        summary="售后回访：客户对产品满意，介绍了一位朋友",
    )
    with tenant_context(bank_a.tenant):
        statuses = dict(
            PlannedContact.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "status")
        )
    assert interaction.planned_contact_id == first.pk
    assert statuses == {first.pk: S.DONE, second.pk: S.PLANNED}


def test_a_check_in_of_another_opportunity_is_refused(bank_a, vip, rm):
    opportunity = won(bank_a, vip)
    elsewhere = PlannedContactFactory(tenant=bank_a.tenant, client=vip)
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.opportunity_check_in_log,
        actor=rm,
        opportunity=opportunity,
        channel="phone",
        occurred_at=timezone.now(),
        summary="回访",
        planned_contact=elsewhere,
    )
    assert errors == {"planned_contact": ["Choose one of this opportunity's open check-ins."]}
    assert state(bank_a) == before


def test_no_check_in_left_to_log_is_refused(bank_a, vip, rm):
    opportunity = won(bank_a, vip)
    with tenant_context(bank_a.tenant):
        PlannedContact.objects.update(status=S.DONE)
    errors = refused(
        bank_a,
        services.opportunity_check_in_log,
        actor=rm,
        opportunity=opportunity,
        channel="phone",
        occurred_at=timezone.now(),
        summary="回访",
    )
    assert errors == {"__all__": ["Every after-sales check-in is done or cancelled."]}


# --- Cross-sell ------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [4, 5])
def test_a_cross_sell_opens_a_new_opportunity_from_the_won_one(bank_a, vip, rm, step):
    parent = won(bank_a, vip, step=step)
    insurance = ProductFactory(tenant=bank_a.tenant, category="insurance")
    child = call(
        bank_a,
        services.cross_sell_create,
        actor=rm,
        opportunity=parent,
        title="年金保险",
        products=[insurance],
        expected_amount_cny=Decimal("200000"),
    )
    with tenant_context(bank_a.tenant):
        products = list(child.products_of_interest.all())
        entries = list(StepEntry.objects.filter(opportunity=child).values_list("step", flat=True))
    assert (child.source, child.parent_id, child.client_id) == ("cross_sell", parent.pk, vip.pk)
    assert (child.step, child.status, child.owner_rm_id) == (1, "open", bank_a.rm.pk)
    assert products == [insurance]
    assert entries == [1]


def test_a_cross_sell_needs_a_won_opportunity(bank_a, vip, rm):
    opportunity = opportunity_at(bank_a, vip, 3)
    before = state(bank_a)
    errors = refused(
        bank_a, services.cross_sell_create, actor=rm, opportunity=opportunity, title="保险"
    )
    assert errors == {"__all__": ["A cross-sell is captured once the sale is recorded (won)."]}
    assert state(bank_a) == before


def test_a_cross_sell_with_a_bad_amount_is_refused(bank_a, vip, rm):
    parent = won(bank_a, vip)
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.cross_sell_create,
        actor=rm,
        opportunity=parent,
        title="",
        expected_amount_cny=Decimal("-1"),
    )
    assert set(errors) == {"title", "expected_amount_cny"}
    assert state(bank_a) == before


# --- Referrals -------------------------------------------------------------------------------


def test_a_referral_creates_a_prospect_linked_to_the_referrer(bank_a, vip):
    ClientTeamMemberFactory(
        tenant=bank_a.tenant, client=vip, staff=bank_a.other_rm, role="secondary_rm"
    )
    opportunity = won(bank_a, vip)
    referral = call(
        bank_a,
        services.referral_create,
        actor=Actor.for_staff(bank_a.other_rm),  # the secondary RM who heard of it
        opportunity=opportunity,
        name=" 李强 ",
        mobile="13912345678",
        gender="M",
        relationship="business_partner",
        note="王芳的生意伙伴，有海外资产配置需求",
    )
    with tenant_context(bank_a.tenant):
        prospect = Client.objects.get(pk=referral.prospect_id)
        tie = Relationship.objects.get(related=prospect)
        prospect_opportunity = Opportunity.objects.get(client=prospect)
        entries = list(
            StepEntry.objects.filter(opportunity=prospect_opportunity).values_list(
                "step", flat=True
            )
        )
    assert prospect.external_id.startswith("PROSPECT-") and len(prospect.external_id) == 17
    assert (prospect.name, prospect.mobile, prospect.gender) == ("李强", "13912345678", "M")
    assert (prospect.referrer_id, prospect.branch_id, prospect.owner_rm_id) == (
        vip.pk,
        vip.branch_id,
        bank_a.rm.pk,
    )
    assert (tie.client_id, tie.kind) == (vip.pk, "business_partner")
    assert (prospect_opportunity.source, prospect_opportunity.step) == ("referral", 1)
    assert prospect_opportunity.owner_rm_id == bank_a.rm.pk
    assert prospect_opportunity.title == "Referred by 王芳"
    assert entries == [1]
    assert (referral.referrer_id, referral.opportunity_id) == (vip.pk, opportunity.pk)
    assert referral.prospect_opportunity_id == prospect_opportunity.pk
    assert referral.credited_to_id == bank_a.other_rm.pk  # the referring RM
    assert referral.received_by_id == bank_a.rm.pk


def test_a_referral_by_an_advisor_is_credited_to_the_owner(bank_a, vip):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.advisor)
    opportunity = won(bank_a, vip, step=5)
    referral = call(
        bank_a,
        services.referral_create,
        actor=Actor.for_staff(bank_a.advisor),
        opportunity=opportunity,
        name="赵六",
    )
    assert referral.credited_to_id == bank_a.rm.pk
    with tenant_context(bank_a.tenant):
        assert not Relationship.objects.exists()  # no relationship given


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": " "}, "name"),
        ({"mobile": "12345"}, "mobile"),
        ({"gender": "X"}, "gender"),
        ({"relationship": "rival"}, "relationship"),
        ({"note": "x" * 301}, "note"),
    ],
)
def test_a_bad_referral_is_refused_and_no_prospect_is_made(bank_a, vip, rm, changes, field):
    opportunity = won(bank_a, vip)
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.referral_create,
        actor=rm,
        opportunity=opportunity,
        **{"name": "李强", **changes},
    )
    assert field in errors
    assert state(bank_a) == before


def test_a_referral_of_someone_already_a_client_is_refused(bank_a, vip, rm):
    ClientFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, mobile="13912345678")
    opportunity = won(bank_a, vip)
    errors = refused(
        bank_a,
        services.referral_create,
        actor=rm,
        opportunity=opportunity,
        name="李强",
        mobile="13912345678",
    )
    assert errors == {"mobile": ["A client with this mobile number is already at the bank."]}


def test_a_referral_needs_a_won_opportunity(bank_a, vip, rm):
    opportunity = opportunity_at(bank_a, vip, 2)
    errors = refused(
        bank_a, services.referral_create, actor=rm, opportunity=opportunity, name="李强"
    )
    assert "__all__" in errors


# --- The celebration -------------------------------------------------------------------------


def test_the_celebration_closes_the_opportunity_and_tells_the_team(bank_a, vip, rm):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.advisor)
    opportunity = won(bank_a, vip, step=5, title="到期理财续作")
    SaleCreditFactory(
        tenant=bank_a.tenant,
        opportunity=opportunity,
        staff=bank_a.other_rm,
        role="secondary",
        share_percent="30",
    )
    OpportunityAdvisorFactory(tenant=bank_a.tenant, opportunity=opportunity, staff=bank_a.advisor)
    celebration = call(
        bank_a,
        services.celebration_record,
        actor=rm,
        opportunity=opportunity,
        team_recognition="  感谢理财顾问的专业方案  ",
        client_thanks="感谢王女士的信任",
        client_thanks_channel="wechat",
        departments="个金部, 运营部",
        department_thanks="感谢运营部加急处理",
    )
    with tenant_context(bank_a.tenant):
        opportunity.refresh_from_db()
        entry = StepEntry.objects.get(opportunity=opportunity, step=5)
        notes = list(Notification.objects.order_by("recipient_id"))
        with translation.override("en"):
            text = notification_text(notes[0])
    assert celebration.team_recognition == "感谢理财顾问的专业方案"
    assert celebration.recorded_by_id == bank_a.rm.pk
    assert opportunity.completed_at is not None and opportunity.is_closed
    assert entry.left_at == opportunity.completed_at
    # The team but whoever recorded it: the secondary RM credited and the advisor.
    assert sorted(n.recipient_id for n in notes) == sorted([bank_a.other_rm.pk, bank_a.advisor.pk])
    assert {n.kind for n in notes} == {"sale_celebrated"}
    assert notes[0].link == f"/pipeline/{opportunity.pk}/"
    assert text == (
        f"{bank_a.rm.name} celebrated the sale 到期理财续作 (王芳, ¥1,000,000.00): thank you "
        "for your part in it!"
    )


def test_the_celebration_is_step_5_only_and_once(bank_a, vip, rm):
    early = won(bank_a, vip, step=4)
    errors = refused(
        bank_a,
        services.celebration_record,
        actor=rm,
        opportunity=early,
        team_recognition="感谢",
    )
    assert "step 5" in errors["__all__"][0]
    ready = won(bank_a, vip, step=5)
    call(bank_a, services.celebration_record, actor=rm, opportunity=ready, team_recognition="感谢")
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.celebration_record,
        actor=rm,
        opportunity=ready,
        team_recognition="再次感谢",
    )
    assert errors == {"__all__": ["This opportunity is celebrated: it is closed."]}
    assert state(bank_a) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"team_recognition": "   "}, "team_recognition"),
        ({"client_thanks_channel": "pigeon"}, "client_thanks_channel"),
        ({"departments": "x" * 201}, "departments"),
        ({"client_thanks": "x" * 2001}, "client_thanks"),
    ],
)
def test_a_bad_celebration_is_refused(bank_a, vip, rm, changes, field):
    opportunity = won(bank_a, vip, step=5)
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.celebration_record,
        actor=rm,
        opportunity=opportunity,
        **{"team_recognition": "感谢", **changes},
    )
    assert field in errors
    assert state(bank_a) == before
