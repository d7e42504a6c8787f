"""The supervisor list pages: who may open them, what they show, export, the reassign
action, and query counts that do not grow with the rows."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Client
from segmentation.models import TierChange
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    StaffFactory,
    TierChangeFactory,
)
from tests.segmentation.test_lists_selectors import make_tiers
from vipcrm.models import AuditEntry, Notification
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

UNQUALIFIED = reverse("segmentation:unqualified-list")
UNQUALIFIED_CSV = reverse("segmentation:unqualified-export")
NEAR = reverse("segmentation:near-threshold-list")
NEAR_CSV = reverse("segmentation:near-threshold-export")
CHANGES = reverse("segmentation:tier-change-list")


@pytest.fixture
def tiers(bank_a):
    return make_tiers(bank_a.tenant)


def client_with(bank, *, basis, tier=None, owner=None, branch=None, **kwargs):
    client = ClientFactory(
        tenant=bank.tenant,
        branch=branch or bank.sub,
        owner_rm=owner,
        tier=tier,
        **kwargs,
    )
    ClientSegmentFactory(tenant=bank.tenant, client=client, average_aum_cny=Decimal(basis))
    return client


@pytest.fixture
def unqualified_vip(bank_a, tiers):
    return client_with(
        bank_a,
        basis="120000",
        tier=tiers.gold,
        owner=bank_a.rm,
        name="钱不足",
        mobile="13800001234",
    )


def text(response) -> str:
    return response.content.decode()


# --- Who may open what ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "url", "status"),
    [
        ("advisor", UNQUALIFIED, 404),
        ("advisor", NEAR, 404),
        ("advisor", CHANGES, 404),
        ("advisor", UNQUALIFIED_CSV, 404),
        ("advisor", NEAR_CSV, 404),
        ("rm", UNQUALIFIED, 404),
        ("rm", UNQUALIFIED_CSV, 404),
        ("rm", NEAR, 200),
        ("rm", NEAR_CSV, 200),
        ("rm", CHANGES, 200),
        ("supervisor", UNQUALIFIED, 200),
        ("supervisor", NEAR, 200),
        ("supervisor", CHANGES, 200),
        ("head", UNQUALIFIED, 200),
        ("head", NEAR, 200),
        ("head", CHANGES, 200),
    ],
)
def test_each_list_opens_for_its_roles_only(login, bank_a, tiers, role, url, status):
    assert login(getattr(bank_a, role)).get(url).status_code == status


def test_a_visitor_must_log_in(client):
    response = client.get(UNQUALIFIED)
    assert response.status_code == 302 and "login" in response["Location"]


# --- Unqualified VIPs ----------------------------------------------------------------


def test_the_unqualified_list_shows_the_clients_rm_tier_and_gap(
    login, english, bank_a, tiers, unqualified_vip
):
    page = text(login(bank_a.supervisor).get(UNQUALIFIED))
    assert unqualified_vip.name in page
    assert bank_a.rm.name in page
    assert "120,000.00" in page and "80,000.00" in page  # basis, and gap to 200,000
    assert "Not a VIP" in page
    assert reverse("customers:client-detail", args=[unqualified_vip.external_id]) in page


def test_a_pending_downgrade_shows_months_below_against_the_grace(login, english, bank_a, tiers):
    client = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, tier=tiers.diamond
    )
    ClientSegmentFactory(
        tenant=bank_a.tenant,
        client=client,
        average_aum_cny=Decimal("4000000"),
        months_below_floor=2,
    )
    page = text(login(bank_a.supervisor).get(UNQUALIFIED))
    assert "Downgrade pending" in page
    assert "2 / 3" in page


def test_the_supervisor_sees_only_their_branches(login, bank_a, tiers, unqualified_vip):
    elsewhere = client_with(
        bank_a, basis="1000", tier=tiers.gold, owner=bank_a.other_rm, branch=bank_a.other_sub
    )
    page = text(login(bank_a.supervisor).get(UNQUALIFIED))
    assert unqualified_vip.name in page and elsewhere.name not in page
    page = text(login(bank_a.head).get(UNQUALIFIED, {"branch": bank_a.other_sub.pk}))
    assert elsewhere.name in page and unqualified_vip.name not in page


def test_an_invalid_filter_is_shown_not_a_500(login, bank_a, tiers, unqualified_vip):
    response = login(bank_a.supervisor).get(UNQUALIFIED, {"branch": "999999", "kind": "x"})
    assert response.status_code == 200
    assert response.context["filter_form"].errors.keys() == {"branch", "kind"}
    assert unqualified_vip.name in text(response)  # the valid filters still apply


def test_the_unqualified_export_is_masked_and_audited(client, bank_a, tiers, unqualified_vip):
    client.force_login(bank_a.supervisor.user)
    response = client.get(UNQUALIFIED_CSV, {"kind": "not_vip"})
    body = response.content.decode("utf-8-sig")
    assert response["Content-Type"].startswith("text/csv")
    assert unqualified_vip.name in body and "120000.00" in body
    assert "138****1234" in body and "13800001234" not in body
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(action="export")
    assert entry.detail["what"] == "unqualified VIPs"
    assert entry.detail["rows"] == 1
    assert entry.detail["filters"] == {"kind": "not_vip"}


def test_an_export_with_invalid_filters_is_a_400(login, bank_a, tiers):
    response = login(bank_a.supervisor).get(UNQUALIFIED_CSV, {"sort": "evil"})
    assert response.status_code == 400
    assert "sort" in text(response)


def test_a_supervisor_reassigns_ticked_clients_from_the_list(login, bank_a, tiers, unqualified_vip):
    city_rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM, name="李经理")
    http = login(bank_a.supervisor)
    url = f"{UNQUALIFIED}?kind=not_vip"
    response = http.post(
        url, {"clients": [unqualified_vip.pk], "to_rm": city_rm.pk, "reason": "清理书籍"}
    )
    assert response.status_code == 302 and response["Location"] == url
    with tenant_context(bank_a.tenant):
        assert Client.objects.get(pk=unqualified_vip.pk).owner_rm_id == city_rm.pk
        assert Notification.objects.filter(kind="clients_reassigned").count() == 2
    follow = http.get(url)
    assert "李经理" in text(follow)


def test_a_supervisor_releases_clients_to_the_pool(login, bank_a, tiers, unqualified_vip):
    response = login(bank_a.supervisor).post(
        UNQUALIFIED, {"clients": [unqualified_vip.pk], "to_rm": "pool", "reason": "不再是贵宾"}
    )
    assert response.status_code == 302
    with tenant_context(bank_a.tenant):
        assert Client.objects.get(pk=unqualified_vip.pk).owner_rm_id is None


def test_a_reassignment_without_clients_or_reason_shows_the_errors(
    login, english, bank_a, tiers, unqualified_vip
):
    response = login(bank_a.supervisor).post(UNQUALIFIED, {"to_rm": "pool", "reason": ""})
    assert response.status_code == 400
    form = response.context["reassign_form"]
    assert set(form.errors) == {"clients", "reason"}
    assert "Select at least one client." in text(response)


def test_an_rm_outside_the_supervisors_branches_is_not_offered(
    login, bank_a, tiers, unqualified_vip
):
    http = login(bank_a.supervisor)
    assert bank_a.other_rm.name not in text(http.get(UNQUALIFIED))
    response = http.post(
        UNQUALIFIED,
        {"clients": [unqualified_vip.pk], "to_rm": bank_a.other_rm.pk, "reason": "跨行"},
    )
    assert response.status_code == 400
    assert "to_rm" in response.context["reassign_form"].errors
    with tenant_context(bank_a.tenant):
        assert Client.objects.get(pk=unqualified_vip.pk).owner_rm_id == bank_a.rm.pk


def test_a_client_outside_the_branches_cannot_be_posted_in(login, bank_a, tiers):
    city_rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM)
    outside = client_with(
        bank_a, basis="1000", tier=tiers.gold, owner=bank_a.other_rm, branch=bank_a.other_sub
    )
    response = login(bank_a.supervisor).post(
        UNQUALIFIED, {"clients": [outside.pk], "to_rm": city_rm.pk, "reason": "越权"}
    )
    assert response.status_code == 400
    assert "clients" in response.context["reassign_form"].errors
    with tenant_context(bank_a.tenant):
        assert Client.objects.get(pk=outside.pk).owner_rm_id == bank_a.other_rm.pk


def test_an_rm_cannot_post_a_reassignment(login, bank_a, tiers, unqualified_vip):
    response = login(bank_a.rm).post(
        UNQUALIFIED, {"clients": [unqualified_vip.pk], "to_rm": "pool", "reason": "x"}
    )
    assert response.status_code == 404


def test_the_unqualified_page_does_not_grow_with_its_rows(
    login, bank_a, tiers, django_assert_max_num_queries
):
    http = login(bank_a.supervisor)

    def add(n):
        for _ in range(n):
            client_with(bank_a, basis="1000", tier=tiers.gold, owner=bank_a.rm)

    add(2)
    with CaptureQueriesContext(connection) as few:
        http.get(UNQUALIFIED)
    add(25)
    with django_assert_max_num_queries(len(few)):
        response = http.get(UNQUALIFIED)
    assert len(response.context["clients"]) == 27


# --- Near-threshold clients ----------------------------------------------------------


def test_the_near_threshold_list_shows_the_next_tier_and_the_amount_missing(
    login, english, bank_a, tiers
):
    client = client_with(bank_a, basis="470000", tier=tiers.potential, owner=bank_a.rm)
    page = text(login(bank_a.supervisor).get(NEAR))
    assert client.name in page
    assert tiers.gold.name in page
    assert "30,000.00" in page
    assert "10%" in page


def test_an_rm_sees_their_own_near_threshold_clients_with_mobiles(login, bank_a, tiers):
    own = client_with(
        bank_a, basis="470000", tier=tiers.potential, owner=bank_a.rm, mobile="13900001111"
    )
    colleague = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM)
    other = client_with(bank_a, basis="470000", tier=tiers.potential, owner=colleague)
    http = login(bank_a.rm)
    page = text(http.get(NEAR))
    assert own.name in page and other.name not in page
    assert "13900001111" in page  # the owner RM sees the mobile in clear
    body = http.get(NEAR_CSV).content.decode("utf-8-sig")
    assert "13900001111" in body and other.name not in body
    # The RM's filters are their own book: no branch or RM filter to pick.
    assert "owner_rm" not in http.get(NEAR).context["filter_form"].fields


def test_the_near_threshold_export_is_audited(client, bank_a, tiers):
    client_with(bank_a, basis="470000", tier=tiers.potential, owner=bank_a.rm)
    client.force_login(bank_a.head.user)
    body = client.get(NEAR_CSV).content.decode("utf-8-sig")
    assert "30000.00" in body
    with tenant_context(bank_a.tenant):
        assert AuditEntry.objects.get(action="export").detail["what"] == "near-threshold clients"


def test_the_near_threshold_page_does_not_grow_with_its_rows(
    login, bank_a, tiers, django_assert_max_num_queries
):
    http = login(bank_a.head)
    client_with(bank_a, basis="470000", tier=tiers.potential, owner=bank_a.rm)
    with CaptureQueriesContext(connection) as few:
        http.get(NEAR)
    for _ in range(20):
        client_with(bank_a, basis="4700000", tier=tiers.gold, owner=bank_a.rm)
    with django_assert_max_num_queries(len(few)):
        response = http.get(NEAR)
    assert len(response.context["clients"]) == 21


# --- Tier changes --------------------------------------------------------------------


def test_the_notification_link_opens_the_days_changes_for_the_rm(login, english, bank_a, tiers):
    day = datetime.date(2026, 11, 27)
    own = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, name="升级者")
    TierChangeFactory(
        tenant=bank_a.tenant,
        client=own,
        from_tier=tiers.potential,
        to_tier=tiers.gold,
        effective_on=day,
    )
    earlier = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, name="早先"
    )
    TierChangeFactory(
        tenant=bank_a.tenant,
        client=earlier,
        from_tier=tiers.gold,
        to_tier=tiers.potential,
        reason=TierChange.Reason.DOWNGRADE,
        effective_on=day - datetime.timedelta(days=30),
    )
    response = login(bank_a.rm).get(CHANGES, {"effective_on": "2026-11-27"})
    page = text(response)
    assert "升级者" in page and "早先" not in page
    assert "Upgrade: average AUM reached the floor" in page


def test_tier_changes_filter_by_direction_from_the_page(login, bank_a, tiers):
    up = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, name="向上")
    down = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, name="向下")
    TierChangeFactory(tenant=bank_a.tenant, client=up, from_tier=None, to_tier=tiers.gold)
    TierChangeFactory(
        tenant=bank_a.tenant,
        client=down,
        from_tier=tiers.gold,
        to_tier=None,
        reason=TierChange.Reason.DOWNGRADE,
    )
    page = text(login(bank_a.supervisor).get(CHANGES, {"direction": "down"}))
    assert "向下" in page and "向上" not in page


def test_a_date_range_ending_before_it_starts_is_an_error(login, bank_a, tiers):
    response = login(bank_a.supervisor).get(
        CHANGES, {"date_from": "2026-11-30", "date_to": "2026-11-01"}
    )
    assert response.status_code == 200
    assert "date_to" in response.context["filter_form"].errors


def test_a_malformed_date_is_an_error_not_a_500(login, bank_a, tiers):
    response = login(bank_a.rm).get(CHANGES, {"effective_on": "yesterday"})
    assert response.status_code == 200
    assert "effective_on" in response.context["filter_form"].errors


def test_the_tier_change_page_does_not_grow_with_its_rows(
    login, bank_a, tiers, django_assert_max_num_queries
):
    http = login(bank_a.supervisor)

    def add(n):
        for _ in range(n):
            client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
            TierChangeFactory(
                tenant=bank_a.tenant, client=client, from_tier=tiers.potential, to_tier=tiers.gold
            )

    add(2)
    with CaptureQueriesContext(connection) as few:
        http.get(CHANGES)
    add(30)
    with django_assert_max_num_queries(len(few)):
        response = http.get(CHANGES)
    assert len(response.context["changes"]) == 32


def test_another_banks_rows_never_show(login, bank_a, bank_b, tiers):
    make_tiers(bank_b.tenant)
    foreign = ClientFactory(
        tenant=bank_b.tenant, branch=bank_b.sub, owner_rm=bank_b.rm, name="乙行客户"
    )
    ClientSegmentFactory(tenant=bank_b.tenant, client=foreign, average_aum_cny=Decimal("1000"))
    TierChangeFactory(tenant=bank_b.tenant, client=foreign)
    http = login(bank_a.head)
    for url in (UNQUALIFIED, NEAR, CHANGES, UNQUALIFIED_CSV, NEAR_CSV):
        assert "乙行客户" not in http.get(url).content.decode("utf-8-sig")
