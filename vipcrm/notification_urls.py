"""Routes of a staff member's notifications (mounted at /notifications/)."""

from django.urls import path

from vipcrm import notification_views as views

urlpatterns = [
    path("", views.NotificationListView.as_view(), name="notifications"),
    path("bell/", views.NotificationBellView.as_view(), name="notification-bell"),
    path("read-all/", views.NotificationReadAllView.as_view(), name="notifications-read-all"),
    path("<int:pk>/", views.NotificationOpenView.as_view(), name="notification-open"),
    path("<int:pk>/read/", views.NotificationReadView.as_view(), name="notification-read"),
]
