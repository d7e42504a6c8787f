"""The supervisor's branch dashboard (``kpi:branch``): the branch's figures with its
sub-branches, the ranking of its RMs and their figures, each a link to its drill-down,
the pipeline by step, the 70% rule per RM, the sub-branches compared, a coaching note
per RM; who sees which branch; the empty state; and the same queries for 3 RMs or 30."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import StaffFactory
from tests.kpi.builders import snapshot_row
from vipcrm.roles import Role

pytestmark = pytest.mark.django_db

NOVEMBER = {"period": "month", "start": "2026-11-01"}
D = datetime.date


def url(branch) -> str:
    return reverse("kpi:branch", args=[branch.pk])


@pytest.fixture
def month(bank_a):
    """北京分行 (city) with its sub-branch 朝阳 (rm and a colleague); 浦东 (other_rm)."""
    colleague = StaffFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, code="R3", name="钱进"
    )
    return {
        "city": snapshot_row(
            bank_a,
            branch=bank_a.city,
            total=66.0,
            rank=1,
            vip_count=30,
            book_aum_cny="98765432.10",
            vip_time_pct=68.5,
            open_at_step_1=4,
            open_at_step_3=2,
            conversion_1_pct=50.0,
            days_in_step_1=3.5,
        ),
        "sub": snapshot_row(bank_a, branch=bank_a.sub, total=66.0, rank=1, vip_count=30),
        "other_sub": snapshot_row(bank_a, branch=bank_a.other_sub, total=40.0, rank=2),
        "rm": snapshot_row(
            bank_a,
            staff=bank_a.rm,
            total=55.0,
            rank=2,
            vip_count=10,
            overdue_count=4,
            vip_time_pct=62.0,
            effective_service_ratio_pct=120.0,
            coverage_pct=75.0,
        ),
        "colleague": snapshot_row(
            bank_a, staff=colleague, total=77.0, rank=1, vip_count=20, vip_time_pct=81.0
        ),
        "other_rm": snapshot_row(bank_a, staff=bank_a.other_rm, total=40.0, rank=1),
    }


def test_a_supervisor_sees_their_branch_with_its_rms_ranked(login, english, bank_a, month):
    response = login(bank_a.supervisor).get(url(bank_a.city), NOVEMBER)
    assert response.status_code == 200
    board = response.context["board"]
    assert board.current.snapshot == month["city"]
    assert [r.snapshot for r in board.rms] == [month["colleague"], month["rm"]]
    assert [r.position for r in board.rms] == [1, 2]
    assert [r.snapshot for r in board.sub_branches] == [month["sub"]]
    page = response.content.decode()
    assert "98,765,432.10" in page and "钱进" in page
    assert "浦东" not in page  # another subtree's branch and RM
    assert "1 RM below 70% this period." in page
    for rm in (bank_a.rm, month["colleague"].staff):
        assert reverse("kpi:coaching", args=[rm.pk]) in page
        assert reverse("kpi:rm", args=[rm.pk]) in page


def test_each_rms_figures_link_to_their_drill_downs(login, english, bank_a, month):
    page = login(bank_a.supervisor).get(url(bank_a.city), NOVEMBER).content.decode()
    overdue = reverse("kpi:drill", args=["overdue_contacts"])
    assert f"{overdue}?scope=rm%3A{bank_a.rm.pk}&amp;period=month" in page
    steps = reverse("kpi:drill", args=["step_1"])
    assert f"{steps}?scope=branch%3A{bank_a.city.pk}&amp;period=month" in page


def test_the_charts_are_inline_svg_with_the_70_percent_target(login, english, bank_a, month):
    response = login(bank_a.supervisor).get(url(bank_a.city), NOVEMBER)
    vip_time = str(response.context["vip_time_chart"])
    assert vip_time.startswith("<svg") and "Target 70%" in vip_time
    assert "62.0%" in vip_time and "81.0%" in vip_time
    pipeline = str(response.context["pipeline_chart"])
    assert "1 Plan: 4" in pipeline  # the description lists every step
    page = response.content.decode()
    assert "<script" not in page.split("</head>")[1]  # no chart library in the body


def test_a_supervisor_opens_a_sub_branch_but_not_another_subtree(login, bank_a, month):
    http = login(bank_a.supervisor)
    sub = http.get(url(bank_a.sub), NOVEMBER)
    assert sub.status_code == 200
    assert sub.context["up_url"].startswith(url(bank_a.city))
    assert http.get(url(bank_a.other_sub), NOVEMBER).status_code == 404
    assert http.get(url(bank_a.head_office), NOVEMBER).status_code == 404


def test_head_office_opens_any_branch(login, bank_a, month):
    http = login(bank_a.head)
    for branch in (bank_a.head_office, bank_a.city, bank_a.other_sub):
        assert http.get(url(branch), NOVEMBER).status_code == 200
    assert http.get(url(bank_a.city), NOVEMBER).context["up_url"].startswith(reverse("kpi:bank"))


@pytest.mark.parametrize("who", ["rm", "advisor"])
def test_rms_and_advisors_have_no_branch_dashboard(who, login, bank_a, month):
    assert login(getattr(bank_a, who)).get(url(bank_a.sub), NOVEMBER).status_code == 404


def test_another_banks_branch_is_a_404(login, bank_a, bank_b, month):
    snapshot_row(bank_b, branch=bank_b.city, total=90.0)
    assert login(bank_a.head).get(url(bank_b.city), NOVEMBER).status_code == 404


def test_a_period_without_snapshots_says_so(login, english, bank_a, month):
    response = login(bank_a.supervisor).get(url(bank_a.city), {"period": "year"})
    assert response.status_code == 200
    assert "Figures are computed nightly; none yet for this period." in response.content.decode()


def test_the_trend_reads_the_branchs_earlier_months(login, bank_a, month):
    snapshot_row(
        bank_a, branch=bank_a.city, total=50.0, start=D(2026, 8, 1), book_aum_cny="90000000.00"
    )
    response = login(bank_a.supervisor).get(url(bank_a.city), NOVEMBER)
    trend = response.context["board"].trend
    assert [p.start.month for p in trend.periods] == [6, 7, 8, 9, 10, 11]
    assert [r and r.score for r in trend.rows] == [
        None,
        None,
        Decimal("50.00"),
        None,
        None,
        Decimal("66.00"),
    ]
    assert "90,000,000.00" in str(response.context["aum_chart"])


def test_the_dashboard_costs_the_same_queries_with_3_or_30_rms(
    login, bank_a, month, django_assert_max_num_queries
):
    third = StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM, code="R4")
    snapshot_row(bank_a, staff=third, total=60.0, rank=1)
    http = login(bank_a.supervisor)
    with CaptureQueriesContext(connection) as few:
        response = http.get(url(bank_a.city), NOVEMBER)
    assert len(response.context["board"].rms) == 3
    for n in range(27):
        rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, code=f"N{n}")
        snapshot_row(bank_a, staff=rm, total=float(n), vip_count=n)
        snapshot_row(bank_a, staff=rm, total=float(n), start=D(2026, 10, 1))
    with django_assert_max_num_queries(len(few)):
        response = http.get(url(bank_a.city), NOVEMBER)
    assert len(response.context["board"].rms) == 30
