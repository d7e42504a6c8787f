"""Serializers of the sales-pipeline API: opportunities, their history and checklist, and
the bodies of a move and a loss.

Amounts travel as strings with two decimals, dates as YYYY-MM-DD, timestamps as ISO 8601
with offset (``shared/spec/sync-api.md``); each record carries the client's
``client_external_id`` and staff codes that join it to the caller's own data.

Choices in fields whose name other endpoints also use (``status``, ``role``, ``reason``)
are documented as a pattern, not an enum: the schema names an enum after its field, and
two ``StatusEnum``s of different values would rename each other.
"""

from __future__ import annotations

from collections.abc import Iterable

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sales_pipeline.models import (
    Opportunity,
    Proposal,
    ProposalLine,
    Referral,
    SaleCredit,
    Step,
    StepEntry,
)


def _one_of(values: Iterable[str], description: str) -> dict:
    return {"type": "string", "pattern": f"^({'|'.join(values)})$", "description": description}


@extend_schema_field(
    _one_of(
        Opportunity.Status.values,
        "`open` (in progress), `won` (the sale is recorded; steps 4 and 5 follow), "
        "`lost` (closed with a reason).",
    )
)
class OpportunityStatusField(serializers.CharField):
    """An opportunity's status (the holdings' ``status`` has other values)."""


@extend_schema_field(
    _one_of(
        Proposal.Status.values,
        "`draft` (proposed), `accepted` (the sale was recorded with it), `declined`, "
        "`superseded` (another proposal was accepted).",
    )
)
class ProposalStatusField(serializers.CharField):
    """A proposal's status."""


@extend_schema_field(
    _one_of(
        SaleCredit.Role.values,
        "`owner` (the owner RM) or `secondary` (a secondary RM of the client's team, 主辅管户).",
    )
)
class CreditRoleField(serializers.CharField):
    """Whom a credit goes to (the staff's ``role`` has other values)."""


CHECKLIST_STATUSES = ("done", "current", "todo")


@extend_schema_field(
    _one_of(CHECKLIST_STATUSES, "`done` (left), `current` (the opportunity is in it), `todo`.")
)
class ChecklistStatusField(serializers.CharField):
    """Where a step of the checklist stands."""


@extend_schema_field(
    _one_of(
        Opportunity.LostReason.values,
        "`declined`, `competitor` (went to another bank), `suitability`, `no_funds`, "
        "`timing`, `unreachable`, `other` (explain it in `note`).",
    )
)
class LostReasonField(serializers.ChoiceField):
    """The reason of a loss (the tier changes' ``reason`` has other values)."""

    def __init__(self, **kwargs):
        super().__init__(choices=Opportunity.LostReason.choices, **kwargs)


@extend_schema_field(serializers.ListField(child=serializers.CharField()))
class CodeListField(serializers.Field):
    """The sorted ``code``s of a many-to-many relation (prefetched by the selector)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, related) -> list[str]:
        return sorted(row.code for row in related.all())


class OpportunitySerializer(serializers.ModelSerializer):
    """A sales opportunity (销售机会): whose, where it stands in the five steps, and what
    came of it."""

    client_external_id = serializers.CharField(source="client.external_id", read_only=True)
    rm_code = serializers.CharField(
        source="owner_rm.code",
        default=None,
        read_only=True,
        help_text="Staff code of the owner RM (who is credited with the sale).",
    )
    advisor_codes = CodeListField(
        source="advisors", help_text="Staff codes of the advisors who join the sale."
    )
    step_label = serializers.CharField(
        source="get_step_display",
        read_only=True,
        help_text="The step's name, in the language asked for (Accept-Language).",
    )
    status = OpportunityStatusField(read_only=True)
    product_codes = CodeListField(
        source="products_of_interest", help_text="Codes of the products of interest."
    )
    parent_id = serializers.IntegerField(
        allow_null=True,
        read_only=True,
        help_text="For a cross-sell: the won opportunity it was found while following up.",
    )

    class Meta:
        model = Opportunity
        fields = [
            "id",
            "client_external_id",
            "title",
            "rm_code",
            "advisor_codes",
            "step",
            "step_label",
            "step_entered_at",
            "status",
            "source",
            "product_codes",
            "expected_amount_cny",
            "won_amount_cny",
            "won_at",
            "lost_reason",
            "lost_note",
            "lost_at",
            "completed_at",
            "parent_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "step": {
                "help_text": (
                    "1 Plan, 2 Contact & assess needs, 3 Execute, 4 Follow up, 5 Celebrate."
                )
            },
            "step_entered_at": {"help_text": "When the opportunity entered its current step."},
            "won_amount_cny": {"help_text": "The accepted proposal's total, once won."},
            "lost_reason": {"help_text": "Why it was lost; empty unless lost."},
            "completed_at": {
                "help_text": "When step 5 was done (the celebration recorded); then closed."
            },
        }


class StepEntrySerializer(serializers.ModelSerializer):
    """One step of the opportunity's history: entered, left, and who moved it there."""

    label = serializers.CharField(source="get_step_display", read_only=True)
    entered_by_code = serializers.CharField(
        source="entered_by.code",
        default=None,
        read_only=True,
        help_text="Staff code of who moved it into the step; null for a token or the night.",
    )

    class Meta:
        model = StepEntry
        fields = ["step", "label", "entered_at", "left_at", "entered_by_code"]
        read_only_fields = fields
        extra_kwargs = {"left_at": {"help_text": "Null for the current step."}}


class ProposalLineSerializer(serializers.ModelSerializer):
    product_code = serializers.CharField(source="product.code", read_only=True)

    class Meta:
        model = ProposalLine
        fields = ["product_code", "amount_cny", "recording_ref"]
        read_only_fields = fields
        extra_kwargs = {
            "recording_ref": {
                "help_text": (
                    "Reference of the sales recording (双录), given when the sale was "
                    "recorded for a wealth-management, fund, insurance or trust product."
                )
            }
        }


class ProposalSerializer(serializers.ModelSerializer):
    """A product mix with amounts proposed at step 3, and the risk assessment it was
    checked against."""

    status = ProposalStatusField(read_only=True)
    proposed_by_code = serializers.CharField(source="created_by.code", default=None, read_only=True)
    lines = ProposalLineSerializer(many=True, read_only=True)

    class Meta:
        model = Proposal
        fields = [
            "id",
            "status",
            "lines",
            "note",
            "risk_level",
            "risk_assessed_on",
            "proposed_by_code",
            "accepted_at",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "risk_level": {"help_text": "The client's risk level (C1…C5) when proposed."},
            "risk_assessed_on": {"help_text": "The date of that risk assessment."},
        }


class SaleCreditSerializer(serializers.ModelSerializer):
    """The share of a won sale credited to one person."""

    staff_code = serializers.CharField(source="staff.code", read_only=True)
    role = CreditRoleField(read_only=True)

    class Meta:
        model = SaleCredit
        fields = ["staff_code", "role", "share_percent", "amount_cny", "credited_on"]
        read_only_fields = fields


class ReferralSerializer(serializers.ModelSerializer):
    """A prospect the client introduced (转介绍) while the sale was followed up."""

    prospect_external_id = serializers.CharField(source="prospect.external_id", read_only=True)
    credited_to_code = serializers.CharField(
        source="credited_to.code", read_only=True, help_text="The referring RM."
    )
    received_by_code = serializers.CharField(
        source="received_by.code", read_only=True, help_text="The RM serving the prospect."
    )
    prospect_opportunity_id = serializers.IntegerField(
        allow_null=True, read_only=True, help_text="The prospect's own opportunity."
    )

    class Meta:
        model = Referral
        fields = [
            "id",
            "prospect_external_id",
            "prospect_opportunity_id",
            "credited_to_code",
            "received_by_code",
            "note",
            "created_at",
        ]
        read_only_fields = fields


class OpportunityDetailSerializer(OpportunitySerializer):
    """An opportunity with its step history, proposals, credits and referrals."""

    planned_contact_id = serializers.IntegerField(
        allow_null=True,
        read_only=True,
        help_text="The planned contact of step 1 (an id of /api/v1/planned-contacts/).",
    )
    interaction_id = serializers.IntegerField(
        allow_null=True,
        read_only=True,
        help_text=(
            "The contact of step 2 in which the needs were assessed (an id of "
            "/api/v1/interactions/)."
        ),
    )
    holding_external_id = serializers.CharField(
        source="holding.external_id",
        default=None,
        read_only=True,
        help_text="The maturing holding, for a maturity opportunity.",
    )
    step_history = StepEntrySerializer(source="step_entries", many=True, read_only=True)
    proposals = ProposalSerializer(many=True, read_only=True)
    credits = SaleCreditSerializer(many=True, read_only=True)
    referrals = ReferralSerializer(many=True, read_only=True)

    class Meta(OpportunitySerializer.Meta):
        fields = [
            *OpportunitySerializer.Meta.fields,
            "planned_contact_id",
            "interaction_id",
            "holding_external_id",
            "step_history",
            "proposals",
            "credits",
            "referrals",
        ]
        read_only_fields = fields


class ChecklistStepSerializer(serializers.Serializer):
    """One of the five steps: where it stands and what finishing it needs."""

    step = serializers.ChoiceField(choices=Step.choices, read_only=True)
    label = serializers.CharField(read_only=True)
    status = ChecklistStatusField(read_only=True)
    entered_at = serializers.DateTimeField(allow_null=True, read_only=True)
    left_at = serializers.DateTimeField(allow_null=True, read_only=True)
    days_in_step = serializers.IntegerField(
        allow_null=True,
        read_only=True,
        help_text="Whole days from entering to leaving it (to now for the current step).",
    )
    requirement = serializers.CharField(
        read_only=True, help_text="What finishing the step needs, in words."
    )
    met = serializers.BooleanField(read_only=True, help_text="Whether that is met now.")


class OpportunityChecklistSerializer(serializers.Serializer):
    """The opportunity's five steps: what the next move needs."""

    id = serializers.IntegerField(read_only=True)
    step = serializers.ChoiceField(choices=Step.choices, read_only=True)
    status = OpportunityStatusField(read_only=True)
    checklist = ChecklistStepSerializer(many=True, read_only=True)


class OpportunityMoveSerializer(serializers.Serializer):
    """A move to the next step; the rules it must meet are the CRM's own."""

    # Numbers from 1 to 5 rather than the steps' enum, which the schema would name a
    # second and a third time under these fields' names.
    to_step = serializers.IntegerField(
        min_value=Step.PLAN,
        max_value=Step.CELEBRATE,
        help_text="The step to move to: the next one (steps are never skipped).",
    )
    from_step = serializers.IntegerField(
        min_value=Step.PLAN,
        max_value=Step.CELEBRATE,
        required=False,
        allow_null=True,
        help_text=(
            "The step you saw it in. If the opportunity has moved since, nothing happens "
            "and the answer is a 409."
        ),
    )


class OpportunityLoseSerializer(serializers.Serializer):
    """A loss: why, and a note (required when the reason is `other`)."""

    reason = LostReasonField()
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
