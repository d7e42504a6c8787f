"""Filters of the contact-plan API (django-filter).

Every list takes ``updated_since``, ``branch_code``, ``rm_code`` and ``tier`` (the
contract's minimum, ``shared/spec/sync-api.md``), plus its own. A bad value is a 400
naming the filter; no value, however extreme, reaches the database unchecked.
"""

from __future__ import annotations

import django_filters

from contact_plans.models import Interaction, PlannedContact
from customers.models import Channel
from vipcrm.filters import ClientRowFilterSet, LocalDayFilter


class ContactPlanFilterSet(ClientRowFilterSet):
    """``updated_since`` and the client's number, branch and tier, shared by both lists."""

    tier = django_filters.CharFilter(
        field_name="client__tier__code", help_text="The client's tier."
    )


class PlannedContactFilter(ContactPlanFilterSet):
    rm_code = django_filters.CharFilter(
        field_name="assigned_to__code", help_text="The staff code of the RM it is assigned to."
    )
    reason = django_filters.ChoiceFilter(choices=PlannedContact.Reason.choices)
    status = django_filters.ChoiceFilter(choices=PlannedContact.Status.choices)
    due_from = django_filters.DateFilter(
        field_name="due_on", lookup_expr="gte", help_text="Due on or after (inclusive)."
    )
    due_to = django_filters.DateFilter(
        field_name="due_on", lookup_expr="lte", help_text="Due on or before (inclusive)."
    )

    class Meta:
        model = PlannedContact
        fields = [
            "updated_since",
            "client",
            "branch_code",
            "rm_code",
            "tier",
            "reason",
            "status",
            "due_from",
            "due_to",
        ]


class InteractionFilter(ContactPlanFilterSet):
    rm_code = django_filters.CharFilter(
        field_name="staff__code", help_text="The staff code of who made the contact."
    )
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    external_id = django_filters.CharFilter(
        help_text="The id given by the system that logged it (call centre, mobile app)."
    )
    occurred_from = LocalDayFilter(
        field_name="occurred_at",
        since=True,
        help_text="Occurred on or after this day (the bank's local time, Asia/Shanghai).",
    )
    occurred_to = LocalDayFilter(
        field_name="occurred_at",
        since=False,
        help_text="Occurred on or before this day (the bank's local time, Asia/Shanghai).",
    )

    class Meta:
        model = Interaction
        fields = [
            "updated_since",
            "client",
            "branch_code",
            "rm_code",
            "tier",
            "channel",
            "external_id",
            "occurred_from",
            "occurred_to",
        ]
