"""An RM finds a client by the last four digits of the mobile, opens the client 360 page
and records a need inline (htmx), in Chromium."""

from decimal import Decimal

import pytest

from customers.models import Need, Product
from tests.factories import (
    TEST_PASSWORD,
    ClientFactory,
    HeldAwayAssetFactory,
    HoldingFactory,
    ProductFactory,
)
from vipcrm.tenancy import tenant_context


@pytest.mark.django_db(transaction=True)
def test_rm_finds_a_client_by_mobile_suffix_and_adds_a_need_inline(live_server, page, bank_a):
    star = ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        name="王俊磊",
        mobile="13076589949",
        aum_cny=Decimal("3000000.00"),
    )
    ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        name="李四",
        mobile="13900001111",
    )
    fund = ProductFactory(
        tenant=bank_a.tenant, name="沪深300指数基金", category=Product.Category.FUND
    )
    HoldingFactory(tenant=bank_a.tenant, client=star, product=fund, balance=Decimal("3000000.00"))
    HeldAwayAssetFactory(tenant=bank_a.tenant, client=star, amount_cny=Decimal("1000000.00"))

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(bank_a.rm.user.username)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/clients/")
    page.locator("#id_q").fill("9949")
    page.locator("#id_q").press("Enter")
    page.wait_for_url("**/clients/?q=9949*")
    rows = page.locator("table.clienttable tbody tr")
    assert rows.count() == 1
    assert "李四" not in rows.first.inner_text()
    rows.first.get_by_role("link", name="王俊磊").click()
    page.wait_for_url(f"**/clients/{star.external_id}/")

    assert page.get_by_role("heading", level=1).inner_text() == "王俊磊"
    holdings = page.locator("section#holdings")
    assert "沪深300指数基金" in holdings.inner_text()
    chart = page.locator("section#allocation svg.donut")
    assert chart.is_visible()
    assert "75.0%" in chart.inner_html()  # share of wallet: 3,000,000 / 4,000,000

    # Added through htmx: the page must not reload, so a marker set now survives.
    page.evaluate("window.__stillTheSamePage = true")
    needs = page.locator("section#needs")
    needs.locator("#need-kind").select_option("global_investment")
    needs.locator("#need-note").fill("女儿明年赴英留学")
    needs.locator("form.addform button[type=submit]").click()
    page.locator("section#needs .flash").wait_for()
    assert "女儿明年赴英留学" in page.locator("section#needs").inner_text()
    assert page.evaluate("window.__stillTheSamePage") is True
    assert page.url.endswith(f"/clients/{star.external_id}/")
    page.wait_for_load_state("networkidle")  # no request still writing (SQLite locks)

    with tenant_context(bank_a.tenant):
        need = Need.objects.get(client=star)
    assert (need.kind, need.note, need.is_open) == ("global_investment", "女儿明年赴英留学", True)
