"""The sales pipeline's API routes under /api/v1/ (see ``sales_pipeline.api``)."""

from rest_framework.routers import SimpleRouter

from sales_pipeline import api

router = SimpleRouter(trailing_slash=True)
router.register("opportunities", api.OpportunityViewSet, basename="opportunity")

urlpatterns = [*router.urls]
