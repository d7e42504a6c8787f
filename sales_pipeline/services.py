"""Sales-pipeline writes: the five steps, proposals and suitability, the win and its
credits, follow-up, referrals, the celebration, and the nightly maturity opportunities.

Who may write
-------------
An opportunity (or client) the actor may not see is refused as not found —
``Opportunity.DoesNotExist`` / ``Client.DoesNotExist``, which callers turn into a 404 —
and that is checked *first*, before the role or the input, so the answer for another
bank's or another book's opportunity is the same as for one that does not exist. Then:
staff with the role RM or advisor who see the opportunity move it (RMs: their book and
the clients whose team they are on; advisors: their team's clients), and integration
tokens with the ``write`` scope. A read-only token, a supervisor or head office get
``PermissionDenied``: they follow the pipeline, they do not move it.

Every write runs in one transaction with the opportunity locked (``select_for_update``),
is audited (``vipcrm.audit``, with what changed, e.g. ``{"step": [2, 3]}``), and refuses
bad input with ``ValidationError`` — a dict of field → message(s) (``__all__`` for the
opportunity's state) — having written nothing. Dates are the bank's
(``Tenant.time_zone``, default Asia/Shanghai).

The steps
---------
An opportunity is opened at step 1 (``opportunity_create``) and moves exactly one step
forward at a time (``opportunity_move``); a skip, a move backwards or a move of a closed
opportunity is refused on ``to_step``. Each move checks that the step being *left* is
done, records when it was left (``StepEntry.left_at``) and enters the next
(``StepEntry``, ``Opportunity.step_entered_at``), so time-in-step and conversion per
step can be measured. A caller that shows a step may send it as ``from_step``: when the
opportunity has moved meanwhile the move is refused as ``StepConflict`` (the API's 409).

1. **Plan** — done when a contact is planned and not cancelled
   (``opportunity_plan_contact``: a ``PlannedContact`` through
   ``contact_plans.services.planned_contact_create``, reason life event, campaign or
   follow-up by the opportunity's source; a maturity opportunity comes with its alert).
2. **Contact & assess needs** — done when an interaction with needs found is logged:
   the one logged through ``opportunity_log_contact`` (``interaction_log``, answering the
   open planned contact), else the client's latest one logged since the opportunity was
   opened, which the move then links.
3. **Execute** — a ``Proposal`` (``proposal_create``: one or more products of the bank,
   each once, amounts above zero) must pass **suitability**: the client's risk
   assessment exists and is valid (``Client.risk_is_valid``: less than 12 months old),
   and no product's risk level Rn exceeds the client's Cn. The sale is recorded by
   ``opportunity_win``, which checks suitability again on the day of the sale (the
   assessment may have expired since the proposal), requires the reference of the sales
   recording (双录) on every line whose product category is in
   ``RECORDING_CATEGORIES``, accepts the proposal (other drafts are superseded), and
   moves the opportunity to step 4 itself: the move 3 → 4 is the win.
4. **Follow up** — the win plans the after-sales check-ins, ``FOLLOW_UP_DAYS`` after the
   sale, as follow-up planned contacts for the owner RM (``opportunity_check_in_log``
   records one); the step is done when every check-in that is not cancelled is done, and
   there is at least one. Cross-sell opportunities (``cross_sell_create``) and referrals
   (``referral_create``: a prospect client linked to the referrer, with its own
   opportunity, credited to the referring RM) are captured at steps 4 and 5.
5. **Celebrate** — ``celebration_record`` (once, team recognition required) closes the
   opportunity (``completed_at``) and tells the team (notification ``sale_celebrated``).

The win is credited (``SaleCredit``) to the client's secondary RMs (主辅管户) by their
``ClientTeamMember.credit_share`` and to the owner RM for the rest (100 − their sum;
refused when the shares add up to more than 100); the amounts are split to the cent and
add up exactly to the amount won. ``opportunity_lose`` closes an opportunity with a
reason at any step before the celebration; after a win (a cancellation in the cooling-off
period, 犹豫期) the credits are withdrawn, the accepted proposal is declined and the open
check-ins are cancelled (the amount won stays as the record of what was cancelled).

The nightly maturity opportunities (job ``sales_pipeline.maturity``, order 35)
------------------------------------------------------------------------------
After the contact planning (30) has made the night's maturity alerts, every open
maturity ``PlannedContact`` of a holding not matured yet and without an opportunity gets
exactly one: source maturity, the alert's ``source_key``, holding and planned contact
(so step 1 is done), the alert's CNY amount as the expected amount, the client's owner
RM, titled with the product and the maturity date — and its step-1 ``StepEntry``. Two
set-based statements, whatever the number of alerts; ``INSERT … ON CONFLICT (tenant,
source_key) DO NOTHING`` on the opportunity's unique key makes a second run, or two
racing runs, unable to add a second opportunity for the same alert. A cancelled or done
alert gets none. A third statement hands the opportunities still running (not lost,
not celebrated) of clients whose owner RM changed — a reassignment, a core-banking
sync — to the new owner RM; the credits of a sale already won stay with those who won
it. Every statement is limited to ``current_tenant_id()`` (and on PostgreSQL by
Row-Level Security).
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from contact_plans.models import Interaction, PlannedContact
from contact_plans.services import (
    client_access,
    interaction_log,
    planned_contact_create,
    tenant_today,
    tenant_zone,
)
from customers.models import (
    Channel,
    Client,
    ClientTeamMember,
    Holding,
    LifeEvent,
    Product,
    Relationship,
)
from customers.validators import mobile_error
from sales_pipeline.models import (
    Celebration,
    Opportunity,
    OpportunityAdvisor,
    OpportunityProduct,
    Proposal,
    ProposalLine,
    Referral,
    SaleCredit,
    Step,
    StepEntry,
)
from sales_pipeline.selectors import opportunity_list
from vipcrm.audit import audit_action
from vipcrm.models import Notification, StaffProfile
from vipcrm.roles import Actor, Role, token_write_check
from vipcrm.tenancy import current_tenant_id

FOLLOW_UP_DAYS = (7, 30)  # after-sales check-ins, days after the sale
RECORDING_CATEGORIES = frozenset(
    {
        Product.Category.WEALTH_MANAGEMENT,
        Product.Category.FUND,
        Product.Category.INSURANCE,
        Product.Category.TRUST,
    }
)  # wealth-management and agency products: the sale is recorded on audio and video (双录)
WRITER_ROLES = frozenset({Role.RM, Role.ADVISOR})
NOTIFICATION_KIND = "sale_celebrated"
PROSPECT_PREFIX = "PROSPECT-"
MAX_AMOUNT = Decimal("9999999999999999.99")  # MONEY: 18 digits, 2 decimals
CENT = Decimal("0.01")
HUNDRED = Decimal("100")
STATE = NON_FIELD_ERRORS  # errors about the opportunity's state, not a field
OPEN_CONTACT = tuple(status.value for status in PlannedContact.OPEN)
CONTACT_REASON_BY_SOURCE = {
    Opportunity.Source.LIFE_EVENT: PlannedContact.Reason.LIFE_EVENT,
    Opportunity.Source.CAMPAIGN: PlannedContact.Reason.CAMPAIGN,
}  # any other source: a follow-up


class StepConflict(ValidationError):
    """The caller's ``from_step`` is no longer the opportunity's step: someone moved it
    meanwhile (the API answers 409 Conflict)."""


@dataclass(frozen=True)
class StepState:
    """One step of an opportunity's checklist."""

    step: int
    label: str
    status: str  # "done" | "current" | "todo"
    entered_at: datetime.datetime | None
    left_at: datetime.datetime | None
    days_in_step: int | None  # whole days entered → left (or → now for the current step)
    requirement: str  # what finishing this step needs, in words
    met: bool  # is it met now


# --- Shared checks ---------------------------------------------------------------------------


def _opportunity_locked(*, actor: Actor | None, opportunity: Opportunity | None) -> Opportunity:
    """The opportunity, locked for the change, with its client, if ``actor`` may see it;
    ``Opportunity.DoesNotExist`` otherwise."""
    if (
        actor is None
        or opportunity is None
        or opportunity.pk is None
        or opportunity.tenant_id != actor.tenant_id
        or opportunity.tenant_id != current_tenant_id()
        or (actor.staff is None and not actor.is_integration)
    ):
        raise Opportunity.DoesNotExist("No such opportunity.")
    locked = (
        opportunity_list(actor=actor)
        .select_for_update(of=("self",))
        .filter(pk=opportunity.pk)
        .first()
    )
    if locked is None:
        raise Opportunity.DoesNotExist("No such opportunity.")
    return locked


def _writer_check(actor: Actor) -> None:
    token_write_check(actor)
    if not actor.is_integration and actor.role not in WRITER_ROLES:
        raise PermissionDenied(
            _("Supervisors and head office follow the pipeline; the RM and advisors move it.")
        )


def _staff(actor: Actor) -> StaffProfile | None:
    return actor.staff if not actor.is_integration else None


def _open_check(opportunity: Opportunity, *, steps: Iterable[int], doing: str) -> None:
    """Refuse (on ``__all__``) unless the opportunity is open at one of ``steps``."""
    if opportunity.status == Opportunity.Status.LOST:
        raise ValidationError({STATE: _("This opportunity is lost: it is closed.")})
    if opportunity.completed_at is not None:
        raise ValidationError({STATE: _("This opportunity is celebrated: it is closed.")})
    if opportunity.step not in steps:
        raise ValidationError(
            {
                STATE: _("%(doing)s at step %(steps)s; this opportunity is at step %(step)s.")
                % {
                    "doing": doing,
                    "steps": gettext(" or ").join(str(step) for step in steps),
                    "step": opportunity.step,
                }
            }
        )


def _won_check(opportunity: Opportunity, *, doing: str) -> None:
    """Refuse unless the sale is recorded (steps 4 and 5 of a won opportunity)."""
    if opportunity.status != Opportunity.Status.WON:
        raise ValidationError(
            {STATE: _("%(doing)s once the sale is recorded (won).") % {"doing": doing}}
        )


def _amount(value: Any, *, required: bool) -> tuple[Decimal | None, str | None]:
    """``(amount, None)`` for a valid amount in CNY (above zero, two decimals at most),
    ``(None, message)`` otherwise; ``None`` passes when not ``required``."""
    if value is None or value == "":
        return None, (str(_("Give the amount in CNY.")) if required else None)
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None, str(_("Enter the amount as a number of yuan."))
    if not amount.is_finite():
        return None, str(_("Enter the amount as a number of yuan."))
    if amount <= 0:
        return None, str(_("The amount must be more than zero."))
    if amount > MAX_AMOUNT:
        return None, str(_("The amount is too large."))
    if amount != amount.quantize(CENT):
        return None, str(_("The amount has at most two decimals (fen)."))
    return amount.quantize(CENT), None


def _text(value: Any) -> str:
    return str(value or "").strip()


def _length_error(errors: dict, field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        errors[field] = _("Too long (%(limit)s characters at most).") % {"limit": limit}


def _products_clean(products: Iterable[Product], errors: dict) -> list[Product]:
    """The products, once each, all of the current bank (else an error on ``products``)."""
    tenant_id = current_tenant_id()
    chosen: dict[int, Product] = {}
    for product in products or ():
        if not isinstance(product, Product) or product.pk is None or product.tenant_id != tenant_id:
            errors["products"] = _("Choose the products from your bank's catalogue.")
            return []
        chosen.setdefault(product.pk, product)
    return list(chosen.values())


def _advisors_clean(
    advisors: Iterable[StaffProfile], client: Client, errors: dict
) -> list[StaffProfile]:
    """The advisors, once each: active staff on the client's team (one query)."""
    chosen: dict[int, StaffProfile] = {}
    for staff in advisors or ():
        if not isinstance(staff, StaffProfile) or staff.tenant_id != client.tenant_id:
            errors["advisors"] = _("Choose the advisors among the client's team.")
            return []
        chosen.setdefault(staff.pk, staff)
    if not chosen:
        return []
    on_team = set(
        ClientTeamMember.objects.filter(client=client, staff_id__in=chosen).values_list(
            "staff_id", flat=True
        )
    )
    outside = [staff for pk, staff in chosen.items() if pk not in on_team or not staff.is_active]
    if outside:
        errors["advisors"] = _(
            "%(names)s: not on the client's team. Add them to the team first."
        ) % {"names": gettext(", ").join(staff.name for staff in outside)}
        return []
    return list(chosen.values())


# --- Steps -----------------------------------------------------------------------------------


def _check_in_prefix(opportunity: Opportunity) -> str:
    return f"opportunity:{opportunity.pk}:check_in:"


def _check_ins(opportunity: Opportunity) -> models.QuerySet[PlannedContact]:
    """The opportunity's after-sales check-ins (planned by the win)."""
    return PlannedContact.objects.filter(
        client_id=opportunity.client_id,
        reason=PlannedContact.Reason.FOLLOW_UP,
        source_key__startswith=_check_in_prefix(opportunity),
    )


def _needs_interaction(opportunity: Opportunity) -> Interaction | None:
    """The interaction in which the needs were found: the linked one when it found some,
    else the client's latest one with needs logged since the opportunity was opened."""
    linked = opportunity.interaction if opportunity.interaction_id else None
    if linked is not None and linked.needs_found:
        return linked
    candidates = (
        Interaction.objects.filter(
            client_id=opportunity.client_id, created_at__gte=opportunity.created_at
        )
        .exclude(needs_found=[])
        .order_by("-occurred_at", "-id")
    )
    return candidates.first()


@dataclass
class _Facts:
    """What the step rules look at, read once (a fixed number of queries)."""

    planned: bool
    needs: Interaction | None
    check_ins_done: int
    check_ins_due: int  # not cancelled

    @classmethod
    def load(cls, opportunity: Opportunity) -> _Facts:
        contact = opportunity.planned_contact if opportunity.planned_contact_id else None
        statuses = list(_check_ins(opportunity).values_list("status", flat=True))
        due = [status for status in statuses if status != PlannedContact.Status.CANCELLED]
        return cls(
            planned=contact is not None and contact.status != PlannedContact.Status.CANCELLED,
            needs=_needs_interaction(opportunity),
            check_ins_done=sum(status == PlannedContact.Status.DONE for status in due),
            check_ins_due=len(due),
        )

    def met(self, opportunity: Opportunity, step: int) -> bool:
        if step == Step.PLAN:
            return self.planned
        if step == Step.CONTACT:
            return self.needs is not None
        if step == Step.EXECUTE:
            return opportunity.status == Opportunity.Status.WON
        if step == Step.FOLLOW_UP:
            return self.check_ins_due > 0 and self.check_ins_done == self.check_ins_due
        return opportunity.completed_at is not None


def _requirement(step: int) -> str:
    days = gettext(" and ").join(str(days) for days in FOLLOW_UP_DAYS)
    return {
        Step.PLAN: gettext("A contact with the client is planned."),
        Step.CONTACT: gettext("A contact with the client is logged, with the needs found."),
        Step.EXECUTE: gettext(
            "A suitable proposal is accepted and the sale recorded (won), with the sales "
            "recording (双录) where required."
        ),
        Step.FOLLOW_UP: gettext(
            "The after-sales check-ins (%(days)s days after the sale) are done."
        )
        % {"days": days},
        Step.CELEBRATE: gettext("The celebration is recorded: recognition for the team."),
    }[step]


def _unmet_message(opportunity: Opportunity, facts: _Facts) -> str:
    """Why the current step is not done yet (the move's refusal)."""
    step = opportunity.step
    if step == Step.PLAN:
        return gettext("Plan the contact with the client first (step 1).")
    if step == Step.CONTACT:
        return gettext("Log the contact with the client, with the needs found, first (step 2).")
    if step == Step.EXECUTE:
        return gettext(
            "Record the sale first: the win of a suitable proposal moves the opportunity to step 4."
        )
    if facts.check_ins_due == 0:
        return gettext("No after-sales check-in is left: this opportunity cannot be followed up.")
    return gettext("Do the after-sales check-ins first: %(done)s of %(due)s done.") % {
        "done": facts.check_ins_done,
        "due": facts.check_ins_due,
    }


def opportunity_checklist(*, opportunity: Opportunity) -> list[StepState]:
    """The five steps of ``opportunity``: done, current or to do, when each was entered
    and left, the days spent in it, what finishing it needs and whether that is met.

    A fixed number of queries (none for the step entries when they are prefetched, as by
    ``opportunity_detail_queryset``).
    """
    entries = {entry.step: entry for entry in opportunity.step_entries.all()}
    facts = _Facts.load(opportunity)
    now = timezone.now()
    states = []
    for step in Step:
        entry = entries.get(step.value)
        if step.value < opportunity.step or (
            step.value == opportunity.step and opportunity.completed_at is not None
        ):
            status = "done"
        elif step.value == opportunity.step:
            status = "current"
        else:
            status = "todo"
        days = None
        if entry is not None:
            days = ((entry.left_at or now) - entry.entered_at).days
        states.append(
            StepState(
                step=step.value,
                label=str(step.label),
                status=status,
                entered_at=entry.entered_at if entry else None,
                left_at=entry.left_at if entry else None,
                days_in_step=days,
                requirement=_requirement(step.value),
                met=facts.met(opportunity, step.value),
            )
        )
    return states


def _step_enter(
    opportunity: Opportunity, to_step: int, *, by: StaffProfile | None, now: datetime.datetime
) -> None:
    """Leave the current step and enter ``to_step`` (the caller saves the opportunity)."""
    StepEntry.objects.filter(
        opportunity=opportunity, step=opportunity.step, left_at__isnull=True
    ).update(left_at=now, updated_at=now)
    StepEntry.objects.create(opportunity=opportunity, step=to_step, entered_at=now, entered_by=by)
    opportunity.step = to_step
    opportunity.step_entered_at = now


def _step_leave(opportunity: Opportunity, now: datetime.datetime) -> None:
    """The current step is left without a next one (the opportunity closes)."""
    StepEntry.objects.filter(
        opportunity=opportunity, step=opportunity.step, left_at__isnull=True
    ).update(left_at=now, updated_at=now)


def _step_number(value: Any, field: str) -> int:
    try:
        step = int(value)
    except (TypeError, ValueError):
        step = 0
    if step not in Step.values:
        raise ValidationError({field: _("Choose a step from 1 to 5.")})
    return step


@transaction.atomic
def opportunity_move(
    *,
    actor: Actor,
    opportunity: Opportunity,
    to_step: int,
    from_step: int | None = None,
    request: HttpRequest | None = None,
) -> Opportunity:
    """Move ``opportunity`` one step forward, to ``to_step``, when the step it leaves is
    done (see the module docstring). ``from_step``: the step the caller saw — refused as
    ``StepConflict`` when the opportunity is no longer there. Audited."""
    opportunity = _opportunity_locked(actor=actor, opportunity=opportunity)
    _writer_check(actor)
    if from_step is not None and from_step != "":
        seen = _step_number(from_step, "from_step")
        if seen != opportunity.step:
            raise StepConflict(
                {
                    "from_step": _(
                        "This opportunity has moved meanwhile: it is at step %(step)s "
                        "(%(label)s) now."
                    )
                    % {"step": opportunity.step, "label": Step(opportunity.step).label}
                }
            )
    to_step = _step_number(to_step, "to_step")
    current = Step(opportunity.step)
    if opportunity.status == Opportunity.Status.LOST:
        raise ValidationError({"to_step": _("This opportunity is lost: it cannot move.")})
    if opportunity.completed_at is not None:
        raise ValidationError({"to_step": _("This opportunity is celebrated: it is closed.")})
    if to_step <= current:
        raise ValidationError(
            {
                "to_step": _("An opportunity never moves back: it is at step %(step)s (%(label)s).")
                % {"step": current.value, "label": current.label}
            }
        )
    if to_step > current + 1:
        raise ValidationError(
            {
                "to_step": _(
                    "A step cannot be skipped: finish step %(step)s (%(label)s), then move "
                    "to step %(next)s."
                )
                % {"step": current.value, "label": current.label, "next": current + 1}
            }
        )
    facts = _Facts.load(opportunity)
    if not facts.met(opportunity, current):
        raise ValidationError({"to_step": _unmet_message(opportunity, facts)})
    fields = ["step", "step_entered_at", "updated_at"]
    if current == Step.CONTACT and facts.needs.pk != opportunity.interaction_id:
        opportunity.interaction = facts.needs
        fields.append("interaction")
    _step_enter(opportunity, to_step, by=_staff(actor), now=timezone.now())
    opportunity.save(update_fields=fields)
    detail: dict[str, Any] = {"step": [current.value, to_step]}
    if "interaction" in fields:
        detail["interaction"] = facts.needs.pk
    audit_action("update", actor=actor, obj=opportunity, request=request, detail=detail)
    return opportunity


# --- Opening and editing ---------------------------------------------------------------------


def _opportunity_errors(
    *,
    title: str,
    expected_amount_cny: Any,
    products: Iterable[Product],
    advisors: Iterable[StaffProfile],
    client: Client,
) -> tuple[dict[str, Any], Decimal | None, list[Product], list[StaffProfile]]:
    errors: dict[str, Any] = {}
    if not title:
        errors["title"] = _("Give the opportunity a title.")
    else:
        _length_error(errors, "title", title, Opportunity._meta.get_field("title").max_length)
    amount, message = _amount(expected_amount_cny, required=False)
    if message:
        errors["expected_amount_cny"] = message
    chosen_products = _products_clean(products, errors)
    chosen_advisors = _advisors_clean(advisors, client, errors)
    return errors, amount, chosen_products, chosen_advisors


def _opportunity_new(
    *,
    actor: Actor,
    client: Client,
    title: str,
    source: str,
    amount: Decimal | None,
    products: Sequence[Product],
    advisors: Sequence[StaffProfile],
    owner: StaffProfile | None,
    request: HttpRequest | None,
    **links: Any,
) -> Opportunity:
    """Create an opportunity at step 1 with its step entry, products and advisors
    (already checked), audited."""
    now = timezone.now()
    by = _staff(actor)
    opportunity = Opportunity.objects.create(
        client=client,
        owner_rm=owner,
        title=title,
        source=source,
        expected_amount_cny=amount,
        step=Step.PLAN,
        step_entered_at=now,
        created_by=by,
        **links,
    )
    StepEntry.objects.create(opportunity=opportunity, step=Step.PLAN, entered_at=now, entered_by=by)
    OpportunityProduct.objects.bulk_create(
        OpportunityProduct(opportunity=opportunity, product=product) for product in products
    )
    OpportunityAdvisor.objects.bulk_create(
        OpportunityAdvisor(opportunity=opportunity, staff=staff) for staff in advisors
    )
    audit_action(
        "create",
        actor=actor,
        obj=opportunity,
        request=request,
        detail={
            "client": client.external_id,
            "source": source,
            "step": Step.PLAN.value,
            "expected_amount_cny": str(amount) if amount is not None else None,
            "products": [product.code for product in products],
            "advisors": [staff.code for staff in advisors],
            **{name: getattr(value, "pk", None) for name, value in links.items()},
        },
    )
    return opportunity


def _default_owner(actor: Actor, client: Client) -> StaffProfile | None:
    """The client's owner RM; for a client in the branch pool, the acting RM."""
    if client.owner_rm_id:
        return client.owner_rm
    return actor.staff if actor.role == Role.RM else None


@transaction.atomic
def opportunity_create(
    *,
    actor: Actor,
    client: Client,
    title: str,
    source: str,
    expected_amount_cny: Decimal | None = None,
    products: Iterable[Product] = (),
    advisors: Iterable[StaffProfile] = (),
    holding: Holding | None = None,
    life_event: LifeEvent | None = None,
    parent: Opportunity | None = None,
    request: HttpRequest | None = None,
) -> Opportunity:
    """Open an opportunity for ``client`` at step 1.

    Owner: the client's owner RM, else (a client in the branch pool) the acting RM.
    Refused by field: no title or one too long; an unknown source, or "maturity" (the
    night's alone: one per maturity alert); an expected amount not above zero; products
    not of this bank; advisors not on the client's team; a holding, life event or parent
    opportunity of another client; a parent not won; a cross-sell without its parent.
    Audited.
    """
    client_access(actor=actor, client=client)
    _writer_check(actor)
    title = _text(title)
    errors, amount, chosen_products, chosen_advisors = _opportunity_errors(
        title=title,
        expected_amount_cny=expected_amount_cny,
        products=products,
        advisors=advisors,
        client=client,
    )
    if source not in Opportunity.Source.values:
        errors["source"] = _("Choose where the opportunity comes from.")
    elif source == Opportunity.Source.MATURITY:
        errors["source"] = _(
            "Maturity opportunities are opened by the nightly planning, one per maturity alert."
        )
    if holding is not None and (
        holding.client_id != client.pk or holding.tenant_id != client.tenant_id
    ):
        errors["holding"] = _("This holding is not the client's.")
    if life_event is not None and (
        life_event.client_id != client.pk or life_event.tenant_id != client.tenant_id
    ):
        errors["life_event"] = _("This life event is not the client's.")
    if parent is not None and (
        parent.client_id != client.pk
        or parent.tenant_id != client.tenant_id
        or parent.status != Opportunity.Status.WON
    ):
        errors["parent"] = _("A follow-on opportunity comes from a won opportunity of the client.")
    elif parent is None and source == Opportunity.Source.CROSS_SELL:
        errors["source"] = _("A cross-sell is opened from the won opportunity it was found in.")
    if errors:
        raise ValidationError(errors)
    return _opportunity_new(
        actor=actor,
        client=client,
        title=title,
        source=source,
        amount=amount,
        products=chosen_products,
        advisors=chosen_advisors,
        owner=_default_owner(actor, client),
        request=request,
        holding=holding,
        life_event=life_event,
        parent=parent,
    )


@transaction.atomic
def opportunity_update(
    *,
    actor: Actor,
    opportunity: Opportunity,
    title: str,
    expected_amount_cny: Decimal | None,
    products: Iterable[Product],
    advisors: Iterable[StaffProfile],
    request: HttpRequest | None = None,
) -> Opportunity:
    """Change the title, expected amount, products of interest and advisors of an
    opportunity that is not closed (the same checks as ``opportunity_create``).
    Written and audited only when something differs."""
    opportunity = _opportunity_locked(actor=actor, opportunity=opportunity)
    _writer_check(actor)
    _open_check(opportunity, steps=Step.values, doing=gettext("An opportunity is edited"))
    title = _text(title)
    errors, amount, chosen_products, chosen_advisors = _opportunity_errors(
        title=title,
        expected_amount_cny=expected_amount_cny,
        products=products,
        advisors=advisors,
        client=opportunity.client,
    )
    if errors:
        raise ValidationError(errors)
    changes: dict[str, Any] = {}
    for name, value in (("title", title), ("expected_amount_cny", amount)):
        if getattr(opportunity, name) != value:
            changes[name] = [_audit_value(getattr(opportunity, name)), _audit_value(value)]
            setattr(opportunity, name, value)
    old_products = set(opportunity.product_links.values_list("product_id", flat=True))
    new_products = {product.pk for product in chosen_products}
    if old_products != new_products:
        opportunity.product_links.exclude(product_id__in=new_products).delete()
        OpportunityProduct.objects.bulk_create(
            OpportunityProduct(opportunity=opportunity, product=product)
            for product in chosen_products
            if product.pk not in old_products
        )
        changes["products"] = [sorted(old_products), sorted(new_products)]
    old_advisors = set(opportunity.advisor_links.values_list("staff_id", flat=True))
    new_advisors = {staff.pk for staff in chosen_advisors}
    if old_advisors != new_advisors:
        opportunity.advisor_links.exclude(staff_id__in=new_advisors).delete()
        OpportunityAdvisor.objects.bulk_create(
            OpportunityAdvisor(opportunity=opportunity, staff=staff)
            for staff in chosen_advisors
            if staff.pk not in old_advisors
        )
        changes["advisors"] = [sorted(old_advisors), sorted(new_advisors)]
    if changes:
        opportunity.save(update_fields=["title", "expected_amount_cny", "updated_at"])
        audit_action("update", actor=actor, obj=opportunity, request=request, detail=changes)
    return opportunity


def _audit_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


# --- Step 1 and 2: the contact ---------------------------------------------------------------


@transaction.atomic
def opportunity_plan_contact(
    *,
    actor: Actor,
    opportunity: Opportunity,
    due_on: datetime.date,
    channel: str = "",
    note: str = "",
    request: HttpRequest | None = None,
) -> PlannedContact:
    """Step 1's work: plan the contact with the client for the owner RM (through
    ``contact_plans.services.planned_contact_create``, with its checks: a due date not in
    the past, a known channel, a short note), linked as the opportunity's planned contact.
    Refused while a contact planned for it is still open."""
    opportunity = _opportunity_locked(actor=actor, opportunity=opportunity)
    _writer_check(actor)
    _open_check(opportunity, steps=(Step.PLAN,), doing=gettext("The contact is planned"))
    current = opportunity.planned_contact if opportunity.planned_contact_id else None
    if current is not None and current.is_open:
        raise ValidationError(
            {
                STATE: _("A contact is already planned for this opportunity, due on %(date)s.")
                % {"date": current.due_on.isoformat()}
            }
        )
    reason = CONTACT_REASON_BY_SOURCE.get(opportunity.source, PlannedContact.Reason.FOLLOW_UP)
    contact = planned_contact_create(
        actor=actor,
        client=opportunity.client,
        reason=reason,
        due_on=due_on,
        channel=channel,
        note=note or opportunity.title[:200],
        request=request,
    )
    opportunity.planned_contact = contact
    opportunity.save(update_fields=["planned_contact", "updated_at"])
    audit_action(
        "update",
        actor=actor,
        obj=opportunity,
        request=request,
        detail={"planned_contact": [getattr(current, "pk", None), contact.pk]},
    )
    return contact


@transaction.atomic
def opportunity_log_contact(
    *,
    actor: Actor,
    opportunity: Opportunity,
    channel: str,
    occurred_at: datetime.datetime,
    summary: str,
    needs_found: Iterable[str],
    duration_minutes: int | None = None,
    request: HttpRequest | None = None,
) -> Interaction:
    """Step 2's work: log the contact in which the needs were assessed (through
    ``contact_plans.services.interaction_log``, with its checks), answering the
    opportunity's planned contact when it is still open; linked as the opportunity's
    needs assessment. For an integration the contact is the owner RM's."""
    opportunity = _opportunity_locked(actor=actor, opportunity=opportunity)
    _writer_check(actor)
    _open_check(opportunity, steps=(Step.CONTACT,), doing=gettext("The needs are assessed"))
    planned = opportunity.planned_contact if opportunity.planned_contact_id else None
    interaction = interaction_log(
        actor=actor,
        client=opportunity.client,
        channel=channel,
        occurred_at=occurred_at,
        summary=summary,
        duration_minutes=duration_minutes,
        needs_found=needs_found,
        planned_contact=planned if planned is not None and planned.is_open else None,
        staff=opportunity.owner_rm if actor.is_integration else None,
        request=request,
    )
    before = opportunity.interaction_id
    opportunity.interaction = interaction
    opportunity.save(update_fields=["interaction", "updated_at"])
    audit_action(
        "update",
        actor=actor,
        obj=opportunity,
        request=request,
        detail={"interaction": [before, interaction.pk], "needs_found": interaction.needs_found},
    )
    return interaction


# --- Step 3: proposals, suitability, the win -------------------------------------------------


def _level(code: str) -> int:
    """``"C3"`` / ``"R3"`` → 3 (0 for an empty or unknown level)."""
    return int(code[1:]) if len(code or "") == 2 and code[1:].isdigit() else 0


def suitability_errors(
    *, client: Client, products: Iterable[Product], on: datetime.date
) -> list[str]:
    """Why ``products`` may not be sold to ``client`` on ``on`` (适当性); ``[]`` when they
    may: the client needs a risk assessment still valid on ``on``, and no product's risk
    level Rn may exceed the client's Cn."""
    if not client.risk_level or client.risk_assessed_on is None:
        return [
            gettext(
                "The client has no risk assessment on file: assess the client's risk "
                "tolerance before any product is proposed or sold."
            )
        ]
    if not client.risk_is_valid(on):
        return [
            gettext(
                "The client's risk assessment (%(level)s) expired on %(date)s: it must be "
                "renewed before any product is proposed or sold."
            )
            % {"level": client.risk_level, "date": client.risk_expires_on.isoformat()}
        ]
    ceiling = _level(client.risk_level)
    return [
        gettext(
            "%(product)s is %(risk)s, above the client's risk tolerance %(level)s: it may "
            "not be proposed or sold to this client."
        )
        % {"product": product.name, "risk": product.risk_level, "level": client.risk_level}
        for product in products
        if _level(product.risk_level) > ceiling
    ]


def _lines_clean(lines: Any, errors: dict) -> list[tuple[Product, Decimal]]:
    """The proposal's lines as (product, amount), or messages on ``lines``."""
    tenant_id = current_tenant_id()
    messages: list[str] = []
    clean: list[tuple[Product, Decimal]] = []
    seen: set[int] = set()
    for line in lines or ():
        try:
            product, value = line
        except (TypeError, ValueError):
            messages.append(gettext("Each line is a product with an amount."))
            continue
        if not isinstance(product, Product) or product.pk is None or product.tenant_id != tenant_id:
            messages.append(gettext("Choose the products from your bank's catalogue."))
            continue
        if product.pk in seen:
            messages.append(
                gettext("%(product)s is proposed twice: one line per product.")
                % {"product": product.name}
            )
            continue
        seen.add(product.pk)
        amount, message = _amount(value, required=True)
        if message:
            messages.append(f"{product.name}: {message}")
            continue
        clean.append((product, amount))
    if not messages and not clean:
        messages.append(gettext("Propose at least one product, with its amount."))
    if messages:
        errors["lines"] = messages
    return clean


@transaction.atomic
def proposal_create(
    *,
    actor: Actor,
    opportunity: Opportunity,
    lines: Sequence[tuple[Product, Decimal]],
    note: str = "",
    request: HttpRequest | None = None,
) -> Proposal:
    """Step 3: propose a product mix to the client.

    ``lines``: ``[(product, amount in CNY), …]``, at least one, each product of this bank
    and once, each amount above zero (messages on ``lines``). The products must be
    suitable for the client today (messages on ``suitability``). The proposal keeps the
    client's risk level and assessment date it was checked against. Audited.
    """
    opportunity = _opportunity_locked(actor=actor, opportunity=opportunity)
    _writer_check(actor)
    _open_check(opportunity, steps=(Step.EXECUTE,), doing=gettext("A proposal is made"))
    client = opportunity.client
    note = _text(note)
    errors: dict[str, Any] = {}
    clean = _lines_clean(lines, errors)
    _length_error(errors, "note", note, Proposal._meta.get_field("note").max_length)
    unsuitable = suitability_errors(
        client=client,
        products=[product for product, _amount in clean],
        on=tenant_today(client.tenant_id),
    )
    if unsuitable:
        errors["suitability"] = unsuitable
    if errors:
        raise ValidationError(errors)
    proposal = Proposal.objects.create(
        opportunity=opportunity,
        note=note,
        risk_level=client.risk_level,
        risk_assessed_on=client.risk_assessed_on,
        created_by=_staff(actor),
    )
    ProposalLine.objects.bulk_create(
        ProposalLine(proposal=proposal, product=product, amount_cny=amount)
        for product, amount in clean
    )
    opportunity.save(update_fields=["updated_at"])
    audit_action(
        "create",
        actor=actor,
        obj=proposal,
        request=request,
        detail={
            "opportunity": opportunity.pk,
            "client": client.external_id,
            "risk_level": client.risk_level,
            "lines": [[product.code, str(amount)] for product, amount in clean],
        },
    )
    return proposal


def _split(total: Decimal, shares: Sequence[Decimal]) -> list[Decimal]:
    """``total`` split by ``shares`` (percentages summing to 100) to the cent: each part
    rounded down, the cents left over given to the largest remainders first, so the parts
    add up exactly to ``total``."""
    cents = int((total / CENT).to_integral_value())
    exact = [Decimal(cents) * share / HUNDRED for share in shares]
    parts = [int(value.to_integral_value(rounding=ROUND_FLOOR)) for value in exact]
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: cents - sum(parts)]:
        parts[i] += 1
    return [Decimal(part) * CENT for part in parts]


def _recording_refs_clean(
    refs: Mapping[Any, str] | None, lines: Sequence[ProposalLine], errors: dict
) -> dict[int, str]:
    """``{product id: reference}`` for the proposal's lines; a line whose category needs
    the sales recording (双录) must have one (messages on ``recording_refs``)."""
    given: dict[int, str] = {}
    messages: list[str] = []
    limit = ProposalLine._meta.get_field("recording_ref").max_length
    by_product = {line.product_id: line for line in lines}
    for key, value in (refs or {}).items():
        ref = _text(value)
        if not ref:
            continue
        try:
            product_id = int(getattr(key, "pk", key))
        except (TypeError, ValueError):
            product_id = None
        if product_id not in by_product:
            messages.append(gettext("A recording reference is given for a product not proposed."))
            continue
        if len(ref) > limit:
            messages.append(
                gettext("%(product)s: the recording reference is too long (%(limit)s at most).")
                % {"product": by_product[product_id].product.name, "limit": limit}
            )
            continue
        given[product_id] = ref
    for line in lines:
        if line.product.category in RECORDING_CATEGORIES and line.product_id not in given:
            messages.append(
                gettext(
                    "%(product)s (%(category)s): give the reference of the sales recording (双录)."
                )
                % {"product": line.product.name, "category": line.product.get_category_display()}
            )
    if messages:
        errors["recording_refs"] = messages
    return given


def _credits_plan(opportunity: Opportunity) -> list[tuple[int, str, Decimal]]:
    """``[(staff id, role, share %), …]``: the client's secondary RMs by their credit
    share, the owner RM for the rest. Refused when the shares exceed 100."""
    owner_id = opportunity.owner_rm_id
    secondaries = list(
        ClientTeamMember.objects.filter(
            client_id=opportunity.client_id,
            role=ClientTeamMember.TeamRole.SECONDARY_RM,
            credit_share__gt=0,
        )
        .exclude(staff_id=owner_id)
        .order_by("-credit_share", "staff_id")
        .values_list("staff_id", "credit_share")
    )
    taken = sum((share for _staff_id, share in secondaries), Decimal("0"))
    if taken > HUNDRED:
        raise ValidationError(
            {
                STATE: _(
                    "The secondary RMs' credit shares of this client add up to %(total)s%%, "
                    "more than 100%%: correct the client's team first."
                )
                % {"total": taken}
            }
        )
    return [
        (owner_id, SaleCredit.Role.OWNER, HUNDRED - taken),
        *((staff_id, SaleCredit.Role.SECONDARY, share) for staff_id, share in secondaries),
    ]


@transaction.atomic
def opportunity_win(
    *,
    actor: Actor,
    opportunity: Opportunity,
    proposal: Proposal,
    recording_refs: Mapping[int, str] | None,
    won_on: datetime.date | None = None,
    request: HttpRequest | None = None,
) -> Opportunity:
    """Record the sale of ``proposal`` (step 3) and move the opportunity to step 4.

    ``recording_refs``: ``{product id: reference of the sales recording (双录)}``,
    required for the lines whose category is in ``RECORDING_CATEGORIES``. ``won_on``:
    the day of the sale (default today, the bank's; not in the future). Refused: a
    proposal of another opportunity or no longer a draft (``proposal``), a future date
    (``won_on``), missing recording references (``recording_refs``), the products not
    suitable on the day of the sale (``suitability``: the assessment may have expired
    since the proposal), no owner RM or the team's credit shares above 100 (``__all__``).

    Effects: the proposal accepted (its recording references kept on the lines), the
    other drafts superseded; the amount won (the sum of the lines); the credits; the
    after-sales check-ins planned ``FOLLOW_UP_DAYS`` after the sale for the owner RM
    (overdue when that is already past); step 3 left, step 4 entered. Audited.
    """
    opportunity = _opportunity_locked(actor=actor, opportunity=opportunity)
    _writer_check(actor)
    _open_check(opportunity, steps=(Step.EXECUTE,), doing=gettext("The sale is recorded"))
    if opportunity.status == Opportunity.Status.WON:
        raise ValidationError({STATE: _("The sale is already recorded.")})
    client = opportunity.client
    today = tenant_today(client.tenant_id)
    won_on = won_on or today
    errors: dict[str, Any] = {}
    lines: list[ProposalLine] = []
    if (
        proposal is None
        or proposal.pk is None
        or proposal.opportunity_id != opportunity.pk
        or proposal.tenant_id != opportunity.tenant_id
    ):
        errors["proposal"] = _("Choose one of this opportunity's proposals.")
    else:
        proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
        if proposal.status != Proposal.Status.DRAFT:
            errors["proposal"] = _(
                "This proposal is %(status)s: only a proposal made may be won."
            ) % {"status": proposal.get_status_display()}
        lines = list(proposal.lines.select_related("product").order_by("id"))
        if not lines:
            errors["proposal"] = _("This proposal has no products.")
    if won_on > today:
        errors["won_on"] = _("A sale cannot be recorded in the future.")
    refs = _recording_refs_clean(recording_refs, lines, errors) if lines else {}
    unsuitable = suitability_errors(
        client=client, products=[line.product for line in lines], on=won_on
    )
    if lines and unsuitable:
        errors["suitability"] = unsuitable
    if errors:
        raise ValidationError(errors)
    if opportunity.owner_rm_id is None:
        raise ValidationError(
            {STATE: _("The opportunity has no owner RM to credit: assign the client first.")}
        )
    plan = _credits_plan(opportunity)

    now = timezone.now()
    won_amount = sum((line.amount_cny for line in lines), Decimal("0"))
    for line in lines:
        line.recording_ref, line.updated_at = refs.get(line.product_id, ""), now
    ProposalLine.objects.bulk_update(lines, ["recording_ref", "updated_at"])
    proposal.status, proposal.accepted_at = Proposal.Status.ACCEPTED, now
    proposal.save(update_fields=["status", "accepted_at", "updated_at"])
    superseded = list(
        opportunity.proposals.filter(status=Proposal.Status.DRAFT).values_list("pk", flat=True)
    )
    Proposal.objects.filter(pk__in=superseded).update(
        status=Proposal.Status.SUPERSEDED, updated_at=now
    )
    amounts = _split(won_amount, [share for _staff_id, _role, share in plan])
    SaleCredit.objects.bulk_create(
        SaleCredit(
            opportunity=opportunity,
            staff_id=staff_id,
            role=role,
            share_percent=share,
            amount_cny=amount,
            credited_on=won_on,
        )
        for (staff_id, role, share), amount in zip(plan, amounts, strict=True)
    )
    check_ins = _check_ins_plan(opportunity, won_on=won_on, today=today)
    opportunity.status = Opportunity.Status.WON
    opportunity.won_amount_cny = won_amount
    opportunity.won_at = (
        now
        if won_on == today
        else datetime.datetime.combine(
            won_on, datetime.time(12), tzinfo=tenant_zone(client.tenant_id)
        )
    )
    _step_enter(opportunity, Step.FOLLOW_UP, by=_staff(actor), now=now)
    opportunity.save(
        update_fields=[
            "status",
            "won_amount_cny",
            "won_at",
            "step",
            "step_entered_at",
            "updated_at",
        ]
    )
    audit_action(
        "update",
        actor=actor,
        obj=opportunity,
        request=request,
        detail={
            "status": [Opportunity.Status.OPEN.value, Opportunity.Status.WON.value],
            "step": [Step.EXECUTE.value, Step.FOLLOW_UP.value],
            "proposal": proposal.pk,
            "superseded": superseded,
            "won_amount_cny": str(won_amount),
            "won_on": won_on.isoformat(),
            "recording_refs": {str(pk): ref for pk, ref in refs.items()},
            "credits": [
                [staff_id, str(share), str(amount)]
                for (staff_id, _role, share), amount in zip(plan, amounts, strict=True)
            ],
            "check_ins": [contact.due_on.isoformat() for contact in check_ins],
        },
    )
    return opportunity


def _check_ins_plan(
    opportunity: Opportunity, *, won_on: datetime.date, today: datetime.date
) -> list[PlannedContact]:
    """The after-sales check-ins, ``FOLLOW_UP_DAYS`` after the sale, for the owner RM."""
    prefix = _check_in_prefix(opportunity)
    contacts = [
        PlannedContact(
            client_id=opportunity.client_id,
            assigned_to_id=opportunity.owner_rm_id,
            reason=PlannedContact.Reason.FOLLOW_UP,
            due_on=won_on + datetime.timedelta(days=days),
            status=(
                PlannedContact.Status.OVERDUE
                if won_on + datetime.timedelta(days=days) < today
                else PlannedContact.Status.PLANNED
            ),
            source_key=f"{prefix}{days}",
            source_date=won_on,
            note=opportunity.title[:200],
        )
        for days in FOLLOW_UP_DAYS
    ]
    return PlannedContact.objects.bulk_create(contacts)


# --- Losing ----------------------------------------------------------------------------------


@transaction.atomic
def opportunity_lose(
    *,
    actor: Actor,
    opportunity: Opportunity,
    reason: str,
    note: str = "",
    request: HttpRequest | None = None,
) -> Opportunity:
    """Close ``opportunity`` as lost, at any step before the celebration.

    Refused: an unknown reason (``reason``), no note for "other" or a note too long
    (``note``), an opportunity already lost or celebrated (``__all__``). The step it was
    lost at is left. After a win (a cancellation in the cooling-off period) the credits
    are withdrawn, the accepted proposal declined and the open check-ins cancelled.
    Audited.
    """
    opportunity = _opportunity_locked(actor=actor, opportunity=opportunity)
    _writer_check(actor)
    _open_check(opportunity, steps=Step.values, doing=gettext("An opportunity is lost"))
    note = _text(note)
    errors: dict[str, Any] = {}
    if reason not in Opportunity.LostReason.values:
        errors["reason"] = _("Choose why the opportunity was lost.")
    elif reason == Opportunity.LostReason.OTHER and not note:
        errors["note"] = _("Say in a note why the opportunity was lost.")
    _length_error(errors, "note", note, Opportunity._meta.get_field("lost_note").max_length)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    was = opportunity.status
    detail: dict[str, Any] = {"status": [was, Opportunity.Status.LOST.value], "reason": reason}
    if was == Opportunity.Status.WON:
        credits = list(opportunity.credits.values_list("staff_id", "amount_cny"))
        opportunity.credits.all().delete()
        opportunity.proposals.filter(status=Proposal.Status.ACCEPTED).update(
            status=Proposal.Status.DECLINED, updated_at=now
        )
        cancelled = _check_ins(opportunity).filter(status__in=OPEN_CONTACT)
        detail["credits_withdrawn"] = [[staff_id, str(amount)] for staff_id, amount in credits]
        detail["check_ins_cancelled"] = list(cancelled.values_list("pk", flat=True))
        cancelled.update(
            status=PlannedContact.Status.CANCELLED,
            cancel_reason=gettext("The sale was cancelled: %(reason)s")
            % {"reason": Opportunity.LostReason(reason).label},
            updated_at=now,
        )
    _step_leave(opportunity, now)
    opportunity.status = Opportunity.Status.LOST
    opportunity.lost_reason, opportunity.lost_note, opportunity.lost_at = reason, note, now
    opportunity.save(update_fields=["status", "lost_reason", "lost_note", "lost_at", "updated_at"])
    audit_action("update", actor=actor, obj=opportunity, request=request, detail=detail)
    return opportunity


# --- Step 4: check-ins, cross-sell, referrals ------------------------------------------------


@transaction.atomic
def opportunity_check_in_log(
    *,
    actor: Actor,
    opportunity: Opportunity,
    channel: str,
    occurred_at: datetime.datetime,
    summary: str,
    planned_contact: PlannedContact | None = None,
    duration_minutes: int | None = None,
    request: HttpRequest | None = None,
) -> Interaction:
    """Step 4's work: log an after-sales check-in (through ``interaction_log``),
    answering ``planned_contact`` — one of the opportunity's open check-ins — or the
    earliest one still open. Refused when none is open (``__all__``) or the contact
    is not one of them (``planned_contact``)."""
    opportunity = _opportunity_locked(actor=actor, opportunity=opportunity)
    _writer_check(actor)
    _open_check(opportunity, steps=(Step.FOLLOW_UP,), doing=gettext("A check-in is logged"))
    open_check_ins = (
        _check_ins(opportunity).filter(status__in=OPEN_CONTACT).order_by("due_on", "pk")
    )
    if planned_contact is not None:
        answered = open_check_ins.filter(pk=planned_contact.pk).first()
        if answered is None:
            raise ValidationError(
                {"planned_contact": _("Choose one of this opportunity's open check-ins.")}
            )
    else:
        answered = open_check_ins.first()
        if answered is None:
            raise ValidationError({STATE: _("Every after-sales check-in is done or cancelled.")})
    interaction = interaction_log(
        actor=actor,
        client=opportunity.client,
        channel=channel,
        occurred_at=occurred_at,
        summary=summary,
        duration_minutes=duration_minutes,
        planned_contact=answered,
        staff=opportunity.owner_rm if actor.is_integration else None,
        request=request,
    )
    opportunity.save(update_fields=["updated_at"])
    return interaction


@transaction.atomic
def cross_sell_create(
    *,
    actor: Actor,
    opportunity: Opportunity,
    title: str,
    products: Iterable[Product] = (),
    expected_amount_cny: Decimal | None = None,
    request: HttpRequest | None = None,
) -> Opportunity:
    """Capture a cross-sell found while following up a won opportunity (steps 4 and 5):
    a new opportunity of the same client and owner, source cross-sell, at step 1, with
    the won one as its parent. Refused as ``opportunity_create`` does."""
    parent = _opportunity_locked(actor=actor, opportunity=opportunity)
    _writer_check(actor)
    _won_check(parent, doing=gettext("A cross-sell is captured"))
    title = _text(title)
    errors, amount, chosen_products, _advisors = _opportunity_errors(
        title=title,
        expected_amount_cny=expected_amount_cny,
        products=products,
        advisors=(),
        client=parent.client,
    )
    if errors:
        raise ValidationError(errors)
    return _opportunity_new(
        actor=actor,
        client=parent.client,
        title=title,
        source=Opportunity.Source.CROSS_SELL,
        amount=amount,
        products=chosen_products,
        advisors=(),
        owner=parent.owner_rm,
        request=request,
        parent=parent,
    )


def _prospect_external_id() -> str:
    """``PROSPECT-`` and 8 hex digits not taken in this bank."""
    while True:
        candidate = f"{PROSPECT_PREFIX}{secrets.token_hex(4).upper()}"
        if not Client.objects.filter(external_id=candidate).exists():
            return candidate


@transaction.atomic
def referral_create(
    *,
    actor: Actor,
    opportunity: Opportunity,
    name: str,
    mobile: str = "",
    gender: str = "",
    relationship: str = "",
    note: str = "",
    request: HttpRequest | None = None,
) -> Referral:
    """Capture a referral (转介绍) while following up a won opportunity (steps 4 and 5).

    Creates the prospect — a client numbered ``PROSPECT-`` + 8 hex digits, referred by
    the opportunity's client, at the referrer's branch, served by the opportunity's owner
    RM — tied to the referrer by ``relationship`` when given, with an opportunity of its
    own (source referral, step 1), and the ``Referral``, credited to the acting RM (for
    an advisor or an integration, to the owner RM). Refused by field: no name, a mobile
    that is not 11 digits or already a client's, an unknown gender or relationship, a
    note too long. Audited.
    """
    opportunity = _opportunity_locked(actor=actor, opportunity=opportunity)
    _writer_check(actor)
    _won_check(opportunity, doing=gettext("A referral is captured"))
    referrer = opportunity.client
    name, mobile, note = _text(name), _text(mobile), _text(note)
    errors: dict[str, Any] = {}
    if not name:
        errors["name"] = _("Give the name of the person referred.")
    else:
        _length_error(errors, "name", name, Client._meta.get_field("name").max_length)
    if mobile:
        if message := mobile_error(mobile):
            errors["mobile"] = message
        elif Client.objects.filter(mobile=mobile).exists():
            errors["mobile"] = _("A client with this mobile number is already at the bank.")
    if gender and gender not in Client.Gender.values:
        errors["gender"] = _("Unknown gender.")
    if relationship and relationship not in Relationship.Kind.values:
        errors["relationship"] = _("Unknown relationship.")
    _length_error(errors, "note", note, Referral._meta.get_field("note").max_length)
    if errors:
        raise ValidationError(errors)
    owner = opportunity.owner_rm
    if owner is None:  # a won opportunity has one (the win credits it); kept as a guard
        raise ValidationError({STATE: _("The opportunity has no owner RM to serve the prospect.")})
    prospect = Client.objects.create(
        external_id=_prospect_external_id(),
        name=name,
        mobile=mobile,
        gender=gender,
        branch_id=referrer.branch_id,
        owner_rm=owner,
        referrer=referrer,
    )
    audit_action(
        "create",
        actor=actor,
        obj=prospect,
        request=request,
        detail={"referrer": referrer.external_id, "prospect": prospect.external_id},
    )
    if relationship:
        tie = Relationship.objects.create(client=referrer, related=prospect, kind=relationship)
        audit_action(
            "create",
            actor=actor,
            obj=tie,
            request=request,
            detail={"client": referrer.external_id, "related": prospect.external_id},
        )
    prospect_opportunity = _opportunity_new(
        actor=actor,
        client=prospect,
        title=gettext("Referred by %(name)s") % {"name": referrer.name},
        source=Opportunity.Source.REFERRAL,
        amount=None,
        products=(),
        advisors=(),
        owner=owner,
        request=request,
    )
    staff = _staff(actor)
    credited = staff if staff is not None and actor.role == Role.RM else owner
    referral = Referral.objects.create(
        referrer=referrer,
        prospect=prospect,
        opportunity=opportunity,
        prospect_opportunity=prospect_opportunity,
        credited_to=credited,
        received_by=owner,
        note=note,
    )
    opportunity.save(update_fields=["updated_at"])
    audit_action(
        "create",
        actor=actor,
        obj=referral,
        request=request,
        detail={
            "opportunity": opportunity.pk,
            "referrer": referrer.external_id,
            "prospect": prospect.external_id,
            "prospect_opportunity": prospect_opportunity.pk,
            "credited_to": credited.code,
        },
    )
    return referral


# --- Step 5: the celebration -----------------------------------------------------------------


@transaction.atomic
def celebration_record(
    *,
    actor: Actor,
    opportunity: Opportunity,
    team_recognition: str,
    client_thanks: str = "",
    client_thanks_channel: str = "",
    departments: str = "",
    department_thanks: str = "",
    request: HttpRequest | None = None,
) -> Celebration:
    """Step 5 (庆祝成功), once: recognition for the team (required), the thank-you to
    the client and how it was sent, thanks to the supporting departments. Closes the
    opportunity (``completed_at``; step 5 left) and tells the team — the owner RM, the
    secondary RMs credited and the advisors on the opportunity, but whoever recorded it —
    with a ``sale_celebrated`` notification. Audited."""
    opportunity = _opportunity_locked(actor=actor, opportunity=opportunity)
    _writer_check(actor)
    _open_check(opportunity, steps=(Step.CELEBRATE,), doing=gettext("The celebration is recorded"))
    values = {
        "team_recognition": _text(team_recognition),
        "client_thanks": _text(client_thanks),
        "departments": _text(departments),
        "department_thanks": _text(department_thanks),
    }
    errors: dict[str, Any] = {}
    if not values["team_recognition"]:
        errors["team_recognition"] = _("Write the recognition for the team.")
    for field, value in values.items():
        if field not in errors:
            _length_error(errors, field, value, Celebration._meta.get_field(field).max_length)
    if client_thanks_channel and client_thanks_channel not in Channel.values:
        errors["client_thanks_channel"] = _("Unknown channel.")
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    by = _staff(actor)
    celebration = Celebration.objects.create(
        opportunity=opportunity,
        client_thanks_channel=client_thanks_channel or "",
        recorded_by=by,
        **values,
    )
    _step_leave(opportunity, now)
    opportunity.completed_at = now
    opportunity.save(update_fields=["completed_at", "updated_at"])
    told = _celebration_notify(opportunity, by=by)
    audit_action(
        "create",
        actor=actor,
        obj=celebration,
        request=request,
        detail={"opportunity": opportunity.pk, "completed": True, "notified": told},
    )
    return celebration


def _celebration_notify(opportunity: Opportunity, *, by: StaffProfile | None) -> list[int]:
    """One ``sale_celebrated`` notification per team member (owner RM, secondary RMs
    credited, advisors on the opportunity), but not to whoever recorded it."""
    team = {
        opportunity.owner_rm_id,
        *opportunity.credits.values_list("staff_id", flat=True),
        *opportunity.advisor_links.values_list("staff_id", flat=True),
    }
    team.discard(None)
    if by is not None:
        team.discard(by.pk)
    params = {
        "title": opportunity.title,
        "client": opportunity.client.name,
        "amount_cny": str(opportunity.won_amount_cny or Decimal("0")),
        "by": by.name if by is not None else "",
    }
    link = reverse("sales_pipeline:opportunity", args=[opportunity.pk])
    Notification.objects.bulk_create(
        Notification(recipient_id=pk, kind=NOTIFICATION_KIND, params=params, link=link)
        for pk in sorted(team)
    )
    return sorted(team)


# --- The nightly maturity opportunities ------------------------------------------------------


def _tables() -> dict[str, str]:
    """Quoted table names for the statements below (from the models, never user input)."""
    qn = connection.ops.quote_name
    models_by_key: dict[str, type[models.Model]] = {
        "opportunity": Opportunity,
        "step": StepEntry,
        "contact": PlannedContact,
        "client": Client,
        "holding": Holding,
        "product": Product,
    }
    return {key: qn(model._meta.db_table) for key, model in models_by_key.items()}


def _date_text(day: str) -> str:
    """A date column as ``YYYY-MM-DD`` text, the same on PostgreSQL and SQLite."""
    if connection.vendor == "postgresql":
        return f"TO_CHAR({day}, 'YYYY-MM-DD')"
    return f"CAST({day} AS TEXT)"


def _execute(sql: str, params: dict[str, Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def maturity_opportunities_create(*, on: datetime.date) -> dict[str, int]:
    """One opportunity per open maturity alert of the current bank without one, and the
    running opportunities handed to their client's owner RM (see the module docstring),
    for business date ``on``: three statements, whatever the number of alerts; a second
    run writes nothing. Returns the rows written per kind."""
    t = _tables()
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    title_limit = Opportunity._meta.get_field("title").max_length
    params: dict[str, Any] = {
        "tenant": current_tenant_id(),
        "now": now,
        "on": on,
        "maturity": PlannedContact.Reason.MATURITY.value,
        "source": Opportunity.Source.MATURITY.value,
        "planned": PlannedContact.Status.PLANNED.value,
        "overdue": PlannedContact.Status.OVERDUE.value,
        "open": Opportunity.Status.OPEN.value,
        "separator": " · ",
    }
    title = (
        f"SUBSTR(COALESCE(pr.name || %(separator)s, '') || {_date_text('p.source_date')}, "
        f"1, {title_limit})"
    )
    opportunities = _execute(
        f"""
        INSERT INTO {t["opportunity"]} (tenant_id, client_id, owner_rm_id, title, source,
            expected_amount_cny, step, step_entered_at, status, source_key,
            planned_contact_id, holding_id, lost_reason, lost_note, created_at, updated_at)
        SELECT %(tenant)s, p.client_id, c.owner_rm_id, {title}, %(source)s,
            CASE WHEN p.amount_cny > 0 THEN p.amount_cny END, {Step.PLAN.value}, %(now)s,
            %(open)s, p.source_key, p.id, p.holding_id, '', '', %(now)s, %(now)s
        FROM {t["contact"]} p
        JOIN {t["client"]} c ON c.id = p.client_id AND c.tenant_id = %(tenant)s
        LEFT JOIN {t["holding"]} h ON h.id = p.holding_id AND h.tenant_id = %(tenant)s
        LEFT JOIN {t["product"]} pr ON pr.id = h.product_id AND pr.tenant_id = %(tenant)s
        WHERE p.tenant_id = %(tenant)s AND p.reason = %(maturity)s
          AND p.status IN (%(planned)s, %(overdue)s) AND p.source_date >= %(on)s
          AND NOT EXISTS (
            SELECT 1 FROM {t["opportunity"]} o
            WHERE o.tenant_id = %(tenant)s AND o.source_key = p.source_key)
        ON CONFLICT (tenant_id, source_key) WHERE NOT (source_key = '') DO NOTHING
        """,  # noqa: S608  (table names from the models; values are parameters)
        params,
    )
    entries = _execute(
        f"""
        INSERT INTO {t["step"]} (tenant_id, opportunity_id, step, entered_at, created_at,
            updated_at)
        SELECT %(tenant)s, o.id, {Step.PLAN.value}, o.step_entered_at, %(now)s, %(now)s
        FROM {t["opportunity"]} o
        WHERE o.tenant_id = %(tenant)s AND o.source = %(source)s AND o.created_at = %(now)s
        ON CONFLICT (tenant_id, opportunity_id, step) DO NOTHING
        """,  # noqa: S608  (as above)
        params,
    )
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    reassigned = _execute(
        f"""
        UPDATE {t["opportunity"]} SET updated_at = %(now)s, owner_rm_id = (
            SELECT c.owner_rm_id FROM {t["client"]} c
            WHERE c.id = {t["opportunity"]}.client_id AND c.tenant_id = %(tenant)s)
        WHERE tenant_id = %(tenant)s AND status <> %(lost)s AND completed_at IS NULL
          AND EXISTS (
            SELECT 1 FROM {t["client"]} c
            WHERE c.id = {t["opportunity"]}.client_id AND c.tenant_id = %(tenant)s
              AND c.owner_rm_id IS NOT NULL
              AND c.owner_rm_id {distinct} {t["opportunity"]}.owner_rm_id)
        """,  # noqa: S608  (as above)
        {**params, "lost": Opportunity.Status.LOST.value},
    )
    return {"opportunities": opportunities, "step_entries": entries, "reassigned": reassigned}


def maturity_opportunities_job(*, run_date: datetime.date) -> dict[str, int]:
    """Nightly job ``sales_pipeline.maturity`` (order 35, after the contact planning)."""
    return maturity_opportunities_create(on=run_date)
