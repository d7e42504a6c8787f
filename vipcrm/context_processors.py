"""Navigation by role, for the base template."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from vipcrm.roles import Role

# (url name, label, roles that see it; None = every staff role)
NAVIGATION = [
    ("home", _("My day"), None),
    ("customers:client-list", _("Clients"), None),
    ("staff-list", _("Staff"), (Role.SUPERVISOR, Role.HEAD_OFFICE)),
    ("branch-list", _("Branches"), (Role.SUPERVISOR, Role.HEAD_OFFICE)),
    ("audit-log", _("Audit log"), (Role.HEAD_OFFICE,)),
]


def _section(url_name: str | None) -> str | None:
    """``staff-detail`` belongs to the ``staff`` section, like ``staff-list``; and
    ``customers:client-need-add`` to the ``client`` section, like ``client-list``."""
    return url_name.rsplit(":", 1)[-1].split("-", 1)[0] if url_name else None


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.tenant_id:
        return {}
    from vipcrm.views import actor_for_request

    actor = actor_for_request(request)
    if actor is None:
        return {}
    current = getattr(getattr(request, "resolver_match", None), "url_name", None)
    items = [
        {"url": reverse(name), "label": label, "active": _section(name) == _section(current)}
        for name, label, roles in NAVIGATION
        if roles is None or actor.role in roles
    ]
    return {"nav_items": items, "current_actor": actor, "current_staff": actor.staff}
