"""The sales-pipeline part of ``manage.py seed_demo`` (``sales_pipeline.demo``): a
believable pipeline for every demo bank, built through the services so every rule
holds, and made once."""

from __future__ import annotations

import datetime
import itertools
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum

from contact_plans.models import PlannedContact
from sales_pipeline import demo as pipeline_demo
from sales_pipeline import services
from sales_pipeline.models import (
    Celebration,
    Opportunity,
    Proposal,
    ProposalLine,
    Referral,
    SaleCredit,
    StepEntry,
)
from tests.factories import ClientFactory, OpportunityFactory
from vipcrm import demo
from vipcrm.models import Notification, StaffProfile, Tenant
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db
SLUGS = ("demo-a", "demo-b")
PIPELINE = (Opportunity, StepEntry, Proposal, ProposalLine, SaleCredit, Referral, Celebration)


def seed(clients: int = 160) -> str:
    out = StringIO()
    call_command("seed_demo", clients=clients, quiet=True, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    found = {}
    for slug in SLUGS:
        with tenant_context(Tenant.objects.get(slug=slug)):
            for model in (*PIPELINE, PlannedContact, Notification):
                found[f"{slug}.{model.__name__}"] = model.objects.count()
    return found


@pytest.fixture
def seeded() -> str:
    return seed()


def test_every_bank_has_opportunities_at_every_step(seeded):
    assert "opportunities in the sales pipeline" in seeded
    for slug in SLUGS:
        with tenant_context(Tenant.objects.get(slug=slug)):
            open_steps = set(
                Opportunity.objects.filter(status="open").values_list("step", flat=True)
            )
            won_steps = set(Opportunity.objects.filter(status="won").values_list("step", flat=True))
            sources = set(Opportunity.objects.values_list("source", flat=True))
            lost = Opportunity.objects.filter(status="lost")
            celebrated = Opportunity.objects.filter(completed_at__isnull=False)
            assert open_steps == {1, 2, 3}
            assert won_steps == {4, 5}
            assert {"maturity", "referral", "cross_sell", "walk_in", "campaign"} <= sources
            assert lost.exists() and all(o.lost_reason == "competitor" for o in lost)
            assert celebrated.count() == 2 == Celebration.objects.count()
            assert Notification.objects.filter(kind="sale_celebrated").exists()
            by_rm = Counter(
                Opportunity.objects.exclude(source="maturity").values_list("owner_rm", flat=True)
            )
            assert len(by_rm) == 7  # every demo RM has a pipeline


def test_the_rules_hold_in_the_demo(seeded):
    for slug in SLUGS:
        with tenant_context(Tenant.objects.get(slug=slug)):
            for opportunity in Opportunity.objects.select_related("client"):
                entries = list(opportunity.step_entries.order_by("step"))
                # Every step up to the current one entered once, in order, never skipped.
                assert [e.step for e in entries] == list(range(1, opportunity.step + 1))
                for entry, following in itertools.pairwise(entries):
                    assert entry.left_at == following.entered_at
                    assert entry.entered_at <= entry.left_at
                checklist = services.opportunity_checklist(opportunity=opportunity)
                assert all(state.met for state in checklist[: opportunity.step - 1])
            for sale in Opportunity.objects.filter(status="won").select_related("client"):
                credits = sale.credits.aggregate(total=Sum("amount_cny"))["total"]
                assert credits == sale.won_amount_cny > 0
                accepted = sale.proposals.get(status="accepted")
                lines = list(accepted.lines.select_related("product"))
                assert sum(line.amount_cny for line in lines) == sale.won_amount_cny
                won_on = sale.credits.first().credited_on
                products = [line.product for line in lines]
                assert (
                    services.suitability_errors(client=sale.client, products=products, on=won_on)
                    == []
                )
                for line in lines:
                    needs_recording = line.product.category in services.RECORDING_CATEGORIES
                    assert bool(line.recording_ref) == needs_recording
                check_ins = PlannedContact.objects.filter(
                    source_key__startswith=f"opportunity:{sale.pk}:check_in:"
                )
                assert sorted(c.due_on for c in check_ins) == [
                    won_on + datetime.timedelta(days=days) for days in services.FOLLOW_UP_DAYS
                ]
                if sale.step == 5:
                    assert {c.status for c in check_ins} == {"done"}
            referral = Referral.objects.select_related("prospect", "prospect_opportunity").get()
            assert referral.prospect.referrer_id == referral.referrer_id
            assert referral.prospect.external_id.startswith("PROSPECT-")
            assert referral.prospect_opportunity.source == "referral"


def test_every_maturity_alert_has_its_one_opportunity(seeded):
    for slug in SLUGS:
        with tenant_context(Tenant.objects.get(slug=slug)):
            alerts = set(
                PlannedContact.objects.filter(reason="maturity", status__in=("planned", "overdue"))
                .exclude(source_date__lt=datetime.date.min)
                .values_list("source_key", flat=True)
            )
            flagged = list(
                Opportunity.objects.filter(source="maturity").values_list("source_key", flat=True)
            )
            assert flagged and len(flagged) == len(set(flagged))
            assert set(flagged) <= alerts


def test_a_second_seed_the_same_day_adds_nothing(seeded):
    before = counts()
    seed()
    assert counts() == before


def test_a_bank_with_its_own_opportunities_gets_only_the_nights(bank_a):
    """Called on a bank that already has a pipeline, the demo builds none."""
    client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    OpportunityFactory(tenant=bank_a.tenant, client=client)
    spec = demo.DEMO_TENANTS[0]
    with tenant_context(bank_a.tenant):
        made = pipeline_demo.sales_pipeline_seed(
            spec=spec,
            staff={staff.code: staff for staff in StaffProfile.objects.all()},
            today=datetime.date(2026, 11, 28),
        )
        assert Opportunity.objects.count() == 1
    assert made[Opportunity] == 0 and made[StepEntry] == 0


def test_amounts_are_whole_ten_thousands_of_at_least_50000():
    rich = ClientFactory.build(aum_cny=Decimal("12345678.90"))
    poor = ClientFactory.build(aum_cny=Decimal("1000"))
    assert pipeline_demo._amount_for(rich) == Decimal("2470000")
    assert pipeline_demo._amount_for(poor) == Decimal("50000")
