"""Reads of segmentation for supervisors: unqualified VIPs, near-threshold clients and
recent tier changes — always through the actor's scope.

The **tiering basis** of a client is ``ClientSegment.average_aum_cny`` (the average
daily AUM over the policy's window, written by the nightly re-tiering). A client the
nightly run has not evaluated yet (no segment row: a client synced today) is judged on
its current ``Client.aum_cny`` instead, so a new client shows up at once rather than
after the first night.

Floors are inclusive everywhere, as in the re-tiering rules: a basis exactly at a floor
reaches it; one cent below does not.
"""

from __future__ import annotations

import datetime

from django.db.models import (
    Case,
    CharField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Round
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import MONEY, Client, Tier
from customers.selectors import with_identity_access
from segmentation.models import TierChange, TieringPolicy, TierOverride
from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import Actor, Role, branch_subtree_ids, visible_to

MONEY_FIELD = DecimalField(**MONEY)
# Lower than any tier's rank (ranks are positive): "no tier" sorts and compares below all.
NO_RANK = -1


def tiering_policy() -> TieringPolicy:
    """The tenant's policy; an unsaved one with the spec's defaults when none is stored."""
    return TieringPolicy.objects.first() or TieringPolicy()


def _lowest_floor() -> Subquery:
    """The lowest tier's floor, as a subquery (NULL when the bank has no tiers)."""
    return Subquery(Tier.objects.order_by("aum_floor").values("aum_floor")[:1])


def _cents(amount) -> Round:
    """An amount in whole cents. Money columns have two decimals, so this is exact; on
    SQLite (floating-point arithmetic) it keeps boundary comparisons exact too."""
    return Round(ExpressionWrapper(amount * Value(100), output_field=MONEY_FIELD))


def _money_difference(minuend, subtrahend) -> Round:
    """``minuend − subtrahend`` to the cent (SQLite subtracts in floating point)."""
    return Round(
        ExpressionWrapper(minuend - subtrahend, output_field=MONEY_FIELD),
        2,
        output_field=MONEY_FIELD,
    )


def with_tiering_basis(clients: QuerySet[Client]) -> QuerySet[Client]:
    """Annotate ``basis`` (the tiering basis, see the module docstring),
    ``months_below_floor`` (0 without a segment row) and ``lowest_floor``.

    The segment is a LEFT JOIN on its one-per-client unique key, so rows never repeat.
    """
    return clients.annotate(
        basis=Coalesce(F("segments__average_aum_cny"), F("aum_cny"), output_field=MONEY_FIELD),
        months_below_floor=Coalesce(F("segments__months_below_floor"), Value(0)),
        lowest_floor=_lowest_floor(),
    )


# --- Unqualified VIPs ----------------------------------------------------------------


class UnqualifiedKind:
    """Why a client's place in an RM's book is no longer justified."""

    NOT_VIP = "not_vip"  # the basis is below the lowest floor: not a VIP at all
    BELOW_TIER = "below_tier"  # still a VIP, but below their own tier's floor (downgrade due)

    choices = [
        (NOT_VIP, _("Below every tier: not a VIP")),
        (BELOW_TIER, _("Below their tier's floor: downgrade pending")),
    ]


def _standing_override(today: datetime.date) -> Exists:
    return Exists(
        TierOverride.objects.filter(
            client=OuterRef("pk"), revoked_at__isnull=True, expires_on__gte=today
        )
    )


def unqualified_filter(clients: QuerySet[Client], *, today: datetime.date) -> QuerySet[Client]:
    """``clients`` (annotated by ``with_tiering_basis``) narrowed to unqualified VIPs.

    In an RM's book (``owner_rm`` set), and either below the lowest floor or below the
    floor of their current tier. A client whose tier a supervisor pinned (a standing,
    unexpired override) is justified by that decision and left out. A bank with no
    tiers configured has no VIPs, so nobody is listed.
    """
    below_lowest = Q(basis__lt=F("lowest_floor"))
    below_tier = Q(tier__isnull=False, basis__lt=F("tier__aum_floor"))
    return clients.filter(Q(owner_rm__isnull=False) & (below_lowest | below_tier)).exclude(
        _standing_override(today)
    )


UNQUALIFIED_SORTS: dict[str, tuple] = {
    "gap": (F("gap").desc(), "pk"),  # the furthest below their floor first
    "-gap": ("gap", "pk"),
    "basis": ("basis", "pk"),
    "-basis": (F("basis").desc(), "pk"),
    "name": ("name", "pk"),
    "rm": ("owner_rm__name", "name", "pk"),
    "months": (F("months_below_floor").desc(), F("gap").desc(), "pk"),
}


def _narrowed(clients: QuerySet[Client], *, branch, owner_rm, tier) -> QuerySet[Client]:
    """``clients`` narrowed by the list filters they share: a branch (with its subtree),
    an owner RM, a current tier; ``None`` leaves a filter off."""
    if branch is not None:
        clients = clients.filter(branch__in=branch_subtree_ids(branch.pk))
    if owner_rm is not None:
        clients = clients.filter(owner_rm=owner_rm)
    if tier is not None:
        clients = clients.filter(tier=tier)
    return clients


def unqualified_clients(
    *,
    actor: Actor,
    branch: Branch | None = None,
    owner_rm: StaffProfile | None = None,
    tier: Tier | None = None,
    kind: str = "",
    sort: str = "gap",
    today: datetime.date | None = None,
) -> QuerySet[Client]:
    """Unqualified VIPs in the actor's scope (supervisors: their branch subtree; head
    office: the tenant), with ``kind``, ``floor`` (the floor they fall short of: the
    lowest floor when not a VIP, their tier's floor otherwise) and ``gap`` (floor −
    basis, always positive). RMs and advisors get nothing: cleaning books is the
    supervisors' job.
    """
    if actor is None or actor.role not in (Role.SUPERVISOR, Role.HEAD_OFFICE):
        return Client.objects.none()
    today = today or timezone.localdate()
    clients = with_tiering_basis(
        visible_to(Client.objects.select_related("branch", "owner_rm", "tier"), actor)
    )
    clients = unqualified_filter(clients, today=today).annotate(
        kind=Case(
            When(basis__lt=F("lowest_floor"), then=Value(UnqualifiedKind.NOT_VIP)),
            default=Value(UnqualifiedKind.BELOW_TIER),
            output_field=CharField(),
        ),
        floor=Case(
            When(basis__lt=F("lowest_floor"), then=F("lowest_floor")),
            default=F("tier__aum_floor"),
            output_field=MONEY_FIELD,
        ),
    )
    clients = clients.annotate(gap=_money_difference(F("floor"), F("basis")))
    clients = _narrowed(clients, branch=branch, owner_rm=owner_rm, tier=tier)
    if kind == UnqualifiedKind.NOT_VIP:
        clients = clients.filter(basis__lt=F("lowest_floor"))
    elif kind == UnqualifiedKind.BELOW_TIER:
        clients = clients.filter(basis__gte=F("lowest_floor"))
    clients = with_identity_access(clients, actor)
    return clients.order_by(*UNQUALIFIED_SORTS.get(sort, UNQUALIFIED_SORTS["gap"]))


# --- Near-threshold clients ----------------------------------------------------------

NEAR_THRESHOLD_SORTS: dict[str, tuple] = {
    "gap": ("missing", "pk"),  # the closest to the next floor first
    "-gap": (F("missing").desc(), "pk"),
    "-basis": (F("basis").desc(), "pk"),
    "name": ("name", "pk"),
}


def near_threshold_clients(
    *,
    actor: Actor,
    branch: Branch | None = None,
    owner_rm: StaffProfile | None = None,
    tier: Tier | None = None,
    next_tier: Tier | None = None,
    sort: str = "gap",
    policy: TieringPolicy | None = None,
    tiers: list[Tier] | None = None,
) -> QuerySet[Client]:
    """Clients whose basis is within the policy's ``near_threshold_percent`` below the
    floor of their next tier — the upgrade conversations worth having.

    The next tier is the lowest-ranked tier above the client's current one (for a
    non-VIP: the lowest tier); a client of the top tier has none and is never listed.
    The band is ``floor × (100 − p)/100 ≤ basis < floor``, compared as
    ``basis × 100 ≥ floor × (100 − p)`` so no rounding of a percentage decides a
    boundary: with p = 10 and a floor of 500,000, a basis of 450,000.00 (exactly 10%
    below) is in and 449,950.00 (10.01% below) is out. Annotates ``next_tier_id``,
    ``next_floor`` and ``missing`` (next floor − basis).

    Scope: supervisors their branch subtree, head office the tenant, an RM the clients
    they own; advisors nothing. ``tiers``: the tenant's tiers when the caller has them
    already (else one query).
    """
    if actor is None or actor.role not in (Role.RM, Role.SUPERVISOR, Role.HEAD_OFFICE):
        return Client.objects.none()
    policy = policy or tiering_policy()
    tiers = tiers if tiers is not None else list(Tier.objects.all())
    clients = visible_to(Client.objects.select_related("branch", "owner_rm", "tier"), actor)
    if actor.role == Role.RM:
        clients = clients.filter(owner_rm=actor.staff)
    clients = with_tiering_basis(clients).annotate(**_next_tier_annotations(tiers))
    band = 100 - policy.near_threshold_percent
    clients = (
        clients.annotate(
            basis_cents=_cents(F("basis")),
            next_floor_cents=_cents(F("next_floor")),
            missing=_money_difference(F("next_floor"), F("basis")),
        )
        .annotate(
            # basis ≥ floor × (100 − p) / 100, multiplied out: whole numbers on both sides.
            basis_hundredfold=ExpressionWrapper(
                F("basis_cents") * Value(100), output_field=MONEY_FIELD
            ),
            band_floor_hundredfold=ExpressionWrapper(
                F("next_floor_cents") * Value(band), output_field=MONEY_FIELD
            ),
        )
        .filter(
            next_floor__isnull=False,
            basis_cents__lt=F("next_floor_cents"),
            basis_hundredfold__gte=F("band_floor_hundredfold"),
        )
    )
    clients = _narrowed(clients, branch=branch, owner_rm=owner_rm, tier=tier)
    if next_tier is not None:
        clients = clients.filter(next_tier_id=next_tier.pk)
    clients = with_identity_access(clients, actor)
    return clients.order_by(*NEAR_THRESHOLD_SORTS.get(sort, NEAR_THRESHOLD_SORTS["gap"]))


def _next_tier_annotations(tiers: list[Tier]) -> dict:
    """``next_tier_id`` and ``next_floor`` as CASE expressions over the (few) tiers.

    Constants in the statement rather than a correlated subquery per client: the first
    tier ranked above the client's (any tier for a non-VIP) wins; the top tier and a
    bank without tiers give NULL.
    """
    ordered = sorted(tiers, key=lambda tier: tier.rank)
    if not ordered:
        return {
            "next_tier_id": Value(None, output_field=IntegerField()),
            "next_floor": Value(None, output_field=MONEY_FIELD),
        }

    def case(value_of, output_field):
        whens = [When(tier__isnull=True, then=Value(value_of(ordered[0])))]
        whens += [When(tier__rank__lt=tier.rank, then=Value(value_of(tier))) for tier in ordered]
        return Case(*whens, default=Value(None), output_field=output_field)

    return {
        "next_tier_id": case(lambda tier: tier.pk, IntegerField()),
        "next_floor": case(lambda tier: tier.aum_floor, MONEY_FIELD),
    }


def tiers_by_id() -> dict[int, Tier]:
    """Every tier of the tenant, by id (one query; a bank has a handful)."""
    return {tier.pk: tier for tier in Tier.objects.all()}


# --- Tier changes --------------------------------------------------------------------


class Direction:
    UP = "up"
    DOWN = "down"

    choices = [(UP, _("Upgrades")), (DOWN, _("Downgrades"))]


def tier_changes(
    *,
    actor: Actor,
    effective_on: datetime.date | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    direction: str = "",
    reason: str = "",
    branch: Branch | None = None,
    owner_rm: StaffProfile | None = None,
    tier: Tier | None = None,
) -> QuerySet[TierChange]:
    """Tier changes of the clients in the actor's scope, newest first.

    Supervisors: their branch subtree; head office: the tenant; an RM: the clients they
    own (the nightly notification links an RM here with ``effective_on``); advisors:
    nothing. ``direction`` compares ranks, "no tier" ranking below every tier; ``tier``
    is the tier moved *to* (as in the API); ``owner_rm`` the client's current RM.
    """
    if actor is None or actor.role not in (Role.RM, Role.SUPERVISOR, Role.HEAD_OFFICE):
        return TierChange.objects.none()
    changes = TierChange.objects.select_related(
        "client", "client__branch", "client__owner_rm", "from_tier", "to_tier"
    )
    if actor.role == Role.RM:
        # Their own book: a subset of what ``visible_to`` grants an RM (own + team).
        changes = changes.filter(client__owner_rm=actor.staff)
    else:
        changes = visible_to(changes, actor)
    if effective_on is not None:
        changes = changes.filter(effective_on=effective_on)
    if date_from is not None:
        changes = changes.filter(effective_on__gte=date_from)
    if date_to is not None:
        changes = changes.filter(effective_on__lte=date_to)
    if direction in (Direction.UP, Direction.DOWN):
        changes = changes.annotate(
            from_rank=Coalesce(F("from_tier__rank"), Value(NO_RANK), output_field=IntegerField()),
            to_rank=Coalesce(F("to_tier__rank"), Value(NO_RANK), output_field=IntegerField()),
        )
        if direction == Direction.UP:
            changes = changes.filter(to_rank__gt=F("from_rank"))
        else:
            changes = changes.filter(to_rank__lt=F("from_rank"))
    if reason:
        changes = changes.filter(reason=reason)
    if branch is not None:
        changes = changes.filter(client__branch__in=branch_subtree_ids(branch.pk))
    if owner_rm is not None:
        changes = changes.filter(client__owner_rm=owner_rm)
    if tier is not None:
        changes = changes.filter(to_tier=tier)
    return changes.order_by("-effective_on", "-id")


# --- Filter choices ------------------------------------------------------------------


def list_filter_choices(*, actor: Actor) -> dict[str, QuerySet]:
    """Branches, RMs and tiers the lists' filters offer to ``actor``."""
    return {
        "branches": visible_to(Branch.objects.all(), actor).order_by("code"),
        "owner_rms": visible_to(StaffProfile.objects.filter(role=Role.RM), actor).order_by(
            "name", "code"
        ),
        "tiers": Tier.objects.order_by("-rank"),
    }
