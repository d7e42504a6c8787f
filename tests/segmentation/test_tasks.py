"""The nightly segmentation jobs: order, restartability, tenant isolation, cost."""

from __future__ import annotations

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Client, Holding, Tier
from segmentation import services
from segmentation.models import AumSnapshot, ClientSegment, TierChange, TierOverride
from tests.factories import (
    ClientFactory,
    FxRateFactory,
    HoldingFactory,
    ProductFactory,
    TierOverrideFactory,
)
from vipcrm import nightly
from vipcrm.models import NightlyRun, Notification
from vipcrm.tenancy import tenant_context, tenant_models

pytestmark = pytest.mark.django_db

ON = datetime.date(2026, 12, 1)  # a monthly evaluation
DAY = datetime.timedelta(days=1)
TIERS = (("potential", 1, "200000"), ("gold", 2, "500000"), ("diamond", 3, "5000000"))


def scenario(bank, clients: int = 12) -> None:
    """The same small book in any bank: tiers, holdings in CNY and USD, a month of
    snapshots, clients rising and falling, an override that ended yesterday."""
    with tenant_context(bank.tenant):
        tiers = [
            Tier.objects.create(code=code, name=code, rank=rank, aum_floor=Decimal(floor))
            for code, rank, floor in TIERS
        ]
    fund = ProductFactory(tenant=bank.tenant, code="FUND1", category="fund")
    deposit = ProductFactory(tenant=bank.tenant, code="DEP1", category="time_deposit")
    FxRateFactory(tenant=bank.tenant, date=ON - DAY * 2, rate_to_cny=Decimal("7.20000000"))
    for i in range(clients):
        client = ClientFactory(
            tenant=bank.tenant,
            branch=bank.sub,
            external_id=f"K{i:04d}",
            owner_rm=(bank.rm, bank.other_rm, None)[i % 3],
            tier=(None, *tiers)[i % 4],
        )
        HoldingFactory(
            tenant=bank.tenant,
            client=client,
            external_id=f"H{i:04d}",
            product=deposit,
            balance=Decimal(150000 * (i % 7)),
            opened_on=datetime.date(2024, 1, 1),
        )
        HoldingFactory(
            tenant=bank.tenant,
            client=client,
            external_id=f"U{i:04d}",
            product=fund,
            currency="USD",
            balance=Decimal(20000 * (i % 5)),
            opened_on=datetime.date(2024, 6, 1),
        )
        with tenant_context(bank.tenant):
            AumSnapshot.objects.bulk_create(
                [
                    AumSnapshot(
                        client=client, date=ON - DAY * back, aum_cny=Decimal(90000 * (i + back))
                    )
                    for back in range(1, 31)
                ]
            )
        if i == 5:
            TierOverrideFactory(
                tenant=bank.tenant,
                client=client,
                tier=tiers[2],
                expires_on=ON - DAY,
                created_by=bank.supervisor,
            )


def outcome(bank) -> dict[str, list]:
    """Everything the jobs decide, keyed by codes rather than ids (comparable across banks)."""
    with tenant_context(bank.tenant):
        return {
            "tiers": sorted(Client.objects.values_list("external_id", "tier__code", "aum_cny")),
            "snapshots": sorted(
                AumSnapshot.objects.values_list("client__external_id", "date", "aum_cny")
            ),
            "changes": sorted(
                TierChange.objects.values_list(
                    "client__external_id",
                    "from_tier__code",
                    "to_tier__code",
                    "reason",
                    "average_aum_cny",
                    "effective_on",
                    "override__client__external_id",
                )
            ),
            "segments": sorted(
                ClientSegment.objects.values_list(
                    "client__external_id",
                    "average_aum_cny",
                    "rule_tier__code",
                    "months_below_floor",
                    "last_monthly_evaluation",
                    "evaluated_on",
                    "lifecycle",
                    "product_preference",
                    "last_aum_change_on",
                )
            ),
            "overrides": sorted(
                (external_id, revoked is not None)
                for external_id, revoked in TierOverride.objects.values_list(
                    "client__external_id", "revoked_at"
                )
            ),
            "notifications": sorted(
                (code, sorted(params.items()))
                for code, params in Notification.objects.values_list("recipient__code", "params")
            ),
        }


def run(bank, on=ON, **kwargs) -> dict[str, str]:
    with tenant_context(bank.tenant):
        return nightly.nightly_jobs_run(run_date=on, **kwargs)


def every_row(bank, *, skip=("NightlyRun",)) -> dict[str, list]:
    with tenant_context(bank.tenant):
        return {
            model.__name__: sorted(model.objects.order_by().values_list("pk", "updated_at"))
            for model in tenant_models()
            if model.__name__ not in skip
        }


def ours(results: dict[str, str]) -> dict[str, str]:
    return {job: status for job, status in results.items() if job.startswith("segmentation.")}


def test_the_jobs_run_in_order_snapshot_then_retier():
    jobs = [(job.name, job.order) for job in nightly.registered_jobs()]
    assert ("segmentation.snapshot", 10) in jobs
    assert ("segmentation.retier", 20) in jobs
    names = [name for name, _ in jobs]
    assert names.index("segmentation.snapshot") < names.index("segmentation.retier")
    assert names.index("segmentation.snapshot") == 0


def test_a_run_snapshots_retiers_and_records_both_jobs(bank_a):
    scenario(bank_a)
    assert ours(run(bank_a)) == {"segmentation.snapshot": "done", "segmentation.retier": "done"}
    result = outcome(bank_a)
    assert len(result["snapshots"]) == 12 * 31
    assert {reason for *_, reason, _, _, _ in result["changes"]} >= {"upgrade", "override_ended"}
    assert result["overrides"] == [("K0005", True)]
    assert {row[6] for row in result["segments"]} <= {"stable", "growing", "declining"}
    with tenant_context(bank_a.tenant):
        detail = NightlyRun.objects.get(job="segmentation.retier").detail
    assert detail["changes"] == len(result["changes"])
    assert detail["segments_refreshed"] == 12


@pytest.mark.parametrize("breaks", ["clients_retier", "client_segments_refresh"])
def test_a_run_interrupted_after_the_snapshot_resumes_and_ends_as_a_clean_run(
    bank_a, bank_b, monkeypatch, breaks
):
    scenario(bank_a)
    scenario(bank_b)
    assert "segmentation.retier" in ours(run(bank_b))  # the clean run, for comparison

    real = getattr(services, breaks)

    def crash(**kwargs):
        if breaks == "client_segments_refresh":
            services.clients_retier(on=kwargs["on"])  # part of the work is written…
        raise RuntimeError("worker killed")  # …then the job dies

    monkeypatch.setattr(services, breaks, crash)
    assert ours(run(bank_a)) == {
        "segmentation.snapshot": "done",
        "segmentation.retier": "failed",
    }
    interrupted = outcome(bank_a)
    assert len(interrupted["snapshots"]) == 12 * 31
    assert interrupted["changes"] == [] and interrupted["notifications"] == []

    monkeypatch.setattr(services, breaks, real)
    assert ours(run(bank_a)) == {
        "segmentation.snapshot": "skipped",
        "segmentation.retier": "done",
    }
    assert outcome(bank_a) == outcome(bank_b)


def test_a_forced_rerun_of_the_day_writes_nothing(bank_a):
    scenario(bank_a)
    run(bank_a)
    before = every_row(bank_a)
    assert ours(run(bank_a)) == {
        "segmentation.snapshot": "skipped",
        "segmentation.retier": "skipped",
    }
    assert ours(run(bank_a, force=True)) == {
        "segmentation.snapshot": "done",
        "segmentation.retier": "done",
    }
    assert every_row(bank_a) == before


def test_one_tenants_run_has_no_effect_on_another(bank_a, bank_b):
    scenario(bank_a)
    scenario(bank_b)
    before = every_row(bank_b, skip=())
    run(bank_a)
    assert every_row(bank_b, skip=()) == before
    with tenant_context(bank_b.tenant):
        assert not AumSnapshot.objects.filter(date=ON).exists()
        assert not Notification.objects.exists()
    with tenant_context(bank_a.tenant):
        assert AumSnapshot.objects.filter(date=ON).count() == 12


def test_the_jobs_cost_the_same_queries_for_5_and_50_clients(bank_a, bank_b):
    scenario(bank_a, clients=5)
    scenario(bank_b, clients=50)

    def count(bank) -> int:
        with tenant_context(bank.tenant), CaptureQueriesContext(connection) as queries:
            services.aum_snapshot_job(run_date=ON)
            services.clients_retier_job(run_date=ON)
        return len(queries)

    assert count(bank_a) == count(bank_b)


def test_the_next_day_runs_again_and_keeps_history(bank_a):
    scenario(bank_a)
    run(bank_a)
    with tenant_context(bank_a.tenant):
        Holding.objects.filter(external_id="H0003").update(balance=Decimal("9000000.00"))
    run(bank_a, on=ON + DAY)
    with tenant_context(bank_a.tenant):
        moved = ClientSegment.objects.get(client__external_id="K0003")
        assert AumSnapshot.objects.filter(client__external_id="K0003").count() == 32
    assert moved.last_aum_change_on == ON + DAY


# --- The command -----------------------------------------------------------------------


def test_the_command_runs_one_tenant_with_progress(bank_a, bank_b):
    scenario(bank_a, clients=3)
    out = StringIO()
    call_command("run_nightly", tenant=bank_a.tenant.slug, date=ON.isoformat(), stdout=out)
    text = out.getvalue()
    assert f"{bank_a.tenant.slug} {ON}:" in text
    assert "segmentation.snapshot: done in" in text
    assert "snapshots 3" in text
    assert "segmentation.retier: done in" in text
    assert bank_b.tenant.slug not in text
    with tenant_context(bank_b.tenant):
        assert not NightlyRun.objects.exists()


def test_the_command_runs_every_active_tenant(bank_a, bank_b):
    out = StringIO()
    call_command("run_nightly", date=ON.isoformat(), stdout=out)
    assert bank_a.tenant.slug in out.getvalue() and bank_b.tenant.slug in out.getvalue()


def test_the_command_fails_loudly_when_a_job_fails(bank_a, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "clients_retier", crash)
    out = StringIO()
    with pytest.raises(CommandError, match=bank_a.tenant.slug):
        call_command("run_nightly", tenant=bank_a.tenant.slug, date=ON.isoformat(), stdout=out)
    assert "segmentation.retier: failed" in out.getvalue()


@pytest.mark.parametrize(
    ("options", "message"),
    [({"tenant": "nope"}, "No active tenant"), ({"date": "2026-13-01"}, "YYYY-MM-DD")],
)
def test_the_command_refuses_bad_arguments(bank_a, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_nightly", stdout=StringIO(), **options)
