"""Pages of contact plans (mounted at /contacts/).

- ``<id>/log/``, ``<id>/reschedule/``: whoever sees the contact; inline forms (htmx)
  in a row of "My day" or the weekly plan, a page of their own without JS.
- ``week/``, ``print/``: every staff member, their own open contacts.
- ``calendar/`` (POST): every staff member, a new secret calendar URL shown once;
  ``calendar/<token>.ics``: no login, the secret only, the owner's open contacts.
- ``overdue/`` (+ CSV) and ``coverage/``: supervisors (branch subtree), head office.

Writes go through ``contact_plans.services``; a refusal (``ValidationError``) is shown on
the form. Another tenant's or another branch's contact is a 404 (the selector's scope).
"""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import ListView, TemplateView, View
from django.views.generic.detail import SingleObjectMixin

from contact_plans import ics, selectors, services
from contact_plans.forms import (
    CoverageFilterForm,
    InteractionLogForm,
    OverdueFilterForm,
    PrintForm,
    RescheduleForm,
    WeekForm,
    add_service_error,
)
from contact_plans.models import CalendarFeed, PlannedContact
from contact_plans.talking_points import attach_talking_points, talking_points_many
from vipcrm.exports import csv_export_response, invalid_filters_response
from vipcrm.pagination import WindowPaginator, window_page_context
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context
from vipcrm.views import FilteredListMixin, ScopedViewMixin, StaffRequiredMixin

MANAGERS = (Role.SUPERVISOR, Role.HEAD_OFFICE)
CHANGED_EVENT = "contacts-changed"  # htmx event: "My day" refreshes its counts on it
EXPORT_ROW_CAP = 100_000

ROW_TEMPLATE = "contact_plans/includes/contact_row.html"


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _next_due_message(contact: PlannedContact) -> str:
    """After logging: where the client's plan stands now."""
    plan = selectors.client_contact_plan(client=contact.client)
    if plan is not None and plan.next_due_on:
        return gettext("Contact logged. The next contact with %(client)s is due on %(date)s.") % {
            "client": contact.client.name,
            "date": plan.next_due_on.isoformat(),
        }
    return gettext("Contact logged.")


# --- A planned contact's row: log, reschedule (htmx inline; a page without JS) ---------


class PlannedContactMixin(ScopedViewMixin, SingleObjectMixin):
    """A planned contact from the actor's scope (else 404), shown as a table row."""

    model = PlannedContact  # for introspection (the cross-tenant test); rows: the selector
    selector = selectors.planned_contact_list
    context_object_name = "contact"
    form_class = None
    mode = ""
    page_title = ""

    def get_form(self, data=None):
        return self.form_class(
            data, auto_id=f"{self.mode}-{self.object.pk}-%s", **self.form_kwargs()
        )

    def form_kwargs(self) -> dict:
        return {}

    def render_row(self, *, form=None, notice: str = "") -> HttpResponse:
        today = timezone.localdate()
        attach_talking_points([self.object], on=today)
        context = {
            "contact": self.object,
            "today": today,
            "mode": self.mode if form is not None else "",
            "form": form,
            "notice": notice,
            "next": _safe_next(self.request, ""),
        }
        if self.request.htmx:
            return render(self.request, ROW_TEMPLATE, context)
        context.update(page_title=self.page_title)
        return render(
            self.request,
            "contact_plans/contact_action.html",
            context,
            status=400 if form is not None and form.is_bound else 200,
        )

    def closed_notice(self) -> str:
        return gettext("This contact is no longer open (%(status)s).") % {
            "status": self.object.get_status_display()
        }

    def done(self, message: str) -> HttpResponse:
        """Success: with htmx the row goes (empty answer) and a message shows in the
        page's flash area; without JS, back where the user came from."""
        if self.request.htmx:
            flash = render_to_string(
                "contact_plans/includes/flash.html", {"message": message}, self.request
            )
            response = HttpResponse(flash)
            response["HX-Trigger"] = CHANGED_EVENT
            return response
        messages.success(self.request, message)
        return HttpResponseRedirect(_safe_next(self.request, reverse("home")))

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        if self.form_class is None:
            return self.render_row()
        if not self.object.is_open:
            return self.render_row(notice=self.closed_notice())
        return self.render_row(form=self.get_form())

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        form = self.get_form(request.POST)
        if form.is_valid():
            try:
                message = self.perform(form)
            except ObjectDoesNotExist as error:  # out of scope meanwhile: as not found
                raise Http404 from error
            except ValidationError as error:
                add_service_error(form, error)
            else:
                return self.done(message)
        return self.render_row(form=form)

    def perform(self, form) -> str:
        raise NotImplementedError


class PlannedContactRowView(PlannedContactMixin, View):
    """The row alone (htmx: closes an inline form); without JS, the contact's client."""

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        if request.htmx:
            return self.render_row()
        url = reverse("customers:client-detail", args=[self.object.client.external_id])
        return HttpResponseRedirect(f"{url}#contacts")


class PlannedContactLogView(PlannedContactMixin, View):
    """One-click logging: the short form, for the contact being answered, now."""

    form_class = InteractionLogForm
    mode = "log"
    page_title = _("Log the contact")

    def form_kwargs(self) -> dict:
        channel = self.object.channel or self.object.client.preferred_channel
        return {"short": True, "initial": {"channel": channel}}

    def perform(self, form) -> str:
        services.interaction_log(
            actor=self.actor,
            client=self.object.client,
            planned_contact=self.object,
            request=self.request,
            **form.log_arguments(),
        )
        return _next_due_message(self.object)


class PlannedContactRescheduleView(PlannedContactMixin, View):
    form_class = RescheduleForm
    mode = "reschedule"
    page_title = _("Reschedule the contact")

    def perform(self, form) -> str:
        due_on = form.cleaned_data["due_on"]
        services.planned_contact_reschedule(
            actor=self.actor,
            planned_contact=self.object,
            due_on=due_on,
            reason=form.cleaned_data["reason"],
            request=self.request,
        )
        return gettext("The contact with %(client)s moves to %(date)s.") % {
            "client": self.object.client.name,
            "date": due_on.isoformat(),
        }


class MyDayStatsView(StaffRequiredMixin, View):
    """The counts of "My day" (overdue, today, this week), refreshed after each change."""

    def get(self, request, *args, **kwargs):
        today = timezone.localdate()
        counts = selectors.my_day_counts(actor=self.actor, on=today)
        return render(
            request,
            "contact_plans/includes/stats.html",
            {"counts": counts, "week_start": selectors.week_start(today)},
        )


# --- The weekly plan, its print page and the calendar subscription ---------------------


def _week_context(request, actor, start_raw) -> dict:
    today = timezone.localdate()
    form = WeekForm({"start": start_raw} if start_raw else None)
    start = None
    if form.is_bound:
        if form.is_valid():
            start = form.cleaned_data["start"]
        else:
            messages.error(request, _("That is not a date: showing this week."))
    start = selectors.week_start(start or today)
    plan = selectors.contact_plan_days(actor=actor, start=start, days=7, on=today)
    attach_talking_points(plan.rows, on=today)
    return {
        "plan": plan,
        "today": today,
        "this_week": selectors.week_start(today),
        "previous_week": start - datetime.timedelta(days=7),
        "next_week": start + datetime.timedelta(days=7),
        "feed": selectors.calendar_feed_of(staff=actor.staff) if actor.staff else None,
    }


class WeekPlanView(StaffRequiredMixin, TemplateView):
    """The actor's open contacts of one week (Monday to Sunday), grouped by day."""

    template_name = "contact_plans/week.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(_week_context(self.request, self.actor, self.request.GET.get("start")))
        return context


class PrintView(StaffRequiredMixin, TemplateView):
    """A day's or a week's contacts with their talking points, laid out for paper."""

    template_name = "contact_plans/print.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        form = PrintForm(self.request.GET or None)
        data = {}
        if form.is_bound:
            if form.is_valid():
                data = form.cleaned_data
            else:
                messages.error(self.request, _("Please correct the print options."))
        days = data.get("days") or 7
        start = data.get("start") or (today if days == 1 else selectors.week_start(today))
        plan = selectors.contact_plan_days(actor=self.actor, start=start, days=days, on=today)
        attach_talking_points(plan.rows, on=today)
        context.update(plan=plan, today=today, days=days, form=form)
        return context


def _feed_url(request, tenant_slug: str, secret: str) -> str:
    token = f"{tenant_slug}.{secret}"
    return request.build_absolute_uri(reverse("contact_plans:calendar-feed", args=[token]))


class CalendarFeedCreateView(StaffRequiredMixin, View):
    """Make (or replace) the user's secret calendar URL and show it, once."""

    def post(self, request, *args, **kwargs):
        feed, secret = services.calendar_feed_create(staff=self.actor.staff)
        context = {
            "feed": feed,
            "feed_url": _feed_url(request, request.user.tenant.slug, secret),
        }
        if request.htmx:
            return render(request, "contact_plans/includes/calendar_box.html", context)
        return render(request, "contact_plans/calendar_created.html", context)


class CalendarFeedView(View):
    """The .ics of one staff member's open contacts. No login: the URL's secret is the
    credential (``services.calendar_feed_resolve``), and a wrong or replaced one is the
    same 404 as a page that does not exist.

    The token is ``<bank slug>.<secret>``: one path segment, so the URL names nothing a
    guesser could vary on its own.
    """

    model = CalendarFeed  # for introspection (the cross-tenant test)

    def get(self, request, token: str, *args, **kwargs):
        tenant_slug, dot, secret = token.partition(".")
        if not (dot and tenant_slug and secret):
            raise Http404
        feed = services.calendar_feed_resolve(tenant_slug=tenant_slug, secret=secret)
        if feed is None:
            raise Http404
        with tenant_context(feed.tenant_id):
            text = self.calendar(request, feed)
        response = HttpResponse(text, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="contacts.ics"'
        response["Cache-Control"] = "private, no-store"
        return response

    def calendar(self, request, feed: CalendarFeed) -> str:
        today = timezone.localdate()
        staff = feed.staff
        contacts = selectors.calendar_feed_contacts(staff=staff, on=today)
        points = talking_points_many(contacts, on=today)
        events = []
        for contact in contacts:
            client_url = request.build_absolute_uri(
                reverse("customers:client-detail", args=[contact.client.external_id])
            )
            lines = [
                f"{contact.client.name} ({contact.client.external_id})",
                *(f"• {line}" for line in points.get(contact.pk, [])),
                client_url,
            ]
            events.append(
                ics.CalendarEvent(
                    uid=f"planned-contact-{contact.pk}@{feed.tenant.slug}.vipcrm",
                    day=contact.due_on,
                    summary=f"{contact.get_reason_display()}: {contact.client.name}",
                    description="\n".join(lines),
                    url=client_url,
                    categories=[str(contact.get_reason_display())],
                    last_modified=contact.updated_at,
                )
            )
        return ics.calendar_text(
            events,
            name=gettext("Client contacts · %(name)s") % {"name": staff.name},
            time_zone=feed.tenant.time_zone,
        )


# --- Supervisors: the overdue list and coverage ---------------------------------------


class OverdueListView(FilteredListMixin, StaffRequiredMixin, ListView):
    """Overdue contacts of the branch subtree (head office: the bank), by RM."""

    allowed_roles = MANAGERS
    template_name = "contact_plans/overdue.html"
    context_object_name = "contacts"
    paginate_by = 50
    paginator_class = WindowPaginator

    def get_queryset(self):
        self.today = timezone.localdate()
        self.filter_form = OverdueFilterForm(self.request.GET or None, actor=self.actor)
        if self.filter_form.is_bound and not self.filter_form.is_valid():
            messages.error(self.request, _("Please correct the filter below."))
        return selectors.overdue_contacts(
            actor=self.actor, on=self.today, **self.filter_form.arguments()
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for contact in context["contacts"]:
            contact.days_overdue = (self.today - contact.due_on).days
        context.update(
            window_page_context(
                queryset=self.object_list, page=context["page_obj"], per_page=self.paginate_by
            ),
            filter_form=self.filter_form,
            active_filters=self.filter_form.active_filters(),
            by_rm=selectors.overdue_by_rm(self.object_list),
            today=self.today,
        )
        return context


class OverdueExportView(StaffRequiredMixin, View):
    """The overdue list as CSV (UTF-8 with BOM for Excel), same scope and filters as the
    page, audited as an export."""

    allowed_roles = MANAGERS

    def get(self, request, *args, **kwargs):
        today = timezone.localdate()
        form = OverdueFilterForm(request.GET or None, actor=self.actor)
        if form.is_bound and not form.is_valid():
            return invalid_filters_response(form)
        contacts = list(
            selectors.overdue_contacts(actor=self.actor, on=today, **form.arguments())[
                : EXPORT_ROW_CAP + 1
            ]
        )
        truncated = len(contacts) > EXPORT_ROW_CAP
        contacts = contacts[:EXPORT_ROW_CAP]
        header = [
            gettext("Assigned RM"),
            gettext("RM code"),
            gettext("Customer number"),
            pgettext("person", "Name"),
            gettext("Home branch"),
            gettext("Reason"),
            gettext("Due on"),
            gettext("Days overdue"),
            gettext("Amount (CNY)"),
            gettext("Channel"),
            gettext("Note"),
        ]
        rows = [
            [
                contact.assigned_to.name if contact.assigned_to else "",
                contact.assigned_to.code if contact.assigned_to else "",
                contact.client.external_id,
                contact.client.name,
                contact.client.branch.name,
                contact.get_reason_display(),
                contact.due_on.isoformat(),
                (today - contact.due_on).days,
                f"{contact.amount_cny:.2f}" if contact.amount_cny is not None else "",
                contact.get_channel_display(),
                contact.note,
            ]
            for contact in contacts
        ]
        return csv_export_response(
            request=request,
            header=header,
            rows=rows,
            name="overdue-contacts",
            what="overdue contacts",
            truncated=truncated,
        )


class CoverageView(StaffRequiredMixin, TemplateView):
    """Per RM and per branch: the VIP book, coverage, overdue contacts, adherence."""

    allowed_roles = MANAGERS
    template_name = "contact_plans/coverage.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        form = CoverageFilterForm(self.request.GET or None, actor=self.actor)
        if form.is_bound and not form.is_valid():
            messages.error(self.request, _("Please correct the filter below."))
        card = selectors.contact_scorecard(actor=self.actor, **form.arguments(today=today))
        context.update(
            filter_form=form,
            active_filters=form.active_filters(),
            card=card,
            today=today,
        )
        return context
