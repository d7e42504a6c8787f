"""An RM takes one opportunity through the five steps in Chromium: opened from the
client's 360 view, the contact planned, moved on the board with htmx (no reload), the
contact logged with the needs found, a proposal, the sale recorded with its 双录
reference, both after-sales check-ins logged, and the celebration."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from contact_plans.models import Interaction, PlannedContact
from sales_pipeline.models import Celebration, Opportunity, ProposalLine, SaleCredit, StepEntry
from tests.factories import TEST_PASSWORD, ClientFactory, ProductFactory, TierFactory
from vipcrm.tenancy import tenant_context


def submit(page, action: str) -> None:
    """Send the form posting to ``action`` (…/plan/, …/win/…) and wait for the page and
    its own requests (the notification bell): SQLite, shared with this test's thread,
    takes one writer at a time."""
    with page.expect_navigation():
        page.locator(f'form[action$="{action}"] button[type=submit]').first.click()
    page.wait_for_load_state("networkidle")


@pytest.mark.django_db(transaction=True)
def test_an_rm_takes_an_opportunity_through_the_five_steps(live_server, page, bank_a):
    today = timezone.localdate()
    vip = ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        tier=TierFactory(tenant=bank_a.tenant, name="钻石"),
        name="何丽君",
        risk_level="C3",
        risk_assessed_on=today - datetime.timedelta(days=60),
        preferred_channel="phone",
    )
    wealth = ProductFactory(
        tenant=bank_a.tenant, name="稳健增利180天", category="wealth_management", risk_level="R2"
    )
    ProductFactory(tenant=bank_a.tenant, name="科技成长股票基金", category="fund", risk_level="R5")

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(bank_a.rm.user.username)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server.url}/")

    # Opened from the client's 360 view. Located by structure, not by label: the new
    # strings' translations come later.
    page.goto(f"{live_server.url}/clients/{vip.external_id}/")
    with page.expect_navigation():
        page.locator(f'#opportunities a[href$="/pipeline/new/?client={vip.external_id}"]').click()
    page.locator("#new-title").fill("到期资金配置")
    page.locator("#new-source").select_option("walk_in")
    page.locator("#new-expected_amount_cny").fill("500000")
    page.locator("#new-products").select_option(str(wealth.pk))
    submit(page, "/pipeline/new/?client=" + vip.external_id)
    with tenant_context(bank_a.tenant):
        opportunity = Opportunity.objects.get(client=vip)
    opportunity_url = f"{live_server.url}/pipeline/{opportunity.pk}/"
    assert page.url == opportunity_url

    # Step 1: plan the contact.
    page.locator("#plan-due_on").fill((today + datetime.timedelta(days=1)).isoformat())
    page.locator("#plan-channel").select_option("visit")
    submit(page, f"/{opportunity.pk}/plan/")
    assert page.locator(".steps__step--current .badge--ok").count() == 1  # met

    # On the board, the card moves to step 2 with htmx: no reload, counts updated.
    page.goto(f"{live_server.url}/pipeline/")
    page.evaluate("window.__stillTheSamePage = true")
    card = page.locator(f"#card-{opportunity.pk}")
    assert "何丽君" in card.inner_text()
    assert page.locator(".pipeline__column--1 .pipeline__count").inner_text() == "1"
    card.locator("button[type=submit]").click()
    page.locator(f".pipeline__column--2 #card-{opportunity.pk}").wait_for()
    assert page.locator(".pipeline__column--1 .pipeline__count").inner_text() == "0"
    assert page.locator(".pipeline__column--2 .pipeline__count").inner_text() == "1"
    assert page.evaluate("window.__stillTheSamePage") is True

    # Step 2: a move without the contact is refused on the card, with the reason.
    card = page.locator(f"#card-{opportunity.pk}")
    card.locator("button[type=submit]").click()
    page.locator(f"#card-{opportunity.pk} .oppcard__refusal").wait_for()
    assert page.evaluate("window.__stillTheSamePage") is True

    # Step 2: log the contact with the needs found, then move on from the page.
    page.goto(opportunity_url)
    page.locator("#contact-channel").select_option("visit")
    page.locator("#contact-summary").fill("上门拜访，客户希望到期资金稳健增值")
    page.locator("label.checkgroup__option", has=page.locator('input[value="growth"]')).click()
    page.locator(
        "label.checkgroup__option", has=page.locator('input[value="preservation"]')
    ).click()
    submit(page, f"/{opportunity.pk}/contact/")
    submit(page, f"/{opportunity.pk}/move/")
    assert page.locator("#id_lines-0-product").count() == 1  # step 3's proposal form

    # Step 3: the product of interest is proposed first; its amount, then save.
    assert page.locator("#id_lines-0-product").input_value() == str(wealth.pk)
    page.locator("#id_lines-0-amount_cny").fill("480000")
    submit(page, f"/{opportunity.pk}/proposal/")
    assert "480,000.00" in page.locator("#allocation").inner_text()
    assert "稳健增利180天" in page.locator(".opsale").inner_text()  # the proposal to win

    # Record the sale: without the 双录 reference it is refused on the form.
    submit(page, f"/{opportunity.pk}/win/")
    assert page.locator(".opsale .field__error").count() == 1
    page.locator(f'.opsale input[name="ref_{wealth.pk}"]').fill("SL-20261129-001")
    submit(page, f"/{opportunity.pk}/win/")
    assert page.locator(".steps__step--current .steps__number").inner_text() == "4"

    # Step 4: both after-sales check-ins, then move on.
    for _ in range(2):
        page.locator("#check-in-channel").select_option("phone")
        page.locator("#check-in-summary").fill("回访：客户对产品满意")
        submit(page, f"/{opportunity.pk}/check-in/")
    assert page.locator(".item--done").count() == 2
    submit(page, f"/{opportunity.pk}/move/")

    # Step 5: the celebration closes it.
    page.locator("#celebrate-team_recognition").fill("感谢理财顾问的专业支持，团队协作完成配置")
    page.locator("#celebrate-departments").fill("个金部")
    submit(page, f"/{opportunity.pk}/celebrate/")
    assert page.locator(".steps__step--done").count() == 5

    with tenant_context(bank_a.tenant):
        opportunity.refresh_from_db()
        entries = list(StepEntry.objects.filter(opportunity=opportunity).order_by("step"))
        line = ProposalLine.objects.get(proposal__opportunity=opportunity)
        interaction = Interaction.objects.get(pk=opportunity.interaction_id)
        check_ins = PlannedContact.objects.filter(
            source_key__startswith=f"opportunity:{opportunity.pk}:check_in:"
        )
        credit = SaleCredit.objects.get(opportunity=opportunity)
        assert Celebration.objects.filter(opportunity=opportunity).exists()
        assert sorted(check_ins.values_list("status", flat=True)) == ["done", "done"]
    assert opportunity.status == Opportunity.Status.WON and opportunity.completed_at
    assert opportunity.won_amount_cny == Decimal("480000.00")
    assert [entry.step for entry in entries] == [1, 2, 3, 4, 5]
    assert all(entry.left_at for entry in entries)
    assert line.recording_ref == "SL-20261129-001"
    assert sorted(interaction.needs_found) == ["growth", "preservation"]
    assert (credit.staff_id, credit.amount_cny) == (bank_a.rm.pk, Decimal("480000.00"))
