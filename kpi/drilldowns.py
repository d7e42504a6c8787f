"""Drill-downs: the list of clients, contacts, opportunities… behind a figure.

Each ``drill`` code of ``kpi.definitions`` names a ``Drill``: the rows behind the
figures that point to it, for one scope (an RM, a branch with its sub-branches, the
bank) and period, as of the figures' date of the scope's snapshot — and the totals of
those rows, which are the figures themselves: the list's count, sum or ratio is the
number on the dashboard (``DrillList.totals``; the tests compare them with the rows the
snapshot job wrote).

The rules are those of ``kpi.services`` (read its docstring), row by row instead of
grouped:

- **the window**: the period's first day to the figures' date, both included, in the
  bank's time zone; timestamps as the range ``[local midnight of the first day, local
  midnight after the figures' date)``;
- **the scope**: figures about clients follow the client — an RM's book (``owner_rm``),
  a branch's clients homed in its subtree, the bank's all (``_clients``); figures
  about an RM's own work (contacts assigned, sales owned, step moves, surveys and
  complaints about them) follow the RM for an RM and the client's home branch for a
  branch (``_work``); what belongs to staff (time, credits, interactions, referrals,
  joint sales) follows the RM and the RM's branch, RMs only (``_staff``);
- a client's **tier on a day** is their current tier unless a tier change took effect
  after that day (then that change's ``from`` tier); their **AUM on a day** is their
  latest AUM snapshot on or before it (none: 0).

Every list is intersected with what the viewer may see (``vipcrm.roles.visible_to``)
on top of the scope: a supervisor drilling into an RM of their subtree sees the RM's
clients homed in that subtree. Lists are paged by the view (``WindowPaginator``); the
totals are one aggregate query.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    Count,
    DateField,
    DecimalField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Greatest, Least, Round, TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise, lazy
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from contact_plans.models import Interaction, PlannedContact
from contact_plans.services import tenant_zone
from customers.models import Client, Tier
from kpi.dashboards import KpiPeriod, KpiScope
from kpi.models import Complaint, KpiSnapshot, SatisfactionSurvey, TimeLog
from sales_pipeline.models import (
    Opportunity,
    OpportunityAdvisor,
    Referral,
    SaleCredit,
    Step,
    StepEntry,
)
from segmentation.models import AumSnapshot, ServiceStandard, TierChange
from segmentation.selectors import (
    NO_RANK,
    near_threshold_clients,
    unqualified_filter,
    with_tiering_basis,
)
from vipcrm.roles import Actor, Role, branch_subtree_ids, visible_to
from vipcrm.tenancy import current_tenant_id

ROW_COUNT = "rows"  # the totals' key for the number of rows listed
RETENTION_DAYS = 30
DAY = datetime.timedelta(days=1)
HUNDRED = Decimal(100)
ONE_DECIMAL = Decimal("0.1")
SECONDS_PER_DAY = Decimal(86400)
SUM_FIELD = DecimalField(max_digits=14, decimal_places=2)
OPEN_CONTACT = tuple(status.value for status in PlannedContact.OPEN)


# --- The window: scope, period, figures' date -------------------------------------------


@dataclass(frozen=True)
class DrillWindow:
    """One drill-down's scope, period and figures' date, in the bank's zone."""

    scope: KpiScope
    period: KpiPeriod
    as_of: datetime.date
    zone: ZoneInfo
    subtree: tuple[int, ...] = ()
    # The branch path the viewer's own scope already limits to ``subtree`` (a supervisor
    # looking at their own branch: ``vipcrm.roles.visible_to`` filters the rows on it),
    # so the window does not filter on it a second time — the same condition twice makes
    # PostgreSQL think a tenth of the branch's rows match, and plan for that.
    secured_branch: str | None = None

    def instant(self, day: datetime.date) -> datetime.datetime:
        return datetime.datetime.combine(day, datetime.time.min, tzinfo=self.zone)

    @property
    def start(self) -> datetime.date:
        return self.period.start

    @property
    def before(self) -> datetime.date:
        return self.period.start - DAY

    @property
    def since(self) -> datetime.datetime:
        return self.instant(self.period.start)

    @property
    def until(self) -> datetime.datetime:
        return self.instant(self.as_of + DAY)

    @property
    def due_until(self) -> datetime.date:
        """Adherence counts due dates up to the day before the figures' date while the
        period runs (a contact due today is not late yet), to its last day once over."""
        return self.as_of if self.as_of == self.period.end else self.as_of - DAY

    @property
    def matured_by(self) -> datetime.date:
        return self.as_of - RETENTION_DAYS * DAY

    def during(self, field_name: str) -> Q:
        return Q(**{f"{field_name}__gte": self.since, f"{field_name}__lt": self.until})

    def days(self, field_name: str) -> Q:
        return Q(**{f"{field_name}__gte": self.start, f"{field_name}__lte": self.as_of})

    def local(self, moment: datetime.datetime | None) -> datetime.datetime | None:
        return None if moment is None else timezone.localtime(moment, self.zone)


def _path(prefix: str, name: str) -> str:
    return f"{prefix}__{name}" if prefix else name


def _clients(w: DrillWindow, client: str = "", *, outermost: bool = False) -> Q:
    """Figures about clients: the RM's book, the branch subtree's clients, all.
    ``outermost``: the condition filters the listed rows themselves (not a part of an OR,
    an annotation or a sub-query), so it may leave to the viewer's scope a branch
    condition that scope applies already (``DrillWindow.secured_branch``)."""
    if w.scope.kind == KpiSnapshot.Scope.RM:
        return Q(**{_path(client, "owner_rm"): w.scope.staff.pk})
    if w.scope.kind == KpiSnapshot.Scope.BRANCH:
        return _in_subtree(w, _path(client, "branch"), outermost)
    return Q()


def _in_subtree(w: DrillWindow, branch: str, outermost: bool = False) -> Q:
    if outermost and branch == w.secured_branch:
        return Q()
    return Q(**{f"{branch}__in": w.subtree})


def _work(w: DrillWindow, staff: str, client: str, *, outermost: bool = False) -> Q:
    """Figures about an RM's own work: theirs for an RM, by the client's home branch for
    a branch, all for the bank (``outermost``: as ``_clients``)."""
    if w.scope.kind == KpiSnapshot.Scope.RM:
        return Q(**{staff: w.scope.staff.pk})
    if w.scope.kind == KpiSnapshot.Scope.BRANCH:
        return _in_subtree(w, f"{client}__branch", outermost)
    return Q()


def _staff(w: DrillWindow, staff: str) -> Q:
    """What belongs to staff: the RM's, the RMs' of the branch subtree, every RM's."""
    q = Q(**{f"{staff}__role": Role.RM})
    if w.scope.kind == KpiSnapshot.Scope.RM:
        return q & Q(**{staff: w.scope.staff.pk})
    if w.scope.kind == KpiSnapshot.Scope.BRANCH:
        return q & Q(**{f"{staff}__branch__in": w.subtree})
    return q


# --- SQL pieces -------------------------------------------------------------------------


class AddDays(Func):
    """``date + days`` as a date, on PostgreSQL and SQLite alike."""

    output_field = DateField()

    def __init__(self, expression, days: int):
        self.days = int(days)
        super().__init__(expression)

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler, connection, template=f"(%(expressions)s + {self.days:d})", **extra_context
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            template=f"date(%(expressions)s, '{self.days:+d} days')",
            **extra_context,
        )


def _cents(expression) -> Cast:
    """An amount in whole cents: sums of it are exact on SQLite too."""
    return Cast(
        Round(ExpressionWrapper(expression * Value(100), output_field=SUM_FIELD)),
        BigIntegerField(),
    )


def _aum_cents_on(client: str, day) -> Coalesce:
    """The client's AUM in cents on ``day`` (a date or a date expression): the latest
    snapshot on or before it, 0 without one."""
    snapshots = AumSnapshot.objects.filter(client=OuterRef(client), date__lte=day).order_by("-date")
    return Coalesce(
        Subquery(snapshots.values(cents=_cents(F("aum_cny")))[:1]),
        Value(0),
        output_field=BigIntegerField(),
    )


def _tier_on(day: datetime.date) -> Case:
    """The client's tier id on ``day`` (NULL: no tier)."""
    later = TierChange.objects.filter(client=OuterRef("pk"), effective_on__gt=day).order_by(
        "effective_on", "pk"
    )
    return Case(
        When(~Exists(later), then=F("tier_id")),
        default=Subquery(later.values("from_tier_id")[:1]),
        output_field=IntegerField(),
    )


def _money(cents: int | None) -> str:
    return f"{Decimal(cents or 0) / HUNDRED:.2f}"


def _percent(part, whole) -> float | None:
    if not whole:
        return None
    ratio = Decimal(part or 0) * HUNDRED / Decimal(whole)
    return float(ratio.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP))


def _average(total, count, unit: Decimal = Decimal(1)) -> float | None:
    if not count:
        return None
    return float((Decimal(total or 0) / unit / Decimal(count)).quantize(ONE_DECIMAL, ROUND_HALF_UP))


# --- Columns: what a row shows ----------------------------------------------------------

TEXT, MONEY, DATE, DATETIME, NUMBER, FLAG, HOURS = (
    "text",
    "money",
    "date",
    "datetime",
    "number",
    "flag",
    "hours",
)
NUMERIC = (MONEY, NUMBER, HOURS)  # right-aligned


@dataclass(frozen=True)
class Column:
    label: Promise
    value: Callable[[Any, DrillWindow], Any]
    kind: str = TEXT
    link: Callable[[Any], str] | None = None


@dataclass(frozen=True)
class Cell:
    value: Any
    kind: str
    url: str = ""

    @property
    def text(self) -> str:
        value = self.value
        if value is None or value == "":
            return "—"
        if self.kind == MONEY:
            return f"{Decimal(value) / HUNDRED if isinstance(value, int) else value:,.2f}"
        if self.kind == DATETIME:
            return value.strftime("%Y-%m-%d %H:%M")
        if self.kind == DATE:
            return value.isoformat()
        if self.kind == FLAG:
            return "✓" if value else ""
        if self.kind == HOURS:
            return f"{value:.2f}"
        return str(value)

    @property
    def html(self) -> str:
        """The cell as the page's table shows it (a link where the row has a page), built
        here rather than by the template: a page of 25 rows has some 250 cells."""
        css = f"kpidrill__{self.kind}{' num' if self.kind in NUMERIC else ''}"
        if self.url:
            return format_html('<td class="{}"><a href="{}">{}</a></td>', css, self.url, self.text)
        return format_html('<td class="{}">{}</td>', css, self.text)


def _client_url(client: Client) -> str:
    return reverse("customers:client-detail", args=[client.external_id])


def _opportunity_url(opportunity: Opportunity) -> str:
    return reverse("sales_pipeline:opportunity", args=[opportunity.pk])


def _name(staff) -> str:
    return f"{staff.name} ({staff.code})" if staff is not None else ""


def _client_columns(path: Callable[[Any], Client]) -> tuple[Column, ...]:
    return (
        Column(_("Customer number"), lambda r, w: path(r).external_id),
        Column(
            pgettext_lazy("person", "Name"),
            lambda r, w: path(r).name,
            link=lambda r: _client_url(path(r)),
        ),
    )


# --- Drills -----------------------------------------------------------------------------


def _counted(code: str) -> Callable[[QuerySet, DrillWindow], dict]:
    """Totals of a figure that is the number of rows listed."""

    def totals(rows: QuerySet, w: DrillWindow) -> dict:
        count = rows.count()
        return {ROW_COUNT: count, code: count}

    return totals


@dataclass(frozen=True)
class Drill:
    """The list behind the figures naming ``code`` as their drill."""

    code: str
    title: Promise
    description: Promise
    base: Callable[[DrillWindow], QuerySet]  # the rows the totals count
    totals: Callable[[QuerySet, DrillWindow], dict[str, Any]]  # metric code → value
    columns: tuple[Column, ...]
    ordering: tuple = ("pk",)
    listed: Callable[[QuerySet], QuerySet] = field(default=lambda rows: rows)
    display: Callable[[QuerySet, DrillWindow], QuerySet] = field(default=lambda rows, w: rows)

    def header(self) -> list[str]:
        return [str(column.label) for column in self.columns]

    def cells(self, row, w: DrillWindow) -> list[Cell]:
        return [
            Cell(column.value(row, w), column.kind, column.link(row) if column.link else "")
            for column in self.columns
        ]


# vip_clients: the book's clients, VIP or holding AUM on the figures' date.


def _book_clients(w: DrillWindow) -> QuerySet:
    return (
        Client.objects.filter(_clients(w, outermost=True))
        .select_related("owner_rm", "branch")
        .annotate(tier_end=_tier_on(w.as_of), aum_end=_aum_cents_on("pk", w.as_of))
    )


def _vip_base(w: DrillWindow) -> QuerySet:
    return _book_clients(w).filter(Q(tier_end__isnull=False) | Q(aum_end__gt=0))


def _vip_totals(rows: QuerySet, w: DrillWindow) -> dict:
    found = rows.aggregate(
        n=Count("pk"), vip=Count("pk", filter=Q(tier_end__isnull=False)), aum=Sum("aum_end")
    )
    return {ROW_COUNT: found["n"], "vip_count": found["vip"], "book_aum_cny": _money(found["aum"])}


def _with_tier_end(rows: QuerySet, w: DrillWindow) -> QuerySet:
    return rows.annotate(
        tier_end_name=Subquery(Tier.objects.filter(pk=OuterRef("tier_end")).values("name")[:1])
    )


_OWNER_AND_BRANCH = (
    Column(_("Owner RM"), lambda r, w: _name(r.owner_rm)),
    Column(_("Home branch"), lambda r, w: r.branch.name),
)

VIP_CLIENTS = Drill(
    code="vip_clients",
    title=_("VIP clients and book AUM"),
    description=_(
        "The clients of the book that have a VIP tier or AUM at the bank on the figures' "
        "date, the largest first."
    ),
    base=_vip_base,
    totals=_vip_totals,
    columns=(
        *_client_columns(lambda r: r),
        Column(_("Tier on the figures' date"), lambda r, w: r.tier_end_name or gettext("Not VIP")),
        Column(_("AUM on the figures' date (CNY)"), lambda r, w: r.aum_end, MONEY),
        *_OWNER_AND_BRANCH,
    ),
    ordering=(F("aum_end").desc(), "pk"),
    display=_with_tier_end,
)


# uncovered_clients: VIP clients on the figures' date without a contact within cadence.


def _covered(w: DrillWindow) -> Q:
    """A VIP client with an interaction from (figures' date − their tier's cadence) to
    the figures' date; a tier without a service standard has no cadence: not covered."""
    covered = Q(pk__in=[])
    for tier_id, cadence in ServiceStandard.objects.values_list("tier_id", "contact_cadence_days"):
        since = w.instant(w.as_of - cadence * DAY)
        recent = Interaction.objects.filter(
            client=OuterRef("pk"), occurred_at__lt=w.until, occurred_at__gte=since
        )
        covered |= Q(tier_end=tier_id) & Q(Exists(recent))
    return covered


def _vip_end_base(w: DrillWindow) -> QuerySet:
    return (
        _book_clients(w)
        .filter(tier_end__isnull=False)
        .alias(covered=ExpressionWrapper(_covered(w), output_field=BooleanField()))
    )


def _coverage_totals(rows: QuerySet, w: DrillWindow) -> dict:
    found = rows.aggregate(n=Count("pk"), n_covered=Count("pk", filter=Q(covered=True)))
    return {
        ROW_COUNT: found["n"] - found["n_covered"],
        "coverage_pct": _percent(found["n_covered"], found["n"]),
    }


def _with_last_contact(rows: QuerySet, w: DrillWindow) -> QuerySet:
    last = (
        Interaction.objects.filter(client=OuterRef("pk"), occurred_at__lt=w.until)
        .order_by()
        .values("client")
        .annotate(last=Max("occurred_at"))
        .values("last")
    )
    return _with_tier_end(rows, w).annotate(last_contact=Subquery(last))


UNCOVERED_CLIENTS = Drill(
    code="uncovered_clients",
    title=_("VIP clients not covered"),
    description=_(
        "VIP clients of the book on the figures' date without an interaction within their "
        "tier's contact cadence up to that day; the longest without contact first."
    ),
    base=_vip_end_base,
    totals=_coverage_totals,
    listed=lambda rows: rows.filter(covered=False),
    columns=(
        *_client_columns(lambda r: r),
        Column(_("Tier on the figures' date"), lambda r, w: r.tier_end_name),
        Column(_("Last interaction"), lambda r, w: w.local(r.last_contact), DATETIME),
        *_OWNER_AND_BRANCH,
    ),
    ordering=(F("last_contact").asc(nulls_first=True), "pk"),
    display=_with_last_contact,
)


# won_sales: won opportunities, the scope's credits, joint sales.


def _credits_in(w: DrillWindow) -> QuerySet:
    return SaleCredit.objects.filter(w.days("credited_on"), _staff(w, "staff"))


def _won_here(w: DrillWindow) -> Q:
    return Q(status=Opportunity.Status.WON) & w.during("won_at") & _work(w, "owner_rm", "client")


def _joint_here(w: DrillWindow) -> Q:
    teamed = Exists(OpportunityAdvisor.objects.filter(opportunity=OuterRef("pk"))) | Exists(
        SaleCredit.objects.filter(opportunity=OuterRef("pk"), role=SaleCredit.Role.SECONDARY)
    )
    return Q(status=Opportunity.Status.WON) & w.during("won_at") & _staff(w, "owner_rm") & teamed


def _won_base(w: DrillWindow) -> QuerySet:
    credited = (
        _credits_in(w)
        .filter(opportunity=OuterRef("pk"))
        .order_by()
        .values("opportunity")
        .annotate(cents=Sum(_cents(F("amount_cny"))))
        .values("cents")
    )
    return (
        Opportunity.objects.select_related("client", "owner_rm")
        .annotate(
            won_here=ExpressionWrapper(_won_here(w), output_field=BooleanField()),
            joint_here=ExpressionWrapper(_joint_here(w), output_field=BooleanField()),
            credited_here=Coalesce(Subquery(credited), Value(0), output_field=BigIntegerField()),
        )
        .filter(Q(won_here=True) | Q(joint_here=True) | Q(credited_here__gt=0))
    )


def _won_totals(rows: QuerySet, w: DrillWindow) -> dict:
    found = rows.aggregate(
        n=Count("pk"),
        won=Count("pk", filter=Q(won_here=True)),
        won_cents=Sum(_cents(F("won_amount_cny")), filter=Q(won_here=True)),
        credited=Sum("credited_here"),
        joint=Count("pk", filter=Q(joint_here=True)),
    )
    return {
        ROW_COUNT: found["n"],
        "sales_won_count": found["won"],
        "sales_won_cny": _money(found["won_cents"]),
        "sales_credited_cny": _money(found["credited"]),
        "joint_sales": found["joint"],
    }


WON_SALES = Drill(
    code="won_sales",
    title=_("Sales won and credited"),
    description=_(
        "Opportunities won in the period, those with sale credits of the period, and the "
        "joint sales; the latest win first."
    ),
    base=_won_base,
    totals=_won_totals,
    columns=(
        Column(_("Won on"), lambda r, w: w.local(r.won_at), DATETIME),
        *_client_columns(lambda r: r.client),
        Column(_("Opportunity"), lambda r, w: r.title, link=_opportunity_url),
        Column(_("Owner RM"), lambda r, w: _name(r.owner_rm)),
        Column(
            _("Amount won (CNY)"),
            lambda r, w: r.won_amount_cny if r.won_here else None,
            MONEY,
        ),
        Column(_("Credited in the scope (CNY)"), lambda r, w: r.credited_here, MONEY),
        Column(_("Joint sale"), lambda r, w: r.joint_here, FLAG),
    ),
    ordering=(F("won_at").desc(nulls_last=True), "-pk"),
)


# tier_upgrades: tier changes to a higher tier in the period.


def _upgrades_base(w: DrillWindow) -> QuerySet:
    return (
        TierChange.objects.filter(
            w.days("effective_on"), _clients(w, "client"), to_tier__isnull=False
        )
        .select_related("client", "client__owner_rm", "from_tier", "to_tier")
        .alias(
            from_rank=Coalesce(F("from_tier__rank"), Value(NO_RANK)),
            to_rank=Coalesce(F("to_tier__rank"), Value(NO_RANK)),
        )
        .filter(to_rank__gt=F("from_rank"))
    )


TIER_UPGRADES = Drill(
    code="tier_upgrades",
    title=_("Tier upgrades"),
    description=_("Tier changes of the book's clients effective in the period to a higher tier."),
    base=_upgrades_base,
    totals=_counted("tier_upgrades"),
    columns=(
        Column(_("Effective on"), lambda r, w: r.effective_on, DATE),
        *_client_columns(lambda r: r.client),
        Column(
            _("From tier"), lambda r, w: r.from_tier.name if r.from_tier else gettext("Not VIP")
        ),
        Column(_("To tier"), lambda r, w: r.to_tier.name),
        Column(_("Average daily AUM (CNY)"), lambda r, w: r.average_aum_cny, MONEY),
        Column(_("Owner RM"), lambda r, w: _name(r.client.owner_rm)),
    ),
    ordering=("-effective_on", "-pk"),
)


# maturities: maturity alerts matured in the period, 30 days gone, and what stayed.


def _maturities_base(w: DrillWindow) -> QuerySet:
    amount = _cents(F("amount_cny"))
    return (
        PlannedContact.objects.filter(
            _clients(w, "client"),
            reason=PlannedContact.Reason.MATURITY,
            amount_cny__isnull=False,
            source_date__gte=w.start,
            source_date__lte=w.matured_by,
        )
        .filter(Q(holding__isnull=True) | Q(holding__matures_on=F("source_date")))
        .select_related("client", "client__owner_rm", "holding__product")
        .annotate(
            amount_cents=amount,
            aum_before=_aum_cents_on("client", AddDays(OuterRef("source_date"), -1)),
            aum_after=_aum_cents_on("client", AddDays(OuterRef("source_date"), RETENTION_DAYS)),
        )
        .annotate(
            retained=Least(
                F("amount_cents"),
                Greatest(Value(0), F("aum_after") - (F("aum_before") - F("amount_cents"))),
                output_field=BigIntegerField(),
            )
        )
    )


def _maturities_totals(rows: QuerySet, w: DrillWindow) -> dict:
    found = rows.aggregate(
        n=Count("pk"), matured_cents=Sum("amount_cents"), retained_cents=Sum("retained")
    )
    return {
        ROW_COUNT: found["n"],
        "maturity_matured_cny": _money(found["matured_cents"]),
        "maturity_retention_pct": _percent(found["retained_cents"], found["matured_cents"]),
    }


MATURITIES = Drill(
    code="maturities",
    title=_("Maturities and what stayed"),
    description=_(
        "The book's maturity alerts whose maturity date is in the period and at least 30 days "
        "before the figures' date: the amount, the client's AUM the day before and 30 days "
        "after, and the part of the amount still at the bank."
    ),
    base=_maturities_base,
    totals=_maturities_totals,
    columns=(
        Column(_("Matured on"), lambda r, w: r.source_date, DATE),
        *_client_columns(lambda r: r.client),
        Column(_("Product"), lambda r, w: r.holding.product.name if r.holding else ""),
        Column(_("Amount (CNY)"), lambda r, w: r.amount_cents, MONEY),
        Column(_("AUM the day before (CNY)"), lambda r, w: r.aum_before, MONEY),
        Column(_("AUM 30 days after (CNY)"), lambda r, w: r.aum_after, MONEY),
        Column(_("Retained (CNY)"), lambda r, w: r.retained, MONEY),
        Column(_("Owner RM"), lambda r, w: _name(r.client.owner_rm)),
    ),
    ordering=("source_date", "pk"),
)


# contacts_due and overdue_contacts: the RM's planned contacts.


def _contacts(w: DrillWindow) -> QuerySet:
    return (
        PlannedContact.objects.exclude(status=PlannedContact.Status.CANCELLED)
        .filter(_work(w, "assigned_to", "client", outermost=True))
        .select_related("client", "assigned_to", "holding__product")
        .alias(completed_on=TruncDate("completed_at", tzinfo=w.zone))
    )


def _due_base(w: DrillWindow) -> QuerySet:
    on_time = Q(status=PlannedContact.Status.DONE, completed_on__lte=F("due_on"))
    return (
        _contacts(w)
        .filter(due_on__gte=w.start, due_on__lte=w.due_until)
        .annotate(on_time=ExpressionWrapper(on_time, output_field=BooleanField()))
    )


def _due_totals(rows: QuerySet, w: DrillWindow) -> dict:
    found = rows.aggregate(n=Count("pk"), n_on_time=Count("pk", filter=Q(on_time=True)))
    return {ROW_COUNT: found["n"], "adherence_pct": _percent(found["n_on_time"], found["n"])}


_CONTACT_COLUMNS = (
    Column(_("Due on"), lambda r, w: r.due_on, DATE),
    *_client_columns(lambda r: r.client),
    Column(_("Reason"), lambda r, w: r.get_reason_display()),
    Column(_("Status"), lambda r, w: r.get_status_display()),
    Column(
        _("Done on"), lambda r, w: w.local(r.completed_at).date() if r.completed_at else None, DATE
    ),
    Column(_("Assigned to"), lambda r, w: _name(r.assigned_to)),
)

CONTACTS_DUE = Drill(
    code="contacts_due",
    title=_("Planned contacts due"),
    description=_(
        "Planned contacts due in the period (while it runs: up to the day before the figures' "
        "date), cancelled ones excepted, and whether each was done by its due date."
    ),
    base=_due_base,
    totals=_due_totals,
    columns=(*_CONTACT_COLUMNS, Column(_("Done on time"), lambda r, w: r.on_time, FLAG)),
    ordering=("due_on", "pk"),
)


def _overdue_base(w: DrillWindow) -> QuerySet:
    still_open = Q(status__in=OPEN_CONTACT)
    if w.until <= timezone.now():
        # Figures of a past day: a contact done since was still open on it. (Figures of
        # today: nothing is done tomorrow yet — without that branch of the condition the
        # open contacts are found by their status and due date's index.)
        still_open |= Q(status=PlannedContact.Status.DONE, completed_at__gte=w.until)
    return _contacts(w).filter(still_open, due_on__lt=w.as_of)


OVERDUE_CONTACTS = Drill(
    code="overdue_contacts",
    title=_("Overdue contacts"),
    description=_(
        "Planned contacts due before the figures' date and still open on it, the oldest first."
    ),
    base=_overdue_base,
    totals=_counted("overdue_count"),
    columns=(
        *_CONTACT_COLUMNS[:1],
        Column(_("Days overdue"), lambda r, w: (w.as_of - r.due_on).days, NUMBER),
        *_CONTACT_COLUMNS[1:],
    ),
    ordering=("due_on", "pk"),
)


# time_logs: the hours logged.


def _time_base(w: DrillWindow) -> QuerySet:
    return TimeLog.objects.filter(w.days("date"), _staff(w, "staff")).select_related("staff")


def _time_totals(rows: QuerySet, w: DrillWindow) -> dict:
    found = rows.aggregate(
        n=Count("pk"),
        all_hours=Sum("hours", output_field=SUM_FIELD),
        vip_hours=Sum("hours", filter=Q(kind=TimeLog.Kind.VIP_SERVICE), output_field=SUM_FIELD),
    )
    hours = Decimal(found["all_hours"] or 0)
    return {
        ROW_COUNT: found["n"],
        "hours_logged": float(hours.quantize(Decimal("0.01"))),
        "vip_time_pct": _percent(found["vip_hours"], hours),
    }


TIME_LOGS = Drill(
    code="time_logs",
    title=_("Time logged"),
    description=_("Hours the RMs logged in the period, by day and kind of work."),
    base=_time_base,
    totals=_time_totals,
    columns=(
        Column(_("Date"), lambda r, w: r.date, DATE),
        Column(_("RM"), lambda r, w: _name(r.staff)),
        Column(_("Kind of work"), lambda r, w: r.get_kind_display()),
        Column(_("Hours"), lambda r, w: r.hours, HOURS),
    ),
    ordering=("-date", "staff__name", "kind", "pk"),
)


# step_1 … step_5: the pipeline's step entries.


def _step_base(step: int) -> Callable[[DrillWindow], QuerySet]:
    def base(w: DrillWindow) -> QuerySet:
        moved = _work(w, "opportunity__owner_rm", "opportunity__client")
        entered, left = w.during("entered_at"), w.during("left_at")
        open_on = (
            _clients(w, "opportunity__client")
            & Q(entered_at__lt=w.until)
            & (Q(left_at__isnull=True) | Q(left_at__gte=w.until))
            & (Q(opportunity__lost_at__isnull=True) | Q(opportunity__lost_at__gte=w.until))
            & (
                Q(opportunity__completed_at__isnull=True)
                | Q(opportunity__completed_at__gte=w.until)
            )
        )
        reached_next = StepEntry.objects.filter(
            opportunity=OuterRef("opportunity"), step=step + 1, entered_at__lt=w.until
        )
        return (
            StepEntry.objects.filter(step=step)
            .select_related("opportunity", "opportunity__client", "opportunity__owner_rm")
            .annotate(
                entered_here=ExpressionWrapper(moved & entered, output_field=BooleanField()),
                left_here=ExpressionWrapper(moved & left, output_field=BooleanField()),
                open_here=ExpressionWrapper(open_on, output_field=BooleanField()),
                reached=Exists(reached_next),
            )
            .filter(Q(entered_here=True) | Q(left_here=True) | Q(open_here=True))
        )

    return base


def _step_totals(step: int) -> Callable[[QuerySet, DrillWindow], dict]:
    def totals(rows: QuerySet, w: DrillWindow) -> dict:
        found = rows.aggregate(
            n=Count("pk"),
            entered=Count("pk", filter=Q(entered_here=True)),
            converted=Count("pk", filter=Q(entered_here=True, reached=True)),
            left=Count("pk", filter=Q(left_here=True)),
            duration=Sum(
                ExpressionWrapper(F("left_at") - F("entered_at"), output_field=DurationField()),
                filter=Q(left_here=True),
            ),
            open=Count("pk", filter=Q(open_here=True)),
        )
        seconds = Decimal(found["duration"].total_seconds()) if found["duration"] else 0
        figures = {
            ROW_COUNT: found["n"],
            f"days_in_step_{step}": _average(seconds, found["left"], SECONDS_PER_DAY),
            f"open_at_step_{step}": found["open"],
        }
        if step < 5:
            figures[f"conversion_{step}_pct"] = _percent(found["converted"], found["entered"])
        return figures

    return totals


def _days_in_step(entry: StepEntry) -> float | None:
    if entry.left_at is None:
        return None
    return round((entry.left_at - entry.entered_at).total_seconds() / 86400, 1)


def _step_title(step: int) -> str:
    return gettext("Step %(step)s: %(label)s") % {"step": step, "label": Step(step).label}


_step_title_lazy = lazy(_step_title, str)


def _step_drill(step: int) -> Drill:
    return Drill(
        code=f"step_{step}",
        title=_step_title_lazy(step),
        description=_(
            "Entries into this step of the five-step process: those entered in the period "
            "(and whether they reached the next step), those left in the period (and their "
            "days in the step), and the opportunities at this step on the figures' date."
        ),
        base=_step_base(step),
        totals=_step_totals(step),
        columns=(
            *_client_columns(lambda r: r.opportunity.client),
            Column(
                _("Opportunity"),
                lambda r, w: r.opportunity.title,
                link=lambda r: _opportunity_url(r.opportunity),
            ),
            Column(_("Owner RM"), lambda r, w: _name(r.opportunity.owner_rm)),
            Column(_("Entered"), lambda r, w: w.local(r.entered_at), DATETIME),
            Column(_("Left"), lambda r, w: w.local(r.left_at), DATETIME),
            Column(_("Days in the step"), lambda r, w: _days_in_step(r), NUMBER),
            Column(_("Reached the next step"), lambda r, w: r.reached, FLAG),
            Column(_("At this step on the figures' date"), lambda r, w: r.open_here, FLAG),
        ),
        ordering=("-entered_at", "-pk"),
    )


# interactions, referrals, surveys, complaints.

INTERACTIONS = Drill(
    code="interactions",
    title=_("Interactions logged"),
    description=_("Interactions the RMs logged, by their date in the period; the latest first."),
    base=lambda w: Interaction.objects.filter(
        w.during("occurred_at"), _staff(w, "staff")
    ).select_related("client", "staff"),
    totals=_counted("interactions_logged"),
    columns=(
        Column(_("When"), lambda r, w: w.local(r.occurred_at), DATETIME),
        *_client_columns(lambda r: r.client),
        Column(_("Channel"), lambda r, w: r.get_channel_display()),
        Column(_("Logged by"), lambda r, w: _name(r.staff)),
        Column(_("Summary"), lambda r, w: r.summary[:120]),
    ),
    ordering=("-occurred_at", "-pk"),
)


def _referrals_base(w: DrillWindow) -> QuerySet:
    given, received = _staff(w, "credited_to"), _staff(w, "received_by")
    return (
        Referral.objects.filter(w.during("created_at"))
        .select_related("referrer", "prospect", "credited_to", "received_by")
        .alias(
            is_given=ExpressionWrapper(given, output_field=BooleanField()),
            is_received=ExpressionWrapper(received, output_field=BooleanField()),
        )
        .filter(Q(is_given=True) | Q(is_received=True))
    )


def _referrals_totals(rows: QuerySet, w: DrillWindow) -> dict:
    found = rows.aggregate(
        n=Count("pk"),
        given=Count("pk", filter=Q(is_given=True)),
        received=Count("pk", filter=Q(is_received=True)),
    )
    return {
        ROW_COUNT: found["n"],
        "referrals_given": found["given"],
        "referrals_received": found["received"],
    }


REFERRALS = Drill(
    code="referrals",
    title=_("Referrals"),
    description=_(
        "Referrals made in the period: those credited to the scope's RMs (given) and the "
        "referred prospects they serve (received)."
    ),
    base=_referrals_base,
    totals=_referrals_totals,
    columns=(
        Column(_("Date"), lambda r, w: w.local(r.created_at).date(), DATE),
        Column(
            _("Referred by"), lambda r, w: r.referrer.name, link=lambda r: _client_url(r.referrer)
        ),
        Column(_("Prospect"), lambda r, w: r.prospect.name, link=lambda r: _client_url(r.prospect)),
        Column(_("Credited to"), lambda r, w: _name(r.credited_to)),
        Column(_("Prospect served by"), lambda r, w: _name(r.received_by)),
    ),
    ordering=("-created_at", "-pk"),
)


def _surveys_totals(rows: QuerySet, w: DrillWindow) -> dict:
    found = rows.aggregate(n=Count("pk"), points=Sum("score"))
    return {
        ROW_COUNT: found["n"],
        "surveys_count": found["n"],
        "satisfaction_avg": _average(found["points"], found["n"]),
    }


SURVEYS = Drill(
    code="surveys",
    title=_("Satisfaction surveys"),
    description=_("Surveys rating the RMs in the period; the latest first."),
    base=lambda w: SatisfactionSurvey.objects.filter(
        w.days("surveyed_on"), _work(w, "staff", "client")
    ).select_related("client", "staff"),
    totals=_surveys_totals,
    columns=(
        Column(_("Surveyed on"), lambda r, w: r.surveyed_on, DATE),
        *_client_columns(lambda r: r.client),
        Column(_("RM rated"), lambda r, w: _name(r.staff)),
        Column(_("Score"), lambda r, w: r.score, NUMBER),
        Column(_("Channel"), lambda r, w: r.get_channel_display()),
        Column(_("Comment"), lambda r, w: r.comment[:120]),
    ),
    ordering=("-surveyed_on", "-pk"),
)

COMPLAINTS = Drill(
    code="complaints",
    title=_("Complaints"),
    description=_("Complaints concerning the RMs received in the period; the latest first."),
    base=lambda w: Complaint.objects.filter(
        w.days("received_on"), _work(w, "staff", "client")
    ).select_related("client", "staff"),
    totals=_counted("complaints_count"),
    columns=(
        Column(_("Received on"), lambda r, w: r.received_on, DATE),
        *_client_columns(lambda r: r.client),
        Column(_("Staff concerned"), lambda r, w: _name(r.staff)),
        Column(_("Category"), lambda r, w: r.get_category_display()),
        Column(_("Status"), lambda r, w: r.get_status_display()),
        Column(_("Resolved on"), lambda r, w: r.resolved_on, DATE),
    ),
    ordering=("-received_on", "-pk"),
)


# unqualified_vips and near_threshold: segmentation's lists, for the scope's book.

UNQUALIFIED_VIPS = Drill(
    code="unqualified_vips",
    title=_("Unqualified VIPs"),
    description=_(
        "Clients of the book whose tiering basis is below their tier's floor (or below the "
        "lowest floor), as segmentation lists them."
    ),
    base=lambda w: unqualified_filter(
        with_tiering_basis(Client.objects.filter(_clients(w))), today=w.as_of
    ).select_related("tier", "owner_rm", "branch"),
    totals=_counted("unqualified_vips"),
    columns=(
        *_client_columns(lambda r: r),
        Column(_("Tier"), lambda r, w: r.tier.name if r.tier else gettext("Not VIP")),
        Column(_("Tiering basis (CNY)"), lambda r, w: r.basis, MONEY),
        *_OWNER_AND_BRANCH,
    ),
    ordering=("basis", "pk"),
)


def _near_base(w: DrillWindow) -> QuerySet:
    # The list as the snapshot job reads it, bank-wide, narrowed to the scope's book
    # (``drill_list`` then intersects it with the viewer's scope, like every list).
    bank = Actor(tenant_id=current_tenant_id(), role=Role.HEAD_OFFICE)
    return near_threshold_clients(actor=bank).filter(_clients(w))


NEAR_THRESHOLD = Drill(
    code="near_threshold",
    title=_("Near-threshold clients"),
    description=_(
        "Clients of the book within the bank's band below the next tier's floor, as "
        "segmentation lists them; the closest first."
    ),
    base=_near_base,
    totals=_counted("near_threshold"),
    columns=(
        *_client_columns(lambda r: r),
        Column(_("Tier"), lambda r, w: r.tier.name if r.tier else gettext("Not VIP")),
        Column(_("Tiering basis (CNY)"), lambda r, w: r.basis, MONEY),
        Column(_("Missing to the next floor (CNY)"), lambda r, w: r.missing, MONEY),
        *_OWNER_AND_BRANCH,
    ),
    ordering=("missing", "pk"),
)

DRILLS: dict[str, Drill] = {
    drill.code: drill
    for drill in (
        VIP_CLIENTS,
        UNCOVERED_CLIENTS,
        WON_SALES,
        TIER_UPGRADES,
        MATURITIES,
        CONTACTS_DUE,
        OVERDUE_CONTACTS,
        TIME_LOGS,
        *(_step_drill(step) for step in (1, 2, 3, 4, 5)),
        INTERACTIONS,
        REFERRALS,
        SURVEYS,
        COMPLAINTS,
        UNQUALIFIED_VIPS,
        NEAR_THRESHOLD,
    )
}


# --- Reading a drill-down ---------------------------------------------------------------


def scope_snapshot(*, actor: Actor, scope: KpiScope, period: KpiPeriod) -> KpiSnapshot | None:
    """The scope's snapshot of the period, if the actor sees it (one query)."""
    return (
        visible_to(KpiSnapshot.objects.all(), actor)
        .filter(period=period.kind, period_start=period.start, scope_key=scope.key)
        .first()
    )


def figures_date(
    snapshot: KpiSnapshot | None, *, period: KpiPeriod, today: datetime.date
) -> datetime.date:
    """The snapshot's figures' date; without one, as the job would take it: today
    while the period runs, its last day once over (never before it begins)."""
    if snapshot is not None:
        return snapshot.as_of
    return max(period.start, min(period.end, today))


@contextlib.contextmanager
def one_process() -> Iterator[None]:
    """Plan the block's statements without parallel workers (PostgreSQL; inside the
    request's transaction). A page's aggregate over tens of thousands of rows — a city
    branch's overdue contacts hashed against its 100,000 clients — takes ~21 ms in one
    process and ~26 ms with two workers, whose start-up and gathering cost more than they
    save; and on a server answering many pages at once they take cores from the others."""
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather TO DEFAULT")


@dataclass
class DrillList:
    """A drill-down for one viewer: the rows the totals count, and those listed."""

    drill: Drill
    window: DrillWindow
    base: QuerySet

    @property
    def listed(self) -> QuerySet:
        """The rows the list shows (the totals may count more: coverage counts the
        covered clients too), unordered."""
        return self.drill.listed(self.base)

    @property
    def rows(self) -> QuerySet:
        """The listed rows, in their order, with what the columns show."""
        return self.drill.display(self.listed, self.window).order_by(*self.drill.ordering)

    def totals(self) -> dict[str, Any]:
        """``ROW_COUNT`` and every figure of the drill, from the rows (one query, planned
        without parallel workers: see ``one_process``)."""
        with one_process():
            return self.drill.totals(self.base, self.window)

    def cells(self, row) -> list[Cell]:
        return self.drill.cells(row, self.window)


def drill_list(
    *,
    actor: Actor,
    drill: Drill,
    scope: KpiScope,
    period: KpiPeriod,
    as_of: datetime.date,
    zone: ZoneInfo | None = None,
) -> DrillList:
    """The drill-down of ``scope`` (from ``kpi.dashboards.kpi_scope_for``: the actor may
    see its figures) for ``period`` as of ``as_of``, within what the actor may see.
    ``zone``: the bank's time zone, when the caller has it already."""
    subtree = (
        tuple(branch_subtree_ids(scope.branch.pk)) if scope.kind == KpiSnapshot.Scope.BRANCH else ()
    )
    window = DrillWindow(
        scope=scope,
        period=period,
        as_of=as_of,
        zone=zone or tenant_zone(current_tenant_id()),
        subtree=subtree,
    )
    if (
        scope.kind == KpiSnapshot.Scope.BRANCH
        and actor is not None
        and actor.role == Role.SUPERVISOR
        and scope.branch.pk == actor.staff.branch_id
    ):
        # ``visible_to`` limits the rows to the supervisor's subtree — this one — on the
        # model's branch path: the window need not (the building is lazy: no query).
        row_scope = getattr(drill.base(window).model, "row_scope", None)
        if row_scope is not None and row_scope.branch:
            window = replace(window, secured_branch=row_scope.branch)
    return DrillList(drill, window, visible_to(drill.base(window), actor))
