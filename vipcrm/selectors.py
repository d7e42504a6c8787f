"""Reads of the platform models, always through the actor's scope."""

from __future__ import annotations

import datetime

from django.db.models import Count, QuerySet

from vipcrm.models import AuditEntry, Branch, StaffProfile, User
from vipcrm.roles import Actor, Role, visible_to


def staff_for_user(user: User) -> StaffProfile | None:
    """The active staff profile of a login, in the current tenant."""
    if not getattr(user, "tenant_id", None):
        return None
    return StaffProfile.objects.select_related("branch").filter(user=user, is_active=True).first()


def actor_for_user(user: User) -> Actor | None:
    staff = staff_for_user(user)
    return Actor.for_staff(staff) if staff else None


def branch_list(*, actor: Actor) -> QuerySet[Branch]:
    return visible_to(Branch.objects.select_related("parent"), actor).order_by("code")


def staff_list(*, actor: Actor) -> QuerySet[StaffProfile]:
    return visible_to(StaffProfile.objects.select_related("branch"), actor).order_by("code")


def audit_entry_list(
    *,
    actor: Actor,
    action: str | None = None,
    actor_label: str | None = None,
    object_type: str | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> QuerySet[AuditEntry]:
    """The tenant's audit log; head office only (anyone else gets an empty list)."""
    if actor is None or actor.role != Role.HEAD_OFFICE:
        return AuditEntry.objects.none()
    entries = AuditEntry.objects.all()
    if action:
        entries = entries.filter(action=action)
    if actor_label:
        entries = entries.filter(actor_label__icontains=actor_label)
    if object_type:
        entries = entries.filter(object_type=object_type)
    if date_from:
        entries = entries.filter(at__date__gte=date_from)
    if date_to:
        entries = entries.filter(at__date__lte=date_to)
    return entries.order_by("-at", "-id")


def staff_search(staff: QuerySet[StaffProfile], query: str) -> QuerySet[StaffProfile]:
    from django.db.models import Q

    return staff.filter(Q(name__icontains=query) | Q(code__iexact=query))


def team_overview(*, actor: Actor) -> dict | None:
    """The "My day" panel of the platform: the people and branches in the actor's scope."""
    if actor.staff is None:
        return None
    staff = staff_list(actor=actor)
    counts = {role: 0 for role in Role.values}
    for role, count in staff.order_by().values_list("role").annotate(n=Count("pk")):
        counts[role] = count
    return {
        "branch": actor.staff.branch,
        "branch_count": branch_list(actor=actor).count(),
        "staff_counts": [(Role(role).label, counts[role]) for role in Role.values],
    }
