"""A supervisor builds a saved segment in the page (live htmx preview), saves it, opens it
as a target list and exports it as CSV and XLSX, in Chromium."""

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from segmentation.models import SavedSegment
from tests.factories import TEST_PASSWORD, ClientFactory, ClientSegmentFactory, TierFactory
from vipcrm.models import AuditEntry
from vipcrm.tenancy import tenant_context


@pytest.mark.django_db(transaction=True)
def test_supervisor_builds_saves_opens_and_exports_a_segment(live_server, page, bank_a):
    t = bank_a.tenant
    gold = TierFactory(tenant=t, code="GOLD", name="金卡", rank=2)
    diamond = TierFactory(tenant=t, code="DIAMOND", name="钻石", rank=3)

    def client(name, number, tier, aum, lifecycle, branch, owner=None):
        made = ClientFactory(
            tenant=t,
            name=name,
            external_id=number,
            tier=tier,
            aum_cny=Decimal(aum),
            mobile="13800001234",
            branch=branch,
            owner_rm=owner,
        )
        ClientSegmentFactory(tenant=t, client=made, lifecycle=lifecycle, average_aum_cny=aum)
        return made

    client("王成长", "C001", gold, "900000", "growing", bank_a.sub, bank_a.rm)
    client("李成长", "C002", diamond, "6000000", "growing", bank_a.city)
    client("张稳定", "C003", gold, "700000", "stable", bank_a.sub, bank_a.rm)
    client("赵浦东", "C004", gold, "800000", "growing", bank_a.other_sub, bank_a.other_rm)
    client("钱普通", "C005", None, "100000", "growing", bank_a.sub, bank_a.rm)

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(bank_a.supervisor.user.username)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/segmentation/segments/")
    page.locator("#segment-new").click()
    page.wait_for_url("**/segmentation/segments/new/")
    # Nothing ticked yet: every client in the supervisor's branch and its sub-branch.
    assert page.locator("#preview-count").get_attribute("data-count") == "4"

    page.evaluate("window.__stillTheSamePage = true")
    page.locator("input[name=tiers][value=GOLD]").check()
    page.locator("input[name=tiers][value=DIAMOND]").check()
    page.locator('#preview-count[data-count="3"]').wait_for()
    page.locator("input[name=lifecycles][value=growing]").check()
    page.locator('#preview-count[data-count="2"]').wait_for()
    page.locator("#crit-aum_min").fill("1000000")
    page.locator('#preview-count[data-count="1"]').wait_for()
    preview = page.locator("#segment-preview").inner_text()
    assert "李成长" in preview and "王成长" not in preview
    page.locator("#crit-aum_min").fill("")
    page.locator('#preview-count[data-count="2"]').wait_for()
    preview = page.locator("#segment-preview").inner_text()
    assert "王成长" in preview and "李成长" in preview
    assert "张稳定" not in preview and "赵浦东" not in preview and "钱普通" not in preview
    assert page.evaluate("window.__stillTheSamePage") is True  # the preview never reloads

    page.locator("#seg-name").fill("成长期贵宾")
    page.locator("#seg-description").fill("季度理财推介")
    page.locator("#seg-is_shared").check()
    page.locator("#segment-save").click()
    page.wait_for_url(re.compile(r".*/segmentation/segments/\d+/$"))
    # The page's own requests (the notification bell) finish before the test reads the
    # database: SQLite's shared in-memory database locks a table a request is writing.
    page.wait_for_load_state("networkidle")

    with tenant_context(t):
        segment = SavedSegment.objects.get()
    assert segment.name == "成长期贵宾" and segment.is_shared
    assert segment.criteria == {
        "version": 1,
        "tiers": ["DIAMOND", "GOLD"],
        "lifecycles": ["growing"],
    }
    assert page.get_by_role("heading", level=1).inner_text() == "成长期贵宾"
    rows = page.locator("table.segmentclients tbody tr")
    assert rows.count() == 2
    assert "李成长" in rows.nth(0).inner_text()  # largest AUM first
    rows.nth(1).get_by_role("link", name="王成长").wait_for()

    with page.expect_download() as csv_download:
        page.locator("#segment-export-csv").click()
    download = csv_download.value
    assert download.suggested_filename.startswith("成长期贵宾-")
    assert download.suggested_filename.endswith(".csv")
    body = Path(download.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert [row[:2] for row in table[1:]] == [["C002", "李成长"], ["C001", "王成长"]]
    assert {row[12] for row in table[1:]} == {"138****1234"}  # a supervisor sees masked

    with page.expect_download() as xlsx_download:
        page.locator("#segment-export-xlsx").click()
    sheet = load_workbook(io.BytesIO(Path(xlsx_download.value.path()).read_bytes())).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
    assert [row[:2] for row in values] == [["C002", "李成长"], ["C001", "王成长"]]
    assert values[0][4] == 6000000

    with tenant_context(t):
        exports = list(AuditEntry.objects.filter(action="export").order_by("at", "id"))
    assert [entry.detail["format"] for entry in exports] == ["csv", "xlsx"]
    assert all(entry.actor_id == bank_a.supervisor.user_id for entry in exports)
