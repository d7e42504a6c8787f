"""Roles and the one row-scoping policy inside a tenant.

| role        | sees                                                           |
|-------------|----------------------------------------------------------------|
| RM          | rows they own, plus rows whose team they are on                |
| advisor     | rows whose team they are on                                    |
| supervisor  | rows of their branch and its sub-branches                      |
| head office | the whole tenant                                               |
| integration | the whole tenant (API token), through the API only             |

Each scoped model declares *how* its rows relate to people and branches with a
``row_scope = RowScope(...)``; ``visible_to`` is the only place that turns a role into
a filter. Pages (``ScopedViewMixin``) and the API (``TenantModelViewSet``) both get
their querysets through selectors that call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from vipcrm.tenancy import current_tenant_id, request_memo


class Role(models.TextChoices):
    RM = "rm", _("Relationship manager")
    ADVISOR = "advisor", _("Wealth advisor")
    SUPERVISOR = "supervisor", _("Supervisor")
    HEAD_OFFICE = "head_office", _("Head-office admin")


@dataclass(frozen=True)
class RowScope:
    """Lookup paths from a model to the branch, owner and team that decide visibility.

    ``branch``: path to the row's branch (supervisors see their subtree).
    ``owner``: path to the owning ``StaffProfile`` (RMs see what they own).
    ``team``: path to ``StaffProfile`` rows on the row's team (RMs and advisors).
    A model with neither owner nor team is seen by RMs and advisors within their own
    branch only.
    """

    branch: str | None = None
    owner: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who is asking: a staff member, or an integration token (whole tenant)."""

    tenant_id: int
    staff: object | None = None  # StaffProfile
    role: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_integration(self) -> bool:
        return self.staff is None and bool(self.scopes)

    @property
    def sees_whole_tenant(self) -> bool:
        return self.is_integration or self.role == Role.HEAD_OFFICE

    @classmethod
    def for_staff(cls, staff) -> Actor:
        return cls(tenant_id=staff.tenant_id, staff=staff, role=staff.role)


def token_write_check(actor: Actor) -> None:
    """An integration token without the ``write`` scope may only read."""
    if actor.is_integration and "write" not in actor.scopes:
        raise PermissionDenied(_("This token may only read."))


def branch_subtree_ids(branch_id: int) -> list[int]:
    """The branch and every branch below it (one query a request: a bank has few
    branches, and a page checks several scopes; see ``tenancy.request_memo``)."""
    children = _branch_children()
    found, stack = [], [branch_id]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def _branch_children() -> dict[int | None, list[int]]:
    from vipcrm.models import Branch

    memo = request_memo()
    key = ("branch_children", current_tenant_id())
    if memo is not None and key in memo:
        return memo[key]
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Branch.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    if memo is not None:
        memo[key] = children
    return children


def _team_q(model: type[models.Model], path: str, staff_id: int) -> Q:
    """Rows of ``model`` whose team includes ``staff_id``, read from the team table.

    ``team_members__staff`` on Client becomes ``pk__in=ClientTeamMember.filter(staff=…)
    .values("client_id")``: a subquery on the (small) team table, never a join back
    through the scoped table, which would repeat rows and cost a scan of it. A path that
    first follows foreign keys (``client__team_members__staff`` on a row that belongs to
    a client) filters those keys instead: ``client_id__in=…``.
    """
    parts = path.split("__")
    current = model
    for index, name in enumerate(parts):
        field = current._meta.get_field(name)
        if field.one_to_many:  # the reverse relation to the team table
            prefix = "__".join(parts[:index])
            rest = "__".join(parts[index + 1 :])
            team_ids = field.related_model._default_manager.filter(**{rest: staff_id}).values(
                field.field.attname
            )
            return Q(**{f"{prefix}__in" if prefix else "pk__in": team_ids})
        current = field.related_model
    raise ValueError(f"{model.__name__}.row_scope.team must reach a team table: {path!r}")


def scope_q(model: type[models.Model], actor: Actor | None) -> Q:
    """The filter that limits ``model`` to what ``actor`` may see.

    A missing actor or one without a role sees nothing: the policy fails closed.
    """
    deny = Q(pk__in=[])
    if actor is None:
        return deny
    if actor.sees_whole_tenant:
        return Q()
    scope: RowScope | None = getattr(model, "row_scope", None)
    staff = actor.staff
    if scope is None or staff is None:
        return deny
    if actor.role == Role.SUPERVISOR:
        if scope.branch is None:
            return deny
        return Q(**{f"{scope.branch}__in": branch_subtree_ids(staff.branch_id)})
    if actor.role in (Role.RM, Role.ADVISOR):
        q = deny
        if scope.owner and actor.role == Role.RM:
            q |= Q(**{scope.owner: staff.pk})
        if scope.team:
            q |= _team_q(model, scope.team, staff.pk)
        if not (scope.owner or scope.team) and scope.branch:
            q = Q(**{scope.branch: staff.branch_id})
        return q
    return deny


def visible_to(queryset: models.QuerySet, actor: Actor | None) -> models.QuerySet:
    """``queryset`` limited to the rows ``actor`` may see."""
    return queryset.filter(scope_q(queryset.model, actor))
