"""Reading the KPI inputs, always through the actor.

- Time: an RM's or advisor's week (``time_week``) is read by its owner, by the
  supervisors of their branch subtree and by head office (``time_week_staff``);
  ``time_team_week`` is a supervisor's (or head office's) overview of their people.
- Surveys and complaints: the client's scope (``vipcrm.roles.visible_to`` on the
  models' row scope: RM book and team, advisor's team, supervisor's branch subtree,
  head office and integration tokens the bank).
- Coaching notes are *not* read through the row scope: the RM they are about, their
  author and head office read them, nobody else — not even another supervisor of the
  RM's branch (``coaching_notes``). The page of an RM's notes (``coaching_rm``) opens
  for the RM, head office, a supervisor of the RM's branch subtree (who may write the
  first note) and the author of a note on them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Avg, Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from kpi.definitions import VIP_TIME_TARGET
from kpi.inputs import TIME_LOGGERS, week_start
from kpi.models import CoachingNote, Complaint, SatisfactionSurvey, TimeLog
from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import Actor, Role, branch_subtree_ids, scope_q, visible_to

VIP = TimeLog.Kind.VIP_SERVICE
ZERO = Decimal("0.00")
DAY = datetime.timedelta(days=1)


def vip_share(vip_hours: Decimal, total_hours: Decimal) -> float | None:
    """VIP hours over all hours, in percent with one decimal; None with no hours."""
    if not total_hours:
        return None
    return round(float(vip_hours) * 100 / float(total_hours), 1)


# --- Time --------------------------------------------------------------------------------


@dataclass
class TimeDay:
    day: datetime.date
    hours: dict[str, Decimal]  # kind → hours (0 when none)
    is_future: bool

    @property
    def total(self) -> Decimal:
        return sum(self.hours.values(), ZERO)


@dataclass
class TimeWeek:
    """One person's week of time logs, Monday to Sunday, with its totals."""

    staff: StaffProfile
    start: datetime.date
    days: list[TimeDay] = field(default_factory=list)

    @property
    def end(self) -> datetime.date:
        return self.start + DAY * 6

    @property
    def kind_totals(self) -> dict[str, Decimal]:
        return {kind: sum((d.hours[kind] for d in self.days), ZERO) for kind in TimeLog.Kind}

    @property
    def total(self) -> Decimal:
        return sum((d.total for d in self.days), ZERO)

    @property
    def vip_share(self) -> float | None:
        return vip_share(self.kind_totals[VIP], self.total)

    @property
    def meets_target(self) -> bool | None:
        share = self.vip_share
        return None if share is None else share >= VIP_TIME_TARGET

    def rows(self) -> list[dict]:
        """A row per kind: its label, its hours per day, its week total."""
        totals = self.kind_totals
        return [
            {
                "kind": kind,
                "label": label,
                "hours": [day.hours[kind] for day in self.days],
                "total": totals[kind],
            }
            for kind, label in TimeLog.Kind.choices
        ]

    def cells(self) -> dict[tuple[datetime.date, str], Decimal]:
        return {(d.day, kind): hours for d in self.days for kind, hours in d.hours.items()}


def time_week(*, staff: StaffProfile, start: datetime.date, today: datetime.date) -> TimeWeek:
    """``staff``'s hours of the week starting on ``start``'s Monday (one query)."""
    start = week_start(start)
    logged = {
        (log.date, log.kind): log.hours
        for log in TimeLog.objects.filter(
            staff=staff, date__gte=start, date__lte=start + DAY * 6
        ).only("date", "kind", "hours")
    }
    week = TimeWeek(staff=staff, start=start)
    for n in range(7):
        day = start + DAY * n
        week.days.append(
            TimeDay(
                day=day,
                hours={kind: logged.get((day, kind), ZERO) for kind in TimeLog.Kind.values},
                is_future=day > today,
            )
        )
    return week


def time_week_staff(*, actor: Actor, staff_id: int) -> StaffProfile:
    """The RM or advisor whose week ``actor`` may read: themselves; a supervisor, the
    RMs and advisors of their branch subtree; head office, all of the bank's.
    ``StaffProfile.DoesNotExist`` for anyone else (the page answers 404)."""
    people = StaffProfile.objects.select_related("branch").filter(
        pk=staff_id, role__in=TIME_LOGGERS
    )
    if actor.staff is not None and actor.staff.pk == staff_id:
        return people.get()
    if actor.staff is None or actor.role not in (Role.SUPERVISOR, Role.HEAD_OFFICE):
        raise StaffProfile.DoesNotExist("No such staff member.")
    return visible_to(people, actor).get()


def time_team_week(*, actor: Actor, start: datetime.date) -> QuerySet[StaffProfile]:
    """The active RMs and advisors ``actor`` oversees, each annotated with their hours
    of the week starting ``start`` by kind (``vip_hours``, ``non_vip_hours``,
    ``admin_hours``, ``total_hours``): one query, by branch and name."""
    week = Q(time_logs__date__gte=start, time_logs__date__lte=start + DAY * 6)

    def hours(condition: Q) -> Coalesce:
        return Coalesce(
            Sum("time_logs__hours", filter=condition),
            Value(ZERO),
            output_field=DecimalField(max_digits=6, decimal_places=2),
        )

    people = StaffProfile.objects.filter(role__in=TIME_LOGGERS, is_active=True)
    return (
        visible_to(people, actor)
        .select_related("branch")
        .annotate(
            vip_hours=hours(week & Q(time_logs__kind=TimeLog.Kind.VIP_SERVICE)),
            non_vip_hours=hours(week & Q(time_logs__kind=TimeLog.Kind.NON_VIP_SERVICE)),
            admin_hours=hours(week & Q(time_logs__kind=TimeLog.Kind.ADMIN)),
            total_hours=hours(week),
        )
        .order_by("branch__code", "name", "pk")
    )


def vip_time_this_week(*, staff: StaffProfile, today: datetime.date) -> dict:
    """The "My day" panel's figures: this week's VIP and total hours so far, the share
    and the target (one query)."""
    start = week_start(today)
    totals = TimeLog.objects.filter(staff=staff, date__gte=start, date__lte=today).aggregate(
        total=Sum("hours"), vip=Sum("hours", filter=Q(kind=TimeLog.Kind.VIP_SERVICE))
    )
    total, vip = totals["total"] or ZERO, totals["vip"] or ZERO
    share = vip_share(vip, total)
    return {
        "week_start": start,
        "total": total,
        "vip": vip,
        "share": share,
        "target": VIP_TIME_TARGET,
        "meets_target": None if share is None else share >= VIP_TIME_TARGET,
        "logged_today": TimeLog.objects.filter(staff=staff, date=today, hours__gt=0).exists(),
    }


# --- Surveys and complaints --------------------------------------------------------------


def rm_choices(*, actor: Actor, roles: tuple[str, ...] = (Role.RM,)) -> QuerySet[StaffProfile]:
    """The staff a list filters by or a form names: those of ``roles`` whom ``actor``
    oversees (a supervisor's branch subtree, the bank for head office) and the actor
    themselves, active or not — a survey or complaint may be about someone who has
    left."""
    people = StaffProfile.objects.filter(role__in=roles).order_by("name", "code")
    if actor is not None and actor.sees_whole_tenant:
        return people
    reach = scope_q(StaffProfile, actor)
    if actor is not None and actor.staff is not None:
        reach |= Q(pk=actor.staff.pk)  # (an empty Q would swallow this: handled above)
    return people.filter(reach)


def branch_choices(*, actor: Actor) -> QuerySet[Branch]:
    return visible_to(Branch.objects.all(), actor).order_by("code")


def _feedback_filtered(
    rows: QuerySet,
    *,
    day_field: str,
    staff: StaffProfile | None,
    branch: Branch | None,
    date_from: datetime.date | None,
    date_to: datetime.date | None,
) -> QuerySet:
    if staff is not None:
        rows = rows.filter(staff=staff)
    if branch is not None:
        rows = rows.filter(client__branch__in=branch_subtree_ids(branch.pk))
    if date_from is not None:
        rows = rows.filter(**{f"{day_field}__gte": date_from})
    if date_to is not None:
        rows = rows.filter(**{f"{day_field}__lte": date_to})
    return rows


def survey_list(
    *,
    actor: Actor | None,
    staff: StaffProfile | None = None,
    branch: Branch | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    score: int | None = None,
) -> QuerySet[SatisfactionSurvey]:
    """The surveys of the clients ``actor`` may see, newest first, narrowed by the RM
    rated, the client's branch (and its sub-branches), the survey day and the score."""
    surveys = visible_to(
        SatisfactionSurvey.objects.select_related("client", "client__branch", "staff"), actor
    )
    surveys = _feedback_filtered(
        surveys,
        day_field="surveyed_on",
        staff=staff,
        branch=branch,
        date_from=date_from,
        date_to=date_to,
    )
    if score is not None:
        surveys = surveys.filter(score=score)
    return surveys.order_by("-surveyed_on", "-id")


def survey_summary(surveys: QuerySet[SatisfactionSurvey]) -> dict:
    """How many surveys and their average score (one query)."""
    summary = surveys.order_by().aggregate(count=Count("pk"), average=Avg("score"))
    average = summary["average"]
    return {"count": summary["count"], "average": None if average is None else round(average, 1)}


def complaint_list(
    *,
    actor: Actor | None,
    staff: StaffProfile | None = None,
    branch: Branch | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    category: str = "",
    status: str = "",
) -> QuerySet[Complaint]:
    """The complaints of the clients ``actor`` may see, the open ones first, then the
    newest, narrowed like ``survey_list`` (by the day received), category and status."""
    complaints = visible_to(
        Complaint.objects.select_related("client", "client__branch", "staff"), actor
    )
    complaints = _feedback_filtered(
        complaints,
        day_field="received_on",
        staff=staff,
        branch=branch,
        date_from=date_from,
        date_to=date_to,
    )
    if category:
        complaints = complaints.filter(category=category)
    if status:
        complaints = complaints.filter(status=status)
    return complaints.order_by("status", "-received_on", "-id")  # "open" < "resolved"


# --- Coaching notes ----------------------------------------------------------------------


def coaching_notes(*, actor: Actor | None, rm: StaffProfile | None = None) -> QuerySet:
    """The coaching notes ``actor`` may read (on ``rm`` only, if given), newest first:
    head office all of the bank's; anyone else the notes on themselves and those they
    wrote. Integration tokens none: notes stay between the people."""
    notes = CoachingNote.objects.select_related("author", "rm")
    if actor is None or actor.staff is None:
        return notes.none()
    if actor.role != Role.HEAD_OFFICE:
        notes = notes.filter(Q(rm=actor.staff) | Q(author=actor.staff))
    if rm is not None:
        notes = notes.filter(rm=rm)
    return notes.order_by("-created_at", "-id")


def coaching_rm(*, actor: Actor, staff_id: int) -> StaffProfile:
    """The RM whose coaching page ``actor`` may open (see the module docstring);
    ``StaffProfile.DoesNotExist`` otherwise (the page answers 404)."""
    rm = StaffProfile.objects.select_related("branch").get(pk=staff_id, role=Role.RM)
    if actor.staff is None:
        raise StaffProfile.DoesNotExist("No such RM.")
    if actor.role == Role.HEAD_OFFICE or rm.pk == actor.staff.pk:
        return rm
    if actor.role == Role.SUPERVISOR and rm.branch_id in branch_subtree_ids(actor.staff.branch_id):
        return rm
    if CoachingNote.objects.filter(rm=rm, author=actor.staff).exists():
        return rm
    raise StaffProfile.DoesNotExist("No such RM.")
