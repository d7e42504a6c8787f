"""Serializers of the customers API: decimals as strings, dates YYYY-MM-DD, timestamps
ISO 8601 with offset, each record carrying the ``external_id`` or ``code`` that joins it
to the core-banking system's own data."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers import client_sections
from customers.models import Client, FxRate, Holding, Product
from customers.selectors import client_identity


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^R[1-5]$",
        "description": "Product risk level: R1 (low) … R5 (high).",
    }
)
class ProductRiskField(serializers.CharField):
    """Documented as a pattern: an enum named ``risk_level`` would collide in the schema
    with the clients' C1…C5 enum of the same field name."""


class ProductSerializer(serializers.ModelSerializer):
    risk_level = ProductRiskField(read_only=True)

    class Meta:
        model = Product
        fields = ["code", "name", "category", "risk_level", "currency", "created_at", "updated_at"]


class FxRateSerializer(serializers.ModelSerializer):
    class Meta:
        model = FxRate
        fields = ["currency", "date", "rate_to_cny", "created_at", "updated_at"]


class ClientHoldingSerializer(serializers.ModelSerializer):
    """A holding inside its client's record."""

    product_code = serializers.CharField(source="product.code", read_only=True)
    product_name = serializers.CharField(source="product.name", read_only=True)
    product_category = serializers.CharField(source="product.category", read_only=True)
    product_risk_level = ProductRiskField(source="product.risk_level", read_only=True)

    class Meta:
        model = Holding
        fields = [
            "external_id",
            "product_code",
            "product_name",
            "product_category",
            "product_risk_level",
            "balance",
            "currency",
            "opened_on",
            "matures_on",
            "status",
            "updated_at",
        ]


class HoldingSerializer(ClientHoldingSerializer):
    client_external_id = serializers.CharField(source="client.external_id", read_only=True)

    class Meta(ClientHoldingSerializer.Meta):
        fields = [
            "external_id",
            "client_external_id",
            *ClientHoldingSerializer.Meta.fields[1:-1],
            "created_at",
            "updated_at",
        ]


class ClientSerializer(serializers.ModelSerializer):
    """A client; national ID and mobile are masked unless the viewer is the owner RM or
    on the client's team (integrations always see them masked)."""

    branch_code = serializers.CharField(source="branch.code", read_only=True)
    rm_code = serializers.CharField(source="owner_rm.code", default=None, read_only=True)
    rm_name = serializers.CharField(source="owner_rm.name", default=None, read_only=True)
    tier = serializers.CharField(
        source="tier.code", default=None, read_only=True, help_text="Tier code."
    )
    tier_name = serializers.CharField(source="tier.name", default=None, read_only=True)
    company_external_id = serializers.CharField(
        source="company.external_id", default=None, read_only=True
    )
    id_number = serializers.SerializerMethodField()
    mobile = serializers.SerializerMethodField()

    class Meta:
        model = Client
        fields = [
            "external_id",
            "name",
            "gender",
            "birth_date",
            "id_number",
            "mobile",
            "email",
            "occupation",
            "is_entrepreneur",
            "company_external_id",
            "branch_code",
            "rm_code",
            "rm_name",
            "tier",
            "tier_name",
            "risk_level",
            "risk_assessed_on",
            "aum_cny",
            "is_confidential",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(OpenApiTypes.STR)
    def get_id_number(self, client: Client) -> str:
        return client_identity(client)["id_number"]

    @extend_schema_field(OpenApiTypes.STR)
    def get_mobile(self, client: Client) -> str:
        return client_identity(client)["mobile"]


class ClientDetailSerializer(ClientSerializer):
    holdings = ClientHoldingSerializer(many=True, read_only=True)
    contact_plan = serializers.SerializerMethodField(
        help_text=(
            "Summary of the client's contact plan: cadence, last contact, next due date, "
            "whether it is overdue, open planned contacts and the next one; null for a "
            "client without a plan (not a VIP)."
        )
    )

    class Meta(ClientSerializer.Meta):
        fields = [*ClientSerializer.Meta.fields, "holdings", "contact_plan"]

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {
                "cadence_days": {"type": "integer", "nullable": True},
                "last_contact_on": {"type": "string", "format": "date", "nullable": True},
                "next_due_on": {"type": "string", "format": "date", "nullable": True},
                "is_overdue": {"type": "boolean"},
                "open_planned_contacts": {"type": "integer"},
                "next_planned_contact": {
                    "type": "object",
                    "nullable": True,
                    "properties": {
                        "id": {"type": "integer"},
                        "reason": {"type": "string"},
                        "due_on": {"type": "string", "format": "date"},
                        "status": {"type": "string"},
                    },
                },
            },
        }
    )
    def get_contact_plan(self, client: Client) -> dict | None:
        return client_sections.client_contact_plan_summary(client)


class SyncErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the record in `records`.")
    key = serializers.CharField(allow_null=True, help_text="The record's key, when readable.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Messages per field, e.g. {"mobile": ["…"]}.',
    )


class SyncResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = SyncErrorSerializer(many=True)
