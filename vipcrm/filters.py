"""API filters shared by every app: ``updated_since``, the bank's local days and the
platform's lists."""

from __future__ import annotations

import datetime

import django_filters
from django import forms
from django.utils import timezone
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


def local_day_start(day: datetime.date) -> datetime.datetime | None:
    """Midnight starting ``day`` in the current time zone; None when it cannot be
    expressed in UTC (the first or last day of the calendar)."""
    start = datetime.datetime.combine(
        day, datetime.time.min, tzinfo=timezone.get_current_timezone()
    )
    try:
        start.astimezone(datetime.UTC)
    except OverflowError:
        return None
    return start


class LocalDayFilter(django_filters.DateFilter):
    """A day of the bank's calendar, as a bound on a timestamp: ``since`` keeps what
    happened on or after it, otherwise what happened on or before it (inclusive). The
    day becomes a range on the timestamp itself, so the index on it serves."""

    def __init__(self, *, since: bool, **kwargs):
        self.since = since
        super().__init__(**kwargs)

    def filter(self, qs, value: datetime.date | None):
        if value is None:
            return qs
        if self.since:
            start = local_day_start(value)
            return qs if start is None else qs.filter(**{f"{self.field_name}__gte": start})
        if value >= datetime.date.max:
            return qs
        end = local_day_start(value + datetime.timedelta(days=1))
        return qs if end is None else qs.filter(**{f"{self.field_name}__lt": end})


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
