"""Reads of the KPI dashboards: ``KpiSnapshot`` rows only, never the raw tables.

The nightly job (``kpi.services.kpi_snapshot_take``) writes one row per scope (an RM, a
branch with its sub-branches, the bank) and period (a month, a quarter, a year); every
page here reads those rows and nothing else, so a page costs the same whatever the
number of clients, contacts or opportunities behind its figures.

Pages and who sees them (``vipcrm.roles``; a scope out of reach is the same 404 as one
that does not exist):

- **Scorecard** of an RM (``rm_scorecard``): the total and the five dimension scores,
  each dimension's components (value, score, formula), the rank in the RM's branch,
  trends over the last 6 months and 4 quarters, the 70% rule and the effective service
  ratio. An RM sees their own; a supervisor the RMs of their branch subtree; head
  office any RM.
- **Branch dashboard** (``branch_dashboard``): the branch's figures (its clients and
  those of its sub-branches), the ranking of its RMs with their figures, the
  sub-branches compared, the pipeline by step, trends. Supervisors their branch
  subtree; head office any branch.
- **Bank dashboard** (``bank_dashboard``): the bank's figures and its branches
  compared, with their trends. Head office only.

A scorecard component's **score** follows ``kpi.definitions`` as the snapshot job
scores it (``kpi.services``): ``percent``, ``target`` and ``satisfaction`` from the
value itself; ``rank`` and ``inverse_rank`` from the position among the bank's RMs for
the same period — the rows with a value and those with a better one, which the job
stores with each RM's row (``stored_positions``; ``rank_positions`` counts them in one
aggregate over the period's RM rows for a row taken before). Branches show their
dimension scores, as stored.

Costs are fixed whatever the number of rows: the scorecard reads its rows (this period's
and the trends') in one query, with the positions the job stored (an aggregate over the
period's RM rows for a row taken before it stored them); the branch dashboard
reads the branch's rows, its RMs' and its sub-branches' in three; the bank dashboard
its own rows, its branches' of the period and their scores over the trend in three;
each also finds its scope (the RM or the branch, and the branch tree) and the bank's
weights.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, F, FloatField, Q, QuerySet, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import conditional_escape, format_html
from django.utils.translation import gettext

from kpi import definitions
from kpi.definitions import DIMENSIONS, METRICS, METRICS_BY_CODE, VIP_TIME_TARGET, Metric
from kpi.models import KpiSnapshot, ScorecardWeights
from kpi.periods import period_bounds, period_starts_back
from sales_pipeline.models import Step
from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import Actor, Role, branch_subtree_ids, visible_to

Period = KpiSnapshot.Period
Scope = KpiSnapshot.Scope

TREND_MONTHS = 6
TREND_QUARTERS = 4
SUPERVISING = (Role.SUPERVISOR, Role.HEAD_OFFICE)
RANKED = ("rank", "inverse_rank")
# The effective service ratio's bands (as ``segmentation.capacity``): above 100% of
# capacity an RM is overloaded, below 70% has room.
OVERLOADED_ABOVE = 100.0
ROOM_BELOW = 70.0


# --- Periods ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiPeriod:
    """A month, quarter or year in the bank's calendar: its first and last day."""

    kind: str
    start: datetime.date
    end: datetime.date

    @classmethod
    def containing(cls, kind: str, day: datetime.date) -> KpiPeriod:
        start, end = period_bounds(kind, day)
        return cls(kind, start, end)

    @property
    def label(self) -> str:
        return period_label(self.kind, self.start)

    @property
    def previous(self) -> KpiPeriod:
        return KpiPeriod.containing(self.kind, self.start - datetime.timedelta(days=1))

    @property
    def next(self) -> KpiPeriod:
        return KpiPeriod.containing(self.kind, self.end + datetime.timedelta(days=1))

    def query(self) -> dict[str, str]:
        return {"period": self.kind, "start": self.start.isoformat()}


def period_label(kind: str, start: datetime.date) -> str:
    """The period's name (2026-11, 2026 Q4, 2026), in words a translation can reorder
    (2026年第4季度)."""
    if kind == Period.MONTH:
        return gettext("%(year)s-%(month)02d") % {"year": start.year, "month": start.month}
    if kind == Period.QUARTER:
        return gettext("%(year)s Q%(quarter)s") % {
            "year": start.year,
            "quarter": (start.month - 1) // 3 + 1,
        }
    return str(start.year)


def short_period_label(kind: str, start: datetime.date) -> str:
    """A chart's axis label: "11/26", "Q4 2026", "2026" (a translation may write 26年11月)."""
    if kind == Period.MONTH:
        return gettext("%(month)s/%(year_short)02d") % {
            "month": start.month,
            "year_short": start.year % 100,
        }
    if kind == Period.QUARTER:
        return gettext("Q%(quarter)s %(year)s") % {
            "quarter": (start.month - 1) // 3 + 1,
            "year": start.year,
        }
    return str(start.year)


def trend_periods(kind: str, anchor: datetime.date, count: int) -> list[KpiPeriod]:
    """The ``count`` periods of ``kind`` up to the one containing ``anchor``, oldest first."""
    starts = sorted(period_starts_back(kind, anchor, count))
    return [KpiPeriod.containing(kind, start) for start in starts]


# --- Scopes: who may see which scorecard -----------------------------------------------


@dataclass(frozen=True)
class KpiScope:
    """An RM, a branch (with its sub-branches) or the bank, as a snapshot names it."""

    kind: str
    staff: StaffProfile | None = None
    branch: Branch | None = None

    @property
    def key(self) -> str:
        if self.kind == Scope.RM:
            return f"rm:{self.staff.pk}"
        if self.kind == Scope.BRANCH:
            return f"branch:{self.branch.pk}"
        return "tenant"

    @property
    def label(self) -> str:
        if self.kind == Scope.RM:
            return str(self.staff.name)
        if self.kind == Scope.BRANCH:
            return str(self.branch.name)
        return gettext("The whole bank")


def scorecard_rms(*, actor: Actor) -> QuerySet[StaffProfile]:
    """RMs whose scorecard ``actor`` may open: an RM themself, a supervisor the RMs of
    their branch subtree, head office every RM; advisors none."""
    if actor is None or actor.staff is None:
        return StaffProfile.objects.none()
    rms = StaffProfile.objects.filter(role=Role.RM).select_related("branch")
    if actor.role == Role.RM:
        return rms.filter(pk=actor.staff.pk)
    if actor.role in SUPERVISING:
        return visible_to(rms, actor)
    return StaffProfile.objects.none()


def dashboard_branches(*, actor: Actor) -> QuerySet[Branch]:
    """Branches whose dashboard ``actor`` may open: a supervisor's branch subtree, every
    branch for head office; RMs and advisors none."""
    if actor is None or actor.role not in SUPERVISING:
        return Branch.objects.none()
    return visible_to(Branch.objects.select_related("parent"), actor)


def kpi_scope_for(*, actor: Actor, key: str) -> KpiScope:
    """The scope named ``key`` ("rm:12", "branch:3", "tenant") if ``actor`` may see its
    figures; ``KpiSnapshot.DoesNotExist`` otherwise (a 404, like a missing one)."""
    kind, _sep, raw_id = key.partition(":")
    if key == Scope.TENANT:
        if actor is not None and actor.role == Role.HEAD_OFFICE:
            return KpiScope(Scope.TENANT)
    elif kind in (Scope.RM, Scope.BRANCH) and raw_id.isdigit():
        if kind == Scope.RM:
            staff = scorecard_rms(actor=actor).filter(pk=int(raw_id)).first()
            if staff is not None:
                return KpiScope(Scope.RM, staff=staff, branch=staff.branch)
        else:
            branch = dashboard_branches(actor=actor).filter(pk=int(raw_id)).first()
            if branch is not None:
                return KpiScope(Scope.BRANCH, branch=branch)
    raise KpiSnapshot.DoesNotExist("No such scope.")


def home_scope(*, actor: Actor) -> KpiScope | None:
    """Where the KPI menu opens: an RM's own scorecard, a supervisor's branch, the bank
    for head office; an advisor has no scorecard (None)."""
    if actor is None or actor.staff is None:
        return None
    if actor.role == Role.RM:
        return KpiScope(Scope.RM, staff=actor.staff, branch=actor.staff.branch)
    if actor.role == Role.SUPERVISOR:
        return KpiScope(Scope.BRANCH, branch=actor.staff.branch)
    if actor.role == Role.HEAD_OFFICE:
        return KpiScope(Scope.TENANT)
    return None


# --- Figures: a snapshot's values as the pages show them --------------------------------


def value_text(metric: Metric, value: Any) -> str:
    """A value as the pages print it: money grouped with two decimals, percents with
    one and a % sign, counts whole; "—" where the figure is undefined."""
    if value is None:
        return "—"
    if metric.unit == definitions.MONEY:
        return f"{Decimal(str(value)):,.2f}"
    if metric.unit == definitions.PERCENT:
        return f"{float(value):,.1f}%"
    if metric.unit == definitions.COUNT:
        return f"{int(value):,}"
    return f"{float(value):,.1f}"


def number(value: Any) -> float | None:
    """A snapshot value as a float (money comes as a string), for charts and scores."""
    return None if value is None else float(Decimal(str(value)))


def score_text(score: Any) -> str:
    return "—" if score is None else f"{float(score):.1f}"


class DrillLinks:
    """Drill-down URLs for one scope and period: each drill code's path reversed once
    (``paths``, shareable by every row of a page), the query encoded once."""

    def __init__(self, scope_key: str, period: KpiPeriod, paths: dict[str, str] | None = None):
        self.query = urlencode({"scope": scope_key, **period.query()})
        self._paths = {} if paths is None else paths

    def url(self, metric: Metric) -> str:
        if metric.drill is None:
            return ""
        path = self._paths.get(metric.drill)
        if path is None:
            path = self._paths[metric.drill] = reverse("kpi:drill", args=[metric.drill])
        # A metric's code is a Python identifier: nothing in it to encode.
        return f"{path}?{self.query}&metric={metric.code}"


@dataclass(frozen=True)
class Figure:
    """One metric of one snapshot: the value, its text, the list behind it."""

    metric: Metric
    value: Any
    url: str = ""

    @property
    def text(self) -> str:
        return value_text(self.metric, self.value)

    @property
    def number(self) -> float | None:
        return number(self.value)

    @property
    def link(self) -> str:
        """The text, as a link to the list behind it where there is one (HTML)."""
        if self.url and self.value is not None:
            return format_html(
                '<a href="{}" title="{}">{}</a>', self.url, self.metric.label, self.text
            )
        return conditional_escape(self.text)


class Figures(Mapping):
    """Every metric of a snapshot by code (a value missing from an older row: None),
    each ``Figure`` made when first read: a table row reads a dozen of the sixty."""

    def __init__(self, snapshot: KpiSnapshot | None, links: DrillLinks | None):
        self._values = snapshot.values if snapshot is not None else {}
        self._links = links if snapshot is not None else None
        self._made: dict[str, Figure] = {}

    def __getitem__(self, code: str) -> Figure:
        figure = self._made.get(code)
        if figure is None:
            metric = METRICS_BY_CODE[code]  # KeyError: no such metric
            url = self._links.url(metric) if self._links is not None else ""
            figure = self._made[code] = Figure(metric, self._values.get(code), url)
        return figure

    def __iter__(self):
        return (metric.code for metric in METRICS)

    def __len__(self) -> int:
        return len(METRICS)


def snapshot_figures(snapshot: KpiSnapshot | None, links: DrillLinks | None) -> Figures:
    """Every metric of ``snapshot`` by code (values missing from an older row: None)."""
    return Figures(snapshot, links)


def vip_time_status(value: Any) -> str:
    """The 70% rule: "met", "below", or "" when no time was logged."""
    if value is None:
        return ""
    return "met" if float(value) >= VIP_TIME_TARGET else "below"


def load_status(value: Any) -> str:
    """The effective service ratio: "overloaded" above 100%, "room" below 70%,
    "balanced" between (inclusive), "" undefined."""
    if value is None:
        return ""
    ratio = float(value)
    if ratio > OVERLOADED_ABOVE:
        return "overloaded"
    if ratio < ROOM_BELOW:
        return "room"
    return "balanced"


@dataclass(frozen=True)
class DimensionScore:
    code: str
    label: str
    score: float | None

    @property
    def text(self) -> str:
        return score_text(self.score)


@dataclass
class SnapshotView:
    """A snapshot row with its figures, ready for a template."""

    snapshot: KpiSnapshot
    figures: Figures
    position: int | None = None  # in the list it is shown in (by score)

    @property
    def scores(self) -> dict:
        return self.snapshot.scores or {}

    @property
    def total(self) -> float | None:
        return number(self.scores.get("total"))

    @property
    def total_text(self) -> str:
        return score_text(self.scores.get("total"))

    @property
    def dimension_scores(self) -> list[DimensionScore]:
        """The five dimensions' scores, in their order."""
        return [
            DimensionScore(code, str(label), number(self.scores.get(code)))
            for code, label in DIMENSIONS.items()
        ]

    @property
    def vip_time_status(self) -> str:
        return vip_time_status(self.figures["vip_time_pct"].value)

    @property
    def load_status(self) -> str:
        return load_status(self.figures["effective_service_ratio_pct"].value)


def _view(
    snapshot: KpiSnapshot,
    period: KpiPeriod,
    position: int | None = None,
    paths: dict[str, str] | None = None,
) -> SnapshotView:
    """``paths``: the page's drill paths (``DrillLinks``), shared by its rows."""
    links = DrillLinks(snapshot.scope_key, period, paths)
    return SnapshotView(snapshot, snapshot_figures(snapshot, links), position)


def _by_score(snapshots: Iterable[KpiSnapshot]) -> list[KpiSnapshot]:
    """Best total first; rows without a score last, by name."""
    return sorted(snapshots, key=lambda s: _score_order(s.score, _name_of(s)))


def _score_order(score: Decimal | None, name: str) -> tuple:
    return (score is None, -(score or Decimal("0")), name)


def _name_of(snapshot: KpiSnapshot) -> str:
    if snapshot.staff_id is not None:
        return snapshot.staff.name
    if snapshot.branch_id is not None:
        return snapshot.branch.name
    return ""


# --- Scores of the components -----------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where a value stands among the bank's RMs (or branches): ``better`` rows have a
    strictly better value, ``ranked`` rows have a value at all."""

    better: int
    ranked: int

    @property
    def rank(self) -> int:
        return self.better + 1


def metric_score(metric: Metric, value: Any, position: Position | None = None) -> float | None:
    """The component's score 0–100 by its metric's scoring (``kpi.definitions``); None
    when the metric is not scored or has no value."""
    if metric.scoring is None or value is None:
        return None
    amount = float(Decimal(str(value)))
    if metric.scoring == "percent":
        return _capped(amount)
    if metric.scoring == "target":
        return _capped(amount / metric.target * 100)
    if metric.scoring == "satisfaction":
        return _capped((amount - 1) / 4 * 100)
    if position is None:
        return None
    if position.ranked <= 1:
        return 100.0
    return (position.ranked - 1 - position.better) / (position.ranked - 1) * 100


def _capped(score: float) -> float:
    return min(max(score, 0.0), 100.0)


def _numeric(code: str) -> Case:
    """A snapshot value as a float in SQL; NULL where it is JSON null or missing.

    Money is stored as a string, the rest as JSON numbers: both cast to a float, the
    same float for the same stored value, so ties stay ties. (On SQLite a key's text
    of a JSON null is "null", which casts to 0.0: hence the explicit case.)"""
    return Case(
        When(Q(**{f"values__{code}": None}), then=Value(None)),
        default=Cast(KeyTextTransform(code, "values"), FloatField()),
        output_field=FloatField(),
    )


def rank_positions(snapshot: KpiSnapshot) -> tuple[dict[str, Position], int]:
    """The position of each rank-scored value of an RM's ``snapshot`` among the bank's
    RMs for the same period (their rows of the period: the snapshot job's active RMs),
    and how many of them share the RM's branch — one aggregate query, whatever the
    number of RMs.

    Only counts leave the database: nobody learns another RM's figures from it.
    """
    ranked = [m for m in METRICS if m.scoring in RANKED and snapshot.values.get(m.code) is not None]
    rows = KpiSnapshot.objects.filter(
        period=snapshot.period, period_start=snapshot.period_start, scope=snapshot.scope
    ).alias(**{f"v_{m.code}": _numeric(m.code) for m in ranked})
    aggregates = {"peers": Count("pk", filter=Q(branch_id=snapshot.branch_id))}
    for metric in ranked:
        value = float(Decimal(str(snapshot.values[metric.code])))
        better = "lt" if metric.scoring == "inverse_rank" else "gt"
        aggregates[f"ranked_{metric.code}"] = Count(
            "pk", filter=Q(**{f"v_{metric.code}__isnull": False})
        )
        aggregates[f"better_{metric.code}"] = Count(
            "pk", filter=Q(**{f"v_{metric.code}__{better}": value})
        )
    counts = rows.aggregate(**aggregates)
    positions = {
        m.code: Position(counts[f"better_{m.code}"], counts[f"ranked_{m.code}"]) for m in ranked
    }
    return positions, counts["peers"]


def stored_positions(snapshot: KpiSnapshot) -> tuple[dict[str, Position], int] | None:
    """The positions the snapshot job stored with an RM's row (``rank_positions``'
    figures, read with the row); None for a row taken before the job stored them."""
    if snapshot.branch_peers is None:
        return None
    positions = {
        code: Position(better, ranked) for code, (better, ranked) in snapshot.positions.items()
    }
    return positions, snapshot.branch_peers


@dataclass(frozen=True)
class Component:
    """One metric of a dimension on the scorecard."""

    figure: Figure
    score: float | None
    position: Position | None

    @property
    def metric(self) -> Metric:
        return self.figure.metric

    @property
    def score_text(self) -> str:
        return score_text(self.score)


@dataclass
class DimensionCard:
    code: str
    label: str
    weight: int
    score: float | None
    components: list[Component]

    @property
    def score_text(self) -> str:
        return score_text(self.score)


def dimension_cards(
    snapshot: KpiSnapshot,
    figures: Mapping[str, Figure],
    positions: dict[str, Position],
    weights: ScorecardWeights,
) -> list[DimensionCard]:
    """The five dimensions with their weight, score and every metric of theirs."""
    cards = []
    for code, label in DIMENSIONS.items():
        components = [
            Component(
                figures[m.code],
                metric_score(m, figures[m.code].value, positions.get(m.code)),
                positions.get(m.code),
            )
            for m in METRICS
            if m.dimension == code
        ]
        cards.append(
            DimensionCard(
                code=code,
                label=str(label),
                weight=getattr(weights, code),
                score=number((snapshot.scores or {}).get(code)),
                components=components,
            )
        )
    return cards


# --- Trends -----------------------------------------------------------------------------


@dataclass
class Trend:
    """One scope's rows over consecutive periods (None where a period has no row)."""

    periods: list[KpiPeriod]
    rows: list[KpiSnapshot | None]

    def points(self, read) -> list[tuple[str, str, float | None, str]]:
        """(label, short label, number, text) per period for ``read(row)`` → (number, text)."""
        found = []
        for period, row in zip(self.periods, self.rows, strict=True):
            value, text = read(row) if row is not None else (None, "")
            found.append((period.label, short_period_label(period.kind, period.start), value, text))
        return found

    @property
    def has_rows(self) -> bool:
        return any(row is not None for row in self.rows)


def _trend(rows: dict, periods: list[KpiPeriod], scope_key: str) -> Trend:
    return Trend(periods, [rows.get((p.kind, p.start, scope_key)) for p in periods])


def _rows_by_period(snapshots: Iterable[KpiSnapshot]) -> dict:
    return {(s.period, s.period_start, s.scope_key): s for s in snapshots}


def _periods_q(periods: Iterable[KpiPeriod]) -> Q:
    by_kind: dict[str, list[datetime.date]] = {}
    for period in periods:
        by_kind.setdefault(period.kind, []).append(period.start)
    q = Q(pk__in=[])
    for kind, starts in by_kind.items():
        q |= Q(period=kind, period_start__in=starts)
    return q


def _anchor(period: KpiPeriod, today: datetime.date) -> datetime.date:
    """Trends run up to the period shown (or today, within the current period)."""
    return min(period.end, max(today, period.start))


# --- The RM's scorecard -----------------------------------------------------------------


@dataclass
class Scorecard:
    staff: StaffProfile
    period: KpiPeriod
    current: SnapshotView | None
    dimensions: list[DimensionCard]
    rank: int | None
    peers: int
    months: Trend
    quarters: Trend
    weights: ScorecardWeights

    @property
    def pipeline(self) -> list[PipelineStep]:
        return pipeline_steps(self.current.figures) if self.current else []


def rm_scorecard(
    *,
    actor: Actor,
    staff: StaffProfile,
    period: KpiPeriod,
    today: datetime.date,
    weights: ScorecardWeights,
) -> Scorecard:
    """``staff``'s scorecard for ``period`` (``staff`` from ``scorecard_rms``)."""
    key = f"rm:{staff.pk}"
    anchor = _anchor(period, today)
    months = trend_periods(Period.MONTH, anchor, TREND_MONTHS)
    quarters = trend_periods(Period.QUARTER, anchor, TREND_QUARTERS)
    rows = _rows_by_period(
        visible_to(KpiSnapshot.objects.filter(scope_key=key), actor).filter(
            _periods_q([period, *months, *quarters])
        )
    )
    snapshot = rows.get((period.kind, period.start, key))
    dimensions, rank, peers, current = [], None, 0, None
    if snapshot is not None:
        snapshot.staff = staff
        current = _view(snapshot, period)
        positions, peers = stored_positions(snapshot) or rank_positions(snapshot)
        dimensions = dimension_cards(snapshot, current.figures, positions, weights)
        rank = snapshot.rank_in_branch
    return Scorecard(
        staff=staff,
        period=period,
        current=current,
        dimensions=dimensions,
        rank=rank,
        peers=peers,
        months=_trend(rows, months, key),
        quarters=_trend(rows, quarters, key),
        weights=weights,
    )


# --- The pipeline by step ---------------------------------------------------------------


@dataclass(frozen=True)
class PipelineStep:
    step: int
    label: str
    open: Figure
    days: Figure
    conversion: Figure | None  # to the next step (none after the fifth)


def pipeline_steps(figures: Mapping[str, Figure]) -> list[PipelineStep]:
    return [
        PipelineStep(
            step=step,
            label=str(Step(step).label),
            open=figures[f"open_at_step_{step}"],
            days=figures[f"days_in_step_{step}"],
            conversion=figures.get(f"conversion_{step}_pct"),
        )
        for step in Step.values
    ]


# --- The branch dashboard ---------------------------------------------------------------


RM_PAGE_SIZE = 25  # RMs a page of the branch dashboard lists
# The figures the branch dashboard's RMs can be sorted by (besides score and name).
RM_SORT_FIGURES = (
    "vip_count",
    "book_aum_cny",
    "aum_growth_pct",
    "sales_won_cny",
    "coverage_pct",
    "overdue_count",
    "adherence_pct",
    "maturity_retention_pct",
    "vip_time_pct",
    "effective_service_ratio_pct",
    "unqualified_vips",
    "near_threshold",
)
RM_SORTS = ("score", "name", *RM_SORT_FIGURES, *(f"-{code}" for code in RM_SORT_FIGURES))


def rm_sort_key(sort: str):
    """The key ``sorted`` orders a branch's ``RmRow``s by for ``sort`` (``RM_SORTS``): the
    ranking (best score first), the name, or a figure ascending (``code``) or descending
    (``-code``) — rows without the figure last either way, then by the ranking."""
    if sort == "name":
        return lambda row: (row.name, row.code)
    if sort == "score" or sort not in RM_SORTS:
        return lambda row: row.position
    sign = -1 if sort.startswith("-") else 1

    def key(row):
        value = row.sort_value  # the figure, annotated by ``branch_dashboard``
        return (value is None, 0.0 if value is None else sign * value, row.position)

    return key


@dataclass(frozen=True)
class RmRow:
    """An RM of a branch's ranking, narrow: a city branch lists 150 RMs, of which a page
    shows 25 in full (``SnapshotView``); the others need no more than this."""

    pk: int
    scope_key: str
    score: Decimal | None
    name: str
    code: str
    vip_time: float | None  # the 70% rule's figure
    sort_value: float | None  # the figure the list is sorted by
    position: int  # in the ranking, by score


@dataclass
class BranchDashboard:
    branch: Branch
    period: KpiPeriod
    current: SnapshotView | None
    rm_rows: list[RmRow]  # every RM of the subtree, by score
    rms: list[SnapshotView]  # the page shown, in the order asked for
    rm_page: Page
    sort: str
    sub_branches: list[SnapshotView]
    trend: Trend
    weights: ScorecardWeights
    branch_count: int  # branches in the subtree: RMs show their branch when > 1

    @property
    def pipeline(self) -> list[PipelineStep]:
        return pipeline_steps(self.current.figures) if self.current else []

    @cached_property
    def below_vip_time_target(self) -> list[RmRow]:
        return [row for row in self.rm_rows if vip_time_status(row.vip_time) == "below"]

    @cached_property
    def vip_time_bands(self) -> list[tuple[int, int, int]]:
        """How the RMs spread over the share of their time on VIP service: (from %, to %,
        RMs) per 10-point band from 0 to 100 (100% in the last band), RMs without time
        logged left out."""
        counts = Counter()
        for row in self.rm_rows:
            value = row.vip_time
            if value is not None:
                counts[min(int(max(value, 0.0) // 10), 9)] += 1
        return [(band * 10, band * 10 + 10, counts[band]) for band in range(10)]


def branch_dashboard(
    *,
    actor: Actor,
    branch: Branch,
    period: KpiPeriod,
    today: datetime.date,
    weights: ScorecardWeights,
    sort: str = "score",
    page: int | str = 1,
) -> BranchDashboard:
    """``branch``'s dashboard for ``period`` (``branch`` from ``dashboard_branches``):
    its RMs ranked, ``RM_PAGE_SIZE`` a page (``page``, out of range: the last) in the
    order ``sort`` names (``RM_SORTS``; anything else is the ranking)."""
    key = f"branch:{branch.pk}"
    subtree = branch_subtree_ids(branch.pk)
    months = trend_periods(period.kind, _anchor(period, today), TREND_MONTHS)
    snapshots = visible_to(KpiSnapshot.objects.select_related("branch"), actor)
    rows = _rows_by_period(snapshots.filter(scope_key=key).filter(_periods_q([period, *months])))
    rms = snapshots.filter(
        scope=Scope.RM, period=period.kind, period_start=period.start, branch__in=subtree
    )
    sort = sort if sort in RM_SORTS else "score"
    code = sort.removeprefix("-")
    sorted_by = code if code in RM_SORT_FIGURES else "vip_time_pct"
    # Every RM's row, narrow (a city branch has 150 RMs; a page shows 25 of them in full).
    narrow = rms.values(
        "pk", "scope_key", "score", name=F("staff__name"), code=F("staff__code")
    ).annotate(vip_time=_numeric("vip_time_pct"), sort_value=_numeric(sorted_by))
    sub_branches = snapshots.filter(
        scope=Scope.BRANCH, period=period.kind, period_start=period.start, branch__parent=branch
    )
    snapshot = rows.get((period.kind, period.start, key))
    rm_rows = [
        RmRow(position=position, **row)
        for position, row in enumerate(
            sorted(narrow, key=lambda r: _score_order(r["score"], r["name"])),
            start=1,
        )
    ]
    rm_page = Paginator(sorted(rm_rows, key=rm_sort_key(sort)), RM_PAGE_SIZE).get_page(page)
    full = rms.select_related("staff", "branch").in_bulk([row.pk for row in rm_page.object_list])
    for row in rm_page.object_list:
        full[row.pk].position = row.position
    paths: dict[str, str] = {}
    return BranchDashboard(
        branch=branch,
        period=period,
        current=_view(snapshot, period, paths=paths) if snapshot is not None else None,
        rm_rows=rm_rows,
        rms=[_view(full[row.pk], period, row.position, paths) for row in rm_page.object_list],
        rm_page=rm_page,
        sort=sort,
        sub_branches=[
            _view(s, period, i, paths) for i, s in enumerate(_by_score(sub_branches), start=1)
        ],
        trend=_trend(rows, months, key),
        weights=weights,
        branch_count=len(subtree),
    )


# --- The bank dashboard -----------------------------------------------------------------


@dataclass
class BranchRow:
    """A branch on the bank dashboard: this period's row and its trend."""

    view: SnapshotView
    depth: int
    trend: Trend


@dataclass
class BankDashboard:
    period: KpiPeriod
    current: SnapshotView | None
    branches: list[BranchRow]
    trend: Trend
    weights: ScorecardWeights

    @property
    def pipeline(self) -> list[PipelineStep]:
        return pipeline_steps(self.current.figures) if self.current else []


def bank_dashboard(
    *, actor: Actor, period: KpiPeriod, today: datetime.date, weights: ScorecardWeights
) -> BankDashboard:
    """The bank's figures and its branches compared, for head office."""
    if actor is None or actor.role != Role.HEAD_OFFICE:
        raise KpiSnapshot.DoesNotExist("No such scope.")
    trend_of = trend_periods(period.kind, _anchor(period, today), TREND_MONTHS)
    snapshots = visible_to(KpiSnapshot.objects.all(), actor)
    rows = _rows_by_period(snapshots.filter(_periods_q([period, *trend_of]), scope=Scope.TENANT))
    current = list(
        snapshots.filter(
            period=period.kind, period_start=period.start, scope=Scope.BRANCH
        ).select_related("branch")
    )
    # The branches' trends draw their score alone: not every figure of every period.
    branch_rows = _rows_by_period(
        snapshots.filter(_periods_q(trend_of), scope=Scope.BRANCH).only(
            "period", "period_start", "scope_key", "score"
        )
    )
    branch_rows.update(_rows_by_period(current))
    snapshot = rows.get((period.kind, period.start, "tenant"))
    paths: dict[str, str] = {}
    return BankDashboard(
        period=period,
        current=_view(snapshot, period, paths=paths) if snapshot is not None else None,
        branches=[
            BranchRow(
                _view(s, period, position, paths),
                depth,
                _trend(branch_rows, trend_of, s.scope_key),
            )
            for s, depth, position in _tree_order(current)
        ],
        trend=_trend(rows, trend_of, "tenant"),
        weights=weights,
    )


def _tree_order(snapshots: list[KpiSnapshot]) -> list[tuple[KpiSnapshot, int, int | None]]:
    """Branch rows as their tree: each branch followed by its sub-branches, siblings by
    their rank among each other (best first); (row, depth, rank among siblings)."""
    by_parent: dict[int | None, list[KpiSnapshot]] = {}
    present = {s.branch_id for s in snapshots}
    for snapshot in snapshots:
        parent = snapshot.branch.parent_id
        by_parent.setdefault(parent if parent in present else None, []).append(snapshot)
    ordered: list[tuple[KpiSnapshot, int, int | None]] = []

    def visit(parent: int | None, depth: int) -> None:
        siblings = sorted(
            by_parent.get(parent, []),
            key=lambda s: (s.rank_in_branch is None, s.rank_in_branch or 0, s.branch.code),
        )
        for snapshot in siblings:
            ordered.append((snapshot, depth, snapshot.rank_in_branch))
            visit(snapshot.branch_id, depth + 1)

    visit(None, 0)
    return ordered


# --- Scorecards of a scope, for the export ---------------------------------------------


def scope_snapshots(*, actor: Actor, scope: KpiScope, period: KpiPeriod) -> list[KpiSnapshot]:
    """The rows a scope's scorecard export holds: the scope's own row, then (a branch)
    its sub-branches' and its RMs', or (the bank) every branch's and every RM's — each
    list by score, best first."""
    snapshots = visible_to(KpiSnapshot.objects.select_related("staff", "branch"), actor).filter(
        period=period.kind, period_start=period.start
    )
    if scope.kind == Scope.RM:
        return list(snapshots.filter(scope_key=scope.key))
    if scope.kind == Scope.BRANCH:
        subtree = branch_subtree_ids(scope.branch.pk)
        rows = list(
            snapshots.filter(
                Q(scope=Scope.BRANCH, branch__in=subtree) | Q(scope=Scope.RM, branch__in=subtree)
            )
        )
    else:
        rows = list(snapshots)
    own = [s for s in rows if s.scope_key == scope.key]
    branches = _by_score(s for s in rows if s.scope == Scope.BRANCH and s.scope_key != scope.key)
    rms = _by_score(s for s in rows if s.scope == Scope.RM)
    return [*own, *branches, *rms]
