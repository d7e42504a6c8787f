"""KPI inputs: the figures the scorecard needs that nothing else in the CRM records —
RMs' time by kind, clients' satisfaction surveys and complaints, supervisors' coaching
notes — and the API's batch ingestion of surveys and complaints.

Every write goes through a function of this module; the pages (``kpi.views.inputs``)
and the API (``kpi.api_inputs``) only turn their input into its arguments. A refusal
is, having written nothing:

- ``<Model>.DoesNotExist`` for an object outside the actor's scope (a client, a
  complaint, an RM): callers answer 404, exactly as for one that does not exist, and
  this is checked *first*, before the role or the input;
- ``PermissionDenied`` for a role that may see the object but not do this to it;
- ``ValidationError``, a dict of field → message(s), for bad input.

Every write runs in one transaction and is audited (``vipcrm.audit``). Days are the
bank's (``Tenant.time_zone``, default Asia/Shanghai): "today" is the bank's today.

Time (``time_week_set``)
------------------------
An RM or an advisor logs their **own** hours, a week (Monday to Sunday) at a time, by
day and kind of work (VIP client service, non-VIP client service, administration):

- each cell holds 0 to 24 hours with at most two decimals (a quarter hour is 0.25);
- the three kinds of one day add up to at most 24 hours;
- no hours on a day after today (time is logged once spent);
- a blank or 0 removes that day's hours of that kind.

Only the cells that differ from what is stored are written (an unchanged week writes
nothing and is not audited); the week's owner row is locked meanwhile, so two saves
of the same week run one after the other. Supervisors (their branch subtree) and head
office *read* an RM's week; they do not write it, nor do integration tokens
(``PermissionDenied``). The scorecard's "time on VIP service" is VIP hours over all
hours logged in the period (target: 70%, ``kpi.definitions.VIP_TIME_TARGET``).

Satisfaction surveys (``survey_record``)
----------------------------------------
A client's score of the service of one RM, 1 (poor) to 5 (excellent), on a day no
later than today, with an optional comment (2,000 characters), channel and external
reference (the id in the system that collected it, unique in the bank). A survey rates
an RM, so the RMs and advisors do not record surveys: supervisors do (clients of their
branch subtree), head office and integration tokens with the ``write`` scope (the
whole bank). The RM rated must be an RM of the bank (active or not: a survey may
arrive after the RM left) who serves the client (its owner RM or on its team) or whom
the actor oversees (a supervisor's branch subtree, the whole bank for head office).

Complaints (``complaint_record``, ``complaint_resolve``)
-------------------------------------------------------
Anyone who may see the client records a complaint that reaches them: staff of every
role (the client's scope: RM book and team, advisor's team, supervisor's branch
subtree, head office) and integration tokens with the ``write`` scope. It names the
staff member concerned — an RM or advisor who serves the client or whom the actor
oversees (for an RM, themselves) — the day it was received (not after today), a
category and a description (4,000 characters). It opens as ``open``.

A supervisor (complaints of the clients of their branch subtree) or head office
resolves an open complaint: the day (not before it was received, not after today) and
what was done (required). The staff concerned do not resolve their own complaints:
RMs and advisors get ``PermissionDenied``; a resolved complaint is not resolved again.

Coaching notes (``coaching_note_create``)
-----------------------------------------
A supervisor writes a note to an RM of their branch subtree, head office to any RM:
the text (required, 4,000 characters), optionally the scorecard dimension it is about
(``kpi.definitions.DIMENSIONS``) and a follow-up day (today or later). Notes are read
by the RM, their author and head office only (``kpi.selectors.coaching_notes``). An RM
outside the actor's reach is not found; an inactive RM gets no new notes. The RM is
notified (``coaching_note``: who wrote, about which dimension, the follow-up day), the
notification opening their notes.

Batch ingestion (``survey_batch_apply``, ``complaint_batch_apply``)
-------------------------------------------------------------------
``POST /api/v1/surveys/`` and ``/complaints/`` carry ``{"records": [...]}`` (at most
5,000), as the sync API does (``shared/spec/sync-api.md``): each record is validated
on its own; valid ones are applied, invalid ones reported by index with their
``external_id`` and per-field messages. The ``external_id`` is required and is the
key: an unknown one is created, a known one updated (unchanged when equal), so
sending a batch twice changes nothing the second time; the same key twice in a batch
applies in order. An omitted optional field keeps its value, ``null`` clears it. The
rules are the ones above, for the whole bank (a token sees it all): the client by its
customer number, the staff by their code (an RM for a survey; an RM or advisor for a
complaint), dates not after today, and a resolved complaint's new received date not
after its resolution. A batch costs a fixed number of queries whatever its size: one
per reference kind, one for the stored rows of its keys, one ``INSERT … SELECT FROM
<JSON>`` for the new rows and one for the changed ones (``customers.sync.rows_upsert``),
and one audit entry.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Required

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from contact_plans.services import client_access, tenant_today
from customers.models import Channel, Client, ClientTeamMember
from customers.sync import (
    DATE,
    MAX_RECORDS,
    STRICT,
    SyncResult,
    json_in,
    one_of,
    pydantic_messages,
    rows_upsert,
    sync_batch_parse,
    text,
)
from kpi.definitions import DIMENSIONS
from kpi.models import CoachingNote, Complaint, SatisfactionSurvey, TimeLog
from kpi.notifications import COACHING_NOTE
from vipcrm.audit import audit_action
from vipcrm.models import Notification, StaffProfile
from vipcrm.roles import Actor, Role, branch_subtree_ids, token_write_check, visible_to

TIME_LOGGERS = (Role.RM, Role.ADVISOR)
OVERSEERS = (Role.SUPERVISOR, Role.HEAD_OFFICE)
COMPLAINT_STAFF_ROLES = (Role.RM, Role.ADVISOR)
MAX_DAY_HOURS = Decimal("24")
HOURS_PLACES = Decimal("0.01")
SCORES = range(1, 6)
DAY = datetime.timedelta(days=1)


# --- Shared checks -----------------------------------------------------------------------


def _same_tenant(actor: Actor, obj: models.Model | None) -> bool:
    return obj is not None and obj.pk is not None and obj.tenant_id == actor.tenant_id


def _staff_reachable(*, actor: Actor, staff: StaffProfile, client: Client) -> bool:
    """Whether ``staff`` serves ``client`` (its owner RM or on its team) or is overseen
    by ``actor`` (themselves; a supervisor's branch subtree; the whole bank)."""
    if actor.sees_whole_tenant or staff.pk in (client.owner_rm_id, getattr(actor.staff, "pk", 0)):
        return True
    if ClientTeamMember.objects.filter(client=client, staff=staff).exists():
        return True
    return visible_to(StaffProfile.objects.filter(pk=staff.pk), actor).exists()


def _text_errors(
    errors: dict[str, Any], name: str, value: str, *, limit: int, required: Any = None
) -> None:
    if required is not None and not value:
        errors[name] = required
    elif len(value) > limit:
        errors[name] = _("At most %(limit)s characters.") % {"limit": f"{limit:,}"}


def _external_id_errors(
    errors: dict[str, Any], model: type[models.Model], external_id: str, taken: Any
) -> None:
    if len(external_id) > model._meta.get_field("external_id").max_length:
        errors["external_id"] = _("The external reference is too long (64 characters at most).")
    elif external_id and model.objects.filter(external_id=external_id).exists():
        errors["external_id"] = taken


def _create_unless_taken(model: type[models.Model], taken: Any, **fields) -> models.Model:
    """``model.objects.create(**fields)``; an external reference that raced past
    ``_external_id_errors`` (the unique constraint) is refused with the same ``taken``."""
    try:
        with transaction.atomic():
            return model.objects.create(**fields)
    except IntegrityError as error:
        raise ValidationError({"external_id": taken}) from error


def _day_label(day: datetime.date) -> str:
    return f"{date_format(day, 'l')} {day.isoformat()}"


# --- Time --------------------------------------------------------------------------------


def week_start(day: datetime.date) -> datetime.date:
    """The Monday of ``day``'s week."""
    return day - DAY * day.weekday()


def hours_parse(value: Any) -> Decimal | None:
    """A cell's hours as a Decimal with two places (None for blank); ``ValueError`` for
    anything but a finite number from 0 to 24 with at most two decimals."""
    if value is None or value == "":
        return None
    try:
        hours = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not hours.is_finite() or hours < 0 or hours > MAX_DAY_HOURS:
        raise ValueError("out of range")
    if hours != hours.quantize(HOURS_PLACES):
        raise ValueError("too many decimals")
    return hours.quantize(HOURS_PLACES)


@transaction.atomic
def time_week_set(
    *,
    actor: Actor,
    staff: StaffProfile,
    week_start: datetime.date,
    hours: Mapping[tuple[datetime.date, str], Decimal | None],
    request: HttpRequest | None = None,
) -> dict[str, int]:
    """Set ``staff``'s hours of the week starting ``week_start`` (a Monday) to ``hours``
    — ``{(day, kind): hours}``, a blank (None) or 0 removing the cell; cells of the
    week not given are left as they are. Returns how many cells were created, updated
    and deleted. See the module docstring for the rules."""
    if not _same_tenant(actor, staff):
        raise StaffProfile.DoesNotExist("No such staff member.")
    if actor.staff is None or actor.role not in TIME_LOGGERS:
        raise PermissionDenied(
            _("Supervisors and head office read an RM's time; each RM logs their own.")
        )
    if staff.pk != actor.staff.pk:
        raise PermissionDenied(_("You log your own time only."))
    if week_start is None or week_start.weekday() != 0:
        raise ValidationError({"week": _("A week starts on a Monday.")})
    days = [week_start + DAY * n for n in range(7)]
    wanted: dict[tuple[datetime.date, str], Decimal] = {}
    errors: dict[str, list[Any]] = {}
    for (day, kind), value in hours.items():
        if day not in days or kind not in TimeLog.Kind.values:
            raise ValidationError({"week": _("These hours are not of the week being saved.")})
        try:
            wanted[(day, kind)] = hours_parse(value) or Decimal("0.00")
        except ValueError:
            errors.setdefault(day.isoformat(), []).append(
                _("%(day)s: hours are a number from 0 to 24 with at most two decimals.")
                % {"day": _day_label(day)}
            )
    # The owner's row, locked: two saves of one week apply one after the other.
    StaffProfile.objects.select_for_update().filter(pk=staff.pk).values_list("pk").first()
    stored = {
        (log.date, log.kind): log
        for log in TimeLog.objects.filter(staff=staff, date__gte=days[0], date__lte=days[-1])
    }
    today = tenant_today(actor.tenant_id)
    for day in days:
        total = sum(
            (
                wanted.get((day, kind), stored[(day, kind)].hours if (day, kind) in stored else 0)
                for kind in TimeLog.Kind.values
            ),
            Decimal("0"),
        )
        if total > MAX_DAY_HOURS:
            errors.setdefault(day.isoformat(), []).append(
                _("%(day)s: %(hours)s hours in one day; a day has at most 24.")
                % {"day": _day_label(day), "hours": f"{total:.2f}"}
            )
        if day > today and any(wanted.get((day, kind)) for kind in TimeLog.Kind.values):
            errors.setdefault(day.isoformat(), []).append(
                _("%(day)s is still to come: log time once it is spent.") % {"day": _day_label(day)}
            )
    if errors:
        raise ValidationError(errors)

    created, updated, deleted, changes = [], [], [], {}
    for (day, kind), value in sorted(wanted.items()):
        log = stored.get((day, kind))
        before = log.hours if log is not None else Decimal("0.00")
        if value == before:
            continue
        changes[f"{day.isoformat()} {kind}"] = [f"{before:.2f}", f"{value:.2f}"]
        if log is None:
            created.append(TimeLog(staff=staff, date=day, kind=kind, hours=value))
        elif value:
            log.hours = value
            updated.append(log)
        else:
            deleted.append(log.pk)
    if not changes:
        return {"created": 0, "updated": 0, "deleted": 0}
    now = timezone.now()
    for log in updated:
        log.updated_at = now  # bulk_update does not run auto_now
    TimeLog.objects.bulk_create(created)
    if updated:
        TimeLog.objects.bulk_update(updated, ["hours", "updated_at"])
    if deleted:
        TimeLog.objects.filter(pk__in=deleted).delete()
    audit_action(
        "update",
        actor=actor,
        obj=staff,
        request=request,
        detail={"time_week": week_start.isoformat(), "hours": changes},
    )
    return {"created": len(created), "updated": len(updated), "deleted": len(deleted)}


# --- Satisfaction surveys and complaints -------------------------------------------------


def _feedback_staff_errors(
    *,
    actor: Actor,
    staff: StaffProfile | None,
    client: Client,
    roles: tuple[str, ...],
    wrong_role: Any,
) -> dict[str, Any]:
    if not _same_tenant(actor, staff) or staff.role not in roles:
        return {"staff": wrong_role}
    if not _staff_reachable(actor=actor, staff=staff, client=client):
        return {"staff": _("This staff member neither serves the client nor works under you.")}
    return {}


def _day_errors(errors: dict[str, Any], name: str, day: datetime.date | None, today) -> None:
    if day is None:
        errors[name] = _("Give the date.")
    elif day > today:
        errors[name] = _("The date cannot be in the future.")


@transaction.atomic
def survey_record(
    *,
    actor: Actor,
    client: Client,
    staff: StaffProfile | None,
    score: int | None,
    surveyed_on: datetime.date | None,
    comment: str = "",
    channel: str = "",
    external_id: str = "",
    request: HttpRequest | None = None,
) -> SatisfactionSurvey:
    """Record ``client``'s satisfaction survey rating the RM ``staff``.

    Who: supervisors (clients of their branch subtree), head office, integration
    tokens with ``write``; a client outside the actor's scope is ``Client.DoesNotExist``,
    RMs and advisors get ``PermissionDenied``. Refused with ``ValidationError``: a
    staff member who is not an RM of the bank serving the client or overseen by the
    actor, a score outside 1–5, no date or one in the future, a comment over 2,000
    characters, an unknown channel, an external reference already recorded. Audited.
    """
    client_access(actor=actor, client=client)
    token_write_check(actor)
    if not actor.is_integration and actor.role not in OVERSEERS:
        raise PermissionDenied(
            _(
                "A survey rates an RM: supervisors, head office or the survey system record "
                "it, not the staff it rates."
            )
        )
    comment, external_id = (comment or "").strip(), (external_id or "").strip()
    errors = _feedback_staff_errors(
        actor=actor,
        staff=staff,
        client=client,
        roles=(Role.RM,),
        wrong_role=_("Choose the RM the client rated."),
    )
    if score not in SCORES or isinstance(score, bool):
        errors["score"] = _("Give a score from 1 (poor) to 5 (excellent).")
    _day_errors(errors, "surveyed_on", surveyed_on, tenant_today(actor.tenant_id))
    _text_errors(errors, "comment", comment, limit=2000)
    if channel and channel not in Channel.values:
        errors["channel"] = _("Unknown channel.")
    taken = _("A survey with this external reference is already recorded.")
    _external_id_errors(errors, SatisfactionSurvey, external_id, taken)
    if errors:
        raise ValidationError(errors)
    survey = _create_unless_taken(
        SatisfactionSurvey,
        taken,
        client=client,
        staff=staff,
        score=score,
        surveyed_on=surveyed_on,
        comment=comment,
        channel=channel or "",
        external_id=external_id,
    )
    audit_action(
        "create",
        actor=actor,
        obj=survey,
        request=request,
        detail={
            "client": client.external_id,
            "staff": staff.code,
            "score": score,
            "surveyed_on": surveyed_on.isoformat(),
        },
    )
    return survey


@transaction.atomic
def complaint_record(
    *,
    actor: Actor,
    client: Client,
    staff: StaffProfile | None,
    received_on: datetime.date | None,
    category: str,
    description: str,
    external_id: str = "",
    request: HttpRequest | None = None,
) -> Complaint:
    """Record a complaint of ``client`` concerning ``staff``; it opens as ``open``.

    Who: staff who may see the client, of any role, and integration tokens with
    ``write`` (``Client.DoesNotExist`` outside the actor's scope). Refused with
    ``ValidationError``: a staff member who is not an RM or advisor of the bank
    serving the client or overseen by the actor, no date or one in the future, an
    unknown category, no description or one over 4,000 characters, an external
    reference already recorded. Audited.
    """
    client_access(actor=actor, client=client)
    token_write_check(actor)
    description, external_id = (description or "").strip(), (external_id or "").strip()
    errors = _feedback_staff_errors(
        actor=actor,
        staff=staff,
        client=client,
        roles=COMPLAINT_STAFF_ROLES,
        wrong_role=_("Choose the RM or advisor the complaint is about."),
    )
    _day_errors(errors, "received_on", received_on, tenant_today(actor.tenant_id))
    if category not in Complaint.Category.values:
        errors["category"] = _("Choose the category of the complaint.")
    _text_errors(
        errors,
        "description",
        description,
        limit=4000,
        required=_("Describe what the client complains about."),
    )
    taken = _("A complaint with this external reference is already recorded.")
    _external_id_errors(errors, Complaint, external_id, taken)
    if errors:
        raise ValidationError(errors)
    complaint = _create_unless_taken(
        Complaint,
        taken,
        client=client,
        staff=staff,
        received_on=received_on,
        category=category,
        description=description,
        external_id=external_id,
    )
    audit_action(
        "create",
        actor=actor,
        obj=complaint,
        request=request,
        detail={
            "client": client.external_id,
            "staff": staff.code,
            "category": category,
            "received_on": received_on.isoformat(),
        },
    )
    return complaint


@transaction.atomic
def complaint_resolve(
    *,
    actor: Actor,
    complaint: Complaint,
    resolved_on: datetime.date | None,
    resolution: str,
    request: HttpRequest | None = None,
) -> Complaint:
    """Close an open complaint with what was done about it.

    Who: supervisors (complaints of the clients of their branch subtree) and head
    office; a complaint outside the actor's scope is ``Complaint.DoesNotExist``, other
    roles get ``PermissionDenied``. Refused with ``ValidationError``: a complaint
    already resolved, no date, one before the complaint was received or in the future,
    no resolution or one over 4,000 characters. Audited (status before → after).
    """
    if not _same_tenant(actor, complaint):
        raise Complaint.DoesNotExist("No such complaint.")
    locked = (
        visible_to(Complaint.objects.select_for_update(of=("self",)), actor)
        .select_related("client")
        .filter(pk=complaint.pk)
        .first()
    )
    if locked is None:
        raise Complaint.DoesNotExist("No such complaint.")
    if actor.staff is None or actor.role not in OVERSEERS:
        raise PermissionDenied(_("A supervisor or head office resolves complaints."))
    resolution = (resolution or "").strip()
    if locked.status != Complaint.Status.OPEN:
        raise ValidationError(_("This complaint is already resolved."))
    errors: dict[str, Any] = {}
    _day_errors(errors, "resolved_on", resolved_on, tenant_today(actor.tenant_id))
    if "resolved_on" not in errors and resolved_on < locked.received_on:
        errors["resolved_on"] = _("A complaint is resolved on or after the day it was received.")
    _text_errors(
        errors,
        "resolution",
        resolution,
        limit=4000,
        required=_("Say how the complaint was resolved."),
    )
    if errors:
        raise ValidationError(errors)
    locked.status = Complaint.Status.RESOLVED
    locked.resolved_on = resolved_on
    locked.resolution = resolution
    locked.save(update_fields=["status", "resolved_on", "resolution", "updated_at"])
    audit_action(
        "update",
        actor=actor,
        obj=locked,
        request=request,
        detail={
            "client": locked.client.external_id,
            "status": [Complaint.Status.OPEN.value, locked.status],
            "resolved_on": resolved_on.isoformat(),
        },
    )
    for name in ("status", "resolved_on", "resolution", "updated_at"):
        setattr(complaint, name, getattr(locked, name))
    return locked


# --- Coaching notes ----------------------------------------------------------------------


def coaching_may_write(*, actor: Actor, rm: StaffProfile) -> bool:
    """Whether ``actor`` may write a note to ``rm``: a supervisor of the RM's branch
    subtree, or head office."""
    if actor.staff is None or not _same_tenant(actor, rm) or rm.role != Role.RM:
        return False
    if actor.role == Role.HEAD_OFFICE:
        return True
    return actor.role == Role.SUPERVISOR and rm.branch_id in branch_subtree_ids(
        actor.staff.branch_id
    )


@transaction.atomic
def coaching_note_create(
    *,
    actor: Actor,
    rm: StaffProfile,
    text: str,
    focus: str = "",
    follow_up_on: datetime.date | None = None,
    request: HttpRequest | None = None,
) -> CoachingNote:
    """A supervisor's (or head office's) coaching note to the RM ``rm``.

    Who: a supervisor of the RM's branch subtree, head office. The RM themselves and
    the author of an earlier note (who may have moved branch) get ``PermissionDenied``;
    for anyone else — another bank's staff, a staff member who is not an RM, an RM
    outside a supervisor's subtree — the RM is ``StaffProfile.DoesNotExist``. Refused
    with ``ValidationError``: an inactive RM, no text or one over 4,000 characters, a
    focus that is not a scorecard dimension, a follow-up day in the past. Audited; the
    RM is notified.
    """
    if not _same_tenant(actor, rm) or rm.role != Role.RM:
        raise StaffProfile.DoesNotExist("No such RM.")
    if not coaching_may_write(actor=actor, rm=rm):
        # The RM and a note's author read the notes (their page exists for them), but
        # do not write here; to anyone else the RM is not found.
        if actor.staff is not None and (
            rm.pk == actor.staff.pk
            or CoachingNote.objects.filter(rm=rm, author=actor.staff).exists()
        ):
            raise PermissionDenied(
                _("A supervisor of the RM's branch or head office writes coaching notes.")
            )
        raise StaffProfile.DoesNotExist("No such RM.")
    text, focus = (text or "").strip(), (focus or "").strip()
    errors: dict[str, Any] = {}
    if not rm.is_active:
        errors["__all__"] = _("This RM is no longer active.")
    _text_errors(errors, "text", text, limit=4000, required=_("Write the note."))
    if focus and focus not in DIMENSIONS:
        errors["focus"] = _("Choose a dimension of the scorecard.")
    if follow_up_on is not None and follow_up_on < tenant_today(actor.tenant_id):
        errors["follow_up_on"] = _("The follow-up cannot be in the past.")
    if errors:
        raise ValidationError(errors)
    note = CoachingNote.objects.create(
        rm=rm, author=actor.staff, text=text, focus=focus, follow_up_on=follow_up_on
    )
    Notification.objects.create(
        recipient=rm,
        kind=COACHING_NOTE,
        params={
            "by": actor.staff.name,
            "focus": focus,
            "follow_up_on": follow_up_on.isoformat() if follow_up_on else "",
        },
        link=reverse("kpi:coaching", args=[rm.pk]),
    )
    audit_action(
        "create",
        actor=actor,
        obj=note,
        request=request,
        detail={
            "rm": rm.code,
            "focus": focus,
            "follow_up_on": follow_up_on.isoformat() if follow_up_on else None,
        },
    )
    return note


# --- Batch ingestion (the API) -----------------------------------------------------------

SCORE = Annotated[int, Field(ge=1, le=5)]
SCORE_MESSAGE = _("Must be a whole number from 1 (poor) to 5 (excellent).")
FUTURE_MESSAGE = _("May not be in the future.")


class SurveyRecord(TypedDict, total=False):
    __pydantic_config__ = STRICT
    external_id: Required[text(SatisfactionSurvey, "external_id")]
    client_external_id: Required[text(Client, "external_id")]
    rm_code: Required[text(StaffProfile, "code")]
    score: Required[SCORE]
    surveyed_on: Required[DATE]
    comment: text(SatisfactionSurvey, "comment", blank=True) | None
    channel: one_of((*Channel.values, "")) | None


class ComplaintRecord(TypedDict, total=False):
    __pydantic_config__ = STRICT
    external_id: Required[text(Complaint, "external_id")]
    client_external_id: Required[text(Client, "external_id")]
    rm_code: Required[text(StaffProfile, "code")]
    received_on: Required[DATE]
    category: Required[one_of(tuple(Complaint.Category.values))]
    description: Required[text(Complaint, "description")]


def _record_messages(errors: list[dict]) -> dict[str, list[str]]:
    """pydantic's errors of one record as ``{"field": [message]}``, a score's in words."""
    for error in errors:
        if (
            error["loc"][:1] == ("score",)
            and error["type"] != "missing"
            and error.get("input") is not None
        ):
            error.update(type="invalid", msg=str(SCORE_MESSAGE))
    return pydantic_messages(errors)


class FeedbackBatch:
    """Validate, classify and write one batch of surveys or complaints (see the module
    docstring); the subclasses declare the kind."""

    model: ClassVar[type[models.Model]]
    record: ClassVar[type]
    what: ClassVar[str]
    day_field: ClassVar[str]
    # Record fields stored as they are (record field = column); the references
    # client_external_id → client_id and rm_code → staff_id are resolved in the tenant.
    fields: ClassVar[tuple[str, ...]]
    staff_roles: ClassVar[tuple[str, ...]]
    unknown_staff: ClassVar[Any]
    # Columns a batch never writes but a new row needs (and ``check`` may read).
    new_row: ClassVar[dict[str, Any]] = {}

    _adapters: ClassVar[dict[type, tuple[TypeAdapter, TypeAdapter]]] = {}

    def __init__(self, *, today: datetime.date) -> None:
        self.today = today
        self.result = SyncResult()
        self.synced = ("client_id", "staff_id", *self.fields)
        self.columns = (*self.synced, *self.new_row)
        self.existing: dict[str, dict[str, Any]] = {}
        self.state: dict[str, dict[str, Any]] = {}
        self.clients: dict[str, int] = {}
        self.staff: dict[str, int] = {}

    @classmethod
    def adapters(cls) -> tuple[TypeAdapter, TypeAdapter]:
        if cls not in cls._adapters:
            records = Annotated[list[cls.record], Field(max_length=MAX_RECORDS)]
            batch = TypedDict(f"{cls.record.__name__}Batch", {"records": records})  # noqa: UP013
            cls._adapters[cls] = (TypeAdapter(batch), TypeAdapter(cls.record))
        return cls._adapters[cls]

    def check(self, row: dict[str, Any]) -> dict[str, list[str]]:
        """Rules across the merged row's columns."""
        return {}

    # -- the steps --

    def apply(self, body: bytes) -> SyncResult:
        valid = self._validate(body)
        self._load(valid)
        for index, record in valid:
            self._merge(index, record)
        self.written = self._write()
        return self.result

    def _validate(self, body: bytes) -> list[tuple[int, dict[str, Any]]]:
        batch, record = self.adapters()
        try:
            # The common case, a well-formed batch of valid records: one call, raw body.
            return list(enumerate(batch.validate_json(body)["records"]))
        except PydanticValidationError:
            pass
        valid = []
        for index, raw in enumerate(sync_batch_parse(body)):
            try:
                valid.append((index, record.validate_json(json.dumps(raw))))
            except PydanticValidationError as exc:
                key = raw.get("external_id") if isinstance(raw, dict) else None
                self.result.reject(
                    index,
                    key if isinstance(key, str) else None,
                    _record_messages(exc.errors(include_url=False)),
                )
        return valid

    def _load(self, valid: list[tuple[int, dict[str, Any]]]) -> None:
        """Three queries whatever the batch's size: its clients, its staff, its keys'
        stored rows (each set of values as one JSON parameter)."""
        if not valid:
            return
        records = [record for _index, record in valid]
        self.clients = dict(
            Client.objects.filter(
                external_id__in=json_in({r["client_external_id"] for r in records})
            )
            .order_by()
            .values_list("external_id", "pk")
        )
        self.staff = dict(
            StaffProfile.objects.filter(
                code__in=json_in({r["rm_code"] for r in records}), role__in=self.staff_roles
            )
            .order_by()
            .values_list("code", "pk")
        )
        self.existing = {
            row["external_id"]: row
            for row in self.model.objects.filter(
                external_id__in=json_in({r["external_id"] for r in records})
            )
            .order_by()
            .values("id", *self.columns)
        }

    def _merge(self, index: int, record: dict[str, Any]) -> None:
        key = record["external_id"]
        errors: dict[str, list[str]] = {}
        client_id = self.clients.get(record["client_external_id"])
        if client_id is None:
            errors["client_external_id"] = [
                str(_('Unknown client "%(value)s".') % {"value": record["client_external_id"]})
            ]
        staff_id = self.staff.get(record["rm_code"])
        if staff_id is None:
            errors["rm_code"] = [str(self.unknown_staff % {"value": record["rm_code"]})]
        if record[self.day_field] > self.today:
            errors[self.day_field] = [str(FUTURE_MESSAGE)]
        base = self.state.get(key) or self.existing.get(key)
        row = dict(base if base is not None else self.new_row)
        row.update(client_id=client_id, staff_id=staff_id)
        # An optional field: omitted, it keeps its value (blank on create); null clears it.
        for name in self.fields:
            if name in record:
                row[name] = "" if record[name] is None else record[name]
            elif name not in row:
                row[name] = ""
        if not errors:
            errors = self.check(row)
        if errors:
            self.result.reject(index, key, errors)
            return
        if base is None:
            self.result.created += 1
        elif any(row[column] != base[column] for column in self.synced):
            self.result.updated += 1
        else:
            self.result.unchanged += 1
        self.state[key] = row

    def _write(self) -> list[str]:
        """The new rows in one statement, the changed ones in another (by primary key);
        returns the keys written. Sorted, so concurrent batches lock rows in the same
        order."""
        new, changed = [], []
        for key in sorted(self.state):
            row, stored = self.state[key], self.existing.get(key)
            values = {column: row[column] for column in self.columns}
            if stored is None:
                new.append((key, values))
            elif any(row[column] != stored[column] for column in self.synced):
                changed.append((key, {"id": stored["id"], **values}))
        for rows in (new, changed):
            rows_upsert(
                model=self.model,
                rows=[values for _key, values in rows],
                conflict=("id",),
                update=self.synced,
            )
        return [key for key, _values in (*new, *changed)]


class SurveyBatch(FeedbackBatch):
    model = SatisfactionSurvey
    record = SurveyRecord
    what = "surveys"
    day_field = "surveyed_on"
    fields = ("external_id", "score", "surveyed_on", "comment", "channel")
    staff_roles = (Role.RM,)
    unknown_staff = _('No relationship manager with staff code "%(value)s".')


class ComplaintBatch(FeedbackBatch):
    model = Complaint
    record = ComplaintRecord
    what = "complaints"
    day_field = "received_on"
    fields = ("external_id", "received_on", "category", "description")
    staff_roles = COMPLAINT_STAFF_ROLES
    unknown_staff = _('No RM or advisor with staff code "%(value)s".')
    new_row = {"status": Complaint.Status.OPEN.value, "resolved_on": None, "resolution": ""}

    def check(self, row: dict[str, Any]) -> dict[str, list[str]]:
        resolved_on = row["resolved_on"]
        if resolved_on is not None and row["received_on"] > resolved_on:
            return {
                "received_on": [
                    str(
                        _("May not be after the day the complaint was resolved (%(day)s).")
                        % {"day": resolved_on.isoformat()}
                    )
                ]
            }
        return {}


def _batch_apply(
    kind: type[FeedbackBatch], *, actor: Actor, body: bytes, request: HttpRequest | None
) -> SyncResult:
    if not actor.is_integration:
        raise PermissionDenied(
            _("Batches are for integrations: use an API token with the write scope.")
        )
    token_write_check(actor)
    batch = kind(today=tenant_today(actor.tenant_id))
    result = batch.apply(body)
    if batch.written:
        audit_action(
            "create" if result.created else "update",
            actor=actor,
            obj=None,
            request=request,
            detail={
                "what": kind.what,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "rejected": len(result.errors),
                "external_ids": batch.written,
            },
        )
    return result


@transaction.atomic
def survey_batch_apply(
    *, actor: Actor, body: bytes, request: HttpRequest | None = None
) -> SyncResult:
    """Upsert the batch of surveys in ``body`` (JSON ``{"records": [...]}``) by
    ``external_id``; ``BatchRefused`` for a body refused whole. Integration tokens with
    ``write`` only (``PermissionDenied``). See the module docstring."""
    return _batch_apply(SurveyBatch, actor=actor, body=body, request=request)


@transaction.atomic
def complaint_batch_apply(
    *, actor: Actor, body: bytes, request: HttpRequest | None = None
) -> SyncResult:
    """As ``survey_batch_apply``, for complaints (a new one opens as ``open``; status
    and resolution are the CRM's and a batch never changes them)."""
    return _batch_apply(ComplaintBatch, actor=actor, body=body, request=request)
