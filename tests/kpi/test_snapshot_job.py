"""The nightly job ``kpi.snapshot`` and the ``kpi_snapshot`` command."""

import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from kpi.models import KpiSnapshot
from kpi.services import kpi_snapshot_job
from tests.factories import ClientFactory, InteractionFactory
from vipcrm import nightly
from vipcrm.models import NightlyRun
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

D = datetime.date


def periods_taken(bank) -> dict[tuple[str, datetime.date], datetime.date]:
    """(period, start) → the figures' date of the bank's rows."""
    with tenant_context(bank.tenant):
        rows = KpiSnapshot.objects.filter(scope=KpiSnapshot.Scope.TENANT)
        return {(row.period, row.period_start): row.as_of for row in rows}


def test_the_job_runs_after_the_planning_and_the_pipeline():
    order = [job.name for job in nightly.registered_jobs()]
    job = next(job for job in nightly.registered_jobs() if job.name == "kpi.snapshot")
    assert job.order == 40
    assert job.run is kpi_snapshot_job
    assert order.index("kpi.snapshot") > order.index("contact_plans.plan")
    assert order.index("kpi.snapshot") > order.index("sales_pipeline.maturity")


def test_the_job_takes_the_month_quarter_and_year_of_the_run_date(bank_a):
    with tenant_context(bank_a.tenant):
        detail = kpi_snapshot_job(run_date=D(2026, 11, 18))
    assert detail == {"month:2026-11-01": 7, "quarter:2026-10-01": 7, "year:2026-01-01": 7}
    assert periods_taken(bank_a) == {
        ("month", D(2026, 11, 1)): D(2026, 11, 18),
        ("quarter", D(2026, 10, 1)): D(2026, 11, 18),
        ("year", D(2026, 1, 1)): D(2026, 11, 18),
    }


def test_on_a_periods_first_day_the_job_closes_the_period_just_ended(bank_a):
    """1 April: March and the first quarter are taken once more, through their last
    day; the year goes on."""
    with tenant_context(bank_a.tenant):
        detail = kpi_snapshot_job(run_date=D(2026, 4, 1))
    assert list(detail) == [
        "month:2026-03-01",
        "month:2026-04-01",
        "quarter:2026-01-01",
        "quarter:2026-04-01",
        "year:2026-01-01",
    ]
    assert periods_taken(bank_a) == {
        ("month", D(2026, 3, 1)): D(2026, 3, 31),
        ("month", D(2026, 4, 1)): D(2026, 4, 1),
        ("quarter", D(2026, 1, 1)): D(2026, 3, 31),
        ("quarter", D(2026, 4, 1)): D(2026, 4, 1),
        ("year", D(2026, 1, 1)): D(2026, 4, 1),
    }


def test_new_years_day_closes_december_the_fourth_quarter_and_the_year(bank_a):
    with tenant_context(bank_a.tenant):
        kpi_snapshot_job(run_date=D(2026, 1, 1))
    taken = periods_taken(bank_a)
    assert taken[("year", D(2025, 1, 1))] == D(2025, 12, 31)
    assert taken[("quarter", D(2025, 10, 1))] == D(2025, 12, 31)
    assert taken[("month", D(2025, 12, 1))] == D(2025, 12, 31)
    assert taken[("year", D(2026, 1, 1))] == D(2026, 1, 1)
    assert len(taken) == 6


def test_the_nightly_pipeline_runs_the_job_once_per_date(bank_a):
    client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    InteractionFactory(
        tenant=bank_a.tenant,
        client=client,
        staff=bank_a.rm,
        occurred_at=datetime.datetime(2026, 11, 17, 2, tzinfo=datetime.UTC),
    )
    with tenant_context(bank_a.tenant):
        results = nightly.nightly_jobs_run(run_date=D(2026, 11, 18))
        record = NightlyRun.objects.get(job="kpi.snapshot", run_date=D(2026, 11, 18))
        again = nightly.nightly_jobs_run(run_date=D(2026, 11, 18))
        row = KpiSnapshot.objects.get(period="month", scope_key=f"rm:{bank_a.rm.pk}")
    assert results["kpi.snapshot"] == "done"
    assert record.detail["month:2026-11-01"] == 7
    assert again["kpi.snapshot"] == "skipped"
    assert row.values["interactions_logged"] == 1


# --- The command -----------------------------------------------------------------------------


def run(*args: str) -> str:
    out = StringIO()
    call_command("kpi_snapshot", *args, stdout=out)
    return out.getvalue()


def test_the_command_takes_a_past_period_again(bank_a):
    said = run("--tenant", "bank-a", "--period", "month", "--start", "2026-10-01")
    assert "bank-a month from 2026-10-01: 2 RM, 4 branch and 1 bank snapshots; 7 written" in said
    with tenant_context(bank_a.tenant):
        first = set(KpiSnapshot.objects.values_list("pk", "as_of"))
    again = run("--tenant", "bank-a", "--period", "month", "--start", "2026-10-01")
    assert "; 0 written (new or changed), 0 removed;" in again
    with tenant_context(bank_a.tenant):
        assert set(KpiSnapshot.objects.values_list("pk", "as_of")) == first
    assert {as_of for _pk, as_of in first} == {D(2026, 10, 31)}


def test_the_command_takes_a_figures_date(bank_a):
    run(
        "--tenant",
        "bank-a",
        "--period",
        "quarter",
        "--start",
        "2026-07-01",
        "--as-of",
        "2026-08-15",
    )
    assert periods_taken(bank_a) == {("quarter", D(2026, 7, 1)): D(2026, 8, 15)}


BANK_A = ("--tenant", "bank-a")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tenant", "nobody", "--period", "month", "--start", "2026-10-01"), "No active tenant"),
        ((*BANK_A, "--period", "month", "--start", "2026-10-02"), "not the first day"),
        ((*BANK_A, "--period", "quarter", "--start", "2026-11-01"), "starts on 2026-10-01"),
        ((*BANK_A, "--period", "month", "--start", "1 Oct"), "YYYY-MM-DD"),
        ((*BANK_A, "--period", "week", "--start", "2026-10-01"), "invalid choice"),
        (
            (*BANK_A, "--period", "month", "--start", "2026-10-01", "--as-of", "2026-09-30"),
            "before the period begins",
        ),
    ],
)
def test_the_command_refuses_bad_arguments_writing_nothing(bank_a, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    with tenant_context(bank_a.tenant):
        assert not KpiSnapshot.objects.exists()
