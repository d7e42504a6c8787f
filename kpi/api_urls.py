"""The KPI API routes under /api/v1/ (see ``kpi.api``)."""

urlpatterns: list = []
