"""The segmentation part of ``manage.py seed_demo`` (``segmentation.demo``)."""

from __future__ import annotations

import datetime
from collections import Counter
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from customers.models import Client
from sales_pipeline.services import PROSPECT_PREFIX
from segmentation.models import (
    AumSnapshot,
    ClientSegment,
    RmCapacity,
    ServiceStandard,
    TierChange,
    TieringPolicy,
    TierOverride,
)
from vipcrm import demo
from vipcrm.models import Notification, Tenant
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db
SLUGS = ("demo-a", "demo-b")
# Prospects the sales pipeline's demo adds through a referral have no history before
# the day they were referred.
PROSPECTS = {"client__external_id__startswith": PROSPECT_PREFIX}


def seed(clients: int = 300) -> str:
    out = StringIO()
    call_command("seed_demo", clients=clients, quiet=True, stdout=out)
    return out.getvalue()


def bank(slug: str) -> Tenant:
    return Tenant.objects.get(slug=slug)


def today(slug: str = "demo-a") -> datetime.date:
    return timezone.localdate(timezone=ZoneInfo(bank(slug).time_zone))


def rows(slug: str) -> dict[str, int]:
    with tenant_context(bank(slug)):
        return {
            model.__name__: model.objects.count()
            for model in (
                AumSnapshot,
                ClientSegment,
                TierChange,
                TierOverride,
                RmCapacity,
                ServiceStandard,
                TieringPolicy,
                Notification,
            )
        }


@pytest.fixture
def seeded() -> str:
    return seed()


def test_each_demo_tier_gets_the_specs_service_standard(seeded):
    for slug in SLUGS:
        with tenant_context(bank(slug)):
            standards = {
                s.tier.code: (
                    s.contact_cadence_days,
                    s.maturity_lead_days,
                    s.meetings_per_year,
                    s.book_weight,
                )
                for s in ServiceStandard.objects.select_related("tier")
            }
            packages = list(ServiceStandard.objects.values_list("service_package", flat=True))
            policy = TieringPolicy.objects.get()
        assert standards == {
            "private": (30, 30, 12, Decimal("8")),
            "diamond": (45, 30, 6, Decimal("4")),
            "gold": (90, 14, 4, Decimal("1")),
            "potential": (180, 7, 2, Decimal("0.5")),
        }
        assert all(len(package) > 20 for package in packages)
        assert (policy.window_days, policy.downgrade_grace) == (90, 3)


def test_every_client_has_90_days_of_history_and_todays_snapshot(seeded):
    for slug in SLUGS:
        with tenant_context(bank(slug)):
            per_client = Counter(
                AumSnapshot.objects.exclude(**PROSPECTS)
                .values("client")
                .annotate(n=Count("id"))
                .values_list("n", flat=True)
            )
            span = AumSnapshot.objects.aggregate(first=Min("date"), last=Max("date"))
            clients = Client.objects.exclude(external_id__startswith=PROSPECT_PREFIX).count()
            todays = dict(
                AumSnapshot.objects.filter(date=today(slug)).values_list("client_id", "aum_cny")
            )
            aum = dict(Client.objects.values_list("pk", "aum_cny"))
        assert per_client == {91: clients}
        assert span == {"first": today(slug) - datetime.timedelta(days=90), "last": today(slug)}
        assert todays == aum  # today's snapshot is the AUM the clients hold now


def test_the_history_moves_so_every_kind_of_tier_change_exists(seeded):
    reasons, lifecycles = Counter(), Counter()
    for slug in SLUGS:
        with tenant_context(bank(slug)):
            reasons.update(TierChange.objects.values_list("reason", flat=True))
            lifecycles.update(ClientSegment.objects.values_list("lifecycle", flat=True))
            assert TierChange.objects.values("effective_on").distinct().count() >= 2
    assert set(reasons) == {"upgrade", "downgrade", "override", "override_ended"}
    assert {"stable", "growing", "declining", "dormant", "new"} <= set(lifecycles)


def test_overrides_one_standing_one_ended_by_the_nightly_run(seeded):
    with tenant_context(bank("demo-a")):
        standing = TierOverride.objects.get(revoked_at__isnull=True)
        ended = TierOverride.objects.get(revoked_at__isnull=False)
        assert standing.client.tier_id == standing.tier_id
        assert standing.expires_on > today()
        assert standing.created_by.role == "supervisor"
        assert ended.revoked_by is None  # expired, ended by a run
        assert TierChange.objects.filter(override=ended, reason="override_ended").exists()


def test_rms_are_told_of_their_tier_changes(seeded):
    with tenant_context(bank("demo-a")):
        notes = list(Notification.objects.filter(kind="tier_changes"))
        owners = set(
            TierChange.objects.exclude(client__owner_rm=None).values_list(
                "client__owner_rm", flat=True
            )
        )
    assert {n.recipient_id for n in notes} == owners
    assert all({"date", "upgrades", "downgrades", "other"} <= set(n.params) for n in notes)


def test_three_rms_get_capacities_around_their_weighted_book(seeded):
    spec = demo.DEMO_TENANTS[0]
    codes = {s.handle: s.code for s in spec.staff}
    with tenant_context(bank("demo-a")):
        capacity = dict(RmCapacity.objects.values_list("staff__code", "capacity"))
        weighted = dict(
            Client.objects.filter(tier__isnull=False)
            .order_by()
            .values("owner_rm__code")
            .annotate(w=Sum("tier__service_standards__book_weight"))
            .values_list("owner_rm__code", "w")
        )
    assert set(capacity) == {codes["rm1"], codes["rm3"], codes["rm5"]}
    assert capacity[codes["rm1"]] < weighted[codes["rm1"]]  # overloaded
    assert capacity[codes["rm3"]] > weighted[codes["rm3"]]  # room for more


def test_a_second_seed_the_same_day_adds_nothing(seeded):
    before = {slug: rows(slug) for slug in SLUGS}
    output = seed()
    assert {slug: rows(slug) for slug in SLUGS} == before
    assert "+0 AUM snapshots, +0 tier changes, +0 overrides, +0 RM capacities" in output


def test_clients_added_later_get_history_and_a_tier_without_replaying_the_past():
    seed(clients=40)
    day = today("demo-b")
    with tenant_context(bank("demo-b")):
        past = set(TierChange.objects.filter(effective_on__lt=day).values_list("pk", flat=True))
    seed(clients=80)
    with tenant_context(bank("demo-b")):
        assert AumSnapshot.objects.exclude(**PROSPECTS).values("client").distinct().count() == 80
        assert set(ClientSegment.objects.values_list("evaluated_on", flat=True)) == {day}
        again = set(TierChange.objects.filter(effective_on__lt=day).values_list("pk", flat=True))
    assert again == past  # the past is not replayed for the newcomers
