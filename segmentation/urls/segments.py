"""Routes of segmentation: segments."""

urlpatterns: list = []
