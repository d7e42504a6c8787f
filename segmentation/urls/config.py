"""Routes of segmentation: the configuration pages."""

from django.urls import path

from segmentation.views import config

urlpatterns = [
    path("tiers/", config.TierConfigView.as_view(), name="tiers"),
    path("tiers/add/", config.TierCreateView.as_view(), name="tier-add"),
    path("tiers/<str:code>/edit/", config.TierEditView.as_view(), name="tier-edit"),
    path("tiers/<str:code>/delete/", config.TierDeleteView.as_view(), name="tier-delete"),
    path("policy/edit/", config.TieringPolicyEditView.as_view(), name="policy-edit"),
]
