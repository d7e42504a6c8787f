"""Configuration pages (tiers, service standards, policy) and the client 360's tier
section with its override form — per role, with validation shown in the forms."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Tier
from segmentation.models import ServiceStandard, TieringPolicy
from tests.factories import (
    ClientFactory,
    ServiceStandardFactory,
    TierFactory,
)
from vipcrm.models import AuditEntry

pytestmark = pytest.mark.django_db

TIERS = reverse("segmentation:tiers")
ADD = reverse("segmentation:tier-add")
POLICY = reverse("segmentation:policy-edit")
HTMX = {"HTTP_HX_REQUEST": "true"}


def edit_url(tier):
    return reverse("segmentation:tier-edit", args=[tier.code])


def delete_url(tier):
    return reverse("segmentation:tier-delete", args=[tier.code])


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
    ServiceStandardFactory(tenant=bank_a.tenant, tier=tier, contact_cadence_days=90)
    return tier


@pytest.fixture
def potential(bank_a):
    tier = TierFactory(
        tenant=bank_a.tenant, code="POT", name="潜力客户", rank=1, aum_floor=Decimal("200000")
    )
    ServiceStandardFactory(tenant=bank_a.tenant, tier=tier, contact_cadence_days=180)
    return tier


def tier_form(**overrides):
    data = {
        "code": "DIAMOND",
        "name": "钻石",
        "rank": "3",
        "aum_floor": "5000000",
        "contact_cadence_days": "45",
        "maturity_lead_days": "30",
        "meetings_per_year": "4",
        "book_weight": "4",
        "service_package": "专属客户经理、机场贵宾厅",
    }
    data.update(overrides)
    return data


def policy_form(**overrides):
    data = {
        "window_days": "90",
        "downgrade_grace": "3",
        "near_threshold_percent": "10",
        "default_rm_capacity": "150",
    }
    data.update(overrides)
    return data


# --- The configuration page, per role --------------------------------------------------


def test_head_office_sees_the_tiers_in_rank_order_with_edit_buttons(login, bank_a, gold, potential):
    page = login(bank_a.head).get(TIERS)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("金卡") < html.index("潜力客户")  # the highest rank first
    assert edit_url(gold) in html and ADD in html and POLICY in html
    assert delete_url(gold) in html  # nobody is in it yet


def test_a_supervisor_reads_the_configuration_without_edit_buttons(login, bank_a, gold):
    page = login(bank_a.supervisor).get(TIERS)
    assert page.status_code == 200
    html = page.content.decode()
    assert "金卡" in html and "500,000.00" in html
    assert edit_url(gold) not in html and ADD not in html and POLICY not in html


@pytest.mark.parametrize("role", ["rm", "advisor"])
def test_rms_and_advisors_are_refused_the_configuration(login, bank_a, gold, role):
    client = login(getattr(bank_a, role))
    assert client.get(TIERS).status_code == 403
    assert client.get(edit_url(gold)).status_code == 403


def test_the_page_says_changes_take_effect_at_the_next_nightly_run(login, english, bank_a, gold):
    html = login(bank_a.supervisor).get(TIERS).content.decode()
    assert "take effect at the next nightly run" in html
    assert "02:00" in html  # the bank's nightly time


def test_the_page_query_count_does_not_grow_with_tiers_or_clients(
    login, bank_a, gold, potential, django_assert_num_queries
):
    client = login(bank_a.head)
    with CaptureQueriesContext(connection) as few:
        client.get(TIERS)
    for rank in range(3, 8):
        tier = TierFactory(tenant=bank_a.tenant, rank=rank, aum_floor=Decimal(rank * 10**6))
        ServiceStandardFactory(tenant=bank_a.tenant, tier=tier)
        ClientFactory.create_batch(2, tenant=bank_a.tenant, branch=bank_a.sub, tier=tier)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(TIERS)


def test_a_tier_in_use_offers_no_delete_button(login, bank_a, gold):
    ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, tier=gold)
    html = login(bank_a.head).get(TIERS).content.decode()
    assert edit_url(gold) in html and delete_url(gold) not in html


# --- Edit routes: head office only ------------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "rm", "advisor"])
def test_only_head_office_may_open_or_post_the_edit_routes(login, bank_a, gold, role, in_tenant):
    client = login(getattr(bank_a, role))
    for url in (ADD, edit_url(gold), delete_url(gold), POLICY):
        assert client.get(url).status_code == 403, url
        assert client.post(url, {**tier_form(), **policy_form()}).status_code == 403, url
    with in_tenant(bank_a.tenant):
        assert Tier.objects.get(code="GOLD").aum_floor == Decimal("500000")
        assert not TieringPolicy.objects.exists()
        assert not AuditEntry.objects.exclude(action="login").exists()


def test_an_anonymous_visitor_is_sent_to_the_login(client, gold):
    response = client.get(edit_url(gold))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_head_office_adds_a_tier_with_its_standard(login, bank_a, gold, in_tenant):
    response = login(bank_a.head).post(ADD, tier_form(), follow=True)
    assert response.redirect_chain[-1][0] == TIERS
    assert "钻石" in response.content.decode()
    with in_tenant(bank_a.tenant):
        tier = Tier.objects.get(code="DIAMOND")
        standard = ServiceStandard.objects.get(tier=tier)
        entry = AuditEntry.objects.get(action="create", object_type="customers.tier")
    assert (tier.rank, tier.aum_floor) == (3, Decimal("5000000"))
    assert (standard.contact_cadence_days, standard.book_weight) == (45, Decimal("4"))
    assert entry.ip_address == "127.0.0.1"


def test_head_office_edits_a_tier_and_its_standard_in_one_form(login, bank_a, gold, in_tenant):
    client = login(bank_a.head)
    form = client.get(edit_url(gold)).content.decode()
    assert 'value="500000.00"' in form and 'value="GOLD"' in form and "disabled" in form
    response = client.post(
        edit_url(gold),
        tier_form(
            code="HACKED", name="金卡", rank="2", aum_floor="600000", contact_cadence_days="60"
        ),
    )
    assert response.status_code == 302
    with in_tenant(bank_a.tenant):
        tier = Tier.objects.get(pk=gold.pk)
        standard = ServiceStandard.objects.get(tier=gold)
        changes = {
            entry.object_type: entry.detail["changes"]
            for entry in AuditEntry.objects.filter(action="update")
        }
    assert (tier.code, tier.aum_floor) == ("GOLD", Decimal("600000"))  # the code never changes
    assert standard.contact_cadence_days == 60
    assert changes["customers.tier"]["aum_floor"] == ["500000.00", "600000.00"]
    assert changes["segmentation.servicestandard"]["contact_cadence_days"] == ["90", "60"]


def test_an_invalid_edit_shows_the_messages_and_saves_neither_part(
    login, english, bank_a, gold, potential, in_tenant
):
    response = login(bank_a.head).post(
        edit_url(gold),
        tier_form(name="金卡", rank="2", aum_floor="150000", contact_cadence_days="30"),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "The floor must be above that of 潜力客户 (200,000.00 CNY)" in html
    with in_tenant(bank_a.tenant):
        assert ServiceStandard.objects.get(tier=gold).contact_cadence_days == 90
        assert not AuditEntry.objects.filter(action="update").exists()


def test_a_standard_out_of_bounds_is_refused_in_the_form(login, english, bank_a, gold):
    response = login(bank_a.head).post(
        edit_url(gold), tier_form(name="金卡", rank="2", aum_floor="500000", maturity_lead_days="0")
    )
    assert response.status_code == 400
    assert "greater than or equal to 1" in response.content.decode()


def test_the_edit_form_of_another_banks_tier_is_a_404(login, bank_a, bank_b):
    theirs = TierFactory(tenant=bank_b.tenant, code="THEIRS")
    assert login(bank_a.head).get(edit_url(theirs)).status_code == 404


def test_head_office_deletes_an_unused_tier(login, bank_a, gold, in_tenant):
    client = login(bank_a.head)
    assert "金卡" in client.get(delete_url(gold)).content.decode()
    assert client.post(delete_url(gold)).status_code == 302
    with in_tenant(bank_a.tenant):
        assert not Tier.objects.filter(pk=gold.pk).exists()


def test_deleting_a_tier_in_use_is_refused_on_the_page(login, english, bank_a, gold, in_tenant):
    ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, tier=gold)
    response = login(bank_a.head).post(delete_url(gold))
    assert response.status_code == 400
    assert "is in use" in response.content.decode()
    with in_tenant(bank_a.tenant):
        assert Tier.objects.filter(pk=gold.pk).exists()


def test_head_office_edits_the_policy(login, bank_a, in_tenant):
    client = login(bank_a.head)
    assert 'value="90"' in client.get(POLICY).content.decode()  # the defaults
    assert client.post(POLICY, policy_form(downgrade_grace="4")).status_code == 302
    with in_tenant(bank_a.tenant):
        assert TieringPolicy.objects.get().downgrade_grace == 4
        entry = AuditEntry.objects.get(object_type="segmentation.tieringpolicy")
    assert entry.detail["changes"] == {"downgrade_grace": ["3", "4"]}
    page = client.get(TIERS).content.decode()
    assert "3 → 4" in page  # the recent changes, before → after


def test_an_invalid_policy_is_refused_with_field_messages(login, english, bank_a, in_tenant):
    response = login(bank_a.head).post(POLICY, policy_form(window_days="0", downgrade_grace=""))
    assert response.status_code == 400
    html = response.content.decode()
    assert "greater than or equal to 1" in html and "This field is required" in html
    with in_tenant(bank_a.tenant):
        assert not TieringPolicy.objects.exists()
