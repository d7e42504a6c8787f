"""KPI periods: calendar months, quarters and years of the bank's calendar.

Days are the bank's local days (``Tenant.time_zone``); a period is the inclusive range
of days ``[start, end]`` and is named by its period kind and its first day, as the
snapshots store it (``KpiSnapshot.period`` and ``period_start``).
"""

from __future__ import annotations

import datetime

MONTH, QUARTER, YEAR = "month", "quarter", "year"
PERIODS = (MONTH, QUARTER, YEAR)
_MONTHS = {MONTH: 1, QUARTER: 3, YEAR: 12}


def _months(period: str) -> int:
    try:
        return _MONTHS[period]
    except KeyError:
        raise ValueError(f"Unknown KPI period {period!r}: one of {', '.join(PERIODS)}.") from None


def _shift_months(first: datetime.date, months: int) -> datetime.date:
    """The first day of the month ``months`` after (or before) ``first``'s month."""
    index = first.year * 12 + first.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def period_start(period: str, day: datetime.date) -> datetime.date:
    """The first day of the ``period`` (month, quarter, year) that contains ``day``."""
    months = _months(period)
    first_month = (day.month - 1) // months * months + 1
    return datetime.date(day.year, first_month, 1)


def period_bounds(period: str, day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day (inclusive) of the ``period`` that contains ``day``:
    ``period_bounds("quarter", date(2026, 3, 31))`` is 1 January to 31 March 2026."""
    start = period_start(period, day)
    return start, _shift_months(start, _months(period)) - datetime.timedelta(days=1)


def is_period_start(period: str, day: datetime.date) -> bool:
    """Whether ``day`` is the first day of a ``period``."""
    return period_start(period, day) == day


def period_starts_back(period: str, day: datetime.date, count: int) -> list[datetime.date]:
    """The first days of the ``count`` periods up to and including the one containing
    ``day``, oldest first: the x-axis of a trend (``count`` 3 on 15 May, monthly: 1
    March, 1 April, 1 May)."""
    if count < 0:
        raise ValueError("count cannot be negative.")
    months = _months(period)
    last = period_start(period, day)
    return [_shift_months(last, -months * back) for back in range(count - 1, -1, -1)]


def previous_period_start(period: str, start: datetime.date) -> datetime.date:
    """The first day of the period before the one starting (or containing) ``start``."""
    return _shift_months(period_start(period, start), -_months(period))
