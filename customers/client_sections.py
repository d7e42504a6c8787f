"""What the apps above ``customers`` add to a client: 360 sections and API summaries.

``customers`` sits below the apps that know more about a client (segmentation, contact
plans, the sales pipeline) and cannot import them, so each registers its section in its
``AppConfig.ready`` — as the apps add panels to "My day" (``vipcrm.my_day``) — and
``ClientDetailView`` renders them in order, in the column they ask for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.safestring import SafeString

from customers.models import Client
from vipcrm.roles import Actor

MAIN = "main"
ASIDE = "aside"


@dataclass(frozen=True)
class ClientSection:
    """``render(*, request, actor, client)`` returns the section's HTML, or None when
    there is nothing to show this actor. ``column`` is ``MAIN`` or ``ASIDE``."""

    name: str
    order: int
    render: Callable[..., SafeString | None]
    column: str = MAIN


_sections: dict[str, ClientSection] = {}


def register_client_section(section: ClientSection) -> None:
    _sections[section.name] = section


def render_client_sections(
    *, request: HttpRequest, actor: Actor, client: Client
) -> dict[str, list[SafeString]]:
    """The registered sections' HTML for ``client``, by column, in order."""
    rendered: dict[str, list[SafeString]] = {MAIN: [], ASIDE: []}
    for section in sorted(_sections.values(), key=lambda s: (s.order, s.name)):
        html = section.render(request=request, actor=actor, client=client)
        if html is not None:
            rendered.setdefault(section.column, []).append(html)
    return rendered


# --- The API's contact-plan summary ---------------------------------------------------

_contact_plan_summary: list[Callable[[Client], dict | None]] = []


def register_contact_plan_summary(summary: Callable[[Client], dict | None]) -> None:
    """The contact-plan app says how ``GET /api/v1/clients/<id>/`` summarises a plan."""
    _contact_plan_summary[:] = [summary]


def client_contact_plan_summary(client: Client) -> dict | None:
    return _contact_plan_summary[0](client) if _contact_plan_summary else None
