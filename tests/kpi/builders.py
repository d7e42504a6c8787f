"""Builders shared by the KPI tests: a moment of the bank's day (``shanghai``) and
snapshot rows for the page and export tests (every metric in ``values``, zeros and
nulls unless given, in the scope the arguments name)."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from kpi.definitions import COUNT, METRICS, MONEY
from kpi.models import KpiSnapshot
from kpi.periods import period_bounds
from tests.factories import KpiSnapshotFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
DIMENSIONS = ("results", "process", "tool_use", "teamwork", "feedback")


def shanghai(*args) -> datetime.datetime:
    """``datetime.datetime(*args)`` in the banks' time zone."""
    return datetime.datetime(*args, tzinfo=SHANGHAI)


def figures(**overrides) -> dict:
    """A snapshot's values: every metric, zeros and nulls, then ``overrides``."""
    values = {
        m.code: "0.00" if m.unit == MONEY else 0 if m.unit == COUNT else None for m in METRICS
    }
    values.update(overrides)
    return values


def snapshot_row(
    bank,
    *,
    staff=None,
    branch=None,
    total=None,
    rank=None,
    period="month",
    start=datetime.date(2026, 11, 1),
    as_of=None,
    scores=None,
    **values,
) -> KpiSnapshot:
    """An RM's row (``staff``), a branch's (``branch``) or the bank's (neither) for the
    ``period`` holding ``start``, as of its last day unless ``as_of``. Unless ``scores``
    is given, every dimension scores ``total``; the bank's row has no scores."""
    first, last = period_bounds(period, start)
    if staff is not None:
        scope, key, branch = "rm", f"rm:{staff.pk}", staff.branch
    elif branch is not None:
        scope, key = "branch", f"branch:{branch.pk}"
    else:
        scope, key = "tenant", "tenant"
    if scores is None:
        scores = {} if scope == "tenant" else {**dict.fromkeys(DIMENSIONS, total), "total": total}
    return KpiSnapshotFactory(
        tenant=bank.tenant,
        staff=staff,
        branch=branch,
        scope=scope,
        scope_key=key,
        period=period,
        period_start=first,
        period_end=last,
        as_of=last if as_of is None else as_of,
        values=figures(**values),
        scores=scores,
        score=None if total is None else Decimal(str(total)),
        rank_in_branch=rank,
    )
