"""The "My day" landing page is assembled from panels that the apps contribute.

``vipcrm`` sits at the bottom of the dependency order and cannot import the apps above
it, so each app registers its panels in its ``AppConfig.ready``; the page shows them
in order, each rendered with its own context from the current actor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from vipcrm.roles import Actor


@dataclass(frozen=True)
class Panel:
    key: str
    order: int
    template: str
    context: Callable[[Actor], dict | None]  # None: nothing to show for this actor


_panels: dict[str, Panel] = {}


def register_panel(panel: Panel) -> None:
    _panels[panel.key] = panel


def render_panels(*, request: HttpRequest, actor: Actor) -> list[SafeString]:
    rendered = []
    for panel in sorted(_panels.values(), key=lambda p: (p.order, p.key)):
        context = panel.context(actor)
        if context is not None:
            rendered.append(render_to_string(panel.template, {"actor": actor, **context}, request))
    return rendered
