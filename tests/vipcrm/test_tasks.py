"""Celery: tenant-bound tasks, and the nightly fan-out."""

import datetime

import pytest
from django.utils import timezone

from vipcrm import nightly, tasks
from vipcrm.models import NightlyRun
from vipcrm.tenancy import TenantNotSet, current_tenant_id, tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def only_this_tests_jobs(monkeypatch):
    """The pipeline holds only the jobs a test registers (the apps' jobs have their own tests)."""
    monkeypatch.setattr(nightly, "_jobs", {})


@pytest.fixture
def recorded_job():
    seen = []

    def run(*, run_date):
        seen.append((current_tenant_id(), run_date))
        return {"ok": True}

    nightly.register_job(nightly.NightlyJob(name="probe", order=0, run=run))
    yield seen
    nightly._jobs.pop("probe", None)


def test_a_tenant_task_runs_as_its_tenant(bank_a, recorded_job):
    result = tasks.run_nightly_jobs.delay(tenant_id=bank_a.tenant.pk, run_date="2026-11-28")
    assert result.get() == {"probe": "done"}
    assert recorded_job == [(bank_a.tenant.pk, datetime.date(2026, 11, 28))]


def test_a_tenant_task_without_tenant_id_is_refused(bank_a):
    with pytest.raises(TypeError, match="tenant_id"):
        tasks.run_nightly_jobs.apply(kwargs={"run_date": "2026-11-28"}, throw=True)


def test_the_tenant_does_not_outlive_the_task(bank_a, recorded_job):
    tasks.run_nightly_jobs.delay(tenant_id=bank_a.tenant.pk, run_date="2026-11-28")
    with pytest.raises(TenantNotSet):
        current_tenant_id()


def test_a_second_run_the_same_day_skips_done_jobs(bank_a, recorded_job):
    for _ in range(2):
        tasks.run_nightly_jobs.delay(tenant_id=bank_a.tenant.pk, run_date="2026-11-28")
    assert len(recorded_job) == 1
    with tenant_context(bank_a.tenant):
        assert NightlyRun.objects.get().status == NightlyRun.Status.DONE


def test_a_failed_job_is_recorded_and_retried_next_time(bank_a):
    calls = []

    def flaky(*, run_date):
        calls.append(run_date)
        if len(calls) == 1:
            raise RuntimeError("core banking file missing")
        return {}

    nightly.register_job(nightly.NightlyJob(name="flaky", order=0, run=flaky))
    try:
        first = tasks.run_nightly_jobs.delay(tenant_id=bank_a.tenant.pk, run_date="2026-11-28")
        second = tasks.run_nightly_jobs.delay(tenant_id=bank_a.tenant.pk, run_date="2026-11-28")
    finally:
        nightly._jobs.pop("flaky")
    assert first.get() == {"flaky": "failed"}
    assert second.get() == {"flaky": "done"}


def test_dispatch_fans_out_to_tenants_whose_local_time_has_come(
    bank_a, bank_b, recorded_job, monkeypatch
):
    bank_a.tenant.nightly_at = datetime.time(2, 0)
    bank_a.tenant.save()
    bank_b.tenant.nightly_at = datetime.time(23, 0)
    bank_b.tenant.save()
    # 03:00 in Shanghai is 19:00 UTC the day before.
    now = datetime.datetime(2026, 11, 27, 19, 0, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)
    assert tasks.dispatch_nightly_jobs.delay().get() == [bank_a.tenant.pk]
    assert recorded_job == [(bank_a.tenant.pk, datetime.date(2026, 11, 28))]


def test_inactive_tenants_are_not_dispatched(bank_a, recorded_job, monkeypatch):
    bank_a.tenant.is_active = False
    bank_a.tenant.save()
    monkeypatch.setattr(
        timezone, "now", lambda: datetime.datetime(2026, 11, 28, 12, tzinfo=datetime.UTC)
    )
    assert tasks.dispatch_nightly_jobs.delay().get() == []


def test_celery_is_configured_for_reliable_delivery():
    from vipcrm.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert "dispatch-nightly-jobs" in app.conf.beat_schedule
