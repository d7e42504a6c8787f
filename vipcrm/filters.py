import django_filters

from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import Role


class UpdatedSinceFilterSet(django_filters.FilterSet):
    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")


class BranchFilter(UpdatedSinceFilterSet):
    parent_code = django_filters.CharFilter(field_name="parent__code")

    class Meta:
        model = Branch
        fields = ["updated_since", "parent_code"]


class StaffFilter(UpdatedSinceFilterSet):
    branch_code = django_filters.CharFilter(field_name="branch__code")
    role = django_filters.ChoiceFilter(choices=Role.choices)
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = StaffProfile
        fields = ["updated_since", "branch_code", "role", "is_active"]
