"""The KPI API routes under /api/v1/ (see ``kpi.api`` and ``kpi.api_inputs``)."""

from rest_framework.routers import SimpleRouter

from kpi import api, api_inputs

router = SimpleRouter(trailing_slash=True)
router.register("kpi-snapshots", api.KpiSnapshotViewSet, basename="kpi-snapshot")
router.register("surveys", api_inputs.SurveyViewSet, basename="survey")
router.register("complaints", api_inputs.ComplaintViewSet, basename="complaint")

urlpatterns = [*router.urls]
