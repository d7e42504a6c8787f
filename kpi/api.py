"""The KPI API: the snapshots the nightly job computes (``kpi.services``).

``GET /api/v1/kpi-snapshots/``
    The snapshots the caller may see, oldest first by ``id``, cursor-paginated (``next``
    link; ``page_size`` up to 1,000). Filters: ``period`` (``month``, ``quarter``,
    ``year``), ``period_start`` (the period's first day), ``scope`` (``rm``, ``branch``,
    ``tenant``), ``rm_code``, ``branch_code`` and ``updated_since`` (ISO 8601 with
    offset; a re-run of a period updates its rows). A bad value is a 400 naming the
    filter. Each row: the period and its bounds, ``as_of``, the scope and ``scope_key``,
    ``rm_code``/``branch_code``, ``values`` (every metric of ``kpi.definitions``),
    ``scores`` (per dimension and ``total``), ``score``, ``rank_in_branch``,
    ``computed_at`` and ``updated_at``. A page costs the same queries whatever its size.

``GET /api/v1/kpi-snapshots/<id>/``
    One snapshot.

Who (``vipcrm.roles.visible_to`` on ``KpiSnapshot.row_scope``): an RM sees their own
rows, a supervisor the rows of the RMs and branches of their branch subtree, head office
and integration tokens (``read`` scope) the whole bank; advisors none. Another bank's
row, or one outside the caller's scope, is a 404.
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import mixins

from kpi.filters import KpiSnapshotFilter
from kpi.models import KpiSnapshot
from kpi.serializers import KpiSnapshotSerializer
from vipcrm.roles import Actor, visible_to
from vipcrm.viewsets import TenantModelViewSet


def kpi_snapshot_list(*, actor: Actor | None) -> QuerySet[KpiSnapshot]:
    """The snapshots ``actor`` may see, with the staff and branch codes a row shows."""
    return visible_to(KpiSnapshot.objects.select_related("staff", "branch"), actor)


class KpiSnapshotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    """KPI snapshots (考核快照): every KPI of an RM, a branch or the bank for a month,
    quarter or year, as the nightly job computed it."""

    selector = staticmethod(kpi_snapshot_list)
    serializer_class = KpiSnapshotSerializer
    filterset_class = KpiSnapshotFilter
