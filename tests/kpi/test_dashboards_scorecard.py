"""The RM's scorecard (``kpi:rm``) and the Scorecard menu (``kpi:home``): who sees which
scorecard, what it shows (the total, the dimensions with every component, value, score
and formula, the rank in the branch, trends, the 70% rule, the effective service ratio),
the period picker, the empty state, and a fixed number of queries."""

import datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from kpi.dashboards import Position, metric_score
from kpi.definitions import METRICS, METRICS_BY_CODE
from kpi.models import KpiSnapshot
from kpi.services import kpi_snapshot_take
from tests.factories import (
    ClientFactory,
    InteractionFactory,
    ScorecardWeightsFactory,
    StaffFactory,
    TimeLogFactory,
)
from tests.kpi.builders import DIMENSIONS, snapshot_row
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

NOVEMBER = {"period": "month", "start": "2026-11-01"}
D = datetime.date


def card(bank, staff, *, total=None, **kwargs):
    """``staff``'s row; with a ``total``, the dimensions score 80, 60, 50, 40 and no feedback."""
    scores = {**dict.fromkeys(DIMENSIONS), "total": total}
    if total is not None:
        scores.update(results=80.0, process=60.0, tool_use=50.0, teamwork=40.0)
    return snapshot_row(bank, staff=staff, total=total, scores=scores, **kwargs)


def url(staff) -> str:
    return reverse("kpi:rm", args=[staff.pk])


@pytest.fixture
def november(bank_a):
    """rm's and a colleague's November rows (same branch), other_rm's (other branch)."""
    colleague = StaffFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, code="R3", name="同事"
    )
    return {
        "rm": card(
            bank_a,
            bank_a.rm,
            total=72.4,
            rank=2,
            vip_count=12,
            book_aum_cny="12345678.90",
            coverage_pct=83.3,
            overdue_count=3,
            vip_time_pct=64.0,
            hours_logged=150.5,
            effective_service_ratio_pct=112.5,
            satisfaction_avg=4.2,
            unqualified_vips=2,
        ),
        "colleague": card(bank_a, colleague, total=80.0, rank=1, vip_count=20, overdue_count=1),
        "other": card(bank_a, bank_a.other_rm, total=50.0, rank=1, vip_count=5, overdue_count=9),
    }


# --- Who sees which scorecard -----------------------------------------------------------


def test_an_rm_sees_their_own_scorecard(login, english, bank_a, november):
    response = login(bank_a.rm).get(url(bank_a.rm), NOVEMBER)
    assert response.status_code == 200
    page = response.content.decode()
    assert "My scorecard" in page
    assert "72.4" in page and "Rank 2 of 2 RMs in 朝阳支行" in page


def test_an_rm_gets_a_404_for_another_rms_scorecard(login, bank_a, november):
    http = login(bank_a.rm)
    assert http.get(url(bank_a.other_rm), NOVEMBER).status_code == 404
    assert http.get(url(november["colleague"].staff), NOVEMBER).status_code == 404


def test_a_supervisor_sees_the_rms_of_their_subtree_only(login, bank_a, november):
    http = login(bank_a.supervisor)
    assert http.get(url(bank_a.rm), NOVEMBER).status_code == 200
    assert http.get(url(bank_a.other_rm), NOVEMBER).status_code == 404  # 浦东, not under 北京


def test_head_office_sees_any_rm(login, bank_a, november):
    http = login(bank_a.head)
    assert http.get(url(bank_a.rm), NOVEMBER).status_code == 200
    assert http.get(url(bank_a.other_rm), NOVEMBER).status_code == 200


@pytest.mark.parametrize("who", ["advisor", "rm", "head"])
def test_what_is_not_an_rm_has_no_scorecard(who, login, bank_a, november):
    """An advisor opens no scorecard; nor is anyone's but an RM's a scorecard."""
    viewer = getattr(bank_a, who)
    target = bank_a.rm if who == "advisor" else bank_a.advisor
    assert login(viewer).get(url(target)).status_code == 404


def test_another_banks_rm_is_a_404_even_for_head_office(login, bank_a, bank_b):
    card(bank_b, bank_b.rm, total=90.0)
    assert login(bank_a.head).get(url(bank_b.rm), NOVEMBER).status_code == 404


# --- What it shows ----------------------------------------------------------------------


def test_the_scorecard_shows_every_component_with_its_value_score_and_formula(
    login, english, bank_a, november
):
    response = login(bank_a.head).get(url(bank_a.rm), NOVEMBER)
    dimensions = {d.code: d for d in response.context["card"].dimensions}
    assert list(dimensions) == ["results", "process", "tool_use", "teamwork", "feedback"]
    assert (dimensions["results"].weight, dimensions["results"].score) == (40, 80.0)
    shown = [c.metric.code for d in dimensions.values() for c in d.components]
    assert shown == [m.code for m in METRICS if m.dimension in dimensions]
    components = {c.metric.code: c for d in dimensions.values() for c in d.components}
    assert components["coverage_pct"].score == 83.3  # percent: the value itself
    assert components["vip_time_pct"].score_text == "91.4"  # target: 64 / 70
    assert components["satisfaction_avg"].score == pytest.approx(80.0)  # (4.2 − 1) / 4
    assert components["vip_count"].position == Position(better=1, ranked=3)
    assert components["vip_count"].score == 50.0  # second of three
    assert components["overdue_count"].position == Position(better=1, ranked=3)  # fewer: better
    page = response.content.decode()
    assert escape(str(METRICS_BY_CODE["coverage_pct"].formula)) in page
    assert "12,345,678.90" in page and "83.3%" in page
    assert "Below 70%" in page and "Overloaded" in page


def test_each_figure_links_to_its_drill_down(login, english, bank_a, november):
    page = login(bank_a.rm).get(url(bank_a.rm), NOVEMBER).content.decode()
    overdue = reverse("kpi:drill", args=["overdue_contacts"])
    assert (
        f'href="{overdue}?scope=rm%3A{bank_a.rm.pk}&amp;period=month&amp;start=2026-11-01'
        '&amp;metric=overdue_count"' in page
    )


def test_the_weights_shown_are_the_banks(login, bank_a, november):
    ScorecardWeightsFactory(
        tenant=bank_a.tenant, results=30, process=30, tool_use=10, teamwork=10, feedback=20
    )
    response = login(bank_a.rm).get(url(bank_a.rm), NOVEMBER)
    weights = {d.code: d.weight for d in response.context["card"].dimensions}
    assert weights == {
        "results": 30,
        "process": 30,
        "tool_use": 10,
        "teamwork": 10,
        "feedback": 20,
    }


def test_trends_cover_the_last_six_months_and_four_quarters(login, english, bank_a, november):
    card(bank_a, bank_a.rm, total=61.0, start=D(2026, 9, 1))
    card(bank_a, bank_a.rm, total=55.5, start=D(2026, 7, 1), period="quarter")
    card(bank_a, bank_a.rm, total=20.0, start=D(2026, 5, 1))  # seven months back: not shown
    response = login(bank_a.rm).get(url(bank_a.rm), NOVEMBER)
    scorecard = response.context["card"]
    assert [p.start for p in scorecard.months.periods] == [
        D(2026, 6, 1),
        D(2026, 7, 1),
        D(2026, 8, 1),
        D(2026, 9, 1),
        D(2026, 10, 1),
        D(2026, 11, 1),
    ]
    assert [row and row.score for row in scorecard.months.rows] == [
        None,
        None,
        None,
        Decimal("61.00"),
        None,
        Decimal("72.40"),
    ]
    assert [row and row.score for row in scorecard.quarters.rows] == [
        None,
        None,
        Decimal("55.50"),
        None,
    ]
    chart = str(response.context["months_chart"])
    assert chart.startswith("<svg") and "72.4" in chart and "61.0" in chart
    assert "20.0" not in chart


def test_a_period_without_a_snapshot_says_so(login, english, bank_a, november):
    response = login(bank_a.rm).get(url(bank_a.rm), {"period": "month", "start": "2026-08-01"})
    assert response.status_code == 200
    assert "Figures are computed nightly; none yet for this period." in response.content.decode()
    assert response.context["card"].current is None


def test_the_period_picker_takes_any_day_of_the_period(login, bank_a, november):
    quarter = card(bank_a, bank_a.rm, total=66.0, start=D(2026, 10, 1), period="quarter")
    response = login(bank_a.rm).get(url(bank_a.rm), {"period": "quarter", "start": "2026-11-17"})
    assert response.context["card"].current.snapshot == quarter
    assert response.context["period"].start == D(2026, 10, 1)
    month = login(bank_a.rm).get(url(bank_a.rm), {"period": "month", "start": "2026-11"})
    assert month.context["card"].current.snapshot == november["rm"]


def test_a_bad_period_shows_its_error_and_the_current_month(login, english, bank_a, november):
    response = login(bank_a.rm).get(url(bank_a.rm), {"period": "decade", "start": "1890-01-01"})
    assert response.status_code == 200
    form = response.context["period_form"]
    assert set(form.errors) == {"period", "start"}
    assert "Please correct the period below." in response.content.decode()
    assert response.context["period"].kind == "month"


def test_the_scorecard_costs_the_same_queries_for_a_small_or_a_large_bank(
    login, bank_a, november, django_assert_max_num_queries
):
    http = login(bank_a.supervisor)
    with CaptureQueriesContext(connection) as few:
        http.get(url(bank_a.rm), NOVEMBER)
    for n in range(25):
        rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, code=f"N{n}")
        card(bank_a, rm, total=float(n), vip_count=n)
        card(bank_a, rm, total=float(n), start=D(2026, 10, 1))
    with django_assert_max_num_queries(len(few)):
        response = http.get(url(bank_a.rm), NOVEMBER)
    assert response.context["card"].peers == 27


def test_component_scores_average_to_the_dimension_scores_the_engine_stored(
    login, bank_a, november
):
    """On rows the engine computed: every dimension's score is the mean of its scored
    components as the scorecard shows them (the same rules, read back)."""
    with tenant_context(bank_a.tenant):
        KpiSnapshot.objects.all().delete()
        for n, rm in enumerate([bank_a.rm, bank_a.other_rm]):
            client = ClientFactory(tenant=bank_a.tenant, branch=rm.branch, owner_rm=rm)
            for k in range(n + 1):
                InteractionFactory(
                    tenant=bank_a.tenant,
                    client=client,
                    staff=rm,
                    occurred_at=datetime.datetime(2026, 10, 5 + k, 3, tzinfo=datetime.UTC),
                )
            TimeLogFactory(tenant=bank_a.tenant, staff=rm, date=D(2026, 10, 6), hours=5 + n)
            TimeLogFactory(
                tenant=bank_a.tenant, staff=rm, date=D(2026, 10, 6), kind="admin", hours=3
            )
        kpi_snapshot_take(period="month", start=D(2026, 10, 1))
    response = login(bank_a.head).get(url(bank_a.rm), {"period": "month", "start": "2026-10-01"})
    for dimension in response.context["card"].dimensions:
        scored = [c.score for c in dimension.components if c.score is not None]
        if dimension.score is None:
            assert not scored
        else:
            mean = Decimal(sum(scored) / len(scored)).quantize(Decimal("0.1"), ROUND_HALF_UP)
            assert float(mean) == dimension.score


def test_the_job_stores_the_positions_the_scorecard_would_count(login, bank_a):
    """The snapshot job stores each RM's positions with the row (ties share the better
    position); they are what the aggregate over the period's rows counts, and the
    scorecard reads them instead of running it."""
    from kpi.dashboards import rank_positions, stored_positions

    with tenant_context(bank_a.tenant):
        team = [bank_a.rm, bank_a.other_rm]
        team += [
            StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, code=f"T{n}")
            for n in range(3)
        ]
        for n, rm in enumerate(team):
            for _ in range([2, 0, 2, 1, 3][n]):  # a tie for the second place, one with none
                client = ClientFactory(tenant=bank_a.tenant, branch=rm.branch, owner_rm=rm)
                InteractionFactory(
                    tenant=bank_a.tenant,
                    client=client,
                    staff=rm,
                    occurred_at=datetime.datetime(2026, 10, 5, 3, tzinfo=datetime.UTC),
                )
        kpi_snapshot_take(period="month", start=D(2026, 10, 1))
        rows = {row.staff_id: row for row in KpiSnapshot.objects.filter(scope="rm")}
        for row in rows.values():
            assert stored_positions(row) == rank_positions(row)
        positions, peers = stored_positions(rows[bank_a.rm.pk])
    assert positions["interactions_logged"] == Position(better=1, ranked=5)
    assert peers == 4  # rm and the three in the same sub-branch
    assert stored_positions(rows[team[4].pk])[0]["interactions_logged"] == Position(0, 5)
    with CaptureQueriesContext(connection) as queries:
        response = login(bank_a.head).get(
            url(bank_a.rm), {"period": "month", "start": "2026-10-01"}
        )
    assert response.status_code == 200
    assert not [q for q in queries if "COUNT(" in q["sql"] and "kpi_kpisnapshot" in q["sql"]]
    assert response.context["card"].peers == 4


@pytest.mark.parametrize(
    ("code", "value", "position", "score"),
    [
        ("coverage_pct", 120.0, None, 100.0),
        ("coverage_pct", None, None, None),
        ("vip_time_pct", 35.0, None, pytest.approx(50.0)),
        ("satisfaction_avg", 1.0, None, 0.0),
        ("vip_count", 3, Position(better=0, ranked=1), 100.0),
        ("vip_count", 3, Position(better=3, ranked=4), 0.0),
        ("vip_count", 3, Position(better=1, ranked=4), pytest.approx(66.67, abs=0.01)),
        ("book_aum_cny", "1.00", None, None),  # shown, not scored
    ],
)
def test_a_components_score_follows_its_metrics_scoring(code, value, position, score):
    assert metric_score(METRICS_BY_CODE[code], value, position) == score


# --- The Scorecard menu -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "target"),
    [("rm", "rm"), ("supervisor", "branch"), ("head", "bank")],
)
def test_the_scorecard_menu_opens_each_roles_own_scope(who, target, login, english, bank_a):
    viewer = getattr(bank_a, who)
    response = login(viewer).get(reverse("kpi:home"), {"period": "quarter"})
    expected = {
        "rm": reverse("kpi:rm", args=[bank_a.rm.pk]),
        "branch": reverse("kpi:branch", args=[bank_a.city.pk]),
        "bank": reverse("kpi:bank"),
    }[target]
    assert response.status_code == 302
    assert response.url == f"{expected}?period=quarter"
    menu = {str(i["label"]): i for i in login(viewer).get(response.url).context["nav_items"]}
    assert menu["Scorecard"]["active"]


def test_an_advisor_learns_that_scorecards_are_the_rms(login, english, bank_a):
    response = login(bank_a.advisor).get(reverse("kpi:home"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Scorecards measure relationship managers" in page
    assert f'class="btn btn--primary" href="{reverse("kpi:time")}"' in page
