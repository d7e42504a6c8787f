"""The Chinese calendar (农历) for the contact plans: conversions, and the ``LunarDay``
reference table the nightly planning joins to.

The astronomy comes from ``lunar_python`` (6tail's *lunar* library: pure Python, no
data files, maintained, and the same tables as the widely used Java/JS/Go editions);
this module turns it into rows. ``LunarDay`` holds one row per solar day — the lunar
year, month, day, whether the month is a leap month (闰月) and how many days the month
has — filled lazily a whole solar year at a time (365 or 366 rows): the nightly run
ensures the years it needs (this year and the next, for the birthday and festival
windows, and the birth years of clients who celebrate the lunar birthday) with one
look-up and at most one INSERT. The table is the same for every bank, so it is not
tenant-owned.

Years outside ``FIRST_YEAR``–``LAST_YEAR`` are not filled: a client born before 1901
who prefers the lunar birthday is greeted on the solar date instead.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from typing import NamedTuple

from django.db import connection
from lunar_python import Lunar, LunarYear, Solar

from contact_plans.models import LunarDay

FIRST_YEAR = 1901
LAST_YEAR = 2099
# Julian day number of a date = its proleptic Gregorian ordinal + this.
_JULIAN_OFFSET = 1721425


class LunarDate(NamedTuple):
    year: int
    month: int  # 1..12
    day: int  # 1..30
    is_leap_month: bool


def lunar_of(day: datetime.date) -> LunarDate:
    """The Chinese-calendar date of a solar date (e.g. 2027-02-06 → 2027, 1, 1)."""
    lunar = Solar.fromYmd(day.year, day.month, day.day).getLunar()
    month = lunar.getMonth()
    return LunarDate(lunar.getYear(), abs(month), lunar.getDay(), month < 0)


def solar_of(year: int, month: int, day: int, *, leap: bool = False) -> datetime.date:
    """The solar date of a Chinese-calendar date (month negative-free; ``leap`` for 闰月)."""
    solar = Lunar.fromYmd(year, -month if leap else month, day).getSolar()
    return datetime.date(solar.getYear(), solar.getMonth(), solar.getDay())


def lunar_year_rows(year: int) -> list[tuple[datetime.date, int, int, int, bool, int]]:
    """Every day of solar ``year`` as ``(solar date, lunar year, month, day, leap,
    days in the month)``, built from the lunar months (a dozen library calls a year,
    not one per day)."""
    rows = []
    seen: set[int] = set()
    # LunarYear(y) lists its months from the 11th month of y-1 to the 12th of y, which
    # covers solar year y; y+1 is added for safety at the December edge.
    for lunar_year in (year, year + 1):
        for month in LunarYear.fromYear(lunar_year).getMonths():
            first = int(month.getFirstJulianDay())
            if first in seen:
                continue
            seen.add(first)
            days = month.getDayCount()
            number = month.getMonth()
            for offset in range(days):
                solar = datetime.date.fromordinal(first + offset - _JULIAN_OFFSET)
                if solar.year == year:
                    rows.append((solar, month.getYear(), abs(number), offset + 1, number < 0, days))
    rows.sort()
    return rows


def lunar_days_ensure(*, years: Iterable[int]) -> int:
    """Make sure ``LunarDay`` holds every day of ``years`` (those within the supported
    range); returns the rows inserted.

    One query finds the years present (each year is inserted whole by one statement,
    so a year whose 31 December is there is complete), and one INSERT adds the missing
    years — ``ON CONFLICT DO NOTHING``, so two banks' runs filling the same year at the
    same time both succeed.
    """
    wanted = sorted({year for year in years if FIRST_YEAR <= year <= LAST_YEAR})
    if not wanted:
        return 0
    present = {
        day.year
        for day in LunarDay.objects.filter(
            solar_date__in=[datetime.date(year, 12, 31) for year in wanted]
        ).values_list("solar_date", flat=True)
    }
    return _years_insert([year for year in wanted if year not in present])


def lunar_days_ensure_for_births(*, years: Iterable[int] = (), lunar_only: bool = True) -> int:
    """``lunar_days_ensure`` for ``years`` and the birth years of the current bank's
    clients (only those who celebrate the lunar birthday when ``lunar_only``), in ONE
    query that finds the years missing (plus the INSERT when some are): the nightly
    planning's way, whatever the number of clients."""
    from customers.models import Client
    from vipcrm.tenancy import current_tenant_id

    qn = connection.ops.quote_name
    clients, days = qn(Client._meta.db_table), qn(LunarDay._meta.db_table)
    if connection.vendor == "postgresql":
        year, last_day = (
            "CAST(EXTRACT(YEAR FROM c.birth_date) AS INTEGER)",
            "make_date(y.year, 12, 31)",
        )
    else:
        year = "CAST(strftime('%%Y', c.birth_date) AS INTEGER)"
        last_day = "printf('%%04d-12-31', y.year)"
    extra = "".join(f" UNION SELECT {int(value)}" for value in sorted(set(years)))
    lunar = " AND c.lunar_birthday" if lunar_only else ""
    sql = (
        f"SELECT y.year FROM (SELECT DISTINCT {year} AS year FROM {clients} c "  # noqa: S608
        f"WHERE c.tenant_id = %s AND c.birth_date IS NOT NULL{lunar}{extra}) y "
        f"WHERE y.year >= %s AND y.year <= %s AND NOT EXISTS "
        f"(SELECT 1 FROM {days} l WHERE l.solar_date = {last_day})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [current_tenant_id(), FIRST_YEAR, LAST_YEAR])
        missing = sorted(int(row[0]) for row in cursor.fetchall())
    return _years_insert(missing)


def _years_insert(missing: list[int]) -> int:
    """Insert every day of the ``missing`` years in one statement; returns the rows."""
    if not missing:
        return 0
    rows = [
        [day.isoformat(), lunar_year, month, number, leap, days]
        for year in missing
        for day, lunar_year, month, number, leap, days in lunar_year_rows(year)
    ]
    table = connection.ops.quote_name(LunarDay._meta.db_table)
    if connection.vendor == "postgresql":
        source = (
            "SELECT (r.v->>0)::date, (r.v->>1)::int, (r.v->>2)::int, (r.v->>3)::int, "
            "(r.v->>4)::boolean, (r.v->>5)::int FROM json_array_elements(%s::json) AS r(v)"
        )
    else:
        source = (
            "SELECT json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]'), "
            "json_extract(r.value, '$[2]'), json_extract(r.value, '$[3]'), "
            "json_extract(r.value, '$[4]'), json_extract(r.value, '$[5]') "
            "FROM json_each(%s) AS r WHERE 1 = 1"  # WHERE: SQLite's ON CONFLICT parse
        )
    sql = (
        f"INSERT INTO {table} (solar_date, lunar_year, lunar_month, lunar_day, "
        f"is_leap_month, month_days) {source} ON CONFLICT (solar_date) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, separators=(",", ":"))])
        return max(cursor.rowcount, 0)
