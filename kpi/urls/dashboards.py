"""KPI pages: dashboards (see ``kpi.views.dashboards``)."""

urlpatterns: list = []
