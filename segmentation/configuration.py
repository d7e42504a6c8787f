"""Head office's configuration of segmentation: the tiers and their AUM floors, each
tier's service standard, and the tiering policy (window, downgrade grace, near-threshold
band, default RM capacity).

Reads are open to supervisors and head office (``config_can_view``); writes to head
office only (``config_edit_check``). Each write validates everything before it writes
anything, runs in one transaction (a savepoint inside the request's) and appends an
audit entry with the before → after values in that same transaction, so a refused write
leaves nothing behind.

No write here re-tiers a client: the nightly run reads the floors and the policy when it
evaluates the clients, so a change takes effect at the next run, for every client at
once, with its tier-change records and notifications.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, Model, OuterRef, Prefetch, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from customers.models import Client, Tier
from segmentation.models import ServiceStandard, TierChange, TieringPolicy, TierOverride
from vipcrm.audit import audit_record
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor, Role, visible_to

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
MAX_RANK = 99  # a bank has a handful of tiers; a bound keeps typos out
STANDARD_FIELDS = (
    "contact_cadence_days",
    "maturity_lead_days",
    "meetings_per_year",
    "service_package",
    "book_weight",
    "festival_care",
)
POLICY_FIELDS = (
    "window_days",
    "downgrade_grace",
    "near_threshold_percent",
    "default_rm_capacity",
)
# What the configuration's audit entries are about (the "recent changes" list).
CONFIG_OBJECT_TYPES = (
    Tier._meta.label_lower,
    ServiceStandard._meta.label_lower,
    TieringPolicy._meta.label_lower,
)


# --- Who may do what ---------------------------------------------------------------


def config_can_view(actor: Actor | None) -> bool:
    """Supervisors and head office read the configuration (it explains their lists)."""
    return (
        actor is not None
        and actor.staff is not None
        and actor.role in (Role.SUPERVISOR, Role.HEAD_OFFICE)
    )


def config_can_edit(actor: Actor | None) -> bool:
    return actor is not None and actor.staff is not None and actor.role == Role.HEAD_OFFICE


def config_edit_check(*, actor: Actor | None) -> None:
    """Raise ``PermissionDenied`` unless the actor is one of the bank's head-office admins."""
    if not config_can_edit(actor):
        raise PermissionDenied(_("Only head office may change tiers and service standards."))


# --- Reads ---------------------------------------------------------------------------


def tier_config_list() -> list[Tier]:
    """The tenant's tiers, highest rank first, each with ``standard`` (its service
    standard or None) and ``in_use`` (clients, overrides or tier changes refer to it).

    Two queries whatever the number of clients: the ``in_use`` flags are index probes
    (EXISTS), not counts over the book.
    """
    tiers = (
        Tier.objects.annotate(
            has_clients=Exists(Client.objects.filter(tier=OuterRef("pk"))),
            has_overrides=Exists(TierOverride.objects.filter(tier=OuterRef("pk"))),
            has_changes_to=Exists(TierChange.objects.filter(to_tier=OuterRef("pk"))),
            has_changes_from=Exists(TierChange.objects.filter(from_tier=OuterRef("pk"))),
        )
        .prefetch_related(
            Prefetch("service_standards", queryset=ServiceStandard.objects.all(), to_attr="_std")
        )
        .order_by("-rank")
    )
    found = list(tiers)
    for tier in found:
        tier.standard = tier._std[0] if tier._std else None
        tier.in_use = (
            tier.has_clients or tier.has_overrides or tier.has_changes_to or tier.has_changes_from
        )
    return found


def _tier_in_use(tier: Tier) -> bool:
    return (
        Client.objects.filter(tier=tier).exists()
        or TierOverride.objects.filter(tier=tier).exists()
        or TierChange.objects.filter(to_tier=tier).exists()
        or TierChange.objects.filter(from_tier=tier).exists()
    )


def tier_with_standard(*, tier: Tier) -> ServiceStandard | None:
    return ServiceStandard.objects.filter(tier=tier).first()


def config_change_list(*, actor: Actor | None, limit: int = 10) -> list[AuditEntry]:
    """The latest audited changes of the configuration (head office reads the audit log),
    each with ``fields``: ``(label, before, after)`` per changed field (``before`` is None
    for a creation or deletion)."""
    if not config_can_edit(actor):
        return []
    entries = list(
        AuditEntry.objects.filter(object_type__in=CONFIG_OBJECT_TYPES).order_by("-at", "-id")[
            :limit
        ]
    )
    for entry in entries:
        detail = entry.detail or {}
        changes = detail.get("changes") or {}
        values = detail.get("values") or {}
        entry.fields = [
            (_field_label(name), pair[0], pair[1])
            for name, pair in changes.items()
            if isinstance(pair, list) and len(pair) == 2
        ] or [(_field_label(name), None, value) for name, value in values.items()]
    return entries


def _field_label(name: str) -> str:
    """The translated label of a configuration field, by its name."""
    for model in (Tier, ServiceStandard, TieringPolicy):
        try:
            return str(model._meta.get_field(name).verbose_name)
        except FieldDoesNotExist:
            continue
    return name


# --- Helpers -------------------------------------------------------------------------


def _audit(
    action: str, *, actor: Actor, obj: Model, request: HttpRequest | None, detail: dict
) -> None:
    # With a request the entry names its user and address; without one (a shell, a
    # test) it names the actor's login.
    user = None if request is not None else getattr(actor.staff, "user", None)
    audit_record(action=action, request=request, user=user, obj=obj, detail=detail)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _tier_values(tier: Tier, standard: ServiceStandard | None) -> dict[str, str]:
    """A tier and its service standard (if any) as text, for the audit log of a tier
    created or deleted."""
    values = {
        "code": tier.code,
        "name": tier.name,
        "rank": str(tier.rank),
        "aum_floor": _text(tier.aum_floor),
    }
    if standard:
        values.update({field: _text(getattr(standard, field)) for field in STANDARD_FIELDS})
    return values


def _changes(obj: Model, values: dict[str, Any]) -> dict[str, list[str]]:
    """``{field: [before, after]}`` of the values that differ, as text for the audit log
    (decimals at their column's scale on both sides: ``500000.00``)."""
    changed = {}
    for name, value in values.items():
        before = getattr(obj, name)
        if before != value:
            places = getattr(obj._meta.get_field(name), "decimal_places", None)
            if places is not None:
                before, value = _quantized(before, places), _quantized(value, places)
            changed[name] = [_text(before), _text(value)]
    return changed


def _quantized(value: Decimal | None, places: int) -> Decimal | None:
    """A decimal at the column's scale, so the audit shows ``500000.00`` both sides."""
    if value is None or not isinstance(value, Decimal) or not value.is_finite():
        return value
    return value.quantize(Decimal(1).scaleb(-places))


def _validated(obj: Model, *, exclude: list[str]) -> None:
    """The model's own field validation (bounds, digits), as a ``ValidationError``."""
    obj.full_clean(exclude=["tenant", *exclude], validate_unique=False, validate_constraints=False)


def _save(obj: Model, *, field: str, message) -> None:
    """Save in a savepoint: a unique clash raced past the checks becomes a form error
    on ``field`` instead of a 500."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as error:
        raise ValidationError({field: message}) from error


def _check_tier(
    *, tier: Tier | None, code: str | None, name: str, rank: int, aum_floor: Decimal
) -> None:
    """Validate a tier's identity and its place in the ladder against the other tiers.

    Floors must rise strictly with rank (a higher tier always asks for more); a rank,
    a code and a name belong to one tier each. The other tiers are locked while we
    compare, so two concurrent edits cannot both pass and leave the ladder crossed.
    """
    errors: dict[str, list] = {}
    others = list(
        Tier.objects.select_for_update()
        .exclude(pk=tier.pk if tier is not None else None)
        .order_by("rank")
    )
    if code is not None:
        if not CODE_PATTERN.match(code):
            errors.setdefault("code", []).append(
                _("Use letters, digits, hyphens and underscores only (e.g. GOLD).")
            )
        elif any(other.code.lower() == code.lower() for other in others):
            errors.setdefault("code", []).append(_("Another tier already has this code."))
    if any(other.name == name for other in others):
        errors.setdefault("name", []).append(_("Another tier already has this name."))
    if rank is None or not 1 <= rank <= MAX_RANK:
        errors.setdefault("rank", []).append(
            _("The rank must be between 1 and %(max)s.") % {"max": MAX_RANK}
        )
    else:
        clash = next((other for other in others if other.rank == rank), None)
        if clash is not None:
            errors.setdefault("rank", []).append(
                _("%(tier)s already has rank %(rank)s.") % {"tier": clash.name, "rank": rank}
            )
    if aum_floor is not None and aum_floor < 0:
        errors.setdefault("aum_floor", []).append(_("The AUM floor cannot be negative."))
    elif aum_floor is not None and "rank" not in errors:
        below = [other for other in others if other.rank < rank]
        above = [other for other in others if other.rank > rank]
        lower = below[-1] if below else None
        higher = above[0] if above else None
        if lower is not None and aum_floor <= lower.aum_floor:
            errors.setdefault("aum_floor", []).append(
                _(
                    "The floor must be above that of %(tier)s (%(floor)s CNY), "
                    "the tier ranked just below."
                )
                % {"tier": lower.name, "floor": f"{lower.aum_floor:,.2f}"}
            )
        if higher is not None and aum_floor >= higher.aum_floor:
            errors.setdefault("aum_floor", []).append(
                _(
                    "The floor must be below that of %(tier)s (%(floor)s CNY), "
                    "the tier ranked just above."
                )
                % {"tier": higher.name, "floor": f"{higher.aum_floor:,.2f}"}
            )
    if errors:
        raise ValidationError(errors)


def _merge(*errors: ValidationError | None) -> ValidationError | None:
    """One ``ValidationError`` with every field's messages, so a form shows them all."""
    merged: dict[str, list] = {}
    for error in errors:
        if error is None:
            continue
        for field, messages in error.message_dict.items():
            merged.setdefault(field, []).extend(messages)
    return ValidationError(merged) if merged else None


def _collect(check) -> ValidationError | None:
    try:
        check()
    except ValidationError as error:
        return error
    return None


# --- Tiers ---------------------------------------------------------------------------


@transaction.atomic
def tier_create(
    *,
    actor: Actor,
    code: str,
    name: str,
    rank: int,
    aum_floor: Decimal,
    contact_cadence_days: int,
    maturity_lead_days: int,
    meetings_per_year: int,
    service_package: str,
    book_weight: Decimal,
    festival_care: bool = False,
    request: HttpRequest | None = None,
) -> Tier:
    """Add a tier with its service standard (head office only).

    No client enters it now: the next nightly run places the clients whose average AUM
    reaches its floor.
    """
    config_edit_check(actor=actor)
    code, name = code.strip(), name.strip()
    tier = Tier(code=code, name=name, rank=rank, aum_floor=_quantized(aum_floor, 2))
    standard = ServiceStandard(
        contact_cadence_days=contact_cadence_days,
        maturity_lead_days=maturity_lead_days,
        meetings_per_year=meetings_per_year,
        service_package=service_package.strip(),
        book_weight=_quantized(book_weight, 2),
        festival_care=festival_care,
    )
    error = _merge(
        _collect(lambda: _validated(tier, exclude=[])),
        _collect(lambda: _validated(standard, exclude=["tier"])),
        _collect(
            lambda: _check_tier(
                tier=None, code=code, name=name, rank=rank, aum_floor=tier.aum_floor
            )
        ),
    )
    if error is not None:
        raise error
    _save(tier, field="code", message=_("Another tier already has this code or rank."))
    standard.tier = tier
    _save(standard, field="contact_cadence_days", message=_("This tier has a standard already."))
    _audit(
        "create",
        actor=actor,
        obj=tier,
        request=request,
        detail={
            "values": _tier_values(tier, standard),
            "takes_effect": "next nightly run",
        },
    )
    return tier


@transaction.atomic
def tier_update(
    *,
    actor: Actor,
    tier: Tier,
    name: str,
    rank: int,
    aum_floor: Decimal,
    request: HttpRequest | None = None,
) -> Tier:
    """Rename, re-rank or move the floor of a tier (head office only).

    The code never changes: it is how the core-banking system and the API name the tier.
    Clients keep their tier until the next nightly run re-tiers them against the new
    floor (upgrades then, downgrades after the grace period, as always).
    """
    config_edit_check(actor=actor)
    _same_tenant(actor, tier)
    values = {"name": name.strip(), "rank": rank, "aum_floor": _quantized(aum_floor, 2)}
    candidate = Tier(tenant_id=tier.tenant_id, code=tier.code, **values)
    error = _merge(
        _collect(lambda: _validated(candidate, exclude=[])),
        _collect(
            lambda: _check_tier(
                tier=tier, code=None, name=values["name"], rank=rank, aum_floor=values["aum_floor"]
            )
        ),
    )
    if error is not None:
        raise error
    changes = _changes(tier, values)
    if changes:
        for field, value in values.items():
            setattr(tier, field, value)
        _save(tier, field="rank", message=_("Another tier already has this rank."))
        _audit(
            "update",
            actor=actor,
            obj=tier,
            request=request,
            detail={"changes": changes, "takes_effect": "next nightly run"},
        )
    return tier


@transaction.atomic
def service_standard_update(
    *,
    actor: Actor,
    tier: Tier,
    contact_cadence_days: int,
    maturity_lead_days: int,
    meetings_per_year: int,
    service_package: str,
    book_weight: Decimal,
    festival_care: bool = False,
    request: HttpRequest | None = None,
) -> ServiceStandard:
    """Set a tier's service standard (head office only); creates it if the tier has none.

    Contact plans and RM capacity read the standard when they next run.
    """
    config_edit_check(actor=actor)
    _same_tenant(actor, tier)
    values = {
        "contact_cadence_days": contact_cadence_days,
        "maturity_lead_days": maturity_lead_days,
        "meetings_per_year": meetings_per_year,
        "service_package": service_package.strip(),
        "book_weight": _quantized(book_weight, 2),
        "festival_care": festival_care,
    }
    standard = ServiceStandard.objects.select_for_update().filter(tier=tier).first()
    creating = standard is None
    candidate = ServiceStandard(tenant_id=tier.tenant_id, tier=tier, **values)
    _validated(candidate, exclude=["tier"])
    if creating:
        _save(candidate, field="contact_cadence_days", message=_("This tier has a standard."))
        _audit(
            "create",
            actor=actor,
            obj=candidate,
            request=request,
            detail={"tier": tier.code, "values": {k: _text(v) for k, v in values.items()}},
        )
        return candidate
    changes = _changes(standard, values)
    if changes:
        for field, value in values.items():
            setattr(standard, field, value)
        standard.save()
        _audit(
            "update",
            actor=actor,
            obj=standard,
            request=request,
            detail={"tier": tier.code, "changes": changes},
        )
    return standard


@transaction.atomic
def tier_delete(*, actor: Actor, tier: Tier, request: HttpRequest | None = None) -> None:
    """Remove a tier nobody is in and no history mentions (head office only).

    A tier in use — clients in it, an override pinning it, a tier change from or to
    it — cannot be deleted: the history must keep making sense. Move its floor instead.
    """
    config_edit_check(actor=actor)
    _same_tenant(actor, tier)
    Tier.objects.select_for_update().filter(pk=tier.pk).first()
    if _tier_in_use(tier):
        raise ValidationError(
            _(
                "%(tier)s is in use (clients, overrides or tier history refer to it) and "
                "cannot be deleted. Change its floor instead."
            )
            % {"tier": tier.name}
        )
    standard = ServiceStandard.objects.filter(tier=tier).first()
    _audit(
        "delete",
        actor=actor,
        obj=tier,
        request=request,
        detail={"values": _tier_values(tier, standard)},
    )
    tier.delete()  # its service standard goes with it (CASCADE)


def _same_tenant(actor: Actor, obj: Model) -> None:
    # Objects are always fetched in the actor's tenant, so this only trips on a caller's
    # bug; it keeps a service from ever changing another bank's configuration.
    if obj.tenant_id != actor.tenant_id:
        raise PermissionDenied(_("Only head office may change tiers and service standards."))


# --- The tiering policy ---------------------------------------------------------------


@transaction.atomic
def tiering_policy_update(
    *,
    actor: Actor,
    window_days: int,
    downgrade_grace: int,
    near_threshold_percent: int,
    default_rm_capacity: Decimal,
    request: HttpRequest | None = None,
) -> TieringPolicy:
    """Set the tenant's tiering policy (head office only); the first save creates it."""
    config_edit_check(actor=actor)
    values = {
        "window_days": window_days,
        "downgrade_grace": downgrade_grace,
        "near_threshold_percent": near_threshold_percent,
        "default_rm_capacity": _quantized(default_rm_capacity, 2),
    }
    policy = TieringPolicy.objects.select_for_update().first()
    creating = policy is None
    current = policy or TieringPolicy()  # the defaults are the "before" of a first save
    candidate = TieringPolicy(tenant_id=actor.tenant_id, **values)
    _validated(candidate, exclude=[])
    changes = _changes(current, values)
    if creating:
        _save(candidate, field="window_days", message=_("The policy was saved concurrently."))
        policy = candidate
    elif changes:
        for field, value in values.items():
            setattr(policy, field, value)
        policy.save()
    if creating or changes:
        _audit(
            "create" if creating else "update",
            actor=actor,
            obj=policy,
            request=request,
            detail={"changes": changes, "takes_effect": "next nightly run"},
        )
    return policy


def tier_queryset() -> QuerySet[Tier]:
    """The tenant's tiers (the edit routes look a tier up here by code)."""
    return Tier.objects.all()


# --- Reads of the API ------------------------------------------------------------------


def tier_api_list(*, actor: Actor | None) -> QuerySet[Tier]:
    """The tenant's tiers with their service standard (``standards``, prefetched):
    reference data every member of the tenant and every read token sees."""
    if actor is None:
        return Tier.objects.none()
    return Tier.objects.prefetch_related(
        Prefetch("service_standards", queryset=ServiceStandard.objects.all(), to_attr="standards")
    )


def tier_change_api_list(*, actor: Actor | None) -> QuerySet[TierChange]:
    """Tier changes of the clients the actor may see: the whole tenant for head office
    and integrations, the branch subtree for supervisors, the own book and team for RMs
    and advisors (the clients API's scope)."""
    changes = TierChange.objects.select_related(
        "client", "client__branch", "client__owner_rm", "from_tier", "to_tier"
    )
    if actor is not None and actor.sees_whole_tenant:
        return changes
    return changes.filter(client__in=visible_to(Client.objects.all(), actor).values("pk"))
