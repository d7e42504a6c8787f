"""Pages of a staff member's notifications: the list, the header bell, marking read.

Every view reads through ``vipcrm.notifications`` and sees the user's own
notifications only; any other id — a colleague's, another bank's — is a 404.
"""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import ListView, View

from vipcrm import notifications
from vipcrm.models import Notification
from vipcrm.views import StaffRequiredMixin

BELL_TEMPLATE = "notifications/bell.html"


def _bell_context(staff) -> dict:
    return {"unread_count": notifications.notifications_unread_count(staff=staff)}


class NotificationListView(StaffRequiredMixin, ListView):
    """The user's notifications, newest first, 20 a page."""

    template_name = "notifications/list.html"
    context_object_name = "notifications"
    paginate_by = 20

    def get_queryset(self):
        return notifications.notification_list(staff=self.actor.staff)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for notification in context["notifications"]:
            notification.text = notifications.notification_text(notification)
        context.update(_bell_context(self.actor.staff))
        return context


class NotificationBellView(StaffRequiredMixin, View):
    """The header's bell with the unread count; base.html loads it with htmx, so pages
    themselves spend no query on it (and it refreshes while a page stays open)."""

    def get(self, request, *args, **kwargs):
        return render(request, BELL_TEMPLATE, _bell_context(self.actor.staff))


class _OwnNotification(StaffRequiredMixin, View):
    """One of the user's notifications, by id, else 404."""

    model = Notification  # for introspection (the cross-tenant test)

    def get_notification(self) -> Notification:
        return get_object_or_404(
            notifications.notification_list(staff=self.actor.staff), pk=self.kwargs["pk"]
        )


class NotificationOpenView(_OwnNotification):
    """Follow a notification: it is marked read and the user lands on its link."""

    def get(self, request, *args, **kwargs):
        notification = self.get_notification()
        notifications.notification_mark_read(staff=self.actor.staff, notification=notification)
        return HttpResponseRedirect(_safe_link(request, notification.link))


class NotificationReadView(_OwnNotification):
    """POST: mark one notification read. With htmx the answer is the row again and the
    bell (out of band); without JS, back to the list."""

    def get(self, request, *args, **kwargs):
        self.get_notification()  # someone else's is a 404 whatever the method
        return HttpResponse(status=405, headers={"Allow": "POST"})

    def post(self, request, *args, **kwargs):
        notification = self.get_notification()
        notifications.notification_mark_read(staff=self.actor.staff, notification=notification)
        if request.htmx:
            notification.text = notifications.notification_text(notification)
            return render(
                request,
                "notifications/item.html",
                {"notification": notification, "bell_oob": True, **_bell_context(self.actor.staff)},
            )
        return HttpResponseRedirect(_back_to_list(request))


class NotificationReadAllView(StaffRequiredMixin, View):
    """POST: mark all the user's notifications read (one UPDATE)."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        notifications.notifications_mark_all_read(staff=self.actor.staff)
        if request.htmx:
            # Refresh the whole list in place: every row changes.
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        return HttpResponseRedirect(_back_to_list(request))


def _safe_link(request, link: str) -> str:
    """The notification's link when it stays on this site, else the list."""
    if link and url_has_allowed_host_and_scheme(
        link, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return link
    return reverse("notifications")


def _back_to_list(request) -> str:
    page = request.POST.get("page", "")
    url = reverse("notifications")
    return f"{url}?page={page}" if page.isdigit() else url
