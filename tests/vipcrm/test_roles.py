"""Row scoping inside a tenant: one policy, for pages and the API alike."""

import pytest

from customers.models import Client
from customers.selectors import client_list
from segmentation.models import TierChange
from tests.factories import (
    BranchFactory,
    ClientFactory,
    ClientTeamMemberFactory,
    TierChangeFactory,
)
from vipcrm.roles import Actor, branch_subtree_ids, visible_to
from vipcrm.selectors import staff_list
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(bank_a):
    """Clients spread so that each role sees a different subset."""
    t = bank_a.tenant
    return {
        "own": ClientFactory(tenant=t, branch=bank_a.sub, owner_rm=bank_a.rm, name="自己的"),
        "team": ClientTeamMemberFactory(
            tenant=t,
            staff=bank_a.rm,
            client=ClientFactory(
                tenant=t, branch=bank_a.other_sub, owner_rm=bank_a.other_rm, name="协办的"
            ),
        ).client,
        "advised": ClientTeamMemberFactory(
            tenant=t,
            staff=bank_a.advisor,
            client=ClientFactory(tenant=t, branch=bank_a.sub, owner_rm=bank_a.rm, name="顾问的"),
        ).client,
        "other": ClientFactory(
            tenant=t, branch=bank_a.other_sub, owner_rm=bank_a.other_rm, name="别人的"
        ),
    }


def names(staff):
    with tenant_context(staff.tenant):
        return sorted(client_list(actor=Actor.for_staff(staff)).values_list("name", flat=True))


def test_rm_sees_own_book_and_clients_they_are_on_the_team_of(bank_a, book):
    assert names(bank_a.rm) == sorted(["自己的", "协办的", "顾问的"])


def test_advisor_sees_only_clients_they_are_on_the_team_of(bank_a, book):
    assert names(bank_a.advisor) == ["顾问的"]


def test_supervisor_sees_their_branch_and_sub_branches(bank_a, book):
    # The supervisor sits at the city branch; 朝阳支行 is below it, 浦东支行 is not.
    assert names(bank_a.supervisor) == sorted(["自己的", "顾问的"])


def test_head_office_sees_the_whole_tenant(bank_a, book):
    assert names(bank_a.head) == sorted(["自己的", "协办的", "顾问的", "别人的"])


def test_team_membership_does_not_duplicate_rows(bank_a, book):
    ClientTeamMemberFactory(tenant=bank_a.tenant, staff=bank_a.rm, client=book["own"])
    assert names(bank_a.rm).count("自己的") == 1


def test_rows_of_a_client_follow_the_clients_team(bank_a, book):
    # A tier change belongs to a client: its team path first follows the client key.
    for client in book.values():
        TierChangeFactory(tenant=bank_a.tenant, client=client)
    for staff, expected in (
        (bank_a.rm, ["自己的", "协办的", "顾问的"]),
        (bank_a.advisor, ["顾问的"]),
        (bank_a.supervisor, ["自己的", "顾问的"]),
    ):
        with tenant_context(bank_a.tenant):
            rows = visible_to(TierChange.objects.all(), Actor.for_staff(staff))
            assert sorted(rows.values_list("client__name", flat=True)) == sorted(expected)


def test_integration_actor_sees_the_whole_tenant(bank_a, book):
    with tenant_context(bank_a.tenant):
        actor = Actor(tenant_id=bank_a.tenant.pk, scopes=frozenset({"read"}))
        assert client_list(actor=actor).count() == 4


def test_no_actor_sees_nothing(bank_a, book):
    with tenant_context(bank_a.tenant):
        assert visible_to(Client.objects.all(), None).count() == 0
        assert visible_to(Client.objects.all(), Actor(tenant_id=bank_a.tenant.pk)).count() == 0


def test_branch_subtree_follows_the_tree(bank_a):
    deeper = BranchFactory(tenant=bank_a.tenant, code="BJ0101", parent=bank_a.sub)
    with tenant_context(bank_a.tenant):
        subtree = set(branch_subtree_ids(bank_a.city.pk))
    assert subtree == {bank_a.city.pk, bank_a.sub.pk, deeper.pk}


def test_a_request_reads_the_branch_tree_once_and_nothing_else_keeps_it(login, bank_a):
    """A page checks several scopes (each a subtree): the tree is read once a request.
    Outside a request nothing is kept: a branch added is in the next subtree."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    http = login(bank_a.supervisor)
    with CaptureQueriesContext(connection) as queries:
        response = http.get(reverse("kpi:branch", args=[bank_a.city.pk]))
    assert response.status_code == 200
    tree_reads = [q for q in queries if '"vipcrm_branch"."parent_id" AS "parent_id"' in q["sql"]]
    assert len(tree_reads) == 1
    with tenant_context(bank_a.tenant):
        before = set(branch_subtree_ids(bank_a.city.pk))
        deeper = BranchFactory(tenant=bank_a.tenant, code="BJ0102", parent=bank_a.sub)
        assert set(branch_subtree_ids(bank_a.city.pk)) == before | {deeper.pk}


def test_staff_scoping(bank_a):
    with tenant_context(bank_a.tenant):

        def codes(staff):
            return sorted(staff_list(actor=Actor.for_staff(staff)).values_list("code", flat=True))

        assert codes(bank_a.rm) == ["R1"]
        assert codes(bank_a.supervisor) == ["A1", "R1", "S1"]
        assert codes(bank_a.head) == ["A1", "H1", "R1", "R2", "S1"]


def test_a_supervisor_gets_404_for_a_staff_page_outside_their_branch(client, bank_a):
    client.force_login(bank_a.supervisor.user)
    assert client.get("/staff/R1/").status_code == 200
    assert client.get("/staff/R2/").status_code == 404


def test_an_rm_gets_404_for_a_colleagues_page_and_role_pages(client, bank_a):
    client.force_login(bank_a.rm.user)
    assert client.get("/staff/R1/").status_code == 200
    assert client.get("/staff/R2/").status_code == 404
    assert client.get("/audit/").status_code == 404


def test_api_applies_the_same_scope(client, bank_a):
    client.force_login(bank_a.supervisor.user)
    assert client.get("/api/v1/staff/R2/").status_code == 404
    assert client.get("/api/v1/staff/R1/").status_code == 200
