"""clients_reassign: who may move clients where, one set-based UPDATE, the audit entry,
and the notifications to both RMs."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Client
from segmentation.capacity import clients_reassign
from tests.factories import ClientFactory, StaffFactory
from vipcrm.models import AuditEntry, Notification
from vipcrm.roles import Actor, Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

REASON = "书籍清理：客户资产已低于门槛"


@pytest.fixture
def city_rm(bank_a):
    """A second RM in the supervisor's subtree (北京分行)."""
    return StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.RM, name="李经理")


def clients_of(bank, rm, n, branch=None):
    return [
        ClientFactory(tenant=bank.tenant, branch=branch or bank.sub, owner_rm=rm) for _ in range(n)
    ]


def reassign(bank, staff, clients, to_rm, reason=REASON):
    ids = [getattr(c, "pk", c) for c in clients]
    with tenant_context(bank.tenant):
        return clients_reassign(
            actor=Actor.for_staff(staff), clients_qs_or_ids=ids, to_rm=to_rm, reason=reason
        )


def owners(bank, clients):
    with tenant_context(bank.tenant):
        return set(
            Client.objects.filter(pk__in=[c.pk for c in clients]).values_list(
                "owner_rm_id", flat=True
            )
        )


def notifications(bank):
    with tenant_context(bank.tenant):
        return list(Notification.objects.order_by("recipient_id", "id"))


def test_a_supervisor_moves_clients_to_another_rm_of_their_branches(bank_a, city_rm):
    clients = clients_of(bank_a, bank_a.rm, 3)
    before = {c.pk: c.updated_at for c in clients}
    assert reassign(bank_a, bank_a.supervisor, clients, city_rm) == 3
    assert owners(bank_a, clients) == {city_rm.pk}
    with tenant_context(bank_a.tenant):
        for client in Client.objects.filter(pk__in=before):
            assert client.updated_at > before[client.pk]  # API readers see the move


def test_the_move_is_audited_once_with_the_count_ids_and_reason(bank_a, city_rm):
    clients = clients_of(bank_a, bank_a.rm, 3)
    reassign(bank_a, bank_a.supervisor, clients, city_rm)
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(action="update")
    assert entry.actor == bank_a.supervisor.user
    assert entry.object_id == str(city_rm.pk)
    assert entry.detail["what"] == "clients reassigned"
    assert entry.detail["count"] == 3
    assert entry.detail["client_ids"] == sorted(c.pk for c in clients)
    assert entry.detail["customer_numbers"] == [c.external_id for c in clients]
    assert entry.detail["from"] == {bank_a.rm.code: 3}
    assert entry.detail["to"] == city_rm.code
    assert entry.detail["reason"] == REASON


def test_both_rms_are_notified(bank_a, city_rm):
    reassign(bank_a, bank_a.supervisor, clients_of(bank_a, bank_a.rm, 2), city_rm)
    by_recipient = {n.recipient_id: n for n in notifications(bank_a)}
    assert set(by_recipient) == {bank_a.rm.pk, city_rm.pk}
    incoming, outgoing = by_recipient[city_rm.pk], by_recipient[bank_a.rm.pk]
    assert incoming.kind == outgoing.kind == "clients_reassigned"
    assert incoming.params == {
        "count": 2,
        "direction": "in",
        "other_rm": bank_a.rm.name,
        "by": bank_a.supervisor.name,
    }
    assert outgoing.params == {
        "count": 2,
        "direction": "out",
        "other_rm": city_rm.name,
        "by": bank_a.supervisor.name,
    }
    assert incoming.link == f"{reverse('customers:client-list')}?owner_rm={city_rm.pk}"
    assert incoming.read_at is None


def test_clients_from_several_rms_notify_each_previous_owner(bank_a, city_rm):
    third = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, name="王经理")
    clients = clients_of(bank_a, bank_a.rm, 2) + clients_of(bank_a, third, 1)
    reassign(bank_a, bank_a.supervisor, clients, city_rm)
    sent = [
        (n.recipient_id, n.params["direction"], n.params["count"]) for n in notifications(bank_a)
    ]
    assert sorted(sent) == sorted(
        [
            (bank_a.rm.pk, "out", 2),
            (third.pk, "out", 1),
            (city_rm.pk, "in", 2),
            (city_rm.pk, "in", 1),
        ]
    )


def test_releasing_to_the_pool_notifies_the_previous_owner_only(bank_a):
    clients = clients_of(bank_a, bank_a.rm, 2)
    assert reassign(bank_a, bank_a.supervisor, clients, None) == 2
    assert owners(bank_a, clients) == {None}
    (only,) = notifications(bank_a)
    assert only.recipient_id == bank_a.rm.pk
    assert only.params == {
        "count": 2,
        "direction": "out",
        "other_rm": "",
        "by": bank_a.supervisor.name,
    }
    with tenant_context(bank_a.tenant):
        assert AuditEntry.objects.get(action="update").detail["to"] == "pool"


def test_clients_taken_from_the_pool_notify_the_receiver_only(bank_a, city_rm):
    pooled = [ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub) for _ in range(2)]
    reassign(bank_a, bank_a.supervisor, pooled, city_rm)
    (only,) = notifications(bank_a)
    assert only.recipient_id == city_rm.pk
    assert only.params["direction"] == "in" and only.params["other_rm"] == ""


def test_a_queryset_of_clients_is_accepted(bank_a, city_rm):
    clients_of(bank_a, bank_a.rm, 2)
    with tenant_context(bank_a.tenant):
        moved = clients_reassign(
            actor=Actor.for_staff(bank_a.head),
            clients_qs_or_ids=Client.objects.filter(owner_rm=bank_a.rm),
            to_rm=city_rm,
            reason=REASON,
        )
        assert moved == 2
        assert not Client.objects.filter(owner_rm=bank_a.rm).exists()


def test_clients_already_in_the_target_book_are_left_alone(bank_a, city_rm):
    mine = clients_of(bank_a, city_rm, 1)
    theirs = clients_of(bank_a, bank_a.rm, 2)
    assert reassign(bank_a, bank_a.supervisor, mine + theirs, city_rm) == 2
    with pytest.raises(ValidationError) as error:
        reassign(bank_a, bank_a.supervisor, mine, city_rm)
    assert "clients" in error.value.message_dict


@pytest.mark.parametrize("count", [3, 30])
def test_reassignment_is_set_based(bank_a, city_rm, count):
    clients = clients_of(bank_a, bank_a.rm, count)
    with tenant_context(bank_a.tenant):
        actor = Actor.for_staff(bank_a.supervisor)
        with CaptureQueriesContext(connection) as queries:
            clients_reassign(
                actor=actor, clients_qs_or_ids=[c.pk for c in clients], to_rm=city_rm, reason="x"
            )
    updates = [q for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    # A handful of statements whatever the count: subtree, target, clients, UPDATE,
    # audit, notifications (plus savepoints and, on PostgreSQL, the tenant setting).
    assert len(queries) <= 16


def test_the_query_count_does_not_grow_with_the_clients(bank_a, city_rm):
    def count(n):
        clients = clients_of(bank_a, bank_a.rm, n)
        with tenant_context(bank_a.tenant):
            actor = Actor.for_staff(bank_a.supervisor)
            with CaptureQueriesContext(connection) as queries:
                clients_reassign(
                    actor=actor,
                    clients_qs_or_ids=[c.pk for c in clients],
                    to_rm=city_rm,
                    reason="x",
                )
        return len(queries)

    assert count(3) == count(30)


# --- Who may do what ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["rm", "advisor"])
def test_rms_and_advisors_may_not_reassign(bank_a, city_rm, role):
    clients = clients_of(bank_a, bank_a.rm, 1)
    with pytest.raises(PermissionDenied):
        reassign(bank_a, getattr(bank_a, role), clients, city_rm)
    assert owners(bank_a, clients) == {bank_a.rm.pk}


def test_a_supervisor_may_not_move_clients_to_an_rm_outside_their_branches(bank_a):
    clients = clients_of(bank_a, bank_a.rm, 1)
    with pytest.raises(ValidationError) as error:
        reassign(bank_a, bank_a.supervisor, clients, bank_a.other_rm)
    assert "to_rm" in error.value.message_dict
    assert owners(bank_a, clients) == {bank_a.rm.pk}


def test_a_supervisor_may_not_move_clients_of_another_branch(bank_a, city_rm):
    outside = clients_of(bank_a, bank_a.other_rm, 1, branch=bank_a.other_sub)
    inside = clients_of(bank_a, bank_a.rm, 1)
    with pytest.raises(ValidationError) as error:
        reassign(bank_a, bank_a.supervisor, inside + outside, city_rm)
    assert "1" in error.value.message_dict["clients"][0]
    # Nothing half-done: the client in scope did not move either.
    assert owners(bank_a, inside + outside) == {bank_a.rm.pk, bank_a.other_rm.pk}
    with tenant_context(bank_a.tenant):
        assert not AuditEntry.objects.filter(action="update").exists()
        assert not Notification.objects.exists()


def test_head_office_moves_clients_across_branches(bank_a):
    clients = clients_of(bank_a, bank_a.rm, 2)
    assert reassign(bank_a, bank_a.head, clients, bank_a.other_rm) == 2
    assert owners(bank_a, clients) == {bank_a.other_rm.pk}


def test_the_target_must_be_an_active_rm(bank_a):
    clients = clients_of(bank_a, bank_a.rm, 1)
    gone = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, is_active=False)
    for target in (gone, bank_a.advisor, bank_a.supervisor):
        with pytest.raises(ValidationError) as error:
            reassign(bank_a, bank_a.head, clients, target)
        assert "to_rm" in error.value.message_dict


def test_another_tenants_rm_or_clients_are_refused(bank_a, bank_b, city_rm):
    clients = clients_of(bank_a, bank_a.rm, 1)
    with pytest.raises(ValidationError) as error:
        reassign(bank_a, bank_a.head, clients, bank_b.rm)
    assert "to_rm" in error.value.message_dict
    foreign = clients_of(bank_b, bank_b.rm, 1)
    with pytest.raises(ValidationError) as error:
        reassign(bank_a, bank_a.head, foreign, city_rm)
    assert "clients" in error.value.message_dict
    assert owners(bank_b, foreign) == {bank_b.rm.pk}


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_reason_is_required_and_bounded(bank_a, city_rm, reason):
    with pytest.raises(ValidationError) as error:
        reassign(bank_a, bank_a.supervisor, clients_of(bank_a, bank_a.rm, 1), city_rm, reason)
    assert "reason" in error.value.message_dict


@pytest.mark.parametrize("ids", [[], ["abc"], [None]])
def test_an_empty_or_malformed_selection_is_refused(bank_a, city_rm, ids):
    with pytest.raises(ValidationError) as error:
        reassign(bank_a, bank_a.supervisor, ids, city_rm)
    assert "clients" in error.value.message_dict
