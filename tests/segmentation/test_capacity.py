"""RM capacity: weighted books against hand-computed figures, statuses, totals, scope,
suggested moves, and setting a capacity."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from segmentation import capacity
from segmentation.capacity import LoadStatus
from segmentation.models import RmCapacity
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    RmCapacityFactory,
    StaffFactory,
    TierFactory,
    TieringPolicyFactory,
)
from tests.segmentation.test_lists_selectors import make_tiers
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor, Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers(bank_a):
    return make_tiers(bank_a.tenant)


def book(bank, rm, *tiers_and_counts, branch=None, basis="20000000"):
    """Give ``rm`` clients: ``(tier, n)`` pairs; each client's basis justifies its tier
    unless ``basis`` says otherwise."""
    made = []
    for tier, count in tiers_and_counts:
        for _ in range(count):
            client = ClientFactory(
                tenant=bank.tenant, branch=branch or rm.branch, owner_rm=rm, tier=tier
            )
            ClientSegmentFactory(tenant=bank.tenant, client=client, average_aum_cny=Decimal(basis))
            made.append(client)
    return made


def loads(bank, staff, **kwargs):
    with tenant_context(bank.tenant):
        return {
            load.staff.pk: load
            for load in capacity.rm_loads(actor=Actor.for_staff(staff), **kwargs)
        }


def test_the_weighted_book_sums_the_tier_book_weights(bank_a, tiers):
    # 1 Private (8) + 2 Diamond (4) + 3 Gold (1) + 2 Potential (0.5) + 1 without tier (0)
    book(bank_a, bank_a.rm, (tiers.private, 1), (tiers.diamond, 2), (tiers.gold, 3))
    book(bank_a, bank_a.rm, (tiers.potential, 2), (None, 1))
    load = loads(bank_a, bank_a.supervisor)[bank_a.rm.pk]
    assert load.client_count == 9
    assert load.weighted_book == Decimal("20")  # 8 + 8 + 3 + 1 + 0
    assert load.capacity == Decimal("150")  # the policy's default
    assert load.capacity_is_default
    assert load.ratio == Decimal("13.3")  # 20 / 150
    assert load.status == LoadStatus.UNDERLOADED


def test_a_per_rm_capacity_overrides_the_default(bank_a, tiers):
    book(bank_a, bank_a.rm, (tiers.private, 2), (tiers.gold, 4))  # 16 + 4 = 20
    RmCapacityFactory(tenant=bank_a.tenant, staff=bank_a.rm, capacity=Decimal("16"))
    load = loads(bank_a, bank_a.supervisor)[bank_a.rm.pk]
    assert load.capacity == Decimal("16")
    assert not load.capacity_is_default
    assert load.ratio == Decimal("125.0")
    assert load.status == LoadStatus.OVERLOADED


def test_the_default_capacity_comes_from_the_tenants_policy(bank_a, tiers):
    TieringPolicyFactory(tenant=bank_a.tenant, default_rm_capacity=Decimal("40"))
    book(bank_a, bank_a.rm, (tiers.diamond, 7))  # 28
    load = loads(bank_a, bank_a.supervisor)[bank_a.rm.pk]
    assert load.capacity == Decimal("40")
    assert load.ratio == Decimal("70.0")
    assert load.status == LoadStatus.BALANCED  # exactly 70% is not under-loaded


@pytest.mark.parametrize(
    ("weighted", "capacity_value", "status"),
    [
        ("100", "100", LoadStatus.BALANCED),  # exactly 100%: still balanced
        ("100.5", "100", LoadStatus.OVERLOADED),
        ("70", "100", LoadStatus.BALANCED),
        ("69.5", "100", LoadStatus.UNDERLOADED),
        ("0", "150", LoadStatus.UNDERLOADED),
    ],
)
def test_status_bands_at_their_exact_boundaries(weighted, capacity_value, status):
    assert capacity.load_status(Decimal(weighted), Decimal(capacity_value)) == status


def test_clients_without_a_tier_or_a_service_standard_weigh_nothing(bank_a, tiers):
    bare_tier = TierFactory(tenant=bank_a.tenant, rank=9, aum_floor=Decimal("1"))
    book(bank_a, bank_a.rm, (None, 3), (bare_tier, 2))
    load = loads(bank_a, bank_a.supervisor)[bank_a.rm.pk]
    assert load.client_count == 5
    assert load.weighted_book == Decimal("0")


def test_the_unqualified_vips_of_each_book_are_counted(bank_a, tiers):
    book(bank_a, bank_a.rm, (tiers.gold, 2), basis="100000")  # below every floor
    book(bank_a, bank_a.rm, (tiers.diamond, 1), basis="4000000")  # below their tier
    book(bank_a, bank_a.rm, (tiers.gold, 3), basis="600000")  # justified
    assert loads(bank_a, bank_a.supervisor)[bank_a.rm.pk].unqualified_count == 3


def test_capacity_is_scoped_by_role(bank_a, tiers):
    city_rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM)
    StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, is_active=False)
    assert set(loads(bank_a, bank_a.supervisor)) == {bank_a.rm.pk, city_rm.pk}
    assert set(loads(bank_a, bank_a.head)) == {bank_a.rm.pk, city_rm.pk, bank_a.other_rm.pk}
    assert set(loads(bank_a, bank_a.head, branch=bank_a.other_sub)) == {bank_a.other_rm.pk}
    assert set(loads(bank_a, bank_a.rm)) == {bank_a.rm.pk}
    assert loads(bank_a, bank_a.advisor) == {}


def test_the_whole_book_counts_even_clients_homed_outside_the_supervisors_branches(bank_a, tiers):
    book(bank_a, bank_a.rm, (tiers.gold, 1))
    book(bank_a, bank_a.rm, (tiers.diamond, 1), branch=bank_a.other_sub)
    assert loads(bank_a, bank_a.supervisor)[bank_a.rm.pk].weighted_book == Decimal("5")


def test_rm_loads_is_one_query_whatever_the_number_of_rms_and_clients(bank_a, tiers):
    def count_queries():
        with tenant_context(bank_a.tenant):
            policy = capacity.tiering_policy()
            with CaptureQueriesContext(connection) as queries:
                capacity.rm_loads(actor=Actor.for_staff(bank_a.head), policy=policy)
        return len(queries)

    book(bank_a, bank_a.rm, (tiers.gold, 2))
    few = count_queries()
    for _ in range(6):
        rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM)
        book(bank_a, rm, (tiers.gold, 3), (tiers.diamond, 2))
        RmCapacityFactory(tenant=bank_a.tenant, staff=rm, capacity=Decimal("20"))
    assert count_queries() == few == 1


def test_totals_add_up_the_rms_listed(bank_a, tiers):
    city_rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM)
    book(bank_a, bank_a.rm, (tiers.private, 2))  # 16
    book(bank_a, city_rm, (tiers.gold, 4))  # 4
    RmCapacityFactory(tenant=bank_a.tenant, staff=bank_a.rm, capacity=Decimal("10"))
    rows = list(loads(bank_a, bank_a.supervisor).values())
    totals = capacity.rm_load_totals(rows)
    assert totals.rm_count == 2
    assert totals.client_count == 6
    assert totals.weighted_book == Decimal("20")
    assert totals.capacity == Decimal("160")
    assert totals.ratio == Decimal("12.5")
    assert (totals.overloaded, totals.balanced, totals.underloaded) == (1, 0, 1)


def test_sorting_by_ratio_puts_the_most_overloaded_first(bank_a, tiers):
    city_rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM)
    book(bank_a, bank_a.rm, (tiers.gold, 1))
    book(bank_a, city_rm, (tiers.private, 1))
    rows = capacity.rm_loads_sorted(list(loads(bank_a, bank_a.supervisor).values()))
    assert [load.staff.pk for load in rows] == [city_rm.pk, bank_a.rm.pk]


# --- Suggested moves -----------------------------------------------------------------


@pytest.fixture
def region(bank_a, tiers):
    """The city region: an overloaded RM (rm, 125%) and two under-loaded colleagues."""
    light = StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM, name="轻松")
    lighter = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, name="空闲")
    for rm in (bank_a.rm, light, lighter):
        RmCapacityFactory(tenant=bank_a.tenant, staff=rm, capacity=Decimal("16"))
    heavy_book = {
        "unqualified": book(bank_a, bank_a.rm, (tiers.gold, 1), basis="100000"),
        "potential": book(bank_a, bank_a.rm, (tiers.potential, 2), basis="300000"),
        "diamond": book(bank_a, bank_a.rm, (tiers.diamond, 4), basis="6000000"),
        "gold": book(bank_a, bank_a.rm, (tiers.gold, 2), basis="600000"),
    }  # 1 + 1 + 16 + 2 = 20 → 125%
    book(bank_a, light, (tiers.diamond, 2))  # 8 → 50%
    book(bank_a, lighter, (tiers.gold, 4))  # 4 → 25%
    return bank_a.rm, light, lighter, heavy_book


def suggest(bank, staff, **kwargs):
    with tenant_context(bank.tenant):
        actor = Actor.for_staff(staff)
        rows = capacity.rm_loads(actor=actor, **kwargs)
        return capacity.capacity_moves_suggest(actor=actor, loads=rows)


def test_suggestions_move_unqualified_then_lowest_tier_clients_until_balanced(bank_a, region):
    heavy, _light, _lighter, heavy_book = region
    moves = suggest(bank_a, bank_a.supervisor)
    moved = [client.pk for move in moves for client in move.clients]
    # 4 weighted units too many: the unqualified Gold (1), two Potentials (0.5 each),
    # then the Golds (1 each) — the Diamonds stay.
    expected = [
        c.pk for c in heavy_book["unqualified"] + heavy_book["potential"] + heavy_book["gold"]
    ]
    assert sorted(moved) == sorted(expected)
    assert {move.from_load.staff.pk for move in moves} == {heavy.pk}
    assert sum(move.weight for move in moves) == Decimal("4")
    assert all(move.from_ratio_after == Decimal("100.0") for move in moves)


def test_suggestions_never_push_a_receiver_over_capacity(bank_a, region):
    moves = suggest(bank_a, bank_a.supervisor)
    for move in moves:
        assert move.to_ratio_after <= Decimal("100")
    # Each goes to whoever is lowest after the move: the emptiest RM takes the most.
    by_receiver = {move.to_load.staff.name: move.weight for move in moves}
    assert by_receiver["空闲"] >= by_receiver.get("轻松", Decimal("0"))


def test_suggestions_stay_within_the_region(bank_a, tiers):
    RmCapacityFactory(tenant=bank_a.tenant, staff=bank_a.rm, capacity=Decimal("4"))
    book(bank_a, bank_a.rm, (tiers.gold, 6))  # 150%
    # other_rm (under-loaded, empty) works in another region (浦东): never a receiver.
    assert suggest(bank_a, bank_a.head) == []


def test_no_receivers_means_no_suggestion_and_the_rm_is_reported(bank_a, tiers):
    RmCapacityFactory(tenant=bank_a.tenant, staff=bank_a.rm, capacity=Decimal("4"))
    book(bank_a, bank_a.rm, (tiers.gold, 6))
    assert suggest(bank_a, bank_a.supervisor) == []


def test_weight_zero_clients_are_never_suggested(bank_a, tiers):
    StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM)
    RmCapacityFactory(tenant=bank_a.tenant, staff=bank_a.rm, capacity=Decimal("4"))
    book(bank_a, bank_a.rm, (tiers.gold, 5))
    no_tier = book(bank_a, bank_a.rm, (None, 3), basis="1")
    moved = {c.pk for move in suggest(bank_a, bank_a.supervisor) for c in move.clients}
    assert moved and not moved & {c.pk for c in no_tier}


def test_suggestions_read_the_candidates_in_one_query(bank_a, region, tiers):
    def queries_for_suggestions():
        with tenant_context(bank_a.tenant):
            actor = Actor.for_staff(bank_a.head)
            rows = capacity.rm_loads(actor=actor)
            with CaptureQueriesContext(connection) as queries:
                capacity.capacity_moves_suggest(actor=actor, loads=rows)
        return len(queries)

    one_giver = queries_for_suggestions()
    for _ in range(3):
        rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM)
        RmCapacityFactory(tenant=bank_a.tenant, staff=rm, capacity=Decimal("2"))
        book(bank_a, rm, (tiers.gold, 3))
    assert queries_for_suggestions() == one_giver == 2  # branches + candidates


def test_an_rm_gets_no_suggestions(bank_a, region):
    assert suggest(bank_a, bank_a.rm) == []


# --- Setting a capacity ---------------------------------------------------------------


def set_capacity(bank, actor_staff, staff, value):
    with tenant_context(bank.tenant):
        return capacity.rm_capacity_set(
            actor=Actor.for_staff(actor_staff),
            staff=staff,
            capacity=None if value is None else Decimal(value),
        )


def test_a_supervisor_sets_an_rms_capacity_and_it_is_audited(bank_a):
    set_capacity(bank_a, bank_a.supervisor, bank_a.rm, "120")
    with tenant_context(bank_a.tenant):
        assert RmCapacity.objects.get(staff=bank_a.rm).capacity == Decimal("120")
        entry = AuditEntry.objects.get(action="update")
    assert entry.object_id == str(bank_a.rm.pk)
    assert entry.detail["changes"] == {"capacity": ["default", "120"]}
    assert entry.actor == bank_a.supervisor.user


def test_clearing_a_capacity_returns_to_the_default_and_is_audited(bank_a):
    RmCapacityFactory(tenant=bank_a.tenant, staff=bank_a.rm, capacity=Decimal("80"))
    set_capacity(bank_a, bank_a.head, bank_a.rm, None)
    with tenant_context(bank_a.tenant):
        assert not RmCapacity.objects.filter(staff=bank_a.rm).exists()
        entry = AuditEntry.objects.get(action="update")
    assert entry.detail["changes"] == {"capacity": ["80.00", "default"]}


def test_an_unchanged_capacity_writes_nothing(bank_a):
    RmCapacityFactory(tenant=bank_a.tenant, staff=bank_a.rm, capacity=Decimal("80"))
    set_capacity(bank_a, bank_a.head, bank_a.rm, "80")
    with tenant_context(bank_a.tenant):
        assert not AuditEntry.objects.filter(action="update").exists()


@pytest.mark.parametrize("role", ["rm", "advisor"])
def test_only_supervisors_and_head_office_set_capacities(bank_a, role):
    with pytest.raises(PermissionDenied):
        set_capacity(bank_a, getattr(bank_a, role), bank_a.rm, "100")


def test_a_supervisor_cannot_set_the_capacity_of_an_rm_outside_their_branches(bank_a):
    with pytest.raises(PermissionDenied):
        set_capacity(bank_a, bank_a.supervisor, bank_a.other_rm, "100")
    set_capacity(bank_a, bank_a.head, bank_a.other_rm, "100")  # head office may


@pytest.mark.parametrize("value", ["0", "0.5", "1000000"])
def test_a_capacity_out_of_range_is_refused(bank_a, value):
    with pytest.raises(ValidationError) as error:
        set_capacity(bank_a, bank_a.head, bank_a.rm, value)
    assert "capacity" in error.value.message_dict
    with tenant_context(bank_a.tenant):
        assert not RmCapacity.objects.exists()


def test_only_rms_have_a_capacity(bank_a):
    with pytest.raises(ValidationError):
        set_capacity(bank_a, bank_a.head, bank_a.advisor, "10")
