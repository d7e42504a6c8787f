"""Serializers of the contact-plan API: planned contacts and interactions.

Dates travel as YYYY-MM-DD, timestamps as ISO 8601 with offset, amounts as strings
(``shared/spec/sync-api.md``); each record carries the ``client_external_id`` and staff
``rm_code`` that join it to the caller's own data.
"""

from __future__ import annotations

import datetime

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contact_plans.models import Interaction, PlannedContact
from customers.models import Channel, Need

# Bigint primary keys: a larger number could not be looked up, only refused.
MAX_ID = 2**63 - 1
# A summary is free text; this only keeps one request from filling the database.
SUMMARY_MAX_LENGTH = 10_000


@extend_schema_field(
    {
        "type": "string",
        "pattern": f"^({'|'.join(PlannedContact.Reason.values)})$",
        "description": (
            "`cadence` (regular contact), `maturity` (a holding matures), `life_event`, "
            "`birthday`, `festival`, `risk_reassessment` (the risk assessment expires), "
            "`campaign`, `follow_up` (the next step of an interaction)."
        ),
    }
)
class PlannedContactReasonField(serializers.CharField):
    """Documented as a pattern: an enum of a field named ``reason`` would collide with
    the tier changes' ``ReasonEnum`` and rename it in the schema."""


@extend_schema_field(
    {
        "type": "string",
        "pattern": f"^({'|'.join(PlannedContact.Status.values)})$",
        "description": (
            "`planned`, `overdue` (due date passed, still open), `done` (an interaction "
            "answered it), `cancelled` (no longer needed, e.g. the maturity date moved)."
        ),
    }
)
class PlannedContactStatusField(serializers.CharField):
    """Documented as a pattern: an enum of a field named ``status`` would collide with
    the holdings' ``StatusEnum`` and rename it in the schema."""


class PlannedContactSerializer(serializers.ModelSerializer):
    """A contact an RM should make with a client: why, by when, and whether it was done."""

    # The codes are annotations of ``planned_contact_api_list`` (read in the same query).

    client_external_id = serializers.CharField(read_only=True)
    rm_code = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text="Staff code of the RM the contact is assigned to (the client's owner RM).",
    )
    reason = PlannedContactReasonField(read_only=True)
    status = PlannedContactStatusField(read_only=True)
    holding_external_id = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text="The maturing holding, for maturity contacts.",
    )

    class Meta:
        model = PlannedContact
        fields = [
            "id",
            "client_external_id",
            "rm_code",
            "reason",
            "status",
            "due_on",
            "channel",
            "source_date",
            "amount_cny",
            "holding_external_id",
            "note",
            "rescheduled_from",
            "reschedule_reason",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": "Give it as `planned_contact_id` when logging the interaction."},
            "channel": {"help_text": "The suggested channel; empty when the RM chooses."},
            "source_date": {
                "help_text": "The maturity date, birthday, festival or event it is about."
            },
            "amount_cny": {"help_text": "The maturing amount in CNY, for maturity contacts."},
            "rescheduled_from": {"help_text": "The first due date, when it was rescheduled."},
        }


class InteractionSerializer(serializers.ModelSerializer):
    """A contact made with a client, by whom, and what came of it."""

    # The codes are annotations of ``interaction_api_list`` (read in the same query).

    client_external_id = serializers.CharField(read_only=True)
    rm_code = serializers.CharField(read_only=True, help_text="Staff code of who made the contact.")
    needs_found = serializers.ListField(
        child=serializers.ChoiceField(choices=Need.Kind.choices), read_only=True
    )
    planned_contact_id = serializers.IntegerField(
        allow_null=True, read_only=True, help_text="The planned contact it answered, if any."
    )
    external_id = serializers.SerializerMethodField(
        help_text="The id given by the system that logged it; null when logged in the CRM."
    )

    class Meta:
        model = Interaction
        fields = [
            "id",
            "external_id",
            "client_external_id",
            "rm_code",
            "channel",
            "occurred_at",
            "duration_minutes",
            "summary",
            "needs_found",
            "next_step",
            "next_step_on",
            "planned_contact_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_external_id(self, interaction: Interaction) -> str | None:
        return interaction.external_id or None


class OffsetDateTimeField(serializers.DateTimeField):
    """An ISO 8601 timestamp that must state its UTC offset (the contract's format):
    a bare local time is ambiguous for a system in another zone."""

    default_error_messages = {
        "naive": _("Give the time with its UTC offset, e.g. 2026-11-20T10:30:00+08:00."),
        "out_of_range": _("Give a time between the years 1 and 9999 in UTC."),
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        value = super().to_internal_value(value)
        try:
            value.astimezone(datetime.UTC)  # what the database stores
        except OverflowError:
            self.fail("out_of_range")
        return value


class FlatListField(serializers.ListField):
    """A list whose item errors read as one list of messages (``{"field": ["…"]}``, the
    contract's shape) rather than DRF's ``{"field": {"0": ["…"]}}``."""

    def run_child_validation(self, data):
        try:
            return super().run_child_validation(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, dict):
                detail = [str(m) for messages in detail.values() for m in messages]
            raise serializers.ValidationError(detail) from None


class InteractionCreateSerializer(serializers.Serializer):
    """A contact to log; the rules it must meet are the CRM's own (see the operation)."""

    # Only types are checked here: the rules are ``services.interaction_log``'s.

    client_external_id = serializers.CharField(
        max_length=64, help_text="The client's customer number."
    )
    rm_code = serializers.CharField(
        max_length=32,
        required=False,
        help_text=(
            "Staff code of who made the contact. Required with an API token; a logged-in "
            "staff member logs their own contacts and may leave it out."
        ),
    )
    channel = serializers.ChoiceField(choices=Channel.choices)
    occurred_at = OffsetDateTimeField(
        help_text="When the contact took place (ISO 8601 with offset); not in the future."
    )
    duration_minutes = serializers.IntegerField(
        min_value=1, max_value=24 * 60, required=False, allow_null=True
    )
    summary = serializers.CharField(max_length=SUMMARY_MAX_LENGTH)
    needs_found = FlatListField(
        child=serializers.ChoiceField(choices=Need.Kind.choices),
        required=False,
        max_length=len(Need.Kind.values),
        help_text="Need kinds found in the talk; each is added to the client's open needs.",
    )
    next_step = serializers.CharField(max_length=300, required=False, allow_blank=True)
    next_step_on = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="Plans a follow-up contact on that day (today or later).",
    )
    planned_contact_id = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        help_text="The open planned contact of this client that the contact answers.",
    )
    external_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text=(
            "Your own id of the contact, unique in the bank: sending it again returns the "
            "interaction already logged (200) instead of logging it twice."
        ),
    )
