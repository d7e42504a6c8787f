"""RM capacity (客户经理产能): weighted books against capacities, suggested moves, and the
reassignment of clients between RMs.

Reads (``rm_loads``, ``capacity_moves_suggest``) and the two writes of this area
(``rm_capacity_set``, ``clients_reassign``) live together: the writes exist to act on
what the reads show.

**Weighted book** of an RM = Σ over the clients they own of their tier's
``ServiceStandard.book_weight`` (demo: Private 8, Diamond 4, Gold 1, Potential 0.5). A
client without a tier (a non-VIP) — or of a tier without a service standard — weighs
0: it costs the RM time, but the capacity model counts VIP service only; such clients
show up in the client count and, when they sit in a book, in the unqualified list.

**Capacity** = the RM's ``RmCapacity.capacity``, else the policy's
``default_rm_capacity``. **Effective service ratio** = weighted book / capacity, in
percent. Status: **overloaded** above 100%, **under-loaded** below 70%, **balanced**
from 70% to 100% inclusive.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DecimalField,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Client
from segmentation.models import RmCapacity, TieringPolicy
from segmentation.selectors import (
    NO_RANK,
    tiering_policy,
    unqualified_filter,
    with_tiering_basis,
)
from vipcrm.audit import audit_record
from vipcrm.models import Branch, Notification, StaffProfile
from vipcrm.roles import Actor, Role, branch_subtree_ids, visible_to

OVERLOADED_ABOVE = Decimal("100")  # percent of capacity
UNDERLOADED_BELOW = Decimal("70")
WEIGHT_FIELD = DecimalField(max_digits=12, decimal_places=2)
ZERO = Decimal("0")
CENT = Decimal("0.01")
PERCENT = Decimal("0.1")


class LoadStatus(models.TextChoices):
    OVERLOADED = "overloaded", _("Overloaded")
    BALANCED = "balanced", _("Balanced")
    UNDERLOADED = "underloaded", _("Under-loaded")


def load_ratio(weighted_book: Decimal, capacity: Decimal) -> Decimal:
    """The effective service ratio in percent, to one decimal (half up)."""
    return (weighted_book * 100 / capacity).quantize(PERCENT, rounding=ROUND_HALF_UP)


def load_status(weighted_book: Decimal, capacity: Decimal) -> str:
    """Compared exactly (``weighted × 100`` against ``capacity × bound``), not on the
    rounded ratio: 100.04% is overloaded even though it shows as 100.0%."""
    if weighted_book * 100 > capacity * OVERLOADED_ABOVE:
        return LoadStatus.OVERLOADED
    if weighted_book * 100 < capacity * UNDERLOADED_BELOW:
        return LoadStatus.UNDERLOADED
    return LoadStatus.BALANCED


@dataclass
class RmLoad:
    """One RM's row on the capacity page."""

    staff: StaffProfile
    client_count: int
    weighted_book: Decimal
    capacity: Decimal
    capacity_is_default: bool
    unqualified_count: int

    @property
    def ratio(self) -> Decimal:
        return load_ratio(self.weighted_book, self.capacity)

    @property
    def status(self) -> str:
        return load_status(self.weighted_book, self.capacity)

    @property
    def status_label(self) -> str:
        return LoadStatus(self.status).label


@dataclass
class LoadTotals:
    """The totals of the RMs listed (the branch's, or the bank's)."""

    rm_count: int = 0
    client_count: int = 0
    weighted_book: Decimal = ZERO
    capacity: Decimal = ZERO
    unqualified_count: int = 0
    status_counts: Counter = field(default_factory=Counter)

    @property
    def ratio(self) -> Decimal | None:
        return load_ratio(self.weighted_book, self.capacity) if self.capacity else None

    @property
    def overloaded(self) -> int:
        return self.status_counts[LoadStatus.OVERLOADED]

    @property
    def underloaded(self) -> int:
        return self.status_counts[LoadStatus.UNDERLOADED]

    @property
    def balanced(self) -> int:
        return self.status_counts[LoadStatus.BALANCED]


def _book(count_expression) -> Subquery:
    """A per-RM aggregate over the clients the outer RM owns, as a correlated subquery."""
    return Subquery(
        Client.objects.filter(owner_rm=OuterRef("pk"))
        .order_by()
        .values("owner_rm")
        .annotate(value=count_expression)
        .values("value")
    )


def capacity_rms(
    *, actor: Actor, branch: Branch | None = None, staff: StaffProfile | None = None
) -> QuerySet[StaffProfile]:
    """The active RMs whose capacity ``actor`` sees: supervisors their branch subtree,
    head office the tenant (narrowed to ``branch``'s subtree, or to one ``staff``), an
    RM only themself; advisors nobody."""
    if actor is None or actor.role not in (Role.RM, Role.SUPERVISOR, Role.HEAD_OFFICE):
        return StaffProfile.objects.none()
    rms = visible_to(
        StaffProfile.objects.filter(role=Role.RM, is_active=True).select_related("branch"), actor
    )
    if branch is not None:
        rms = rms.filter(branch__in=branch_subtree_ids(branch.pk))
    if staff is not None:
        rms = rms.filter(pk=staff.pk)
    return rms


def rm_loads(
    *,
    actor: Actor,
    branch: Branch | None = None,
    staff: StaffProfile | None = None,
    policy: TieringPolicy | None = None,
    today: datetime.date | None = None,
) -> list[RmLoad]:
    """Each RM of the actor's scope with their book, weight, capacity and unqualified
    clients — in **one** query: every figure is a correlated subquery of the RM row
    (no loop per RM), whatever the number of RMs and clients.

    The book is everything the RM owns, also clients homed outside the actor's branch
    subtree: it is the RM's load that is measured.
    """
    policy = policy or tiering_policy()
    today = today or timezone.localdate()
    unqualified = unqualified_filter(
        with_tiering_basis(Client.objects.filter(owner_rm=OuterRef("pk"))), today=today
    )
    rows = capacity_rms(actor=actor, branch=branch, staff=staff).annotate(
        client_count=Coalesce(_book(Count("pk")), Value(0)),
        weighted_book=Coalesce(
            _book(Sum("tier__service_standards__book_weight")),
            Value(ZERO),
            output_field=WEIGHT_FIELD,
        ),
        own_capacity=Subquery(RmCapacity.objects.filter(staff=OuterRef("pk")).values("capacity")),
        unqualified_count=Coalesce(
            Subquery(unqualified.order_by().values("owner_rm").annotate(n=Count("pk")).values("n")),
            Value(0),
        ),
    )
    return [
        RmLoad(
            staff=rm,
            client_count=rm.client_count,
            # Exact on PostgreSQL; SQLite sums in floating point, hence the cents.
            weighted_book=Decimal(rm.weighted_book).quantize(CENT),
            capacity=Decimal(rm.own_capacity or policy.default_rm_capacity),
            capacity_is_default=rm.own_capacity is None,
            unqualified_count=rm.unqualified_count,
        )
        for rm in rows.order_by("name", "code")
    ]


LOAD_SORTS = {
    "-ratio": lambda load: (-load.weighted_book / load.capacity, load.staff.name),
    "ratio": lambda load: (load.weighted_book / load.capacity, load.staff.name),
    "name": lambda load: (load.staff.name, load.staff.code),
    "-clients": lambda load: (-load.client_count, load.staff.name),
    "-weighted": lambda load: (-load.weighted_book, load.staff.name),
    "-unqualified": lambda load: (-load.unqualified_count, load.staff.name),
    "branch": lambda load: (load.staff.branch.code, load.staff.name),
}


def rm_loads_sorted(loads: list[RmLoad], sort: str = "-ratio") -> list[RmLoad]:
    """The rows in the order asked for (in Python: an RM list has tens of rows)."""
    return sorted(loads, key=LOAD_SORTS.get(sort, LOAD_SORTS["-ratio"]))


def rm_load_totals(loads: Iterable[RmLoad]) -> LoadTotals:
    totals = LoadTotals()
    for load in loads:
        totals.rm_count += 1
        totals.client_count += load.client_count
        totals.weighted_book += load.weighted_book
        totals.capacity += load.capacity
        totals.unqualified_count += load.unqualified_count
        totals.status_counts[load.status] += 1
    return totals


# --- Suggested moves -----------------------------------------------------------------

MAX_CANDIDATES_PER_RM = 100  # bounds the greedy and the candidates query


@dataclass
class SuggestedMove:
    """Move ``clients`` (weighing ``weight``) from one RM to another."""

    from_load: RmLoad
    to_load: RmLoad
    clients: list[Client] = field(default_factory=list)
    weight: Decimal = ZERO
    from_ratio_after: Decimal = ZERO
    to_ratio_after: Decimal = ZERO

    @property
    def client_ids(self) -> list[int]:
        return [client.pk for client in self.clients]


def branch_regions() -> dict[int, int]:
    """Each branch's region: its ancestor just below the root (a 分行 and everything
    under it), or the branch itself for a root. One query; a bank has few branches."""
    parents = dict(Branch.objects.values_list("pk", "parent_id"))
    regions = {}
    for branch_id in parents:
        current = branch_id
        while parents.get(current) is not None and parents.get(parents[current]) is not None:
            current = parents[current]
        regions[branch_id] = current
    return regions


def _candidates(*, actor: Actor, giver_ids: list[int], today: datetime.date) -> QuerySet[Client]:
    """The clients overloaded RMs could hand over, best first per RM, in one query.

    Only clients that weigh something (moving a weight-0 client relieves nobody) and
    that the actor may reassign. Per RM: unqualified clients first, then the lowest
    tiers, then the smallest basis — at most ``MAX_CANDIDATES_PER_RM`` each (a window
    function, so the bound holds per RM within the single query).
    """
    clients = with_tiering_basis(
        visible_to(Client.objects.filter(owner_rm__in=giver_ids).select_related("tier"), actor)
    )
    unqualified_ids = unqualified_filter(clients, today=today).values("pk")
    clients = clients.annotate(
        weight=Coalesce(
            F("tier__service_standards__book_weight"), Value(ZERO), output_field=WEIGHT_FIELD
        ),
        is_unqualified=Case(
            When(pk__in=unqualified_ids, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
        tier_rank=Coalesce(F("tier__rank"), Value(NO_RANK), output_field=IntegerField()),
    ).filter(weight__gt=0)
    clients = clients.annotate(
        position=Window(
            RowNumber(),
            partition_by=[F("owner_rm")],
            order_by=[F("is_unqualified").desc(), F("tier_rank").asc(), F("basis").asc(), "pk"],
        )
    ).filter(position__lte=MAX_CANDIDATES_PER_RM)
    return clients.order_by("owner_rm", "position")


def capacity_moves_suggest(
    *, actor: Actor, loads: list[RmLoad], today: datetime.date | None = None
) -> list[SuggestedMove]:
    """Moves that bring overloaded RMs back to capacity, onto under-loaded colleagues.

    A bounded greedy, in Python over the RMs (tens) with the candidate clients read in
    one query (``_candidates``):

    1. RMs are grouped by region (``branch_regions``): clients only move between RMs
       of the same branch subtree, never across regions, and only among the RMs listed
       (the actor's scope and filter).
    2. Givers: the overloaded RMs, most overloaded first. Receivers: the under-loaded
       RMs of the same region.
    3. For each giver, its candidates are taken in order (unqualified first, then the
       lowest tier, then the smallest basis). Each goes to the receiver whose ratio is
       lowest after taking it, provided that the receiver stays at or below 100%; a
       client no receiver can take is skipped. The giver stops once its weighted book
       is at or below its capacity.
    4. Moves are grouped per (giver, receiver): one suggestion each, applied with one
       ``clients_reassign``.

    Work is bounded by givers × ``MAX_CANDIDATES_PER_RM`` × receivers. Each receiver's
    load is updated as it takes clients, so two givers never fill the same room twice.
    A giver may remain overloaded when its region lacks room: the page says so.
    """
    today = today or timezone.localdate()
    givers = [load for load in loads if load.status == LoadStatus.OVERLOADED]
    if not givers:
        return []
    regions = branch_regions()
    receivers: dict[int, list[_Room]] = {}
    for load in loads:
        if load.status == LoadStatus.UNDERLOADED:
            region = regions.get(load.staff.branch_id)
            receivers.setdefault(region, []).append(_Room(load))
    if not receivers:
        return []
    givers.sort(key=lambda load: (-load.weighted_book / load.capacity, load.staff.name))
    candidates: dict[int, list[Client]] = {}
    for client in _candidates(
        actor=actor, giver_ids=[g.staff.pk for g in givers], today=today
    ).iterator():
        candidates.setdefault(client.owner_rm_id, []).append(client)

    moves: dict[tuple[int, int], SuggestedMove] = {}
    for giver in givers:
        rooms = receivers.get(regions.get(giver.staff.branch_id), [])
        if not rooms:
            continue
        book = giver.weighted_book
        for client in candidates.get(giver.staff.pk, []):
            if book <= giver.capacity:
                break
            fitting = [room for room in rooms if room.fits(client.weight)]
            if not fitting:
                continue
            room = min(fitting, key=lambda r: (r.book + client.weight) / r.load.capacity)
            room.book += client.weight
            book -= client.weight
            move = moves.setdefault(
                (giver.staff.pk, room.load.staff.pk), SuggestedMove(giver, room.load)
            )
            move.clients.append(client)
            move.weight += client.weight
        giver_after = book
        for (giver_id, _receiver_id), move in moves.items():
            if giver_id == giver.staff.pk:
                move.from_ratio_after = load_ratio(giver_after, giver.capacity)
    for move in moves.values():
        room = next(
            r for rs in receivers.values() for r in rs if r.load.staff.pk == move.to_load.staff.pk
        )
        move.to_ratio_after = load_ratio(room.book, room.load.capacity)
    return list(moves.values())


class _Room:
    """A receiver's running weighted book during the greedy."""

    def __init__(self, load: RmLoad):
        self.load = load
        self.book = load.weighted_book

    def fits(self, weight: Decimal) -> bool:
        return (self.book + weight) * 100 <= self.load.capacity * OVERLOADED_ABOVE


# --- Writes --------------------------------------------------------------------------


def _may_manage_branch(actor: Actor | None, branch_id: int, subtree: list[int] | None) -> bool:
    if actor is None or actor.staff is None:
        return False
    if actor.role == Role.HEAD_OFFICE:
        return True
    return actor.role == Role.SUPERVISOR and subtree is not None and branch_id in subtree


def _manager_subtree(actor: Actor | None) -> list[int] | None:
    """The branches a supervisor manages (None for head office, who manages all)."""
    if actor is None or actor.staff is None or actor.role != Role.SUPERVISOR:
        return None
    return branch_subtree_ids(actor.staff.branch_id)


def _require_manager(actor: Actor | None) -> None:
    if (
        actor is None
        or actor.staff is None
        or actor.role
        not in (
            Role.SUPERVISOR,
            Role.HEAD_OFFICE,
        )
    ):
        raise PermissionDenied(_("Only a supervisor or head office may do this."))


def _audit_user(actor: Actor, request: HttpRequest | None):
    # With a request the entry names its user and address; without one (a shell, a
    # test) it names the actor's login.
    return None if request is not None else getattr(actor.staff, "user", None)


@transaction.atomic
def rm_capacity_set(
    *,
    actor: Actor,
    staff: StaffProfile,
    capacity: Decimal | None,
    request: HttpRequest | None = None,
) -> RmCapacity | None:
    """Set an RM's capacity (weighted clients), or with ``capacity=None`` return them to
    the policy's default. Supervisors of the RM's branch subtree and head office only.

    Raises ``PermissionDenied`` for anyone else, ``ValidationError`` (field
    ``capacity``) for a value out of range or a staff member who is not an RM. Audited
    as an ``update`` with the value before and after; nothing is written when the value
    does not change.
    """
    _require_manager(actor)
    if staff.tenant_id != actor.tenant_id or not _may_manage_branch(
        actor, staff.branch_id, _manager_subtree(actor)
    ):
        raise PermissionDenied(_("This RM is outside your branches."))
    if staff.role != Role.RM:
        raise ValidationError({"capacity": _("Only relationship managers have a capacity.")})
    current = RmCapacity.objects.filter(staff=staff).first()
    before = str(current.capacity) if current else "default"
    if capacity is None:
        if current is None:
            return None
        current.delete()
        after, row = "default", None
    else:
        capacity = Decimal(capacity)
        row = current or RmCapacity(tenant_id=staff.tenant_id, staff=staff)
        if current is not None and current.capacity == capacity:
            return current
        row.capacity = capacity
        row.full_clean(exclude=["tenant", "staff"], validate_constraints=False)
        row.save()
        after = str(row.capacity)
    audit_record(
        action="update",
        request=request,
        user=_audit_user(actor, request),
        obj=staff,
        detail={"what": "RM capacity", "changes": {"capacity": [before, after]}},
    )
    return row


MAX_REASSIGN = 5_000


def _client_ids(clients_qs_or_ids) -> list[int]:
    if isinstance(clients_qs_or_ids, QuerySet):
        return list(clients_qs_or_ids.order_by().values_list("pk", flat=True).distinct())
    try:
        ids = {int(value) for value in clients_qs_or_ids}
    except (TypeError, ValueError) as error:
        raise ValidationError({"clients": _("The selection of clients is not valid.")}) from error
    return sorted(ids)


@transaction.atomic
def clients_reassign(
    *,
    actor: Actor,
    clients_qs_or_ids: QuerySet[Client] | Iterable[int],
    to_rm: StaffProfile | None,
    reason: str,
    request: HttpRequest | None = None,
) -> int:
    """Move clients into ``to_rm``'s book, or release them to their branch's pool
    (``to_rm=None``: no owner RM). Returns how many clients changed owner.

    Who: a supervisor — the target RM and every client within their branch subtree —
    or head office (the whole tenant). ``clients_qs_or_ids`` is a queryset of clients
    or their ids; every one must be visible to the actor (one that is not, or no longer
    exists, refuses the whole call: nothing half-done). The target must be an active RM
    of the tenant. A reason is required. Clients already in the target's book are left
    as they are; when that is all of them, the call is refused.

    Set-based: one UPDATE of ``owner_rm`` (and ``updated_at``, so API readers polling
    ``updated_since`` see the move) whatever the number of clients; the query count is
    constant. Audited as one ``update`` entry naming the count, the client ids and
    customer numbers, the previous owners, the target and the reason. Notifications
    (kind ``clients_reassigned``): the target RM gets one per previous owner
    (``direction`` "in", ``other_rm`` the previous owner's name, or "" for clients
    from the pool), and each previous owner one (``direction`` "out", ``other_rm`` the
    target's name, or "" when released to the pool) — so releasing to the pool tells
    the previous owners only.

    Raises ``PermissionDenied`` (role) or ``ValidationError`` with messages on the
    fields ``clients``, ``to_rm`` and ``reason``.
    """
    _require_manager(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why these clients change hands.")})
    if len(reason) > 500:
        raise ValidationError({"reason": _("Keep the reason under 500 characters.")})
    subtree = _manager_subtree(actor)
    if to_rm is not None:
        # Re-read through the tenant's manager: another tenant's RM is simply not found.
        target = StaffProfile.objects.filter(pk=to_rm.pk).first()
        if target is None or target.tenant_id != actor.tenant_id:
            raise ValidationError({"to_rm": _("This RM does not exist.")})
        if target.role != Role.RM:
            raise ValidationError({"to_rm": _("Clients can only go to a relationship manager.")})
        if not target.is_active:
            raise ValidationError({"to_rm": _("This RM is no longer active.")})
        if not _may_manage_branch(actor, target.branch_id, subtree):
            raise ValidationError({"to_rm": _("This RM is outside your branches.")})
        to_rm = target

    ids = _client_ids(clients_qs_or_ids)
    if not ids:
        raise ValidationError({"clients": _("Select at least one client.")})
    if len(ids) > MAX_REASSIGN:
        raise ValidationError(
            {"clients": _("Reassign at most %(max)d clients at a time.") % {"max": MAX_REASSIGN}}
        )
    rows = list(
        visible_to(Client.objects.filter(pk__in=ids), actor)
        .order_by("pk")
        .values_list("pk", "external_id", "owner_rm_id", "owner_rm__name", "owner_rm__code")
    )
    if len(rows) != len(ids):
        missing = len(ids) - len(rows)
        raise ValidationError(
            {
                "clients": _(
                    "%(count)d of the selected clients are not in your branches "
                    "(or no longer exist)."
                )
                % {"count": missing}
            }
        )
    target_id = to_rm.pk if to_rm is not None else None
    moving = [row for row in rows if row[2] != target_id]
    if not moving:
        raise ValidationError(
            {
                "clients": _("The selected clients are already in this RM's book.")
                if to_rm is not None
                else _("The selected clients are already in the branch pool.")
            }
        )

    now = timezone.now()
    Client.objects.filter(pk__in=[row[0] for row in moving]).update(owner_rm=to_rm, updated_at=now)

    previous: dict[int | None, dict] = {}
    for _pk, _number, owner_id, owner_name, owner_code in moving:
        entry = previous.setdefault(owner_id, {"name": owner_name or "", "code": owner_code})
        entry["count"] = entry.get("count", 0) + 1
    audit_record(
        action="update",
        request=request,
        user=_audit_user(actor, request),
        obj=to_rm,
        detail={
            "what": "clients reassigned",
            "count": len(moving),
            "client_ids": [row[0] for row in moving],
            "customer_numbers": [row[1] for row in moving],
            "from": {(entry["code"] or "pool"): entry["count"] for entry in previous.values()},
            "to": to_rm.code if to_rm is not None else "pool",
            "reason": reason,
        },
    )
    by = actor.staff.name
    notifications = []
    for owner_id, entry in previous.items():
        if to_rm is not None:
            notifications.append(
                _notification(to_rm.pk, entry["count"], "in", other_rm=entry["name"], by=by)
            )
        if owner_id is not None:
            other = to_rm.name if to_rm is not None else ""
            notifications.append(
                _notification(owner_id, entry["count"], "out", other_rm=other, by=by)
            )
    Notification.objects.bulk_create(notifications)
    return len(moving)


def _notification(recipient_id: int, count: int, direction: str, *, other_rm: str, by: str):
    return Notification(
        recipient_id=recipient_id,
        kind="clients_reassigned",
        params={"count": count, "direction": direction, "other_rm": other_rm, "by": by},
        link=f"{reverse('customers:client-list')}?owner_rm={recipient_id}",
    )
