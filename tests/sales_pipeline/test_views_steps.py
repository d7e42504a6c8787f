"""The work of each step on an opportunity's page: plan the contact, log it with the
needs found, propose (suitability), record the sale (双录), the check-ins, cross-sells
and referrals, the celebration. Each form's bad input is the page with the form's
errors (400) and nothing written."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from contact_plans.models import Interaction, PlannedContact
from customers.models import Client, Relationship
from sales_pipeline.models import (
    Celebration,
    Opportunity,
    Proposal,
    ProposalLine,
    Referral,
    SaleCredit,
)
from tests.factories import (
    ClientFactory,
    HeldAwayAssetFactory,
    HoldingFactory,
    PlannedContactFactory,
    ProductFactory,
    ProposalFactory,
    ProposalLineFactory,
)
from tests.sales_pipeline.builders import opportunity_through, vip_client
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def url(name: str, opportunity) -> str:
    return reverse(f"sales_pipeline:{name}", args=[opportunity.pk])


def today() -> datetime.date:
    return timezone.localdate()


def reload(bank, opportunity) -> Opportunity:
    with tenant_context(bank.tenant):
        return Opportunity.objects.get(pk=opportunity.pk)


@pytest.fixture
def vip(bank_a):
    return vip_client(
        bank_a,
        name="陈静",
        risk_assessed_on=today() - DAY * 40,
        preferred_channel="wechat",
    )


@pytest.fixture
def products(bank_a):
    return {
        "deposit": ProductFactory(
            tenant=bank_a.tenant, name="七天通知存款", category="time_deposit", risk_level="R1"
        ),
        "wealth": ProductFactory(
            tenant=bank_a.tenant,
            name="稳健增利180天",
            category="wealth_management",
            risk_level="R2",
        ),
        "equity": ProductFactory(
            tenant=bank_a.tenant, name="科技成长股票基金", category="fund", risk_level="R5"
        ),
    }


# --- Step 1: plan the contact ------------------------------------------------------------


def test_step_1_plans_the_contact_and_links_it(login, english, bank_a, vip):
    opportunity = opportunity_through(bank_a, vip, 1, entered_ago=DAY)
    http = login(bank_a.rm)
    due = today() + DAY * 3
    response = http.post(
        url("plan", opportunity), {"due_on": due.isoformat(), "channel": "visit", "note": "上门"}
    )
    assert response.status_code == 302
    opportunity = reload(bank_a, opportunity)
    with tenant_context(bank_a.tenant):
        contact = PlannedContact.objects.get(pk=opportunity.planned_contact_id)
    assert (contact.due_on, contact.channel, contact.reason) == (due, "visit", "follow_up")
    page = http.get(url("opportunity", opportunity)).content.decode()
    assert f"The contact is planned for {due.isoformat()}." in page
    assert url("plan", opportunity) not in page  # planned: no second form
    assert "Met: ready to move on" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"due_on": ""}, "This field is required."),
        ({"due_on": "2026-02-30"}, "Enter a valid date."),
        ({"due_on": "2001-01-01"}, ""),  # the service: not in the past
        ({"due_on": "2099-01-01", "channel": "pigeon"}, "Select a valid choice."),
    ],
)
def test_step_1_refuses_a_bad_plan_and_writes_nothing(login, english, bank_a, vip, data, message):
    opportunity = opportunity_through(bank_a, vip, 1, entered_ago=DAY)
    response = login(bank_a.rm).post(url("plan", opportunity), data)
    assert response.status_code == 400
    assert response.context["plan_form"].errors
    assert message in response.content.decode()
    with tenant_context(bank_a.tenant):
        assert not PlannedContact.objects.exists()
    assert reload(bank_a, opportunity).planned_contact_id is None


def test_step_1_refuses_a_second_plan_while_one_is_open(login, english, bank_a, vip):
    opportunity = opportunity_through(bank_a, vip, 1, entered_ago=DAY)
    http = login(bank_a.rm)
    http.post(url("plan", opportunity), {"due_on": (today() + DAY).isoformat()})
    again = http.post(url("plan", opportunity), {"due_on": (today() + DAY * 2).isoformat()})
    assert again.status_code == 400
    assert "A contact is already planned for this opportunity" in again.content.decode()
    with tenant_context(bank_a.tenant):
        assert PlannedContact.objects.count() == 1


def test_the_work_of_another_step_is_refused_with_its_reason_on_the_page(
    login, english, bank_a, vip
):
    opportunity = opportunity_through(bank_a, vip, 3, entered_ago=DAY)
    http = login(bank_a.rm)
    plan = http.post(url("plan", opportunity), {"due_on": (today() + DAY).isoformat()})
    assert plan.status_code == 400
    assert "The contact is planned at step 1; this opportunity is at step 3." in (
        plan.content.decode()
    )
    move = http.post(url("move", opportunity), {"to_step": 4, "from_step": 3})
    assert move.status_code == 400
    page = move.content.decode()
    assert "Record the sale first" in page
    assert f'action="{url("move", opportunity)}"' not in page  # step 3 moves by the sale
    with tenant_context(bank_a.tenant):
        assert not PlannedContact.objects.exists()


# --- Step 2: log the contact with the needs found ------------------------------------------


def test_step_2_logs_the_contact_with_needs_and_answers_the_planned_one(
    login, english, bank_a, vip
):
    contact = PlannedContactFactory(
        tenant=bank_a.tenant,
        client=vip,
        reason=PlannedContact.Reason.FOLLOW_UP,
        due_on=today(),
        assigned_to=bank_a.rm,
    )
    opportunity = opportunity_through(bank_a, vip, 2, entered_ago=DAY, planned_contact=contact)
    http = login(bank_a.rm)
    form = http.get(url("opportunity", opportunity))
    assert form.context["contact_form"]["channel"].value() == "wechat"  # the preferred one
    response = http.post(
        url("contact", opportunity),
        {
            "channel": "phone",
            "summary": "客户关注子女教育金与养老",
            "needs_found": ["growth", "preservation"],
            "duration_minutes": "20",
        },
    )
    assert response.status_code == 302
    opportunity = reload(bank_a, opportunity)
    with tenant_context(bank_a.tenant):
        interaction = Interaction.objects.get(pk=opportunity.interaction_id)
        contact.refresh_from_db()
    assert interaction.needs_found == ["growth", "preservation"]
    assert contact.status == PlannedContact.Status.DONE
    page = http.get(url("opportunity", opportunity)).content.decode()
    assert "Growth" in page and "Preservation of wealth" in page
    moved = http.post(url("move", opportunity), {"to_step": 3, "from_step": 2})
    assert moved.status_code == 302 and reload(bank_a, opportunity).step == 3


@pytest.mark.parametrize(
    "data",
    [
        {"channel": "phone", "summary": ""},
        {"channel": "", "summary": "电话沟通"},
        {"channel": "phone", "summary": "电话沟通", "needs_found": ["lottery"]},
        {"channel": "phone", "summary": "电话沟通", "duration_minutes": "0"},
        {"channel": "phone", "summary": "电话沟通", "occurred_at": "2099-01-01T10:00"},
    ],
)
def test_step_2_refuses_a_bad_contact_and_writes_nothing(login, bank_a, vip, data):
    opportunity = opportunity_through(bank_a, vip, 2, entered_ago=DAY)
    response = login(bank_a.rm).post(url("contact", opportunity), data)
    assert response.status_code == 400
    assert response.context["contact_form"].errors
    with tenant_context(bank_a.tenant):
        assert not Interaction.objects.exists()


# --- Step 3: the proposal and the sale ------------------------------------------------------


def proposal_data(*lines, note="") -> dict:
    data = {
        "lines-TOTAL_FORMS": str(max(len(lines), 1)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "12",
        "note": note,
    }
    for index, (product, amount) in enumerate(lines):
        data[f"lines-{index}-product"] = str(getattr(product, "pk", product))
        data[f"lines-{index}-amount_cny"] = amount
    return data


def test_step_3_shows_suitability_and_the_allocation_beside_the_proposed_mix(
    login, english, bank_a, vip, products
):
    HoldingFactory(
        tenant=bank_a.tenant, client=vip, product=products["deposit"], balance=Decimal("600000")
    )
    HeldAwayAssetFactory(tenant=bank_a.tenant, client=vip, amount_cny=Decimal("400000"))
    opportunity = opportunity_through(bank_a, vip, 3, entered_ago=DAY)
    proposal = ProposalFactory(tenant=bank_a.tenant, opportunity=opportunity)
    ProposalLineFactory(
        tenant=bank_a.tenant, proposal=proposal, product=products["wealth"], amount_cny="500000"
    )
    response = login(bank_a.rm).get(url("opportunity", opportunity))
    page = response.content.decode()
    assert "products up to R3 may be proposed" in page
    rows = {row.label: row for row in response.context["allocation"].rows}
    assert rows["Time deposit"].current_cny == Decimal("600000.00")
    assert rows["Time deposit"].current_share == Decimal("60.0")
    assert rows["Wealth-management product"].proposed_share == Decimal("100.0")
    assert rows["Real estate"].current_share == Decimal("40.0") and not rows["Real estate"].at_bank
    assert "科技成长股票基金 · R5 · above the client&#x27;s risk tolerance" in page
    sale = response.context["sale_forms"][0]
    assert [field.name for _line, field in sale.recording_fields()] == [
        f"ref_{products['wealth'].pk}"
    ]


def test_step_3_saves_a_proposal_then_records_the_sale_with_its_recording_reference(
    login, english, bank_a, vip, products
):
    opportunity = opportunity_through(bank_a, vip, 3, entered_ago=DAY)
    http = login(bank_a.rm)
    proposed = http.post(
        url("proposal", opportunity),
        proposal_data((products["deposit"], "200000"), (products["wealth"], "300000.50")),
    )
    assert proposed.status_code == 302
    with tenant_context(bank_a.tenant):
        proposal = Proposal.objects.get(opportunity=opportunity)
        assert proposal.lines.count() == 2
    assert proposal.risk_level == "C3"

    missing_ref = http.post(url("win", opportunity), {"proposal": proposal.pk})
    assert missing_ref.status_code == 400
    assert "This product needs the reference of its sales recording." in (
        missing_ref.content.decode()
    )
    assert reload(bank_a, opportunity).status == Opportunity.Status.OPEN

    won = http.post(
        url("win", opportunity),
        {"proposal": proposal.pk, f"ref_{products['wealth'].pk}": "SL-2026-0001"},
    )
    assert won.status_code == 302
    opportunity = reload(bank_a, opportunity)
    assert (opportunity.status, opportunity.step) == (Opportunity.Status.WON, 4)
    assert opportunity.won_amount_cny == Decimal("500000.50")
    with tenant_context(bank_a.tenant):
        line = ProposalLine.objects.get(proposal=proposal, product=products["wealth"])
        credit = SaleCredit.objects.get(opportunity=opportunity)
        check_ins = sorted(
            PlannedContact.objects.filter(reason="follow_up").values_list("due_on", flat=True)
        )
    assert line.recording_ref == "SL-2026-0001"
    assert (credit.staff_id, credit.amount_cny) == (bank_a.rm.pk, Decimal("500000.50"))
    assert check_ins == [today() + DAY * 7, today() + DAY * 30]
    page = http.get(url("opportunity", opportunity)).content.decode()
    assert "Check-in 7 days after the sale" in page and "SL-2026-0001" in page


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([("deposit", "0")], "The amount must be more than zero."),
        ([("deposit", "-100")], "The amount must be more than zero."),
        ([("deposit", "")], "Give the amount for this product."),
        ([], "Propose at least one product with its amount."),
        ([("deposit", "100"), ("deposit", "200")], "This product is already on the proposal."),
        ([("equity", "100000")], "above the client&#x27;s risk tolerance C3"),
        ([(999999, "100000")], "Select a valid choice."),
    ],
)
def test_step_3_refuses_a_bad_proposal_and_writes_nothing(
    login, english, bank_a, vip, products, lines, message
):
    opportunity = opportunity_through(bank_a, vip, 3, entered_ago=DAY)
    data = proposal_data(*((products.get(name, name), amount) for name, amount in lines))
    response = login(bank_a.rm).post(url("proposal", opportunity), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    with tenant_context(bank_a.tenant):
        assert not Proposal.objects.exists()


def test_step_3_refuses_another_banks_product(login, bank_a, bank_b, vip):
    foreign = ProductFactory(tenant=bank_b.tenant, name="乙行理财")
    opportunity = opportunity_through(bank_a, vip, 3, entered_ago=DAY)
    response = login(bank_a.rm).post(url("proposal", opportunity), proposal_data((foreign, "1000")))
    assert response.status_code == 400
    assert "乙行理财" not in response.content.decode()
    with tenant_context(bank_a.tenant):
        assert not Proposal.objects.exists()


@pytest.mark.parametrize(
    ("assessed", "notice", "message"),
    [
        (None, "the client must be assessed", "The client has no risk assessment on file"),
        (400, "re-assess the client", "must be renewed before any product is proposed"),
    ],
)
def test_step_3_refuses_a_proposal_without_a_valid_assessment(
    login, english, bank_a, vip, products, assessed, notice, message
):
    with tenant_context(bank_a.tenant):
        Client.objects.filter(pk=vip.pk).update(
            risk_level="" if assessed is None else "C3",
            risk_assessed_on=None if assessed is None else today() - DAY * assessed,
        )
    opportunity = opportunity_through(bank_a, vip, 3, entered_ago=DAY)
    http = login(bank_a.rm)
    assert notice in http.get(url("opportunity", opportunity)).content.decode()
    response = http.post(url("proposal", opportunity), proposal_data((products["deposit"], "100")))
    assert response.status_code == 400
    assert message in response.content.decode()
    with tenant_context(bank_a.tenant):
        assert not Proposal.objects.exists()


def test_step_3_refuses_a_sale_in_the_future_or_of_another_proposal(
    login, english, bank_a, vip, products
):
    opportunity = opportunity_through(bank_a, vip, 3, entered_ago=DAY)
    proposal = ProposalFactory(tenant=bank_a.tenant, opportunity=opportunity)
    ProposalLineFactory(tenant=bank_a.tenant, proposal=proposal, product=products["deposit"])
    elsewhere = ProposalFactory(tenant=bank_a.tenant)
    http = login(bank_a.rm)
    future = http.post(
        url("win", opportunity),
        {"proposal": proposal.pk, "won_on": (today() + DAY).isoformat()},
    )
    assert future.status_code == 400
    assert "A sale cannot be recorded in the future." in future.content.decode()
    other = http.post(url("win", opportunity), {"proposal": elsewhere.pk})
    assert other.status_code == 400
    assert "Choose one of this opportunity&#x27;s proposals." in other.content.decode()
    assert reload(bank_a, opportunity).status == Opportunity.Status.OPEN


# --- Step 4: check-ins, cross-sell, referral --------------------------------------------


@pytest.fixture
def won(bank_a, vip, products):
    opportunity = opportunity_through(
        bank_a,
        vip,
        4,
        entered_ago=DAY,
        status=Opportunity.Status.WON,
        won_amount_cny=Decimal("500000"),
        won_at=timezone.now(),
        title="稳健理财配置",
    )
    for days in (7, 30):
        PlannedContactFactory(
            tenant=bank_a.tenant,
            client=vip,
            assigned_to=bank_a.rm,
            reason=PlannedContact.Reason.FOLLOW_UP,
            due_on=today() + DAY * days,
            source_date=today(),
            source_key=f"opportunity:{opportunity.pk}:check_in:{days}",
        )
    return opportunity


def test_step_4_logs_both_check_ins_then_moves_to_the_celebration(login, english, bank_a, won):
    http = login(bank_a.rm)
    page = http.get(url("opportunity", won))
    check_ins = page.context["check_ins"]
    assert [c.days_after for c in check_ins] == [7, 30]
    refused = http.post(url("move", won), {"to_step": 5, "from_step": 4})
    assert refused.status_code == 400
    assert "Do the after-sales check-ins first: 0 of 2 done." in refused.content.decode()
    for contact in check_ins:
        logged = http.post(
            url("check-in", won),
            {"planned_contact": contact.pk, "channel": "phone", "summary": "客户对收益满意"},
        )
        assert logged.status_code == 302
    moved = http.post(url("move", won), {"to_step": 5, "from_step": 4})
    assert moved.status_code == 302 and reload(bank_a, won).step == 5


def test_step_4_refuses_a_check_in_that_is_not_one_of_its_open_ones(login, bank_a, vip, won):
    stranger = PlannedContactFactory(tenant=bank_a.tenant, client=vip, due_on=today())
    http = login(bank_a.rm)
    response = http.post(
        url("check-in", won), {"planned_contact": stranger.pk, "channel": "phone", "summary": "x"}
    )
    assert response.status_code == 400
    assert "planned_contact" in response.context["check_in_form"].errors
    empty = http.post(url("check-in", won), {"channel": "phone", "summary": ""})
    assert empty.status_code == 400
    with tenant_context(bank_a.tenant):
        assert not Interaction.objects.exists()


def test_step_4_captures_a_cross_sell_as_a_new_opportunity(login, english, bank_a, won, products):
    http = login(bank_a.rm)
    response = http.post(
        url("cross-sell", won),
        {
            "title": "家庭保障保险",
            "expected_amount_cny": "80000",
            "products": [products["deposit"].pk],
        },
    )
    assert response.status_code == 302
    with tenant_context(bank_a.tenant):
        child = Opportunity.objects.get(parent=won)
    assert (child.source, child.step, child.owner_rm_id) == ("cross_sell", 1, bank_a.rm.pk)
    assert "家庭保障保险" in http.get(url("opportunity", won)).content.decode()
    bad = http.post(url("cross-sell", won), {"title": "", "expected_amount_cny": "0"})
    assert bad.status_code == 400
    assert {"title", "expected_amount_cny"} <= set(bad.context["cross_sell_form"].errors)


def test_step_4_records_a_referral_as_a_prospect_credited_to_the_rm(
    login, english, bank_a, vip, won
):
    http = login(bank_a.rm)
    response = http.post(
        url("referral", won),
        {"name": "周婷", "mobile": "13900001111", "gender": "F", "relationship": "sibling"},
    )
    assert response.status_code == 302
    with tenant_context(bank_a.tenant):
        referral = Referral.objects.select_related("prospect").get()
        tie = Relationship.objects.get(client=vip)
    prospect = referral.prospect
    assert prospect.external_id.startswith("PROSPECT-") and prospect.referrer_id == vip.pk
    assert (referral.credited_to_id, tie.related_id) == (bank_a.rm.pk, prospect.pk)
    page = http.get(url("opportunity", won)).content.decode()
    assert "周婷" in page and prospect.external_id in page


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "周婷", "mobile": "12345"}, "mobile"),
        ({"name": "周婷", "relationship": "cousin"}, "relationship"),
    ],
)
def test_step_4_refuses_a_bad_referral_and_writes_nothing(login, bank_a, won, data, field):
    response = login(bank_a.rm).post(url("referral", won), data)
    assert response.status_code == 400
    assert field in response.context["referral_form"].errors
    with tenant_context(bank_a.tenant):
        assert not Referral.objects.exists()
        assert not Client.objects.filter(external_id__startswith="PROSPECT-").exists()


def test_a_referral_with_the_mobile_of_an_existing_client_is_refused(login, english, bank_a, won):
    ClientFactory(tenant=bank_a.tenant, mobile="13900002222")
    response = login(bank_a.rm).post(
        url("referral", won), {"name": "周婷", "mobile": "13900002222"}
    )
    assert response.status_code == 400
    assert "A client with this mobile number is already at the bank." in response.content.decode()


# --- Step 5: the celebration ------------------------------------------------------------


def test_step_5_records_the_celebration_and_closes_the_opportunity(login, english, bank_a, vip):
    opportunity = opportunity_through(
        bank_a,
        vip,
        5,
        entered_ago=DAY,
        status=Opportunity.Status.WON,
        won_amount_cny=Decimal("500000"),
    )
    http = login(bank_a.rm)
    refused = http.post(url("celebrate", opportunity), {"team_recognition": "  "})
    assert refused.status_code == 400
    with tenant_context(bank_a.tenant):
        assert not Celebration.objects.exists()
    response = http.post(
        url("celebrate", opportunity),
        {
            "team_recognition": "感谢理财经理与客户经理的默契配合",
            "client_thanks": "已寄送感谢卡",
            "client_thanks_channel": "visit",
            "departments": "个金部, 运营部",
            "department_thanks": "感谢运营部加急处理",
        },
    )
    assert response.status_code == 302
    assert reload(bank_a, opportunity).completed_at is not None
    page = http.get(url("opportunity", opportunity)).content.decode()
    assert "Closed: celebrated" in page and "感谢运营部加急处理" in page
    again = http.post(url("celebrate", opportunity), {"team_recognition": "再次"})
    assert again.status_code == 400
    with tenant_context(bank_a.tenant):
        assert Celebration.objects.count() == 1
