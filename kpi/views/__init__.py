"""Pages of KPIs, mounted at /kpi/ (``kpi.urls``).

- ``inputs``: what the scorecard needs that nothing else records — an RM's week of
  time (``time/``), satisfaction surveys (``surveys/``), complaints (``complaints/``)
  and coaching notes on an RM (``coaching/<staff id>/``).
- ``dashboards``: the scorecards and dashboards, read from the nightly snapshots.

Who sees what is the selectors' scope (``kpi.selectors``, ``kpi.dashboards``): another
tenant's or another branch's object is a 404, answered before any role or input check;
a role that may see a page but not change it gets a 403 on a POST. Writes go through
``kpi.inputs`` (and ``kpi.services``); a refusal shows on its form with the status 400,
nothing written. Days are the bank's (``Tenant.time_zone``).

The helpers below are shared by the page modules.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.http import HttpRequest
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

DEFAULT_ZONE = "Asia/Shanghai"


def bank_today(request: HttpRequest) -> datetime.date:
    """Today in the time zone of the user's bank."""
    zone = getattr(request.user.tenant, "time_zone", "") or DEFAULT_ZONE
    return timezone.localdate(timezone.now(), ZoneInfo(zone))


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The ``next`` the form carries when it is a path of this site, else ``fallback``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
