"""The segmentation API (mounted under /api/v1/)."""

from rest_framework.routers import SimpleRouter

from segmentation import api

router = SimpleRouter(trailing_slash=True)
router.register("tiers", api.TierViewSet, basename="tier")
router.register("tier-changes", api.TierChangeViewSet, basename="tier-change")

urlpatterns = [*router.urls]
