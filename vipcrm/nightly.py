"""The nightly job pipeline of one tenant.

Apps register their jobs in order (snapshot AUM, re-tier, plan contacts, KPIs…) in
their ``AppConfig.ready``. ``nightly_jobs_run`` runs them for one tenant and business
date, each in its own savepoint, recording each in ``NightlyRun``: a job done for the
date is skipped, so the pipeline can be re-run or restarted after a crash and ends as
one uninterrupted run would. A row lock on the tenant keeps two runs of one tenant
from overlapping.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from vipcrm.models import NightlyRun, Tenant
from vipcrm.tenancy import current_tenant_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NightlyJob:
    name: str
    order: int
    run: Callable[..., dict]  # run(*, run_date) -> detail for the record


_jobs: dict[str, NightlyJob] = {}


def register_job(job: NightlyJob) -> None:
    _jobs[job.name] = job


def registered_jobs() -> list[NightlyJob]:
    return sorted(_jobs.values(), key=lambda job: (job.order, job.name))


def nightly_jobs_run(*, run_date: datetime.date, force: bool = False) -> dict[str, str]:
    """Run the current tenant's registered jobs for ``run_date``; returns job → status."""
    tenant_id = current_tenant_id()
    # Serialise runs of one tenant: a second run waits here, then finds the jobs done.
    Tenant.objects.select_for_update().filter(pk=tenant_id).first()
    results: dict[str, str] = {}
    for job in registered_jobs():
        record = NightlyRun.objects.filter(run_date=run_date, job=job.name).first()
        if record and record.status == NightlyRun.Status.DONE and not force:
            results[job.name] = "skipped"
            continue
        started = timezone.now()
        try:
            with transaction.atomic():
                detail = job.run(run_date=run_date) or {}
        except Exception:
            logger.exception("Nightly job %s failed for tenant %s", job.name, tenant_id)
            NightlyRun.objects.update_or_create(
                run_date=run_date,
                job=job.name,
                defaults={
                    "status": NightlyRun.Status.FAILED,
                    "started_at": started,
                    "finished_at": timezone.now(),
                },
            )
            results[job.name] = "failed"
            break  # later jobs depend on earlier ones
        NightlyRun.objects.update_or_create(
            run_date=run_date,
            job=job.name,
            defaults={
                "status": NightlyRun.Status.DONE,
                "started_at": started,
                "finished_at": timezone.now(),
                "detail": detail,
            },
        )
        results[job.name] = "done"
    return results
