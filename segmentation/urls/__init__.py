"""Pages of segmentation (mounted at /segmentation/), one module per area."""

from segmentation.urls import config, lists, segments

app_name = "segmentation"

urlpatterns = [*config.urlpatterns, *lists.urlpatterns, *segments.urlpatterns]
