"""Pages of contact plans, mounted at /contacts/ (see ``contact_plans.views``)."""

from django.urls import path

from contact_plans import client_section, views

app_name = "contact_plans"

urlpatterns = [
    path("week/", views.WeekPlanView.as_view(), name="week"),
    path("print/", views.PrintView.as_view(), name="print"),
    path("my-day/counts/", views.MyDayStatsView.as_view(), name="my-day-stats"),
    path("overdue/", views.OverdueListView.as_view(), name="overdue"),
    path("overdue/export.csv", views.OverdueExportView.as_view(), name="overdue-export"),
    path("coverage/", views.CoverageView.as_view(), name="coverage"),
    # The calendar subscription: made by its owner, fetched with the secret alone.
    path("calendar/", views.CalendarFeedCreateView.as_view(), name="calendar-create"),
    path("calendar/<str:token>.ics", views.CalendarFeedView.as_view(), name="calendar-feed"),
    # A planned contact's row on "My day" and the weekly plan (htmx), or a page.
    path("<int:pk>/", views.PlannedContactRowView.as_view(), name="contact-row"),
    path("<int:pk>/log/", views.PlannedContactLogView.as_view(), name="contact-log"),
    path(
        "<int:pk>/reschedule/",
        views.PlannedContactRescheduleView.as_view(),
        name="contact-reschedule",
    ),
    # The client 360's contact-plan section: GET it alone (htmx), POST a change.
    path(
        "clients/<str:external_id>/",
        client_section.ContactsSectionView.as_view(),
        name="client-contacts",
    ),
    path(
        "clients/<str:external_id>/log/",
        client_section.ClientInteractionLogView.as_view(),
        name="client-log",
    ),
    path(
        "clients/<str:external_id>/plan/",
        client_section.PlannedContactCreateView.as_view(),
        name="client-plan",
    ),
    path(
        "clients/<str:external_id>/reschedule/",
        client_section.ClientContactRescheduleView.as_view(),
        name="client-reschedule",
    ),
    path(
        "clients/<str:external_id>/cancel/",
        client_section.ClientContactCancelView.as_view(),
        name="client-cancel",
    ),
]
