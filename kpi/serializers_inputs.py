"""Serializers of the KPI inputs' API: satisfaction surveys and complaints (reading).

Dates travel as YYYY-MM-DD, timestamps as ISO 8601 with offset
(``shared/spec/sync-api.md``); each record carries the client's ``client_external_id``
and the staff member's ``rm_code`` (annotations of the API's selectors, read in the
same query) that join it to the caller's own data. Writes are batches of records
validated by ``kpi.inputs`` (``SurveyRecord``, ``ComplaintRecord``).

Choices in fields whose name other endpoints also use (``status``, ``category``,
``channel``) are documented as a pattern, not an enum: the schema names an enum after
its field, and two enums of one name with different values would rename each other.
"""

from __future__ import annotations

from collections.abc import Iterable

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.models import Channel
from kpi.models import Complaint, SatisfactionSurvey


def _one_of(values: Iterable[str], description: str) -> dict:
    return {"type": "string", "pattern": f"^({'|'.join(values)})$", "description": description}


@extend_schema_field(
    _one_of(
        (*Channel.values, ""),
        "How the survey was taken: `phone`, `visit`, `branch`, `wechat`, `event`; empty "
        "when not known.",
    )
)
class SurveyChannelField(serializers.CharField):
    """A survey's channel (may be blank, unlike an interaction's)."""


@extend_schema_field(
    _one_of(
        Complaint.Category.values,
        "`service_attitude`, `mis_selling` (a product sold unsuitably), `waiting`, `fees`, "
        "`error` (a processing error), `privacy`, `other`.",
    )
)
class ComplaintCategoryField(serializers.CharField):
    """A complaint's category (the products' ``category`` has other values)."""


@extend_schema_field(
    _one_of(Complaint.Status.values, "`open`, or `resolved` (with its date and resolution).")
)
class ComplaintStatusField(serializers.CharField):
    """A complaint's status (the holdings' ``status`` has other values)."""


class ExternalIdField(serializers.CharField):
    """The id in the system that sent the record; null for one entered in the CRM."""

    def to_representation(self, value):
        return value or None


class SurveySerializer(serializers.ModelSerializer):
    """A client's satisfaction with the service of one RM, 1 (poor) to 5 (excellent)."""

    external_id = ExternalIdField(
        read_only=True,
        allow_null=True,
        help_text="Your id of the survey; null when it was recorded in the CRM.",
    )
    client_external_id = serializers.CharField(read_only=True)
    rm_code = serializers.CharField(read_only=True, help_text="Staff code of the RM rated.")
    branch_code = serializers.CharField(read_only=True, help_text="The client's home branch.")
    channel = SurveyChannelField(read_only=True)

    class Meta:
        model = SatisfactionSurvey
        fields = [
            "id",
            "external_id",
            "client_external_id",
            "rm_code",
            "branch_code",
            "score",
            "surveyed_on",
            "channel",
            "comment",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ComplaintSerializer(serializers.ModelSerializer):
    """A client's complaint about the service, concerning one RM or advisor."""

    external_id = ExternalIdField(
        read_only=True,
        allow_null=True,
        help_text="Your id of the complaint; null when it was recorded in the CRM.",
    )
    client_external_id = serializers.CharField(read_only=True)
    rm_code = serializers.CharField(
        read_only=True, help_text="Staff code of the RM or advisor concerned."
    )
    branch_code = serializers.CharField(read_only=True, help_text="The client's home branch.")
    category = ComplaintCategoryField(read_only=True)
    status = ComplaintStatusField(read_only=True)

    class Meta:
        model = Complaint
        fields = [
            "id",
            "external_id",
            "client_external_id",
            "rm_code",
            "branch_code",
            "received_on",
            "category",
            "description",
            "status",
            "resolved_on",
            "resolution",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
