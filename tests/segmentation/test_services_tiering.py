"""Re-tiering (``segmentation.services``): basis, floors, hysteresis, overrides, records."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Client, Tier
from segmentation import services
from segmentation.models import AumSnapshot, ClientSegment, TierChange, TierOverride
from tests.factories import (
    ClientFactory,
    FxRateFactory,
    HoldingFactory,
    TieringPolicyFactory,
    TierOverrideFactory,
)
from vipcrm.models import AuditEntry, Notification
from vipcrm.roles import Actor
from vipcrm.tenancy import tenant_context, tenant_models

pytestmark = pytest.mark.django_db

ON = datetime.date(2026, 11, 28)  # a Saturday late in the month
DAY = datetime.timedelta(days=1)
FLOORS = {
    "potential": ("潜力客户", 1, "200000"),
    "gold": ("金卡", 2, "500000"),
    "diamond": ("钻石", 3, "5000000"),
    "private": ("私人银行", 4, "10000000"),
}


@pytest.fixture
def tiers(bank_a) -> dict[str, Tier]:
    with tenant_context(bank_a.tenant):
        return {
            code: Tier.objects.create(code=code, name=name, rank=rank, aum_floor=Decimal(floor))
            for code, (name, rank, floor) in FLOORS.items()
        }


def person(bank, tier=None, **kwargs) -> Client:
    kwargs.setdefault("owner_rm", bank.rm)
    return ClientFactory(tenant=bank.tenant, branch=bank.sub, tier=tier, **kwargs)


def history(client, amount, *, last=ON, days=10) -> None:
    """``days`` daily snapshots of ``amount`` ending on ``last``."""
    with tenant_context(client.tenant_id):
        AumSnapshot.objects.bulk_create(
            [
                AumSnapshot(client=client, date=last - DAY * back, aum_cny=Decimal(amount))
                for back in range(days)
            ]
        )


def retier(bank, on=ON) -> dict:
    with tenant_context(bank.tenant):
        return services.clients_retier(on=on)


def tier_code(client) -> str | None:
    with tenant_context(client.tenant_id):
        tier = Client.objects.get(pk=client.pk).tier
        return tier.code if tier else None


def updated_at(client) -> datetime.datetime:
    with tenant_context(client.tenant_id):
        return Client.objects.get(pk=client.pk).updated_at


def changes(client) -> list[tuple]:
    with tenant_context(client.tenant_id):
        return list(
            TierChange.objects.filter(client=client)
            .order_by("effective_on", "id")
            .values_list("from_tier__code", "to_tier__code", "reason", "effective_on")
        )


def segment(client) -> ClientSegment:
    with tenant_context(client.tenant_id):
        return ClientSegment.objects.get(client=client)


# --- Floors and the tiering basis ---------------------------------------------------------


def test_a_basis_exactly_at_the_floor_reaches_the_tier(bank_a, tiers):
    client = person(bank_a)
    history(client, "500000.00")
    retier(bank_a)
    assert tier_code(client) == "gold"
    assert segment(client).average_aum_cny == Decimal("500000.00")
    assert segment(client).rule_tier_id == tiers["gold"].pk


def test_one_cent_below_the_floor_does_not_reach_it(bank_a, tiers):
    client = person(bank_a)
    history(client, "499999.99")
    retier(bank_a)
    assert tier_code(client) == "potential"


def test_a_basis_averaging_exactly_to_the_floor_reaches_it(bank_a, tiers):
    client = person(bank_a)
    history(client, "499999.99", days=1, last=ON - DAY)
    history(client, "500000.01", days=1)
    retier(bank_a)
    assert segment(client).average_aum_cny == Decimal("500000.00")
    assert tier_code(client) == "gold"


def test_below_the_lowest_floor_a_client_is_not_a_vip(bank_a, tiers):
    client = person(bank_a)
    history(client, "199999.99")
    retier(bank_a)
    assert tier_code(client) is None
    assert changes(client) == []
    assert segment(client).rule_tier_id is None


def test_the_basis_ignores_snapshots_outside_the_window(bank_a, tiers):
    TieringPolicyFactory(tenant=bank_a.tenant, window_days=30)
    client = person(bank_a)
    history(client, "300000.00", days=30)  # (ON - 30, ON]
    history(client, "90000000.00", days=5, last=ON - DAY * 30)  # on and before ON - 30
    history(client, "90000000.00", days=1, last=ON + DAY)  # after the day evaluated
    retier(bank_a)
    assert segment(client).average_aum_cny == Decimal("300000.00")
    assert tier_code(client) == "potential"


def test_one_large_deposit_for_a_day_does_not_flip_the_tier(bank_a, tiers):
    client = person(bank_a, tier=tiers["gold"])
    history(client, "600000.00", days=89, last=ON - DAY)
    history(client, "6000000.00", days=1)  # a one-day spike: average 660,000
    retier(bank_a)
    assert tier_code(client) == "gold"
    assert segment(client).average_aum_cny == Decimal("660000.00")


def test_a_client_newer_than_the_window_is_averaged_over_its_own_days(bank_a, tiers):
    client = person(bank_a)
    history(client, "400000.00", days=2, last=ON - DAY)
    history(client, "700000.00", days=1)
    retier(bank_a)
    assert segment(client).average_aum_cny == Decimal("500000.00")
    assert tier_code(client) == "gold"


def test_a_client_without_snapshots_has_a_zero_basis(bank_a, tiers):
    client = person(bank_a)
    retier(bank_a)
    assert segment(client).average_aum_cny == Decimal("0")
    assert tier_code(client) is None


# --- Upgrades and downgrades ---------------------------------------------------------------


def test_an_upgrade_takes_effect_at_once_and_is_recorded(bank_a, tiers):
    client = person(bank_a, tier=tiers["gold"])
    before = updated_at(client)
    history(client, "5200000.00")
    retier(bank_a)
    assert tier_code(client) == "diamond"
    assert changes(client) == [("gold", "diamond", "upgrade", ON)]
    with tenant_context(bank_a.tenant):
        change = TierChange.objects.get(client=client)
    assert change.average_aum_cny == Decimal("5200000.00")
    assert change.override_id is None
    assert updated_at(client) > before


def test_an_upgrade_may_skip_tiers(bank_a, tiers):
    client = person(bank_a)
    history(client, "12000000.00")
    retier(bank_a)
    assert changes(client) == [(None, "private", "upgrade", ON)]


def monthly_runs(bank, count, *, first=datetime.date(2026, 8, 1)) -> list[datetime.date]:
    """Run the re-tiering on the first of ``count`` consecutive months."""
    days = []
    for month in range(count):
        day = datetime.date(first.year + (first.month - 1 + month) // 12,
                            (first.month - 1 + month) % 12 + 1, 1)  # fmt: skip
        retier(bank, on=day)
        days.append(day)
    return days


def test_a_downgrade_waits_for_the_grace_of_m_monthly_evaluations(bank_a, tiers):
    client = person(bank_a, tier=tiers["gold"])
    history(client, "300000.00", days=200, last=datetime.date(2026, 12, 31))

    monthly_runs(bank_a, 2)  # M - 1 = 2 low evaluations
    assert tier_code(client) == "gold"
    assert segment(client).months_below_floor == 2
    assert changes(client) == []

    retier(bank_a, on=datetime.date(2026, 10, 1))  # the third
    assert tier_code(client) == "potential"
    assert changes(client) == [("gold", "potential", "downgrade", datetime.date(2026, 10, 1))]
    assert segment(client).months_below_floor == 0


def test_the_grace_follows_the_policy(bank_a, tiers):
    TieringPolicyFactory(tenant=bank_a.tenant, downgrade_grace=1)
    client = person(bank_a, tier=tiers["diamond"])
    history(client, "100000.00", days=40, last=datetime.date(2026, 8, 1))
    monthly_runs(bank_a, 1)
    assert changes(client) == [("diamond", None, "downgrade", datetime.date(2026, 8, 1))]


def test_reruns_within_a_month_do_not_count_twice(bank_a, tiers):
    client = person(bank_a, tier=tiers["gold"])
    history(client, "300000.00", days=200, last=datetime.date(2026, 12, 31))
    for day in (1, 2, 15, 31):  # four runs in August: one evaluation
        retier(bank_a, on=datetime.date(2026, 8, day))
    retier(bank_a, on=datetime.date(2026, 9, 3))  # the first run in September
    for day in (4, 5, 30):
        retier(bank_a, on=datetime.date(2026, 9, day))
    assert segment(client).months_below_floor == 2
    assert segment(client).last_monthly_evaluation == datetime.date(2026, 9, 1)
    assert tier_code(client) == "gold"


def test_recovery_at_a_monthly_evaluation_resets_the_count(bank_a, tiers):
    client = person(bank_a, tier=tiers["gold"])
    history(client, "300000.00", days=70, last=datetime.date(2026, 9, 1))
    history(client, "900000.00", days=30, last=datetime.date(2026, 10, 1))  # back above
    history(client, "300000.00", days=60, last=datetime.date(2026, 11, 30))
    TieringPolicyFactory(tenant=bank_a.tenant, window_days=20)

    monthly_runs(bank_a, 2)  # Aug, Sep: low, low
    assert segment(client).months_below_floor == 2
    retier(bank_a, on=datetime.date(2026, 10, 1))  # recovered
    assert segment(client).months_below_floor == 0
    retier(bank_a, on=datetime.date(2026, 11, 1))
    retier(bank_a, on=datetime.date(2026, 11, 20))  # same month: no count
    assert segment(client).months_below_floor == 1
    assert tier_code(client) == "gold"
    assert changes(client) == []


def test_a_downgrade_can_leave_the_tiers(bank_a, tiers):
    client = person(bank_a, tier=tiers["potential"])
    history(client, "1000.00", days=100, last=datetime.date(2026, 10, 1))
    monthly_runs(bank_a, 3)
    assert tier_code(client) is None
    assert changes(client)[-1][:3] == ("potential", None, "downgrade")


# --- Overrides ---------------------------------------------------------------------------


def test_a_standing_override_pins_the_tier(bank_a, tiers):
    client = person(bank_a, tier=tiers["gold"])
    override = TierOverrideFactory(
        tenant=bank_a.tenant, client=client, tier=tiers["diamond"], expires_on=ON + DAY * 30
    )
    history(client, "12000000.00")  # the rules would say private
    retier(bank_a)
    assert tier_code(client) == "diamond"
    assert changes(client) == [("gold", "diamond", "override", ON)]
    with tenant_context(bank_a.tenant):
        assert TierChange.objects.get(client=client).override_id == override.pk
    assert segment(client).rule_tier_id == tiers["private"].pk
    retier(bank_a, on=ON + DAY)
    assert tier_code(client) == "diamond"


def test_a_pinned_client_is_not_downgraded_after_the_grace(bank_a, tiers):
    client = person(bank_a, tier=tiers["diamond"])
    TierOverrideFactory(
        tenant=bank_a.tenant,
        client=client,
        tier=tiers["diamond"],
        expires_on=datetime.date(2027, 1, 31),
    )
    history(client, "300000.00", days=200, last=datetime.date(2026, 12, 31))
    monthly_runs(bank_a, 4)
    assert tier_code(client) == "diamond"
    assert changes(client) == []
    assert segment(client).months_below_floor == 0


def test_an_expired_override_falls_back_to_the_rules_at_once(bank_a, tiers):
    client = person(bank_a, tier=tiers["diamond"])
    override = TierOverrideFactory(
        tenant=bank_a.tenant, client=client, tier=tiers["diamond"], expires_on=ON - DAY
    )
    history(client, "300000.00")
    retier(bank_a)  # no grace: straight down to the rule tier
    assert tier_code(client) == "potential"
    assert changes(client) == [("diamond", "potential", "override_ended", ON)]
    with tenant_context(bank_a.tenant):
        override.refresh_from_db()
        assert TierChange.objects.get(client=client).override_id == override.pk
    assert override.revoked_at is not None
    assert override.revoked_by is None


def test_an_override_lasts_through_its_expiry_day(bank_a, tiers):
    client = person(bank_a, tier=tiers["diamond"])
    TierOverrideFactory(tenant=bank_a.tenant, client=client, tier=tiers["diamond"], expires_on=ON)
    history(client, "300000.00")
    retier(bank_a)
    assert tier_code(client) == "diamond"
    retier(bank_a, on=ON + DAY)
    assert tier_code(client) == "potential"


def test_an_ended_override_leaves_the_tier_when_the_rules_agree(bank_a, tiers):
    client = person(bank_a, tier=tiers["gold"])
    TierOverrideFactory(
        tenant=bank_a.tenant, client=client, tier=tiers["gold"], expires_on=ON - DAY
    )
    history(client, "600000.00")
    summary = retier(bank_a)
    assert tier_code(client) == "gold"
    assert changes(client) == []
    assert summary["overrides_expired"] == 1


# --- Records, notifications, idempotency -------------------------------------------------


def test_one_notification_per_owner_rm_with_the_runs_counts(bank_a, tiers):
    up1, up2 = person(bank_a), person(bank_a, tier=tiers["potential"])
    pinned = person(bank_a, tier=tiers["gold"])
    TierOverrideFactory(tenant=bank_a.tenant, client=pinned, tier=tiers["diamond"], expires_on=ON)
    history(up1, "600000.00")
    history(up2, "600000.00")
    history(pinned, "600000.00")
    other = person(bank_a, owner_rm=bank_a.other_rm)
    history(other, "250000.00")
    orphan = person(bank_a, owner_rm=None)
    history(orphan, "250000.00")
    quiet = person(bank_a, owner_rm=bank_a.advisor, tier=tiers["gold"])
    history(quiet, "600000.00")

    summary = retier(bank_a)

    assert summary["changes"] == 5
    assert summary["upgrades"] == 4 and summary["overrides"] == 1
    assert summary["notifications"] == 2
    with tenant_context(bank_a.tenant):
        notes = {n.recipient_id: n for n in Notification.objects.all()}
    assert set(notes) == {bank_a.rm.pk, bank_a.other_rm.pk}
    mine = notes[bank_a.rm.pk]
    assert mine.kind == "tier_changes"
    assert mine.params == {"date": "2026-11-28", "upgrades": 2, "downgrades": 0, "other": 1}
    assert mine.link == "/segmentation/tier-changes/?effective_on=2026-11-28"
    assert mine.read_at is None
    assert notes[bank_a.other_rm.pk].params["upgrades"] == 1


def every_row(tenant) -> dict[str, list]:
    """Every row of every tenant table, with its updated_at: any write shows."""
    with tenant_context(tenant):
        return {
            model.__name__: sorted(
                model.objects.order_by().values_list("pk", "updated_at"), key=lambda r: r[0]
            )
            for model in tenant_models()
        }


def test_a_second_run_for_the_same_day_changes_nothing(bank_a, tiers):
    a, b = person(bank_a, tier=tiers["gold"]), person(bank_a, tier=tiers["diamond"])
    c = person(bank_a, tier=tiers["gold"])
    history(a, "5500000.00", days=100)
    history(b, "600000.00", days=100)
    history(c, "100.00", days=100)
    TierOverrideFactory(tenant=bank_a.tenant, client=c, tier=tiers["gold"], expires_on=ON - DAY)
    person(bank_a)  # no snapshots
    monthly_runs(bank_a, 2, first=datetime.date(2026, 10, 1))
    first = retier(bank_a, on=datetime.date(2026, 12, 1))
    assert first["downgrades"] == 1
    before = every_row(bank_a.tenant)

    second = retier(bank_a, on=datetime.date(2026, 12, 1))

    assert second["changes"] == second["notifications"] == second["overrides_expired"] == 0
    assert every_row(bank_a.tenant) == before


def test_a_run_leaves_other_tenants_alone(bank_a, bank_b, tiers):
    with tenant_context(bank_b.tenant):
        theirs = Tier.objects.create(code="gold", name="金卡", rank=2, aum_floor=Decimal("1"))
    client_b = person(bank_b, tier=None)
    history(client_b, "900000.00")
    before = every_row(bank_b.tenant)
    client_a = person(bank_a)
    history(client_a, "900000.00")
    retier(bank_a)
    assert tier_code(client_a) == "gold"
    assert every_row(bank_b.tenant) == before
    assert tier_code(client_b) is None
    assert theirs.pk != tiers["gold"].pk


def test_the_run_costs_a_fixed_number_of_queries(bank_a, tiers):
    def count(clients: int) -> int:
        for i in range(clients):
            c = person(bank_a, tier=tiers["gold"] if i % 3 else None)
            history(c, str(100000 * (i % 8)), days=3, last=ON + DAY * 2)
        with tenant_context(bank_a.tenant), CaptureQueriesContext(connection) as queries:
            services.clients_retier(on=ON + DAY * 2)
            services.client_segments_refresh(on=ON + DAY * 2)
        with tenant_context(bank_a.tenant):
            Client.objects.all().delete()
        return len(queries)

    assert count(5) == count(50)


# --- FX -----------------------------------------------------------------------------------


def test_the_snapshot_converts_foreign_holdings_at_the_latest_rate_on_or_before_the_day(
    bank_a, tiers
):
    client = person(bank_a)
    HoldingFactory(tenant=bank_a.tenant, client=client, balance=Decimal("300000.00"))
    HoldingFactory(tenant=bank_a.tenant, client=client, balance=Decimal("30000.00"), currency="USD")
    FxRateFactory(tenant=bank_a.tenant, date=ON - DAY * 3, rate_to_cny=Decimal("7.00000000"))
    FxRateFactory(tenant=bank_a.tenant, date=ON - DAY, rate_to_cny=Decimal("7.10000000"))
    FxRateFactory(tenant=bank_a.tenant, date=ON + DAY, rate_to_cny=Decimal("9.00000000"))
    with tenant_context(bank_a.tenant):
        written = services.aum_snapshot_take(on=ON)
        snapshot = AumSnapshot.objects.get(client=client)
    assert written == 1
    assert (snapshot.date, snapshot.aum_cny) == (ON, Decimal("513000.00"))  # 300k + 30k × 7.1
    retier(bank_a)
    assert tier_code(client) == "gold"


# --- Setting and revoking overrides by hand ----------------------------------------------


def today(bank) -> datetime.date:
    return timezone.localdate()


def test_a_supervisor_pins_a_tier_at_once_and_it_is_audited(bank_a, tiers):
    client = person(bank_a, tier=tiers["gold"])
    day = today(bank_a)
    with tenant_context(bank_a.tenant):
        override = services.tier_override_set(
            actor=Actor.for_staff(bank_a.supervisor),
            client=client,
            tier=tiers["diamond"],
            reason="  集团核心企业主，分行行长特批  ",
            expires_on=day + DAY * 90,
        )
        entry = AuditEntry.objects.get(object_id=str(override.pk))
        note = Notification.objects.get()
    assert override.reason == "集团核心企业主，分行行长特批"
    assert override.created_by_id == bank_a.supervisor.pk
    assert tier_code(client) == "diamond"
    assert changes(client) == [("gold", "diamond", "override", day)]
    assert entry.action == "create" and entry.actor_id == bank_a.supervisor.user_id
    assert note.recipient_id == bank_a.rm.pk and note.params["other"] == 1


def test_a_new_override_replaces_the_standing_one(bank_a, tiers):
    client = person(bank_a, tier=tiers["gold"])
    head = Actor.for_staff(bank_a.head)
    day = today(bank_a)
    with tenant_context(bank_a.tenant):
        first = services.tier_override_set(
            actor=head, client=client, tier=tiers["diamond"], reason="首次", expires_on=day + DAY
        )
        second = services.tier_override_set(
            actor=head, client=client, tier=tiers["private"], reason="再次", expires_on=day + DAY
        )
        first.refresh_from_db()
        standing = TierOverride.objects.filter(revoked_at__isnull=True)
        assert list(standing) == [second]
    assert first.revoked_by_id == bank_a.head.pk
    assert tier_code(client) == "private"


@pytest.mark.parametrize("who", ["rm", "advisor", "other_branch_supervisor"])
def test_only_a_supervisor_of_the_branch_or_head_office_may_pin(bank_a, tiers, who):
    from tests.factories import StaffFactory

    client = person(bank_a, tier=tiers["gold"])
    staff = {
        "rm": bank_a.rm,
        "advisor": bank_a.advisor,
        "other_branch_supervisor": StaffFactory(
            tenant=bank_a.tenant, branch=bank_a.other_sub, role="supervisor"
        ),
    }[who]
    with tenant_context(bank_a.tenant), pytest.raises(PermissionDenied):
        services.tier_override_set(
            actor=Actor.for_staff(staff),
            client=client,
            tier=tiers["diamond"],
            reason="理由",
            expires_on=today(bank_a) + DAY,
        )
    assert tier_code(client) == "gold"


def test_another_banks_supervisor_may_not_pin(bank_a, bank_b, tiers):
    client = person(bank_a, tier=tiers["gold"])
    with tenant_context(bank_a.tenant), pytest.raises(PermissionDenied):
        services.tier_override_set(
            actor=Actor.for_staff(bank_b.head),
            client=client,
            tier=tiers["diamond"],
            reason="理由",
            expires_on=today(bank_a) + DAY,
        )


@pytest.mark.parametrize(
    ("reason", "days", "field"),
    [(" ", 30, "reason"), ("理由", 0, "expires_on"), ("理由", -5, "expires_on"),
     ("理由", 367, "expires_on")],
)  # fmt: skip
def test_an_override_needs_a_reason_and_an_expiry_within_a_year(bank_a, tiers, reason, days, field):
    client = person(bank_a, tier=tiers["gold"])
    with tenant_context(bank_a.tenant), pytest.raises(ValidationError) as refused:
        services.tier_override_set(
            actor=Actor.for_staff(bank_a.supervisor),
            client=client,
            tier=tiers["diamond"],
            reason=reason,
            expires_on=today(bank_a) + DAY * days,
        )
    assert set(refused.value.message_dict) == {field}
    with tenant_context(bank_a.tenant):
        assert not TierOverride.objects.exists()
        assert not TierChange.objects.exists()


def test_an_override_to_another_banks_tier_is_refused(bank_a, bank_b, tiers):
    with tenant_context(bank_b.tenant):
        theirs = Tier.objects.create(code="vip", name="贵宾", rank=9, aum_floor=Decimal("1"))
    client = person(bank_a, tier=tiers["gold"])
    with tenant_context(bank_a.tenant), pytest.raises(ValidationError) as refused:
        services.tier_override_set(
            actor=Actor.for_staff(bank_a.head),
            client=client,
            tier=theirs,
            reason="理由",
            expires_on=today(bank_a) + DAY,
        )
    assert "tier" in refused.value.message_dict


def test_revoking_an_override_falls_back_to_the_rules_at_once(bank_a, tiers):
    client = person(bank_a, tier=tiers["gold"])
    day = today(bank_a)
    history(client, "250000.00", last=day)
    actor = Actor.for_staff(bank_a.supervisor)
    with tenant_context(bank_a.tenant):
        override = services.tier_override_set(
            actor=actor, client=client, tier=tiers["private"], reason="特批", expires_on=day + DAY
        )
        services.tier_override_revoke(actor=actor, override=override)
        override.refresh_from_db()
        entries = list(AuditEntry.objects.filter(object_id=str(override.pk)).values_list("action"))
    assert override.revoked_by_id == bank_a.supervisor.pk
    assert tier_code(client) == "potential"
    assert changes(client)[-1] == ("private", "potential", "override_ended", day)
    assert entries.count(("update",)) == 1
    with tenant_context(bank_a.tenant), pytest.raises(ValidationError):
        services.tier_override_revoke(actor=actor, override=override)


def test_an_rm_may_not_revoke_an_override(bank_a, tiers):
    client = person(bank_a, tier=tiers["gold"])
    override = TierOverrideFactory(tenant=bank_a.tenant, client=client, tier=tiers["gold"])
    with tenant_context(bank_a.tenant), pytest.raises(PermissionDenied):
        services.tier_override_revoke(actor=Actor.for_staff(bank_a.rm), override=override)
    with tenant_context(bank_a.tenant):
        override.refresh_from_db()
    assert override.revoked_at is None


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL storage setting")
def test_the_segment_table_leaves_room_for_its_nightly_rewrite():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reloptions FROM pg_class WHERE relname = %s",
            [ClientSegment._meta.db_table],
        )
        (options,) = cursor.fetchone()
    assert "fillfactor=50" in options
