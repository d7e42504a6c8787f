"""Reads of clients, always through the actor's scope."""

from __future__ import annotations

from django.db.models import QuerySet

from customers.models import Client
from vipcrm.roles import Actor, Role, visible_to


def client_list(*, actor: Actor) -> QuerySet[Client]:
    return visible_to(Client.objects.select_related("branch", "owner_rm"), actor)


def book_overview(*, actor: Actor) -> dict | None:
    """The "My day" panel of clients: how many the actor serves, and the latest ones."""
    if actor.staff is None:
        return None
    clients = client_list(actor=actor)
    context = {
        "client_count": clients.count(),
        "recent_clients": list(clients.order_by("-created_at")[:8]),
    }
    if actor.role == Role.RM:
        context["own_count"] = clients.filter(owner_rm=actor.staff).count()
    return context
