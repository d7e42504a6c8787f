"""Coverage, overdue and adherence per RM and per branch, against a hand-computed book."""

import datetime
import zoneinfo

import pytest

from contact_plans import selectors
from contact_plans.models import PlannedContact
from tests.factories import (
    ClientFactory,
    ContactPlanFactory,
    PlannedContactFactory,
    StaffFactory,
    TierFactory,
)
from vipcrm.roles import Actor, Role

ON = datetime.date(2026, 11, 28)
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
Status = PlannedContact.Status


def days(n: int) -> datetime.date:
    return ON - datetime.timedelta(days=n)


@pytest.fixture
def book(bank_a):
    """rm: 4 VIP clients, 2 covered (one exactly at the cadence boundary), and a non-VIP
    client (not in the book); other_rm: 1 VIP client, covered."""
    tenant = bank_a.tenant
    gold, private = TierFactory(tenant=tenant), TierFactory(tenant=tenant)

    def client(rm, tier, last_contact, cadence):
        c = ClientFactory(tenant=tenant, branch=rm.branch, owner_rm=rm, tier=tier)
        if cadence is not None:
            ContactPlanFactory(
                tenant=tenant, client=c, cadence_days=cadence, last_contact_on=last_contact
            )
        return c

    rm_clients = [
        client(bank_a.rm, gold, days(90), 90),  # covered: exactly at the boundary
        client(bank_a.rm, gold, days(91), 90),  # one day too late
        client(bank_a.rm, private, days(10), 30),  # covered
        client(bank_a.rm, private, None, None),  # no plan at all
        client(bank_a.rm, None, days(1), 180),  # not VIP: outside the book
    ]
    other = client(bank_a.other_rm, gold, days(5), 90)
    return {"rm": rm_clients, "other": other}


@pytest.fixture
def contacts(bank_a, book):
    """rm's planned contacts around ON (adherence period: the 30 days before ON)."""
    first = book["rm"][0]

    def contact(due, status=Status.PLANNED, completed=None):
        return PlannedContactFactory(
            tenant=bank_a.tenant,
            client=first,
            assigned_to=bank_a.rm,
            due_on=due,
            status=status,
            completed_at=completed,
        )

    late_evening = datetime.datetime(2026, 11, 25, 23, 30, tzinfo=SHANGHAI)
    contact(days(1))  # overdue (not marked yet), due in the period, not done
    contact(days(10), Status.OVERDUE)  # overdue, due in the period
    contact(datetime.date(2026, 11, 25), Status.DONE, late_evening)  # done on its day (local)
    contact(days(20), Status.DONE, datetime.datetime(2026, 11, 13, 9, tzinfo=SHANGHAI))  # late
    contact(days(5), Status.CANCELLED)  # neither overdue nor counted
    contact(ON)  # due today: not overdue, outside the period
    contact(days(40), Status.DONE, datetime.datetime(2026, 10, 1, 9, tzinfo=SHANGHAI))  # before
    # Done at 00:30 Shanghai the day after it was due (still the due date in UTC): late.
    contact(
        datetime.date(2026, 11, 20),
        Status.DONE,
        datetime.datetime(2026, 11, 21, 0, 30, tzinfo=SHANGHAI),
    )


def test_coverage_and_adherence_per_rm_match_the_hand_computed_figures(
    bank_a, book, contacts, in_tenant
):
    with in_tenant(bank_a.tenant):
        card = selectors.contact_scorecard(actor=Actor.for_staff(bank_a.head), on=ON)
    rows = {row.staff.pk: row for row in card.rms}
    rm = rows[bank_a.rm.pk]
    assert (rm.book_size, rm.covered, rm.coverage) == (4, 2, pytest.approx(50))
    assert rm.overdue_count == 2
    # Due in [ON-30, ON-1], not cancelled: ON-1, ON-10, 11-25, ON-20, 11-20 → 5; on time: 11-25.
    assert (rm.due_count, rm.done_on_time, rm.adherence) == (5, 1, pytest.approx(20))
    other = rows[bank_a.other_rm.pk]
    assert (other.book_size, other.covered, other.coverage, other.overdue_count) == (1, 1, 100, 0)
    assert other.adherence is None  # nothing was due: no figure rather than 0%
    assert (card.start, card.end) == (days(30), days(1))


def test_branch_totals_are_the_sums_of_their_rms(bank_a, book, contacts, in_tenant):
    with in_tenant(bank_a.tenant):
        card = selectors.contact_scorecard(actor=Actor.for_staff(bank_a.head), on=ON)
    branches = {row.branch.pk: row for row in card.branches}
    assert (branches[bank_a.sub.pk].book_size, branches[bank_a.sub.pk].covered) == (4, 2)
    assert (branches[bank_a.other_sub.pk].rm_count, branches[bank_a.other_sub.pk].covered) == (1, 1)
    assert (card.total.book_size, card.total.covered, card.total.coverage) == (5, 3, 60)
    assert card.total.rm_count == 2


def test_a_supervisor_sees_the_rms_of_their_branch_subtree_only(bank_a, book, in_tenant):
    with in_tenant(bank_a.tenant):
        supervised = selectors.contact_scorecard(actor=Actor.for_staff(bank_a.supervisor), on=ON)
        own = selectors.contact_scorecard(actor=Actor.for_staff(bank_a.rm), on=ON)
        advised = selectors.contact_scorecard(actor=Actor.for_staff(bank_a.advisor), on=ON)
    assert [row.staff.pk for row in supervised.rms] == [bank_a.rm.pk]
    assert [row.staff.pk for row in own.rms] == [bank_a.rm.pk]
    assert advised.rms == []


def test_coverage_and_adherence_are_separately_available_for_the_kpis(
    bank_a, book, contacts, in_tenant
):
    head = Actor.for_staff(bank_a.head)
    with in_tenant(bank_a.tenant):
        coverage = {rm.pk: rm for rm in selectors.coverage_by_rm(actor=head, on=ON)}
        adherence = {
            rm.pk: rm for rm in selectors.adherence_by_rm(actor=head, start=days(30), end=days(1))
        }
    assert (coverage[bank_a.rm.pk].book_size, coverage[bank_a.rm.pk].covered) == (4, 2)
    assert (adherence[bank_a.rm.pk].due_count, adherence[bank_a.rm.pk].done_on_time) == (5, 1)


def test_the_scorecard_is_one_query_whatever_the_number_of_rms(
    bank_a, book, in_tenant, django_assert_max_num_queries
):
    head = Actor.for_staff(bank_a.head)
    for n in range(6):
        rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, code=f"X{n}")
        ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=rm)
    with in_tenant(bank_a.tenant):
        head = Actor(tenant_id=head.tenant_id, staff=bank_a.head, role=Role.HEAD_OFFICE)
        with django_assert_max_num_queries(1):
            card = selectors.contact_scorecard(actor=head, on=ON)
    assert len(card.rms) == 8
