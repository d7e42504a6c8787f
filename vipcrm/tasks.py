"""Celery plumbing: the tenant-bound task base and the nightly fan-out.

A tenant task takes ``tenant_id`` and runs inside ``tenant_context`` (one transaction,
Row-Level Security bound to that tenant). The platform dispatcher is the only task that
looks across tenants, and it reads nothing but the ``Tenant`` table.
"""

from __future__ import annotations

import datetime
import logging
import zoneinfo

from celery import Task, shared_task
from django.utils import timezone

from vipcrm import nightly
from vipcrm.models import Tenant
from vipcrm.tenancy import tenant_context

logger = logging.getLogger(__name__)


class TenantTask(Task):
    """Runs the task body as the tenant named by its ``tenant_id`` keyword argument."""

    abstract = True
    acks_late = True

    def __call__(self, *args, **kwargs):
        tenant_id = kwargs.get("tenant_id")
        if tenant_id is None:
            raise TypeError(f"{self.name} needs a tenant_id keyword argument.")
        with tenant_context(tenant_id):
            return self.run(*args, **kwargs)


@shared_task(base=TenantTask, name="vipcrm.tasks.run_nightly_jobs")
def run_nightly_jobs(*, tenant_id: int, run_date: str) -> dict:
    """Run one tenant's nightly jobs for one business date (idempotent)."""
    return nightly.nightly_jobs_run(run_date=datetime.date.fromisoformat(run_date))


def _due_run_date(tenant: Tenant, now: datetime.datetime) -> datetime.date | None:
    local = now.astimezone(zoneinfo.ZoneInfo(tenant.time_zone))
    return local.date() if local.time() >= tenant.nightly_at else None


@shared_task(name="vipcrm.tasks.dispatch_nightly_jobs")
def dispatch_nightly_jobs() -> list[int]:
    """Fan the nightly jobs out: one task per active tenant whose local start time has come.

    Safe to run as often as beat likes: a tenant whose jobs are already done for the
    date does nothing (each job is recorded in ``NightlyRun``).
    """
    now = timezone.now()
    dispatched = []
    for tenant in Tenant.objects.filter(is_active=True).only("pk", "time_zone", "nightly_at"):
        run_date = _due_run_date(tenant, now)
        if run_date is None:
            continue
        run_nightly_jobs.delay(tenant_id=tenant.pk, run_date=run_date.isoformat())
        dispatched.append(tenant.pk)
    logger.info("Nightly jobs dispatched for tenants %s", dispatched)
    return dispatched
