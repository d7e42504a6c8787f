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
    assert len(response.context["board"].rm_rows) == 30
    assert len(response.context["board"].rms) == 25  # a page


# --- A large branch: pages of RMs, sorted by any figure -----------------------------------


@pytest.fixture
def large_branch(bank_a, month):
    """30 more RMs in 朝阳: N00 … N29 with total n, overdue 29 − n, coverage n (N07 none),
    time on VIP service 3n %."""
    made = {}
    for n in range(30):
        rm = StaffFactory(
            tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, code=f"N{n:02}", name=f"N{n:02}"
        )
        made[n] = snapshot_row(
            bank_a,
            staff=rm,
            total=float(n),
            overdue_count=29 - n,
            coverage_pct=None if n == 7 else float(n),
            vip_time_pct=3.0 * n,
        )
    return made


def names(response) -> list[str]:
    return [row.snapshot.staff.name for row in response.context["board"].rms]


def test_a_large_branch_lists_its_rms_a_page_at_a_time_in_ranking_order(
    login, english, bank_a, large_branch
):
    http = login(bank_a.supervisor)
    first = http.get(url(bank_a.city), NOVEMBER)
    board = first.context["board"]
    assert len(board.rm_rows) == 32 and len(board.rms) == 25
    assert names(first)[:3] == ["钱进", board.rms[1].snapshot.staff.name, "N29"]
    assert [row.position for row in board.rms] == list(range(1, 26))
    page = first.content.decode()
    assert "1–25 of 32 RMs" in page and "Page 1 of 2" in page
    second = http.get(url(bank_a.city), {**NOVEMBER, "page": 2})
    assert [row.position for row in second.context["board"].rms] == list(range(26, 33))
    assert names(second)[-1] == "N00"


def test_sorting_by_a_figure_keeps_each_rms_rank_and_puts_missing_figures_last(
    login, bank_a, large_branch
):
    http = login(bank_a.supervisor)
    most_overdue = http.get(url(bank_a.city), {**NOVEMBER, "sort": "-overdue_count"})
    assert names(most_overdue)[:3] == ["N00", "N01", "N02"]
    assert most_overdue.context["board"].rms[0].position == 32  # still last by score
    least_covered = http.get(url(bank_a.city), {**NOVEMBER, "sort": "coverage_pct"})
    assert names(least_covered)[:2] == ["N00", "N01"]
    last_page = http.get(url(bank_a.city), {**NOVEMBER, "sort": "coverage_pct", "page": 2})
    assert names(last_page)[-1] == "N07"  # no coverage: last
    by_name = http.get(url(bank_a.city), {**NOVEMBER, "sort": "name"})
    assert names(by_name)[:2] == ["N00", "N01"]


def test_the_sort_links_toggle_and_mark_the_column_sorted(login, bank_a, large_branch):
    http = login(bank_a.supervisor)
    links = http.get(url(bank_a.city), {**NOVEMBER, "sort": "-overdue_count"}).context["sort_links"]
    assert links["overdue_count"]["aria_sort"] == "descending"
    assert "sort=overdue_count" in links["overdue_count"]["url"]  # next click: ascending
    assert links["coverage_pct"]["aria_sort"] == "none"
    assert "sort=-coverage_pct" in links["coverage_pct"]["url"]
    assert links["score"]["aria_sort"] == "none"
    page = http.get(url(bank_a.city), {**NOVEMBER, "sort": "-overdue_count", "page": 1})
    assert "sort=-overdue_count&amp;period=month&amp;start=2026-11-01&amp;page=2" in (
        page.content.decode()
    )


@pytest.mark.parametrize(
    "query", [{"sort": "values"}, {"sort": "-name"}, {"page": "x"}, {"page": "99"}, {"page": "-1"}]
)
def test_a_bad_sort_or_page_falls_back_instead_of_failing(query, login, bank_a, large_branch):
    response = login(bank_a.supervisor).get(url(bank_a.city), {**NOVEMBER, **query})
    assert response.status_code == 200
    assert response.context["board"].rms


def test_a_large_branchs_70_percent_chart_counts_its_rms_per_band(
    login, english, bank_a, large_branch
):
    """Over 20 RMs: how many fall in each 10-point band (3n % for N00–N29, 钱进 81%,
    rm 62%), the bands below 70% linking to the RMs sorted by their time."""
    response = login(bank_a.supervisor).get(url(bank_a.city), NOVEMBER)
    bands = response.context["board"].vip_time_bands
    assert bands[0] == (0, 10, 4)  # 0, 3, 6, 9
    assert bands[6] == (60, 70, 5)  # 60, 63, 66, 69 and rm's 62
    assert bands[8] == (80, 90, 4)  # 81, 84, 87 and 钱进's 81
    assert sum(count for _low, _high, count in bands) == 32
    chart = str(response.context["vip_time_chart"])
    assert "RMs by share of time on VIP service" in chart and "4 RMs" in chart
    assert "sort=vip_time_pct" in chart
    assert "25 RMs below 70% this period." in response.content.decode()  # N00–N23, rm
