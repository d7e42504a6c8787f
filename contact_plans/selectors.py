"""Reads of contact plans, always through the actor's scope (``vipcrm.roles.visible_to``):
"My day", the weekly plan, maturities and birthdays ahead, a client's plan and history,
the calendar feed, the overdue list, and coverage and adherence per RM and per branch.

Definitions (the domain spec's, made exact; the KPI scorecards reuse these functions):

- **Open** planned contact: status *planned* or *overdue*. A contact is **overdue** on
  day ``on`` when it is open and ``due_on < on`` — whether or not the nightly run has
  already marked it *overdue*.
- An RM's contacts are the planned contacts **assigned to** them (the nightly planning
  assigns each to the client's owner RM).
- **Book** of an RM: the VIP clients they own (``owner_rm``, a tier set).
- **Coverage** of an RM on ``on`` = covered ÷ book, where a client is **covered** when
  their plan's last completed contact is within their tier's cadence:
  ``ContactPlan.last_contact_on ≥ on − ContactPlan.cadence_days``. A client without a
  plan, a last contact or a cadence is not covered.
- **Adherence** of an RM over ``[start, end]`` = the planned contacts assigned to them,
  due in the period and **done by their due date** (status *done*,
  ``completed_at``'s local date ≤ ``due_on``) ÷ the planned contacts assigned to them
  and due in the period, cancelled ones excepted. A rescheduled contact counts on its
  new due date (rescheduling needs a reason and is audited).
- **Per branch**: the sums of its RMs' figures (RMs of the branch itself, not of its
  sub-branches), so a branch's percentages are those of the rows listed under it.

Every per-RM figure is a correlated subquery of one query over the RMs (never a loop
over RMs or clients); percentages are computed from the integer counts.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Count,
    DateField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from contact_plans.models import CalendarFeed, ContactPlan, Interaction, PlannedContact
from customers.models import Client, Holding, Need
from customers.selectors import fx_rates_to_cny
from segmentation.capacity import capacity_rms
from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import Actor, branch_subtree_ids, visible_to

OPEN = PlannedContact.OPEN
Status = PlannedContact.Status
Reason = PlannedContact.Reason

MY_DAY_ROWS = 25  # rows per "My day" list; the counts say how many there are in all
MATURITY_DAYS = 30
MATURITY_ROWS = 15
BIRTHDAY_DAYS = 7  # the nightly planning makes birthday contacts a week ahead
BIRTHDAY_ROWS = 15
WEEK_ROWS = 500  # a week's plan beyond this is cut (and says so)
FEED_ROWS = 1000
FEED_PAST_DAYS = 90  # overdue contacts older than this stay out of the calendar
INTERACTION_ROWS = 20
ADHERENCE_DAYS = 30
PERCENT = Decimal("0.1")

_CONTACT_RELATED = ("client", "client__tier", "holding__product", "life_event", "assigned_to")


def _percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(PERCENT, rounding=ROUND_HALF_UP)


# --- Planned contacts and interactions in the actor's scope ---------------------------


def planned_contact_list(*, actor: Actor) -> QuerySet[PlannedContact]:
    """Every planned contact the actor may see (their clients' contacts)."""
    return visible_to(PlannedContact.objects.select_related(*_CONTACT_RELATED), actor)


def interaction_list(*, actor: Actor) -> QuerySet[Interaction]:
    return visible_to(Interaction.objects.select_related("client", "staff"), actor)


def my_open_contacts(*, actor: Actor) -> QuerySet[PlannedContact]:
    """The open planned contacts assigned to the actor (none for an integration)."""
    if actor.staff is None:
        return PlannedContact.objects.none()
    return planned_contact_list(actor=actor).filter(status__in=OPEN, assigned_to=actor.staff)


# --- "My day" ------------------------------------------------------------------------


def week_start(day: datetime.date) -> datetime.date:
    """The Monday of ``day``'s week."""
    return day - datetime.timedelta(days=day.weekday())


@dataclass
class MyDayContacts:
    on: datetime.date
    week_end: datetime.date
    overdue_count: int
    today_count: int
    week_count: int
    overdue: list[PlannedContact] = field(default_factory=list)
    today: list[PlannedContact] = field(default_factory=list)
    week: list[PlannedContact] = field(default_factory=list)

    @property
    def rows(self) -> list[PlannedContact]:
        return [*self.overdue, *self.today, *self.week]


def my_day_counts(*, actor: Actor, on: datetime.date) -> dict[str, int]:
    """How many of the actor's open contacts are overdue, due today, and due later this
    week (tomorrow to Sunday), in one query."""
    week_end = week_start(on) + datetime.timedelta(days=6)
    return my_open_contacts(actor=actor).aggregate(
        overdue_count=Count("pk", filter=Q(due_on__lt=on)),
        today_count=Count("pk", filter=Q(due_on=on)),
        week_count=Count("pk", filter=Q(due_on__gt=on, due_on__lte=week_end)),
    )


def my_day_contacts(*, actor: Actor, on: datetime.date, limit: int = MY_DAY_ROWS) -> MyDayContacts:
    """The actor's overdue contacts (oldest first), today's, and the rest of the week's,
    each list cut at ``limit`` rows: four queries whatever the numbers."""
    week_end = week_start(on) + datetime.timedelta(days=6)
    contacts = my_open_contacts(actor=actor).order_by("due_on", "id")
    return MyDayContacts(
        on=on,
        week_end=week_end,
        **my_day_counts(actor=actor, on=on),
        overdue=list(contacts.filter(due_on__lt=on)[:limit]),
        today=list(contacts.filter(due_on=on)[:limit]),
        week=list(contacts.filter(due_on__gt=on, due_on__lte=week_end)[:limit]),
    )


@dataclass
class Maturities:
    """Active holdings of the actor's clients maturing within the window."""

    days: int
    count: int
    total_cny: Decimal
    unconverted: list[str]  # currencies without an FX rate: left out of the total
    rows: list[Holding]


def maturities_upcoming(
    *, actor: Actor, on: datetime.date, days: int = MATURITY_DAYS, limit: int = MATURITY_ROWS
) -> Maturities:
    """Holdings of the clients the actor sees maturing from ``on`` to ``on + days``, the
    soonest first, each with ``balance_cny`` and ``planned_on`` (the due date of its open
    maturity contact, if planned); the count and the total in CNY over all of them.

    Three queries: the totals per currency, the FX rates, the first ``limit`` rows.
    """
    clients = visible_to(Client.objects.all(), actor).values("pk")
    holdings = Holding.objects.filter(
        status=Holding.Status.ACTIVE,
        matures_on__gte=on,
        matures_on__lte=on + datetime.timedelta(days=days),
        client__in=clients,
    )
    per_currency = list(
        holdings.order_by()
        .values("currency")
        .annotate(total=Sum("balance"), n=Count("pk"))
        .order_by("currency")
    )
    rates = fx_rates_to_cny(currencies={row["currency"] for row in per_currency}, on=on)
    total = Decimal("0")
    unconverted = []
    for row in per_currency:
        rate = rates.get(row["currency"])
        if rate is None:
            unconverted.append(row["currency"])
        else:
            total += row["total"] * rate
    planned = PlannedContact.objects.filter(
        holding=OuterRef("pk"),
        reason=Reason.MATURITY,
        source_date=OuterRef("matures_on"),
        status__in=OPEN,
    ).order_by("due_on")
    rows = list(
        holdings.select_related("client", "client__tier", "product")
        .annotate(planned_on=Subquery(planned.values("due_on")[:1]))
        .order_by("matures_on", "id")[:limit]
    )
    for holding in rows:
        rate = rates.get(holding.currency)
        holding.balance_cny = (holding.balance * rate).quantize(Decimal("0.01")) if rate else None
        holding.days_left = (holding.matures_on - on).days
    return Maturities(
        days=days,
        count=sum(row["n"] for row in per_currency),
        total_cny=total.quantize(Decimal("0.01")),
        unconverted=unconverted,
        rows=rows,
    )


def birthdays_upcoming(
    *, actor: Actor, on: datetime.date, days: int = BIRTHDAY_DAYS, limit: int = BIRTHDAY_ROWS
) -> list[PlannedContact]:
    """The actor's open birthday contacts whose birthday (``source_date``: the solar date
    of this year's birthday, converted from the lunar date for a client who keeps the
    lunar birthday) falls from ``on`` to ``on + days``, the soonest first."""
    return list(
        my_open_contacts(actor=actor)
        .filter(
            reason=Reason.BIRTHDAY,
            source_date__gte=on,
            source_date__lte=on + datetime.timedelta(days=days),
        )
        .order_by("source_date", "id")[:limit]
    )


# --- The weekly plan -----------------------------------------------------------------


@dataclass
class PlanDay:
    day: datetime.date
    contacts: list[PlannedContact]
    done_count: int

    @property
    def is_weekend(self) -> bool:
        return self.day.weekday() >= 5


@dataclass
class Plan:
    start: datetime.date
    end: datetime.date
    days: list[PlanDay]
    overdue: list[PlannedContact]  # open and due before ``start`` (only when it is today's)
    truncated: bool

    @property
    def rows(self) -> list[PlannedContact]:
        return [*self.overdue, *(c for day in self.days for c in day.contacts)]

    @property
    def open_count(self) -> int:
        return sum(len(day.contacts) for day in self.days)


def contact_plan_days(*, actor: Actor, start: datetime.date, days: int, on: datetime.date) -> Plan:
    """The actor's open contacts due from ``start`` for ``days`` days, grouped by day,
    with each day's count of contacts already done; and, when the span includes ``on``
    (today), the open contacts still due from before the span. Three queries."""
    end = start + datetime.timedelta(days=days - 1)
    mine = my_open_contacts(actor=actor).order_by("due_on", "id")
    rows = list(mine.filter(due_on__gte=start, due_on__lte=end)[: WEEK_ROWS + 1])
    truncated = len(rows) > WEEK_ROWS
    rows = rows[:WEEK_ROWS]
    overdue = []
    if start <= on <= end:
        overdue = list(mine.filter(due_on__lt=start)[:WEEK_ROWS])
    by_day: dict[datetime.date, list[PlannedContact]] = defaultdict(list)
    for contact in rows:
        by_day[contact.due_on].append(contact)
    done = {}
    if actor.staff is not None:
        done = dict(
            planned_contact_list(actor=actor)
            .filter(assigned_to=actor.staff, status=Status.DONE, due_on__gte=start, due_on__lte=end)
            .order_by()
            .values("due_on")
            .annotate(n=Count("pk"))
            .values_list("due_on", "n")
        )
    plan_days = []
    for offset in range(days):
        day = start + datetime.timedelta(days=offset)
        plan_days.append(
            PlanDay(day=day, contacts=by_day.get(day, []), done_count=done.get(day, 0))
        )
    return Plan(start=start, end=end, days=plan_days, overdue=overdue, truncated=truncated)


# --- A client's plan (the client 360 section) ------------------------------------------


def client_contact_plan(*, client: Client) -> ContactPlan | None:
    return ContactPlan.objects.filter(client=client).first()


def contact_plan_summary(client: Client) -> dict | None:
    """The plan as ``GET /api/v1/clients/<id>/`` summarises it (two queries); None for a
    client without a plan."""
    plan = client_contact_plan(client=client)
    if plan is None:
        return None
    open_contacts = PlannedContact.objects.filter(client=client, status__in=OPEN)
    upcoming = open_contacts.order_by("due_on", "id").values("id", "reason", "due_on", "status")
    first = upcoming.first()
    return {
        "cadence_days": plan.cadence_days,
        "last_contact_on": plan.last_contact_on,
        "next_due_on": plan.next_due_on,
        "is_overdue": plan.next_due_on is not None and plan.next_due_on < timezone.localdate(),
        "open_planned_contacts": open_contacts.count(),
        "next_planned_contact": first,
    }


def client_open_contacts(*, client: Client) -> list[PlannedContact]:
    return list(
        PlannedContact.objects.filter(client=client, status__in=OPEN)
        .select_related(*_CONTACT_RELATED)
        .order_by("due_on", "id")
    )


def client_interactions(*, client: Client, limit: int = INTERACTION_ROWS) -> list[Interaction]:
    """The client's latest interactions, each with ``needs_found_labels`` to show."""
    rows = list(
        Interaction.objects.filter(client=client)
        .select_related("staff", "planned_contact")
        .order_by("-occurred_at", "-id")[:limit]
    )
    labels = dict(Need.Kind.choices)
    for row in rows:
        row.needs_found_labels = [str(labels.get(kind, kind)) for kind in row.needs_found]
    return rows


# --- The calendar feed ---------------------------------------------------------------


def calendar_feed_of(*, staff: StaffProfile) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(staff=staff).first()


def calendar_feed_contacts(
    *, staff: StaffProfile, on: datetime.date, limit: int = FEED_ROWS
) -> list[PlannedContact]:
    """The open contacts assigned to ``staff`` for their calendar: from ``FEED_PAST_DAYS``
    ago onwards (older overdue ones are for the overdue list, not a calendar)."""
    return list(
        PlannedContact.objects.filter(
            assigned_to=staff,
            status__in=OPEN,
            due_on__gte=on - datetime.timedelta(days=FEED_PAST_DAYS),
        )
        .select_related(*_CONTACT_RELATED)
        .order_by("due_on", "id")[:limit]
    )


# --- The overdue list (supervisors, head office) --------------------------------------


def overdue_contacts(
    *,
    actor: Actor,
    on: datetime.date,
    branch: Branch | None = None,
    assigned_to: StaffProfile | None = None,
    reason: str = "",
    min_days: int | None = None,
) -> QuerySet[PlannedContact]:
    """Open contacts due before ``on`` in the actor's scope, by RM then oldest first.

    ``branch``: clients homed in it or below; ``assigned_to``: one RM's; ``min_days``:
    overdue by at least that many days.
    """
    contacts = (
        planned_contact_list(actor=actor)
        .select_related("client__branch")
        .filter(status__in=OPEN, due_on__lt=on)
    )
    if branch is not None:
        contacts = contacts.filter(client__branch__in=branch_subtree_ids(branch.pk))
    if assigned_to is not None:
        contacts = contacts.filter(assigned_to=assigned_to)
    if reason:
        contacts = contacts.filter(reason=reason)
    if min_days:
        contacts = contacts.filter(due_on__lte=on - datetime.timedelta(days=min_days))
    return contacts.order_by(
        F("assigned_to__name").asc(nulls_last=True), "assigned_to_id", "due_on", "id"
    )


def overdue_by_rm(contacts: QuerySet[PlannedContact]) -> list[dict]:
    """The overdue list's summary: per assigned RM, how many and since when (one query)."""
    return list(
        contacts.order_by()
        .values(
            "assigned_to", "assigned_to__name", "assigned_to__code", "assigned_to__branch__name"
        )
        .annotate(count=Count("pk"), oldest=Min("due_on"))
        .order_by("-count", "assigned_to__name", "assigned_to")
    )


# --- Coverage and adherence per RM and per branch --------------------------------------


def _count(queryset: QuerySet, group: str) -> Coalesce:
    """``COUNT(*)`` of ``queryset`` (correlated to the outer RM) as a subquery, 0 if none."""
    counted = queryset.order_by().values(group).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _covered_plans(on: datetime.date) -> QuerySet[ContactPlan]:
    """Plans whose last contact is within the cadence on ``on``:
    ``last_contact_on ≥ on − cadence_days`` (date arithmetic both databases run)."""
    cadence = ExpressionWrapper(
        Cast("cadence_days", IntegerField()) * Value(datetime.timedelta(days=1)),
        output_field=DurationField(),
    )
    threshold = Cast(ExpressionWrapper(Value(on) - cadence, output_field=DateField()), DateField())
    return ContactPlan.objects.filter(
        cadence_days__isnull=False, last_contact_on__isnull=False
    ).filter(last_contact_on__gte=threshold)


def coverage_by_rm(
    *, actor: Actor, on: datetime.date, branch: Branch | None = None
) -> QuerySet[StaffProfile]:
    """The RMs of the actor's scope, each annotated ``book_size`` (VIP clients owned),
    ``covered`` (those contacted within their cadence) and ``overdue_count`` (open
    contacts assigned to them and due before ``on``). One query; see the module
    docstring for the definitions."""
    return _with_coverage(capacity_rms(actor=actor, branch=branch), on=on)


def adherence_by_rm(
    *,
    actor: Actor,
    start: datetime.date,
    end: datetime.date,
    branch: Branch | None = None,
) -> QuerySet[StaffProfile]:
    """The RMs of the actor's scope, each annotated ``due_count`` (contacts assigned to
    them, due from ``start`` to ``end``, not cancelled) and ``done_on_time`` (of those,
    done by their due date). One query."""
    return _with_adherence(capacity_rms(actor=actor, branch=branch), start=start, end=end)


def _with_coverage(rms: QuerySet[StaffProfile], *, on: datetime.date) -> QuerySet[StaffProfile]:
    vip_book = Client.objects.filter(owner_rm=OuterRef("pk"), tier__isnull=False)
    covered = _covered_plans(on).filter(client__owner_rm=OuterRef("pk"), client__tier__isnull=False)
    overdue = PlannedContact.objects.filter(
        assigned_to=OuterRef("pk"), status__in=OPEN, due_on__lt=on
    )
    return rms.annotate(
        book_size=_count(vip_book, "owner_rm"),
        covered=_count(covered, "client__owner_rm"),
        overdue_count=_count(overdue, "assigned_to"),
    )


def _with_adherence(
    rms: QuerySet[StaffProfile], *, start: datetime.date, end: datetime.date
) -> QuerySet[StaffProfile]:
    due = PlannedContact.objects.filter(
        assigned_to=OuterRef("pk"), due_on__gte=start, due_on__lte=end
    ).exclude(status=Status.CANCELLED)
    on_time = due.filter(status=Status.DONE, completed_at__date__lte=F("due_on"))
    return rms.annotate(
        due_count=_count(due, "assigned_to"), done_on_time=_count(on_time, "assigned_to")
    )


@dataclass
class ContactFigures:
    book_size: int = 0
    covered: int = 0
    overdue_count: int = 0
    due_count: int = 0
    done_on_time: int = 0

    @property
    def coverage(self) -> Decimal | None:
        """Percent of the book contacted within its cadence (None for an empty book)."""
        return _percent(self.covered, self.book_size)

    @property
    def adherence(self) -> Decimal | None:
        """Percent of the period's planned contacts done by their due date."""
        return _percent(self.done_on_time, self.due_count)

    def add(self, other: ContactFigures) -> None:
        self.book_size += other.book_size
        self.covered += other.covered
        self.overdue_count += other.overdue_count
        self.due_count += other.due_count
        self.done_on_time += other.done_on_time


@dataclass
class RmContactFigures(ContactFigures):
    staff: StaffProfile | None = None


@dataclass
class BranchContactFigures(ContactFigures):
    branch: Branch | None = None
    rm_count: int = 0


@dataclass
class ContactScorecard:
    on: datetime.date
    start: datetime.date
    end: datetime.date
    rms: list[RmContactFigures]
    branches: list[BranchContactFigures]
    total: BranchContactFigures


def default_adherence_period(on: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The last 30 days before ``on`` (today's contacts are not late yet)."""
    return on - datetime.timedelta(days=ADHERENCE_DAYS), on - datetime.timedelta(days=1)


def contact_scorecard(
    *,
    actor: Actor,
    on: datetime.date,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    branch: Branch | None = None,
) -> ContactScorecard:
    """Coverage on ``on`` and adherence over ``[start, end]`` (default: the 30 days
    before ``on``) for each RM of the actor's scope, their branches' sums and the total:
    one query for every RM's figures."""
    if start is None or end is None:
        start, end = default_adherence_period(on)
    rms = _with_adherence(
        _with_coverage(capacity_rms(actor=actor, branch=branch), on=on), start=start, end=end
    ).order_by("branch__code", "name", "pk")
    rows = [
        RmContactFigures(
            staff=rm,
            book_size=rm.book_size,
            covered=rm.covered,
            overdue_count=rm.overdue_count,
            due_count=rm.due_count,
            done_on_time=rm.done_on_time,
        )
        for rm in rms
    ]
    branches: dict[int, BranchContactFigures] = {}
    total = BranchContactFigures()
    for row in rows:
        branch_row = branches.setdefault(
            row.staff.branch_id, BranchContactFigures(branch=row.staff.branch)
        )
        branch_row.add(row)
        branch_row.rm_count += 1
        total.add(row)
        total.rm_count += 1
    return ContactScorecard(
        on=on, start=start, end=end, rms=rows, branches=list(branches.values()), total=total
    )
