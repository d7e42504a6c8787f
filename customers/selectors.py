"""Reads of clients, always through the actor's scope; identity data masked by role."""

from __future__ import annotations

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, Value

from customers.models import Client, ClientTeamMember
from customers.validators import mask_id_number, mask_mobile
from vipcrm.roles import Actor, Role, visible_to


def client_list(*, actor: Actor) -> QuerySet[Client]:
    """Clients the actor may see, each annotated ``identity_visible`` (see below)."""
    return with_identity_access(
        visible_to(Client.objects.select_related("branch", "owner_rm", "tier"), actor), actor
    )


def with_identity_access(clients: QuerySet[Client], actor: Actor | None) -> QuerySet[Client]:
    """Annotate ``identity_visible``: only the owner RM and the client's team see the
    national ID and mobile in clear; supervisors, head office and integrations see them
    masked (the domain's confidentiality rule)."""
    staff = getattr(actor, "staff", None)
    if staff is None:
        return clients.annotate(identity_visible=Value(False, output_field=BooleanField()))
    on_team = ClientTeamMember.objects.filter(client=OuterRef("pk"), staff=staff)
    return clients.annotate(
        identity_visible=ExpressionWrapper(
            Q(owner_rm=staff) | Q(Exists(on_team)), output_field=BooleanField()
        )
    )


def client_identity(client: Client) -> dict[str, str]:
    """The client's national ID and mobile as this viewer may see them.

    ``client`` must come from ``client_list`` (it carries ``identity_visible``); a client
    from anywhere else is masked, which fails safe.
    """
    if getattr(client, "identity_visible", False):
        return {"id_number": client.id_number, "mobile": client.mobile}
    return {"id_number": mask_id_number(client.id_number), "mobile": mask_mobile(client.mobile)}


def book_overview(*, actor: Actor) -> dict | None:
    """The "My day" panel of clients: how many the actor serves, and the largest ones."""
    if actor.staff is None:
        return None
    clients = visible_to(Client.objects.all(), actor)
    context = {
        "client_count": clients.count(),
        "recent_clients": list(
            clients.select_related("branch", "owner_rm", "tier").order_by("-aum_cny", "id")[:8]
        ),
    }
    if actor.role == Role.RM:
        context["own_count"] = clients.filter(owner_rm=actor.staff).count()
    return context
