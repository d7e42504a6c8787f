"""Routes of segmentation: lists."""

urlpatterns: list = []
