"""The RM capacity page: figures per role, totals, editing a capacity, applying a
suggested move; scope and query counts."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Client
from segmentation.models import RmCapacity
from tests.factories import ClientFactory, RmCapacityFactory, StaffFactory
from tests.segmentation.test_capacity import book
from tests.segmentation.test_lists_selectors import make_tiers
from vipcrm.models import AuditEntry, Notification
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

CAPACITY = reverse("segmentation:capacity")


def edit_url(staff):
    return reverse("segmentation:capacity-edit", args=[staff.code])


@pytest.fixture
def tiers(bank_a):
    return make_tiers(bank_a.tenant)


@pytest.fixture
def overloaded(bank_a, tiers):
    """rm at 125% (20 of 16) and an empty RM in the same region."""
    RmCapacityFactory(tenant=bank_a.tenant, staff=bank_a.rm, capacity=Decimal("16"))
    book(bank_a, bank_a.rm, (tiers.diamond, 4), (tiers.gold, 4))
    spare = StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM, name="空闲经理")
    return spare


def text(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize(("role", "status"), [("advisor", 404), ("rm", 200), ("supervisor", 200)])
def test_the_capacity_page_opens_for_book_holders(login, bank_a, role, status):
    assert login(getattr(bank_a, role)).get(CAPACITY).status_code == status


def test_the_supervisor_sees_each_rm_with_ratio_status_and_totals(
    login, english, bank_a, overloaded
):
    response = login(bank_a.supervisor).get(CAPACITY)
    page = text(response)
    assert bank_a.rm.name in page and overloaded.name in page
    assert bank_a.other_rm.name not in page  # another region's RM
    assert "125.0%" in page and "Overloaded" in page and "Under-loaded" in page
    totals = response.context["totals"]
    assert totals.rm_count == 2
    assert totals.weighted_book == Decimal("20")
    assert totals.capacity == Decimal("166")  # 16 + the default 150
    assert edit_url(bank_a.rm) in page


def test_an_rm_sees_only_their_own_figure_without_actions(login, english, bank_a, overloaded):
    response = login(bank_a.rm).get(CAPACITY)
    page = text(response)
    assert [load.staff.pk for load in response.context["loads"]] == [bank_a.rm.pk]
    assert overloaded.name not in page
    assert edit_url(bank_a.rm) not in page
    assert response.context["suggestions"] == []
    assert "Suggested moves" not in page


def test_the_status_filter_narrows_the_rows_but_not_the_totals(login, bank_a, overloaded):
    response = login(bank_a.supervisor).get(CAPACITY, {"status": "overloaded"})
    assert [load.staff.pk for load in response.context["loads"]] == [bank_a.rm.pk]
    assert response.context["totals"].rm_count == 2


def test_head_office_filters_by_branch(login, bank_a, overloaded):
    response = login(bank_a.head).get(CAPACITY, {"branch": bank_a.other_sub.pk})
    assert [load.staff.pk for load in response.context["loads"]] == [bank_a.other_rm.pk]


def test_suggested_moves_are_listed_and_applied(login, english, bank_a, tiers, overloaded):
    http = login(bank_a.supervisor)
    response = http.get(CAPACITY)
    (move,) = response.context["suggestions"]
    assert move.from_load.staff == bank_a.rm and move.to_load.staff == overloaded
    assert move.weight == Decimal("4")  # the four Golds
    page = text(response)
    assert "Apply" in page
    response = http.post(
        CAPACITY,
        {
            "clients": move.client_ids,
            "to_rm": overloaded.pk,
            "reason": "Capacity balancing: suggested move",
            "next": f"{CAPACITY}?sort=name",
        },
    )
    assert response.status_code == 302 and response["Location"] == f"{CAPACITY}?sort=name"
    with tenant_context(bank_a.tenant):
        assert Client.objects.filter(owner_rm=overloaded).count() == 4
        assert AuditEntry.objects.filter(detail__what="clients reassigned").count() == 1
        assert Notification.objects.filter(kind="clients_reassigned").count() == 2
    after = http.get(CAPACITY)
    assert after.context["suggestions"] == []
    assert "4 clients moved to 空闲经理." in text(after)


def test_a_stale_or_forged_move_is_refused_with_a_message(login, english, bank_a, overloaded):
    foreign = ClientFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm)
    http = login(bank_a.supervisor)
    response = http.post(
        CAPACITY,
        {
            "clients": [foreign.pk],
            "to_rm": overloaded.pk,
            "reason": "x",
            "next": "https://evil.example/",
        },
    )
    assert response.status_code == 302 and response["Location"] == CAPACITY
    assert "not in your branches" in text(http.get(CAPACITY))
    with tenant_context(bank_a.tenant):
        assert Client.objects.get(pk=foreign.pk).owner_rm_id == bank_a.other_rm.pk


def test_an_rm_cannot_apply_a_move(login, bank_a, overloaded):
    response = login(bank_a.rm).post(
        CAPACITY, {"clients": [1], "to_rm": overloaded.pk, "reason": "x"}
    )
    assert response.status_code == 404


def test_the_capacity_page_does_not_grow_with_rms_or_clients(
    login, bank_a, tiers, overloaded, django_assert_max_num_queries
):
    http = login(bank_a.head)
    with CaptureQueriesContext(connection) as few:
        http.get(CAPACITY)
    for _ in range(5):
        rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM)
        RmCapacityFactory(tenant=bank_a.tenant, staff=rm, capacity=Decimal("2"))
        book(bank_a, rm, (tiers.gold, 3), (tiers.potential, 2))
    with django_assert_max_num_queries(len(few)):
        response = http.get(CAPACITY)
    assert len(response.context["loads"]) == 8


# --- Editing a capacity --------------------------------------------------------------


def test_a_supervisor_edits_an_rms_capacity(login, english, bank_a):
    http = login(bank_a.supervisor)
    assert "Capacity of" in text(http.get(edit_url(bank_a.rm)))
    response = http.post(edit_url(bank_a.rm), {"capacity": "90"})
    assert response.status_code == 302 and response["Location"] == CAPACITY
    with tenant_context(bank_a.tenant):
        assert RmCapacity.objects.get(staff=bank_a.rm).capacity == Decimal("90")
        assert AuditEntry.objects.get(action="update").detail["changes"] == {
            "capacity": ["default", "90"]
        }


def test_an_empty_capacity_returns_to_the_default(login, bank_a):
    RmCapacityFactory(tenant=bank_a.tenant, staff=bank_a.rm, capacity=Decimal("50"))
    login(bank_a.head).post(edit_url(bank_a.rm), {"capacity": ""})
    with tenant_context(bank_a.tenant):
        assert not RmCapacity.objects.filter(staff=bank_a.rm).exists()


@pytest.mark.parametrize("value", ["0", "-5", "abc", "12345678"])
def test_an_invalid_capacity_shows_the_error(login, bank_a, value):
    response = login(bank_a.head).post(edit_url(bank_a.rm), {"capacity": value})
    assert response.status_code == 400
    assert "capacity" in response.context["form"].errors
    with tenant_context(bank_a.tenant):
        assert not RmCapacity.objects.exists()


@pytest.mark.parametrize(
    ("who", "whose", "status"),
    [
        ("rm", "rm", 404),  # an RM does not set their own capacity
        ("advisor", "rm", 404),
        ("supervisor", "other_rm", 404),  # outside the supervisor's branches
        ("supervisor", "advisor", 404),  # not an RM
        ("head", "other_rm", 200),
    ],
)
def test_who_may_edit_whose_capacity(login, bank_a, who, whose, status):
    http = login(getattr(bank_a, who))
    assert http.get(edit_url(getattr(bank_a, whose))).status_code == status
    assert http.post(edit_url(getattr(bank_a, whose)), {"capacity": "10"}).status_code in (
        302 if status == 200 else status,
    )


def test_another_banks_rm_is_a_404(login, bank_a, bank_b):
    foreign = StaffFactory(tenant=bank_b.tenant, branch=bank_b.sub, role=Role.RM, code="B-RM9")
    assert login(bank_a.head).get(edit_url(foreign)).status_code == 404
    response = login(bank_a.head).post(edit_url(foreign), {"capacity": "10"})
    assert response.status_code == 404
    with tenant_context(bank_b.tenant):
        assert not RmCapacity.objects.exists()
