"""The nightly maturity opportunities (job ``sales_pipeline.maturity``): exactly one
opportunity per open maturity alert however often it runs, none for a closed alert,
one bank's run never touching another's, and a cost that does not grow with the bank."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contact_plans.models import PlannedContact
from customers.models import Client, Tier
from sales_pipeline import services
from sales_pipeline.models import Opportunity, StepEntry
from segmentation.models import ServiceStandard
from tests.factories import (
    ClientFactory,
    HoldingFactory,
    PlannedContactFactory,
    ProductFactory,
    StaffFactory,
)
from vipcrm import nightly
from vipcrm.models import NightlyRun
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

ON = datetime.date(2026, 12, 1)
DAY = datetime.timedelta(days=1)
S = PlannedContact.Status


def alert(bank, *, matures_in: int = 10, status=S.PLANNED, amount="250000.00", **client):
    """A maturity alert as the contact planning makes it."""
    owner = client.pop("owner_rm", bank.rm)
    holder = ClientFactory(tenant=bank.tenant, branch=bank.sub, owner_rm=owner, **client)
    product = ProductFactory(tenant=bank.tenant, name="安鑫6个月封闭式净值型理财")
    matures_on = ON + DAY * matures_in
    holding = HoldingFactory(
        tenant=bank.tenant, client=holder, product=product, matures_on=matures_on
    )
    return PlannedContactFactory(
        tenant=bank.tenant,
        client=holder,
        assigned_to=owner,
        reason=PlannedContact.Reason.MATURITY,
        due_on=ON,
        status=status,
        source_key=f"maturity:{holding.pk}:{matures_on.isoformat()}",
        holding=holding,
        source_date=matures_on,
        amount_cny=Decimal(amount) if amount is not None else None,
    )


def run(bank, on=ON) -> dict:
    with tenant_context(bank.tenant):
        return services.maturity_opportunities_create(on=on)


def opportunities(bank) -> list[Opportunity]:
    with tenant_context(bank.tenant):
        return list(Opportunity.objects.order_by("pk"))


def test_the_job_runs_after_the_contact_planning():
    jobs = {job.name: job for job in nightly.registered_jobs()}
    names = [job.name for job in nightly.registered_jobs()]
    assert jobs["sales_pipeline.maturity"].order == 35
    assert names.index("contact_plans.plan") < names.index("sales_pipeline.maturity")


def test_a_maturity_alert_becomes_an_opportunity_at_step_1(bank_a):
    contact = alert(bank_a, matures_in=10)
    assert run(bank_a) == {"opportunities": 1, "step_entries": 1, "reassigned": 0}
    (opportunity,) = opportunities(bank_a)
    with tenant_context(bank_a.tenant):
        entry = StepEntry.objects.get()
    matures_on = (ON + DAY * 10).isoformat()
    assert opportunity.title == f"安鑫6个月封闭式净值型理财 · {matures_on}"
    assert (opportunity.source, opportunity.step, opportunity.status) == ("maturity", 1, "open")
    assert opportunity.source_key == contact.source_key
    assert opportunity.client_id == contact.client_id
    assert opportunity.owner_rm_id == bank_a.rm.pk
    assert opportunity.holding_id == contact.holding_id
    assert opportunity.planned_contact_id == contact.pk  # so step 1 is done
    assert opportunity.expected_amount_cny == Decimal("250000.00")
    assert opportunity.created_by_id is None
    assert (entry.opportunity_id, entry.step, entry.entered_at) == (
        opportunity.pk,
        1,
        opportunity.step_entered_at,
    )
    with tenant_context(bank_a.tenant):
        checklist = services.opportunity_checklist(opportunity=opportunity)
    assert checklist[0].met


def test_repeated_runs_make_exactly_one_opportunity_per_alert(bank_a):
    alert(bank_a)
    alert(bank_a, status=S.OVERDUE)
    first = run(bank_a)
    again = run(bank_a)
    later = run(bank_a, on=ON + DAY)
    assert first == {"opportunities": 2, "step_entries": 2, "reassigned": 0}
    assert again == later == {"opportunities": 0, "step_entries": 0, "reassigned": 0}
    assert len(opportunities(bank_a)) == 2
    with tenant_context(bank_a.tenant):
        assert StepEntry.objects.count() == 2


def test_an_opportunity_the_alert_already_has_is_kept(bank_a):
    """Even lost, an alert's opportunity is its only one."""
    contact = alert(bank_a)
    run(bank_a)
    with tenant_context(bank_a.tenant):
        Opportunity.objects.update(status="lost", lost_reason="timing")
    assert run(bank_a, on=ON + DAY) == {"opportunities": 0, "step_entries": 0, "reassigned": 0}
    assert [o.source_key for o in opportunities(bank_a)] == [contact.source_key]


@pytest.mark.parametrize("status", [S.CANCELLED, S.DONE])
def test_a_closed_alert_makes_none(bank_a, status):
    alert(bank_a, status=status)
    assert run(bank_a) == {"opportunities": 0, "step_entries": 0, "reassigned": 0}
    assert opportunities(bank_a) == []


def test_a_holding_already_matured_makes_none(bank_a):
    alert(bank_a, matures_in=-1)
    assert run(bank_a)["opportunities"] == 0


def test_other_contacts_make_none(bank_a):
    client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    PlannedContactFactory(tenant=bank_a.tenant, client=client, source_date=ON + DAY)
    assert run(bank_a)["opportunities"] == 0


def test_a_pool_client_and_an_unknown_amount(bank_a):
    alert(bank_a, owner_rm=None, amount=None)
    alert(bank_a, amount="0.00")
    assert run(bank_a)["opportunities"] == 2
    first, second = opportunities(bank_a)
    assert (first.owner_rm_id, first.expected_amount_cny) == (None, None)
    assert second.expected_amount_cny is None  # a zero balance is no expected amount


def test_one_banks_run_never_touches_another_bank(bank_a, bank_b):
    alert(bank_a)
    theirs = alert(bank_b)
    assert run(bank_a) == {"opportunities": 1, "step_entries": 1, "reassigned": 0}
    assert opportunities(bank_b) == []
    assert run(bank_b) == {"opportunities": 1, "step_entries": 1, "reassigned": 0}
    assert [o.source_key for o in opportunities(bank_b)] == [theirs.source_key]
    assert len(opportunities(bank_a)) == 1


def test_running_opportunities_follow_their_clients_new_owner(bank_a):
    moved, kept, lost, pooled = (alert(bank_a) for _ in range(4))
    run(bank_a)
    new_rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub)
    with tenant_context(bank_a.tenant):
        by_client = {o.client_id: o for o in Opportunity.objects.all()}
        Opportunity.objects.filter(pk=by_client[lost.client_id].pk).update(
            status="lost", lost_reason="timing"
        )
        Client.objects.filter(pk__in=[moved.client_id, lost.client_id]).update(owner_rm=new_rm)
        Client.objects.filter(pk=pooled.client_id).update(owner_rm=None)

    assert run(bank_a, on=ON + DAY)["reassigned"] == 1
    assert run(bank_a, on=ON + DAY)["reassigned"] == 0
    owners = {o.client_id: o.owner_rm_id for o in opportunities(bank_a)}
    assert owners[moved.client_id] == new_rm.pk
    assert owners[kept.client_id] == bank_a.rm.pk
    assert owners[lost.client_id] == bank_a.rm.pk  # a closed one keeps its history
    assert owners[pooled.client_id] == bank_a.rm.pk  # released to the pool: kept until reassigned


def test_the_cost_does_not_grow_with_the_alerts(bank_a, bank_b):
    for bank, alerts in ((bank_a, 5), (bank_b, 50)):
        for _ in range(alerts):
            alert(bank)
    counts = {}
    for bank in (bank_a, bank_b):
        with tenant_context(bank.tenant), CaptureQueriesContext(connection) as queries:
            made = services.maturity_opportunities_create(on=ON)
        counts[bank.tenant.slug] = len(queries)
        assert made["opportunities"] == made["step_entries"]
    assert counts["bank-a"] == counts["bank-b"] == 3
    assert len(opportunities(bank_b)) == 50


def test_the_night_flags_a_maturing_holding_once_with_a_contact_and_an_opportunity(bank_a):
    """The whole pipeline: the contact planning makes the alert, this job the opportunity;
    a forced re-run adds neither."""
    with tenant_context(bank_a.tenant):
        gold = Tier.objects.create(code="gold", name="金卡", rank=2, aum_floor=Decimal("500000"))
        ServiceStandard.objects.create(
            tier=gold, contact_cadence_days=90, maturity_lead_days=14, book_weight=Decimal("1")
        )
    client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, tier=gold)
    HoldingFactory(tenant=bank_a.tenant, client=client, matures_on=ON + DAY * 7)
    with tenant_context(bank_a.tenant):
        first = nightly.nightly_jobs_run(run_date=ON)
        nightly.nightly_jobs_run(run_date=ON + DAY)
        nightly.nightly_jobs_run(run_date=ON + DAY, force=True)
        record = NightlyRun.objects.get(job="sales_pipeline.maturity", run_date=ON)
        alerts = PlannedContact.objects.filter(reason=PlannedContact.Reason.MATURITY).count()
        opportunity = Opportunity.objects.select_related("planned_contact__holding").get()
    assert first["sales_pipeline.maturity"] == "done"
    assert record.detail == {"opportunities": 1, "step_entries": 1, "reassigned": 0}
    assert alerts == 1
    assert opportunity.planned_contact.holding.client_id == client.pk
