"""Filters of the sales-pipeline API (django-filter).

The contract's ``updated_since``, ``branch_code``, ``rm_code`` and ``tier``
(``shared/spec/sync-api.md``), the client's number, and the opportunity's own: status,
step, source, and the days it was created or won. Days are the bank's (Asia/Shanghai)
and become a range on the timestamp, so its index serves. A bad value is a 400 naming
the filter.
"""

from __future__ import annotations

import django_filters

from sales_pipeline.models import Opportunity, Step
from vipcrm.filters import ClientRowFilterSet, LocalDayFilter


class OpportunityFilter(ClientRowFilterSet):
    tier = django_filters.CharFilter(
        field_name="client__tier__code", help_text="The client's tier."
    )
    rm_code = django_filters.CharFilter(
        field_name="owner_rm__code", help_text="The staff code of the owner RM."
    )
    status = django_filters.ChoiceFilter(choices=Opportunity.Status.choices)
    step = django_filters.TypedChoiceFilter(choices=Step.choices, coerce=int)
    source = django_filters.ChoiceFilter(choices=Opportunity.Source.choices)
    created_from = LocalDayFilter(
        field_name="created_at", since=True, help_text="Created on or after this day."
    )
    created_to = LocalDayFilter(
        field_name="created_at", since=False, help_text="Created on or before this day."
    )
    won_from = LocalDayFilter(
        field_name="won_at", since=True, help_text="Won on or after this day."
    )
    won_to = LocalDayFilter(
        field_name="won_at", since=False, help_text="Won on or before this day."
    )

    class Meta:
        model = Opportunity
        fields = [
            "updated_since",
            "client",
            "branch_code",
            "rm_code",
            "tier",
            "status",
            "step",
            "source",
            "created_from",
            "created_to",
            "won_from",
            "won_to",
        ]
