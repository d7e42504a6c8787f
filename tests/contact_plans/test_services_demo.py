"""The contact-plan part of ``manage.py seed_demo`` (``contact_plans.demo``)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from contact_plans.models import ContactPlan, Interaction, PlannedContact
from customers.models import Client
from segmentation.models import ClientSegment, ServiceStandard
from vipcrm.models import Notification, Tenant
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db
SLUGS = ("demo-a", "demo-b")


def seed(clients: int = 240) -> str:
    out = StringIO()
    call_command("seed_demo", clients=clients, quiet=True, stdout=out)
    return out.getvalue()


def counts(slug: str) -> dict[str, int]:
    with tenant_context(Tenant.objects.get(slug=slug)):
        return {
            model.__name__: model.objects.count()
            for model in (ContactPlan, PlannedContact, Interaction, Notification)
        }


@pytest.fixture
def seeded() -> str:
    return seed()


def test_every_vip_gets_a_plan_and_rms_have_a_contact_history(seeded):
    for slug in SLUGS:
        with tenant_context(Tenant.objects.get(slug=slug)):
            vips = Client.objects.filter(tier__service_standards__isnull=False).count()
            assert ContactPlan.objects.count() == vips > 0
            by_rm = dict(
                Interaction.objects.values("staff")
                .annotate(n=Count("id"))
                .values_list("staff", "n")
            )
            assert len(by_rm) >= 3 and min(by_rm.values()) >= 2
            # Each past interaction answers a planned contact, done on time or late (a
            # contact logged for a sale also completes the client's open cadence contact).
            assert not Interaction.objects.filter(planned_contact__isnull=True).exists()
            answered = PlannedContact.objects.filter(
                status=PlannedContact.Status.DONE, interactions__isnull=False
            ).distinct()
            assert answered.count() == Interaction.objects.count()
            contacted = ContactPlan.objects.filter(last_contact_on__isnull=False).count()
            assert 0 < contacted < ContactPlan.objects.count()
            assert ClientSegment.objects.filter(last_contact_on__isnull=False).count() == contacted


def test_the_night_is_planned_with_overdue_contacts_maturities_and_reminders(seeded):
    with tenant_context(Tenant.objects.get(slug="demo-a")):
        reasons = set(PlannedContact.objects.values_list("reason", flat=True))
        statuses = set(PlannedContact.objects.values_list("status", flat=True))
        assert {"cadence", "maturity", "risk_reassessment"} <= reasons
        assert {"planned", "overdue", "done"} <= statuses
        assert Notification.objects.filter(kind="maturity_reminders").exists()


def test_top_tiers_have_festival_care_and_some_clients_a_lunar_birthday(seeded):
    with tenant_context(Tenant.objects.get(slug="demo-a")):
        caring = set(
            ServiceStandard.objects.filter(festival_care=True).values_list("tier__code", flat=True)
        )
        lunar = Client.objects.filter(lunar_birthday=True).count()
        total = Client.objects.count()
    assert caring == {"private", "diamond"}
    assert total / 10 < lunar < total / 2


def test_a_second_seed_the_same_day_adds_nothing(seeded):
    before = {slug: counts(slug) for slug in SLUGS}
    output = seed()
    assert {slug: counts(slug) for slug in SLUGS} == before
    assert "+0 contact plans, +0 planned contacts, +0 interactions" in output
