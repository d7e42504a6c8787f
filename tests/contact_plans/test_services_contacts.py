"""Planned contacts by hand (create, reschedule, cancel) and the secret calendar feeds."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from contact_plans import services
from contact_plans.models import CalendarFeed, PlannedContact
from customers.models import Client
from tests.factories import ClientFactory, PlannedContactFactory
from vipcrm.models import AuditEntry, StaffProfile
from vipcrm.roles import Actor
from vipcrm.tenancy import current_tenant_id_or_none, tenant_context

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
R = PlannedContact.Reason
S = PlannedContact.Status


def today() -> datetime.date:
    return timezone.localdate(timezone=datetime.timezone(datetime.timedelta(hours=8)))


@pytest.fixture
def mine(bank_a) -> Client:
    return ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)


@pytest.fixture
def contact(bank_a, mine) -> PlannedContact:
    return PlannedContactFactory(
        tenant=bank_a.tenant,
        client=mine,
        assigned_to=bank_a.rm,
        reason=R.MATURITY,
        due_on=today() - DAY * 2,
        status=S.OVERDUE,
        source_key="maturity:1:2026-12-01",
    )


def fresh(bank, contact) -> PlannedContact:
    with tenant_context(bank.tenant):
        return PlannedContact.objects.get(pk=contact.pk)


# --- Reschedule --------------------------------------------------------------------------


def test_rescheduling_keeps_the_first_original_date_and_reopens_an_overdue_contact(bank_a, contact):
    original = contact.due_on
    actor = Actor.for_staff(bank_a.rm)
    with tenant_context(bank_a.tenant):
        services.planned_contact_reschedule(
            actor=actor, planned_contact=contact, due_on=today() + DAY * 3, reason="客户出差"
        )
        services.planned_contact_reschedule(
            actor=actor, planned_contact=contact, due_on=today() + DAY * 9, reason="再推一周"
        )
        entries = AuditEntry.objects.filter(object_type="contact_plans.plannedcontact")
        assert entries.count() == 2
    moved = fresh(bank_a, contact)
    assert (moved.due_on, moved.rescheduled_from) == (today() + DAY * 9, original)
    assert (moved.status, moved.reschedule_reason) == (S.PLANNED, "再推一周")
    assert contact.due_on == moved.due_on  # the caller's object follows


@pytest.mark.parametrize(
    ("due_on", "reason", "field"),
    [(None, "x", "due_on"), (-1, "x", "due_on"), (3, "  ", "reason"), (3, "x" * 201, "reason")],
)
def test_a_reschedule_without_reason_or_into_the_past_is_refused(
    bank_a, contact, due_on, reason, field
):
    day = None if due_on is None else today() + DAY * due_on
    with tenant_context(bank_a.tenant), pytest.raises(ValidationError) as refused:
        services.planned_contact_reschedule(
            actor=Actor.for_staff(bank_a.rm), planned_contact=contact, due_on=day, reason=reason
        )
    assert field in refused.value.message_dict
    assert fresh(bank_a, contact).due_on == contact.due_on


def test_only_open_contacts_move(bank_a, mine):
    done = PlannedContactFactory(tenant=bank_a.tenant, client=mine, status=S.DONE)
    with tenant_context(bank_a.tenant), pytest.raises(ValidationError):
        services.planned_contact_reschedule(
            actor=Actor.for_staff(bank_a.rm), planned_contact=done, due_on=today(), reason="x"
        )


def test_a_contact_of_a_client_out_of_scope_is_not_found(bank_a, bank_b, contact):
    foreign = PlannedContactFactory(
        tenant=bank_b.tenant,
        client=ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub, owner_rm=bank_b.rm),
    )
    with tenant_context(bank_a.tenant):
        for actor, target in (
            (Actor.for_staff(bank_a.other_rm), contact),
            (Actor.for_staff(bank_a.advisor), contact),
            (Actor.for_staff(bank_a.rm), foreign),
        ):
            with pytest.raises(PlannedContact.DoesNotExist):
                services.planned_contact_reschedule(
                    actor=actor, planned_contact=target, due_on=today() + DAY, reason="x"
                )
            with pytest.raises(PlannedContact.DoesNotExist):
                services.planned_contact_cancel(actor=actor, planned_contact=target, reason="x")
    assert fresh(bank_a, contact).status == S.OVERDUE


def test_a_supervisor_of_the_branch_may_reschedule(bank_a, contact):
    with tenant_context(bank_a.tenant):
        services.planned_contact_reschedule(
            actor=Actor.for_staff(bank_a.supervisor),
            planned_contact=contact,
            due_on=today(),
            reason="主管安排",
        )
    assert fresh(bank_a, contact).due_on == today()


# --- Create and cancel -------------------------------------------------------------------------


def test_a_manual_contact_is_planned_for_the_owner_rm_with_a_unique_source(bank_a, mine):
    with tenant_context(bank_a.tenant):
        first = services.planned_contact_create(
            actor=Actor.for_staff(bank_a.supervisor),
            client=mine,
            reason=R.CAMPAIGN,
            due_on=today() + DAY,
            channel="wechat",
            note="新春理财节邀约",
        )
        second = services.planned_contact_create(
            actor=Actor.for_staff(bank_a.rm), client=mine, reason=R.CAMPAIGN, due_on=today()
        )
        assert AuditEntry.objects.filter(action="create").count() == 2
    assert first.assigned_to_id == bank_a.rm.pk
    assert first.source_key.startswith("manual:") and first.source_key != second.source_key
    assert (first.status, first.channel, first.note) == (S.PLANNED, "wechat", "新春理财节邀约")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reason": R.MATURITY}, "reason"),
        ({"reason": R.CADENCE}, "reason"),
        ({"reason": "whim"}, "reason"),
        ({"due_on": datetime.date(2020, 1, 1)}, "due_on"),
        ({"channel": "fax"}, "channel"),
        ({"note": "x" * 201}, "note"),
    ],
)
def test_a_manual_contact_with_bad_input_is_refused(bank_a, mine, kwargs, field):
    values = {"reason": R.CAMPAIGN, "due_on": today(), **kwargs}
    with tenant_context(bank_a.tenant):
        with pytest.raises(ValidationError) as refused:
            services.planned_contact_create(actor=Actor.for_staff(bank_a.rm), client=mine, **values)
        assert not PlannedContact.objects.exists()
    assert field in refused.value.message_dict


def test_a_manual_contact_for_a_client_out_of_scope_is_not_found(bank_a, mine):
    with tenant_context(bank_a.tenant), pytest.raises(Client.DoesNotExist):
        services.planned_contact_create(
            actor=Actor.for_staff(bank_a.other_rm), client=mine, reason=R.CAMPAIGN, due_on=today()
        )


def test_cancelling_needs_a_reason_keeps_it_and_the_night_never_remakes_it(bank_a, contact):
    actor = Actor.for_staff(bank_a.rm)
    with tenant_context(bank_a.tenant):
        with pytest.raises(ValidationError):
            services.planned_contact_cancel(actor=actor, planned_contact=contact, reason=" ")
        services.planned_contact_cancel(actor=actor, planned_contact=contact, reason="客户已续作")
        with pytest.raises(ValidationError):
            services.planned_contact_cancel(actor=actor, planned_contact=contact, reason="again")
    cancelled = fresh(bank_a, contact)
    assert (cancelled.status, cancelled.cancel_reason) == (S.CANCELLED, "客户已续作")


# --- Calendar feeds ---------------------------------------------------------------------------


def test_a_feed_stores_only_the_hash_and_a_new_secret_replaces_the_old(bank_a):
    with tenant_context(bank_a.tenant):
        feed, secret = services.calendar_feed_create(staff=bank_a.rm)
        again, new_secret = services.calendar_feed_create(staff=bank_a.rm)
        assert CalendarFeed.objects.count() == 1
    assert feed.pk == again.pk and secret != new_secret
    assert again.secret_hash == hashlib.sha256(new_secret.encode()).hexdigest()
    assert secret not in again.secret_hash and len(secret) >= 40
    with tenant_context(None):
        assert services.calendar_feed_resolve(tenant_slug="bank-a", secret=secret) is None
    with tenant_context(None):
        found = services.calendar_feed_resolve(tenant_slug="bank-a", secret=new_secret)
        assert found.staff_id == bank_a.rm.pk
        assert current_tenant_id_or_none() == bank_a.tenant.pk  # the request is bound
        assert CalendarFeed.objects.get(pk=found.pk).last_used_at is not None


def test_a_secret_only_opens_its_own_banks_feed(bank_a, bank_b):
    with tenant_context(bank_a.tenant):
        _, secret = services.calendar_feed_create(staff=bank_a.rm)
    for slug, wrong in (("bank-b", secret), ("no-such-bank", secret), ("bank-a", "guess"),
                        ("bank-a", ""), ("", secret)):  # fmt: skip
        with tenant_context(None):
            assert services.calendar_feed_resolve(tenant_slug=slug, secret=wrong) is None


def test_an_inactive_staff_members_feed_stops_working(bank_a):
    with tenant_context(bank_a.tenant):
        _, secret = services.calendar_feed_create(staff=bank_a.rm)
        StaffProfile.objects.filter(pk=bank_a.rm.pk).update(is_active=False)
    with tenant_context(None):
        assert services.calendar_feed_resolve(tenant_slug="bank-a", secret=secret) is None


def test_a_feed_is_made_only_for_staff_of_the_current_bank(bank_a, bank_b):
    with tenant_context(bank_a.tenant), pytest.raises(StaffProfile.DoesNotExist):
        services.calendar_feed_create(staff=bank_b.rm)
