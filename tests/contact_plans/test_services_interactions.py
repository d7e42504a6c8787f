"""Logging an interaction (``contact_plans.services.interaction_log``): what it moves,
and what it refuses without leaving anything half-saved."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from contact_plans import services
from contact_plans.models import ContactPlan, Interaction, PlannedContact
from customers.models import Client, Need, Tier
from segmentation.models import ClientSegment, ServiceStandard
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    ClientTeamMemberFactory,
    ContactPlanFactory,
    NeedFactory,
    PlannedContactFactory,
)
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")
R = PlannedContact.Reason
S = PlannedContact.Status


@pytest.fixture
def gold(bank_a) -> Tier:
    with tenant_context(bank_a.tenant):
        tier = Tier.objects.create(code="gold", name="金卡", rank=2, aum_floor=Decimal("500000"))
        ServiceStandard.objects.create(
            tier=tier, contact_cadence_days=90, maturity_lead_days=14, book_weight=Decimal("1")
        )
    return tier


@pytest.fixture
def vip(bank_a, gold) -> Client:
    return ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, tier=gold)


def an_hour_ago() -> datetime.datetime:
    return timezone.now() - datetime.timedelta(hours=1)


def local_day(moment: datetime.datetime) -> datetime.date:
    return moment.astimezone(SHANGHAI).date()


def log(bank, actor: Actor, client: Client, **kwargs) -> Interaction:
    kwargs.setdefault("channel", "phone")
    kwargs.setdefault("occurred_at", an_hour_ago())
    kwargs.setdefault("summary", "电话回访：客户关注定期存款到期后的续作方案")
    with tenant_context(bank.tenant):
        return services.interaction_log(actor=actor, client=client, **kwargs)


def state(bank) -> tuple:
    """Everything a refused call must leave as it was."""
    with tenant_context(bank.tenant):
        return (
            list(Interaction.objects.values_list("pk", flat=True)),
            list(PlannedContact.objects.values_list("pk", "status", "completed_at")),
            list(ContactPlan.objects.values_list("pk", "last_contact_on", "next_due_on")),
            list(ClientSegment.objects.values_list("pk", "last_contact_on")),
            list(Need.objects.values_list("pk", "is_open")),
            AuditEntry.objects.count(),
        )


# --- What a contact moves -----------------------------------------------------------------


def test_an_interaction_moves_the_last_contact_and_the_next_due_date(bank_a, vip):
    ContactPlanFactory(
        tenant=bank_a.tenant,
        client=vip,
        cadence_days=90,
        last_contact_on=datetime.date(2026, 1, 5),
        next_due_on=datetime.date(2026, 4, 5),
    )
    at = an_hour_ago()
    interaction = log(bank_a, Actor.for_staff(bank_a.rm), vip, occurred_at=at, duration_minutes=15)
    with tenant_context(bank_a.tenant):
        plan = ContactPlan.objects.get(client=vip)
        segment = ClientSegment.objects.get(client=vip)
        entry = AuditEntry.objects.get(object_type="contact_plans.interaction")
    assert interaction.staff_id == bank_a.rm.pk
    assert plan.last_contact_on == local_day(at)
    assert plan.next_due_on == local_day(at) + DAY * 90
    assert segment.last_contact_on == local_day(at)
    assert (entry.action, entry.detail["client"]) == ("create", vip.external_id)


def test_a_client_without_a_plan_gets_one_from_the_first_interaction(bank_a, vip):
    at = an_hour_ago()
    log(bank_a, Actor.for_staff(bank_a.rm), vip, occurred_at=at)
    with tenant_context(bank_a.tenant):
        plan = ContactPlan.objects.get(client=vip)
    assert (plan.cadence_days, plan.next_due_on) == (90, local_day(at) + DAY * 90)


def test_the_answered_contact_and_the_open_cadence_contact_are_done(bank_a, vip):
    birthday = PlannedContactFactory(
        tenant=bank_a.tenant, client=vip, reason=R.BIRTHDAY, source_key="birthday:2026"
    )
    cadence = PlannedContactFactory(
        tenant=bank_a.tenant, client=vip, reason=R.CADENCE, status=S.OVERDUE
    )
    other = PlannedContactFactory(
        tenant=bank_a.tenant, client=vip, reason=R.RISK_REASSESSMENT, source_key="risk:x"
    )
    log(bank_a, Actor.for_staff(bank_a.rm), vip, planned_contact=birthday)
    with tenant_context(bank_a.tenant):
        status = dict(PlannedContact.objects.values_list("pk", "status"))
        answered = Interaction.objects.get().planned_contact_id
        completed = PlannedContact.objects.get(pk=birthday.pk).completed_at
    assert status == {birthday.pk: S.DONE, cadence.pk: S.DONE, other.pk: S.PLANNED}
    assert answered == birthday.pk
    assert completed is not None


def test_an_older_contact_than_the_last_moves_nothing(bank_a, vip):
    last = local_day(timezone.now()) - DAY * 2
    ContactPlanFactory(
        tenant=bank_a.tenant,
        client=vip,
        cadence_days=90,
        last_contact_on=last,
        next_due_on=last + DAY * 90,
    )
    ClientSegmentFactory(tenant=bank_a.tenant, client=vip, last_contact_on=last)
    cadence = PlannedContactFactory(tenant=bank_a.tenant, client=vip, reason=R.CADENCE)
    log(bank_a, Actor.for_staff(bank_a.rm), vip, occurred_at=timezone.now() - DAY * 10)
    with tenant_context(bank_a.tenant):
        plan = ContactPlan.objects.get(client=vip)
        assert ClientSegment.objects.get(client=vip).last_contact_on == last
        assert PlannedContact.objects.get(pk=cadence.pk).status == S.PLANNED
    assert (plan.last_contact_on, plan.next_due_on) == (last, last + DAY * 90)


def test_a_next_step_becomes_a_follow_up_contact_for_the_owner_rm(bank_a, vip):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.advisor)
    step_on = local_day(timezone.now()) + DAY * 5
    interaction = log(
        bank_a,
        Actor.for_staff(bank_a.advisor),
        vip,
        channel="visit",
        next_step="带配置方案再访",
        next_step_on=step_on,
    )
    with tenant_context(bank_a.tenant):
        follow_up = PlannedContact.objects.get(reason=R.FOLLOW_UP)
    assert follow_up.source_key == f"follow_up:{interaction.pk}"
    assert (follow_up.due_on, follow_up.note, follow_up.channel) == (
        step_on,
        "带配置方案再访",
        "visit",
    )
    assert follow_up.assigned_to_id == bank_a.rm.pk
    assert interaction.staff_id == bank_a.advisor.pk


def test_needs_found_are_opened_once(bank_a, vip):
    NeedFactory(tenant=bank_a.tenant, client=vip, kind=Need.Kind.GROWTH, is_open=True)
    NeedFactory(tenant=bank_a.tenant, client=vip, kind=Need.Kind.TAX_ADVICE, is_open=False)
    interaction = log(
        bank_a,
        Actor.for_staff(bank_a.rm),
        vip,
        needs_found=["growth", "tax_advice", "global_investment", "global_investment"],
    )
    with tenant_context(bank_a.tenant):
        needs = dict(Need.objects.filter(client=vip).values_list("kind", "is_open"))
    assert needs == {"growth": True, "tax_advice": True, "global_investment": True}
    assert interaction.needs_found == ["growth", "tax_advice", "global_investment"]


# --- Integration tokens ---------------------------------------------------------------------


def token(bank, scopes=("read", "write")) -> Actor:
    return Actor(tenant_id=bank.tenant.pk, scopes=frozenset(scopes))


def test_an_integration_logs_for_any_client_naming_the_staff_member(bank_a, gold):
    elsewhere = ClientFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, tier=gold)
    interaction = log(
        bank_a,
        token(bank_a),
        elsewhere,
        staff=bank_a.other_rm,
        external_id="CC-20261128-0001",
        needs_found=["preservation"],
    )
    assert (interaction.staff_id, interaction.external_id) == (
        bank_a.other_rm.pk,
        "CC-20261128-0001",
    )
    with tenant_context(bank_a.tenant):
        assert Need.objects.filter(client=elsewhere, kind="preservation", is_open=True).exists()
    with pytest.raises(ValidationError) as refused:
        log(bank_a, token(bank_a), elsewhere, staff=bank_a.rm, external_id="CC-20261128-0001")
    assert "external_id" in refused.value.message_dict


def test_an_integration_must_name_a_staff_member_of_its_bank(bank_a, bank_b, vip):
    before = state(bank_a)
    with pytest.raises(ValidationError) as refused:
        log(bank_a, token(bank_a), vip)
    assert "staff" in refused.value.message_dict
    with pytest.raises(ValidationError):
        log(bank_a, token(bank_a), vip, staff=bank_b.rm)
    assert state(bank_a) == before


def test_a_read_only_token_may_not_log(bank_a, vip):
    with pytest.raises(PermissionDenied):
        log(bank_a, token(bank_a, scopes=("read",)), vip, staff=bank_a.rm)


# --- Refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"occurred_at": timezone.now() + datetime.timedelta(hours=2)}, "occurred_at"),
        ({"occurred_at": None}, "occurred_at"),
        ({"channel": ""}, "channel"),
        ({"channel": "telepathy"}, "channel"),
        ({"summary": "   "}, "summary"),
        ({"needs_found": ["growth", "luck"]}, "needs_found"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"next_step_on": datetime.date(2020, 1, 1)}, "next_step_on"),
    ],
    ids=["future", "no time", "no channel", "unknown channel", "no summary", "unknown need",
         "no duration", "next step in the past"],
)  # fmt: skip
def test_bad_input_is_refused_by_field_and_nothing_is_saved(bank_a, vip, kwargs, field):
    cadence = PlannedContactFactory(tenant=bank_a.tenant, client=vip, reason=R.CADENCE)
    before = state(bank_a)
    with pytest.raises(ValidationError) as refused:
        log(bank_a, Actor.for_staff(bank_a.rm), vip, planned_contact=cadence, **kwargs)
    assert field in refused.value.message_dict
    assert state(bank_a) == before


def test_a_few_minutes_of_clock_difference_are_tolerated(bank_a, vip):
    soon = timezone.now() + datetime.timedelta(minutes=2)
    assert log(bank_a, Actor.for_staff(bank_a.rm), vip, occurred_at=soon).pk


def test_another_clients_planned_contact_is_refused(bank_a, vip, gold):
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, tier=gold)
    theirs = PlannedContactFactory(tenant=bank_a.tenant, client=other, reason=R.BIRTHDAY)
    before = state(bank_a)
    with pytest.raises(ValidationError) as refused:
        log(bank_a, Actor.for_staff(bank_a.rm), vip, planned_contact=theirs)
    assert "planned_contact" in refused.value.message_dict
    assert state(bank_a) == before


def test_a_closed_planned_contact_is_refused(bank_a, vip):
    done = PlannedContactFactory(tenant=bank_a.tenant, client=vip, status=S.DONE)
    with pytest.raises(ValidationError) as refused:
        log(bank_a, Actor.for_staff(bank_a.rm), vip, planned_contact=done)
    assert "planned_contact" in refused.value.message_dict


def test_a_client_outside_the_actors_scope_is_not_found(bank_a, bank_b, vip):
    stranger = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm
    )
    foreign = ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub, owner_rm=bank_b.rm)
    before = state(bank_a)
    with pytest.raises(Client.DoesNotExist):
        log(bank_a, Actor.for_staff(bank_a.rm), stranger)
    with pytest.raises(Client.DoesNotExist):
        log(bank_a, Actor.for_staff(bank_a.advisor), vip)  # not on the client's team
    with pytest.raises(Client.DoesNotExist):
        log(bank_a, Actor.for_staff(bank_a.rm), foreign)
    with pytest.raises(Client.DoesNotExist):
        log(bank_a, token(bank_a), foreign, staff=bank_a.rm)
    assert state(bank_a) == before


def test_supervisors_and_head_office_log_within_their_scope(bank_a, vip):
    assert log(bank_a, Actor.for_staff(bank_a.supervisor), vip).staff_id == bank_a.supervisor.pk
    assert log(bank_a, Actor.for_staff(bank_a.head), vip).staff_id == bank_a.head.pk


def test_staff_may_only_log_their_own_contacts(bank_a, vip):
    with pytest.raises(ValidationError) as refused:
        log(bank_a, Actor.for_staff(bank_a.rm), vip, staff=bank_a.other_rm)
    assert "staff" in refused.value.message_dict
