"""Pages of the sales pipeline, mounted at /pipeline/.

- ``boards``: the board (one column per step, moves with htmx) and the honours board.
- ``opportunities``: a new opportunity, an opportunity's page and the work of its steps.
- ``sales_pipeline.client_section``: the client 360's section.

Who sees what: the selectors' scope (RMs their book and team, advisors their team,
supervisors their branch subtree, head office the bank); another tenant's or another
book's opportunity is a 404, answered before any role or input check. RMs and advisors
move the pipeline; supervisors and head office read it (no forms; a POST is a 403).
Writes go through ``sales_pipeline.services``; a refusal is shown on its form with the
status 400 (409 when the opportunity moved meanwhile), nothing written.

The helpers below are shared by the page modules.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from sales_pipeline import services
from vipcrm.roles import Actor

DEFAULT_ZONE = "Asia/Shanghai"
READ_ONLY = _("Supervisors and head office follow the pipeline; the RM and advisors move it.")


def bank_now(request: HttpRequest) -> datetime.datetime:
    """Now, in the time zone of the user's bank (months and "today" are the bank's)."""
    zone = getattr(request.user.tenant, "time_zone", "") or DEFAULT_ZONE
    return timezone.localtime(timezone.now(), ZoneInfo(zone))


def is_writer(actor: Actor) -> bool:
    """RMs and advisors move the pipeline; supervisors and head office follow it."""
    return actor.role in services.WRITER_ROLES


def require_writer(actor: Actor) -> None:
    """A supervisor's or head office's POST: 403, whatever it sends (asked after the
    opportunity was found in their scope)."""
    if not is_writer(actor):
        raise PermissionDenied(READ_ONLY)


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The ``next`` the form carries when it is a path of this site, else ``fallback``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
