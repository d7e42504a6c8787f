"""Routes of segmentation: saved segments (the builder, target lists and their exports)."""

from django.urls import path

from segmentation.views import segments as views

urlpatterns = [
    path("segments/", views.SegmentListView.as_view(), name="segment-list"),
    path("segments/new/", views.SegmentCreateView.as_view(), name="segment-create"),
    path("segments/preview/", views.SegmentPreviewView.as_view(), name="segment-preview"),
    path("segments/<int:pk>/", views.SegmentDetailView.as_view(), name="segment-detail"),
    path("segments/<int:pk>/edit/", views.SegmentUpdateView.as_view(), name="segment-update"),
    path("segments/<int:pk>/delete/", views.SegmentDeleteView.as_view(), name="segment-delete"),
    path("segments/<int:pk>/count/", views.SegmentCountView.as_view(), name="segment-count"),
    path(
        "segments/<int:pk>/export.csv",
        views.SegmentExportView.as_view(file_format="csv"),
        name="segment-export-csv",
    ),
    path(
        "segments/<int:pk>/export.xlsx",
        views.SegmentExportView.as_view(file_format="xlsx"),
        name="segment-export-xlsx",
    ),
]
