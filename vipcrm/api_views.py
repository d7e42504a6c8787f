"""Reading endpoints of the platform kinds: branches and staff."""

from rest_framework import mixins

from vipcrm import selectors
from vipcrm.filters import BranchFilter, StaffFilter
from vipcrm.serializers import BranchSerializer, StaffSerializer
from vipcrm.viewsets import TenantModelViewSet


class BranchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    selector = staticmethod(selectors.branch_list)
    serializer_class = BranchSerializer
    filterset_class = BranchFilter
    lookup_field = "code"


class StaffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    selector = staticmethod(selectors.staff_list)
    serializer_class = StaffSerializer
    filterset_class = StaffFilter
    lookup_field = "code"
