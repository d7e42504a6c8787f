"""Pages for supervisors: unqualified VIPs, near-threshold clients, tier changes, and RM
capacity with suggested moves and the reassignment of clients.

Who sees what (anyone else gets the 404 of a page that does not exist, as for every
role page of this project):

| page            | RM                      | supervisor       | head office              |
|-----------------|-------------------------|------------------|--------------------------|
| unqualified     | —                       | branch subtree   | the bank, branch filter  |
| near-threshold  | own book                | branch subtree   | the bank, branch filter  |
| tier changes    | own book                | branch subtree   | the bank, branch filter  |
| capacity        | own figure              | branch subtree   | the bank, branch filter  |
| reassign / edit | —                       | branch subtree   | the bank                 |

Advisors serve clients through their team and have no book of their own: none of
these pages is theirs.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import ListView, TemplateView, View

from customers.selectors import client_identity
from segmentation import capacity, selectors
from segmentation.list_forms import (
    CapacityFilterForm,
    NearThresholdFilterForm,
    ReassignForm,
    RmCapacityForm,
    TierChangeFilterForm,
    UnqualifiedFilterForm,
)
from vipcrm.exports import csv_export_response, invalid_filters_response
from vipcrm.models import StaffProfile
from vipcrm.pagination import WindowPaginator, window_page_context
from vipcrm.roles import Role
from vipcrm.views import FilteredListMixin, StaffRequiredMixin

MANAGERS = (Role.SUPERVISOR, Role.HEAD_OFFICE)
BOOK_HOLDERS = (Role.RM, Role.SUPERVISOR, Role.HEAD_OFFICE)
EXPORT_ROW_CAP = 100_000


class _FilteredWindowList(FilteredListMixin, StaffRequiredMixin, ListView):
    """A list page whose rows come from a selector narrowed by a filter form, paged
    without COUNT(*) (``WindowPaginator``) and with one capped count for the header."""

    filter_form_class = None
    paginate_by = 50
    paginator_class = WindowPaginator

    def get_filter_form(self):
        return self.filter_form_class(self.request.GET or None, actor=self.actor)

    def get_queryset(self):
        self.filter_form = self.get_filter_form()
        if self.filter_form.is_bound and not self.filter_form.is_valid():
            messages.error(self.request, _("Please correct the filter below."))
        return self.select(**self.filter_form.arguments())

    def select(self, **arguments):
        raise NotImplementedError

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            window_page_context(
                queryset=self.object_list, page=context["page_obj"], per_page=self.paginate_by
            ),
            filter_form=self.filter_form,
            active_filters=self.filter_form.active_filters(),
        )
        return context


class _ClientExportView(StaffRequiredMixin, View):
    """A client list page as CSV, in the page's scope and with its filters, identity
    masked: each row is the client's number, name, RM, branch and tier, then the list's
    own columns (``list_header``/``list_columns``), then the masked mobile."""

    filter_form_class = None
    file_name = ""
    what = ""

    def select(self, **arguments):
        raise NotImplementedError

    def list_header(self) -> list:
        raise NotImplementedError

    def list_columns(self, client) -> list:
        raise NotImplementedError

    def get(self, request, *args, **kwargs):
        form = self.filter_form_class(request.GET or None, actor=self.actor)
        if form.is_bound and not form.is_valid():
            return invalid_filters_response(form)
        clients = list(self.select(**form.arguments())[:EXPORT_ROW_CAP])
        rows = [
            [
                client.external_id,
                client.name,
                client.owner_rm.name if client.owner_rm else "",
                client.branch.name,
                client.tier.name if client.tier else "",
                *self.list_columns(client),
                client_identity(client)["mobile"],
            ]
            for client in clients
        ]
        header = [
            gettext("Customer number"),
            pgettext("person", "Name"),
            gettext("RM"),
            gettext("Branch"),
            gettext("Tier"),
            *self.list_header(),
            gettext("Mobile"),
        ]
        return csv_export_response(
            request=request,
            header=header,
            rows=rows,
            name=self.file_name,
            what=self.what,
            truncated=len(rows) >= EXPORT_ROW_CAP,
        )


def _money(value) -> str:
    return f"{value:.2f}" if value is not None else ""


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _reassigned_message(count: int, to_rm: StaffProfile | None) -> str:
    if to_rm is None:
        return ngettext(
            "%(count)d client released to the branch pool.",
            "%(count)d clients released to the branch pool.",
            count,
        ) % {"count": count}
    return ngettext(
        "%(count)d client moved to %(rm)s.",
        "%(count)d clients moved to %(rm)s.",
        count,
    ) % {"count": count, "rm": to_rm.name}


def _apply_reassign(request, actor, form: ReassignForm) -> int | None:
    """Run ``clients_reassign`` from a valid form; its errors land on the form's fields."""
    try:
        return capacity.clients_reassign(
            actor=actor,
            clients_qs_or_ids=form.cleaned_data["clients"],
            to_rm=form.cleaned_data["to_rm"],
            reason=form.cleaned_data["reason"],
            request=request,
        )
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None


# --- Unqualified VIPs ----------------------------------------------------------------


class UnqualifiedListView(_FilteredWindowList):
    """Clients kept in an RM's book whose tier no longer justifies it, with the
    supervisor's action: tick clients, move them to another RM or release them."""

    allowed_roles = MANAGERS
    template_name = "segmentation/list_unqualified.html"
    context_object_name = "clients"
    filter_form_class = UnqualifiedFilterForm

    def select(self, **arguments):
        return selectors.unqualified_clients(actor=self.actor, **arguments)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        reassign_form = kwargs.get("reassign_form") or ReassignForm(actor=self.actor)
        selected = set()
        if reassign_form.is_bound:
            selected = {str(pk) for pk in reassign_form.data.getlist("clients")}
        context.update(
            policy=selectors.tiering_policy(),
            reassign_form=reassign_form,
            selected=selected,
        )
        return context

    def post(self, request, *args, **kwargs):
        form = ReassignForm(request.POST, actor=self.actor)
        if form.is_valid():
            moved = _apply_reassign(request, self.actor, form)
            if moved is not None:
                messages.success(request, _reassigned_message(moved, form.cleaned_data["to_rm"]))
                return HttpResponseRedirect(request.get_full_path())
        self.object_list = self.get_queryset()
        context = self.get_context_data(reassign_form=form)
        return self.render_to_response(context, status=400)


class UnqualifiedExportView(_ClientExportView):
    """The unqualified list as CSV: scope and filters of the page, identity masked."""

    allowed_roles = MANAGERS
    filter_form_class = UnqualifiedFilterForm
    file_name = "unqualified-vips"
    what = "unqualified VIPs"

    def select(self, **arguments):
        self.grace = selectors.tiering_policy().downgrade_grace
        self.kinds = dict(selectors.UnqualifiedKind.choices)
        return selectors.unqualified_clients(actor=self.actor, **arguments)

    def list_header(self) -> list:
        return [
            gettext("Average daily AUM (CNY)"),
            gettext("Floor (CNY)"),
            gettext("Gap to the floor (CNY)"),
            gettext("Why"),
            gettext("Months below the floor"),
        ]

    def list_columns(self, client) -> list:
        return [
            _money(client.basis),
            _money(client.floor),
            _money(client.gap),
            self.kinds[client.kind],
            f"{client.months_below_floor}/{self.grace}",
        ]


# --- Near-threshold clients ----------------------------------------------------------


class NearThresholdListView(_FilteredWindowList):
    """Clients just below their next tier's floor: the upgrade conversations to have."""

    allowed_roles = BOOK_HOLDERS
    template_name = "segmentation/list_near_threshold.html"
    context_object_name = "clients"
    filter_form_class = NearThresholdFilterForm

    def select(self, **arguments):
        self.policy = selectors.tiering_policy()
        self.tiers = selectors.tiers_by_id()
        return selectors.near_threshold_clients(
            actor=self.actor, policy=self.policy, tiers=list(self.tiers.values()), **arguments
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for client in context["clients"]:
            client.next_tier = self.tiers.get(client.next_tier_id)
            client.identity = client_identity(client)
        context["policy"] = self.policy
        return context


class NearThresholdExportView(_ClientExportView):
    allowed_roles = BOOK_HOLDERS
    filter_form_class = NearThresholdFilterForm
    file_name = "near-threshold"
    what = "near-threshold clients"

    def select(self, **arguments):
        self.tiers = selectors.tiers_by_id()
        return selectors.near_threshold_clients(
            actor=self.actor, tiers=list(self.tiers.values()), **arguments
        )

    def list_header(self) -> list:
        return [
            gettext("Next tier"),
            gettext("Average daily AUM (CNY)"),
            gettext("Next floor (CNY)"),
            gettext("Missing (CNY)"),
        ]

    def list_columns(self, client) -> list:
        next_tier = self.tiers.get(client.next_tier_id)
        return [
            next_tier.name if next_tier else "",
            _money(client.basis),
            _money(client.next_floor),
            _money(client.missing),
        ]


# --- Tier changes --------------------------------------------------------------------


class TierChangeListView(_FilteredWindowList):
    """Recent tier changes; the nightly notification links here with ``effective_on``."""

    allowed_roles = BOOK_HOLDERS
    template_name = "segmentation/list_tier_changes.html"
    context_object_name = "changes"
    filter_form_class = TierChangeFilterForm

    def select(self, **arguments):
        return selectors.tier_changes(actor=self.actor, **arguments)


# --- RM capacity ---------------------------------------------------------------------

CAPACITY_PAGE_SIZE = 100


class CapacityView(StaffRequiredMixin, TemplateView):
    """Each RM's weighted book against their capacity, the totals, and suggested moves
    (supervisors and head office) that can be applied one by one."""

    allowed_roles = BOOK_HOLDERS
    template_name = "segmentation/capacity.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = CapacityFilterForm(self.request.GET or None, actor=self.actor)
        if form.is_bound and not form.is_valid():
            messages.error(self.request, _("Please correct the filter below."))
        data = getattr(form, "cleaned_data", {})
        policy = selectors.tiering_policy()
        loads = capacity.rm_loads(actor=self.actor, branch=data.get("branch"), policy=policy)
        is_manager = self.actor.role in MANAGERS
        suggestions = (
            capacity.capacity_moves_suggest(actor=self.actor, loads=loads) if is_manager else []
        )
        relieved = {move.from_load.staff.pk for move in suggestions}
        shown = capacity.rm_loads_sorted(loads, data.get("sort") or "-ratio")
        if data.get("status"):
            shown = [load for load in shown if load.status == data["status"]]
        page = Paginator(shown, CAPACITY_PAGE_SIZE).get_page(self.request.GET.get("page"))
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            filter_form=form,
            policy=policy,
            loads=page.object_list,
            page_obj=page,
            is_paginated=page.has_other_pages(),
            query_string=query.urlencode(),
            totals=capacity.rm_load_totals(loads),
            suggestions=suggestions,
            unrelieved=[
                load
                for load in loads
                if load.status == capacity.LoadStatus.OVERLOADED and load.staff.pk not in relieved
            ],
            is_manager=is_manager,
            overloaded_above=capacity.OVERLOADED_ABOVE,
            underloaded_below=capacity.UNDERLOADED_BELOW,
            move_reason=gettext("Capacity balancing: suggested move"),
        )
        return context

    def post(self, request, *args, **kwargs):
        """Apply one suggested move (or any posted selection): reassign, then back."""
        if self.actor.role not in MANAGERS:
            raise Http404
        back = _safe_next(request, reverse("segmentation:capacity"))
        form = ReassignForm(request.POST, actor=self.actor)
        moved = _apply_reassign(request, self.actor, form) if form.is_valid() else None
        if moved is None:
            errors = [str(e) for field_errors in form.errors.values() for e in field_errors]
            messages.error(request, " ".join(errors) or _("The move could not be applied."))
            return HttpResponseRedirect(back)
        messages.success(request, _reassigned_message(moved, form.cleaned_data["to_rm"]))
        return HttpResponseRedirect(back)


class CapacityEditView(StaffRequiredMixin, TemplateView):
    """Set one RM's capacity, or return them to the bank's default."""

    allowed_roles = MANAGERS
    template_name = "segmentation/capacity_edit.html"
    model = StaffProfile  # for introspection (the cross-tenant test); rows: capacity_rms
    slug_field = "code"
    slug_url_kwarg = "code"

    def get_object(self) -> StaffProfile:
        rms = capacity.capacity_rms(actor=self.actor)
        return get_object_or_404(rms, **{self.slug_field: self.kwargs[self.slug_url_kwarg]})

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        staff = kwargs.get("staff") or self.get_object()
        loads = capacity.rm_loads(actor=self.actor, staff=staff)
        form = kwargs.get("form")
        if form is None:
            current = staff.capacities.first()
            form = RmCapacityForm(initial={"capacity": current.capacity if current else None})
        context.update(
            staff=staff,
            load=loads[0] if loads else None,
            form=form,
            policy=selectors.tiering_policy(),
        )
        return context

    def post(self, request, *args, **kwargs):
        staff = self.get_object()
        form = RmCapacityForm(request.POST)
        if form.is_valid():
            try:
                capacity.rm_capacity_set(
                    actor=self.actor,
                    staff=staff,
                    capacity=form.cleaned_data["capacity"],
                    request=request,
                )
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("Capacity of %(name)s saved.") % {"name": staff.name})
                return HttpResponseRedirect(reverse("segmentation:capacity"))
        context = self.get_context_data(staff=staff, form=form)
        return self.render_to_response(context, status=400)
