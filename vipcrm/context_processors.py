"""Navigation by role, for the base template: the main menu and a section's tabs."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from vipcrm.roles import Role

SUPERVISING = (Role.SUPERVISOR, Role.HEAD_OFFICE)


@dataclass(frozen=True)
class NavItem:
    """A link shown to ``roles`` (None: every staff role); it is the current one on its
    own page and on every view named in ``covers`` (a trailing ``*`` matches a prefix)."""

    url_name: str
    label: str | Promise
    roles: tuple[str, ...] | None = None
    covers: tuple[str, ...] = ()

    def shown_to(self, role: str | None) -> bool:
        return self.roles is None or role in self.roles

    def is_current(self, view_name: str | None) -> bool:
        if not view_name:
            return False
        patterns = (self.url_name, *self.covers)
        return any(
            view_name.startswith(p[:-1]) if p.endswith("*") else view_name == p for p in patterns
        )


# The segmentation area's tabs; the main menu's "Segmentation" opens the first one the
# role may see.
SEGMENTATION_TABS = [
    NavItem("segmentation:unqualified-list", _("Unqualified VIPs"), SUPERVISING),
    NavItem("segmentation:near-threshold-list", _("Near threshold"), (Role.RM, *SUPERVISING)),
    NavItem("segmentation:tier-change-list", _("Tier changes"), (Role.RM, *SUPERVISING)),
    NavItem(
        "segmentation:capacity",
        _("RM capacity"),
        (Role.RM, *SUPERVISING),
        ("segmentation:capacity-edit",),
    ),
    NavItem(
        "segmentation:tiers",
        _("Tiers and service standards"),
        SUPERVISING,
        ("segmentation:tier-*", "segmentation:policy-*"),
    ),
]
_SEGMENTATION_COVERS = tuple(
    pattern for tab in SEGMENTATION_TABS for pattern in (tab.url_name, *tab.covers)
)

# The contact plans' tabs: an RM's (or advisor's) own week; supervisors' oversight.
CONTACT_TABS = [
    NavItem(
        "contact_plans:week",
        _("Weekly plan"),
        (Role.RM, Role.ADVISOR),
        ("contact_plans:print", "contact_plans:calendar-*", "contact_plans:contact-*"),
    ),
    NavItem(
        "contact_plans:overdue", _("Overdue contacts"), SUPERVISING, ("contact_plans:overdue-*",)
    ),
    NavItem("contact_plans:coverage", _("Coverage"), SUPERVISING),
]
_CONTACT_COVERS = tuple(pattern for tab in CONTACT_TABS for pattern in (tab.url_name, *tab.covers))

# The KPI area's tabs (the time sheet has its own menu entry, for RMs and advisors):
# the scorecards and dashboards, then the client feedback they count.
KPI_TABS = [
    NavItem(
        "kpi:home",
        _("Scorecards"),
        covers=("kpi:rm", "kpi:branch", "kpi:bank", "kpi:drill", "kpi:weights", "kpi:coaching"),
    ),
    NavItem("kpi:surveys", _("Satisfaction surveys"), covers=("kpi:survey-*",)),
    NavItem("kpi:complaints", _("Complaints"), covers=("kpi:complaint-*",)),
]
KPI_COVERS = tuple(pattern for tab in KPI_TABS for pattern in (tab.url_name, *tab.covers))

NAVIGATION = [
    NavItem("home", _("My day")),
    NavItem("contact_plans:week", _("Contacts"), (Role.RM, Role.ADVISOR), _CONTACT_COVERS),
    NavItem("contact_plans:overdue", _("Contacts"), SUPERVISING, _CONTACT_COVERS),
    NavItem(
        "customers:client-list", _("Clients"), covers=("customers:*", "segmentation:client-tier*")
    ),
    NavItem("sales_pipeline:board", _("Pipeline"), covers=("sales_pipeline:*",)),
    NavItem("kpi:time", _("Time"), (Role.RM, Role.ADVISOR)),
    NavItem("kpi:home", _("Scorecard"), covers=KPI_COVERS),
    NavItem("segmentation:segment-list", _("Segments"), covers=("segmentation:segment-*",)),
    NavItem(
        "segmentation:unqualified-list",
        _("Segmentation"),
        SUPERVISING,
        _SEGMENTATION_COVERS,
    ),
    NavItem(
        "segmentation:near-threshold-list", _("Segmentation"), (Role.RM,), _SEGMENTATION_COVERS
    ),
    NavItem("staff-list", _("Staff"), SUPERVISING, ("staff-*",)),
    NavItem("branch-list", _("Branches"), SUPERVISING),
    NavItem("audit-log", _("Audit log"), (Role.HEAD_OFFICE,)),
]


def _links(items: list[NavItem], role: str | None, current: str | None) -> list[dict]:
    return [
        {"url": reverse(item.url_name), "label": item.label, "active": item.is_current(current)}
        for item in items
        if item.shown_to(role)
    ]


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.tenant_id:
        return {}
    from vipcrm.views import actor_for_request

    actor = actor_for_request(request)
    if actor is None:
        return {}
    current = getattr(getattr(request, "resolver_match", None), "view_name", None)
    context = {
        "nav_items": _links(NAVIGATION, actor.role, current),
        "current_actor": actor,
        "current_staff": actor.staff,
    }
    if any(tab.is_current(current) for tab in SEGMENTATION_TABS):
        context["section_tabs"] = _links(SEGMENTATION_TABS, actor.role, current)
    if any(tab.is_current(current) for tab in CONTACT_TABS):
        context["section_tabs"] = _links(CONTACT_TABS, actor.role, current)
    if any(tab.is_current(current) for tab in KPI_TABS):
        context["section_tabs"] = _links(KPI_TABS, actor.role, current)
    return context
