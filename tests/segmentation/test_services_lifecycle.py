"""The lifecycle and product-preference dimensions, and the AUM movement they rest on."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from customers.models import Client, Holding, Product
from segmentation import services
from segmentation.models import AumSnapshot, ClientSegment
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    FxRateFactory,
    HoldingFactory,
    ProductFactory,
)
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

ON = datetime.date(2026, 11, 28)
DAY = datetime.timedelta(days=1)
LONG_AGO = datetime.date(2020, 3, 1)


def person(bank, *, since=LONG_AGO, contact=ON - DAY * 30, **kwargs) -> Client:
    """A client whose relationship started ``since`` (a holding opened that day), last
    contacted on ``contact`` (so not dormant unless that is None)."""
    client = ClientFactory(tenant=bank.tenant, branch=bank.sub, **kwargs)
    ClientSegmentFactory(tenant=bank.tenant, client=client, last_contact_on=contact)
    with tenant_context(bank.tenant):
        Client.objects.filter(pk=client.pk).update(
            created_at=datetime.datetime(2019, 1, 1, tzinfo=datetime.UTC)
        )
    if since is not None:
        HoldingFactory(
            tenant=bank.tenant, client=client, opened_on=since, balance=Decimal("1000.00")
        )
    return client


def snapshot(client, day, amount) -> None:
    with tenant_context(client.tenant_id):
        AumSnapshot.objects.create(client=client, date=day, aum_cny=Decimal(amount))


def refresh(bank, on=ON) -> int:
    with tenant_context(bank.tenant):
        return services.client_segments_refresh(on=on)


def segment(client) -> ClientSegment:
    with tenant_context(client.tenant_id):
        return ClientSegment.objects.get(client=client)


def lifecycle(client) -> str:
    return segment(client).lifecycle


def test_a_relationship_younger_than_six_months_is_new(bank_a):
    young = person(bank_a, since=datetime.date(2026, 6, 1))
    old = person(bank_a, since=datetime.date(2026, 5, 27))
    refresh(bank_a)
    assert lifecycle(young) == "new"
    assert lifecycle(old) == "stable"


def test_without_holdings_the_relationship_starts_when_the_client_was_created(bank_a):
    fresh = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub)
    refresh(bank_a, on=datetime.date.today())
    assert lifecycle(fresh) == "new"


@pytest.mark.parametrize(
    ("now", "expected"),
    [("789999.99", "declining"), ("800000.00", "stable"), ("1200000.00", "stable"),
     ("1200000.01", "growing")],
)  # fmt: skip
def test_a_change_of_more_than_20_percent_over_90_days_is_a_trend(bank_a, now, expected):
    client = person(bank_a)
    snapshot(client, ON - DAY * 90, "1000000.00")
    snapshot(client, ON - DAY * 45, "5000000.00")  # in between: not compared
    snapshot(client, ON, now)
    refresh(bank_a)
    assert lifecycle(client) == expected


def test_snapshots_older_than_90_days_are_not_the_comparison(bank_a):
    client = person(bank_a)
    snapshot(client, ON - DAY * 91, "5000000.00")
    snapshot(client, ON - DAY * 60, "1000000.00")
    snapshot(client, ON, "1000000.00")
    refresh(bank_a)
    assert lifecycle(client) == "stable"


def test_a_client_missing_on_the_banks_first_day_is_compared_with_its_own_earliest(bank_a):
    steady = person(bank_a)
    snapshot(steady, ON - DAY * 90, "1000000.00")
    snapshot(steady, ON, "1000000.00")
    late = person(bank_a)
    snapshot(late, ON - DAY * 30, "1000000.00")
    snapshot(late, ON - DAY, "400000.00")  # and no snapshot on ON either
    refresh(bank_a)
    assert lifecycle(steady) == "stable"
    assert lifecycle(late) == "declining"


def test_new_takes_precedence_over_a_trend(bank_a):
    client = person(bank_a, since=ON - DAY * 60)
    snapshot(client, ON - DAY * 60, "1000000.00")
    snapshot(client, ON, "100000.00")
    refresh(bank_a)
    assert lifecycle(client) == "new"


def test_no_contact_and_no_movement_for_180_days_is_dormant(bank_a):
    idle = person(bank_a, contact=None)
    snapshot(idle, ON - DAY * 90, "300000.00")
    snapshot(idle, ON, "300000.00")
    contacted = person(bank_a, contact=None)
    moved = person(bank_a, contact=None)
    opened = person(bank_a, contact=None)
    HoldingFactory(tenant=bank_a.tenant, client=opened, opened_on=ON - DAY * 100)
    refresh(bank_a)
    with tenant_context(bank_a.tenant):
        ClientSegment.objects.filter(client=contacted).update(last_contact_on=ON - DAY * 179)
        ClientSegment.objects.filter(client=moved).update(last_aum_change_on=ON - DAY * 10)
    refresh(bank_a)
    assert lifecycle(idle) == "dormant"
    assert lifecycle(contacted) == "stable"
    assert lifecycle(moved) == "stable"
    assert lifecycle(opened) == "stable"
    with tenant_context(bank_a.tenant):
        ClientSegment.objects.filter(client=contacted).update(last_contact_on=ON - DAY * 180)
    refresh(bank_a)
    assert lifecycle(contacted) == "dormant"


def test_the_preferred_category_is_the_largest_in_cny(bank_a):
    client = person(bank_a, since=None)
    fund = ProductFactory(tenant=bank_a.tenant, category=Product.Category.FUND)
    deposit = ProductFactory(tenant=bank_a.tenant, category=Product.Category.TIME_DEPOSIT)
    insurance = ProductFactory(tenant=bank_a.tenant, category=Product.Category.INSURANCE)

    def hold(product, balance, currency="CNY", status=Holding.Status.ACTIVE):
        HoldingFactory(
            tenant=bank_a.tenant,
            client=client,
            product=product,
            balance=Decimal(balance),
            currency=currency,
            status=status,
            opened_on=LONG_AGO,
        )

    hold(deposit, "400000.00")
    hold(deposit, "300000.00")  # deposits 700,000
    hold(fund, "100000.00", "USD")  # 710,000 at 7.1 (the rate on or before ON)
    hold(insurance, "9000000.00", status=Holding.Status.CLOSED)
    FxRateFactory(tenant=bank_a.tenant, date=ON - DAY, rate_to_cny=Decimal("7.10000000"))
    FxRateFactory(tenant=bank_a.tenant, date=ON + DAY, rate_to_cny=Decimal("6.00000000"))
    refresh(bank_a)
    assert segment(client).product_preference == Product.Category.FUND
    refresh(bank_a, on=ON + DAY)  # at 6.0 the fund is worth 600,000
    assert segment(client).product_preference == Product.Category.TIME_DEPOSIT


def test_a_client_without_active_holdings_has_no_preference(bank_a):
    client = person(bank_a, since=None)
    refresh(bank_a)
    assert segment(client).product_preference == ""


def test_a_second_refresh_writes_nothing(bank_a):
    client = person(bank_a)
    snapshot(client, ON, "300000.00")
    assert refresh(bank_a) == 1
    written = segment(client).updated_at
    assert refresh(bank_a) == 0
    assert segment(client).updated_at == written


def test_the_snapshot_records_the_day_aum_last_moved(bank_a):
    client = person(bank_a, since=None)
    still = person(bank_a, since=None)
    for c in (client, still):
        HoldingFactory(tenant=bank_a.tenant, client=c, balance=Decimal("300000.00"))

    def take(on):
        with tenant_context(bank_a.tenant):
            services.aum_snapshot_take(on=on)

    take(ON - DAY * 2)
    assert segment(client).last_aum_change_on is None  # nothing to compare with yet
    take(ON - DAY)
    assert segment(client).last_aum_change_on is None
    with tenant_context(bank_a.tenant):
        Holding.objects.filter(client=client).update(balance=Decimal("350000.00"))
    take(ON)
    assert segment(client).last_aum_change_on == ON
    assert segment(still).last_aum_change_on is None
    take(ON)  # a re-run of the day replaces, never duplicates
    with tenant_context(bank_a.tenant):
        assert AumSnapshot.objects.filter(client=client).count() == 3
        assert AumSnapshot.objects.get(client=client, date=ON).aum_cny == Decimal("350000.00")


def test_a_rerun_of_the_snapshot_replaces_the_days_amounts(bank_a):
    client = person(bank_a, since=None)
    holding = HoldingFactory(tenant=bank_a.tenant, client=client, balance=Decimal("100.00"))
    with tenant_context(bank_a.tenant):
        assert services.aum_snapshot_take(on=ON) == 1
        assert services.aum_snapshot_take(on=ON) == 0
        Holding.objects.filter(pk=holding.pk).update(balance=Decimal("200.00"))
        assert services.aum_snapshot_take(on=ON) == 1
        assert list(AumSnapshot.objects.values_list("date", "aum_cny")) == [(ON, Decimal("200.00"))]
