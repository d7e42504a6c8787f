from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, permissions

from vipcrm.roles import Actor


class HasTenantAccess(permissions.BasePermission):
    """A token needs ``read`` to read and ``write`` to write; staff need a profile."""

    message = _("This token does not have the scope this request needs.")

    def has_permission(self, request, view) -> bool:
        actor: Actor | None = getattr(request, "actor", None)
        if actor is None:
            if request.user is None and request.auth is None:
                raise exceptions.NotAuthenticated()
            self.message = _("Your login is not a member of any bank's staff.")
            return False
        if actor.is_integration:
            needed = "read" if request.method in permissions.SAFE_METHODS else "write"
            return needed in actor.scopes
        return True
