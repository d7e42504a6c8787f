"""KPI pages: the inputs (see ``kpi.views.inputs``)."""

from django.urls import path

from kpi.views import inputs as views

urlpatterns = [
    path("time/", views.TimeWeekView.as_view(), name="time"),
    path("surveys/", views.SurveyListView.as_view(), name="surveys"),
    path("surveys/new/", views.SurveyCreateView.as_view(), name="survey-create"),
    path("complaints/", views.ComplaintListView.as_view(), name="complaints"),
    path("complaints/new/", views.ComplaintCreateView.as_view(), name="complaint-create"),
    path(
        "complaints/<int:pk>/resolve/",
        views.ComplaintResolveView.as_view(),
        name="complaint-resolve",
    ),
    path("coaching/<int:staff_id>/", views.CoachingView.as_view(), name="coaching"),
]
