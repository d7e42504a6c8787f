"""Exports (``kpi:export`` for scorecards, ``kpi:drill?format=`` for drill-downs) as CSV
and XLSX, parsed back: the rows and figures of the page, the scope of the viewer, text
that looks like a formula kept as text, bad parameters refused (400), another scope a
404, and every export audited."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from kpi import exports
from kpi.definitions import METRICS
from tests.factories import (
    ClientFactory,
    PlannedContactFactory,
    StaffFactory,
    TimeLogFactory,
)
from tests.kpi.builders import snapshot_row
from vipcrm.models import AuditEntry
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

EXPORT = reverse("kpi:export")
NOVEMBER = {"period": "month", "start": "2026-11-01"}
D = datetime.date
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def row(bank, **kwargs):
    return snapshot_row(bank, as_of=D(2026, 11, 27), **kwargs)


@pytest.fixture
def month(bank_a):
    colleague = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, code="R3")
    return {
        "tenant": row(bank_a, vip_count=50),
        "city": row(bank_a, branch=bank_a.city, total=61.5, rank=1, vip_count=30),
        "sub": row(bank_a, branch=bank_a.sub, total=61.5, rank=1, vip_count=30),
        "other_sub": row(bank_a, branch=bank_a.other_sub, total=40.0, rank=2),
        "rm": row(
            bank_a,
            staff=bank_a.rm,
            total=72.25,
            rank=1,
            vip_count=12,
            book_aum_cny="1234567.89",
            coverage_pct=83.3,
        ),
        "colleague": row(bank_a, staff=colleague, total=50.0, rank=2, vip_count=18),
        "other_rm": row(bank_a, staff=bank_a.other_rm, total=45.0, rank=1),
    }


def body(response) -> bytes:
    """A scorecards export answers from memory; a drill-down streams its file."""
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body(response).decode("utf-8-sig"))))


def xlsx_rows(response) -> list[tuple]:
    workbook = load_workbook(io.BytesIO(body(response)), read_only=True)
    return list(workbook.active.iter_rows(values_only=True))


# --- Scorecards -----------------------------------------------------------------------------


def test_an_rm_exports_their_scorecard_as_csv(login, english, bank_a, month):
    response = login(bank_a.rm).get(EXPORT, {**NOVEMBER, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f"scorecards-rm_{bank_a.rm.pk}-month-20261101" in response["Content-Disposition"]
    header, *rows = csv_rows(response)
    assert header[:3] == ["Scope", "Staff code", "RM"]
    assert len(header) == 11 + 5 + len(METRICS)
    assert len(rows) == 1
    found = dict(zip(header, rows[0], strict=True))
    assert found["Staff code"] == "R1" and found["Total score"] == "72.25"
    assert found["Figures as of"] == "2026-11-27"
    assert (found["VIP clients"], found["Book AUM (CNY)"], found["Coverage (%)"]) == (
        "12",
        "1234567.89",
        "83.3",
    )
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(action="export")
    assert entry.detail == {
        "what": "KPI scorecards",
        "scope": f"rm:{bank_a.rm.pk}",
        "period": "month",
        "start": "2026-11-01",
        "format": "csv",
        "rows": 1,
    }


def test_a_branchs_scorecards_as_xlsx_hold_the_branch_its_sub_branches_and_rms(
    login, english, bank_a, month
):
    query = {**NOVEMBER, "scope": f"branch:{bank_a.city.pk}", "format": "xlsx"}
    response = login(bank_a.supervisor).get(EXPORT, query)
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    header, *rows = xlsx_rows(response)
    assert [(r[0], r[2], r[4]) for r in rows] == [
        ("Branch", None, "北京分行"),
        ("Branch", None, "朝阳支行"),
        ("RM", bank_a.rm.name, "朝阳支行"),
        ("RM", month["colleague"].staff.name, "朝阳支行"),
    ]
    aum = header.index("Book AUM (CNY)")
    assert rows[2][aum] == 1234567.89  # a number in the sheet, not text
    assert rows[2][header.index("Period start")].date() == D(2026, 11, 1)


def test_head_office_exports_the_whole_bank(login, english, bank_a, month):
    response = login(bank_a.head).get(EXPORT, {**NOVEMBER, "scope": "tenant", "format": "csv"})
    _header, *rows = csv_rows(response)
    assert len(rows) == 7  # the bank, three branches with rows, three RMs
    assert [r[0] for r in rows] == ["Bank", "Branch", "Branch", "Branch", "RM", "RM", "RM"]


def test_a_scope_out_of_reach_is_a_404_and_writes_no_audit(login, bank_a, bank_b, month):
    for who, scope in [
        (bank_a.rm, f"rm:{bank_a.other_rm.pk}"),
        (bank_a.rm, f"branch:{bank_a.sub.pk}"),
        (bank_a.supervisor, "tenant"),
        (bank_a.supervisor, f"branch:{bank_a.other_sub.pk}"),
        (bank_a.head, f"rm:{bank_b.rm.pk}"),
        (bank_a.advisor, ""),
    ]:
        response = login(who).get(EXPORT, {**NOVEMBER, "scope": scope, "format": "csv"})
        assert response.status_code == 404, (who, scope)
    with tenant_context(bank_a.tenant):
        assert not AuditEntry.objects.filter(action="export").exists()


@pytest.mark.parametrize(
    "query",
    [
        {**NOVEMBER, "format": "pdf"},
        {"period": "week", "start": "2026-11-01", "format": "csv"},
        {"period": "month", "start": "soon", "format": "xlsx"},
    ],
)
def test_bad_export_parameters_are_a_400(query, login, bank_a, month):
    response = login(bank_a.rm).get(EXPORT, query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


# --- Drill-downs ----------------------------------------------------------------------------


@pytest.fixture
def overdue(bank_a):
    """Three overdue contacts of rm on 27 November; one client's name looks like a formula."""
    names = ['=HYPERLINK("http://x")', "钱多多", "孙悟空"]
    contacts = []
    for n, name in enumerate(names):
        client = ClientFactory(
            tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, name=name
        )
        contacts.append(
            PlannedContactFactory(
                tenant=bank_a.tenant,
                client=client,
                assigned_to=bank_a.rm,
                due_on=D(2026, 11, 10 + n),
                status="overdue",
            )
        )
    return contacts


def drill(code: str) -> str:
    return reverse("kpi:drill", args=[code])


def test_a_drill_down_as_csv_is_the_pages_list(login, english, bank_a, month, overdue):
    query = {**NOVEMBER, "scope": f"rm:{bank_a.rm.pk}", "format": "csv"}
    response = login(bank_a.rm).get(drill("overdue_contacts"), query)
    assert response.status_code == 200
    header, *rows = csv_rows(response)
    assert header == [
        "Due on",
        "Days overdue",
        "Customer number",
        "Name",
        "Reason",
        "Status",
        "Done on",
        "Assigned to",
    ]
    assert [r[0] for r in rows] == ["2026-11-10", "2026-11-11", "2026-11-12"]
    assert [r[1] for r in rows] == ["17", "16", "15"]  # to the figures' date, 27 November
    assert rows[0][3] == '\'=HYPERLINK("http://x")'  # a formula stays text
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(action="export")
    assert entry.detail["what"] == "KPI drill-down"
    assert (entry.detail["drill"], entry.detail["rows"], entry.detail["as_of"]) == (
        "overdue_contacts",
        3,
        "2026-11-27",
    )


def test_a_drill_down_as_xlsx_has_numbers_and_text(login, english, bank_a, month):
    for day, kind in [(D(2026, 11, 2), "vip_service"), (D(2026, 11, 3), "admin")]:
        TimeLogFactory(
            tenant=bank_a.tenant, staff=bank_a.rm, date=day, kind=kind, hours=Decimal("7.5")
        )
    query = {**NOVEMBER, "scope": f"branch:{bank_a.sub.pk}", "format": "xlsx"}
    response = login(bank_a.supervisor).get(drill("time_logs"), query)
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    header, *rows = xlsx_rows(response)
    assert header == ("Date", "RM", "Kind of work", "Hours")
    assert [(r[0].date(), r[2], float(r[3])) for r in rows] == [
        (D(2026, 11, 3), "Administration", 7.5),
        (D(2026, 11, 2), "VIP client service", 7.5),
    ]


def test_a_drill_down_export_keeps_to_the_scope_and_the_viewer(login, bank_a, bank_b, month):
    for who, scope in [
        (bank_a.rm, f"rm:{bank_a.other_rm.pk}"),
        (bank_a.supervisor, f"branch:{bank_a.other_sub.pk}"),
        (bank_a.head, f"branch:{bank_b.sub.pk}"),
    ]:
        response = login(who).get(
            drill("interactions"), {**NOVEMBER, "scope": scope, "format": "csv"}
        )
        assert response.status_code == 404


def test_a_drill_down_export_in_an_unknown_format_is_a_400(login, english, bank_a, month):
    response = login(bank_a.rm).get(drill("interactions"), {**NOVEMBER, "format": "docx"})
    assert response.status_code == 400
    assert "csv or xlsx" in response.content.decode()


def test_a_drill_down_too_large_to_export_is_refused_with_a_message(
    login, english, bank_a, month, overdue, monkeypatch
):
    monkeypatch.setattr(exports, "EXPORT_ROW_CAP", 2)
    query = {**NOVEMBER, "scope": f"rm:{bank_a.rm.pk}", "format": "xlsx"}
    response = login(bank_a.rm).get(drill("overdue_contacts"), query, follow=True)
    assert response.redirect_chain[0][1] == 302
    assert "More than 2 rows" in response.content.decode()
    with tenant_context(bank_a.tenant):
        assert not AuditEntry.objects.filter(action="export").exists()
