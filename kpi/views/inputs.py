"""Pages of the KPI inputs (``kpi.inputs`` has the rules):

- ``time/`` (``?week=<any day of it>``): an RM's or advisor's week, Monday to Sunday,
  as a grid of days × kinds with its totals and the VIP share against the 70% target,
  saved in one POST; "copy last week" fills the grid with the week before (for the
  days up to today) to check and save. Supervisors and head office read the week of
  one of their people (``?staff=<id>``: 404 outside their branch subtree), and without
  one see their people's hours of the week.
- ``surveys/`` and ``complaints/``: the lists in the actor's scope, filtered by staff,
  branch, period and score (category and status); ``surveys/new/`` (supervisors, head
  office) and ``complaints/new/`` (everyone) record one for a client the actor sees
  (``?client=<customer number>`` fills it in); ``complaints/<id>/resolve/``: the
  complaint, and its resolution for a supervisor or head office.
- ``coaching/<staff id>/``: the coaching notes on an RM — for the RM, head office and
  the supervisors of the RM's branch subtree, who write them here; an author who has
  moved on still reads theirs. Anyone else gets a 404.

Checks, in this order: the object from the actor's scope (404), the role (403 for a
POST the role may not make), the input (the page with the form's errors, 400), the
service's rules (the same). A success redirects with a message.
"""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import ListView, View
from django.views.generic.detail import SingleObjectMixin

from contact_plans.forms import add_service_error
from contact_plans.services import tenant_today
from kpi import inputs, selectors
from kpi.definitions import DIMENSIONS, VIP_TIME_TARGET
from kpi.forms import (
    CoachingNoteForm,
    ComplaintFilterForm,
    ComplaintForm,
    ComplaintResolveForm,
    SurveyFilterForm,
    SurveyForm,
    TimeWeekForm,
    WeekForm,
    recent_periods,
)
from kpi.models import Complaint, TimeLog
from kpi.views import bank_today, safe_next
from vipcrm.models import StaffProfile
from vipcrm.my_day import Panel
from vipcrm.pagination import WindowPaginator, window_page_context
from vipcrm.roles import Actor, Role
from vipcrm.views import FilteredListMixin, ScopedViewMixin, StaffRequiredMixin

OVERSEERS = (Role.SUPERVISOR, Role.HEAD_OFFICE)
DAY = datetime.timedelta(days=1)
TEAM_PAGE_SIZE = 50


# --- Time --------------------------------------------------------------------------------


class TimeWeekView(StaffRequiredMixin, View):
    """An RM's or advisor's week of time: their own to fill in, or one of their people's
    to read (supervisors, head office), or their people's week at a glance."""

    template_name = "kpi/inputs/time.html"

    def setup_week(self) -> None:
        """The week shown: the one of ``?week=`` (any day of it), else this week."""
        self.today = bank_today(self.request)
        form = WeekForm(self.request.GET)
        day = None
        if form.is_valid():
            day = form.cleaned_data["week"]
        else:
            messages.error(self.request, _("That is not a date: showing this week."))
        self.start = inputs.week_start(day or self.today)

    def setup_staff(self) -> None:
        """The person whose week it is (404 outside the actor's reach), or None for a
        supervisor's or head office's overview."""
        raw = self.request.GET.get("staff")
        if raw is None:
            self.staff = self.actor.staff if self.actor.role in inputs.TIME_LOGGERS else None
            return
        try:
            self.staff = selectors.time_week_staff(actor=self.actor, staff_id=int(raw))
        except (ValueError, OverflowError, ObjectDoesNotExist) as error:
            raise Http404 from error

    @property
    def is_own(self) -> bool:
        return self.staff is not None and self.staff.pk == self.actor.staff.pk

    def week_url(self, start: datetime.date, **params) -> str:
        query = {"week": start.isoformat(), **params}
        if self.staff is not None and not self.is_own:
            query["staff"] = self.staff.pk
        return f"{reverse('kpi:time')}?{urlencode(query)}"

    def render_page(self, *, week=None, form: TimeWeekForm | None = None, status: int = 200):
        context = {
            "start": self.start,
            "end": self.start + DAY * 6,
            "today": self.today,
            "this_week": inputs.week_start(self.today),
            "previous_url": self.week_url(self.start - DAY * 7),
            "next_url": self.week_url(self.start + DAY * 7),
            "this_week_url": self.week_url(inputs.week_start(self.today)),
            "staff": self.staff,
            "is_own": self.is_own,
            "target": VIP_TIME_TARGET,
        }
        if self.staff is None:
            context.update(self.team_context())
        else:
            if week is None:
                week = selectors.time_week(staff=self.staff, start=self.start, today=self.today)
            editable = self.is_own and any(not day.is_future for day in week.days)
            if form is None and editable:
                form = self.fresh_form(week)
            context.update(
                week=week,
                form=form if editable else None,
                copy_url=self.week_url(self.start, copy="previous"),
            )
        return render(self.request, self.template_name, context, status=status)

    def fresh_form(self, week) -> TimeWeekForm:
        """The grid as stored, or, asked to copy last week, with last week's hours on the
        days up to today."""
        if self.request.GET.get("copy") != "previous":
            return TimeWeekForm(week=week, auto_id="time-%s")
        previous = selectors.time_week(
            staff=self.staff, start=self.start - DAY * 7, today=self.today
        ).cells()
        copied = {
            (day.day, kind): previous[(day.day - DAY * 7, kind)]
            for day in week.days
            for kind in TimeLog.Kind.values
            if not day.is_future
        }
        if any(copied.values()):
            messages.info(
                self.request,
                gettext("Last week's hours are filled in below: check them, then save."),
            )
        else:
            messages.warning(self.request, gettext("Nothing was logged the week before."))
            copied = None
        return TimeWeekForm(week=week, initial_hours=copied, auto_id="time-%s")

    def team_context(self) -> dict:
        team = selectors.time_team_week(actor=self.actor, start=self.start)
        page = Paginator(team, TEAM_PAGE_SIZE).get_page(self.request.GET.get("page"))
        for person in page:
            person.vip_share = selectors.vip_share(person.vip_hours, person.total_hours)
        query = self.request.GET.copy()
        query.pop("page", None)
        return {"team_page": page, "query_string": query.urlencode()}

    def get(self, request, *args, **kwargs):
        self.setup_staff()
        self.setup_week()
        return self.render_page()

    def post(self, request, *args, **kwargs):
        self.setup_staff()
        if not self.is_own:
            raise PermissionDenied(
                _("Supervisors and head office read an RM's time; each RM logs their own.")
            )
        self.today = bank_today(request)
        week_form = WeekForm(request.POST)
        day = week_form.cleaned_data.get("week") if week_form.is_valid() else None
        if day is None:
            # Without its week the grid's cells name no days: nothing can be saved.
            self.start = inputs.week_start(self.today)
            messages.error(request, _("The week to save is missing or not a date."))
            return self.render_page(status=400)
        self.start = inputs.week_start(day)
        week = selectors.time_week(staff=self.staff, start=self.start, today=self.today)
        form = TimeWeekForm(request.POST, week=week, auto_id="time-%s")
        if form.is_valid():
            try:
                changed = inputs.time_week_set(
                    actor=self.actor,
                    staff=self.staff,
                    week_start=self.start,
                    hours=form.hours(),
                    request=request,
                )
            except ValidationError as error:
                add_service_error(form, error)  # a day's refusal names the day
            else:
                if any(changed.values()):
                    messages.success(request, gettext("Your week's hours are saved."))
                else:
                    messages.info(request, gettext("Nothing changed in your week."))
                return HttpResponseRedirect(self.week_url(self.start))
        return self.render_page(week=week, form=form, status=400)


# --- Surveys and complaints --------------------------------------------------------------


class FeedbackListView(FilteredListMixin, StaffRequiredMixin, ListView):
    """A list of surveys or complaints in the actor's scope, with its filters."""

    filter_form_class = None
    selector = None
    paginate_by = 50
    paginator_class = WindowPaginator

    def get_queryset(self):
        self.today = bank_today(self.request)
        self.filter_form = self.filter_form_class(self.request.GET or None, actor=self.actor)
        if self.filter_form.is_bound and not self.filter_form.is_valid():
            messages.error(self.request, _("Please correct the filter below."))
        return type(self).selector(actor=self.actor, **self.filter_form.arguments())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            window_page_context(
                queryset=self.object_list, page=context["page_obj"], per_page=self.paginate_by
            ),
            filter_form=self.filter_form,
            active_filters=self.filter_form.active_filters(),
            periods=recent_periods(self.today),
            period=getattr(self.filter_form, "cleaned_data", {}).get("period"),
        )
        return context


class SurveyListView(FeedbackListView):
    template_name = "kpi/inputs/surveys.html"
    context_object_name = "surveys"
    filter_form_class = SurveyFilterForm
    selector = selectors.survey_list

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # The average reads every survey that matches: only once narrowed to a period.
        if context["period"] is not None:
            context["summary"] = selectors.survey_summary(self.object_list)
        context["may_record"] = self.actor.role in OVERSEERS
        return context


class ComplaintListView(FeedbackListView):
    template_name = "kpi/inputs/complaints.html"
    context_object_name = "complaints"
    filter_form_class = ComplaintFilterForm
    selector = selectors.complaint_list

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["may_resolve"] = self.actor.role in OVERSEERS
        return context


class FeedbackCreateView(StaffRequiredMixin, View):
    """Record a survey or a complaint for a client the actor sees, by customer number."""

    template_name = ""
    form_class = None
    list_url_name = ""
    day_field = ""  # the form's date, today to begin with

    def form(self, data=None):
        return self.form_class(
            data,
            actor=self.actor,
            auto_id="new-%s",
            initial={
                "client": (self.request.GET.get("client") or "").strip(),
                self.day_field: bank_today(self.request),
            },
        )

    def render_page(self, form, *, status: int = 200) -> HttpResponse:
        return render(self.request, self.template_name, {"form": form}, status=status)

    def get(self, request, *args, **kwargs):
        return self.render_page(self.form())

    def post(self, request, *args, **kwargs):
        form = self.form(request.POST)
        if form.is_valid():
            try:
                message = self.perform(form)
            except ObjectDoesNotExist:
                form.add_error("client", form.fields["client"].error_messages["unknown"])
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(request, message)
                return HttpResponseRedirect(reverse(self.list_url_name))
        return self.render_page(form, status=400)

    def perform(self, form) -> str:
        raise NotImplementedError


class SurveyCreateView(FeedbackCreateView):
    """Supervisors and head office record a survey (RMs do not rate themselves)."""

    allowed_roles = OVERSEERS
    template_name = "kpi/inputs/survey_new.html"
    form_class = SurveyForm
    list_url_name = "kpi:surveys"
    day_field = "surveyed_on"

    def perform(self, form) -> str:
        data = form.cleaned_data
        survey = inputs.survey_record(
            actor=self.actor,
            client=data["client"],
            staff=data["staff"],
            score=data["score"],
            surveyed_on=data["surveyed_on"],
            comment=data.get("comment") or "",
            channel=data.get("channel") or "",
            request=self.request,
        )
        return gettext("The survey of %(client)s (score %(score)s for %(rm)s) is recorded.") % {
            "client": survey.client.name,
            "score": survey.score,
            "rm": survey.staff.name,
        }


class ComplaintCreateView(FeedbackCreateView):
    template_name = "kpi/inputs/complaint_new.html"
    form_class = ComplaintForm
    list_url_name = "kpi:complaints"
    day_field = "received_on"

    def perform(self, form) -> str:
        data = form.cleaned_data
        complaint = inputs.complaint_record(
            actor=self.actor,
            client=data["client"],
            staff=data["staff"],
            received_on=data["received_on"],
            category=data["category"],
            description=data["description"],
            request=self.request,
        )
        return gettext("The complaint of %(client)s is recorded; it is open until resolved.") % {
            "client": complaint.client.name
        }


class ComplaintResolveView(ScopedViewMixin, SingleObjectMixin, View):
    """A complaint and, for a supervisor or head office while it is open, its
    resolution. RMs and advisors read it; their POST is a 403."""

    model = Complaint  # for introspection (the cross-tenant test); rows: the selector
    selector = selectors.complaint_list
    template_name = "kpi/inputs/complaint_resolve.html"
    context_object_name = "complaint"

    @cached_property
    def may_resolve(self) -> bool:
        return self.actor.role in OVERSEERS

    def form(self, data=None) -> ComplaintResolveForm:
        return ComplaintResolveForm(
            data, auto_id="resolve-%s", initial={"resolved_on": bank_today(self.request)}
        )

    def render_page(self, form=None, *, status: int = 200) -> HttpResponse:
        if form is None and self.may_resolve and self.object.status == Complaint.Status.OPEN:
            form = self.form()
        context = {
            "complaint": self.object,
            "form": form,
            "next": safe_next(self.request, ""),
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        return self.render_page()

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        if not self.may_resolve:
            raise PermissionDenied(_("A supervisor or head office resolves complaints."))
        form = self.form(request.POST)
        if form.is_valid():
            try:
                inputs.complaint_resolve(
                    actor=self.actor,
                    complaint=self.object,
                    resolved_on=form.cleaned_data["resolved_on"],
                    resolution=form.cleaned_data["resolution"],
                    request=request,
                )
            except ObjectDoesNotExist as error:  # out of scope meanwhile: as not found
                raise Http404 from error
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(
                    request,
                    gettext("The complaint of %(client)s is resolved.")
                    % {"client": self.object.client.name},
                )
                return HttpResponseRedirect(safe_next(request, reverse("kpi:complaints")))
        return self.render_page(form, status=400)


# --- Coaching ----------------------------------------------------------------------------


class CoachingView(StaffRequiredMixin, View):
    """The coaching notes on an RM, and the form to write one."""

    model = StaffProfile  # for introspection (the cross-tenant test): the RM
    template_name = "kpi/inputs/coaching.html"

    def setup_rm(self, staff_id: int) -> None:
        try:
            self.rm = selectors.coaching_rm(actor=self.actor, staff_id=staff_id)
        except ObjectDoesNotExist as error:
            raise Http404 from error
        self.may_write = inputs.coaching_may_write(actor=self.actor, rm=self.rm)

    def render_page(self, form=None, *, status: int = 200) -> HttpResponse:
        if form is None and self.may_write and self.rm.is_active:
            form = CoachingNoteForm(auto_id="coaching-%s")
        notes = list(selectors.coaching_notes(actor=self.actor, rm=self.rm))
        for note in notes:
            note.focus_label = DIMENSIONS.get(note.focus, "")
        context = {
            "rm": self.rm,
            "notes": notes,
            "form": form,
            "may_write": self.may_write,
            "is_self": self.rm.pk == self.actor.staff.pk,
            "today": bank_today(self.request),
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request, staff_id: int, *args, **kwargs):
        self.setup_rm(staff_id)
        return self.render_page()

    def post(self, request, staff_id: int, *args, **kwargs):
        self.setup_rm(staff_id)
        if not self.may_write:
            raise PermissionDenied(
                _("A supervisor of the RM's branch or head office writes coaching notes.")
            )
        form = CoachingNoteForm(request.POST, auto_id="coaching-%s")
        if form.is_valid():
            try:
                inputs.coaching_note_create(
                    actor=self.actor, rm=self.rm, request=request, **form.cleaned_data
                )
            except ObjectDoesNotExist as error:
                raise Http404 from error
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(
                    request,
                    gettext("Your note to %(rm)s is saved; they see it on this page.")
                    % {"rm": self.rm.name},
                )
                return HttpResponseRedirect(reverse("kpi:coaching", args=[self.rm.pk]))
        return self.render_page(form, status=400)


# --- "My day" ----------------------------------------------------------------------------


def time_panel_context(actor: Actor) -> dict | None:
    """An RM's VIP share of this week's hours so far, against the 70% target."""
    if actor.staff is None or actor.role != Role.RM:
        return None
    today = tenant_today(actor.tenant_id)
    return {"time": selectors.vip_time_this_week(staff=actor.staff, today=today)}


TIME_PANEL = Panel("kpi.time", 8, "kpi/inputs/panels/time.html", time_panel_context)
