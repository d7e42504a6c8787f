"""AUM: active holdings converted to CNY with the tenant's latest FX rate, set-based."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from customers import aum as aum_module
from customers.aum import client_aum_refresh
from customers.models import Client
from tests.factories import ClientFactory, FxRateFactory, HoldingFactory
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 30)


@pytest.fixture
def person(bank_a):
    return ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub)


def holding(person, balance, currency="CNY", status="active"):
    return HoldingFactory(
        tenant=person.tenant,
        client=person,
        balance=Decimal(balance),
        currency=currency,
        status=status,
        product__tenant=person.tenant,
    )


def rate(tenant, currency, on, value):
    return FxRateFactory(tenant=tenant, currency=currency, date=on, rate_to_cny=Decimal(value))


def refresh_and_read(tenant, client_ids=None, on=TODAY, **kwargs):
    with tenant_context(tenant):
        changed = client_aum_refresh(client_ids=client_ids, on=on, **kwargs)
        return changed, {c.pk: c.aum_cny for c in Client.objects.all()}


def test_aum_sums_active_holdings_with_the_latest_rate_on_or_before_the_day(person, bank_a):
    holding(person, "1000.00")
    holding(person, "100.00", "USD")
    holding(person, "5000.00", status="closed")
    rate(bank_a.tenant, "USD", TODAY - datetime.timedelta(days=10), "7.00000000")
    rate(bank_a.tenant, "USD", TODAY - datetime.timedelta(days=1), "7.12345678")
    rate(bank_a.tenant, "USD", TODAY + datetime.timedelta(days=1), "9.00000000")  # not yet
    changed, aum = refresh_and_read(bank_a.tenant)
    assert changed == 1
    assert aum[person.pk] == Decimal("1712.35")  # 1000 + 100 × 7.12345678, to the cent


def test_a_currency_without_a_rate_counts_zero_and_is_logged(person, bank_a, monkeypatch):
    warnings = []
    monkeypatch.setattr(aum_module.logger, "warning", lambda *args: warnings.append(args))
    holding(person, "1000.00")
    holding(person, "100.00", "JPY")
    _, aum = refresh_and_read(bank_a.tenant)
    assert aum[person.pk] == Decimal("1000.00")
    assert len(warnings) == 1 and "JPY" in warnings[0]


def test_another_tenants_rates_are_not_used(person, bank_a, bank_b):
    holding(person, "100.00", "USD")
    rate(bank_b.tenant, "USD", TODAY, "7.00000000")
    _, aum = refresh_and_read(bank_a.tenant)
    assert aum[person.pk] == Decimal("0")


def test_only_the_given_clients_are_refreshed(person, bank_a):
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub)
    holding(person, "10.00")
    holding(other, "20.00")
    changed, aum = refresh_and_read(bank_a.tenant, client_ids=[person.pk])
    assert changed == 1
    assert (aum[person.pk], aum[other.pk]) == (Decimal("10.00"), Decimal("0"))
    assert refresh_and_read(bank_a.tenant, client_ids=[])[0] == 0


def test_a_client_whose_aum_does_not_change_is_not_rewritten(person, bank_a):
    holding(person, "10.00")
    refresh_and_read(bank_a.tenant)
    with tenant_context(bank_a.tenant):
        stamp = Client.objects.get(pk=person.pk).updated_at
    changed, _ = refresh_and_read(bank_a.tenant)
    assert changed == 0
    with tenant_context(bank_a.tenant):
        assert Client.objects.get(pk=person.pk).updated_at == stamp


def test_a_client_without_active_holdings_has_zero_aum(person, bank_a):
    with tenant_context(bank_a.tenant):
        Client.objects.filter(pk=person.pk).update(aum_cny=Decimal("99.00"))
    holding(person, "10.00", status="closed")
    _, aum = refresh_and_read(bank_a.tenant)
    assert aum[person.pk] == Decimal("0")


def test_refresh_by_currency_touches_only_clients_holding_it(person, bank_a):
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub)
    holding(person, "10.00", "USD")
    holding(other, "10.00")
    rate(bank_a.tenant, "USD", TODAY, "7.00000000")
    changed, aum = refresh_and_read(bank_a.tenant, currencies=["USD"])
    assert changed == 1
    assert (aum[person.pk], aum[other.pk]) == (Decimal("70.00"), Decimal("0"))


def test_the_refresh_is_one_update_whatever_the_number_of_clients(
    bank_a, django_assert_max_num_queries
):
    for _ in range(30):
        holding(ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub), "1.00", "USD")
    rate(bank_a.tenant, "USD", TODAY, "7.00000000")
    with tenant_context(bank_a.tenant), django_assert_max_num_queries(4):
        assert client_aum_refresh(on=TODAY) == 30


def test_the_default_day_is_today_in_the_bank(person, bank_a):
    holding(person, "1.00", "USD")
    rate(bank_a.tenant, "USD", timezone.localdate(), "7.00000000")
    with tenant_context(bank_a.tenant):
        client_aum_refresh()
        assert Client.objects.get(pk=person.pk).aum_cny == Decimal("7.00")


def test_a_client_without_any_holding_gets_zero_in_every_scope(person, bank_a):
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub)
    with tenant_context(bank_a.tenant):
        Client.objects.filter(pk__in=[person.pk, other.pk]).update(aum_cny=Decimal("5.00"))
    changed, aum = refresh_and_read(bank_a.tenant, client_ids=[person.pk])
    assert changed == 1
    assert (aum[person.pk], aum[other.pk]) == (Decimal("0"), Decimal("5.00"))
    changed, aum = refresh_and_read(bank_a.tenant)
    assert changed == 1
    assert aum[other.pk] == Decimal("0")


def test_each_currency_uses_its_own_latest_rate_and_cny_is_always_one(person, bank_a):
    holding(person, "100.00")
    holding(person, "10.00", "USD")
    holding(person, "1000.00", "JPY")
    holding(person, "10.00", "HKD")  # no rate: counts 0
    rate(bank_a.tenant, "USD", TODAY - datetime.timedelta(days=3), "7.00000000")
    rate(bank_a.tenant, "JPY", TODAY - datetime.timedelta(days=1), "0.04800000")
    rate(bank_a.tenant, "CNY", TODAY, "2.00000000")  # a feed's CNY rate is ignored
    _, aum = refresh_and_read(bank_a.tenant, client_ids=[person.pk])
    assert aum[person.pk] == Decimal("218.00")  # 100 + 10 × 7 + 1000 × 0.048


def test_only_the_changed_clients_are_stamped_in_a_whole_bank_refresh(person, bank_a):
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub)
    holding(person, "10.00")
    holding(other, "20.00")
    refresh_and_read(bank_a.tenant)
    with tenant_context(bank_a.tenant):
        stamps = dict(Client.objects.values_list("pk", "updated_at"))
    holding(person, "5.00")
    changed, aum = refresh_and_read(bank_a.tenant)
    assert changed == 1
    assert aum[person.pk] == Decimal("15.00")
    with tenant_context(bank_a.tenant):
        after = dict(Client.objects.values_list("pk", "updated_at"))
    assert after[other.pk] == stamps[other.pk]
    assert after[person.pk] > stamps[person.pk]


def test_thousands_of_client_ids_travel_as_one_parameter(person, bank_a):
    holding(person, "10.00")
    ids = [person.pk, *range(10**9, 10**9 + 40_000)]  # past SQLite's parameter limit
    changed, aum = refresh_and_read(bank_a.tenant, client_ids=ids)
    assert changed == 1
    assert aum[person.pk] == Decimal("10.00")


def test_the_refresh_of_a_batch_of_clients_is_a_constant_number_of_queries(
    bank_a, django_assert_max_num_queries
):
    clients = [ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub) for _ in range(30)]
    for person in clients:
        holding(person, "1.00", "USD")
    rate(bank_a.tenant, "USD", TODAY, "7.00000000")
    with tenant_context(bank_a.tenant), django_assert_max_num_queries(5):
        assert client_aum_refresh(client_ids=[c.pk for c in clients], on=TODAY) == 30
