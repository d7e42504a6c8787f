"""Pages of KPIs, mounted at /kpi/: the inputs (time, surveys, complaints, coaching
notes) and the dashboards (scorecards, branch and bank dashboards, drill-downs)."""

from django.urls import include, path

app_name = "kpi"

urlpatterns = [
    path("", include("kpi.urls.dashboards")),
    path("", include("kpi.urls.inputs")),
]
