"""KPI pages: inputs (see ``kpi.views.inputs``)."""

urlpatterns: list = []
