"""The contact plans' panels on "My day" (``vipcrm.my_day``), registered from
``ContactPlansConfig.ready``.

- RMs (and advisors, for contacts assigned to them): their contacts overdue, due today
  and due later this week, each row with its talking points and one-click logging and
  rescheduling; the maturities of the next 30 days with their total in CNY; the
  birthdays of the next two weeks.
- Supervisors (their branch subtree) and head office (the bank): overdue contacts and
  coverage and adherence, with links to the overdue list and the coverage page.

Every panel costs a fixed number of queries, whatever the number of rows.
"""

from __future__ import annotations

from django.utils import timezone

from contact_plans import selectors
from contact_plans.talking_points import attach_talking_points
from vipcrm.my_day import Panel, register_panel
from vipcrm.roles import Actor, Role

CONTACT_HOLDERS = (Role.RM, Role.ADVISOR)
SUPERVISING = (Role.SUPERVISOR, Role.HEAD_OFFICE)
OVERSIGHT_ROWS = 5


def contacts_context(actor: Actor) -> dict | None:
    if actor.staff is None or actor.role not in CONTACT_HOLDERS:
        return None
    today = timezone.localdate()
    day = selectors.my_day_contacts(actor=actor, on=today)
    attach_talking_points(day.rows, on=today)
    return {"day": day, "today": today, "week_start": selectors.week_start(today)}


def maturities_context(actor: Actor) -> dict | None:
    if actor.staff is None or actor.role not in CONTACT_HOLDERS:
        return None
    return {"maturities": selectors.maturities_upcoming(actor=actor, on=timezone.localdate())}


def birthdays_context(actor: Actor) -> dict | None:
    if actor.staff is None or actor.role not in CONTACT_HOLDERS:
        return None
    today = timezone.localdate()
    return {
        "birthdays": selectors.birthdays_upcoming(actor=actor, on=today),
        "today": today,
        "days": selectors.BIRTHDAY_DAYS,
    }


def oversight_context(actor: Actor) -> dict | None:
    if actor.staff is None or actor.role not in SUPERVISING:
        return None
    card = selectors.contact_scorecard(actor=actor, on=timezone.localdate())
    most_overdue = sorted(
        (row for row in card.rms if row.overdue_count),
        key=lambda row: (-row.overdue_count, row.staff.name, row.staff.pk),
    )[:OVERSIGHT_ROWS]
    return {"card": card, "most_overdue": most_overdue}


PANELS = [
    Panel("contact_plans.contacts", 2, "contact_plans/panels/contacts.html", contacts_context),
    Panel("contact_plans.oversight", 2, "contact_plans/panels/oversight.html", oversight_context),
    Panel(
        "contact_plans.maturities", 3, "contact_plans/panels/maturities.html", maturities_context
    ),
    Panel("contact_plans.birthdays", 4, "contact_plans/panels/birthdays.html", birthdays_context),
]


def register_panels() -> None:
    for panel in PANELS:
        register_panel(panel)
