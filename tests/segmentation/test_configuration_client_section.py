"""The client 360's tier section: the tiering basis, the history and the standing
override for everyone who may open the client; the override form (pin, revoke) for a
supervisor of the client's branch subtree and head office only."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import Client
from segmentation.models import TierOverride
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    ServiceStandardFactory,
    StaffFactory,
    TierChangeFactory,
    TierFactory,
    TierOverrideFactory,
)
from vipcrm.roles import Role

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def client_url(name, client):
    return reverse(f"segmentation:{name}", args=[client.external_id])


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def gold(bank_a):
    tier = TierFactory(
        tenant=bank_a.tenant, code="GOLD", name="金卡", rank=2, aum_floor=Decimal("500000")
    )
    ServiceStandardFactory(tenant=bank_a.tenant, tier=tier)
    return tier


@pytest.fixture
def potential(bank_a):
    tier = TierFactory(
        tenant=bank_a.tenant, code="POT", name="潜力客户", rank=1, aum_floor=Decimal("200000")
    )
    ServiceStandardFactory(tenant=bank_a.tenant, tier=tier)
    return tier


@pytest.fixture
def vip(bank_a, gold, potential):
    """A Gold client of the RM in sub-branch BJ01 with a segment, a history and a pin."""
    client = ClientFactory(
        tenant=bank_a.tenant,
        external_id="C100",
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        tier=gold,
        aum_cny=Decimal("480000"),
    )
    ClientSegmentFactory(
        tenant=bank_a.tenant,
        client=client,
        average_aum_cny=Decimal("481234.56"),
        rule_tier=potential,
        months_below_floor=2,
        lifecycle="declining",
        product_preference="fund",
        evaluated_on=datetime.date(2026, 11, 27),
    )
    TierChangeFactory(
        tenant=bank_a.tenant,
        client=client,
        from_tier=potential,
        to_tier=gold,
        average_aum_cny=Decimal("512000"),
        effective_on=datetime.date(2026, 3, 1),
    )
    return client


def detail(client, vip):
    return client.get(reverse("customers:client-detail", args=[vip.external_id]))


def test_the_360_page_shows_the_tier_basis_and_history(login, english, bank_a, vip):
    html = detail(login(bank_a.rm), vip).content.decode()
    assert 'id="tier"' in html
    for fragment in (
        "481,234.56",  # the average daily AUM
        "2 monthly evaluations of a grace of 3",
        "Declining",
        "Fund",
        "2026-03-01",
        "512,000.00",
        "Upgrade: average AUM reached the floor",
    ):
        assert fragment in html, fragment


def test_an_rm_sees_no_override_form(login, bank_a, vip):
    client = login(bank_a.rm)
    html = detail(client, vip).content.decode()
    assert client_url("client-tier-override", vip) not in html
    expires = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    data = {"tier": vip.tier_id, "reason": "试试", "expires_on": expires}
    assert client.post(client_url("client-tier-override", vip), data).status_code == 403


@pytest.mark.parametrize("role", ["supervisor", "head"])
def test_a_supervisor_of_the_branch_and_head_office_see_the_override_form(login, bank_a, vip, role):
    html = detail(login(getattr(bank_a, role)), vip).content.decode()
    assert client_url("client-tier-override", vip) in html


def test_a_supervisor_of_another_branch_cannot_see_or_pin_the_client(login, bank_a, vip):
    other = StaffFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, role=Role.SUPERVISOR)
    client = login(other)
    expires = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    data = {"tier": vip.tier_id, "reason": "越权", "expires_on": expires}
    assert client.post(client_url("client-tier-override", vip), data).status_code == 404
    assert client.get(client_url("client-tier", vip)).status_code == 404


def test_a_supervisor_pins_a_tier_with_htmx(login, bank_a, vip, potential, in_tenant):
    expires = timezone.localdate() + datetime.timedelta(days=90)
    response = login(bank_a.supervisor).post(
        client_url("client-tier-override", vip),
        {"tier": potential.pk, "reason": "客户资金临时转出，行长批准保留", "expires_on": expires},
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card c360__section" id="tier"')
    assert "客户资金临时转出" in html
    with in_tenant(bank_a.tenant):
        override = TierOverride.objects.get(client=vip, revoked_at__isnull=True)
        assert Client.objects.get(pk=vip.pk).tier_id == potential.pk
    assert (override.tier_id, override.expires_on) == (potential.pk, expires)


def test_a_pin_without_reason_or_with_a_past_expiry_shows_the_errors(
    login, english, bank_a, vip, in_tenant
):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    response = login(bank_a.head).post(
        client_url("client-tier-override", vip),
        {"tier": vip.tier_id, "reason": "  ", "expires_on": yesterday},
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "field__error" in html
    with in_tenant(bank_a.tenant):
        assert not TierOverride.objects.exists()


def test_a_pin_to_another_banks_tier_is_refused_in_the_form(login, bank_a, bank_b, vip, in_tenant):
    theirs = TierFactory(tenant=bank_b.tenant)
    expires = timezone.localdate() + datetime.timedelta(days=30)
    response = login(bank_a.head).post(
        client_url("client-tier-override", vip),
        {"tier": theirs.pk, "reason": "跨行", "expires_on": expires},
    )
    assert response.status_code == 200 and "field__error" in response.content.decode()
    with in_tenant(bank_a.tenant):
        assert not TierOverride.objects.exists()


def test_a_supervisor_revokes_the_override(login, bank_a, vip, in_tenant):
    override = TierOverrideFactory(
        tenant=bank_a.tenant, client=vip, tier=vip.tier, created_by=bank_a.supervisor
    )
    client = login(bank_a.supervisor)
    html = detail(client, vip).content.decode()
    assert client_url("client-tier-override-revoke", vip) in html
    response = client.post(
        client_url("client-tier-override-revoke", vip), {"override": override.pk}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("#tier")
    with in_tenant(bank_a.tenant):
        override.refresh_from_db()
    assert override.revoked_at is not None and override.revoked_by_id == bank_a.supervisor.pk


def test_revoking_another_clients_override_is_a_404(login, bank_a, vip, in_tenant):
    stranger = TierOverrideFactory(tenant=bank_a.tenant, created_by=bank_a.supervisor)
    response = login(bank_a.head).post(
        client_url("client-tier-override-revoke", vip), {"override": stranger.pk}
    )
    assert response.status_code == 404
    with in_tenant(bank_a.tenant):
        stranger.refresh_from_db()
    assert stranger.revoked_at is None


def test_the_section_alone_and_without_js(login, bank_a, vip):
    client = login(bank_a.rm)
    alone = client.get(client_url("client-tier", vip), **HTMX).content.decode()
    assert alone.lstrip().startswith("<section") and "<html" not in alone
    page = client.get(client_url("client-tier", vip)).content.decode()
    assert "<html" in page and 'id="tier"' in page


def test_the_tier_section_keeps_the_360_page_query_count_flat(
    login, bank_a, vip, potential, gold, django_assert_num_queries
):
    client = login(bank_a.supervisor)
    with CaptureQueriesContext(connection) as few:
        detail(client, vip)
    for day in range(2, 12):
        TierChangeFactory(
            tenant=bank_a.tenant,
            client=vip,
            from_tier=gold,
            to_tier=potential,
            effective_on=datetime.date(2026, 4, day),
        )
    TierOverrideFactory(tenant=bank_a.tenant, client=vip, tier=gold, created_by=bank_a.head)
    with django_assert_num_queries(len(few.captured_queries)):
        detail(client, vip)
