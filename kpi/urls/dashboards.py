"""KPI pages: the dashboards (see ``kpi.views.dashboards``)."""

from django.urls import path

from kpi.views import dashboards as views

urlpatterns = [
    path("", views.KpiHomeView.as_view(), name="home"),
    path("rm/<int:staff_id>/", views.ScorecardView.as_view(), name="rm"),
    path("branches/<int:pk>/", views.BranchDashboardView.as_view(), name="branch"),
    path("bank/", views.BankDashboardView.as_view(), name="bank"),
    path("drill/<str:code>/", views.DrillView.as_view(), name="drill"),
    path("export/", views.ScorecardExportView.as_view(), name="export"),
    path("weights/", views.WeightsView.as_view(), name="weights"),
]
