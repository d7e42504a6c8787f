"""In-app notifications: what each kind says, and the reads and writes of a staff
member's own inbox.

A ``Notification`` stores a ``kind`` and its ``params``, never its text: the jobs that
write them (the nightly re-tiering, a supervisor's reassignment) have no language of
their own, so the text is rendered when it is read, in the reader's language. Each kind
has a renderer, ``renderer(params) -> str``, registered here; the apps that write a new
kind register its renderer from their ``AppConfig.ready``.

A notification is only ever visible to its recipient: every read below is limited to
the staff member's own rows (not the role scope: a head-office admin does not read a
RM's inbox), so anyone else's — or another bank's — is a 404.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext, pgettext

from vipcrm.models import Notification, StaffProfile

logger = logging.getLogger(__name__)

Renderer = Callable[[dict[str, Any]], str]

_renderers: dict[str, Renderer] = {}


def register_notification_kind(kind: str, renderer: Renderer) -> None:
    """Say how notifications of ``kind`` read: ``renderer(params)`` returns the text in
    the active language (call ``gettext`` inside it, not at import time)."""
    _renderers[kind] = renderer


def notification_text(notification: Notification) -> str:
    """The notification's text in the active language. Never raises: a kind nobody
    registered, or params a renderer cannot read, give a generic line (and a log entry)."""
    renderer = _renderers.get(notification.kind)
    if renderer is not None:
        try:
            return renderer(notification.params if isinstance(notification.params, dict) else {})
        except (KeyError, TypeError, ValueError, AttributeError):
            logger.exception(
                "Cannot render notification %s (%s)", notification.pk, notification.kind
            )
    return gettext("You have a new notification.")


# --- Renderers of the kinds the apps write -------------------------------------------


def _count(params: dict, key: str) -> int:
    value = params.get(key) or 0
    return max(int(value), 0)


def day_text(value: Any) -> str:
    """``2026-11-27`` as the reader's month and day (11月27日, November 27)."""
    day = value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value))
    return formats.date_format(day, "MONTH_DAY_FORMAT")


def amount_text(value: Any) -> str:
    """``"1234567.5"`` as ``1,234,567.50`` (grouped in the reader's locale); what is not
    a number reads ``0.00``."""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        amount = Decimal("0.00")
    return formats.number_format(amount, 2, use_l10n=True, force_grouping=True)


def render_tier_changes(params: dict[str, Any]) -> str:
    """The nightly run's news for an owner RM, e.g. "11月27日：3 位客户升级，1 位降级".

    Params: ``date`` (ISO date of the run), ``upgrades``, ``downgrades``, ``other``
    (overrides set or ended): counts of the RM's clients.
    """
    upgrades = _count(params, "upgrades")
    downgrades = _count(params, "downgrades")
    other = _count(params, "other")
    parts = []
    if upgrades:
        parts.append(
            ngettext("%(count)s client upgraded", "%(count)s clients upgraded", upgrades)
            % {"count": upgrades}
        )
    if downgrades:
        parts.append(
            ngettext("%(count)s downgraded", "%(count)s downgraded", downgrades)
            % {"count": downgrades}
        )
    if other:
        parts.append(
            ngettext("%(count)s other tier change", "%(count)s other tier changes", other)
            % {"count": other}
        )
    changes = pgettext("list separator", ", ").join(parts) if parts else gettext("no tier changes")
    if not params.get("date"):
        return gettext("Tier changes in your book: %(changes)s") % {"changes": changes}
    return pgettext("notification: date, then what happened", "%(date)s: %(changes)s") % {
        "date": day_text(params["date"]),
        "changes": changes,
    }


def render_clients_reassigned(params: dict[str, Any]) -> str:
    """A reassignment between two RMs, told to each: "张经理将 5 位客户转入您的名下".

    Params: ``count``, ``direction`` (``in``: the clients came to the reader; ``out``:
    they left the reader's book), ``other_rm`` (the RM on the other side) and ``by``
    (the supervisor who moved them) — names, as they were when the move was made. An
    empty ``other_rm`` is the branch pool: clients released from, or taken out of, it.
    """
    count = _count(params, "count")
    names = {
        "count": count,
        "by": params.get("by") or gettext("A supervisor"),
        "other_rm": params.get("other_rm") or gettext("the branch pool"),
    }
    if params.get("direction") == "out":
        return (
            ngettext(
                "%(by)s moved %(count)s of your clients to %(other_rm)s",
                "%(by)s moved %(count)s of your clients to %(other_rm)s",
                count,
            )
            % names
        )
    return (
        ngettext(
            "%(by)s moved %(count)s client from %(other_rm)s to you",
            "%(by)s moved %(count)s clients from %(other_rm)s to you",
            count,
        )
        % names
    )


register_notification_kind("tier_changes", render_tier_changes)
register_notification_kind("clients_reassigned", render_clients_reassigned)


# --- The inbox -------------------------------------------------------------------------


def notification_list(*, staff: StaffProfile | None) -> QuerySet[Notification]:
    """The staff member's own notifications, newest first (nobody else's, ever)."""
    if staff is None:
        return Notification.objects.none()
    return Notification.objects.filter(recipient=staff).order_by("-created_at", "-id")


def notifications_unread_count(*, staff: StaffProfile | None) -> int:
    """How many of the staff member's notifications are unread (one indexed COUNT)."""
    if staff is None:
        return 0
    return Notification.objects.filter(recipient=staff, read_at__isnull=True).count()


def notification_mark_read(*, staff: StaffProfile, notification: Notification) -> Notification:
    """Mark one of the staff member's notifications read (idempotent: the first reading
    time stays). Anyone else's notification is refused as not found."""
    if notification.recipient_id != staff.pk or notification.tenant_id != staff.tenant_id:
        raise Notification.DoesNotExist
    if notification.read_at is None:
        now = timezone.now()
        # A conditional UPDATE: a concurrent reading of the same row keeps its own time.
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=now, updated_at=now
        )
        notification.read_at = now
    return notification


def notifications_mark_all_read(*, staff: StaffProfile) -> int:
    """Mark all the staff member's unread notifications read, in one UPDATE."""
    now = timezone.now()
    return Notification.objects.filter(recipient=staff, read_at__isnull=True).update(
        read_at=now, updated_at=now
    )
