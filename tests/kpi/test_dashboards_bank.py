"""Head office's pages: the bank dashboard (``kpi:bank``: the bank's figures, its
branches compared as their tree, each with its trend) and the scorecard weights
(``kpi:weights``: whole percents summing to 100, through ``scorecard_weights_set``,
audited); nobody else opens them."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kpi.models import ScorecardWeights
from tests.factories import BranchFactory, ScorecardWeightsFactory
from tests.kpi.builders import snapshot_row
from vipcrm.models import AuditEntry
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

BANK = reverse("kpi:bank")
WEIGHTS = reverse("kpi:weights")
NOVEMBER = {"period": "month", "start": "2026-11-01"}
D = datetime.date


@pytest.fixture
def month(bank_a):
    return {
        "tenant": snapshot_row(bank_a, vip_count=120, book_aum_cny="500000000.00"),
        "head_office": snapshot_row(bank_a, branch=bank_a.head_office, total=60.0, rank=1),
        "city": snapshot_row(bank_a, branch=bank_a.city, total=55.0, rank=2),
        "sub": snapshot_row(bank_a, branch=bank_a.sub, total=55.0, rank=1),
        "other_sub": snapshot_row(bank_a, branch=bank_a.other_sub, total=70.0, rank=1),
    }


def test_head_office_compares_the_branches_as_their_tree(login, english, bank_a, month):
    response = login(bank_a.head).get(BANK, NOVEMBER)
    assert response.status_code == 200
    board = response.context["board"]
    assert board.current.snapshot == month["tenant"]
    order = [(r.view.snapshot.branch.code, r.depth, r.view.position) for r in board.branches]
    # Under the head office: 浦东 (rank 1) before 北京 (rank 2), 朝阳 under 北京.
    assert order == [("HQ", 0, 1), ("SH01", 1, 1), ("BJ", 1, 2), ("BJ01", 2, 1)]
    page = response.content.decode()
    assert "500,000,000.00" in page
    assert reverse("kpi:branch", args=[bank_a.other_sub.pk]) in page
    assert WEIGHTS in page


def test_each_branch_has_its_score_trend(login, bank_a, month):
    snapshot_row(bank_a, branch=bank_a.city, total=35.0, start=D(2026, 9, 1))
    response = login(bank_a.head).get(BANK, NOVEMBER)
    city = next(
        r for r in response.context["board"].branches if r.view.snapshot.branch == bank_a.city
    )
    assert [r and r.score for r in city.trend.rows][-3:] == [
        Decimal("35.00"),
        None,
        Decimal("55.00"),
    ]
    assert str(city.sparkline).startswith('<svg class="sparkline"')


@pytest.mark.parametrize("who", ["supervisor", "rm", "advisor"])
def test_only_head_office_opens_the_bank_dashboard_and_the_weights(who, login, bank_a, month):
    http = login(getattr(bank_a, who))
    assert http.get(BANK, NOVEMBER).status_code == 404
    assert http.get(WEIGHTS).status_code == 404
    assert http.post(WEIGHTS, {"results": 100}).status_code == 404


def test_the_bank_dashboard_shows_no_other_banks_rows(login, english, bank_a, bank_b, month):
    branch = BranchFactory(tenant=bank_b.tenant, name="乙行机密支行", parent=bank_b.head_office)
    snapshot_row(bank_b, branch=branch, total=99.0, rank=1)
    page = login(bank_a.head).get(BANK, NOVEMBER).content.decode()
    assert "乙行机密支行" not in page


def test_the_bank_dashboard_costs_the_same_queries_for_few_or_many_branches(
    login, bank_a, month, django_assert_max_num_queries
):
    http = login(bank_a.head)
    with CaptureQueriesContext(connection) as few:
        http.get(BANK, NOVEMBER)
    for n in range(15):
        branch = BranchFactory(tenant=bank_a.tenant, code=f"X{n}", parent=bank_a.city)
        snapshot_row(bank_a, branch=branch, total=float(n), rank=n + 1)
        snapshot_row(bank_a, branch=branch, total=float(n), start=D(2026, 10, 1))
    with django_assert_max_num_queries(len(few)):
        response = http.get(BANK, NOVEMBER)
    assert len(response.context["board"].branches) == 19


def test_a_month_without_the_banks_row_says_so(login, english, bank_a, month):
    response = login(bank_a.head).get(BANK, {"period": "month", "start": "2026-07-01"})
    assert "Figures are computed nightly; none yet for this period." in response.content.decode()


# --- Weights ------------------------------------------------------------------------------


def test_head_office_sees_the_weights_in_force(login, bank_a):
    response = login(bank_a.head).get(WEIGHTS)
    assert response.status_code == 200
    assert response.context["form"].initial == {
        "results": 40,
        "process": 25,
        "tool_use": 10,
        "teamwork": 10,
        "feedback": 15,
    }


def test_head_office_sets_the_weights_and_it_is_audited(login, english, bank_a):
    ScorecardWeightsFactory(tenant=bank_a.tenant)
    data = {"results": 30, "process": 30, "tool_use": 15, "teamwork": 10, "feedback": 15}
    response = login(bank_a.head).post(WEIGHTS, data)
    assert response.status_code == 302 and response.url == WEIGHTS
    with tenant_context(bank_a.tenant):
        weights = ScorecardWeights.objects.get()
        entry = AuditEntry.objects.get(object_type="kpi.scorecardweights")
    assert (weights.results, weights.process, weights.tool_use) == (30, 30, 15)
    assert entry.action == "update" and entry.detail["results"] == [40, 30]
    follow = login(bank_a.head).get(WEIGHTS)
    assert "Scores follow them from the next nightly computation." in follow.content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"results": 50, "process": 30, "tool_use": 10, "teamwork": 10, "feedback": 10},
            "__all__",
            "The weights add up to 110%; they must add up to 100%.",
        ),
        (
            {"results": 101, "process": 0, "tool_use": 0, "teamwork": 0, "feedback": 0},
            "results",
            "Ensure this value is less than or equal to 100.",
        ),
        (
            {"results": "forty", "process": 25, "tool_use": 10, "teamwork": 10, "feedback": 15},
            "results",
            "Enter a whole number.",
        ),
        (
            {"process": 25, "tool_use": 10, "teamwork": 10, "feedback": 15},
            "results",
            "This field is required.",
        ),
    ],
)
def test_bad_weights_are_refused_on_the_form_and_nothing_is_written(
    data, field, message, login, english, bank_a
):
    response = login(bank_a.head).post(WEIGHTS, data)
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert message in response.content.decode().replace("&#x27;", "'")
    with tenant_context(bank_a.tenant):
        assert not ScorecardWeights.objects.exists()
        assert not AuditEntry.objects.filter(object_type="kpi.scorecardweights").exists()
