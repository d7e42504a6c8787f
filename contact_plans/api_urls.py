"""The contact-plan API (mounted under /api/v1/)."""

from rest_framework.routers import SimpleRouter

from contact_plans import api

router = SimpleRouter(trailing_slash=True)
router.register("planned-contacts", api.PlannedContactViewSet, basename="planned-contact")
router.register("interactions", api.InteractionViewSet, basename="interaction")

urlpatterns = [*router.urls]
