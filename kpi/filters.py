"""Filters of the KPI snapshots API (django-filter): the contract's ``updated_since``,
``rm_code`` and ``branch_code``, and the snapshot's own period, first day and scope. A
bad value is a 400 naming the filter."""

from __future__ import annotations

import django_filters

from kpi.models import KpiSnapshot
from vipcrm.filters import UpdatedSinceFilterSet


class KpiSnapshotFilter(UpdatedSinceFilterSet):
    period = django_filters.ChoiceFilter(
        choices=KpiSnapshot.Period.choices, help_text="`month`, `quarter` or `year`."
    )
    period_start = django_filters.DateFilter(
        help_text="The period's first day (YYYY-MM-DD), e.g. 2026-10-01 for October or Q4."
    )
    scope = django_filters.ChoiceFilter(
        choices=KpiSnapshot.Scope.choices,
        help_text="`rm` (one RM), `branch` (a branch with its sub-branches) or `tenant`.",
    )
    rm_code = django_filters.CharFilter(
        field_name="staff__code", help_text="The RM's staff code (RM rows)."
    )
    branch_code = django_filters.CharFilter(
        field_name="branch__code",
        help_text="The branch's code: its branch row and the rows of the RMs homed in it.",
    )

    class Meta:
        model = KpiSnapshot
        fields = ["updated_since", "period", "period_start", "scope", "rm_code", "branch_code"]
