"""An RM logs a call from "My day" in Chromium: the row goes without a page reload and
the client's next contact moves a cadence ahead."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from contact_plans.models import ContactPlan, Interaction, PlannedContact
from tests.factories import (
    TEST_PASSWORD,
    ClientFactory,
    ContactPlanFactory,
    HoldingFactory,
    PlannedContactFactory,
    ProductFactory,
    TierFactory,
)
from vipcrm.tenancy import tenant_context


@pytest.mark.django_db(transaction=True)
def test_rm_logs_a_call_from_my_day_and_the_next_due_date_moves(live_server, page, bank_a):
    today = timezone.localdate()
    vip = ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        tier=TierFactory(tenant=bank_a.tenant, name="钻石"),
        name="周一鸣",
        risk_level="C3",
        risk_assessed_on=today - datetime.timedelta(days=90),
    )
    ContactPlanFactory(
        tenant=bank_a.tenant,
        client=vip,
        cadence_days=45,
        last_contact_on=today - datetime.timedelta(days=50),
        next_due_on=today - datetime.timedelta(days=5),
    )
    holding = HoldingFactory(
        tenant=bank_a.tenant,
        client=vip,
        product=ProductFactory(tenant=bank_a.tenant, name="安盈180天理财"),
        balance=Decimal("2000000.00"),
        matures_on=today + datetime.timedelta(days=12),
    )
    contact = PlannedContactFactory(
        tenant=bank_a.tenant,
        client=vip,
        assigned_to=bank_a.rm,
        reason=PlannedContact.Reason.MATURITY,
        holding=holding,
        source_date=holding.matures_on,
        amount_cny=holding.balance,
        due_on=today,
    )
    cadence = PlannedContactFactory(
        tenant=bank_a.tenant,
        client=vip,
        assigned_to=bank_a.rm,
        due_on=today - datetime.timedelta(days=5),
        status=PlannedContact.Status.OVERDUE,
    )

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(bank_a.rm.user.username)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server.url}/")

    row = page.locator(f"#contact-{contact.pk}")
    assert "周一鸣" in row.inner_text()
    assert "安盈180天理财" in row.inner_text()
    assert page.locator("#contact-stats dd").first.inner_text() == "1"  # overdue: the cadence
    page.evaluate("window.__stillTheSamePage = true")

    # Located by structure, not by label: the new strings' translations come later.
    row.locator(f'a[href^="/contacts/{contact.pk}/log/"]').click()
    form = row.locator("form.contactform")
    form.wait_for()
    # Saving without a summary: the errors show in the form, nothing is logged.
    form.locator(f"#log-{contact.pk}-channel").select_option("phone")
    form.locator("button[type=submit]").click()
    page.locator(f"#contact-{contact.pk} .field__error").first.wait_for()

    form = page.locator(f"#contact-{contact.pk} form.contactform")
    form.locator(f"#log-{contact.pk}-summary").fill("客户同意到期后续作稳健理财")
    form.locator(f"#log-{contact.pk}-duration_minutes").fill("12")
    form.locator(
        "label.checkgroup__option", has=page.locator('input[value="preservation"]')
    ).click()
    form.locator("button[type=submit]").click()

    page.locator(f"#contact-{contact.pk}").wait_for(state="detached")
    flash = page.locator("#contact-flash .flash")
    flash.wait_for()
    next_due = today + datetime.timedelta(days=45)
    assert next_due.isoformat() in flash.inner_text()
    assert page.evaluate("window.__stillTheSamePage") is True
    # Logging also completed the open cadence contact: the overdue count refreshes to 0.
    page.wait_for_function("document.querySelector('#contact-stats dd').textContent.trim() === '0'")
    page.wait_for_load_state("networkidle")  # no request still writing (SQLite locks)

    with tenant_context(bank_a.tenant):
        plan = ContactPlan.objects.get(client=vip)
        interaction = Interaction.objects.get(client=vip)
        contact.refresh_from_db()
        cadence.refresh_from_db()
    assert (plan.last_contact_on, plan.next_due_on) == (today, next_due)
    assert contact.status == cadence.status == PlannedContact.Status.DONE
    assert (interaction.channel, interaction.duration_minutes) == ("phone", 12)
    assert interaction.needs_found == ["preservation"]
