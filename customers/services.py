"""Writes of what an RM keeps in the CRM about a client: needs, life events, held-away
assets, relationships and contact preferences.

Core-banking data (identity, holdings, AUM, risk assessments) arrives through the sync
and is not edited here. Every service checks that the actor may edit the client
(``client_edit_check``) and that the objects it combines share the client's tenant,
writes in one transaction (a savepoint inside the request's), and appends an audit entry
in that same transaction, so a refused or failed write leaves nothing behind.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from enum import StrEnum

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import (
    Client,
    ClientTeamMember,
    HeldAwayAsset,
    LifeEvent,
    Need,
    Relationship,
)
from vipcrm.audit import audit_record
from vipcrm.roles import Actor, Role, branch_subtree_ids

CENT = Decimal("0.01")


class Section(StrEnum):
    """The parts of a client an editor may change, each with its own rule."""

    NEEDS = "needs"
    LIFE_EVENTS = "life_events"
    HELD_AWAY = "held_away"
    RELATIONSHIPS = "relationships"
    PREFERENCES = "preferences"


# Advisors join the client's team to advise: they record what they learn (needs, life
# events) but do not change the client's household, wealth or preferences.
ADVISOR_SECTIONS = frozenset({Section.NEEDS, Section.LIFE_EVENTS})


def client_editable_sections(*, actor: Actor | None, client: Client) -> frozenset[Section]:
    """The sections of ``client`` the actor may edit (at most two queries).

    Head office: all. Supervisors: all, for clients of their branch and sub-branches.
    RMs: all, for clients they own or are on the team of. Advisors on the team: needs and
    life events. Anyone else (an API token, another tenant): none.
    """
    staff = getattr(actor, "staff", None)
    if staff is None or client.tenant_id != actor.tenant_id:
        return frozenset()
    everything = frozenset(Section)
    if actor.role == Role.HEAD_OFFICE:
        return everything
    if actor.role == Role.SUPERVISOR:
        return (
            everything if client.branch_id in branch_subtree_ids(staff.branch_id) else frozenset()
        )
    if actor.role == Role.RM and client.owner_rm_id == staff.pk:
        return everything
    if actor.role in (Role.RM, Role.ADVISOR):
        on_team = ClientTeamMember.objects.filter(client=client, staff=staff).exists()
        if on_team:
            return everything if actor.role == Role.RM else ADVISOR_SECTIONS
    return frozenset()


def client_edit_check(*, actor: Actor | None, client: Client, section: Section) -> None:
    """Raise ``PermissionDenied`` unless the actor may edit ``section`` of ``client``."""
    if section not in client_editable_sections(actor=actor, client=client):
        raise PermissionDenied(_("Your role does not allow this."))


def _same_client(obj: Model, client: Client) -> None:
    # Rows are always fetched through the client, so this only trips on a caller's bug;
    # it keeps a service from ever touching a row of another client or tenant.
    if obj.tenant_id != client.tenant_id or obj.client_id != client.pk:
        raise PermissionDenied(_("Your role does not allow this."))


def _audit(
    action: str, *, actor: Actor, obj: Model, request: HttpRequest | None, detail: dict
) -> None:
    # With a request the entry names its user and address; without one (a shell, a
    # test) it names the actor's login.
    user = None if request is not None else getattr(actor.staff, "user", None)
    audit_record(action=action, request=request, user=user, obj=obj, detail=detail)


def _client_row_delete(
    *, actor: Actor, client: Client, row: Model, section: str, request: HttpRequest | None
) -> None:
    """Delete one of the client's own rows (a need, an event, an asset), audited."""
    client_edit_check(actor=actor, client=client, section=section)
    _same_client(row, client)
    _audit("delete", actor=actor, obj=row, request=request, detail={"client": client.external_id})
    row.delete()


def _client_row_update(
    *,
    actor: Actor,
    client: Client,
    row: Model,
    section: str,
    values: dict,
    message: str,
    request: HttpRequest | None,
) -> Model:
    """Change one of the client's own rows; written and audited only when it differs."""
    client_edit_check(actor=actor, client=client, section=section)
    _same_client(row, client)
    changes = _changes(row, values)
    if changes:
        for name, value in values.items():
            setattr(row, name, value)
        _save(row, message_field="kind", message=message)
        _audit(
            "update",
            actor=actor,
            obj=row,
            request=request,
            detail={"client": client.external_id, "changes": changes},
        )
    return row


def _changes(obj: Model, values: dict) -> dict[str, list[str]]:
    """``{field: [old, new]}`` of the values that differ, as text for the audit log."""
    return {
        name: [str(getattr(obj, name)), str(value)]
        for name, value in values.items()
        if getattr(obj, name) != value
    }


def _save(obj: Model, *, message_field: str, message) -> None:
    """Validate and save ``obj`` in a savepoint; a unique clash raced past the checks
    becomes a form error on ``message_field`` instead of a 500."""
    obj.full_clean(exclude=["tenant", "client"], validate_constraints=False)
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as error:
        raise ValidationError({message_field: message}) from error


# --- Needs ---------------------------------------------------------------------------


@transaction.atomic
def need_create(
    *,
    actor: Actor,
    client: Client,
    kind: str,
    note: str = "",
    request: HttpRequest | None = None,
) -> Need:
    client_edit_check(actor=actor, client=client, section=Section.NEEDS)
    duplicate = _("This need is already recorded for the client.")
    if Need.objects.filter(client=client, kind=kind).exists():
        raise ValidationError({"kind": duplicate})
    need = Need(
        tenant_id=client.tenant_id,
        client=client,
        kind=kind,
        note=note,
        identified_on=timezone.localdate(),
    )
    _save(need, message_field="kind", message=duplicate)
    _audit("create", actor=actor, obj=need, request=request, detail={"client": client.external_id})
    return need


@transaction.atomic
def need_mark_addressed(
    *, actor: Actor, client: Client, need: Need, request: HttpRequest | None = None
) -> Need:
    client_edit_check(actor=actor, client=client, section=Section.NEEDS)
    _same_client(need, client)
    if need.is_open:
        need.is_open = False
        need.save(update_fields=["is_open", "updated_at"])
        _audit(
            "update",
            actor=actor,
            obj=need,
            request=request,
            detail={"client": client.external_id, "changes": {"is_open": ["True", "False"]}},
        )
    return need


@transaction.atomic
def need_delete(
    *, actor: Actor, client: Client, need: Need, request: HttpRequest | None = None
) -> None:
    _client_row_delete(actor=actor, client=client, row=need, section=Section.NEEDS, request=request)


# --- Life events ---------------------------------------------------------------------


@transaction.atomic
def life_event_create(
    *,
    actor: Actor,
    client: Client,
    kind: str,
    occurs_on: datetime.date,
    note: str = "",
    request: HttpRequest | None = None,
) -> LifeEvent:
    client_edit_check(actor=actor, client=client, section=Section.LIFE_EVENTS)
    event = LifeEvent(
        tenant_id=client.tenant_id, client=client, kind=kind, occurs_on=occurs_on, note=note
    )
    _save(event, message_field="kind", message=_("This event could not be saved."))
    _audit("create", actor=actor, obj=event, request=request, detail={"client": client.external_id})
    return event


@transaction.atomic
def life_event_update(
    *,
    actor: Actor,
    client: Client,
    life_event: LifeEvent,
    kind: str,
    occurs_on: datetime.date,
    note: str = "",
    request: HttpRequest | None = None,
) -> LifeEvent:
    return _client_row_update(
        actor=actor,
        client=client,
        row=life_event,
        section=Section.LIFE_EVENTS,
        values={"kind": kind, "occurs_on": occurs_on, "note": note},
        message=_("This event could not be saved."),
        request=request,
    )


@transaction.atomic
def life_event_delete(
    *, actor: Actor, client: Client, life_event: LifeEvent, request: HttpRequest | None = None
) -> None:
    _client_row_delete(
        actor=actor, client=client, row=life_event, section=Section.LIFE_EVENTS, request=request
    )


# --- Held-away assets ----------------------------------------------------------------


def _clean_amount(amount_cny: Decimal) -> Decimal:
    """A finite Decimal ≥ 0 with at most two decimals, stored to the cent."""
    if (
        not isinstance(amount_cny, Decimal)
        or not amount_cny.is_finite()
        or amount_cny < 0
        or amount_cny.as_tuple().exponent < -2
    ):
        raise ValidationError({"amount_cny": _("Enter an amount of zero or more, to the cent.")})
    return amount_cny.quantize(CENT)


@transaction.atomic
def held_away_asset_create(
    *,
    actor: Actor,
    client: Client,
    kind: str,
    amount_cny: Decimal,
    description: str = "",
    as_of: datetime.date | None = None,
    request: HttpRequest | None = None,
) -> HeldAwayAsset:
    client_edit_check(actor=actor, client=client, section=Section.HELD_AWAY)
    amount_cny = _clean_amount(amount_cny)
    asset = HeldAwayAsset(
        tenant_id=client.tenant_id,
        client=client,
        kind=kind,
        amount_cny=amount_cny,
        description=description,
        as_of=as_of or timezone.localdate(),
    )
    _save(asset, message_field="kind", message=_("This asset could not be saved."))
    _audit("create", actor=actor, obj=asset, request=request, detail={"client": client.external_id})
    return asset


@transaction.atomic
def held_away_asset_update(
    *,
    actor: Actor,
    client: Client,
    asset: HeldAwayAsset,
    kind: str,
    amount_cny: Decimal,
    description: str = "",
    as_of: datetime.date | None = None,
    request: HttpRequest | None = None,
) -> HeldAwayAsset:
    # _client_row_update checks the permission before anything is written.
    values = {
        "kind": kind,
        "amount_cny": _clean_amount(amount_cny),
        "description": description,
        "as_of": as_of or asset.as_of,
    }
    return _client_row_update(
        actor=actor,
        client=client,
        row=asset,
        section=Section.HELD_AWAY,
        values=values,
        message=_("This asset could not be saved."),
        request=request,
    )


@transaction.atomic
def held_away_asset_delete(
    *, actor: Actor, client: Client, asset: HeldAwayAsset, request: HttpRequest | None = None
) -> None:
    _client_row_delete(
        actor=actor, client=client, row=asset, section=Section.HELD_AWAY, request=request
    )


# --- Relationships -------------------------------------------------------------------


@transaction.atomic
def relationship_create(
    *,
    actor: Actor,
    client: Client,
    related: Client,
    kind: str,
    request: HttpRequest | None = None,
) -> Relationship:
    """Tie ``client`` to ``related`` (another client of the same tenant).

    A tie recorded from either side counts: A–B and B–A are the same relationship.
    """
    client_edit_check(actor=actor, client=client, section=Section.RELATIONSHIPS)
    if related.tenant_id != client.tenant_id:
        # The caller looked ``related`` up in the actor's scope, so this is a bug; say
        # "not found" all the same, as for any client the actor cannot see.
        raise ValidationError({"related": _("No client with this customer number in your view.")})
    if related.pk == client.pk:
        raise ValidationError({"related": _("A client cannot be related to themself.")})
    duplicate = _("These two clients are already related.")
    already = Relationship.objects.filter(client=client, related=related).exists() or (
        Relationship.objects.filter(client=related, related=client).exists()
    )
    if already:
        raise ValidationError({"related": duplicate})
    tie = Relationship(tenant_id=client.tenant_id, client=client, related=related, kind=kind)
    tie.full_clean(exclude=["tenant", "client", "related"], validate_constraints=False)
    try:
        with transaction.atomic():
            tie.save()
    except IntegrityError as error:
        raise ValidationError({"related": duplicate}) from error
    _audit(
        "create",
        actor=actor,
        obj=tie,
        request=request,
        detail={"client": client.external_id, "related": related.external_id},
    )
    return tie


@transaction.atomic
def relationship_delete(
    *,
    actor: Actor,
    client: Client,
    relationship: Relationship,
    request: HttpRequest | None = None,
) -> None:
    client_edit_check(actor=actor, client=client, section=Section.RELATIONSHIPS)
    if relationship.tenant_id != client.tenant_id or client.pk not in (
        relationship.client_id,
        relationship.related_id,
    ):
        raise PermissionDenied(_("Your role does not allow this."))
    _audit(
        "delete",
        actor=actor,
        obj=relationship,
        request=request,
        detail={"client": client.external_id},
    )
    relationship.delete()


# --- Contact preferences -------------------------------------------------------------


@transaction.atomic
def client_preferences_update(
    *,
    actor: Actor,
    client: Client,
    preferred_channel: str,
    preferred_contact_time: str,
    is_confidential: bool,
    lunar_birthday: bool | None = None,
    request: HttpRequest | None = None,
) -> Client:
    client_edit_check(actor=actor, client=client, section=Section.PREFERENCES)
    values = {
        "preferred_channel": preferred_channel,
        "preferred_contact_time": preferred_contact_time,
        "is_confidential": is_confidential,
    }
    if lunar_birthday is not None:  # None: left as it is (callers that do not ask)
        values["lunar_birthday"] = lunar_birthday
    changes = _changes(client, values)
    if changes:
        for name, value in values.items():
            setattr(client, name, value)
        # Only these fields: nothing else of the client (the sync's data) is rewritten.
        client.full_clean(
            exclude=[f.name for f in Client._meta.fields if f.name not in values],
            validate_unique=False,
            validate_constraints=False,
        )
        client.save(update_fields=[*values, "updated_at"])
        _audit(
            "update",
            actor=actor,
            obj=client,
            request=request,
            detail={"client": client.external_id, "changes": changes},
        )
    return client
