"""Reads behind the client pages: search, filters, sorting, holdings, allocation."""

import datetime
from decimal import Decimal

import pytest

from customers import selectors
from customers.models import Holding, Product, Relationship
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    FxRateFactory,
    HeldAwayAssetFactory,
    HoldingFactory,
    ProductFactory,
    RelationshipFactory,
    TierFactory,
)
from vipcrm.roles import Actor

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 28)


def search(bank, in_tenant, staff=None, **filters):
    actor = Actor.for_staff(staff or bank.head)
    with in_tenant(bank.tenant):
        return list(
            selectors.client_search(actor=actor, today=TODAY, **filters).values_list(
                "external_id", flat=True
            )
        )


def a_client(bank, **kwargs):
    kwargs.setdefault("branch", bank.sub)
    kwargs.setdefault("owner_rm", bank.rm)
    return ClientFactory(tenant=bank.tenant, **kwargs)


# --- Search ---------------------------------------------------------------------------


def test_search_by_name_contains(bank_a, in_tenant):
    a_client(bank_a, external_id="C1", name="欧阳明华")
    a_client(bank_a, external_id="C2", name="李明华")
    a_client(bank_a, external_id="C3", name="王小二")
    assert sorted(search(bank_a, in_tenant, query="明华")) == []  # 2 characters: a prefix
    assert sorted(search(bank_a, in_tenant, query="阳明华")) == ["C1"]
    assert sorted(search(bank_a, in_tenant, query="Zhang")) == []


def test_search_by_a_short_name_is_a_prefix_search(bank_a, in_tenant):
    a_client(bank_a, external_id="C1", name="李明华")
    a_client(bank_a, external_id="C2", name="王李")
    assert search(bank_a, in_tenant, query="李") == ["C1"]
    assert search(bank_a, in_tenant, query="李明") == ["C1"]


def test_search_by_customer_number_is_exact(bank_a, in_tenant):
    a_client(bank_a, external_id="C0000000042")
    a_client(bank_a, external_id="C00000000421")
    assert search(bank_a, in_tenant, query="C0000000042") == ["C0000000042"]
    assert search(bank_a, in_tenant, query=" C0000000042 ") == ["C0000000042"]
    assert search(bank_a, in_tenant, query="C000000004") == []


def test_search_by_the_last_four_digits_of_the_mobile(bank_a, in_tenant):
    a_client(bank_a, external_id="C1", mobile="13812345678")
    a_client(bank_a, external_id="C2", mobile="13956785678")
    a_client(bank_a, external_id="C3", mobile="13912341234")
    assert sorted(search(bank_a, in_tenant, query="5678")) == ["C1", "C2"]
    assert search(bank_a, in_tenant, query="678") == []  # three digits are not a mobile suffix
    assert search(bank_a, in_tenant, query="1381") == []  # a prefix is not a suffix


def test_search_by_the_whole_mobile(bank_a, in_tenant):
    a_client(bank_a, external_id="C1", mobile="13812345678")
    a_client(bank_a, external_id="C2", mobile="13956785678")
    assert search(bank_a, in_tenant, query="13812345678") == ["C1"]


def test_a_query_with_digits_is_a_customer_number_not_a_name(bank_a, in_tenant):
    a_client(bank_a, external_id="VIP2026", name="VIP2026号客户")
    a_client(bank_a, external_id="C2", name="张2026")
    assert search(bank_a, in_tenant, query="VIP2026") == ["VIP2026"]
    assert search(bank_a, in_tenant, query="2026") == []  # 4 digits: a mobile suffix


def test_search_never_widens_the_scope(bank_a, in_tenant):
    a_client(bank_a, external_id="MINE", name="张三丰", owner_rm=bank_a.rm)
    a_client(bank_a, external_id="THEIRS", name="张三丰", owner_rm=bank_a.other_rm)
    assert search(bank_a, in_tenant, bank_a.rm, query="张三丰") == ["MINE"]
    assert search(bank_a, in_tenant, bank_a.rm, query="THEIRS") == []


# --- Filters --------------------------------------------------------------------------


def test_filter_by_branch_includes_sub_branches(bank_a, in_tenant):
    a_client(bank_a, external_id="SUB", branch=bank_a.sub)
    a_client(bank_a, external_id="CITY", branch=bank_a.city)
    a_client(bank_a, external_id="SH", branch=bank_a.other_sub)
    assert sorted(search(bank_a, in_tenant, branch=bank_a.city)) == ["CITY", "SUB"]
    assert search(bank_a, in_tenant, branch=bank_a.sub) == ["SUB"]


def test_filter_by_owner_rm_and_tier(bank_a, in_tenant):
    gold = TierFactory(tenant=bank_a.tenant, name="金卡")
    a_client(bank_a, external_id="A", owner_rm=bank_a.rm, tier=gold)
    a_client(bank_a, external_id="B", owner_rm=bank_a.other_rm, tier=gold)
    a_client(bank_a, external_id="C", owner_rm=bank_a.rm)
    assert sorted(search(bank_a, in_tenant, owner_rm=bank_a.rm)) == ["A", "C"]
    assert sorted(search(bank_a, in_tenant, tier=gold)) == ["A", "B"]


def test_filter_by_risk_level_and_expiry(bank_a, in_tenant):
    a_client(bank_a, external_id="FRESH", risk_level="C3", risk_assessed_on=TODAY)
    a_client(
        bank_a,
        external_id="LASTDAY",
        risk_level="C3",
        risk_assessed_on=TODAY - datetime.timedelta(days=364),
    )
    a_client(
        bank_a,
        external_id="OLD",
        risk_level="C4",
        risk_assessed_on=TODAY - datetime.timedelta(days=365),
    )
    a_client(bank_a, external_id="NEVER")
    assert sorted(search(bank_a, in_tenant, risk_level="C3")) == ["FRESH", "LASTDAY"]
    assert sorted(search(bank_a, in_tenant, risk_expired=True)) == ["NEVER", "OLD"]
    assert sorted(search(bank_a, in_tenant, risk_expired=False)) == ["FRESH", "LASTDAY"]


def test_filter_entrepreneurs(bank_a, in_tenant):
    a_client(bank_a, external_id="BOSS", is_entrepreneur=True)
    a_client(bank_a, external_id="EMPLOYEE", is_entrepreneur=False)
    assert search(bank_a, in_tenant, is_entrepreneur=True) == ["BOSS"]
    assert search(bank_a, in_tenant, is_entrepreneur=False) == ["EMPLOYEE"]


def test_filter_maturing_within_n_days_counts_active_holdings_only(bank_a, in_tenant):
    def holding(client, days, status=Holding.Status.ACTIVE):
        HoldingFactory(
            tenant=bank_a.tenant,
            client=client,
            matures_on=TODAY + datetime.timedelta(days=days),
            status=status,
        )

    soon, later, closed, past = (
        a_client(bank_a, external_id=x) for x in ("SOON", "LATER", "CLOSED", "PAST")
    )
    holding(soon, 10)
    holding(soon, 12)  # two maturing holdings: still one row
    holding(later, 45)
    holding(closed, 5, Holding.Status.CLOSED)
    holding(past, -1)
    a_client(bank_a, external_id="NONE")
    assert search(bank_a, in_tenant, maturing_within_days=30) == ["SOON"]
    assert sorted(search(bank_a, in_tenant, maturing_within_days=45)) == ["LATER", "SOON"]
    assert search(bank_a, in_tenant, maturing_within_days=10) == ["SOON"]


# --- Sorting --------------------------------------------------------------------------


def test_sort_orders(bank_a, in_tenant):
    a_client(
        bank_a,
        external_id="C2",
        name="b",
        aum_cny=Decimal("300"),
        risk_assessed_on=datetime.date(2026, 1, 1),
        risk_level="C1",
    )
    a_client(bank_a, external_id="C3", name="a", aum_cny=Decimal("100"))
    a_client(
        bank_a,
        external_id="C1",
        name="c",
        aum_cny=Decimal("200"),
        risk_assessed_on=datetime.date(2025, 1, 1),
        risk_level="C1",
    )
    assert search(bank_a, in_tenant, sort="name") == ["C3", "C2", "C1"]
    assert search(bank_a, in_tenant, sort="-aum") == ["C2", "C1", "C3"]
    assert search(bank_a, in_tenant, sort="aum") == ["C3", "C1", "C2"]
    assert search(bank_a, in_tenant, sort="external_id") == ["C1", "C2", "C3"]
    # Oldest assessment first; never assessed last (on every database).
    assert search(bank_a, in_tenant, sort="risk_assessed") == ["C1", "C2", "C3"]
    assert search(bank_a, in_tenant, sort="no-such-sort") == ["C3", "C2", "C1"]


def test_filter_choices_follow_the_scope(bank_a, bank_b, in_tenant):
    with in_tenant(bank_a.tenant):
        rm_choices = selectors.client_filter_choices(actor=Actor.for_staff(bank_a.rm))
        assert list(rm_choices["owner_rms"]) == [bank_a.rm]
        assert list(rm_choices["branches"]) == [bank_a.sub]
        head = selectors.client_filter_choices(actor=Actor.for_staff(bank_a.head))
        assert set(head["owner_rms"]) == {bank_a.rm, bank_a.other_rm}
        assert bank_b.sub not in set(head["branches"])


# --- Holdings, allocation, share of wallet -------------------------------------------


def test_holdings_are_grouped_by_category_with_cny_subtotals(bank_a, in_tenant):
    client = a_client(bank_a)
    fund = ProductFactory(tenant=bank_a.tenant, category=Product.Category.FUND, currency="USD")
    deposit = ProductFactory(tenant=bank_a.tenant, category=Product.Category.TIME_DEPOSIT)
    FxRateFactory(
        tenant=bank_a.tenant,
        currency="USD",
        date=TODAY - datetime.timedelta(days=3),
        rate_to_cny=Decimal("7"),
    )
    FxRateFactory(
        tenant=bank_a.tenant,
        currency="USD",
        date=TODAY - datetime.timedelta(days=1),
        rate_to_cny=Decimal("7.2"),
    )
    FxRateFactory(
        tenant=bank_a.tenant,
        currency="USD",
        date=TODAY + datetime.timedelta(days=1),
        rate_to_cny=Decimal("9"),
    )
    HoldingFactory(
        tenant=bank_a.tenant, client=client, product=fund, currency="USD", balance=Decimal("1000")
    )
    HoldingFactory(
        tenant=bank_a.tenant,
        client=client,
        product=deposit,
        balance=Decimal("50000"),
        matures_on=TODAY + datetime.timedelta(days=30),
    )
    HoldingFactory(
        tenant=bank_a.tenant,
        client=client,
        product=deposit,
        balance=Decimal("20000"),
        matures_on=TODAY + datetime.timedelta(days=31),
    )
    HoldingFactory(
        tenant=bank_a.tenant, client=client, product=deposit, balance=Decimal("1"), status="closed"
    )
    with in_tenant(bank_a.tenant):
        summary = selectors.client_holdings(client=client, today=TODAY)
    assert [(g.category, g.subtotal_cny) for g in summary.groups] == [
        ("time_deposit", Decimal("70000.00")),
        ("fund", Decimal("7200.00")),  # the latest rate on or before today
    ]
    assert summary.total_cny == Decimal("77200.00")
    assert len(summary.closed) == 1
    deposits = summary.groups[0].holdings
    assert [h.matures_in_days for h in deposits] == [30, None]


def test_a_currency_without_a_rate_is_reported_not_guessed(bank_a, in_tenant):
    client = a_client(bank_a)
    HoldingFactory(tenant=bank_a.tenant, client=client, currency="HKD", balance=Decimal("10"))
    with in_tenant(bank_a.tenant):
        summary = selectors.client_holdings(client=client, today=TODAY)
    assert summary.unconverted == ["HKD"]
    assert summary.groups[0].holdings[0].balance_cny is None


def test_share_of_wallet_is_aum_over_aum_plus_held_away(bank_a, in_tenant):
    client = a_client(bank_a, aum_cny=Decimal("1000000"))
    HoldingFactory(tenant=bank_a.tenant, client=client, balance=Decimal("1000000"))
    HeldAwayAssetFactory(
        tenant=bank_a.tenant, client=client, kind="real_estate", amount_cny=Decimal("2000000")
    )
    HeldAwayAssetFactory(
        tenant=bank_a.tenant, client=client, kind="other_bank", amount_cny=Decimal("1000000")
    )
    with in_tenant(bank_a.tenant):
        holdings = selectors.client_holdings(client=client, today=TODAY)
        away = selectors.client_held_away_assets(client=client)
        allocation = selectors.client_allocation(client=client, holdings=holdings, held_away=away)
    assert allocation.share_of_wallet == Decimal("25.0")
    assert allocation.held_away_total == Decimal("3000000")
    assert [(s.key, s.share, s.at_bank) for s in allocation.slices] == [
        ("wealth_management", Decimal("25.0"), True),
        ("away-real_estate", Decimal("50.0"), False),
        ("away-other_bank", Decimal("25.0"), False),
    ]


def test_share_of_wallet_is_unknown_without_any_wealth(bank_a, in_tenant):
    client = a_client(bank_a)
    with in_tenant(bank_a.tenant):
        holdings = selectors.client_holdings(client=client, today=TODAY)
        allocation = selectors.client_allocation(client=client, holdings=holdings, held_away=[])
    assert allocation.share_of_wallet is None
    assert allocation.slices == []


# --- Risk, relationships, life events -------------------------------------------------


@pytest.mark.parametrize(
    ("assessed_days_ago", "state"),
    [(None, "missing"), (365, "expired"), (340, "expiring"), (100, "valid")],
)
def test_risk_status(bank_a, in_tenant, assessed_days_ago, state):
    kwargs = {}
    if assessed_days_ago is not None:
        kwargs = {
            "risk_level": "C3",
            "risk_assessed_on": TODAY - datetime.timedelta(days=assessed_days_ago),
        }
    client = a_client(bank_a, **kwargs)
    assert selectors.client_risk_status(client=client, today=TODAY).state == state


def test_relationships_read_from_either_side(bank_a, in_tenant):
    parent, child, partner = a_client(bank_a), a_client(bank_a), a_client(bank_a)
    RelationshipFactory(
        tenant=bank_a.tenant, client=parent, related=child, kind=Relationship.Kind.CHILD
    )
    RelationshipFactory(
        tenant=bank_a.tenant, client=partner, related=child, kind=Relationship.Kind.BUSINESS_PARTNER
    )
    with in_tenant(bank_a.tenant):
        from_child = selectors.client_relationships(client=child)
        from_parent = selectors.client_relationships(client=parent)
    assert [(r.other, r.kind, r.is_household) for r in from_child] == [
        (parent, Relationship.Kind.PARENT, True),
        (partner, Relationship.Kind.BUSINESS_PARTNER, False),
    ]
    assert [(r.other, r.kind) for r in from_parent] == [(child, Relationship.Kind.CHILD)]


def test_visible_among_keeps_only_what_the_actor_may_open(bank_a, in_tenant):
    mine = a_client(bank_a, owner_rm=bank_a.rm)
    theirs = a_client(bank_a, owner_rm=bank_a.other_rm, branch=bank_a.other_sub)
    shared = a_client(bank_a, owner_rm=bank_a.other_rm, branch=bank_a.other_sub)
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=shared, staff=bank_a.rm)
    with in_tenant(bank_a.tenant):
        visible = selectors.clients_visible_among(
            actor=Actor.for_staff(bank_a.rm), ids={mine.pk, theirs.pk, shared.pk, None}
        )
    assert visible == {mine.pk, shared.pk}
