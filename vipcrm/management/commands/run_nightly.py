import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from vipcrm import nightly
from vipcrm.models import Tenant
from vipcrm.tenancy import tenant_context


class Command(BaseCommand):
    help = "Run the nightly jobs now, for one tenant or every active tenant."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Tenant slug (default: every active tenant)")
        parser.add_argument("--date", help="Business date YYYY-MM-DD (default: today)")
        parser.add_argument("--force", action="store_true", help="Re-run jobs already done")

    def handle(self, *args, tenant=None, date=None, force=False, **options):
        try:
            run_date = datetime.date.fromisoformat(date) if date else timezone.localdate()
        except ValueError as exc:
            raise CommandError(f"--date must be YYYY-MM-DD, not {date!r}.") from exc
        tenants = Tenant.objects.filter(is_active=True)
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No active tenant with slug {tenant!r}.")
        for found in tenants:
            self.stdout.write(f"{found.slug} {run_date}:")
            with tenant_context(found):
                results = nightly.nightly_jobs_run(run_date=run_date, force=force)
            for job, status in results.items():
                self.stdout.write(f"  {job}: {status}")
            if not results:
                self.stdout.write("  (no nightly jobs registered)")
