"""Filters of the customers API (django-filter); every list also takes ``updated_since``."""

import django_filters

from customers.models import Client, FxRate, Holding, Product, ProductRisk, RiskLevel
from vipcrm.filters import UpdatedSinceFilterSet


class ClientFilter(UpdatedSinceFilterSet):
    external_id = django_filters.CharFilter()
    branch_code = django_filters.CharFilter(field_name="branch__code")
    rm_code = django_filters.CharFilter(field_name="owner_rm__code")
    tier = django_filters.CharFilter(field_name="tier__code", help_text="Tier code.")
    risk_level = django_filters.ChoiceFilter(choices=RiskLevel.choices)
    is_entrepreneur = django_filters.BooleanFilter()

    class Meta:
        model = Client
        fields = [
            "updated_since",
            "external_id",
            "branch_code",
            "rm_code",
            "tier",
            "risk_level",
            "is_entrepreneur",
        ]


class HoldingFilter(UpdatedSinceFilterSet):
    client_external_id = django_filters.CharFilter(field_name="client__external_id")
    product_code = django_filters.CharFilter(field_name="product__code")
    status = django_filters.ChoiceFilter(choices=Holding.Status.choices)
    currency = django_filters.CharFilter()
    matures_before = django_filters.DateFilter(
        field_name="matures_on", lookup_expr="lte", help_text="Maturing on or before (inclusive)."
    )
    matures_after = django_filters.DateFilter(
        field_name="matures_on", lookup_expr="gte", help_text="Maturing on or after (inclusive)."
    )
    branch_code = django_filters.CharFilter(field_name="client__branch__code")
    rm_code = django_filters.CharFilter(field_name="client__owner_rm__code")

    class Meta:
        model = Holding
        fields = [
            "updated_since",
            "client_external_id",
            "product_code",
            "status",
            "currency",
            "matures_before",
            "matures_after",
            "branch_code",
            "rm_code",
        ]


class ProductFilter(UpdatedSinceFilterSet):
    category = django_filters.ChoiceFilter(choices=Product.Category.choices)
    risk_level = django_filters.ChoiceFilter(choices=ProductRisk.choices)
    currency = django_filters.CharFilter()

    class Meta:
        model = Product
        fields = ["updated_since", "category", "risk_level", "currency"]


class FxRateFilter(UpdatedSinceFilterSet):
    currency = django_filters.CharFilter()
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = FxRate
        fields = ["updated_since", "currency", "date_from", "date_to"]
