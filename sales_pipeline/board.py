"""Reads of the pipeline's pages: the board (one column per step), the client 360
section, the "My day" panel, an opportunity page's extras (its check-ins, referrals and
cross-sells, the client's allocation beside the proposal) and the honours board
(庆祝成功 / 荣誉榜).

Definitions (what the pages show, made exact):

- **On the board**: the opportunities the actor sees (``selectors.opportunity_list``)
  that are neither lost nor closed by their celebration — open ones at steps 1–3, won
  ones following up (4) or waiting for their celebration (5).
- **Amount** of an opportunity: the amount won once there is one, else the expected
  amount (none: 0 in a column's sum).
- **Days in step**: whole days since it entered its current step.
- **Requirement met**: the rule for leaving its step (``services.opportunity_move``)
  holds now: 1 a planned contact that is not cancelled; 2 a contact with the needs found
  (the linked one, else one of the client's logged since the opportunity was opened);
  3 the sale recorded — never on the board, the win moves it to 4; 4 every check-in
  done, at least one; 5 the celebration — recording it closes the opportunity, so never
  on the board either.
- **Closed this month**: celebrated (``completed_at``) or lost (``lost_at``) since the
  first of the month in the bank's time zone, in the board's scope and filters.
- **Honours board** of a branch (and its sub-branches) for a month: the celebrations
  of the month for clients homed there; the sale credits (``SaleCredit``) of the month
  on those clients' won opportunities, summed per person; the referrals made in the
  month by those clients, counted per credited RM. It is the branch's shared
  recognition, so it reaches past the row scope; a client's name (and the opportunity's
  title, which may carry it) shows only to those who see the opportunity.

Costs are fixed, whatever the number of rows: the board is three queries (the sums per
step, the first ``BOARD_CARDS`` cards of each column through a window function, the
month's closed ones), "My day" three, the honours board eight.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Cast, Coalesce, Concat, RowNumber
from django.utils.translation import gettext_lazy as _

from contact_plans.models import Interaction, PlannedContact
from customers import selectors as client_selectors
from customers.models import Client, ClientTeamMember, Product, Tier
from sales_pipeline.models import (
    Celebration,
    Opportunity,
    Proposal,
    Referral,
    SaleCredit,
    Step,
)
from sales_pipeline.selectors import client_opportunities, opportunity_list
from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import Actor, branch_subtree_ids

BOARD_CARDS = 50  # cards per column; the column's link lists them all
PANEL_ROWS = 5
SECTION_OPEN_ROWS = 20
SECTION_CLOSED_ROWS = 5
HONOURS_ROWS = 50
ZERO = Decimal("0")
MONEY_FIELD = DecimalField(max_digits=18, decimal_places=2)

Status = Opportunity.Status
ON_BOARD = ~Q(status=Status.LOST) & Q(completed_at__isnull=True)

# What leaving each step needs, in the words of a card (the opportunity page shows the
# checklist's own sentences).
NEXT_REQUIREMENT = {
    Step.PLAN: _("Plan the contact"),
    Step.CONTACT: _("Log the contact with the needs found"),
    Step.EXECUTE: _("Record the sale"),
    Step.FOLLOW_UP: _("Do the after-sales check-ins"),
    Step.CELEBRATE: _("Record the celebration"),
}
# Steps whose requirement is the opportunity page's own work (the sale, the
# celebration): their cards link there instead of offering a move.
WORK_ON_PAGE = (Step.EXECUTE, Step.CELEBRATE)


def amount_expression() -> Coalesce:
    return Coalesce("won_amount_cny", "expected_amount_cny", Value(ZERO), output_field=MONEY_FIELD)


def check_in_key_prefix(opportunity_id=None) -> Concat | str:
    """The start of the ``source_key`` of the check-ins the win plans
    (``opportunity:<id>:check_in:<days>``): for one opportunity, or as an expression
    for the opportunity of the outer query."""
    if opportunity_id is not None:
        return f"opportunity:{opportunity_id}:check_in:"
    return Concat(
        Value("opportunity:"),
        Cast(OuterRef("pk"), CharField()),
        Value(":check_in:"),
        output_field=CharField(),
    )


def _count(queryset: QuerySet) -> Coalesce:
    return Coalesce(
        Subquery(queryset.order_by().values("client").annotate(n=Count("pk")).values("n")[:1]),
        Value(0),
    )


def with_requirements(opportunities: QuerySet[Opportunity]) -> QuerySet[Opportunity]:
    """Each opportunity with ``requirement_met`` (see the module's definition), and what
    a card says about it: the linked planned contact and interaction, and the check-ins
    planned and done. Correlated subqueries: no query per opportunity."""
    contacts_with_needs = Interaction.objects.filter(
        client=OuterRef("client"), created_at__gte=OuterRef("created_at")
    ).exclude(needs_found=[])
    check_ins = PlannedContact.objects.filter(
        client=OuterRef("client"),
        reason=PlannedContact.Reason.FOLLOW_UP,
        source_key__startswith=check_in_key_prefix(),
    ).exclude(status=PlannedContact.Status.CANCELLED)
    cancelled = PlannedContact.Status.CANCELLED
    return (
        opportunities.select_related("planned_contact", "interaction")
        .annotate(
            needs_logged=Exists(contacts_with_needs.order_by()),
            check_ins_planned=_count(check_ins),
            check_ins_done=_count(check_ins.filter(status=PlannedContact.Status.DONE)),
        )
        .annotate(
            requirement_met=Case(
                When(
                    Q(step=Step.PLAN, planned_contact__isnull=False)
                    & ~Q(planned_contact__status=cancelled),
                    then=Value(True),
                ),
                When(
                    Q(step=Step.CONTACT, interaction__isnull=False)
                    & ~Q(interaction__needs_found=[]),
                    then=Value(True),
                ),
                When(Q(step=Step.CONTACT, needs_logged=True), then=Value(True)),
                When(
                    Q(step=Step.FOLLOW_UP, check_ins_planned__gt=0)
                    & Q(check_ins_done=F("check_ins_planned")),
                    then=Value(True),
                ),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
    )


def describe(opportunity: Opportunity, *, now: datetime.datetime) -> Opportunity:
    """Set what a card shows: ``amount``, ``days_in_step``, ``requirement`` and
    ``work_on_page`` (on an opportunity of ``with_requirements``)."""
    opportunity.amount = opportunity.won_amount_cny or opportunity.expected_amount_cny
    opportunity.days_in_step = max((now - opportunity.step_entered_at).days, 0)
    opportunity.requirement = NEXT_REQUIREMENT[opportunity.step]
    opportunity.work_on_page = opportunity.step in WORK_ON_PAGE
    return opportunity


# --- The board ----------------------------------------------------------------------


@dataclass(frozen=True)
class BoardFilters:
    """The board's filters, all optional (``forms.BoardFilterForm.filters``)."""

    branch: Branch | None = None
    owner_rm: StaffProfile | None = None
    tier: Tier | None = None
    source: str = ""
    min_days: int | None = None
    q: str = ""


def filtered(
    opportunities: QuerySet[Opportunity], *, filters: BoardFilters, now: datetime.datetime
) -> QuerySet[Opportunity]:
    if filters.branch is not None:
        opportunities = opportunities.filter(
            client__branch__in=branch_subtree_ids(filters.branch.pk)
        )
    if filters.owner_rm is not None:
        opportunities = opportunities.filter(owner_rm=filters.owner_rm)
    if filters.tier is not None:
        opportunities = opportunities.filter(client__tier=filters.tier)
    if filters.source:
        opportunities = opportunities.filter(source=filters.source)
    if filters.min_days:
        opportunities = opportunities.filter(
            step_entered_at__lte=now - datetime.timedelta(days=filters.min_days)
        )
    if filters.q:
        opportunities = opportunities.filter(
            Q(client__name__icontains=filters.q) | Q(client__external_id=filters.q)
        )
    return opportunities


def board_opportunities(
    *, actor: Actor, filters: BoardFilters = BoardFilters(), now: datetime.datetime
) -> QuerySet[Opportunity]:
    """The opportunities on the actor's board that pass ``filters``."""
    return filtered(opportunity_list(actor=actor).filter(ON_BOARD), filters=filters, now=now)


@dataclass
class BoardColumn:
    step: int
    label: str
    count: int = 0
    amount_cny: Decimal = ZERO
    cards: list[Opportunity] = field(default_factory=list)

    @property
    def more(self) -> int:
        """Cards of the column beyond those shown."""
        return self.count - len(self.cards)

    @property
    def requirement(self) -> str:
        return NEXT_REQUIREMENT[self.step]


@dataclass
class ClosedSummary:
    month_start: datetime.date
    celebrated_count: int
    celebrated_amount_cny: Decimal
    lost_count: int


@dataclass
class Board:
    columns: list[BoardColumn]
    closed: ClosedSummary

    @property
    def count(self) -> int:
        return sum(column.count for column in self.columns)

    @property
    def amount_cny(self) -> Decimal:
        return sum((column.amount_cny for column in self.columns), ZERO)


def step_totals(opportunities: QuerySet[Opportunity]) -> dict[int, tuple[int, Decimal]]:
    """``{step: (count, amount)}`` for every step, in one aggregate query."""
    amount = amount_expression()
    aggregates = {}
    for step in Step.values:
        aggregates[f"n{step}"] = Count("pk", filter=Q(step=step))
        aggregates[f"a{step}"] = Sum(amount, filter=Q(step=step), default=ZERO)
    row = opportunities.order_by().aggregate(**aggregates)
    return {step: (row[f"n{step}"], row[f"a{step}"]) for step in Step.values}


def board_cards(
    opportunities: QuerySet[Opportunity], *, now: datetime.datetime, limit: int = BOARD_CARDS
) -> dict[int, list[Opportunity]]:
    """The first ``limit`` cards of each step, the longest in their step first, in one
    query (``ROW_NUMBER()`` per step)."""
    ranked = (
        with_requirements(opportunities)
        .annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("step")],
                order_by=[F("step_entered_at").asc(), F("pk").asc()],
            )
        )
        .filter(position__lte=limit)
        .order_by("step", "position")
    )
    cards: dict[int, list[Opportunity]] = {step: [] for step in Step.values}
    for opportunity in ranked:
        cards[opportunity.step].append(describe(opportunity, now=now))
    return cards


def column_cards(opportunities: QuerySet[Opportunity], *, step: int) -> QuerySet[Opportunity]:
    """One column in full (its own page), the longest in the step first; the page
    describes the cards it shows (``describe``)."""
    return with_requirements(opportunities.filter(step=step)).order_by("step_entered_at", "pk")


def month_start_of(now: datetime.datetime) -> datetime.datetime:
    """Midnight of the first of ``now``'s month, in ``now``'s time zone."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def closed_summary(*, actor: Actor, filters: BoardFilters, now: datetime.datetime) -> ClosedSummary:
    """Celebrated and lost since the first of the month (``now`` in the bank's time
    zone), in the board's scope and filters but the days in step: one query."""
    start = month_start_of(now)
    celebrated = Q(completed_at__gte=start)
    lost = Q(status=Status.LOST, lost_at__gte=start)
    closed = filtered(
        opportunity_list(actor=actor).filter(celebrated | lost),
        filters=replace(filters, min_days=None),
        now=now,
    )
    row = closed.order_by().aggregate(
        celebrated=Count("pk", filter=celebrated),
        amount=Sum(amount_expression(), filter=celebrated, default=ZERO),
        lost=Count("pk", filter=lost),
    )
    return ClosedSummary(
        month_start=start.date(),
        celebrated_count=row["celebrated"],
        celebrated_amount_cny=row["amount"],
        lost_count=row["lost"],
    )


def pipeline_board(
    *, actor: Actor, filters: BoardFilters, now: datetime.datetime, limit: int = BOARD_CARDS
) -> Board:
    """The five columns with their counts, sums and first cards, and the month's
    closed ones: three queries."""
    opportunities = board_opportunities(actor=actor, filters=filters, now=now)
    totals = step_totals(opportunities)
    cards = board_cards(opportunities, now=now, limit=limit)
    columns = [
        BoardColumn(step, label, *totals[step], cards=cards[step]) for step, label in Step.choices
    ]
    return Board(columns=columns, closed=closed_summary(actor=actor, filters=filters, now=now))


def board_card(*, actor: Actor, pk: int, now: datetime.datetime) -> Opportunity | None:
    """One card (the answer to a refused move), None once it is off the actor's board."""
    card = with_requirements(board_opportunities(actor=actor, now=now).filter(pk=pk)).first()
    return describe(card, now=now) if card is not None else None


# --- "My day" -------------------------------------------------------------------------


@dataclass
class MyPipeline:
    columns: list[BoardColumn]  # counts and sums only
    ready_count: int
    waiting_count: int
    ready: list[Opportunity]  # the requirement is met: it may move on
    waiting: list[Opportunity]  # what is blocked, the longest in its step first

    @property
    def count(self) -> int:
        return sum(column.count for column in self.columns)


def my_pipeline(*, actor: Actor, now: datetime.datetime, limit: int = PANEL_ROWS) -> MyPipeline:
    """The actor's board in brief: per step, and the opportunities ready to move or
    waiting on their step's requirement. Three queries."""
    opportunities = with_requirements(board_opportunities(actor=actor, now=now))
    amount = amount_expression()
    aggregates = {
        "ready": Count("pk", filter=Q(requirement_met=True)),
        "waiting": Count("pk", filter=Q(requirement_met=False)),
    }
    for step in Step.values:
        aggregates[f"n{step}"] = Count("pk", filter=Q(step=step))
        aggregates[f"a{step}"] = Sum(amount, filter=Q(step=step), default=ZERO)
    row = opportunities.order_by().aggregate(**aggregates)
    oldest_first = opportunities.order_by("step_entered_at", "pk")
    return MyPipeline(
        columns=[
            BoardColumn(step, label, row[f"n{step}"], row[f"a{step}"])
            for step, label in Step.choices
        ],
        ready_count=row["ready"],
        waiting_count=row["waiting"],
        ready=[describe(o, now=now) for o in oldest_first.filter(requirement_met=True)[:limit]],
        waiting=[describe(o, now=now) for o in oldest_first.filter(requirement_met=False)[:limit]],
    )


# --- The client 360 section -----------------------------------------------------------


@dataclass
class ClientPipeline:
    open: list[Opportunity]
    closed: list[Opportunity]


def client_pipeline(*, client: Client, now: datetime.datetime) -> ClientPipeline:
    """The client's opportunities on a board (by step) and the latest closed ones
    (celebrated or lost): two queries. Whoever shows the client has checked they may."""
    opportunities = client_opportunities(client=client)
    current = with_requirements(opportunities.filter(ON_BOARD)).order_by(
        "step", "step_entered_at", "pk"
    )
    closed = opportunities.exclude(ON_BOARD).order_by("-updated_at", "-pk")
    return ClientPipeline(
        open=[describe(o, now=now) for o in current[:SECTION_OPEN_ROWS]],
        closed=list(closed[:SECTION_CLOSED_ROWS]),
    )


# --- The opportunity page -------------------------------------------------------------


def opportunity_check_ins(*, opportunity: Opportunity) -> list[PlannedContact]:
    """The after-sales check-ins planned by the win, the soonest first (cancelled ones
    too: the page says so), each with ``days_after`` the sale it was planned at (the
    key's last part: a rescheduled check-in keeps it)."""
    check_ins = list(
        PlannedContact.objects.filter(
            client_id=opportunity.client_id,
            reason=PlannedContact.Reason.FOLLOW_UP,
            source_key__startswith=check_in_key_prefix(opportunity.pk),
        )
        .select_related("assigned_to")
        .order_by("due_on", "pk")
    )
    for contact in check_ins:
        days = contact.source_key.rsplit(":", 1)[-1]
        contact.days_after = int(days) if days.isdigit() else None
    return check_ins


def opportunity_referrals(*, opportunity: Opportunity) -> list[Referral]:
    return list(
        Referral.objects.filter(opportunity=opportunity)
        .select_related("prospect", "credited_to", "prospect_opportunity")
        .order_by("-created_at", "-pk")
    )


def opportunity_cross_sells(*, opportunity: Opportunity) -> list[Opportunity]:
    return list(
        Opportunity.objects.filter(parent=opportunity)
        .select_related("owner_rm")
        .order_by("-created_at", "-pk")
    )


def opportunity_celebration(*, opportunity: Opportunity) -> Celebration | None:
    return Celebration.objects.filter(opportunity=opportunity).select_related("recorded_by").first()


def product_catalogue() -> list[Product]:
    """The bank's products, by category then risk level: what a proposal offers."""
    return list(Product.objects.order_by("category", "risk_level", "name", "pk"))


def client_team_staff(*, client: Client) -> list[StaffProfile]:
    """The people on the client's team: who may join an opportunity as advisors."""
    return [
        member.staff
        for member in ClientTeamMember.objects.filter(client=client)
        .select_related("staff")
        .order_by("role", "staff__name", "pk")
    ]


@dataclass
class AllocationRow:
    key: str
    label: str
    at_bank: bool
    current_cny: Decimal = ZERO
    current_share: Decimal | None = None  # of the whole wallet, 0–100
    proposed_cny: Decimal = ZERO
    proposed_share: Decimal | None = None  # of the proposal, 0–100


@dataclass
class ProposalAllocation:
    rows: list[AllocationRow]
    current_total_cny: Decimal
    held_away_total_cny: Decimal
    proposed_total_cny: Decimal
    unconverted: list[str]  # currencies held without an FX rate: out of the sums
    proposal: Proposal | None

    @property
    def wallet_total_cny(self) -> Decimal:
        return self.current_total_cny + self.held_away_total_cny


def _share(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part * 100 / whole).quantize(Decimal("0.1")) if whole > 0 else None


def proposal_allocation(
    *, client: Client, proposal: Proposal | None, on: datetime.date
) -> ProposalAllocation:
    """The client's wealth by product category (at the bank) and by kind (held away),
    beside ``proposal``'s mix by category. Three queries: holdings, FX rates, held-away
    assets; the proposal's lines come prefetched."""
    holdings = client_selectors.client_holdings(client=client, today=on)
    held_away = client_selectors.client_held_away_assets(client=client)
    rows: dict[str, AllocationRow] = {}
    for group in holdings.groups:
        rows[group.category] = AllocationRow(
            group.category, group.label, at_bank=True, current_cny=group.subtotal_cny
        )
    proposed_total = ZERO
    if proposal is not None:
        for line in proposal.lines.all():
            category = line.product.category
            row = rows.setdefault(
                category,
                AllocationRow(category, line.product.get_category_display(), at_bank=True),
            )
            row.proposed_cny += line.amount_cny
            proposed_total += line.amount_cny
    held_away_total = ZERO
    for asset in held_away:
        key = f"away-{asset.kind}"
        row = rows.setdefault(key, AllocationRow(key, asset.get_kind_display(), at_bank=False))
        row.current_cny += asset.amount_cny
        held_away_total += asset.amount_cny
    wallet = holdings.total_cny + held_away_total
    ordered = sorted(
        rows.values(), key=lambda r: (not r.at_bank, -(r.current_cny + r.proposed_cny), r.key)
    )
    for row in ordered:
        row.current_share = _share(row.current_cny, wallet)
        row.proposed_share = _share(row.proposed_cny, proposed_total)
    return ProposalAllocation(
        rows=ordered,
        current_total_cny=holdings.total_cny,
        held_away_total_cny=held_away_total,
        proposed_total_cny=proposed_total,
        unconverted=holdings.unconverted,
        proposal=proposal,
    )


# --- The honours board ------------------------------------------------------------------


@dataclass
class CreditRow:
    staff_id: int
    name: str
    code: str
    branch: str
    amount_cny: Decimal
    sales: int


@dataclass
class ReferralRow:
    staff_id: int
    name: str
    code: str
    branch: str
    referrals: int


@dataclass
class Honours:
    start: datetime.date
    end: datetime.date  # the last day of the month
    celebrated_count: int
    celebrated_amount_cny: Decimal
    celebrations: list[Celebration]  # each with ``team`` and ``visible``
    credits: list[CreditRow]
    referral_count: int
    referrals: list[ReferralRow]

    @property
    def departments(self) -> list[Celebration]:
        """The celebrations that thank supporting departments."""
        return [c for c in self.celebrations if c.departments or c.department_thanks]


def _team(opportunity: Opportunity) -> list[StaffProfile]:
    """The owner RM, the secondary RMs credited, then the advisors: each once."""
    people = [opportunity.owner_rm] if opportunity.owner_rm else []
    people += [credit.staff for credit in opportunity.credits.all()]
    people += list(opportunity.advisors.all())
    seen, team = set(), []
    for person in people:
        if person.pk not in seen:
            seen.add(person.pk)
            team.append(person)
    return team


def honours_board(
    *,
    actor: Actor,
    branch_ids: list[int] | None,
    start: datetime.datetime,
    end: datetime.datetime,
    limit: int = HONOURS_ROWS,
) -> Honours:
    """The honours board of the branches ``branch_ids`` (None: the whole bank) from
    ``start`` (midnight of the first of the month, bank's time zone) to ``end`` (that
    of the next month), excluded. Eight queries."""
    in_branches = Q() if branch_ids is None else Q(client__branch__in=branch_ids)
    celebrated = Opportunity.objects.filter(
        in_branches, completed_at__gte=start, completed_at__lt=end
    )
    totals = celebrated.order_by().aggregate(
        count=Count("pk"), amount=Sum(amount_expression(), default=ZERO)
    )
    celebrations = list(
        Celebration.objects.filter(opportunity__in=celebrated.values("pk"))
        .select_related("opportunity__client__tier", "opportunity__owner_rm", "recorded_by")
        .prefetch_related(
            "opportunity__advisors",
            Prefetch(
                "opportunity__credits",
                queryset=SaleCredit.objects.select_related("staff").order_by(
                    "-share_percent", "pk"
                ),
            ),
        )
        .order_by("-opportunity__completed_at", "-pk")[:limit]
    )
    visible = set(
        opportunity_list(actor=actor)
        .filter(pk__in=[c.opportunity_id for c in celebrations])
        .values_list("pk", flat=True)
    )
    for celebration in celebrations:
        opportunity = celebration.opportunity
        celebration.team = _team(opportunity)
        celebration.visible = opportunity.pk in visible
        opportunity.amount = opportunity.won_amount_cny or opportunity.expected_amount_cny

    credit_branches = Q() if branch_ids is None else Q(opportunity__client__branch__in=branch_ids)
    credits = (
        SaleCredit.objects.filter(
            credit_branches,
            opportunity__status=Status.WON,
            credited_on__gte=start.date(),
            credited_on__lt=end.date(),
        )
        .order_by()
        .values("staff", "staff__name", "staff__code", "staff__branch__name")
        .annotate(amount=Sum("amount_cny"), sales=Count("opportunity", distinct=True))
        .order_by("-amount", "staff__name", "staff")[:limit]
    )
    referral_branches = Q() if branch_ids is None else Q(referrer__branch__in=branch_ids)
    referred = Referral.objects.filter(referral_branches, created_at__gte=start, created_at__lt=end)
    referrals = (
        referred.order_by()
        .values(
            "credited_to", "credited_to__name", "credited_to__code", "credited_to__branch__name"
        )
        .annotate(n=Count("pk"))
        .order_by("-n", "credited_to__name", "credited_to")[:limit]
    )
    return Honours(
        start=start.date(),
        end=end.date() - datetime.timedelta(days=1),
        celebrated_count=totals["count"],
        celebrated_amount_cny=totals["amount"],
        celebrations=celebrations,
        referral_count=referred.count(),
        credits=[
            CreditRow(
                row["staff"],
                row["staff__name"],
                row["staff__code"],
                row["staff__branch__name"],
                row["amount"],
                row["sales"],
            )
            for row in credits
        ],
        referrals=[
            ReferralRow(
                row["credited_to"],
                row["credited_to__name"],
                row["credited_to__code"],
                row["credited_to__branch__name"],
                row["n"],
            )
            for row in referrals
        ],
    )
