"""``kpi_snapshot``: take one bank's KPI snapshots of one period now.

``manage.py kpi_snapshot --tenant SLUG --period month|quarter|year --start YYYY-MM-DD``
computes the period beginning on ``--start`` as the nightly job does
(``kpi.services.kpi_snapshot_take``) and replaces its rows: re-runnable, e.g. for a past
month after a correction of its data. ``--as-of`` sets the figures' date (default:
today, or the period's last day once it is over).
"""

from __future__ import annotations

import datetime
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kpi.periods import PERIODS, period_start
from kpi.services import kpi_snapshot_take
from vipcrm.models import Tenant
from vipcrm.tenancy import tenant_context


def _date(value: str, option: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date YYYY-MM-DD, not {value!r}.") from None


class Command(BaseCommand):
    help = "Take (or take again) one bank's KPI snapshots of one month, quarter or year."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The bank's slug.")
        parser.add_argument("--period", required=True, choices=PERIODS, help="The period kind.")
        parser.add_argument("--start", required=True, help="The period's first day, YYYY-MM-DD.")
        parser.add_argument(
            "--as-of",
            dest="as_of",
            help="The figures' date (default: today, or the period's last day once over).",
        )

    def handle(self, *args, tenant: str, period: str, start: str, as_of=None, **options):
        first = _date(start, "--start")
        if period_start(period, first) != first:
            raise CommandError(
                f"--start {first} is not the first day of a {period}: "
                f"that {period} starts on {period_start(period, first)}."
            )
        figures_date = _date(as_of, "--as-of") if as_of else None
        found = Tenant.objects.filter(slug=tenant, is_active=True).first()
        if found is None:
            raise CommandError(f"No active tenant with slug {tenant!r}.")
        started = time.monotonic()
        try:
            with tenant_context(found):
                rows = kpi_snapshot_take(period=period, start=first, as_of=figures_date)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{found.slug} {period} from {first}: {rows['rm']} RM, {rows['branch']} branch "
            f"and {rows['tenant']} bank snapshots; {rows['written']} written (new or "
            f"changed), {rows['removed']} removed; in {time.monotonic() - started:.1f} s"
        )
