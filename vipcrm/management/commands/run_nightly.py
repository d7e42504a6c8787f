"""``run_nightly``: the nightly pipeline on demand, for one tenant or every active one.

Runs exactly what beat starts (``vipcrm.nightly.nightly_jobs_run``), tenant by tenant,
each in its own transaction, and reports each job's status, time and counts. Jobs done
for the date are skipped unless ``--force``. Exits non-zero when a job failed (the
error is in the log; a re-run resumes at the failed job).
"""

import datetime
import time
import zoneinfo

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from vipcrm import nightly
from vipcrm.models import NightlyRun, Tenant
from vipcrm.tenancy import tenant_context


def _local_today(tenant: Tenant) -> datetime.date:
    return timezone.localdate(timezone=zoneinfo.ZoneInfo(tenant.time_zone))


def _describe(record: NightlyRun | None) -> str:
    if record is None or record.finished_at is None:
        return ""
    seconds = (record.finished_at - record.started_at).total_seconds()
    counts = ", ".join(
        f"{key.replace('_', ' ')} {value:,}" if isinstance(value, int) else f"{key} {value}"
        for key, value in (record.detail or {}).items()
    )
    return f" in {seconds:.1f} s" + (f" ({counts})" if counts else "")


class Command(BaseCommand):
    help = "Run the nightly jobs now, for one tenant or every active tenant."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Tenant slug (default: every active tenant)")
        parser.add_argument(
            "--date", help="Business date YYYY-MM-DD (default: each tenant's local today)"
        )
        parser.add_argument("--force", action="store_true", help="Re-run jobs already done")

    def handle(self, *args, tenant=None, date=None, force=False, **options):
        try:
            fixed_date = datetime.date.fromisoformat(date) if date else None
        except ValueError as exc:
            raise CommandError(f"--date must be YYYY-MM-DD, not {date!r}.") from exc
        tenants = Tenant.objects.filter(is_active=True).order_by("slug")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No active tenant with slug {tenant!r}.")
        jobs = nightly.registered_jobs()
        failed = []
        for found in tenants:
            run_date = fixed_date or _local_today(found)
            self.stdout.write(f"{found.slug} {run_date}: {len(jobs)} jobs…")
            self.stdout.flush()
            started = time.monotonic()
            with tenant_context(found):
                results = nightly.nightly_jobs_run(run_date=run_date, force=force)
                records = {
                    record.job: record
                    for record in NightlyRun.objects.filter(run_date=run_date, job__in=results)
                }
            for job, status in results.items():
                more = _describe(records.get(job)) if status == "done" else ""
                self.stdout.write(f"  {job}: {status}{more}")
            if not results:
                self.stdout.write("  (no nightly jobs registered)")
            if "failed" in results.values():
                failed.append(found.slug)
            self.stdout.write(f"  {found.slug} finished in {time.monotonic() - started:.1f} s")
        if failed:
            raise CommandError(
                f"Nightly jobs failed for {', '.join(failed)}; see the log, then run again "
                "to resume at the failed job."
            )
