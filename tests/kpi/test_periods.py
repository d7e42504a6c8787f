"""KPI periods (``kpi.periods``): calendar months, quarters and years of the bank."""

import datetime

import pytest

from kpi.periods import (
    is_period_start,
    period_bounds,
    period_start,
    period_starts_back,
    previous_period_start,
)

D = datetime.date


@pytest.mark.parametrize(
    ("period", "day", "bounds"),
    [
        ("month", D(2026, 10, 31), (D(2026, 10, 1), D(2026, 10, 31))),
        ("month", D(2026, 11, 1), (D(2026, 11, 1), D(2026, 11, 30))),
        ("month", D(2028, 2, 10), (D(2028, 2, 1), D(2028, 2, 29))),  # leap year
        ("month", D(2027, 2, 28), (D(2027, 2, 1), D(2027, 2, 28))),
        ("month", D(2026, 12, 31), (D(2026, 12, 1), D(2026, 12, 31))),
        ("quarter", D(2026, 3, 31), (D(2026, 1, 1), D(2026, 3, 31))),
        ("quarter", D(2026, 4, 1), (D(2026, 4, 1), D(2026, 6, 30))),
        ("quarter", D(2026, 9, 30), (D(2026, 7, 1), D(2026, 9, 30))),
        ("quarter", D(2026, 12, 31), (D(2026, 10, 1), D(2026, 12, 31))),
        ("year", D(2026, 1, 1), (D(2026, 1, 1), D(2026, 12, 31))),
        ("year", D(2026, 12, 31), (D(2026, 1, 1), D(2026, 12, 31))),
    ],
)
def test_period_bounds_are_the_calendar_period_containing_the_day(period, day, bounds):
    assert period_bounds(period, day) == bounds
    assert period_start(period, day) == bounds[0]


def test_march_31_and_april_1_are_in_different_quarters():
    assert period_bounds("quarter", D(2026, 3, 31))[1] == D(2026, 3, 31)
    assert period_bounds("quarter", D(2026, 4, 1))[0] == D(2026, 4, 1)


def test_is_period_start():
    assert is_period_start("month", D(2026, 11, 1))
    assert not is_period_start("month", D(2026, 11, 2))
    assert is_period_start("quarter", D(2026, 4, 1))
    assert not is_period_start("quarter", D(2026, 5, 1))
    assert is_period_start("year", D(2027, 1, 1))
    assert not is_period_start("year", D(2027, 4, 1))


def test_period_starts_back_lists_the_trend_oldest_first_across_years():
    assert period_starts_back("month", D(2026, 2, 15), 4) == [
        D(2025, 11, 1),
        D(2025, 12, 1),
        D(2026, 1, 1),
        D(2026, 2, 1),
    ]
    assert period_starts_back("quarter", D(2026, 4, 1), 3) == [
        D(2025, 10, 1),
        D(2026, 1, 1),
        D(2026, 4, 1),
    ]
    assert period_starts_back("year", D(2026, 6, 30), 2) == [D(2025, 1, 1), D(2026, 1, 1)]
    assert period_starts_back("month", D(2026, 2, 15), 1) == [D(2026, 2, 1)]
    assert period_starts_back("month", D(2026, 2, 15), 0) == []


def test_previous_period_start():
    assert previous_period_start("month", D(2026, 1, 1)) == D(2025, 12, 1)
    assert previous_period_start("quarter", D(2026, 4, 1)) == D(2026, 1, 1)
    assert previous_period_start("year", D(2026, 1, 1)) == D(2025, 1, 1)


def test_unknown_periods_and_negative_counts_are_refused():
    with pytest.raises(ValueError, match="week"):
        period_bounds("week", D(2026, 1, 1))
    with pytest.raises(ValueError, match="negative"):
        period_starts_back("month", D(2026, 1, 1), -1)
