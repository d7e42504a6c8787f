"""Serializers of the segmentation API: tiers with their service standard, and tier
changes. Decimals travel as strings, dates as YYYY-MM-DD, timestamps ISO 8601 with
offset; each record carries the ``code`` or ``client_external_id`` that joins it to the
core-banking system's own data."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.models import Tier
from segmentation.models import ServiceStandard, TierChange


class ServiceStandardSerializer(serializers.ModelSerializer):
    class Meta:
        model = ServiceStandard
        fields = [
            "contact_cadence_days",
            "maturity_lead_days",
            "meetings_per_year",
            "service_package",
            "book_weight",
            "festival_care",
            "updated_at",
        ]
        read_only_fields = fields


class TierSerializer(serializers.ModelSerializer):
    service_standard = serializers.SerializerMethodField(
        help_text="What the tier's clients are promised; null until head office sets it."
    )

    class Meta:
        model = Tier
        fields = [
            "code",
            "name",
            "rank",
            "aum_floor",
            "service_standard",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "rank": {"help_text": "Higher is better."},
            "aum_floor": {
                "help_text": "Average daily AUM (CNY) over the tiering window that qualifies."
            },
        }

    @extend_schema_field(ServiceStandardSerializer(allow_null=True))
    def get_service_standard(self, tier: Tier) -> dict | None:
        # ``standards`` is prefetched by the selector (one query for the whole page).
        standards = getattr(tier, "standards", None)
        if standards is None:
            standards = list(tier.service_standards.all())
        return ServiceStandardSerializer(standards[0]).data if standards else None


@extend_schema_field(
    {
        "type": "string",
        "enum": TierChange.Reason.values,
        "description": (
            "`upgrade` (average AUM reached the floor), `downgrade` (below the floor for "
            "the grace period), `override` (pinned by a supervisor), `override_ended` "
            "(back to the rules)."
        ),
    }
)
class TierChangeReasonField(serializers.CharField):
    """Documented inline: a component named after the field ``reason`` could collide
    with other kinds' reasons in the schema."""


class TierChangeSerializer(serializers.ModelSerializer):
    client_external_id = serializers.CharField(source="client.external_id", read_only=True)
    client_name = serializers.CharField(source="client.name", read_only=True)
    branch_code = serializers.CharField(
        source="client.branch.code", read_only=True, help_text="The client's home branch now."
    )
    rm_code = serializers.CharField(
        source="client.owner_rm.code",
        default=None,
        allow_null=True,
        read_only=True,
        help_text="The client's owner RM now.",
    )
    from_tier = serializers.CharField(
        source="from_tier.code",
        default=None,
        allow_null=True,
        read_only=True,
        help_text="Tier code before the change; null = not a VIP.",
    )
    to_tier = serializers.CharField(
        source="to_tier.code",
        default=None,
        allow_null=True,
        read_only=True,
        help_text="Tier code after the change; null = not a VIP.",
    )
    reason = TierChangeReasonField(read_only=True)

    class Meta:
        model = TierChange
        fields = [
            "id",
            "client_external_id",
            "client_name",
            "branch_code",
            "rm_code",
            "from_tier",
            "to_tier",
            "reason",
            "average_aum_cny",
            "effective_on",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
