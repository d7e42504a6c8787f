from rest_framework import serializers

from vipcrm.models import Branch, StaffProfile


class BranchSerializer(serializers.ModelSerializer):
    parent_code = serializers.CharField(source="parent.code", default=None, read_only=True)

    class Meta:
        model = Branch
        fields = ["code", "name", "parent_code", "created_at", "updated_at"]


class StaffSerializer(serializers.ModelSerializer):
    branch_code = serializers.CharField(source="branch.code", read_only=True)

    class Meta:
        model = StaffProfile
        fields = [
            "code",
            "name",
            "branch_code",
            "role",
            "email",
            "is_active",
            "created_at",
            "updated_at",
        ]
