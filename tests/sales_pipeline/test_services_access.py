"""Who may move the pipeline (``sales_pipeline.services``): the RM and advisors who see
the opportunity, and write tokens. Supervisors, head office and read-only tokens are
refused; an opportunity out of the actor's sight — another RM's book, another bank — is
"not found", before any other check, and nothing is written."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from customers.models import Client
from sales_pipeline import services
from sales_pipeline.models import Opportunity, StepEntry
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    PlannedContactFactory,
)
from tests.sales_pipeline.builders import opportunity_at, vip_client
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

# Every write on an existing opportunity, with arguments that would otherwise be
# refused as bad input: access and role come first.
WRITES = {
    "opportunity_move": {"to_step": 99, "from_step": 7},
    "opportunity_update": {
        "title": "",
        "expected_amount_cny": Decimal("-1"),
        "products": (),
        "advisors": (),
    },
    "opportunity_plan_contact": {"due_on": None},
    "opportunity_log_contact": {
        "channel": "",
        "occurred_at": None,
        "summary": "",
        "needs_found": (),
    },
    "proposal_create": {"lines": []},
    "opportunity_win": {"proposal": None, "recording_refs": {}},
    "opportunity_lose": {"reason": ""},
    "opportunity_check_in_log": {"channel": "", "occurred_at": None, "summary": ""},
    "cross_sell_create": {"title": ""},
    "referral_create": {"name": ""},
    "celebration_record": {"team_recognition": ""},
}


@pytest.fixture
def opportunity(bank_a) -> Opportunity:
    """R1's client's opportunity at step 1, whose contact is planned."""
    client = vip_client(bank_a, risk_assessed_on=timezone.localdate())
    contact = PlannedContactFactory(tenant=bank_a.tenant, client=client)
    return opportunity_at(bank_a, client, planned_contact=contact)


def write_token(bank, scopes) -> Actor:
    return Actor(tenant_id=bank.tenant.pk, scopes=frozenset(scopes))


def attempt(bank, name: str, actor: Actor, opportunity: Opportunity):
    with tenant_context(bank.tenant):
        return getattr(services, name)(actor=actor, opportunity=opportunity, **WRITES[name])


def written(bank) -> tuple:
    with tenant_context(bank.tenant):
        return (
            list(Opportunity.objects.values_list("pk", "step", "status", "updated_at")),
            StepEntry.objects.count(),
            AuditEntry.objects.count(),
        )


@pytest.mark.parametrize("name", WRITES)
@pytest.mark.parametrize("role", ["supervisor", "head"])
def test_supervisors_and_head_office_follow_the_pipeline_but_do_not_move_it(
    bank_a, opportunity, name, role
):
    before = written(bank_a)
    with pytest.raises(PermissionDenied) as caught:
        attempt(bank_a, name, Actor.for_staff(getattr(bank_a, role)), opportunity)
    assert str(caught.value) == (
        "Supervisors and head office follow the pipeline; the RM and advisors move it."
    )
    assert written(bank_a) == before


@pytest.mark.parametrize("name", WRITES)
def test_a_read_only_token_may_not_write(bank_a, opportunity, name):
    before = written(bank_a)
    with pytest.raises(PermissionDenied):
        attempt(bank_a, name, write_token(bank_a, ["read"]), opportunity)
    assert written(bank_a) == before


@pytest.mark.parametrize("name", WRITES)
def test_another_rms_opportunity_is_not_found(bank_a, opportunity, name):
    before = written(bank_a)
    with pytest.raises(Opportunity.DoesNotExist):
        attempt(bank_a, name, Actor.for_staff(bank_a.other_rm), opportunity)
    assert written(bank_a) == before


@pytest.mark.parametrize("name", WRITES)
def test_an_advisor_off_the_team_does_not_see_it(bank_a, opportunity, name):
    with pytest.raises(Opportunity.DoesNotExist):
        attempt(bank_a, name, Actor.for_staff(bank_a.advisor), opportunity)


@pytest.mark.parametrize("name", WRITES)
def test_another_banks_opportunity_is_not_found(bank_a, bank_b, opportunity, name):
    for actor in (Actor.for_staff(bank_b.rm), write_token(bank_b, ["read", "write"])):
        with pytest.raises(Opportunity.DoesNotExist):
            attempt(bank_b, name, actor, opportunity)
    # Nor through a bank-A actor while bank B is the current tenant.
    with pytest.raises(Opportunity.DoesNotExist):
        attempt(bank_b, name, Actor.for_staff(bank_a.rm), opportunity)


def test_opening_for_a_client_out_of_sight_is_not_found(bank_a, bank_b):
    theirs = ClientFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm)
    for bank, actor in (
        (bank_a, Actor.for_staff(bank_a.rm)),
        (bank_b, Actor.for_staff(bank_b.rm)),
        (bank_b, write_token(bank_b, ["write"])),
    ):
        with pytest.raises(Client.DoesNotExist), tenant_context(bank.tenant):
            services.opportunity_create(actor=actor, client=theirs, title="", source="")


@pytest.mark.parametrize("role", ["supervisor", "head"])
def test_supervisors_do_not_open_opportunities(bank_a, role):
    client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    with pytest.raises(PermissionDenied), tenant_context(bank_a.tenant):
        services.opportunity_create(
            actor=Actor.for_staff(getattr(bank_a, role)),
            client=client,
            title="理财",
            source="walk_in",
        )


def test_an_advisor_on_the_team_moves_it(bank_a, opportunity):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=opportunity.client, staff=bank_a.advisor)
    with tenant_context(bank_a.tenant):
        moved = services.opportunity_move(
            actor=Actor.for_staff(bank_a.advisor), opportunity=opportunity, to_step=2
        )
        entry = StepEntry.objects.get(opportunity=opportunity, step=2)
    assert moved.step == 2 and entry.entered_by_id == bank_a.advisor.pk


def test_a_secondary_rm_on_the_team_moves_it(bank_a, opportunity):
    ClientTeamMemberFactory(
        tenant=bank_a.tenant, client=opportunity.client, staff=bank_a.other_rm, role="secondary_rm"
    )
    with tenant_context(bank_a.tenant):
        moved = services.opportunity_move(
            actor=Actor.for_staff(bank_a.other_rm), opportunity=opportunity, to_step=2
        )
    assert moved.step == 2


def test_a_write_token_moves_and_loses_it(bank_a, opportunity):
    token = write_token(bank_a, ["read", "write"])
    with tenant_context(bank_a.tenant):
        services.opportunity_move(actor=token, opportunity=opportunity, to_step=2)
        lost = services.opportunity_lose(actor=token, opportunity=opportunity, reason="timing")
        entry = StepEntry.objects.get(opportunity=opportunity, step=2)
        audits = AuditEntry.objects.count()
    assert lost.status == "lost"
    assert entry.entered_by_id is None  # a token is nobody on the staff
    assert audits == 2
