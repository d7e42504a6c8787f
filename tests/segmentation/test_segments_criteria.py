"""Saved-segment criteria: the schema refuses what it does not know, and each criterion
(alone and combined) selects exactly the clients whose attributes match."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from customers.models import Holding, LifeEvent, Need, Product
from segmentation import segments
from segmentation.models import Lifecycle
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    ClientTeamMemberFactory,
    HoldingFactory,
    LifeEventFactory,
    NeedFactory,
    ProductFactory,
    StaffFactory,
    TierFactory,
)
from vipcrm.roles import Actor, Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 15)


@pytest.fixture
def world(bank_a, bank_b, in_tenant):
    """Four clients with known attributes (names say which), and one in another bank."""
    t = bank_a.tenant
    gold = TierFactory(tenant=t, code="GOLD", name="金卡", rank=2, aum_floor=Decimal("500000"))
    diamond = TierFactory(
        tenant=t, code="DIAMOND", name="钻石", rank=3, aum_floor=Decimal("5000000")
    )
    fund = ProductFactory(tenant=t, category=Product.Category.FUND)
    time_deposit = ProductFactory(tenant=t, category=Product.Category.TIME_DEPOSIT)

    gold_client = ClientFactory(
        tenant=t,
        name="金卡男",
        tier=gold,
        aum_cny=Decimal("800000.00"),
        gender="M",
        birth_date=datetime.date(1970, 6, 20),  # 55 on TODAY, 56 five days later
        risk_level="C3",
        risk_assessed_on=datetime.date(2026, 1, 1),
        is_entrepreneur=True,
        preferred_channel="phone",
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
    )
    ClientSegmentFactory(
        tenant=t,
        client=gold_client,
        average_aum_cny=Decimal("700000.00"),
        lifecycle=Lifecycle.STABLE,
        product_preference=Product.Category.FUND,
    )

    diamond_client = ClientFactory(
        tenant=t,
        name="钻石女",
        tier=diamond,
        aum_cny=Decimal("6000000.00"),
        gender="F",
        birth_date=datetime.date(1990, 12, 1),
        risk_level="C5",
        risk_assessed_on=datetime.date(2024, 1, 1),
        preferred_channel="wechat",
        branch=bank_a.other_sub,
        owner_rm=bank_a.other_rm,
    )
    ClientSegmentFactory(
        tenant=t,
        client=diamond_client,
        average_aum_cny=Decimal("5500000.00"),
        lifecycle=Lifecycle.GROWING,
        product_preference=Product.Category.WEALTH_MANAGEMENT,
    )
    HoldingFactory(
        tenant=t,
        client=diamond_client,
        product=fund,
        matures_on=TODAY + datetime.timedelta(days=10),
    )
    NeedFactory(tenant=t, client=diamond_client, kind=Need.Kind.GROWTH)
    LifeEventFactory(
        tenant=t,
        client=diamond_client,
        kind=LifeEvent.Kind.MARRIAGE,
        occurs_on=TODAY - datetime.timedelta(days=20),
    )
    ClientTeamMemberFactory(tenant=t, client=diamond_client, staff=bank_a.advisor)

    plain_client = ClientFactory(
        tenant=t,
        name="非贵宾",
        aum_cny=Decimal("50000.00"),
        gender="F",
        branch=bank_a.city,
    )
    NeedFactory(tenant=t, client=plain_client, kind=Need.Kind.TAX_ADVICE, is_open=False)
    LifeEventFactory(
        tenant=t,
        client=plain_client,
        kind=LifeEvent.Kind.RETIREMENT,
        occurs_on=TODAY + datetime.timedelta(days=200),
    )
    HoldingFactory(
        tenant=t,
        client=plain_client,
        product=time_deposit,
        status=Holding.Status.CLOSED,
        matures_on=TODAY + datetime.timedelta(days=5),
    )

    new_client = ClientFactory(
        tenant=t,
        name="新客户",
        tier=gold,
        aum_cny=Decimal("520000.00"),
        gender="M",
        birth_date=datetime.date(2000, 6, 15),  # 26 today, exactly
        risk_level="C1",
        risk_assessed_on=datetime.date(2025, 6, 15),  # expires today, exactly
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
    )
    ClientSegmentFactory(
        tenant=t,
        client=new_client,
        average_aum_cny=Decimal("300000.00"),
        lifecycle=Lifecycle.NEW,
        product_preference=Product.Category.DEPOSIT,
    )

    other_bank = TierFactory(tenant=bank_b.tenant, code="GOLD", rank=2)
    ClientFactory(
        tenant=bank_b.tenant, name="乙行金卡", tier=other_bank, branch=bank_b.sub, gender="M"
    )
    return bank_a


def matching(bank, criteria, staff=None) -> set[str]:
    staff = staff or bank.head
    with tenant_context(bank.tenant):
        clean = segments.criteria_clean(criteria)
        clients = segments.segment_clients(
            actor=Actor.for_staff(staff), criteria=clean, today=TODAY
        )
        return set(clients.values_list("name", flat=True))


ALL = {"金卡男", "钻石女", "非贵宾", "新客户"}


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({}, ALL),
        ({"tiers": ["GOLD"]}, {"金卡男", "新客户"}),
        ({"tiers": ["-"]}, {"非贵宾"}),
        ({"tiers": ["DIAMOND", "-"]}, {"钻石女", "非贵宾"}),
        ({"aum_min": "520000"}, {"金卡男", "钻石女", "新客户"}),
        ({"aum_max": "520000.00"}, {"非贵宾", "新客户"}),
        ({"aum_min": 520000.01, "aum_max": 6000000}, {"金卡男", "钻石女"}),
        ({"average_aum_min": "700000"}, {"金卡男", "钻石女"}),
        ({"average_aum_max": "300000"}, {"新客户"}),
        ({"lifecycles": ["stable", "new"]}, {"金卡男", "新客户"}),
        ({"lifecycles": ["dormant"]}, set()),
        ({"open_needs": ["growth", "tax_advice"]}, {"钻石女"}),
        ({"open_needs": ["tax_advice"]}, set()),  # addressed: not a need any more
        ({"entrepreneur": True}, {"金卡男"}),
        ({"entrepreneur": False}, {"钻石女", "非贵宾", "新客户"}),
        ({"risk_levels": ["C1", "C3"]}, {"金卡男", "新客户"}),
        ({"risk_expired": True}, {"钻石女", "非贵宾", "新客户"}),
        ({"risk_expired": False}, {"金卡男"}),
        ({"product_preferences": ["fund"]}, {"金卡男"}),
        ({"product_preferences": ["deposit", "wealth_management"]}, {"钻石女", "新客户"}),
        ({"holds_categories": ["fund"]}, {"钻石女"}),
        ({"holds_categories": ["time_deposit"]}, set()),  # closed holdings do not count
        ({"branches": ["BJ"]}, {"金卡男", "非贵宾", "新客户"}),  # with its sub-branch
        ({"branches": ["SH01"]}, {"钻石女"}),
        ({"owner_rms": ["R2"]}, {"钻石女"}),
        ({"maturing_within_days": 10}, {"钻石女"}),
        ({"maturing_within_days": 9}, set()),
        ({"age_min": 55}, {"金卡男"}),
        ({"age_min": 56}, set()),
        ({"age_max": 26}, {"新客户"}),
        ({"age_max": 25}, set()),
        ({"age_min": 26, "age_max": 35}, {"钻石女", "新客户"}),
        ({"birth_months": [6]}, {"金卡男", "新客户"}),
        ({"birth_months": [1, 12]}, {"钻石女"}),
        ({"genders": ["M"]}, {"金卡男", "新客户"}),
        ({"preferred_channels": ["wechat"]}, {"钻石女"}),
        ({"life_events": ["marriage"]}, {"钻石女"}),
        ({"life_event_within_days": 20}, {"钻石女"}),
        ({"life_event_within_days": 19}, set()),
        ({"life_events": ["retirement"], "life_event_within_days": 199}, set()),
        ({"life_events": ["retirement"], "life_event_within_days": 200}, {"非贵宾"}),
    ],
    ids=lambda value: str(value) if isinstance(value, dict) else None,
)
def test_each_criterion_selects_the_matching_clients(world, criteria, expected):
    assert matching(world, criteria) == expected


def test_combined_criteria_must_all_hold(world):
    assert matching(world, {"tiers": ["GOLD"], "genders": ["M"], "age_min": 30}) == {"金卡男"}
    assert matching(world, {"tiers": ["GOLD"], "lifecycles": ["new"], "risk_expired": True}) == {
        "新客户"
    }
    assert matching(world, {"tiers": ["GOLD"], "branches": ["SH01"]}) == set()


def test_the_criteria_translate_to_one_query_whatever_their_number(world, in_tenant):
    criteria = {
        "tiers": ["GOLD", "-"],
        "average_aum_min": "1",
        "lifecycles": ["stable"],
        "open_needs": ["growth"],
        "holds_categories": ["fund"],
        "maturing_within_days": 30,
        "life_events": ["marriage"],
        "birth_months": [6],
        "owner_rms": ["R1"],
    }
    with in_tenant(world.tenant):
        clean = segments.criteria_clean(criteria)
        clients = segments.segment_clients(
            actor=Actor.for_staff(world.head), criteria=clean, today=TODAY
        )
        with CaptureQueriesContext(connection) as queries:
            list(clients)
    assert len(queries.captured_queries) == 1


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("head", ALL),
        ("supervisor", {"金卡男", "非贵宾", "新客户"}),  # city branch and its sub-branch
        ("rm", {"金卡男", "新客户"}),  # their own book
        ("other_rm", {"钻石女"}),
        ("advisor", {"钻石女"}),  # the clients whose team they are on
    ],
)
def test_a_segment_only_ever_covers_the_clients_the_viewer_may_see(world, who, expected):
    assert matching(world, {}, staff=getattr(world, who)) == expected
    assert matching(world, {"genders": ["F", "M"]}, staff=getattr(world, who)) == expected


def test_another_banks_clients_never_match(world, bank_b):
    assert "乙行金卡" not in matching(world, {"tiers": ["GOLD"], "genders": ["M"]})


# --- The schema ---------------------------------------------------------------------


def clean_errors(bank, criteria) -> dict[str, list[str]]:
    with tenant_context(bank.tenant), pytest.raises(ValidationError) as caught:
        segments.criteria_clean(criteria)
    return {key: [str(m) for m in error.messages] for key, error in _dict(caught.value).items()}


def _dict(error):
    return {key: ValidationError(messages) for key, messages in error.error_dict.items()}


def test_clean_criteria_are_normalised_and_versioned(world, in_tenant):
    with in_tenant(world.tenant):
        clean = segments.criteria_clean(
            {
                "tiers": ["GOLD", "-", "GOLD"],
                "aum_min": 500000,
                "lifecycles": ["new", "stable"],
                "birth_months": ["6", 1],
                "genders": [],
                "age_max": None,
                "maturing_within_days": "30",
            }
        )
    assert clean == {
        "version": 1,
        "tiers": ["-", "GOLD"],
        "aum_min": "500000.00",
        "lifecycles": ["new", "stable"],  # in the schema's order
        "birth_months": [1, 6],
        "maturing_within_days": 30,
    }


def test_an_empty_object_is_every_client_in_view(world, in_tenant):
    with in_tenant(world.tenant):
        assert segments.criteria_clean({}) == {"version": 1}


@pytest.mark.parametrize(
    ("criteria", "key"),
    [
        ({"colour": ["red"]}, "__all__"),
        ({"version": 2}, "__all__"),
        ({"tiers": "GOLD"}, "tiers"),
        ({"tiers": ["PLATINUM"]}, "tiers"),
        ({"branches": ["XX99"]}, "branches"),
        ({"owner_rms": ["NOBODY"]}, "owner_rms"),
        ({"aum_min": "lots"}, "aum_min"),
        ({"aum_min": -1}, "aum_min"),
        ({"aum_max": "1e30"}, "aum_max"),
        ({"aum_max": True}, "aum_max"),
        ({"average_aum_min": "NaN"}, "average_aum_min"),
        ({"aum_min": "2000", "aum_max": "1000"}, "aum_max"),
        ({"age_min": 60, "age_max": 30}, "age_max"),
        ({"age_min": 121}, "age_min"),
        ({"age_min": 30.5}, "age_min"),
        ({"lifecycles": ["sleepy"]}, "lifecycles"),
        ({"open_needs": ["world_peace"]}, "open_needs"),
        ({"entrepreneur": "yes"}, "entrepreneur"),
        ({"risk_levels": ["C9"]}, "risk_levels"),
        ({"risk_expired": 1}, "risk_expired"),
        ({"product_preferences": ["crypto"]}, "product_preferences"),
        ({"holds_categories": [1]}, "holds_categories"),
        ({"maturing_within_days": 0}, "maturing_within_days"),
        ({"maturing_within_days": 366}, "maturing_within_days"),
        ({"birth_months": [13]}, "birth_months"),
        ({"genders": ["X"]}, "genders"),
        ({"preferred_channels": ["fax"]}, "preferred_channels"),
        ({"life_events": ["lottery"]}, "life_events"),
        ({"life_event_within_days": -5}, "life_event_within_days"),
    ],
    ids=lambda value: str(value) if isinstance(value, dict) else None,
)
def test_invalid_criteria_are_refused_with_a_message_on_their_key(world, criteria, key):
    errors = clean_errors(world, criteria)
    assert key in errors
    assert all(message for message in errors[key])


def test_criteria_that_are_not_an_object_are_refused(world):
    assert "__all__" in clean_errors(world, ["tiers"])


def test_codes_of_another_bank_are_unknown(world, bank_b):
    StaffFactory(tenant=bank_b.tenant, code="ONLY_B", branch=bank_b.sub, role=Role.RM)
    TierFactory(tenant=bank_b.tenant, code="B_ONLY", rank=9)
    errors = clean_errors(world, {"owner_rms": ["ONLY_B"], "tiers": ["B_ONLY"]})
    assert "ONLY_B" in errors["owner_rms"][0]
    assert "B_ONLY" in errors["tiers"][0]


def test_the_age_boundary_of_a_leap_day_birthday():
    assert segments._years_before(datetime.date(2028, 2, 29), 30) == datetime.date(1998, 2, 28)
    assert segments._years_before(datetime.date(2028, 3, 1), 1) == datetime.date(2027, 3, 1)


def test_criteria_are_described_in_words(world, in_tenant):
    with in_tenant(world.tenant), translation.override("en"):
        described = dict(
            (str(label), text)
            for label, text in segments.criteria_describe(
                segments.criteria_clean(
                    {
                        "tiers": ["GOLD", "-"],
                        "aum_min": "500000",
                        "branches": ["BJ"],
                        "entrepreneur": False,
                        "lifecycles": ["dormant"],
                    }
                )
            )
        )
    assert described == {
        "Tier": "Not VIP、金卡",
        "AUM from (CNY)": "500,000.00",
        "Lifecycle": "Dormant",
        "Entrepreneur": "No",
        "Branch (with its sub-branches)": "北京分行",
    }
