"""API filters shared by every app: ``updated_since`` and the platform's lists."""

from __future__ import annotations

import datetime

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import Role

OUT_OF_RANGE = _("Enter a date and time between the years 1 and 9999 in any time zone.")


class BoundedIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date and time that every database can compare with.

    ``0001-01-01T00:00:00+08:00`` parses, but is not representable in UTC (the
    database's zone on SQLite) and would fail when the query is built: refused here.
    """

    def to_python(self, value):
        value = super().to_python(value)
        if value is not None:
            try:
                value.astimezone(datetime.UTC)
            except OverflowError:
                raise forms.ValidationError(OUT_OF_RANGE, code="overflow") from None
        return value


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class UpdatedSinceFilterSet(django_filters.FilterSet):
    updated_since = BoundedIsoDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="Changed at or after this time (ISO 8601 with offset).",
    )


class ClientRowFilterSet(UpdatedSinceFilterSet):
    """``updated_since``, and the client's customer number and home branch: for lists of
    rows that belong to a client (a ``client`` foreign key)."""

    client = django_filters.CharFilter(
        field_name="client__external_id", help_text="The client's customer number."
    )
    branch_code = django_filters.CharFilter(
        field_name="client__branch__code", help_text="The client's home branch."
    )


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
