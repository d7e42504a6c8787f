"""Routes of segmentation: config."""

urlpatterns: list = []
