"""Serializers of the KPI API: the snapshots (``kpi.services``).

Dates travel as YYYY-MM-DD, timestamps as ISO 8601 with offset; each row carries the
staff and branch codes that join it to the caller's own data. ``values`` holds every
metric of ``kpi.definitions`` by its code: money as a string with two decimals,
percentages and averages as numbers with one decimal, counts as integers, null when
undefined (no surveys, an empty book).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from kpi.models import KpiSnapshot


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [{"type": "number"}, {"type": "string"}],
            "nullable": True,
        },
        "description": "Metric code → value (kpi.definitions).",
    }
)
class FiguresField(serializers.JSONField):
    """The metrics of a snapshot, by code."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "number", "nullable": True},
        "description": (
            "Dimension (results, process, tool_use, teamwork, feedback) → score 0–100, and "
            "`total`, the weighted score; empty for the bank's row."
        ),
    }
)
class ScoresField(serializers.JSONField):
    """The scorecard of a snapshot."""


class KpiSnapshotSerializer(serializers.ModelSerializer):
    """Every KPI of one RM, branch or the bank for one month, quarter or year."""

    rm_code = serializers.CharField(
        source="staff.code",
        default=None,
        read_only=True,
        help_text="The RM's staff code (scope `rm`); null otherwise.",
    )
    branch_code = serializers.CharField(
        source="branch.code",
        default=None,
        read_only=True,
        help_text="The branch (scope `branch`) or the RM's branch (scope `rm`); null for the bank.",
    )
    values = FiguresField(read_only=True)
    scores = ScoresField(read_only=True)

    class Meta:
        model = KpiSnapshot
        fields = [
            "id",
            "period",
            "period_start",
            "period_end",
            "as_of",
            "scope",
            "scope_key",
            "rm_code",
            "branch_code",
            "values",
            "scores",
            "score",
            "rank_in_branch",
            "computed_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "period_end": {"help_text": "The period's last day (inclusive)."},
            "as_of": {"help_text": "The business date the figures run to (≤ period_end)."},
            "score": {"help_text": "The total score 0–100 (two decimals); null for the bank."},
            "rank_in_branch": {
                "help_text": (
                    "An RM's rank by score among the RMs of their branch, a branch's among "
                    "the branches with the same parent (1 = best; ties share the rank)."
                )
            },
        }
