"""Routes of segmentation: the configuration pages and the client 360's tier section."""

from django.urls import path

from segmentation import client_section
from segmentation.views import config

urlpatterns = [
    path("tiers/", config.TierConfigView.as_view(), name="tiers"),
    path("tiers/add/", config.TierCreateView.as_view(), name="tier-add"),
    path("tiers/<str:code>/edit/", config.TierEditView.as_view(), name="tier-edit"),
    path("tiers/<str:code>/delete/", config.TierDeleteView.as_view(), name="tier-delete"),
    path("policy/edit/", config.TieringPolicyEditView.as_view(), name="policy-edit"),
    # The client 360's tier section: GET it alone (htmx), POST a change to the override.
    path(
        "clients/<str:external_id>/tier/",
        client_section.TierSectionView.as_view(),
        name="client-tier",
    ),
    path(
        "clients/<str:external_id>/tier/override/",
        client_section.TierOverrideSetView.as_view(),
        name="client-tier-override",
    ),
    path(
        "clients/<str:external_id>/tier/override/revoke/",
        client_section.TierOverrideRevokeView.as_view(),
        name="client-tier-override-revoke",
    ),
]
