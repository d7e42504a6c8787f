"""Routes of segmentation: the supervisor lists and RM capacity."""

from django.urls import path

from segmentation.views import lists

urlpatterns = [
    path("unqualified/", lists.UnqualifiedListView.as_view(), name="unqualified-list"),
    path(
        "unqualified/export.csv", lists.UnqualifiedExportView.as_view(), name="unqualified-export"
    ),
    path("near-threshold/", lists.NearThresholdListView.as_view(), name="near-threshold-list"),
    path(
        "near-threshold/export.csv",
        lists.NearThresholdExportView.as_view(),
        name="near-threshold-export",
    ),
    path("tier-changes/", lists.TierChangeListView.as_view(), name="tier-change-list"),
    path("capacity/", lists.CapacityView.as_view(), name="capacity"),
    path("capacity/<str:code>/", lists.CapacityEditView.as_view(), name="capacity-edit"),
]
