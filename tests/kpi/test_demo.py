"""The KPI part of ``manage.py seed_demo`` (``kpi.demo``): time logs, surveys,
complaints and a coaching note for every demo bank, and the snapshots the dashboards
read — made once, at a fixed cost per bank."""

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from contact_plans.services import tenant_today
from kpi import demo as kpi_demo
from kpi.models import CoachingNote, Complaint, KpiSnapshot, SatisfactionSurvey, TimeLog
from kpi.periods import period_start, period_starts_back
from tests.factories import ClientFactory
from vipcrm import demo
from vipcrm.models import Branch, StaffProfile, Tenant
from vipcrm.roles import Role, branch_subtree_ids
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db
SLUGS = ("demo-a", "demo-b")
INPUTS = (TimeLog, SatisfactionSurvey, Complaint, CoachingNote, KpiSnapshot)


def seed(clients: int = 120) -> str:
    out = StringIO()
    call_command("seed_demo", clients=clients, quiet=True, stdout=out)
    return out.getvalue()


@pytest.fixture
def seeded() -> str:
    return seed()


def rms() -> list[StaffProfile]:
    return list(StaffProfile.objects.filter(role=Role.RM).order_by("code"))


def test_every_demo_rm_logs_four_weeks_of_weekdays(seeded):
    assert "time logs" in seeded and "KPI snapshots" in seeded
    for slug in SLUGS:
        with tenant_context(Tenant.objects.get(slug=slug)):
            today = tenant_today(Tenant.objects.get(slug=slug).pk)
            for rm in rms():
                logs = TimeLog.objects.filter(staff=rm)
                days = set(logs.values_list("date", flat=True))
                assert len(days) == 20 and all(day.weekday() < 5 for day in days)
                assert min(days) >= today - datetime.timedelta(days=28) and max(days) < today
                assert logs.aggregate(total=Sum("hours"))["total"] == 160  # 8 hours a day
                for day in days:
                    assert logs.filter(date=day).aggregate(total=Sum("hours"))["total"] == 8


def test_some_rms_keep_the_70_percent_rule_and_some_do_not(seeded):
    with tenant_context(Tenant.objects.get(slug="demo-a")):
        shares = []
        for rm in rms():
            logs = TimeLog.objects.filter(staff=rm)
            vip = logs.filter(kind=TimeLog.Kind.VIP_SERVICE).aggregate(h=Sum("hours"))["h"]
            shares.append(vip * 100 / logs.aggregate(h=Sum("hours"))["h"])
    assert any(share >= 70 for share in shares) and any(share < 70 for share in shares)


def test_surveys_complaints_and_the_coaching_note(seeded):
    for slug in SLUGS:
        with tenant_context(Tenant.objects.get(slug=slug)):
            surveys = SatisfactionSurvey.objects.select_related("client")
            assert surveys.exists()
            assert all(survey.client.owner_rm_id == survey.staff_id for survey in surveys)
            assert {survey.score for survey in surveys} >= {2, 3, 4, 5}
            assert all(survey.external_id.startswith("DEMO-SVY-") for survey in surveys)
            complaints = Complaint.objects.all()
            assert sorted(c.status for c in complaints) == ["open", "resolved"]
            resolved = complaints.get(status="resolved")
            assert resolved.resolved_on >= resolved.received_on and resolved.resolution
            note = CoachingNote.objects.select_related("author", "rm").get()
            assert note.author.role == Role.SUPERVISOR and note.rm.role == Role.RM
            assert note.rm.branch_id in branch_subtree_ids(note.author.branch_id)


def test_the_dashboards_have_snapshots_of_today_and_a_trend(seeded):
    for slug, spec in zip(SLUGS, demo.DEMO_TENANTS, strict=True):
        tenant = Tenant.objects.get(slug=slug)
        with tenant_context(tenant):
            today = tenant_today(tenant.pk)
            expected = {("month", start) for start in period_starts_back("month", today, 3)}
            expected |= {(p, period_start(p, today)) for p in ("quarter", "year")}
            taken = set(KpiSnapshot.objects.values_list("period", "period_start").distinct())
            assert expected <= taken
            month = KpiSnapshot.objects.filter(
                period="month", period_start=period_start("month", today)
            )
            rm_count = sum(1 for s in spec.staff if s.role == Role.RM)
            assert month.filter(scope="rm").count() == rm_count
            assert month.filter(scope="branch").count() == Branch.objects.count()
            assert month.filter(scope="tenant").count() == 1
            # The trend's months read the demo's inputs: each RM's four weeks of hours.
            trend = KpiSnapshot.objects.filter(
                period="month", period_start__in=period_starts_back("month", today, 3)
            )
            for rm in rms():
                hours = sum(row.values["hours_logged"] for row in trend.filter(staff=rm))
                surveys = sum(row.values["surveys_count"] for row in trend.filter(staff=rm))
                assert hours == 160.0
                assert surveys == SatisfactionSurvey.objects.filter(staff=rm).count()
            bank = KpiSnapshot.objects.get(
                period="year", period_start=period_start("year", today), scope="tenant"
            )
            assert bank.values["vip_count"] > 0 and bank.values["book_aum_cny"] != "0.00"


def test_a_second_seed_the_same_day_adds_nothing(seeded):
    def counts():
        found = {}
        for slug in SLUGS:
            with tenant_context(Tenant.objects.get(slug=slug)):
                for model in INPUTS:
                    found[f"{slug}.{model.__name__}"] = model.objects.count()
        return found

    before = counts()
    again = seed()
    assert counts() == before
    assert "+0 time logs, +0 surveys, +0 complaints, +0 coaching notes, +0 KPI snapshots" in again


def test_the_kpi_demo_costs_the_same_statements_whatever_the_clients(seeded):
    spec = demo.DEMO_TENANTS[0]
    tenant = Tenant.objects.get(slug=spec.slug)

    def statements() -> int:
        with tenant_context(tenant):
            staff = {member.code: member for member in StaffProfile.objects.all()}
            today = tenant_today(tenant.pk)
            KpiSnapshot.objects.all().delete()  # every run then writes its rows
            with CaptureQueriesContext(connection) as captured:
                kpi_demo.kpi_seed(spec=spec, staff=staff, today=today)
        return len(captured)

    few = statements()
    with tenant_context(tenant):
        rm = StaffProfile.objects.select_related("branch").filter(role=Role.RM).first()
    for number in range(30):
        ClientFactory(
            tenant=tenant, external_id=f"KPI-EXTRA-{number}", branch=rm.branch, owner_rm=rm
        )
    assert statements() == few
