"""Exports of the KPI pages, as CSV (UTF-8 with a BOM, so Excel reads the Chinese) or XLSX
(openpyxl's write-only workbook: rows stream to a temporary sheet, memory stays flat):

- ``scorecards_export``: the scorecards of a scope and period — the scope's own row,
  then its sub-branches' and its RMs' (the bank: every branch and every RM), each with
  its scores, rank and every figure of ``kpi.definitions``;
- ``drilldown_export``: the list behind a figure (``kpi.drilldowns``), as the page
  shows it, within the viewer's scope.

Both are audited as an ``export`` naming the scope, the period, the format and the
number of rows. Text that a spreadsheet would read as a formula stays text. A
drill-down of more than ``EXPORT_ROW_CAP`` rows is refused (``ExportTooLarge``, nothing
written, nothing audited): such a list is narrowed, not mailed around whole.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from contact_plans.services import tenant_today
from kpi import dashboards, drilldowns
from kpi.dashboards import KpiPeriod, KpiScope
from kpi.definitions import DIMENSIONS, METRICS, MONEY
from kpi.drilldowns import Drill
from segmentation.segments import FORMULA_START
from vipcrm.audit import audit_action
from vipcrm.roles import Actor
from vipcrm.tenancy import current_tenant_id

EXPORT_ROW_CAP = 100_000
EXPORT_CHUNK = 2000
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
HUNDRED = Decimal(100)


class ExportTooLarge(ValidationError):
    """More rows than one export may hold."""


# --- Writing a table --------------------------------------------------------------------


def table_write(
    *,
    header: list[str],
    rows: Iterable[list],
    money_columns: Iterable[int],
    file_format: str,
    file: IO[bytes],
    title: str,
) -> int:
    """Write ``header`` and ``rows`` to ``file`` as ``csv`` or ``xlsx``; returns the
    number of rows written. Money cells are Decimals (2 places), dates are dates."""
    if file_format not in CONTENT_TYPES:
        raise ValueError(f"Unknown export format: {file_format}")
    money = set(money_columns)
    if file_format == "csv":
        return _csv_write(header, rows, money, file)
    return _xlsx_write(header, rows, money, file, title)


def _csv_cell(value: Any, is_money: bool) -> Any:
    if value is None:
        return ""
    if is_money and isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str) and FORMULA_START.match(value):
        return f"'{value}"
    return value


def _csv_write(header: list[str], rows: Iterable[list], money: set[int], file: IO[bytes]) -> int:
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([_csv_cell(value, index in money) for index, value in enumerate(row)])
        count += 1
    text.flush()
    text.detach()  # hand ``file`` back open
    return count


def _xlsx_write(
    header: list[str], rows: Iterable[list], money: set[int], file: IO[bytes], title: str
) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(title))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    cells = []
    for label in header:
        cell = WriteOnlyCell(sheet, value=label)
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    count = 0
    for row in rows:
        out: list[Any] = []
        for index, value in enumerate(row):
            if isinstance(value, datetime.datetime):
                value = value.replace(tzinfo=None)  # already the bank's local time
            if index in money and isinstance(value, Decimal):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "#,##0.00"
                out.append(cell)
            elif isinstance(value, str) and FORMULA_START.match(value):
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"  # text that looks like a formula stays text
                out.append(cell)
            else:
                out.append(value)
        sheet.append(out)
        count += 1
    workbook.save(file)
    return count


def _sheet_title(name: str) -> str:
    # Excel: at most 31 characters, none of []:*?/\ and not blank.
    cleaned = re.sub(r"[\[\]:*?/\\]", " ", name).strip()[:31]
    return cleaned or "KPI"


# --- Scorecards -------------------------------------------------------------------------


def _scorecard_header() -> list[str]:
    return [
        gettext("Scope"),
        gettext("Staff code"),
        gettext("RM"),
        gettext("Branch code"),
        gettext("Branch"),
        gettext("Period"),
        gettext("Period start"),
        gettext("Period end"),
        gettext("Figures as of"),
        gettext("Total score"),
        gettext("Rank in the branch"),
        *(gettext("%(dimension)s score") % {"dimension": label} for label in DIMENSIONS.values()),
        *(str(metric.label) for metric in METRICS),
    ]


SCORECARD_FIXED = 11 + len(DIMENSIONS)
SCORECARD_MONEY = [
    SCORECARD_FIXED + index for index, metric in enumerate(METRICS) if metric.unit == MONEY
]


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _scorecard_rows(snapshots) -> Iterator[list]:
    for snapshot in snapshots:
        scores = snapshot.scores or {}
        yield [
            snapshot.get_scope_display(),
            snapshot.staff.code if snapshot.staff_id else "",
            snapshot.staff.name if snapshot.staff_id else "",
            snapshot.branch.code if snapshot.branch_id else "",
            snapshot.branch.name if snapshot.branch_id else "",
            snapshot.get_period_display(),
            snapshot.period_start,
            snapshot.period_end,
            snapshot.as_of,
            _decimal(scores.get("total")),
            snapshot.rank_in_branch,
            *(_decimal(scores.get(code)) for code in DIMENSIONS),
            *(
                _decimal(snapshot.values.get(m.code))
                if m.unit == MONEY
                else snapshot.values.get(m.code)
                for m in METRICS
            ),
        ]


def scorecards_export(
    *,
    actor: Actor,
    scope: KpiScope,
    period: KpiPeriod,
    file_format: str,
    file: IO[bytes],
    request: HttpRequest | None = None,
) -> int:
    """Write the scorecards of ``scope`` (from ``kpi.dashboards.kpi_scope_for``) for
    ``period`` to ``file`` and audit the export; returns the number of rows written."""
    snapshots = dashboards.scope_snapshots(actor=actor, scope=scope, period=period)
    count = table_write(
        header=_scorecard_header(),
        rows=_scorecard_rows(snapshots),
        money_columns=SCORECARD_MONEY,
        file_format=file_format,
        file=file,
        title=gettext("Scorecards %(period)s") % {"period": period.label},
    )
    audit_action(
        "export",
        obj=None,
        actor=actor,
        request=request,
        detail={
            "what": "KPI scorecards",
            "scope": scope.key,
            "period": period.kind,
            "start": period.start.isoformat(),
            "format": file_format,
            "rows": count,
        },
    )
    return count


# --- Drill-downs ------------------------------------------------------------------------


def _drill_value(cell: drilldowns.Cell) -> Any:
    value = cell.value
    if cell.kind == drilldowns.MONEY and value is not None:
        # Amounts come as whole cents from the database's sums, or as Decimals.
        return (Decimal(value) / HUNDRED if isinstance(value, int) else Decimal(value)).quantize(
            Decimal("0.01")
        )
    if cell.kind == drilldowns.FLAG:
        return gettext("yes") if value else gettext("no")
    return value


def drilldown_export(
    *,
    actor: Actor,
    drill: Drill,
    scope: KpiScope,
    period: KpiPeriod,
    file_format: str,
    file: IO[bytes],
    request: HttpRequest | None = None,
) -> int:
    """Write the drill-down ``drill`` of ``scope`` for ``period`` to ``file``, as the
    page lists it, and audit the export; returns the number of rows written.

    More than ``EXPORT_ROW_CAP`` rows raise ``ExportTooLarge`` (nothing written)."""
    if file_format not in CONTENT_TYPES:
        raise ValueError(f"Unknown export format: {file_format}")
    snapshot = drilldowns.scope_snapshot(actor=actor, scope=scope, period=period)
    as_of = drilldowns.figures_date(
        snapshot, period=period, today=tenant_today(current_tenant_id())
    )
    listing = drilldowns.drill_list(
        actor=actor, drill=drill, scope=scope, period=period, as_of=as_of
    )
    if listing.listed.order_by().values("pk")[: EXPORT_ROW_CAP + 1].count() > EXPORT_ROW_CAP:
        raise ExportTooLarge(
            _("More than %(cap)s rows: choose a narrower scope or a shorter period to export.")
            % {"cap": f"{EXPORT_ROW_CAP:,}"},
            code="too_large",
        )
    money = [i for i, column in enumerate(drill.columns) if column.kind == drilldowns.MONEY]
    count = table_write(
        header=drill.header(),
        rows=(
            [_drill_value(cell) for cell in listing.cells(row)]
            for row in listing.rows.iterator(chunk_size=EXPORT_CHUNK)
        ),
        money_columns=money,
        file_format=file_format,
        file=file,
        title=str(drill.title),
    )
    audit_action(
        "export",
        obj=None,
        actor=actor,
        request=request,
        detail={
            "what": "KPI drill-down",
            "drill": drill.code,
            "scope": scope.key,
            "period": period.kind,
            "start": period.start.isoformat(),
            "as_of": as_of.isoformat(),
            "format": file_format,
            "rows": count,
        },
    )
    return count
