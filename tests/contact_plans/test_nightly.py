"""The nightly planning job: its place in the pipeline, restartability, tenant isolation
and a cost that does not grow with the bank."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contact_plans import lunar, services
from contact_plans.models import ContactPlan, PlannedContact
from customers.models import Tier
from segmentation.models import ClientSegment, ServiceStandard
from tests.factories import ClientFactory, ClientSegmentFactory, HoldingFactory, LifeEventFactory
from vipcrm import nightly
from vipcrm.models import NightlyRun, Notification
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

ON = datetime.date(2026, 12, 1)
DAY = datetime.timedelta(days=1)


def book(bank, clients: int) -> None:
    """A bank with two tiers and ``clients`` VIPs with every kind of occasion; every
    third client last contacted a cadence before ``ON`` (so due on it whatever ids the
    database hands out: a never-contacted client's first due date spreads by id, and
    PostgreSQL's ids grow across tests)."""
    with tenant_context(bank.tenant):
        tiers = []
        for code, rank, cadence, lead in (("gold", 2, 90, 14), ("private", 4, 30, 30)):
            tier = Tier.objects.create(code=code, name=code, rank=rank, aum_floor=Decimal(rank))
            ServiceStandard.objects.create(
                tier=tier,
                contact_cadence_days=cadence,
                maturity_lead_days=lead,
                book_weight=Decimal("1"),
                festival_care=code == "private",
            )
            tiers.append(tier)
    for i in range(clients):
        client = ClientFactory(
            tenant=bank.tenant,
            branch=bank.sub,
            owner_rm=(bank.rm, bank.other_rm)[i % 2],
            tier=tiers[i % 2],
            birth_date=datetime.date(1970, 12, 1 + i % 10),
            lunar_birthday=i % 3 == 0,
            risk_level="C3",
            risk_assessed_on=ON - DAY * (320 + i),
        )
        HoldingFactory(tenant=bank.tenant, client=client, matures_on=ON + DAY * (i % 40))
        LifeEventFactory(tenant=bank.tenant, client=client, occurs_on=ON + DAY * (i % 20 - 5))
        if i % 3 == 0:  # segmentation's record of the last contact
            cadence = (90, 30)[i % 2]
            ClientSegmentFactory(
                tenant=bank.tenant, client=client, last_contact_on=ON - DAY * cadence
            )


def test_the_job_runs_after_the_retiering():
    names = [job.name for job in nightly.registered_jobs()]
    assert names.index("segmentation.retier") < names.index("contact_plans.plan")
    job = next(job for job in nightly.registered_jobs() if job.name == "contact_plans.plan")
    assert job.order == 30


def test_the_pipeline_records_the_planning_and_a_rerun_skips_it(bank_a):
    book(bank_a, 6)
    with tenant_context(bank_a.tenant):
        first = nightly.nightly_jobs_run(run_date=ON)
        again = nightly.nightly_jobs_run(run_date=ON)
        forced = nightly.nightly_jobs_run(run_date=ON, force=True)
        record = NightlyRun.objects.get(job="contact_plans.plan", run_date=ON)
        assert ContactPlan.objects.count() == 6
    assert first["contact_plans.plan"] == "done"
    assert again["contact_plans.plan"] == "skipped"
    assert forced["contact_plans.plan"] == "done"
    # The forced re-run found nothing left to do.
    assert record.detail["maturity"] == 0 and record.detail["plans_created"] == 0


def test_one_banks_run_never_touches_another_bank(bank_a, bank_b):
    book(bank_a, 6)
    book(bank_b, 4)
    with tenant_context(bank_b.tenant):
        services.contact_plans_refresh(on=ON)
        b_contacts = list(PlannedContact.objects.values_list("pk", "updated_at", "status"))
    with tenant_context(bank_a.tenant):
        summary = services.contact_plans_refresh(on=ON + DAY * 3)
        assert summary["plans_created"] == 6
        assert set(PlannedContact.objects.values_list("tenant_id", flat=True)) == {bank_a.tenant.pk}
        assert set(Notification.objects.values_list("recipient_id", flat=True)) <= {
            bank_a.rm.pk,
            bank_a.other_rm.pk,
        }
    with tenant_context(bank_b.tenant):
        assert list(PlannedContact.objects.values_list("pk", "updated_at", "status")) == (
            b_contacts
        )
        assert ContactPlan.objects.count() == 4
        assert not ClientSegment.objects.filter(client__tenant=bank_a.tenant).exists()


def queries_of_a_run(bank) -> int:
    with tenant_context(bank.tenant):
        lunar.lunar_days_ensure(years=[1970, 2026, 2027])  # the shared table, filled once
        with CaptureQueriesContext(connection) as captured:
            summary = services.contact_plans_refresh(on=ON)
    assert summary["maturity"] > 0 and summary["cadence"] > 0
    return len(captured)


def test_the_number_of_statements_does_not_grow_with_the_bank(bank_a, bank_b):
    book(bank_a, 5)
    book(bank_b, 50)
    small, large = queries_of_a_run(bank_a), queries_of_a_run(bank_b)
    assert small == large
    assert large <= 20


def test_the_reminders_notification_reads_with_count_and_amount(bank_a):
    from django.utils import translation

    from vipcrm.notifications import notification_text

    note = Notification(
        kind="maturity_reminders",
        params={"date": "2026-12-01", "count": 3, "amount_cny": "1250000.5"},
    )
    with translation.override("en"):
        text = notification_text(note)
    assert "3 holdings maturing soon" in text
    assert "1,250,000.50" in text
    assert "December 1" in text
    note.params = {"count": 1, "amount_cny": "oops"}
    with translation.override("en"):
        assert notification_text(note) == "1 holding maturing soon, ¥0.00 in total"
