"""The weekly plan (grouped by day, previous and next week) and its print page."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from contact_plans.models import PlannedContact
from tests.factories import ClientFactory, PlannedContactFactory

Status = PlannedContact.Status
WEEK = reverse("contact_plans:week")
MONDAY = datetime.date(2026, 11, 23)


def on(offset: int) -> datetime.date:
    return MONDAY + datetime.timedelta(days=offset)


@pytest.fixture
def week(bank_a):
    """The RM's contacts in the week of 2026-11-23, and others that must not show."""
    client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, name="赵敏")

    def contact(due, **kwargs):
        kwargs.setdefault("assigned_to", bank_a.rm)
        kwargs.setdefault("client", client)
        return PlannedContactFactory(tenant=bank_a.tenant, due_on=due, **kwargs)

    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.other_rm)
    return {
        "monday": contact(on(0), note="年末回访"),
        "wednesday": contact(on(2)),
        "sunday": contact(on(6)),
        "done": contact(on(2), status=Status.DONE),
        "cancelled": contact(on(3), status=Status.CANCELLED),
        "next_week": contact(on(7)),
        "theirs": contact(on(1), client=other, assigned_to=bank_a.other_rm),
    }


def test_the_week_groups_the_rms_open_contacts_by_day(login, english, bank_a, week):
    response = login(bank_a.rm).get(WEEK, {"start": "2026-11-25"})  # any day: its Monday
    assert response.status_code == 200
    plan = response.context["plan"]
    assert (plan.start, plan.end) == (MONDAY, on(6))
    by_day = {day.day: [c.pk for c in day.contacts] for day in plan.days}
    assert len(by_day) == 7
    assert by_day[on(0)] == [week["monday"].pk]
    assert by_day[on(2)] == [week["wednesday"].pk]
    assert by_day[on(6)] == [week["sunday"].pk]
    assert by_day[on(1)] == [] and by_day[on(3)] == []
    assert {day.day: day.done_count for day in plan.days}[on(2)] == 1
    page = response.content.decode()
    assert "?start=2026-11-16" in page and "?start=2026-11-30" in page
    assert "年末回访" in page


def test_the_current_week_also_lists_what_is_overdue(login, bank_a):
    today = timezone.localdate()
    client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    late = PlannedContactFactory(
        tenant=bank_a.tenant,
        client=client,
        assigned_to=bank_a.rm,
        due_on=today - datetime.timedelta(days=20),
        status=Status.OVERDUE,
    )
    plan = login(bank_a.rm).get(WEEK).context["plan"]
    assert [c.pk for c in plan.overdue] == [late.pk]


def test_a_date_that_is_not_one_shows_this_week_with_a_message(login, english, bank_a):
    response = login(bank_a.rm).get(WEEK, {"start": "2026-13-45"})
    assert response.status_code == 200
    today = timezone.localdate()
    assert response.context["plan"].start == today - datetime.timedelta(days=today.weekday())
    assert "That is not a date" in response.content.decode()


def test_the_print_page_lists_a_days_contacts_with_their_talking_points(
    login, english, bank_a, week
):
    response = login(bank_a.rm).get(
        reverse("contact_plans:print"), {"start": on(0).isoformat(), "days": "1"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Contacts of 2026-11-23" in page
    assert "赵敏" in page and "Note: 年末回访" in page
    assert "window.print()" in page
    assert page.count('class="printplan__item"') == 1


def test_the_print_page_of_a_week_has_every_day(login, bank_a, week):
    response = login(bank_a.rm).get(reverse("contact_plans:print"), {"start": on(0).isoformat()})
    assert len(response.context["plan"].days) == 7
    assert response.content.decode().count('class="printplan__item"') == 3


def test_bad_print_options_are_refused_with_a_message(login, english, bank_a):
    response = login(bank_a.rm).get(reverse("contact_plans:print"), {"days": "9"})
    assert response.status_code == 200
    assert "Please correct the print options." in response.content.decode()


def test_nobody_sees_another_rms_week(login, bank_a, week):
    plan = login(bank_a.supervisor).get(WEEK, {"start": on(0).isoformat()}).context["plan"]
    assert plan.open_count == 0  # the week is one's own contacts, whatever one's scope


def test_the_week_needs_a_login(client, db):
    response = client.get(WEEK)
    assert response.status_code == 302 and "/login/" in response["Location"]
