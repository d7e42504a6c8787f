"""The KPI API routes under /api/v1/ (see ``kpi.api``)."""

from rest_framework.routers import SimpleRouter

from kpi import api

router = SimpleRouter(trailing_slash=True)
router.register("kpi-snapshots", api.KpiSnapshotViewSet, basename="kpi-snapshot")

urlpatterns = [*router.urls]
