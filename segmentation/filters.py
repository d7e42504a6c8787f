"""Filters of the segmentation API (django-filter); every list takes ``updated_since``."""

import django_filters
from django.db.models import Q

from customers.models import Tier
from segmentation.models import TierChange
from vipcrm.filters import ClientRowFilterSet


class TierFilter(django_filters.FilterSet):
    updated_since = django_filters.IsoDateTimeFilter(
        method="filter_updated_since",
        help_text="Tiers changed at or after this time, including their service standard.",
    )
    code = django_filters.CharFilter()

    class Meta:
        model = Tier
        fields = ["updated_since", "code"]

    def filter_updated_since(self, queryset, name, value):
        # A new cadence is news about the tier too: either row's change counts.
        return queryset.filter(
            Q(updated_at__gte=value) | Q(service_standards__updated_at__gte=value)
        ).distinct()


class TierChangeFilter(ClientRowFilterSet):
    rm_code = django_filters.CharFilter(
        field_name="client__owner_rm__code", help_text="The client's owner RM."
    )
    tier = django_filters.CharFilter(field_name="to_tier__code", help_text="The tier moved to.")
    from_tier = django_filters.CharFilter(
        field_name="from_tier__code", help_text="The tier moved from."
    )
    reason = django_filters.ChoiceFilter(choices=TierChange.Reason.choices)
    effective_from = django_filters.DateFilter(
        field_name="effective_on", lookup_expr="gte", help_text="Effective on or after."
    )
    effective_to = django_filters.DateFilter(
        field_name="effective_on", lookup_expr="lte", help_text="Effective on or before."
    )

    class Meta:
        model = TierChange
        fields = [
            "updated_since",
            "client",
            "branch_code",
            "rm_code",
            "tier",
            "from_tier",
            "reason",
            "effective_from",
            "effective_to",
        ]
