"""Scores of the snapshots: each scoring rule, the dimensions, the weighted total with
the bank's weights, rankings with ties (metric ranks, ``rank_in_branch`` for RMs and
sibling branches), and setting the weights.

October 2026. Besides rm (R1, BJ01) and other_rm (R2, SH01): rm3 and rm4 in BJ01. In
every test nothing happens but what the test adds, so every ranked count ties at 0
(100 for everyone) unless the test says otherwise.
"""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError

from kpi.models import KpiSnapshot, ScorecardWeights, TimeLog
from kpi.services import kpi_snapshot_take, scorecard_weights, scorecard_weights_set
from tests.factories import (
    ClientFactory,
    InteractionFactory,
    ScorecardWeightsFactory,
    StaffFactory,
    TimeLogFactory,
)
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor, Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

OCTOBER = datetime.date(2026, 10, 1)


@pytest.fixture
def team(bank_a):
    """Interactions logged in October: rm 3, rm3 3, rm4 1, other_rm 0; an inactive RM
    and the advisor log some too."""
    t = bank_a.tenant
    rm3 = StaffFactory(tenant=t, branch=bank_a.sub, role=Role.RM)
    rm4 = StaffFactory(tenant=t, branch=bank_a.sub, role=Role.RM)
    gone = StaffFactory(tenant=t, branch=bank_a.sub, role=Role.RM, is_active=False)
    client = ClientFactory(tenant=t, branch=bank_a.sub, owner_rm=bank_a.rm)
    for staff, count in ((bank_a.rm, 3), (rm3, 3), (rm4, 1), (gone, 9), (bank_a.advisor, 9)):
        for day in range(count):
            InteractionFactory(
                tenant=t,
                client=client,
                staff=staff,
                occurred_at=datetime.datetime(2026, 10, 10 + day, 2, tzinfo=datetime.UTC),
            )
    return {"rm": bank_a.rm, "rm3": rm3, "rm4": rm4, "other": bank_a.other_rm, "gone": gone}


def take(bank) -> dict[str, KpiSnapshot]:
    with tenant_context(bank.tenant):
        kpi_snapshot_take(period="month", start=OCTOBER)
        rows = KpiSnapshot.objects.filter(period="month", period_start=OCTOBER)
        return {row.scope_key: row for row in rows}


def rm_row(rows, staff) -> KpiSnapshot:
    return rows[f"rm:{staff.pk}"]


def test_only_active_rms_have_rows(bank_a, team):
    rows = take(bank_a)
    rm_keys = {key for key, row in rows.items() if row.scope == KpiSnapshot.Scope.RM}
    assert rm_keys == {f"rm:{team[name].pk}" for name in ("rm", "rm3", "rm4", "other")}


def test_ranked_metrics_score_by_position_ties_sharing_the_better_one(bank_a, team):
    """Interactions 3, 3, 1, 0 among the bank's four RMs: positions 0, 0, 2, 3 of 3 →
    100, 100, 33.3, 0; plans updated and proposals tie at 0: 100 each."""
    rows = take(bank_a)
    tool_use = {name: rm_row(rows, staff).scores["tool_use"] for name, staff in team.items()
                if name != "gone"}  # fmt: skip
    assert tool_use == {"rm": 100.0, "rm3": 100.0, "rm4": 77.8, "other": 66.7}


def test_total_is_the_weighted_mean_of_the_dimensions(bank_a, team):
    """Default weights 40/25/10/10/15; every other dimension scores 100."""
    rows = take(bank_a)
    rm4 = rm_row(rows, team["rm4"])
    assert rm4.scores == {
        "results": 100.0,
        "process": 100.0,
        "tool_use": 77.8,
        "teamwork": 100.0,
        "feedback": 100.0,
        "total": 97.8,
    }
    assert rm4.score == Decimal("97.78")  # 40 + 25 + 10 × 77.78% + 10 + 15
    assert rm_row(rows, team["other"]).score == Decimal("96.67")


def test_the_banks_weights_change_the_total(bank_a, team):
    ScorecardWeightsFactory(
        tenant=bank_a.tenant, results=10, process=10, tool_use=60, teamwork=10, feedback=10
    )
    rows = take(bank_a)
    assert rm_row(rows, team["rm4"]).score == Decimal("86.67")  # 40 + 60 × 77.78%
    assert rm_row(rows, team["other"]).score == Decimal("80.00")  # 40 + 60 × 66.67%
    assert rm_row(rows, team["rm"]).score == Decimal("100.00")


def test_a_zero_weight_leaves_its_dimension_out_of_the_total(bank_a, team):
    ScorecardWeightsFactory(
        tenant=bank_a.tenant, results=50, process=50, tool_use=0, teamwork=0, feedback=0
    )
    rows = take(bank_a)
    rm4 = rm_row(rows, team["rm4"])
    assert rm4.scores["tool_use"] == 77.8  # still shown
    assert rm4.score == Decimal("100.00")


def test_rank_in_branch_among_the_rms_of_the_branch_ties_sharing(bank_a, team):
    rows = take(bank_a)
    assert rm_row(rows, team["rm"]).rank_in_branch == 1
    assert rm_row(rows, team["rm3"]).rank_in_branch == 1
    assert rm_row(rows, team["rm4"]).rank_in_branch == 3
    assert rm_row(rows, team["other"]).rank_in_branch == 1  # alone in SH01


def test_branches_rank_among_their_siblings(bank_a, team):
    """Under the head office: the city branch (its sub-branch's interactions) and
    SH01 (none)."""
    rows = take(bank_a)
    city, other_sub = rows[f"branch:{bank_a.city.pk}"], rows[f"branch:{bank_a.other_sub.pk}"]
    assert (city.scores["tool_use"], other_sub.scores["tool_use"]) == (100.0, 66.7)
    assert (city.rank_in_branch, other_sub.rank_in_branch) == (1, 2)
    assert city.score == Decimal("100.00")
    # Alone among their siblings: the sub-branch and the head office itself.
    assert rows[f"branch:{bank_a.sub.pk}"].rank_in_branch == 1
    assert rows[f"branch:{bank_a.head_office.pk}"].rank_in_branch == 1
    assert rows[f"branch:{bank_a.sub.pk}"].scores["tool_use"] == 100.0


def test_the_bank_row_has_figures_and_no_score(bank_a, team):
    tenant = take(bank_a)["tenant"]
    # The RMs' work, also of the RM who left since (9): not the advisor's.
    assert tenant.values["interactions_logged"] == 16
    assert (tenant.scores, tenant.score, tenant.rank_in_branch) == ({}, None, None)


def test_target_scoring_against_70_percent_capped_at_100(bank_a, team):
    """rm: 3.5 of 10 hours on VIP service (35%) → 50; rm3: 8 of 10 (80%) → 100, capped.
    Process: the mean with the overdue count's 100."""
    t = bank_a.tenant
    for staff, vip, admin in ((team["rm"], "3.5", "6.5"), (team["rm3"], "8", "2")):
        day = datetime.date(2026, 10, 12)
        TimeLogFactory(tenant=t, staff=staff, date=day, hours=Decimal(vip))
        TimeLogFactory(tenant=t, staff=staff, date=day, kind=TimeLog.Kind.ADMIN, hours=admin)
    rows = take(bank_a)
    assert rm_row(rows, team["rm"]).scores["process"] == 75.0
    assert rm_row(rows, team["rm3"]).scores["process"] == 100.0
    assert rm_row(rows, team["rm"]).score == Decimal("93.75")  # 40 + 25 × 75% + 10 + 10 + 15
    assert rm_row(rows, team["rm"]).scores["total"] == 93.8


# --- The weights ------------------------------------------------------------------------------


def test_the_default_weights_are_unsaved_until_head_office_sets_them(bank_a):
    with tenant_context(bank_a.tenant):
        weights = scorecard_weights()
    assert weights.pk is None
    assert (weights.results, weights.process, weights.tool_use) == (40, 25, 10)
    assert (weights.teamwork, weights.feedback) == (10, 15)


def test_head_office_sets_the_weights_once_per_bank_audited(bank_a, bank_b):
    actor = Actor.for_staff(bank_a.head)
    with tenant_context(bank_a.tenant):
        first = scorecard_weights_set(
            actor=actor, results=30, process=30, tool_use=20, teamwork=10, feedback=10
        )
        second = scorecard_weights_set(
            actor=actor, results=30, process=30, tool_use=10, teamwork=10, feedback=20
        )
        assert second.pk == first.pk
        assert ScorecardWeights.objects.count() == 1
        stored = scorecard_weights()
        entries = list(AuditEntry.objects.filter(object_type="kpi.scorecardweights").order_by("id"))
    assert (stored.tool_use, stored.feedback) == (10, 20)
    assert [entry.action for entry in entries] == ["create", "update"]
    assert entries[1].detail["tool_use"] == [20, 10]
    assert entries[1].actor == bank_a.head.user
    with tenant_context(bank_b.tenant):
        assert scorecard_weights().pk is None


@pytest.mark.parametrize("who", ["rm", "supervisor", "advisor"])
def test_only_head_office_sets_the_weights(bank_a, who):
    actor = Actor.for_staff(getattr(bank_a, who))
    with tenant_context(bank_a.tenant), pytest.raises(PermissionDenied):
        scorecard_weights_set(
            actor=actor, results=20, process=20, tool_use=20, teamwork=20, feedback=20
        )


def test_an_integration_token_does_not_set_the_weights(bank_a):
    token = Actor(tenant_id=bank_a.tenant.pk, scopes=frozenset({"read", "write"}))
    with tenant_context(bank_a.tenant), pytest.raises(PermissionDenied):
        scorecard_weights_set(
            actor=token, results=20, process=20, tool_use=20, teamwork=20, feedback=20
        )


@pytest.mark.parametrize(
    ("weights", "errors"),
    [
        ({"results": 40, "process": 20}, {NON_FIELD_ERRORS}),  # 95 in all
        ({"results": 101, "process": -1}, {"results", "process"}),
        ({"teamwork": "ten"}, {"teamwork"}),
        ({"feedback": 15.5}, {"feedback"}),
        ({"feedback": True}, {"feedback"}),
        ({"results": None}, {"results"}),
    ],
)
def test_bad_weights_are_refused_by_field_and_nothing_is_written(bank_a, weights, errors):
    given = {"results": 40, "process": 25, "tool_use": 10, "teamwork": 10, "feedback": 15}
    given.update(weights)
    with tenant_context(bank_a.tenant):
        with pytest.raises(ValidationError) as refused:
            scorecard_weights_set(actor=Actor.for_staff(bank_a.head), **given)
        assert not ScorecardWeights.objects.exists()
        assert not AuditEntry.objects.filter(object_type="kpi.scorecardweights").exists()
    assert set(refused.value.message_dict) == errors


def test_weights_given_as_text_digits_are_accepted(bank_a):
    with tenant_context(bank_a.tenant):
        weights = scorecard_weights_set(
            actor=Actor.for_staff(bank_a.head),
            results="50",
            process=" 20 ",
            tool_use="10",
            teamwork="10",
            feedback="10",
        )
    assert (weights.results, weights.process) == (50, 20)
