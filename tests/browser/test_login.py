"""An RM logs in in Chromium, sees "My day" in Chinese, and switches to English."""

import pytest

from tests.factories import TEST_PASSWORD


@pytest.mark.django_db(transaction=True)
def test_rm_logs_in_sees_my_day_in_chinese_and_switches_to_english(live_server, page, bank_a):
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    assert page.locator("html").get_attribute("lang") == "zh-hans"

    page.get_by_label("用户名").fill(bank_a.rm.user.username)
    page.get_by_label("密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").is_visible()

    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", level=1).inner_text() == "我的一天"
    assert bank_a.rm.name in page.content()

    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "My day"
    assert page.locator("html").get_attribute("lang") == "en"

    page.get_by_role("button", name="中文").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "我的一天"
