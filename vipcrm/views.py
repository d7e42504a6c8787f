"""Pages of the platform: login, "My day", staff and branches, the audit log."""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.generic import DetailView, ListView, TemplateView

from vipcrm import my_day, selectors
from vipcrm.models import AuditEntry, StaffProfile
from vipcrm.roles import Actor, Role


def actor_for_request(request: HttpRequest) -> Actor | None:
    """The staff actor of a page request, computed once per request."""
    if not hasattr(request, "_vipcrm_actor"):
        user = request.user
        request._vipcrm_actor = selectors.actor_for_user(user) if user.is_authenticated else None
    return request._vipcrm_actor


class StaffRequiredMixin(LoginRequiredMixin):
    """A logged-in member of a bank's staff; ``allowed_roles`` narrows it further."""

    allowed_roles: tuple[str, ...] | None = None

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.actor = actor_for_request(request)
        if self.actor is None:
            raise PermissionDenied(_("Your login is not a member of any bank's staff."))
        if self.allowed_roles is not None and self.actor.role not in self.allowed_roles:
            # Same answer as for a page that does not exist: role pages are not advertised.
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class FilteredListMixin:
    """Keeps a list page's filters on its pagination links (``query_string``)."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query_string"] = query.urlencode()
        return context


class ScopedViewMixin(StaffRequiredMixin):
    """Base of every page that shows tenant rows: they come from ``selector(actor=...)``.

    An object of another tenant or outside the actor's scope is simply not in the
    queryset, so ``get_object`` answers 404.
    """

    selector = None

    def get_queryset(self):
        return type(self).selector(actor=self.actor)


class LoginForm(auth_views.AuthenticationForm):
    username = forms.CharField(
        label=_("Username"),
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


def lockout(request, credentials=None, *args, **kwargs) -> HttpResponse:
    """django-axes calls this once a username has failed too often from one address."""
    from django.conf import settings

    minutes = int(settings.AXES_COOLOFF_TIME * 60)
    form = LoginForm(request)
    next_url = request.POST.get("next") or request.GET.get("next", "")
    return render(
        request,
        "registration/login.html",
        {"form": form, "locked_out": True, "cooloff_minutes": minutes, "next": next_url},
        status=429,
    )


class MyDayView(StaffRequiredMixin, TemplateView):
    """The landing page: an RM's day; supervisors and head office see their overview."""

    template_name = "vipcrm/my_day.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        context.update(
            today=today,
            week_start=today - datetime.timedelta(days=today.weekday()),
            staff=self.actor.staff,
            panels=my_day.render_panels(request=self.request, actor=self.actor),
        )
        return context


class BranchListView(ScopedViewMixin, ListView):
    allowed_roles = (Role.SUPERVISOR, Role.HEAD_OFFICE)
    selector = selectors.branch_list
    template_name = "vipcrm/branch_list.html"
    context_object_name = "branches"


class StaffListView(FilteredListMixin, ScopedViewMixin, ListView):
    allowed_roles = (Role.SUPERVISOR, Role.HEAD_OFFICE)
    selector = selectors.staff_list
    template_name = "vipcrm/staff_list.html"
    context_object_name = "staff_members"
    paginate_by = 50

    def get_queryset(self):
        staff = super().get_queryset()
        query = self.request.GET.get("q", "").strip()
        role = self.request.GET.get("role", "")
        if query:
            staff = selectors.staff_search(staff, query)
        if role in Role.values:
            staff = staff.filter(role=role)
        return staff

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            roles=Role.choices,
            q=self.request.GET.get("q", ""),
            role=self.request.GET.get("role", ""),
        )
        return context


class StaffDetailView(ScopedViewMixin, DetailView):
    model = StaffProfile  # for introspection; rows come from the selector
    selector = selectors.staff_list
    template_name = "vipcrm/staff_detail.html"
    context_object_name = "member"
    slug_field = "code"
    slug_url_kwarg = "code"


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Action"),
        required=False,
        choices=[("", _("All actions")), *AuditEntry.Action.choices],
    )
    actor_label = forms.CharField(label=_("Who"), required=False, max_length=150)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("date_from")
            and cleaned.get("date_to")
            and cleaned["date_from"] > cleaned["date_to"]
        ):
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned


class AuditLogView(FilteredListMixin, StaffRequiredMixin, ListView):
    """Head office browses its bank's audit log (read-only: there is nothing to edit)."""

    allowed_roles = (Role.HEAD_OFFICE,)
    template_name = "vipcrm/audit_log.html"
    context_object_name = "entries"
    paginate_by = 50

    def get_queryset(self):
        self.filter_form = AuditFilterForm(self.request.GET or None)
        filters = {}
        if self.filter_form.is_bound:
            if not self.filter_form.is_valid():
                messages.error(self.request, _("Please correct the filter below."))
            # The filters that are valid still apply; the invalid ones show their error.
            filters = {k: v for k, v in self.filter_form.cleaned_data.items() if v}
        return selectors.audit_entry_list(actor=self.actor, **filters)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filter_form"] = self.filter_form
        return context


def page_not_found(request, exception=None) -> HttpResponse:
    return render(request, "404.html", status=404)


def permission_denied(request, exception=None) -> HttpResponse:
    return render(request, "403.html", {"reason": str(exception or "")}, status=403)


def server_error(request) -> HttpResponse:
    # Rendered without the request: no context processor may touch a failing database.
    return HttpResponseServerError(loader.get_template("500.html").render())


def csrf_failure(request, reason: str = "") -> HttpResponse:
    return render(
        request,
        "403.html",
        {"reason": _("This form has expired. Reload the page and send it again.")},
        status=403,
    )
