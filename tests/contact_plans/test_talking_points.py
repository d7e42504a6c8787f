"""Talking points: what the RM should bring up, from what the bank knows."""

import datetime
from decimal import Decimal

import pytest
from django.utils import translation

from contact_plans import talking_points
from contact_plans.models import PlannedContact
from contact_plans.talking_points import (
    register_talking_point_source,
    talking_point_sources,
    talking_points_for,
    talking_points_many,
)
from customers.models import LifeEvent, Need, Product
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    ContactPlanFactory,
    HoldingFactory,
    InteractionFactory,
    LifeEventFactory,
    NeedFactory,
    PlannedContactFactory,
    ProductFactory,
)
from vipcrm.tenancy import tenant_context

ON = datetime.date(2026, 11, 28)
Reason = PlannedContact.Reason
Category = Product.Category


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def days(n: int) -> datetime.date:
    return ON + datetime.timedelta(days=n)


@pytest.fixture
def client_c3(bank_a):
    return ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        risk_level="C3",
        risk_assessed_on=days(-200),
    )


def maturity_for(bank, client, *, product=None, amount="1500000.00", matures=10):
    product = product or ProductFactory(
        tenant=bank.tenant, name="添利90天", category=Category.WEALTH_MANAGEMENT, risk_level="R2"
    )
    holding = HoldingFactory(
        tenant=bank.tenant,
        client=client,
        product=product,
        balance=Decimal(amount),
        matures_on=days(matures),
    )
    return PlannedContactFactory(
        tenant=bank.tenant,
        client=client,
        assigned_to=bank.rm,
        reason=Reason.MATURITY,
        holding=holding,
        source_date=days(matures),
        amount_cny=Decimal(amount),
        due_on=ON,
    )


def points(bank, contact):
    with tenant_context(bank.tenant):
        return talking_points_for(
            PlannedContact.objects.select_related("client", "holding__product", "life_event").get(
                pk=contact.pk
            ),
            on=ON,
        )


def test_a_maturity_names_the_product_the_amount_the_date_and_the_days_left(bank_a, client_c3):
    contact = maturity_for(bank_a, client_c3)
    lines = points(bank_a, contact)
    assert lines[0] == (
        "添利90天 matures on 2026-12-08 (in 10 days): 1,500,000.00 CNY to reinvest."
    )


def test_alternatives_are_suitable_for_the_risk_level_nearest_category_first(bank_a, client_c3):
    def product(code, category, risk):
        return ProductFactory(
            tenant=bank_a.tenant, code=code, name=code, category=category, risk_level=risk
        )

    maturing = product("WM-OLD", Category.WEALTH_MANAGEMENT, "R2")
    product("WM-R3", Category.WEALTH_MANAGEMENT, "R3")
    product("WM-R2", Category.WEALTH_MANAGEMENT, "R2")
    product("WM-R4", Category.WEALTH_MANAGEMENT, "R4")  # above C3: never suggested
    product("TD-R1", Category.TIME_DEPOSIT, "R1")
    product("FUND-R3", Category.FUND, "R3")  # a farther neighbour: only fourth
    product("INS-R1", Category.INSURANCE, "R1")  # not a neighbour of wealth management
    contact = maturity_for(bank_a, client_c3, product=maturing)
    lines = points(bank_a, contact)
    assert "Suitable for C3 Balanced: WM-R3 (R3), WM-R2 (R2), TD-R1 (R1)." in lines
    assert not any("WM-R4" in line or "WM-OLD (" in line for line in lines)


def test_an_expired_assessment_must_be_renewed_before_any_suggestion(bank_a, client_c3):
    client_c3.risk_assessed_on = days(-400)
    with tenant_context(bank_a.tenant):
        client_c3.save()
    ProductFactory(tenant=bank_a.tenant, category=Category.WEALTH_MANAGEMENT, risk_level="R1")
    lines = points(bank_a, maturity_for(bank_a, client_c3))
    assert (
        "The risk assessment (C3 Balanced) expired on 2026-10-24: it must be renewed "
        "before any product is proposed."
    ) in lines
    assert not any(line.startswith("Suitable for") for line in lines)


def test_a_client_never_assessed_gets_no_suggestions(bank_a):
    unassessed = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    ProductFactory(tenant=bank_a.tenant, category=Category.WEALTH_MANAGEMENT, risk_level="R1")
    lines = points(bank_a, maturity_for(bank_a, unassessed))
    assert any(line.startswith("No risk assessment on file") for line in lines)
    assert not any(line.startswith("Suitable for") for line in lines)


def test_an_assessment_expiring_within_30_days_is_flagged(bank_a, client_c3):
    client_c3.risk_assessed_on = days(-350)  # expires in 15 days
    with tenant_context(bank_a.tenant):
        client_c3.save()
    contact = PlannedContactFactory(tenant=bank_a.tenant, client=client_c3, due_on=ON)
    lines = points(bank_a, contact)
    assert (
        "The risk assessment (C3 Balanced) expires on 2026-12-13, in 15 days: "
        "arrange the re-assessment."
    ) in lines


def test_preference_life_events_needs_and_the_agreed_next_step(bank_a, client_c3):
    ContactPlanFactory(
        tenant=bank_a.tenant, client=client_c3, cadence_days=90, last_contact_on=days(-80)
    )
    ClientSegmentFactory(tenant=bank_a.tenant, client=client_c3, product_preference=Category.FUND)
    LifeEventFactory(
        tenant=bank_a.tenant,
        client=client_c3,
        kind=LifeEvent.Kind.STUDY_ABROAD,
        occurs_on=days(20),
        note="女儿赴英读研",
    )
    LifeEventFactory(tenant=bank_a.tenant, client=client_c3, occurs_on=days(-400))  # too old
    NeedFactory(tenant=bank_a.tenant, client=client_c3, kind=Need.Kind.GLOBAL_INVESTMENT)
    NeedFactory(tenant=bank_a.tenant, client=client_c3, kind=Need.Kind.GROWTH, is_open=False)
    InteractionFactory(
        tenant=bank_a.tenant,
        client=client_c3,
        staff=bank_a.rm,
        occurred_at=datetime.datetime(2026, 9, 9, 10, tzinfo=datetime.UTC),
        next_step="寄送海外资产配置方案",
        next_step_on=days(2),
    )
    InteractionFactory(  # an older one: not "the last contact"
        tenant=bank_a.tenant,
        client=client_c3,
        staff=bank_a.rm,
        occurred_at=datetime.datetime(2026, 8, 1, 10, tzinfo=datetime.UTC),
        next_step="旧的下一步",
    )
    contact = PlannedContactFactory(tenant=bank_a.tenant, client=client_c3, due_on=ON)
    assert points(bank_a, contact) == [
        "Regular contact: the last one was on 2026-09-09, 80 days ago (every 90 days for this "
        "tier).",
        "Product preference: Fund (the largest share of the holdings).",
        "Life event: Child studying abroad on 2026-12-18 (in 20 days) — 女儿赴英读研",
        "Open needs: Global investment.",
        "Next step agreed at the last contact (Phone, 2026-09-09): 寄送海外资产配置方案 — by "
        "2026-11-30.",
    ]


def test_birthdays_say_when_the_lunar_calendar_is_kept(bank_a, client_c3):
    client_c3.lunar_birthday = True
    with tenant_context(bank_a.tenant):
        client_c3.save()
    contact = PlannedContactFactory(
        tenant=bank_a.tenant,
        client=client_c3,
        reason=Reason.BIRTHDAY,
        due_on=days(3),
        source_date=days(3),
    )
    assert points(bank_a, contact)[0] == (
        "Birthday on 2026-12-01 (in 3 days), by the lunar calendar (农历): send greetings."
    )


def test_talking_points_are_deterministic_and_cost_a_fixed_number_of_queries(
    bank_a, client_c3, django_assert_max_num_queries
):
    contacts = [maturity_for(bank_a, client_c3, matures=n) for n in range(1, 4)]
    for n in range(8):
        other = ClientFactory(
            tenant=bank_a.tenant, branch=bank_a.sub, risk_level="C4", risk_assessed_on=days(-10)
        )
        contacts.append(maturity_for(bank_a, other, matures=n + 5))
        NeedFactory(tenant=bank_a.tenant, client=other)
    with tenant_context(bank_a.tenant):
        loaded = list(
            PlannedContact.objects.select_related("client", "holding__product", "life_event")
        )
        # Six of its own, and one for each source another app registers (the sales
        # pipeline's open opportunities).
        with django_assert_max_num_queries(6 + len(talking_point_sources())):
            first = talking_points_many(loaded, on=ON)
        second = talking_points_many(loaded, on=ON)
    assert first == second
    assert len(first) == len(contacts)


def test_other_apps_add_lines_through_the_registry(bank_a, client_c3):
    def opportunities(contacts, *, on):
        return {contact.pk: [f"Open opportunity for {contact.client.name}"] for contact in contacts}

    register_talking_point_source(opportunities)
    try:
        contact = PlannedContactFactory(tenant=bank_a.tenant, client=client_c3, due_on=ON)
        assert points(bank_a, contact)[-1] == f"Open opportunity for {client_c3.name}"
    finally:
        talking_points._sources.pop(f"{opportunities.__module__}.{opportunities.__qualname__}")
