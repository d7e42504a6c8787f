"""KPI snapshots (考核快照): every metric of ``kpi.definitions`` for every RM, every branch
and the bank, for one period, written as ``KpiSnapshot`` rows the dashboards read; and
the bank's scorecard weights.

The run (``kpi_snapshot_take(period=, start=, as_of=)``)
--------------------------------------------------------
Runs inside the current tenant (``vipcrm.tenancy.tenant_context``; on PostgreSQL also
bound by Row-Level Security). A period is a calendar month, quarter or year of the
bank's calendar (``kpi.periods``); **the figures' date** ``as_of`` is the last business
day the figures run to: the period's last day once it is over, today while it runs.
"In the period" means from its first day to the figures' date, both included, in the
bank's time zone (``Tenant.time_zone``, Asia/Shanghai by default): a timestamp counts
on its local day — an interaction logged at 23:30 on 31 October in Shanghai
(15:30 UTC) is October's — and is compared as a range of instants
``[local midnight of the first day, local midnight after the figures' date)``, so the
timestamp indexes serve. "The period's last day" of the formulas is the figures' date,
"the day before the period" its first day − 1.

The scopes:

- **rm** — every active staff member with the role RM. The *book* is the clients the RM
  owns when the run is made; figures about the RM's own work (the planned contacts
  assigned to them, their sales, credits, time, interactions, proposals, referrals,
  surveys and complaints about them) are theirs wherever the client is homed.
- **branch** — every branch, with its sub-branches: figures about clients (the book,
  AUM, tiers, maturities, planned contacts, sales, the pipeline, surveys and complaints)
  are those of the clients homed in the subtree; figures that belong to staff rather
  than clients (time, sale credits, tool use, teamwork, the effective service ratio)
  are the sums of the RMs homed in the subtree.
- **tenant** — the whole bank: every client, and the staff figures of every RM.

The staff figures of a branch and of the bank count the work of every RM homed there in
the period, also of one who has left since (their row is gone, their work is not).

``values`` holds every metric of ``kpi.definitions`` by code: money as a string with
two decimals, percentages, averages and days as floats with one decimal (half up),
hours as a float with two, counts as integers; ``None`` when undefined (a percentage
of nothing, an average of no surveys).

Set-based: each source table is read once per run by one statement grouped by the RM
(or staff member) and the home branch it counts for — a fixed number of queries
(about thirty) whatever the number of clients, RMs or branches. The grouped rows are
added up in Python (an RM's rows over its branches, a branch's over its subtree, the
bank's over all). Money is summed in whole cents (exact on SQLite too). The client pass
(VIP counts, AUM, coverage) and the maturities are plain SQL that PostgreSQL and SQLite
both run, with one correlated index lookup per client and date:

- a client's **tier on a day** is their current tier, or the ``from`` tier of the first
  ``TierChange`` effective after that day; VIP = a tier;
- a client's **AUM on a day** is their latest ``AumSnapshot`` on or before it (none: 0).

Reused definitions: the planned contacts' statuses (open = planned or overdue) and
"done by the due date" (``completed_at``'s local day ≤ ``due_on``) of
``contact_plans.selectors``; the unqualified and near-threshold lists of
``segmentation.selectors``; the weighted book and capacity of
``segmentation.capacity.rm_loads`` — those three describe the clients as they stand
when the run is made (current tiering basis, tiers and capacities).

Scores follow ``kpi.definitions`` (each scored metric 0–100; a dimension is the mean of
its scored metrics that have a value; the total is the mean of the dimensions with a
score weighted by ``ScorecardWeights``). Ranked metrics compare the RMs of the bank, and
a branch with the branches that have the same parent. ``rank_in_branch``: an RM among
the RMs of their branch, a branch among its siblings, by total score (1 = best, ties
share the better rank, no score → no rank).

The period's rows are upserted in one transaction (``INSERT … ON CONFLICT DO UPDATE``
on the snapshot's unique key) — only those new or changed: a row whose figures are the
same is not rewritten — and rows of the period whose scope is gone (a departed RM) are
deleted. A re-run replaces the period's rows; a re-run over unchanged data, e.g. for a
past period or a forced nightly re-run, finds the same rows and writes nothing.

The nightly job ``kpi.snapshot`` (order 40, after the planning and the pipeline)
takes the month, quarter and year containing the run date, as of that date; on the
first day of a period it first takes the period that just ended once more, through its
last day, so its final rows include that day's work.
"""

from __future__ import annotations

import bisect
import datetime
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Count,
    DecimalField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Round, TruncDate
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from contact_plans.models import Interaction, PlannedContact
from contact_plans.services import tenant_zone
from customers.models import Client, Holding
from kpi import definitions
from kpi.models import Complaint, KpiSnapshot, SatisfactionSurvey, ScorecardWeights, TimeLog
from kpi.periods import PERIODS, is_period_start, period_bounds, previous_period_start
from sales_pipeline.models import (
    Opportunity,
    OpportunityAdvisor,
    Proposal,
    Referral,
    SaleCredit,
    StepEntry,
)
from segmentation.capacity import load_ratio, rm_loads
from segmentation.models import AumSnapshot, ServiceStandard, TierChange
from segmentation.selectors import (
    NO_RANK,
    near_threshold_clients,
    tiering_policy,
    unqualified_filter,
    with_tiering_basis,
)
from vipcrm.audit import audit_record
from vipcrm.models import AuditEntry, Branch, StaffProfile
from vipcrm.roles import Actor, Role
from vipcrm.tenancy import current_tenant_id

DAY = datetime.timedelta(days=1)
RETENTION_DAYS = 30  # maturity retention: still at the bank this long after maturity
STEPS = (1, 2, 3, 4, 5)
ONE_DECIMAL = Decimal("0.1")
TWO_DECIMALS = Decimal("0.01")
HUNDRED = Decimal(100)
SECONDS_PER_DAY = Decimal(86400)
WEIGHT_FIELDS = ("results", "process", "tool_use", "teamwork", "feedback")
PLANNED_CONTACT_TYPE = PlannedContact._meta.label_lower  # its audit entries' object_type
OPEN_CONTACT = tuple(status.value for status in PlannedContact.OPEN)
SUM_FIELD = DecimalField(max_digits=14, decimal_places=2)


# --- The period ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """One run's period, figures' date and the bank's zone."""

    period: str
    start: datetime.date
    end: datetime.date  # the period's last day
    as_of: datetime.date  # the figures' date, start ≤ as_of ≤ end
    zone: ZoneInfo

    def instant(self, day: datetime.date) -> datetime.datetime:
        """Local midnight starting ``day``."""
        return datetime.datetime.combine(day, datetime.time.min, tzinfo=self.zone)

    @property
    def before(self) -> datetime.date:
        """The day before the period began."""
        return self.start - DAY

    @property
    def since(self) -> datetime.datetime:
        return self.instant(self.start)

    @property
    def until(self) -> datetime.datetime:
        """The first instant after the figures' date (exclusive bound)."""
        return self.instant(self.as_of + DAY)

    @property
    def due_until(self) -> datetime.date:
        """The last due date adherence counts: the day before the figures' date while
        the period runs (a contact due today is not late yet), its last day once over."""
        return self.as_of if self.as_of == self.end else self.as_of - DAY

    @property
    def matured_by(self) -> datetime.date:
        """The last maturity date whose 30 days after have passed by the figures' date."""
        return self.as_of - RETENTION_DAYS * DAY

    def during(self, field: str) -> Q:
        """``field`` (a timestamp) on a local day of the period."""
        return Q(**{f"{field}__gte": self.since, f"{field}__lt": self.until})

    def days(self, field: str) -> Q:
        """``field`` (a date) in the period."""
        return Q(**{f"{field}__gte": self.start, f"{field}__lte": self.as_of})


def _window(period: str, start: datetime.date, as_of: datetime.date | None) -> _Window:
    if period not in PERIODS:
        raise ValueError(f"Unknown KPI period {period!r}: one of {', '.join(PERIODS)}.")
    first, last = period_bounds(period, start)
    if first != start:
        raise ValueError(f"{start} is not the first day of a {period} (that is {first}).")
    zone = tenant_zone(current_tenant_id())
    if as_of is None:
        as_of = min(last, timezone.localdate(timezone=zone))
    if as_of < start:
        raise ValueError(f"The figures' date {as_of} is before the period begins ({start}).")
    return _Window(period, start, last, min(as_of, last), zone)


# --- Tallies: the grouped rows, added up per RM, branch and bank ------------------------------


class _Tallies:
    """Components (counts, sums in cents, …) per RM, per branch (its own clients or
    staff, before the subtree is added) and for the bank."""

    def __init__(self) -> None:
        self.rm: defaultdict[int, Counter] = defaultdict(Counter)
        self.branch: defaultdict[int, Counter] = defaultdict(Counter)
        self.tenant: Counter = Counter()

    def add(self, staff_id: int | None, branch_id: int | None, components: Mapping) -> None:
        present = {name: value for name, value in components.items() if value}
        if staff_id is not None:
            self.rm[staff_id].update(present)
        if branch_id is not None:
            self.branch[branch_id].update(present)
        self.tenant.update(present)

    def add_rows(self, rows: Iterable[dict]) -> None:
        """Grouped rows: ``staff_key``, ``branch_key`` and the components they add."""
        for row in rows:
            staff_id, branch_id = row.pop("staff_key"), row.pop("branch_key")
            self.add(staff_id, branch_id, row)

    def subtrees(self, children: Mapping[int | None, list[int]]) -> dict[int, Counter]:
        """Each branch's tally with its sub-branches' added."""
        totals: dict[int, Counter] = {}

        def visit(branch_id: int) -> Counter:
            total = Counter(self.branch.get(branch_id, {}))
            for child in children.get(branch_id, []):
                total.update(visit(child))
            totals[branch_id] = total
            return total

        for root in children.get(None, []):
            visit(root)
        return totals


def _grouped(queryset, *, staff: str, branch: str, **aggregates) -> Iterable[dict]:
    """``queryset`` grouped by the staff member and the branch a row counts for."""
    return (
        queryset.order_by()
        .values(staff_key=F(staff), branch_key=F(branch))
        .annotate(**aggregates)
        .values("staff_key", "branch_key", *aggregates)
    )


def _cents(field: str) -> Cast:
    """An amount in whole cents, as an integer: sums of it are exact on both databases."""
    return Cast(Round(ExpressionWrapper(F(field) * 100, output_field=SUM_FIELD)), BigIntegerField())


# --- Plain SQL for the client pass and the maturities -----------------------------------------


class _Sql:
    """Table names (from the models, never input) and the spellings that differ."""

    def __init__(self) -> None:
        qn = connection.ops.quote_name
        self.pg = connection.vendor == "postgresql"
        self.client = qn(Client._meta.db_table)
        self.change = qn(TierChange._meta.db_table)
        self.snapshot = qn(AumSnapshot._meta.db_table)
        self.interaction = qn(Interaction._meta.db_table)
        self.contact = qn(PlannedContact._meta.db_table)
        self.holding = qn(Holding._meta.db_table)
        self.least = "LEAST" if self.pg else "MIN"
        # A derived table PostgreSQL must not pull up into its parent: pulled up, each
        # reference to a column that is a correlated sub-select runs the sub-select
        # again (the client pass read every AUM snapshot three times, 18 s → 8 s).
        self.fence = "OFFSET 0" if self.pg else ""
        self.greatest = "GREATEST" if self.pg else "MAX"

    def cents(self, amount: str) -> str:
        if self.pg:
            return f"ROUND(({amount}) * 100)"
        return f"CAST(ROUND(({amount}) * 100) AS INTEGER)"

    def add_days(self, day: str, days: int) -> str:
        return f"({day} + {days:d})" if self.pg else f"date({day}, '{days:+d} days')"

    def aum_on(self, client: str, day: str) -> str:
        """A client's AUM in cents on ``day``: the latest snapshot on or before it, 0
        without one (an index lookup on the snapshot's unique key)."""
        return (
            f"COALESCE((SELECT {self.cents('s.aum_cny')} FROM {self.snapshot} s "  # noqa: S608
            f"WHERE s.tenant_id = %(tenant)s AND s.client_id = {client} AND s.date <= {day} "
            "ORDER BY s.date DESC LIMIT 1), 0)"
        )

    def tier_marker(self, day: str) -> str:
        """The ``from`` tier of the client's first tier change after ``day`` (0 for no
        tier), NULL when the tier has not changed since: see ``tier_on``."""
        return (
            f"(SELECT COALESCE(tc.from_tier_id, 0) FROM {self.change} tc "  # noqa: S608
            f"WHERE tc.tenant_id = %(tenant)s AND tc.client_id = c.id AND tc.effective_on > {day} "
            "ORDER BY tc.effective_on, tc.id LIMIT 1)"
        )

    @staticmethod
    def tier_on(marker: str) -> str:
        return f"CASE WHEN {marker} IS NULL THEN x.tier_id ELSE NULLIF({marker}, 0) END"

    def fetch(self, sql: str, params: dict[str, Any]) -> list[dict]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            columns = [column[0] for column in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _instant_param(moment: datetime.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _tally_clients(tallies: _Tallies, w: _Window, sql: _Sql) -> None:
    """VIP clients at the end and the day before the period, coverage, book AUM at both
    dates and new money: one statement, grouped by owner RM and home branch."""
    cadences = dict(ServiceStandard.objects.values_list("tier_id", "contact_cadence_days"))
    params: dict[str, Any] = {
        "tenant": current_tenant_id(),
        "end": w.as_of,
        "before": w.before,
        "until": _instant_param(w.until),
    }
    # A covered client has an interaction on or after the local midnight starting
    # (period's last day − the cadence of their tier then): one bound per tier.
    whens = []
    for index, (tier_id, cadence) in enumerate(sorted(cadences.items())):
        params[f"tier_{index}"] = tier_id
        params[f"since_{index}"] = _instant_param(w.instant(w.as_of - cadence * DAY))
        whens.append(f"WHEN %(tier_{index})s THEN %(since_{index})s")
    covered = "0"
    if whens:
        covered = (
            "CASE WHEN y.tier_end IS NOT NULL AND EXISTS ("  # noqa: S608
            f"SELECT 1 FROM {sql.interaction} i WHERE i.tenant_id = %(tenant)s "
            "AND i.client_id = y.id AND i.occurred_at < %(until)s "
            f"AND i.occurred_at >= CASE y.tier_end {' '.join(whens)} END"
            ") THEN 1 ELSE 0 END"
        )
    rows = sql.fetch(
        f"""
        SELECT z.owner_rm_id AS staff_key, z.branch_id AS branch_key,
            SUM(CASE WHEN z.tier_end IS NOT NULL THEN 1 ELSE 0 END) AS vip_end,
            SUM(CASE WHEN z.tier_before IS NOT NULL THEN 1 ELSE 0 END) AS vip_before,
            SUM(z.covered) AS covered,
            SUM(z.aum_end) AS aum_end,
            SUM(z.aum_before) AS aum_before,
            SUM(CASE WHEN z.aum_end > z.aum_before THEN z.aum_end - z.aum_before ELSE 0 END)
                AS new_money
        FROM (
            SELECT y.owner_rm_id, y.branch_id, y.tier_end, y.tier_before, y.aum_end,
                y.aum_before, {covered} AS covered
            FROM (
                SELECT x.id, x.owner_rm_id, x.branch_id, x.aum_end, x.aum_before,
                    {sql.tier_on("x.marker_end")} AS tier_end,
                    {sql.tier_on("x.marker_before")} AS tier_before
                FROM (
                    SELECT c.id, c.owner_rm_id, c.branch_id, c.tier_id,
                        {sql.tier_marker("%(end)s")} AS marker_end,
                        {sql.tier_marker("%(before)s")} AS marker_before,
                        {sql.aum_on("c.id", "%(end)s")} AS aum_end,
                        {sql.aum_on("c.id", "%(before)s")} AS aum_before
                    FROM {sql.client} c
                    WHERE c.tenant_id = %(tenant)s
                    {sql.fence}
                ) x
                {sql.fence}
            ) y
        ) z
        GROUP BY z.owner_rm_id, z.branch_id
        """,  # noqa: S608  (table names from the models; values are parameters)
        params,
    )
    tallies.add_rows(rows)


def _tally_maturities(tallies: _Tallies, w: _Window, sql: _Sql) -> None:
    """The book's maturity alerts matured in the period at least 30 days before the
    figures' date, and what of each stayed: one statement."""
    rows = sql.fetch(
        f"""
        SELECT c.owner_rm_id AS staff_key, c.branch_id AS branch_key,
            SUM(m.amount) AS matured,
            SUM({sql.least}(m.amount, {sql.greatest}(0, m.aum_after - (m.aum_before - m.amount))))
                AS retained
        FROM (
            SELECT p.client_id, {sql.cents("p.amount_cny")} AS amount,
                {sql.aum_on("p.client_id", sql.add_days("p.source_date", RETENTION_DAYS))}
                    AS aum_after,
                {sql.aum_on("p.client_id", sql.add_days("p.source_date", -1))} AS aum_before
            FROM {sql.contact} p
            LEFT JOIN {sql.holding} h ON h.tenant_id = %(tenant)s AND h.id = p.holding_id
            WHERE p.tenant_id = %(tenant)s AND p.reason = %(maturity)s
              AND p.amount_cny IS NOT NULL
              AND p.source_date >= %(start)s AND p.source_date <= %(matured_by)s
              AND (h.id IS NULL OR h.matures_on = p.source_date)
        ) m
        JOIN {sql.client} c ON c.tenant_id = %(tenant)s AND c.id = m.client_id
        GROUP BY c.owner_rm_id, c.branch_id
        """,  # noqa: S608  (as above)
        {
            "tenant": current_tenant_id(),
            "maturity": PlannedContact.Reason.MATURITY.value,
            "start": w.start,
            "matured_by": w.matured_by,
        },
    )
    tallies.add_rows(rows)


# --- The ORM's grouped reads --------------------------------------------------------------


def _tally_results(tallies: _Tallies, w: _Window) -> None:
    """Tier upgrades, sales won (and of those, joint sales) and sales credited."""
    upgrades = (
        TierChange.objects.filter(w.days("effective_on"), to_tier__isnull=False)
        .alias(from_rank=_rank("from_tier__rank"), to_rank=_rank("to_tier__rank"))
        .filter(to_rank__gt=F("from_rank"))
    )
    tallies.add_rows(
        _grouped(upgrades, staff="client__owner_rm", branch="client__branch", upgrades=Count("pk"))
    )
    won = Opportunity.objects.filter(w.during("won_at"), status=Opportunity.Status.WON)
    tallies.add_rows(
        _grouped(
            won,
            staff="owner_rm",
            branch="client__branch",
            won_count=Count("pk"),
            won_cents=Sum(_cents("won_amount_cny")),
        )
    )
    credits = SaleCredit.objects.filter(w.days("credited_on"), staff__role=Role.RM)
    tallies.add_rows(
        _grouped(credits, staff="staff", branch="staff__branch", credited=Sum(_cents("amount_cny")))
    )
    joint = won.filter(owner_rm__role=Role.RM).filter(
        Exists(OpportunityAdvisor.objects.filter(opportunity=OuterRef("pk")))
        | Exists(
            SaleCredit.objects.filter(opportunity=OuterRef("pk"), role=SaleCredit.Role.SECONDARY)
        )
    )
    tallies.add_rows(
        _grouped(joint, staff="owner_rm", branch="owner_rm__branch", joint_sales=Count("pk"))
    )


def _rank(field: str) -> Coalesce:
    """A tier's rank, "no tier" ranking below every tier."""
    return Coalesce(F(field), Value(NO_RANK))


def _tally_contacts(tallies: _Tallies, w: _Window) -> None:
    """Adherence (due in the period, done by the due date) and the contacts overdue on
    the figures' date (due before it and not done by its end), by the RM assigned."""
    status = PlannedContact.Status
    due = Q(due_on__gte=w.start, due_on__lte=w.due_until)
    on_time = due & Q(status=status.DONE, completed_on__lte=F("due_on"))
    still_open = Q(status__in=OPEN_CONTACT) | Q(status=status.DONE, completed_at__gte=w.until)
    overdue = Q(due_on__lt=w.as_of) & still_open
    contacts = (
        PlannedContact.objects.exclude(status=status.CANCELLED)
        .filter(due | overdue)
        .alias(completed_on=TruncDate("completed_at", tzinfo=w.zone))
    )
    tallies.add_rows(
        _grouped(
            contacts,
            staff="assigned_to",
            branch="client__branch",
            due=Count("pk", filter=due),
            on_time=Count("pk", filter=on_time),
            overdue=Count("pk", filter=overdue),
        )
    )


def _tally_steps(tallies: _Tallies, w: _Window) -> None:
    """Per step: entries entered in the period (and of those, the ones that reached the
    next step by the figures' date), entries left in the period and their time, and the
    book's opportunities at each step on the figures' date."""
    entered, left = w.during("entered_at"), w.during("left_at")
    reached_next = StepEntry.objects.filter(
        opportunity=OuterRef("opportunity"), step=OuterRef("step") + 1, entered_at__lt=w.until
    )
    rows = (
        StepEntry.objects.filter(entered | left)
        .alias(reached=Exists(reached_next))
        .order_by()
        .values(
            staff_key=F("opportunity__owner_rm"),
            branch_key=F("opportunity__client__branch"),
            step_key=F("step"),
        )
        .annotate(
            entered=Count("pk", filter=entered),
            converted=Count("pk", filter=entered & Q(reached=True)),
            left=Count("pk", filter=left),
            duration=Sum(
                ExpressionWrapper(F("left_at") - F("entered_at"), output_field=DurationField()),
                filter=left,
            ),
        )
    )
    for row in rows:
        k = row["step_key"]
        tallies.add(
            row["staff_key"],
            row["branch_key"],
            {
                f"entered_{k}": row["entered"],
                f"converted_{k}": row["converted"],
                f"left_{k}": row["left"],
                f"seconds_{k}": Decimal(row["duration"].total_seconds()) if row["duration"] else 0,
            },
        )
    running = (
        Q(opportunity__lost_at__isnull=True) | Q(opportunity__lost_at__gte=w.until),
        Q(opportunity__completed_at__isnull=True) | Q(opportunity__completed_at__gte=w.until),
        Q(left_at__isnull=True) | Q(left_at__gte=w.until),
    )
    at_step = (
        StepEntry.objects.filter(*running, entered_at__lt=w.until)
        .order_by()
        .values(
            staff_key=F("opportunity__client__owner_rm"),
            branch_key=F("opportunity__client__branch"),
            step_key=F("step"),
        )
        .annotate(n=Count("pk"))
    )
    for row in at_step:
        tallies.add(row["staff_key"], row["branch_key"], {f"open_{row['step_key']}": row["n"]})


def _tally_staff_work(tallies: _Tallies, w: _Window, staff_by_user: Mapping[int, dict]) -> None:
    """What only staff have — time, interactions, plans updated, proposals, referrals —
    by the RM and the RM's branch."""
    logs = TimeLog.objects.filter(w.days("date"), staff__role=Role.RM)
    tallies.add_rows(
        _grouped(
            logs,
            staff="staff",
            branch="staff__branch",
            logged_hours=Sum("hours", output_field=SUM_FIELD),
            vip_hours=Sum("hours", filter=Q(kind=TimeLog.Kind.VIP_SERVICE), output_field=SUM_FIELD),
        )
    )
    interactions = Interaction.objects.filter(w.during("occurred_at"), staff__role=Role.RM)
    tallies.add_rows(
        _grouped(interactions, staff="staff", branch="staff__branch", interactions=Count("pk"))
    )
    proposals = Proposal.objects.filter(w.during("created_at"), created_by__role=Role.RM)
    tallies.add_rows(
        _grouped(proposals, staff="created_by", branch="created_by__branch", proposals=Count("pk"))
    )
    referrals = Referral.objects.filter(w.during("created_at"))
    tallies.add_rows(
        _grouped(
            referrals.filter(credited_to__role=Role.RM),
            staff="credited_to",
            branch="credited_to__branch",
            referrals_given=Count("pk"),
        )
    )
    tallies.add_rows(
        _grouped(
            referrals.filter(received_by__role=Role.RM),
            staff="received_by",
            branch="received_by__branch",
            referrals_received=Count("pk"),
        )
    )
    # Planned contacts made, rescheduled or cancelled by hand: the audit entries of
    # ``contact_plans.services`` (the nightly planning writes none), by their login.
    changes = (
        AuditEntry.objects.filter(
            w.during("at"),
            object_type=PLANNED_CONTACT_TYPE,
            action__in=[AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE],
            actor__isnull=False,
        )
        .order_by()
        .values("actor_id")
        .annotate(n=Count("pk"))
    )
    for row in changes:
        staff = staff_by_user.get(row["actor_id"])
        if staff is not None and staff["role"] == Role.RM:
            tallies.add(staff["id"], staff["branch_id"], {"plans_updated": row["n"]})


def _tally_feedback(tallies: _Tallies, w: _Window) -> None:
    surveys = SatisfactionSurvey.objects.filter(w.days("surveyed_on"))
    tallies.add_rows(
        _grouped(
            surveys,
            staff="staff",
            branch="client__branch",
            surveys=Count("pk"),
            survey_points=Sum("score"),
        )
    )
    complaints = Complaint.objects.filter(w.days("received_on"))
    tallies.add_rows(
        _grouped(complaints, staff="staff", branch="client__branch", complaints=Count("pk"))
    )


def _tally_capacity(tallies: _Tallies, w: _Window, shared: dict | None = None) -> None:
    """Unqualified VIPs and near-threshold clients (segmentation's lists), and each active
    RM's weighted book and capacity (``rm_loads``) — the clients as they stand, the same
    for every period taken as of one day: ``shared`` (the nightly job's, per day) keeps
    them for the next period instead of reading every client again."""
    key = ("capacity", current_tenant_id(), w.as_of)
    if shared is not None and key in shared:
        rows = shared[key]
    else:
        rows = _capacity_rows(w)
        if shared is not None:
            shared[key] = rows
    for staff_id, branch_id, components in rows:
        tallies.add(staff_id, branch_id, components)


def _capacity_rows(w: _Window) -> list[tuple[int | None, int | None, dict]]:
    bank = Actor(tenant_id=current_tenant_id(), role=Role.HEAD_OFFICE)
    policy = tiering_policy()
    unqualified = unqualified_filter(with_tiering_basis(Client.objects.all()), today=w.as_of)
    near = near_threshold_clients(actor=bank, policy=policy)
    rows = []
    for grouped in (
        _grouped(unqualified, staff="owner_rm", branch="branch", unqualified=Count("pk")),
        _grouped(near, staff="owner_rm", branch="branch", near=Count("pk")),
    ):
        for row in grouped:
            staff_id, branch_id = row.pop("staff_key"), row.pop("branch_key")
            rows.append((staff_id, branch_id, row))
    for load in rm_loads(actor=bank, policy=policy, today=w.as_of):
        rows.append(
            (
                load.staff.pk,
                load.staff.branch_id,
                {"weighted_book": load.weighted_book, "capacity": load.capacity},
            )
        )
    return rows


# --- From tallies to figures --------------------------------------------------------------


def _percent(part, whole) -> float | None:
    if not whole:
        return None
    ratio = Decimal(part) * HUNDRED / Decimal(whole)
    return float(ratio.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP))


def _money(cents) -> str:
    return f"{Decimal(cents) / HUNDRED:.2f}"


def _average(total, count, unit: Decimal = Decimal(1)) -> float | None:
    if not count:
        return None
    return float((Decimal(total) / unit / Decimal(count)).quantize(ONE_DECIMAL, ROUND_HALF_UP))


def _figures(t: Counter) -> dict[str, Any]:
    """Every metric of ``kpi.definitions`` from one scope's tally."""
    values: dict[str, Any] = {
        "vip_count": t["vip_end"],
        "vip_growth": t["vip_end"] - t["vip_before"],
        "book_aum_cny": _money(t["aum_end"]),
        "aum_growth_pct": _percent(t["aum_end"] - t["aum_before"], t["aum_before"]),
        "new_money_cny": _money(t["new_money"]),
        "sales_won_count": t["won_count"],
        "sales_won_cny": _money(t["won_cents"]),
        "sales_credited_cny": _money(t["credited"]),
        "tier_upgrades": t["upgrades"],
        "maturity_matured_cny": _money(t["matured"]),
        "maturity_retention_pct": _percent(t["retained"], t["matured"]),
        "adherence_pct": _percent(t["on_time"], t["due"]),
        "coverage_pct": _percent(t["covered"], t["vip_end"]),
        "overdue_count": t["overdue"],
        "vip_time_pct": _percent(t["vip_hours"], t["logged_hours"]),
        "interactions_logged": t["interactions"],
        "plans_updated": t["plans_updated"],
        "proposals_made": t["proposals"],
        "referrals_given": t["referrals_given"],
        "referrals_received": t["referrals_received"],
        "joint_sales": t["joint_sales"],
        "satisfaction_avg": _average(t["survey_points"], t["surveys"]),
        "surveys_count": t["surveys"],
        "complaints_count": t["complaints"],
        "hours_logged": float(Decimal(t["logged_hours"]).quantize(TWO_DECIMALS)),
        "unqualified_vips": t["unqualified"],
        "near_threshold": t["near"],
        "effective_service_ratio_pct": (
            float(load_ratio(Decimal(t["weighted_book"]), Decimal(t["capacity"])))
            if t["capacity"]
            else None
        ),
    }
    for k in STEPS[:-1]:
        values[f"conversion_{k}_pct"] = _percent(t[f"converted_{k}"], t[f"entered_{k}"])
    for k in STEPS:
        values[f"days_in_step_{k}"] = _average(t[f"seconds_{k}"], t[f"left_{k}"], SECONDS_PER_DAY)
        values[f"open_at_step_{k}"] = t[f"open_{k}"]
    return {metric.code: values[metric.code] for metric in definitions.METRICS}


# --- Scores -------------------------------------------------------------------------------


def _number(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _clamp(score: Decimal) -> Decimal:
    return min(HUNDRED, max(Decimal(0), score))


def _metric_scores(
    values: Mapping[Any, Mapping[str, Any]],
    groups: Iterable[list[Any]],
    positions: dict[Any, dict[str, list[int]]] | None = None,
) -> dict[Any, dict[str, Decimal]]:
    """Each scored metric's score 0–100 per key (an RM's or branch's), the ranked ones
    compared within each group of ``groups``; ``positions`` (when given) receives each
    key's position per ranked metric."""
    scores: dict[Any, dict[str, Decimal]] = {key: {} for key in values}
    for metric in definitions.METRICS:
        if metric.scoring is None:
            continue
        if metric.scoring in ("rank", "inverse_rank"):
            for group in groups:
                _rank_scores(metric, group, values, scores, positions)
            continue
        for key, figures in values.items():
            value = _number(figures[metric.code])
            if value is None:
                continue
            if metric.scoring == "percent":
                scores[key][metric.code] = _clamp(value)
            elif metric.scoring == "target":
                scores[key][metric.code] = _clamp(value * HUNDRED / Decimal(str(metric.target)))
            elif metric.scoring == "satisfaction":
                scores[key][metric.code] = _clamp((value - 1) / 4 * HUNDRED)
            else:
                raise ValueError(f"{metric.code}: unknown scoring {metric.scoring!r}")
    return scores


def _rank_scores(
    metric, group: list, values: Mapping, scores: dict, positions: dict | None = None
) -> None:
    """Best 100, worst 0, linear in position; ties share the better position; alone 100.
    ``positions[key][code]``: [keys with a strictly better value, keys with a value].
    Sorted once and bisected: n log n, for the bank's thousands of RMs."""
    ranked = {key: _number(values[key][metric.code]) for key in group}
    ranked = {key: value for key, value in ranked.items() if value is not None}
    if not ranked:
        return
    lower_is_better = metric.scoring == "inverse_rank"
    ordered = sorted(ranked.values())
    others = len(ranked) - 1
    for key, value in ranked.items():
        if lower_is_better:
            better = bisect.bisect_left(ordered, value)
        else:
            better = len(ordered) - bisect.bisect_right(ordered, value)
        scores[key][metric.code] = (
            HUNDRED if not others else HUNDRED * (others - better) / Decimal(others)
        )
        if positions is not None:
            positions[key][metric.code] = [better, len(ordered)]


def _scorecard(metric_scores: Mapping[str, Decimal], weights: ScorecardWeights) -> dict:
    """The dimensions' scores and the weighted total (floats, one decimal; None when
    nothing is scored), plus the exact total under ``_total``."""
    card: dict[str, Any] = {}
    weighted, weight_sum = Decimal(0), Decimal(0)
    for dimension in definitions.DIMENSIONS:
        scored = [
            metric_scores[metric.code]
            for metric in definitions.METRICS
            if metric.dimension == dimension and metric.code in metric_scores
        ]
        if not scored:
            card[dimension] = None
            continue
        score = sum(scored, Decimal(0)) / len(scored)
        card[dimension] = float(score.quantize(ONE_DECIMAL, ROUND_HALF_UP))
        weight = Decimal(getattr(weights, dimension))
        weighted += score * weight
        weight_sum += weight
    total = weighted / weight_sum if weight_sum else None
    card["total"] = None if total is None else float(total.quantize(ONE_DECIMAL, ROUND_HALF_UP))
    card["_total"] = None if total is None else total.quantize(TWO_DECIMALS, ROUND_HALF_UP)
    return card


def _ranks(scores: Mapping[Any, Decimal | None], groups: Iterable[list[Any]]) -> dict[Any, int]:
    """Competition ranks by score within each group: 1 = best, ties share the better
    rank (1, 1, 3); a key without a score has none."""
    ranks: dict[Any, int] = {}
    for group in groups:
        scored = [scores[key] for key in group if scores[key] is not None]
        for key in group:
            if scores[key] is not None:
                ranks[key] = 1 + sum(1 for other in scored if other > scores[key])
    return ranks


# --- The run ------------------------------------------------------------------------------


def kpi_snapshot_take(
    *,
    period: str,
    start: datetime.date,
    as_of: datetime.date | None = None,
    shared: dict | None = None,
) -> dict[str, int]:
    """Compute and store the current tenant's KPI snapshots of one period.

    ``period``: month, quarter or year; ``start``: its first day; ``as_of``: the
    figures' date (default: today, or the period's last day once it is over; a date
    past the period's end is its end). Implements the rules of this module's docstring
    in a fixed number of queries; returns the period's rows per scope (``rm``,
    ``branch``, ``tenant``), how many were ``written`` (new or changed) and how many
    ``removed`` (scopes gone since the last run). ``shared``: a dict kept across the
    periods of one night, so what does not depend on the period (the clients' loads as
    they stand) is read once. Raises ``ValueError`` for an unknown
    period, a ``start`` that does not begin one, or a period not begun by ``as_of``.
    """
    w = _window(period, start, as_of)
    with transaction.atomic():
        staff = list(
            StaffProfile.objects.order_by("pk").values(
                "id", "user_id", "branch_id", "role", "is_active"
            )
        )
        branches = list(Branch.objects.order_by("code", "pk").values("id", "parent_id"))
        weights = scorecard_weights()
        tallies = _Tallies()
        sql = _Sql()
        _tally_clients(tallies, w, sql)
        _tally_maturities(tallies, w, sql)
        _tally_results(tallies, w)
        _tally_contacts(tallies, w)
        _tally_steps(tallies, w)
        _tally_staff_work(tallies, w, {s["user_id"]: s for s in staff if s["user_id"]})
        _tally_feedback(tallies, w)
        _tally_capacity(tallies, w, shared)
        rows = _snapshot_rows(w, tallies, staff, branches, weights)
        return _rows_store(w, rows)


def _snapshot_rows(
    w: _Window, tallies: _Tallies, staff: list[dict], branches: list[dict], weights
) -> list[KpiSnapshot]:
    rms = [s for s in staff if s["role"] == Role.RM and s["is_active"]]
    children: dict[int | None, list[int]] = defaultdict(list)
    for branch in branches:
        children[branch["parent_id"]].append(branch["id"])
    branch_tallies = tallies.subtrees(children)

    rm_values = {rm["id"]: _figures(tallies.rm.get(rm["id"], Counter())) for rm in rms}
    rm_positions: dict[int, dict[str, list[int]]] = {key: {} for key in rm_values}
    rm_cards = _cards(rm_values, [list(rm_values)], weights, rm_positions)
    rm_groups: dict[int, list[int]] = defaultdict(list)
    for rm in rms:
        rm_groups[rm["branch_id"]].append(rm["id"])
    rm_ranks = _ranks({k: card["_total"] for k, card in rm_cards.items()}, rm_groups.values())

    branch_values = {b["id"]: _figures(branch_tallies.get(b["id"], Counter())) for b in branches}
    siblings = [group for group in children.values() if group]
    branch_cards = _cards(branch_values, siblings, weights)
    branch_ranks = _ranks({k: card["_total"] for k, card in branch_cards.items()}, siblings)

    base = {
        "period": w.period,
        "period_start": w.start,
        "period_end": w.end,
        "as_of": w.as_of,
    }
    rows = [
        _snapshot(
            base,
            scope=KpiSnapshot.Scope.RM,
            key=f"rm:{rm['id']}",
            staff_id=rm["id"],
            branch_id=rm["branch_id"],
            values=rm_values[rm["id"]],
            card=rm_cards[rm["id"]],
            rank=rm_ranks.get(rm["id"]),
            positions=rm_positions[rm["id"]],
            peers=len(rm_groups[rm["branch_id"]]),
        )
        for rm in rms
    ]
    rows += [
        _snapshot(
            base,
            scope=KpiSnapshot.Scope.BRANCH,
            key=f"branch:{branch['id']}",
            staff_id=None,
            branch_id=branch["id"],
            values=branch_values[branch["id"]],
            card=branch_cards[branch["id"]],
            rank=branch_ranks.get(branch["id"]),
        )
        for branch in branches
    ]
    rows.append(
        _snapshot(
            base,
            scope=KpiSnapshot.Scope.TENANT,
            key="tenant",
            staff_id=None,
            branch_id=None,
            values=_figures(tallies.tenant),
            card=None,
            rank=None,
        )
    )
    return rows


def _cards(
    values: dict, groups: list[list], weights: ScorecardWeights, positions: dict | None = None
) -> dict[Any, dict]:
    metric_scores = _metric_scores(values, groups, positions)
    return {key: _scorecard(metric_scores[key], weights) for key in values}


def _snapshot(
    base: dict,
    *,
    scope,
    key,
    staff_id,
    branch_id,
    values,
    card,
    rank,
    positions: dict | None = None,
    peers: int | None = None,
) -> KpiSnapshot:
    scores, total = {}, None
    if card is not None:
        total = card.pop("_total")
        scores = card
    return KpiSnapshot(
        **base,
        scope=scope,
        scope_key=key,
        staff_id=staff_id,
        branch_id=branch_id,
        values=values,
        scores=scores,
        score=total,
        rank_in_branch=rank,
        positions=positions or {},
        branch_peers=peers,
    )


SNAPSHOT_FIELDS = (
    "period_end",
    "as_of",
    "scope",
    "staff_id",
    "branch_id",
    "values",
    "scores",
    "score",
    "rank_in_branch",
    "positions",
    "branch_peers",
)


def _rows_store(w: _Window, rows: list[KpiSnapshot]) -> dict[str, int]:
    """Write the period's rows that are new or differ from the stored ones (one upsert),
    and delete the period's rows whose scope is gone; in the caller's transaction.

    A row whose figures are unchanged is left as it is — ``computed_at`` and
    ``updated_at`` included — so a re-run over unchanged data writes nothing and API
    readers following ``updated_since`` see only real changes.
    """
    stored = {
        row["scope_key"]: row
        for row in KpiSnapshot.objects.filter(period=w.period, period_start=w.start).values(
            "pk", "scope_key", *SNAPSHOT_FIELDS
        )
    }
    changed = [
        row
        for row in rows
        if row.scope_key not in stored
        or any(getattr(row, name) != stored[row.scope_key][name] for name in SNAPSHOT_FIELDS)
    ]
    now = timezone.now()
    for row in changed:
        row.computed_at = now
    KpiSnapshot.objects.bulk_create(
        changed,
        update_conflicts=True,
        unique_fields=["tenant", "period", "period_start", "scope_key"],
        # ``get_field`` takes the foreign keys' attnames (``staff_id``) as their names.
        update_fields=[*SNAPSHOT_FIELDS, "computed_at", "updated_at"],
    )
    keys = {row.scope_key for row in rows}
    gone = [row["pk"] for key, row in stored.items() if key not in keys]
    removed = KpiSnapshot.objects.filter(pk__in=gone).delete()[0] if gone else 0
    scopes = Counter(row.scope for row in rows)
    return {
        "rm": scopes[KpiSnapshot.Scope.RM],
        "branch": scopes[KpiSnapshot.Scope.BRANCH],
        "tenant": scopes[KpiSnapshot.Scope.TENANT],
        "written": len(changed),
        "removed": removed,
    }


def kpi_snapshot_job(*, run_date: datetime.date) -> dict[str, int]:
    """Nightly job ``kpi.snapshot`` (order 40): the month, quarter and year containing
    ``run_date``, as of that date — and on a period's first day, first the period just
    ended, through its last day. Returns the rows of each period taken."""
    detail: dict[str, int] = {}
    shared: dict = {}
    for period in PERIODS:
        start, _end = period_bounds(period, run_date)
        taken = [(start, run_date)]
        if is_period_start(period, run_date):
            taken.insert(0, (previous_period_start(period, start), start - DAY))
        for first, as_of in taken:
            rows = kpi_snapshot_take(period=period, start=first, as_of=as_of, shared=shared)
            detail[f"{period}:{first.isoformat()}"] = rows["rm"] + rows["branch"] + rows["tenant"]
    return detail


# --- Scorecard weights --------------------------------------------------------------------


def scorecard_weights() -> ScorecardWeights:
    """The bank's weights; an unsaved row with the defaults when none is stored."""
    return ScorecardWeights.objects.first() or ScorecardWeights()


@transaction.atomic
def scorecard_weights_set(
    *,
    actor: Actor,
    results: int,
    process: int,
    tool_use: int,
    teamwork: int,
    feedback: int,
    request: HttpRequest | None = None,
) -> ScorecardWeights:
    """Set the bank's weights of the five dimensions (percent, summing to 100).

    Who: head office only (``PermissionDenied`` otherwise, tokens included). Refused with
    ``ValidationError``: a weight that is not a whole number from 0 to 100 (under its
    field), weights that do not add up to 100 (under ``__all__``); nothing is written.
    Audited with the weights before and after. The scores change at the next snapshot.
    """
    if actor is None or actor.staff is None or actor.role != Role.HEAD_OFFICE:
        raise PermissionDenied(_("Only head office sets the scorecard weights."))
    given = {
        "results": results,
        "process": process,
        "tool_use": tool_use,
        "teamwork": teamwork,
        "feedback": feedback,
    }
    errors: dict[str, Any] = {}
    clean: dict[str, int] = {}
    for name, value in given.items():
        percent = _whole_percent(value)
        if percent is None:
            errors[name] = _("Enter a whole number of percent from 0 to 100.")
        else:
            clean[name] = percent
    if not errors and sum(clean.values()) != 100:
        errors[NON_FIELD_ERRORS] = _(
            "The weights add up to %(sum)s%%; they must add up to 100%%."
        ) % {"sum": sum(clean.values())}
    if errors:
        raise ValidationError(errors)
    weights = ScorecardWeights.objects.select_for_update().first() or ScorecardWeights()
    created = weights.pk is None
    before = {name: getattr(weights, name) for name in WEIGHT_FIELDS}
    for name, value in clean.items():
        setattr(weights, name, value)
    weights.save()
    # With a request the entry names its user and address; without one, the actor's login.
    user = None if request is not None else getattr(actor.staff, "user", None)
    audit_record(
        action=AuditEntry.Action.CREATE if created else AuditEntry.Action.UPDATE,
        request=request,
        user=user,
        obj=weights,
        detail={name: [before[name], clean[name]] for name in WEIGHT_FIELDS},
    )
    return weights


def _whole_percent(value: Any) -> int | None:
    """``value`` as a whole number from 0 to 100 (an int, or its digits as text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            return None
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= 100:
        return None
    return value
