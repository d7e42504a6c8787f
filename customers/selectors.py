"""Reads of clients, always through the actor's scope; identity data masked by role."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import (
    BooleanField,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone

from customers.models import (
    RISK_VALIDITY_DAYS,
    Client,
    ClientTeamMember,
    FxRate,
    HeldAwayAsset,
    Holding,
    LifeEvent,
    Need,
    Product,
    Relationship,
    RiskAssessment,
    Tier,
)
from customers.name_search import candidates_sql
from customers.validators import mask_id_number, mask_mobile
from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import Actor, Role, visible_to

CENT = Decimal("0.01")


def client_list(*, actor: Actor) -> QuerySet[Client]:
    """Clients the actor may see, each annotated ``identity_visible`` (see below)."""
    clients = visible_to(Client.objects.select_related("branch", "owner_rm", "tier"), actor)
    return with_identity_access(_rm_book_indexed(clients, actor), actor)


def _rm_book_indexed(clients: QuerySet[Client], actor: Actor | None) -> QuerySet[Client]:
    """An RM's clients, with an index path for PostgreSQL.

    ``visible_to`` limits an RM to ``owner_rm = me OR id IN (my team's clients)``: an OR
    with a subquery, which PostgreSQL can only evaluate row by row, so it scanned all a
    million clients of the bank for an RM's 700, twice per list page (the rows and the
    count: 0.8 s). The same condition, added as ``owner_rm = me OR id = ANY(ARRAY(my
    team's clients))``, is two index scans combined (a BitmapOr): a few milliseconds.
    The policy's own condition still applies; this one only gives the planner a path.
    """
    staff = getattr(actor, "staff", None)
    if staff is None or actor.role != Role.RM or connection.vendor != "postgresql":
        return clients
    from django.contrib.postgres.expressions import ArraySubquery

    team = ClientTeamMember.objects.filter(staff=staff).values("client_id")
    return clients.filter(Q(owner_rm=staff) | Q(_equals_any("pk", ArraySubquery(team))))


def _equals_any(column: str, array: Expression) -> Func:
    """``column = ANY(array)``: with an ``ARRAY(subquery)``, PostgreSQL computes the list
    once and can use an index on ``column`` (an ``IN (subquery)`` is a join, or under
    an OR a row-by-row filter)."""
    return Func(
        F(column),
        array,
        template="%(expressions)s)",
        arg_joiner=" = ANY(",
        output_field=BooleanField(),
    )


def with_identity_access(clients: QuerySet[Client], actor: Actor | None) -> QuerySet[Client]:
    """Annotate ``identity_visible``: only the owner RM and the client's team see the
    national ID and mobile in clear; supervisors, head office and integrations see them
    masked (the domain's confidentiality rule)."""
    staff = getattr(actor, "staff", None)
    if staff is None:
        return clients.annotate(identity_visible=Value(False, output_field=BooleanField()))
    on_team = ClientTeamMember.objects.filter(client=OuterRef("pk"), staff=staff)
    return clients.annotate(
        identity_visible=ExpressionWrapper(
            Q(owner_rm=staff) | Q(Exists(on_team)), output_field=BooleanField()
        )
    )


def client_identity(client: Client) -> dict[str, str]:
    """The client's national ID and mobile as this viewer may see them.

    ``client`` must come from ``client_list`` (it carries ``identity_visible``); a client
    from anywhere else is masked, which fails safe.
    """
    if getattr(client, "identity_visible", False):
        return {"id_number": client.id_number, "mobile": client.mobile}
    return {"id_number": mask_id_number(client.id_number), "mobile": mask_mobile(client.mobile)}


def book_overview(*, actor: Actor) -> dict | None:
    """The "My day" panel of clients: how many the actor serves, and the largest ones."""
    if actor.staff is None:
        return None
    clients = visible_to(Client.objects.all(), actor)
    context = {
        "client_count": clients.count(),
        "recent_clients": list(
            clients.select_related("branch", "owner_rm", "tier").order_by("-aum_cny", "id")[:8]
        ),
    }
    if actor.role == Role.RM:
        context["own_count"] = clients.filter(owner_rm=actor.staff).count()
    return context


# --- The client list: search, filters, sorting -----------------------------------------

# Sort keys of the client list → ORDER BY. Each ends in the primary key, so pages never
# overlap or skip rows, and each matches an index of ``Client`` (read forwards or
# backwards) so a page of a million-client tenant is an index range scan.
CLIENT_SORTS: dict[str, tuple] = {
    "name": ("name", "pk"),
    "-aum": ("-aum_cny", "pk"),
    "aum": ("aum_cny", "-pk"),
    "external_id": ("external_id",),
    "risk_assessed": (F("risk_assessed_on").asc(nulls_last=True), "pk"),
}
MOBILE_SUFFIX = re.compile(r"^\d{4}$")
MOBILE = re.compile(r"^1\d{10}$")
HAS_DIGIT = re.compile(r"\d")
# Names of one or two characters (a surname, or a surname and one more) are searched
# as a prefix, longer ones as "contains".
SHORT_NAME = 2
# Above every character: ``name >= q AND name < q + LAST_CHAR`` is the range of names
# that start with q (code point order: SQLite's BINARY, PostgreSQL's C collations).
LAST_CHAR = "\U0010ffff"


def client_search(
    *,
    actor: Actor,
    query: str = "",
    branch: Branch | None = None,
    owner_rm: StaffProfile | None = None,
    tier: Tier | None = None,
    risk_level: str = "",
    risk_expired: bool | None = None,
    is_entrepreneur: bool | None = None,
    maturing_within_days: int | None = None,
    sort: str = "name",
    today: datetime.date | None = None,
) -> QuerySet[Client]:
    """The actor's clients (``client_list``) narrowed by the list page's search and filters.

    ``query``: four digits are the last four of the mobile (the indexed generated
    column), eleven a whole mobile; other input with a digit is a customer number
    (exact); anything else a customer number or a name (prefix for one or two
    characters, else contains; ASCII letters in any case). ``branch`` includes its
    sub-branches. ``risk_expired``: True = never assessed or assessed 365+ days ago;
    False = a valid assessment.
    ``maturing_within_days``: clients with an active holding maturing from today to
    today + N days.
    """
    today = today or timezone.localdate()
    clients = client_list(actor=actor)
    query = query.strip()
    if query:
        # Under PostgreSQL's forced Row-Level Security only "leakproof" operators may use
        # an index before the tenant policy is checked: = < >= are, LIKE is not. So
        # exact and prefix matches are written as equalities and ranges (index scans),
        # "contains" as equalities on the names' bigrams (customers.name_search); LIKE
        # only re-checks the few rows they found.
        number = Q(external_id=query)
        if MOBILE_SUFFIX.match(query):
            clients = clients.filter(Q(mobile_last4=query) | number)
        elif MOBILE.match(query):
            clients = clients.filter(Q(mobile_last4=query[-4:], mobile=query) | number)
        elif HAS_DIGIT.search(query):
            clients = clients.filter(number)  # names have no digits: a customer number
        elif len(query) <= SHORT_NAME:
            in_range = Q(name__gte=query, name__lt=query + LAST_CHAR)
            clients = clients.filter(in_range | number).filter(Q(name__startswith=query) | number)
        else:
            clients = clients.filter(_name_contains(query) | number)
    if branch is not None:
        clients = clients.filter(_in_branch_subtree(branch))
    if owner_rm is not None:
        clients = clients.filter(owner_rm=owner_rm)
    if tier is not None:
        clients = clients.filter(tier=tier)
    if risk_level:
        clients = clients.filter(risk_level=risk_level)
    if risk_expired is not None:
        expired = (
            Q(risk_level="")
            | Q(risk_assessed_on__isnull=True)
            | Q(risk_assessed_on__lte=today - datetime.timedelta(days=RISK_VALIDITY_DAYS))
        )
        clients = clients.filter(expired if risk_expired else ~expired)
    if is_entrepreneur is not None:
        clients = clients.filter(is_entrepreneur=is_entrepreneur)
    if maturing_within_days is not None:
        maturing = Holding.objects.filter(
            client=OuterRef("pk"),
            status=Holding.Status.ACTIVE,
            matures_on__gte=today,
            matures_on__lte=today + datetime.timedelta(days=maturing_within_days),
        )
        clients = clients.filter(Exists(maturing))
    return clients.order_by(*CLIENT_SORTS.get(sort, CLIENT_SORTS["name"]))


def _in_branch_subtree(branch: Branch) -> Q:
    """Clients of the branch or a branch below it, in the list's own query.

    The subtree is a recursive subquery (``vipcrm.roles.branch_subtree_ids`` costs a
    query of its own); on PostgreSQL as ``branch_id = ANY(ARRAY(…))``, computed once and
    served by the (tenant, branch, name) index — as ``branch_id IN (…)`` the planner
    cannot tell how many branches it holds and scanned the clients (counting a city
    branch's 10,001 took 50 ms instead of 6).
    """
    table = connection.ops.quote_name(Branch._meta.db_table)
    # UNION, not UNION ALL: a cycle in the tree (refused by the sync) would still end.
    # Only the model's quoted table name is interpolated; the ids are parameters.
    subtree = (
        f"WITH RECURSIVE subtree(id) AS (SELECT id FROM {table} "  # noqa: S608
        "WHERE id = %s AND tenant_id = %s UNION "
        f"SELECT b.id FROM {table} b JOIN subtree s ON b.parent_id = s.id) "
        "SELECT id FROM subtree"
    )
    params = [branch.pk, branch.tenant_id]
    if connection.vendor == "postgresql":
        return Q(_equals_any("branch_id", RawSQL(f"ARRAY({subtree})", params)))  # noqa: S611
    return Q(branch__in=RawSQL(subtree, params))  # noqa: S611


def _name_contains(term: str) -> Q:
    """Names containing ``term`` (ASCII letters in any case): the candidates found by
    equality on the names' bigrams (customers.name_search), as ``pk = ANY(ARRAY(…))`` on
    PostgreSQL (computed once, then fetched by primary key), each name then checked."""
    matches = Q(name__icontains=term)
    candidates = candidates_sql(term)
    if candidates is None:
        return matches
    sql, params = candidates
    if connection.vendor == "postgresql":
        return Q(_equals_any("pk", RawSQL(f"ARRAY({sql})", params))) & matches  # noqa: S611
    return Q(pk__in=RawSQL(sql, params)) & matches  # noqa: S611


def client_filter_choices(*, actor: Actor) -> dict[str, QuerySet]:
    """What the list's filters offer: branches, owner RMs and tiers the actor may pick."""
    return {
        "branches": visible_to(Branch.objects.all(), actor).order_by("code"),
        # Owner RMs among the staff the actor may see (an RM sees only themself). Only
        # what an option shows: head office's list holds every RM of the bank.
        "owner_rms": visible_to(StaffProfile.objects.filter(role=Role.RM), actor)
        .order_by("name", "code")
        .only("pk", "name", "code"),
        "tiers": Tier.objects.order_by("-rank"),
    }


# --- The client 360 page -------------------------------------------------------------

MATURITY_NOTICE_DAYS = 30  # a holding maturing within this many days is flagged
RISK_EXPIRY_NOTICE_DAYS = 30  # an assessment expiring within this many days is flagged


def client_detail_queryset(*, actor: Actor) -> QuerySet[Client]:
    """``client_list`` with what the 360 page's header and profile show, in one query."""
    return client_list(actor=actor).select_related("company", "referrer")


def fx_rates_to_cny(*, currencies: set[str], on: datetime.date) -> dict[str, Decimal]:
    """The latest rate on or before ``on`` of each currency (CNY is 1), in one query."""
    rates = {"CNY": Decimal("1")}
    foreign = currencies - {"CNY"}
    if foreign:
        latest_date = (
            FxRate.objects.filter(currency=OuterRef("currency"), date__lte=on)
            .order_by("-date")
            .values("date")[:1]
        )
        rates.update(
            FxRate.objects.filter(currency__in=foreign, date=Subquery(latest_date)).values_list(
                "currency", "rate_to_cny"
            )
        )
    return rates


@dataclass
class HoldingGroup:
    category: str
    label: str
    holdings: list[Holding]
    subtotal_cny: Decimal


@dataclass
class HoldingsSummary:
    groups: list[HoldingGroup]  # active holdings by product category, largest first
    closed: list[Holding]
    total_cny: Decimal
    unconverted: list[str]  # currencies without an FX rate: their CNY value is unknown


def client_holdings(*, client: Client, today: datetime.date | None = None) -> HoldingsSummary:
    """The client's holdings grouped by product category, each valued in CNY.

    Two queries whatever the number of holdings: the holdings with their products, and
    the FX rates of their currencies. Each holding gets ``balance_cny`` (None without a
    rate) and ``matures_in_days`` (set when active and maturing within 30 days).
    """
    today = today or timezone.localdate()
    holdings = list(
        Holding.objects.filter(client=client)
        .select_related("product")
        .order_by("product__category", "matures_on", "external_id")
    )
    rates = fx_rates_to_cny(currencies={h.currency for h in holdings}, on=today)
    groups: dict[str, HoldingGroup] = {}
    closed, unconverted = [], set()
    for holding in holdings:
        rate = rates.get(holding.currency)
        holding.balance_cny = None if rate is None else (holding.balance * rate).quantize(CENT)
        holding.matures_in_days = None
        if holding.status == Holding.Status.CLOSED:
            closed.append(holding)
            continue
        if rate is None:
            unconverted.add(holding.currency)
        if holding.matures_on is not None:
            days = (holding.matures_on - today).days
            if 0 <= days <= MATURITY_NOTICE_DAYS:
                holding.matures_in_days = days
        category = holding.product.category
        group = groups.setdefault(
            category,
            HoldingGroup(category, holding.product.get_category_display(), [], Decimal("0")),
        )
        group.holdings.append(holding)
        group.subtotal_cny += holding.balance_cny or Decimal("0")
    ordered = sorted(groups.values(), key=lambda g: g.subtotal_cny, reverse=True)
    return HoldingsSummary(
        groups=ordered,
        closed=closed,
        total_cny=sum((g.subtotal_cny for g in ordered), Decimal("0")),
        unconverted=sorted(unconverted),
    )


def client_held_away_assets(*, client: Client) -> list[HeldAwayAsset]:
    return list(HeldAwayAsset.objects.filter(client=client).order_by("-amount_cny", "pk"))


@dataclass
class AllocationSlice:
    key: str
    label: str
    amount: Decimal
    at_bank: bool
    share: Decimal = Decimal("0")  # of the whole wallet, 0–100


@dataclass
class Allocation:
    slices: list[AllocationSlice]
    bank_total: Decimal
    held_away_total: Decimal
    share_of_wallet: Decimal | None  # AUM / (AUM + held-away), 0–100; None when both are 0


def client_allocation(
    *, client: Client, holdings: HoldingsSummary, held_away: list[HeldAwayAsset]
) -> Allocation:
    """Where the client's wealth sits: the bank's products by category, then what is
    held away by kind. The share of wallet uses the client's AUM (``aum_cny``)."""
    slices = [
        AllocationSlice(g.category, g.label, g.subtotal_cny, at_bank=True)
        for g in holdings.groups
        if g.subtotal_cny > 0
    ]
    away: dict[str, AllocationSlice] = {}
    for asset in held_away:
        slice_ = away.setdefault(
            asset.kind,
            AllocationSlice(
                f"away-{asset.kind}", asset.get_kind_display(), Decimal("0"), at_bank=False
            ),
        )
        slice_.amount += asset.amount_cny
    slices += sorted((s for s in away.values() if s.amount > 0), key=lambda s: -s.amount)
    whole = sum((s.amount for s in slices), Decimal("0"))
    for slice_ in slices:
        slice_.share = (slice_.amount * 100 / whole).quantize(Decimal("0.1")) if whole else 0
    held_away_total = sum((a.amount_cny for a in held_away), Decimal("0"))
    wallet = client.aum_cny + held_away_total
    share = (client.aum_cny * 100 / wallet).quantize(Decimal("0.1")) if wallet > 0 else None
    return Allocation(
        slices=slices,
        bank_total=holdings.total_cny,
        held_away_total=held_away_total,
        share_of_wallet=share,
    )


def client_risk_history(*, client: Client) -> list[RiskAssessment]:
    return list(RiskAssessment.objects.filter(client=client).order_by("-assessed_on"))


@dataclass
class RiskStatus:
    level: str
    level_label: str
    assessed_on: datetime.date | None
    expires_on: datetime.date | None
    state: str  # "missing", "expired", "expiring" (within 30 days) or "valid"
    days_left: int | None


def client_risk_status(*, client: Client, today: datetime.date | None = None) -> RiskStatus:
    today = today or timezone.localdate()
    expires = client.risk_expires_on
    if not client.risk_level or expires is None:
        state, days_left = "missing", None
    else:
        days_left = (expires - today).days
        if not client.risk_is_valid(today):
            state = "expired"
        elif days_left <= RISK_EXPIRY_NOTICE_DAYS:
            state = "expiring"
        else:
            state = "valid"
    return RiskStatus(
        level=client.risk_level,
        level_label=client.get_risk_level_display() if client.risk_level else "",
        assessed_on=client.risk_assessed_on,
        expires_on=expires,
        state=state,
        days_left=days_left,
    )


def client_needs(*, client: Client) -> dict[str, list[Need]]:
    needs = list(Need.objects.filter(client=client).order_by("-identified_on", "pk"))
    return {
        "open": [n for n in needs if n.is_open],
        "addressed": [n for n in needs if not n.is_open],
    }


def client_life_events(
    *, client: Client, today: datetime.date | None = None
) -> dict[str, list[LifeEvent]]:
    """Upcoming events soonest first, then past ones most recent first."""
    today = today or timezone.localdate()
    events = list(LifeEvent.objects.filter(client=client).order_by("occurs_on", "pk"))
    return {
        "upcoming": [e for e in events if e.occurs_on >= today],
        "past": [e for e in events if e.occurs_on < today][::-1],
    }


# How a relationship reads from the other side: A is B's child ⇔ B is A's parent.
INVERSE_KIND = {
    Relationship.Kind.CHILD: Relationship.Kind.PARENT,
    Relationship.Kind.PARENT: Relationship.Kind.CHILD,
}


@dataclass
class RelatedClient:
    relationship: Relationship
    other: Client
    kind: str
    kind_label: str
    is_household: bool
    visible: bool = False  # the viewer may open the other client's page


def client_relationships(*, client: Client) -> list[RelatedClient]:
    """Ties recorded on either side, read from ``client``'s point of view (one query)."""
    ties = Relationship.objects.filter(Q(client=client) | Q(related=client)).select_related(
        "client", "related"
    )
    found = []
    for tie in ties:
        if tie.client_id == client.pk:
            other, kind = tie.related, tie.kind
        else:
            other, kind = tie.client, INVERSE_KIND.get(tie.kind, tie.kind)
        found.append(
            RelatedClient(
                relationship=tie,
                other=other,
                kind=kind,
                kind_label=Relationship.Kind(kind).label,
                is_household=kind in Relationship.HOUSEHOLD,
            )
        )
    found.sort(key=lambda r: (not r.is_household, r.kind, r.other.name))
    return found


def client_referrals(*, client: Client, limit: int = 20) -> list[Client]:
    """Clients this client referred to the bank (newest first)."""
    return list(Client.objects.filter(referrer=client).order_by("-created_at", "-pk")[:limit])


def clients_visible_among(*, actor: Actor, ids: set[int]) -> set[int]:
    """Which of ``ids`` the actor may open: one query, for links to related clients."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return set()
    return set(visible_to(Client.objects.filter(pk__in=ids), actor).values_list("pk", flat=True))


def client_team(*, client: Client) -> dict[str, list[ClientTeamMember]]:
    members = list(
        ClientTeamMember.objects.filter(client=client)
        .select_related("staff", "staff__branch")
        .order_by("role", "-credit_share", "staff__name")
    )
    return {
        "secondary_rms": [m for m in members if m.role == ClientTeamMember.TeamRole.SECONDARY_RM],
        "advisors": [m for m in members if m.role == ClientTeamMember.TeamRole.ADVISOR],
    }


# --- Reading endpoints of the API ---------------------------------------------------


def client_api_list(*, actor: Actor) -> QuerySet[Client]:
    return client_list(actor=actor).select_related("company")


def holding_list(*, actor: Actor | None) -> QuerySet[Holding]:
    """Holdings of the clients the actor may see."""
    holdings = Holding.objects.select_related("client", "product")
    if actor is not None and actor.sees_whole_tenant:
        return holdings
    return holdings.filter(client__in=visible_to(Client.objects.all(), actor).values("pk"))


def product_list(*, actor: Actor | None) -> QuerySet[Product]:
    """The bank's product catalogue: reference data every member of the tenant sees."""
    return Product.objects.all() if actor is not None else Product.objects.none()


def fx_rate_list(*, actor: Actor | None) -> QuerySet[FxRate]:
    """The bank's FX rates: reference data every member of the tenant sees."""
    return FxRate.objects.all() if actor is not None else FxRate.objects.none()
