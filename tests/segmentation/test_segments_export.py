"""Saved segments exported as CSV and XLSX: the viewer's clients only, identity masked per
role, every export audited, formulas kept as text, and a cap with a clear message."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from customers.models import Tier
from segmentation import segments
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    SavedSegmentFactory,
    StaffFactory,
    TierFactory,
)
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor, Role

pytestmark = pytest.mark.django_db

HEADER_EN = [
    "Customer number",
    "Name",
    "Gender",
    "Tier",
    "AUM (CNY)",
    "Average daily AUM (CNY)",
    "Lifecycle",
    "Product preference",
    "Risk level",
    "Risk assessed on",
    "Owner RM",
    "Home branch",
    "Mobile",
    "Preferred channel",
    "Entrepreneur",
]


@pytest.fixture
def shared(bank_a, bank_b):
    """A shared segment of the RM over gold clients: theirs, the other RM's, another bank's."""
    gold = TierFactory(tenant=bank_a.tenant, code="GOLD", name="金卡", rank=2)
    own = ClientFactory(
        tenant=bank_a.tenant,
        external_id="C100",
        name="王自己",
        mobile="13800001234",
        tier=gold,
        aum_cny=Decimal("1234567.89"),
        risk_level="C3",
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        is_entrepreneur=True,
    )
    ClientSegmentFactory(
        tenant=bank_a.tenant,
        client=own,
        average_aum_cny=Decimal("1000000.50"),
        lifecycle="growing",
        product_preference="fund",
    )
    ClientFactory(
        tenant=bank_a.tenant,
        external_id="C200",
        name="=HYPERLINK(1)",
        mobile="13900005678",
        tier=gold,
        aum_cny=Decimal("600000.00"),
        branch=bank_a.other_sub,
        owner_rm=bank_a.other_rm,
    )
    ClientFactory(tenant=bank_a.tenant, name="非贵宾", branch=bank_a.sub, owner_rm=bank_a.rm)
    b_gold = TierFactory(tenant=bank_b.tenant, code="GOLD", rank=2)
    ClientFactory(tenant=bank_b.tenant, name="乙行客户", tier=b_gold, branch=bank_b.sub)
    return SavedSegmentFactory(
        tenant=bank_a.tenant,
        owner=bank_a.rm,
        name="金卡/季度",
        is_shared=True,
        criteria={"version": 1, "tiers": ["GOLD"]},
    )


def download(client, segment, file_format):
    response = client.get(reverse(f"segmentation:segment-export-{file_format}", args=[segment.pk]))
    assert response.status_code == 200, response
    return response, b"".join(response.streaming_content)


def csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def xlsx_rows(body: bytes) -> list[list]:
    sheet = load_workbook(io.BytesIO(body)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def test_the_owner_exports_csv_with_their_clients_in_clear(login, english, bank_a, shared):
    response, body = download(login(bank_a.rm), shared, "csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;") and ".csv" in disposition
    assert "/" not in disposition.split("filename", 1)[1].replace("utf-8''", "")
    rows = csv_rows(body)
    assert rows[0] == HEADER_EN
    assert rows[1:] == [
        [
            "C100",
            "王自己",
            "Female",
            "金卡",
            "1234567.89",
            "1000000.50",
            "Growing",
            "Fund",
            "C3",
            "",
            bank_a.rm.name,
            "朝阳支行",
            "13800001234",
            "",
            "yes",
        ]
    ]


def test_the_owner_exports_xlsx_with_numbers_as_numbers(login, english, bank_a, shared):
    response, body = download(login(bank_a.rm), shared, "xlsx")
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert ".xlsx" in response["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(body))
    sheet = workbook.active
    assert sheet.title == "金卡 季度"  # "/" is not allowed in a sheet name
    rows = xlsx_rows(body)
    assert rows[0] == HEADER_EN
    assert rows[1][:2] == ["C100", "王自己"]
    assert rows[1][4] == pytest.approx(1234567.89) and rows[1][5] == pytest.approx(1000000.5)
    assert sheet["E2"].number_format == "#,##0.00"
    assert rows[1][12] == "13800001234"
    assert len(rows) == 2


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_head_office_exports_the_shared_segment_masked(login, bank_a, shared, file_format):
    _, body = download(login(bank_a.head), shared, file_format)
    rows = csv_rows(body) if file_format == "csv" else xlsx_rows(body)
    by_number = {row[0]: row for row in rows[1:]}
    assert set(by_number) == {"C100", "C200"}  # head office: the bank; never another bank
    assert by_number["C100"][12] == "138****1234"
    assert by_number["C200"][12] == "139****5678"
    flat = repr(rows)
    assert "13800001234" not in flat and "乙行客户" not in flat and "非贵宾" not in flat


def test_text_that_looks_like_a_formula_stays_text(login, bank_a, shared):
    client = login(bank_a.head)
    _, body = download(client, shared, "csv")
    assert "'=HYPERLINK(1)" in body.decode("utf-8-sig")
    _, body = download(client, shared, "xlsx")
    sheet = load_workbook(io.BytesIO(body)).active
    cell = next(row[1] for row in sheet.iter_rows(min_row=2) if row[0].value == "C200")
    assert (cell.value, cell.data_type) == ("=HYPERLINK(1)", "s")


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_every_export_is_audited(login, bank_a, shared, in_tenant, file_format):
    download(login(bank_a.supervisor), shared, file_format)
    with in_tenant(bank_a.tenant):
        entry = AuditEntry.objects.get(action="export")
    assert entry.actor == bank_a.supervisor.user
    assert (entry.object_type, entry.object_id) == ("segmentation.savedsegment", str(shared.pk))
    assert entry.detail == {
        "what": "saved segment",
        "format": file_format,
        "rows": 1,  # the supervisor's branch holds only the RM's client
        "criteria": {"version": 1, "tiers": ["GOLD"]},
    }


def test_a_colleague_exports_only_their_own_clients(login, bank_a, shared, in_tenant):
    colleague = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, code="R3")
    with in_tenant(bank_a.tenant):
        gold = Tier.objects.get(code="GOLD")
    ClientFactory(
        tenant=bank_a.tenant,
        external_id="C300",
        name="李同事",
        mobile="13700009999",
        tier=gold,
        branch=bank_a.sub,
        owner_rm=colleague,
    )
    _, body = download(login(colleague), shared, "csv")
    rows = csv_rows(body)
    assert [row[0] for row in rows[1:]] == ["C300"]
    assert rows[1][12] == "13700009999"  # their own client: in clear
    # The other RM works at another sub-branch: the shared segment is not theirs to use.
    response = login(bank_a.other_rm).get(
        reverse("segmentation:segment-export-csv", args=[shared.pk])
    )
    assert response.status_code == 404


def test_an_export_above_the_cap_is_refused_with_a_message(
    login, english, bank_a, shared, in_tenant, monkeypatch
):
    monkeypatch.setattr(segments, "EXPORT_ROW_CAP", 1)
    client = login(bank_a.head)  # two clients match
    url = reverse("segmentation:segment-export-xlsx", args=[shared.pk])
    response = client.get(url, follow=True)
    assert response.redirect_chain == [
        (reverse("segmentation:segment-detail", args=[shared.pk]), 302)
    ]
    assert "More than 1 clients in your view match this segment" in response.content.decode()
    with in_tenant(bank_a.tenant):
        assert not AuditEntry.objects.filter(action="export").exists()


def test_the_writers_stream_many_rows(bank_a, in_tenant):
    """Rows come through ``iterator`` in chunks; the row count is exact past a chunk."""
    ClientFactory.create_batch(
        segments.EXPORT_CHUNK + 5, tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm
    )
    segment = SavedSegmentFactory(tenant=bank_a.tenant, owner=bank_a.rm, criteria={})
    with in_tenant(bank_a.tenant):
        csv_file, xlsx_file = io.BytesIO(), io.BytesIO()
        actor = Actor.for_staff(bank_a.rm)
        assert segments.saved_segment_export(
            actor=actor, segment=segment, file_format="csv", file=csv_file
        ) == (segments.EXPORT_CHUNK + 5)
        assert segments.saved_segment_export(
            actor=actor, segment=segment, file_format="xlsx", file=xlsx_file
        ) == (segments.EXPORT_CHUNK + 5)
        assert AuditEntry.objects.filter(action="export").count() == 2
    assert len(csv_rows(csv_file.getvalue())) == segments.EXPORT_CHUNK + 6
    assert len(xlsx_rows(xlsx_file.getvalue())) == segments.EXPORT_CHUNK + 6
