"""The supervisor lists' membership: unqualified VIPs, near-threshold clients, tier
changes — exact boundaries, the tiering basis, filters and role scope."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

import pytest

from customers.models import Tier
from segmentation import selectors
from segmentation.models import TierChange
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    ServiceStandardFactory,
    StaffFactory,
    TierChangeFactory,
    TierFactory,
    TieringPolicyFactory,
    TierOverrideFactory,
)
from vipcrm.roles import Actor, Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 28)


@dataclass
class Tiers:
    potential: Tier
    gold: Tier
    diamond: Tier
    private: Tier


def make_tiers(tenant) -> Tiers:
    """The spec's demo tiers with their book weights (8/4/1/0.5)."""
    made = []
    for rank, (code, name, floor, weight) in enumerate(
        [
            ("POT", "潜力客户", "200000", "0.5"),
            ("GOLD", "金卡", "500000", "1"),
            ("DIAMOND", "钻石", "5000000", "4"),
            ("PRIVATE", "私人银行", "10000000", "8"),
        ],
        start=1,
    ):
        tier = TierFactory(tenant=tenant, code=code, name=name, rank=rank, aum_floor=Decimal(floor))
        ServiceStandardFactory(tenant=tenant, tier=tier, book_weight=Decimal(weight))
        made.append(tier)
    return Tiers(*made)


@pytest.fixture
def tiers(bank_a) -> Tiers:
    return make_tiers(bank_a.tenant)


def client_with(bank, *, basis: str | None, aum: str = "0", tier=None, owner=None, branch=None):
    """A client of ``bank`` whose tiering basis is ``basis`` (None: no segment row)."""
    client = ClientFactory(
        tenant=bank.tenant,
        branch=branch or bank.sub,
        owner_rm=owner if owner is not None else bank.rm,
        tier=tier,
        aum_cny=Decimal(aum),
    )
    if basis is not None:
        ClientSegmentFactory(tenant=bank.tenant, client=client, average_aum_cny=Decimal(basis))
    return client


def unqualified(bank, staff=None, **filters):
    with tenant_context(bank.tenant):
        actor = Actor.for_staff(staff or bank.supervisor)
        return {c.pk: c for c in selectors.unqualified_clients(actor=actor, today=TODAY, **filters)}


def near(bank, staff=None, **filters):
    with tenant_context(bank.tenant):
        actor = Actor.for_staff(staff or bank.supervisor)
        return {c.pk: c for c in selectors.near_threshold_clients(actor=actor, **filters)}


# --- Unqualified VIPs ----------------------------------------------------------------


def test_a_basis_exactly_at_the_tier_floor_justifies_the_tier(bank_a, tiers):
    at_floor = client_with(bank_a, basis="500000.00", tier=tiers.gold)
    assert at_floor.pk not in unqualified(bank_a)


def test_one_cent_below_the_tier_floor_is_an_unqualified_vip_with_a_pending_downgrade(
    bank_a, tiers
):
    below = client_with(bank_a, basis="499999.99", tier=tiers.gold)
    row = unqualified(bank_a)[below.pk]
    assert row.kind == selectors.UnqualifiedKind.BELOW_TIER
    assert row.floor == Decimal("500000.00")
    assert row.gap == Decimal("0.01")


def test_below_the_lowest_floor_is_not_a_vip_and_the_gap_is_to_the_lowest_floor(bank_a, tiers):
    gold_but_poor = client_with(bank_a, basis="150000", tier=tiers.gold)
    no_tier = client_with(bank_a, basis="199999.99", tier=None)
    rows = unqualified(bank_a)
    assert rows[gold_but_poor.pk].kind == selectors.UnqualifiedKind.NOT_VIP
    assert rows[gold_but_poor.pk].floor == Decimal("200000")
    assert rows[gold_but_poor.pk].gap == Decimal("50000")
    assert rows[no_tier.pk].kind == selectors.UnqualifiedKind.NOT_VIP
    assert rows[no_tier.pk].gap == Decimal("0.01")


def test_a_non_vip_at_the_lowest_floor_is_not_listed(bank_a, tiers):
    waiting_for_upgrade = client_with(bank_a, basis="200000", tier=None)
    assert waiting_for_upgrade.pk not in unqualified(bank_a)


def test_clients_outside_any_rm_book_are_never_unqualified(bank_a, tiers):
    pooled = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, tier=tiers.gold)
    ClientSegmentFactory(tenant=bank_a.tenant, client=pooled, average_aum_cny=Decimal("1"))
    assert pooled.pk not in unqualified(bank_a)


def test_the_basis_is_the_average_daily_aum_not_todays_balance(bank_a, tiers):
    one_big_day = client_with(bank_a, basis="300000", aum="900000", tier=tiers.gold)
    dipped_today = client_with(bank_a, basis="600000", aum="1000", tier=tiers.gold)
    rows = unqualified(bank_a)
    assert one_big_day.pk in rows and rows[one_big_day.pk].basis == Decimal("300000")
    assert dipped_today.pk not in rows


def test_without_a_segment_row_todays_aum_is_the_basis(bank_a, tiers):
    new_client = client_with(bank_a, basis=None, aum="480000", tier=tiers.gold)
    rows = unqualified(bank_a)
    assert rows[new_client.pk].basis == Decimal("480000")
    assert rows[new_client.pk].kind == selectors.UnqualifiedKind.BELOW_TIER


def test_months_below_the_floor_come_from_the_segment(bank_a, tiers):
    client = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, tier=tiers.diamond
    )
    ClientSegmentFactory(
        tenant=bank_a.tenant,
        client=client,
        average_aum_cny=Decimal("4000000"),
        months_below_floor=2,
    )
    assert unqualified(bank_a)[client.pk].months_below_floor == 2


def test_a_tier_pinned_by_a_standing_override_is_justified_until_it_expires(bank_a, tiers):
    pinned = client_with(bank_a, basis="100000", tier=tiers.gold)
    TierOverrideFactory(
        tenant=bank_a.tenant,
        client=pinned,
        tier=tiers.gold,
        expires_on=TODAY,
        created_by=bank_a.supervisor,
    )
    expired = client_with(bank_a, basis="100000", tier=tiers.gold)
    TierOverrideFactory(
        tenant=bank_a.tenant,
        client=expired,
        tier=tiers.gold,
        expires_on=TODAY - datetime.timedelta(days=1),
        created_by=bank_a.supervisor,
    )
    rows = unqualified(bank_a)
    assert pinned.pk not in rows
    assert expired.pk in rows


def test_a_bank_without_tiers_lists_nobody(bank_a):
    client_with(bank_a, basis="1")
    assert unqualified(bank_a) == {}


def test_unqualified_filters_by_kind_tier_rm_and_branch(bank_a, tiers):
    rm3 = StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM)
    not_vip = client_with(bank_a, basis="1000", tier=tiers.potential)
    pending = client_with(bank_a, basis="400000", tier=tiers.gold)
    at_city = client_with(bank_a, basis="400000", tier=tiers.gold, owner=rm3, branch=bank_a.city)
    kind = selectors.UnqualifiedKind
    assert set(unqualified(bank_a, kind=kind.NOT_VIP)) == {not_vip.pk}
    assert set(unqualified(bank_a, kind=kind.BELOW_TIER)) == {pending.pk, at_city.pk}
    assert set(unqualified(bank_a, tier=tiers.potential)) == {not_vip.pk}
    assert set(unqualified(bank_a, owner_rm=rm3)) == {at_city.pk}
    assert set(unqualified(bank_a, branch=bank_a.sub)) == {not_vip.pk, pending.pk}
    # A branch filter includes the branch's sub-branches.
    assert set(unqualified(bank_a, branch=bank_a.city)) == {not_vip.pk, pending.pk, at_city.pk}


def test_unqualified_sorts_by_gap_basis_and_months(bank_a, tiers):
    small_gap = client_with(bank_a, basis="490000", tier=tiers.gold)
    big_gap = client_with(bank_a, basis="300000", tier=tiers.gold)
    with tenant_context(bank_a.tenant):
        actor = Actor.for_staff(bank_a.supervisor)
        by_gap = [c.pk for c in selectors.unqualified_clients(actor=actor, sort="gap")]
        closest = [c.pk for c in selectors.unqualified_clients(actor=actor, sort="-gap")]
        by_basis = [c.pk for c in selectors.unqualified_clients(actor=actor, sort="-basis")]
    assert by_gap == [big_gap.pk, small_gap.pk]
    assert closest == [small_gap.pk, big_gap.pk]
    assert by_basis == [small_gap.pk, big_gap.pk]


def test_a_supervisor_sees_their_subtree_and_head_office_the_bank(bank_a, bank_b, tiers):
    mine = client_with(bank_a, basis="1000", tier=tiers.gold)
    elsewhere = client_with(
        bank_a, basis="1000", tier=tiers.gold, owner=bank_a.other_rm, branch=bank_a.other_sub
    )
    make_tiers(bank_b.tenant)
    other_bank = client_with(bank_b, basis="1000")
    assert set(unqualified(bank_a)) == {mine.pk}
    assert set(unqualified(bank_a, staff=bank_a.head)) == {mine.pk, elsewhere.pk}
    assert other_bank.pk not in unqualified(bank_a, staff=bank_a.head)


@pytest.mark.parametrize("role", ["rm", "advisor"])
def test_rms_and_advisors_have_no_unqualified_list(bank_a, tiers, role):
    client_with(bank_a, basis="1000", tier=tiers.gold)
    assert unqualified(bank_a, staff=getattr(bank_a, role)) == {}


# --- Near-threshold clients ----------------------------------------------------------


def test_exactly_ten_percent_below_the_next_floor_is_near_and_more_is_not(bank_a, tiers):
    exactly_10 = client_with(bank_a, basis="450000.00", tier=tiers.potential)
    just_over_10 = client_with(bank_a, basis="449950.00", tier=tiers.potential)  # 10.01%
    rows = near(bank_a)
    assert exactly_10.pk in rows
    assert just_over_10.pk not in rows


def test_one_cent_below_the_next_floor_is_near_and_at_the_floor_is_not(bank_a, tiers):
    a_cent_short = client_with(bank_a, basis="499999.99", tier=tiers.potential)
    reached = client_with(bank_a, basis="500000.00", tier=tiers.potential)
    rows = near(bank_a)
    assert rows[a_cent_short.pk].missing == Decimal("0.01")
    assert reached.pk not in rows


def test_the_next_tier_is_the_one_above_the_current_tier(bank_a, tiers):
    gold = client_with(bank_a, basis="4600000", tier=tiers.gold)
    row = near(bank_a)[gold.pk]
    assert row.next_tier_id == tiers.diamond.pk
    assert row.next_floor == Decimal("5000000")
    assert row.missing == Decimal("400000")


def test_a_non_vip_is_measured_against_the_lowest_floor(bank_a, tiers):
    prospect = client_with(bank_a, basis="185000", tier=None, owner=None)
    row = near(bank_a)[prospect.pk]
    assert row.next_tier_id == tiers.potential.pk
    assert row.missing == Decimal("15000")


def test_the_top_tier_has_no_next_tier(bank_a, tiers):
    top = client_with(bank_a, basis="9999999", tier=tiers.private)
    assert top.pk not in near(bank_a)


def test_the_band_follows_the_policy(bank_a, tiers):
    fifteen_below = client_with(bank_a, basis="425000", tier=tiers.potential)
    assert fifteen_below.pk not in near(bank_a)
    TieringPolicyFactory(tenant=bank_a.tenant, near_threshold_percent=15)
    assert fifteen_below.pk in near(bank_a)


def test_near_threshold_filters_and_sorts(bank_a, tiers):
    close = client_with(bank_a, basis="495000", tier=tiers.potential)
    further = client_with(bank_a, basis="460000", tier=tiers.potential)
    to_diamond = client_with(bank_a, basis="4800000", tier=tiers.gold)
    assert set(near(bank_a, next_tier=tiers.gold)) == {close.pk, further.pk}
    assert set(near(bank_a, tier=tiers.gold)) == {to_diamond.pk}
    assert list(near(bank_a, next_tier=tiers.gold, sort="gap")) == [close.pk, further.pk]
    assert list(near(bank_a, next_tier=tiers.gold, sort="-gap")) == [further.pk, close.pk]


def test_an_rm_sees_their_own_near_threshold_clients_only(bank_a, tiers):
    own = client_with(bank_a, basis="480000", tier=tiers.potential)
    team_rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM)
    colleague = client_with(bank_a, basis="480000", tier=tiers.potential, owner=team_rm)
    rows = near(bank_a, staff=bank_a.rm)
    assert set(rows) == {own.pk}
    assert colleague.pk in near(bank_a)  # the supervisor sees both
    assert near(bank_a, staff=bank_a.advisor) == {}


# --- Tier changes --------------------------------------------------------------------


def change(bank, *, client=None, on=TODAY, **kwargs):
    client = client or ClientFactory(tenant=bank.tenant, branch=bank.sub, owner_rm=bank.rm)
    return TierChangeFactory(tenant=bank.tenant, client=client, effective_on=on, **kwargs)


def changes(bank, staff=None, **filters):
    with tenant_context(bank.tenant):
        actor = Actor.for_staff(staff or bank.supervisor)
        return [c.pk for c in selectors.tier_changes(actor=actor, **filters)]


def test_tier_changes_filter_by_the_exact_date_the_notification_links_to(bank_a, tiers):
    today = change(bank_a, from_tier=None, to_tier=tiers.gold)
    change(bank_a, on=TODAY - datetime.timedelta(days=1), from_tier=None, to_tier=tiers.gold)
    assert changes(bank_a, effective_on=TODAY) == [today.pk]


def test_tier_changes_filter_by_date_range_newest_first(bank_a, tiers):
    days = [
        change(bank_a, on=TODAY - datetime.timedelta(days=n), to_tier=tiers.gold)
        for n in (0, 5, 40)
    ]
    found = changes(
        bank_a,
        date_from=TODAY - datetime.timedelta(days=10),
        date_to=TODAY - datetime.timedelta(days=1),
    )
    assert found == [days[1].pk]
    assert changes(bank_a) == [d.pk for d in days]


def test_tier_changes_filter_by_direction_with_no_tier_below_every_tier(bank_a, tiers):
    entered = change(bank_a, from_tier=None, to_tier=tiers.potential)
    up = change(bank_a, from_tier=tiers.gold, to_tier=tiers.diamond)
    down = change(
        bank_a, from_tier=tiers.gold, to_tier=tiers.potential, reason=TierChange.Reason.DOWNGRADE
    )
    left = change(
        bank_a, from_tier=tiers.potential, to_tier=None, reason=TierChange.Reason.DOWNGRADE
    )
    assert set(changes(bank_a, direction="up")) == {entered.pk, up.pk}
    assert set(changes(bank_a, direction="down")) == {down.pk, left.pk}
    assert set(changes(bank_a, reason=TierChange.Reason.DOWNGRADE)) == {down.pk, left.pk}
    assert set(changes(bank_a, tier=tiers.potential)) == {entered.pk, down.pk}


def test_tier_changes_filter_by_branch_and_rm(bank_a, tiers):
    at_city_rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM)
    city_client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.city, owner_rm=at_city_rm)
    city = change(bank_a, client=city_client, to_tier=tiers.gold)
    sub = change(bank_a, to_tier=tiers.gold)
    assert changes(bank_a, branch=bank_a.sub) == [sub.pk]
    assert changes(bank_a, owner_rm=at_city_rm) == [city.pk]


def test_tier_changes_are_scoped_by_role(bank_a, tiers):
    own = change(bank_a, to_tier=tiers.gold)
    elsewhere_client = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm
    )
    elsewhere = change(bank_a, client=elsewhere_client, to_tier=tiers.gold)
    assert changes(bank_a, staff=bank_a.rm) == [own.pk]
    assert changes(bank_a, staff=bank_a.other_rm) == [elsewhere.pk]
    assert changes(bank_a) == [own.pk]
    assert set(changes(bank_a, staff=bank_a.head)) == {own.pk, elsewhere.pk}
    assert changes(bank_a, staff=bank_a.advisor) == []
