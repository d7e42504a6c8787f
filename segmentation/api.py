"""The segmentation API: the tiers with their service standards, and tier changes
(``shared/spec/sync-api.md``, Reading). Read-only; rows come from the selectors through
the actor: tiers are the tenant's reference data, tier changes follow the clients' scope.
"""

from rest_framework import mixins

from segmentation.configuration import tier_api_list, tier_change_api_list
from segmentation.filters import TierChangeFilter, TierFilter
from segmentation.serializers import TierChangeSerializer, TierSerializer
from vipcrm.viewsets import TenantModelViewSet


class TierViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    """The bank's tiers with their AUM floors and service standards, by code."""

    selector = staticmethod(tier_api_list)
    serializer_class = TierSerializer
    filterset_class = TierFilter
    lookup_field = "code"
    lookup_value_regex = "[^/]+"


class TierChangeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    """Clients' moves between tiers (from, to, why, when), oldest first by id."""

    selector = staticmethod(tier_change_api_list)
    serializer_class = TierChangeSerializer
    filterset_class = TierChangeFilter
