"""Pages of clients: the list (search, filters, fast pagination), the client 360 page,
and the small edits an RM makes on it (inline with htmx, full pages without JS)."""

from __future__ import annotations

import datetime
import functools

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms.models import ModelChoiceIterator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext
from django.views.generic import DetailView, ListView, View
from django.views.generic.detail import SingleObjectMixin

from customers import charts, client_sections, selectors, services
from customers.forms import (
    ClientFilterForm,
    HeldAwayAssetForm,
    LifeEventForm,
    NeedForm,
    PreferencesForm,
    RelationshipForm,
)
from customers.models import Client, Relationship
from customers.services import Section
from customers.sync import cyclic_gc_paused
from vipcrm.audit import audit_record
from vipcrm.exports import csv_export_response, invalid_filters_response
from vipcrm.pagination import WindowPaginator, window_page_context
from vipcrm.views import FilteredListMixin, ScopedViewMixin, StaffRequiredMixin

# --- The list's filter form: its choices read once and rendered fast ------------------


class _ListedChoices(ModelChoiceIterator):
    """A model choice field's options from a list read once (see ``_choices_read_once``)."""

    def __init__(self, field: forms.ModelChoiceField, rows: list) -> None:
        super().__init__(field)
        self.rows = rows

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.rows:
            yield self.choice(obj)

    def __len__(self) -> int:
        return len(self.rows) + (self.field.empty_label is not None)

    def __bool__(self) -> bool:
        return self.field.empty_label is not None or bool(self.rows)


class _QuickSelect(forms.Select):
    """The ``<select>`` Django renders, character for character, built in Python.

    Django renders a select through one template per option: head office's owner-RM
    filter lists every RM of the bank (1,520 in bench/client_list.py), which took about
    100 ms of every page view that way, and takes a few milliseconds here.
    """

    def render(self, name, value, attrs=None, renderer=None):
        if self.allow_multiple_selected:
            return super().render(name, value, attrs, renderer)
        chosen = self.format_value(value)
        html = [
            format_html('<select name="{}"{}>', name, _attrs(self.build_attrs(self.attrs, attrs)))
        ]
        has_selected = False
        for option_value, label in self.choices:
            if isinstance(label, list | tuple):  # an option group: Django's own rendering
                return super().render(name, value, attrs, renderer)
            option = "" if option_value is None else str(option_value)
            selected = not has_selected and option in chosen
            has_selected |= selected
            # Django's option template ends with a newline, hence the blank lines.
            html.append(
                f'\n  <option value="{escape(option)}"{" selected" if selected else ""}>'
                f"{conditional_escape(label)}</option>\n"
            )
        html.append("\n</select>")
        return mark_safe("".join(html))  # noqa: S308 (every value in it is escaped)


def _attrs(attrs: dict) -> str:
    """Django's ``django/forms/widgets/attrs.html``."""
    return mark_safe(  # noqa: S308 (joined from format_html's escaped parts)
        "".join(
            format_html(" {}", name) if value is True else format_html(' {}="{}"', name, str(value))
            for name, value in attrs.items()
            if value is not False
        )
    )


def _choices_read_once(form: forms.Form) -> None:
    """Read each model choice field's options once per page view; render them fast.

    Django's ``ModelChoiceField`` queries its options to render the ``<select>``, and
    again to check a submitted value: a filtered list would cost one query more than
    an unfiltered one. Here both use the same list, so the page costs the same number
    of queries with or without filters.
    """
    for field in form.fields.values():
        if not isinstance(field, forms.ModelChoiceField):
            continue
        rows = list(field.queryset)
        widget = _QuickSelect(attrs=field.widget.attrs)
        widget.is_required = field.widget.is_required
        field.widget = widget
        field.choices = _ListedChoices(field, rows)
        field.to_python = functools.partial(
            _listed_choice, field, {str(obj.pk): obj for obj in rows}
        )


def _listed_choice(field: forms.ModelChoiceField, by_pk: dict, value):
    """``ModelChoiceField.to_python``, against the listed options."""
    if value in field.empty_values:
        return None
    field.validate_no_null_characters(value)
    found = by_pk.get(str(getattr(value, "pk", value)))
    if found is None:
        raise ValidationError(
            field.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
        )
    return found


# --- The client list -----------------------------------------------------------------


class ClientListView(FilteredListMixin, ScopedViewMixin, ListView):
    """The clients in the user's scope, searched, filtered and sorted."""

    template_name = "customers/client_list.html"
    context_object_name = "clients"
    paginate_by = 50
    paginator_class = WindowPaginator

    def get(self, request, *args, **kwargs):
        # Rendered here, with Python's cyclic garbage collector paused (as for a sync
        # batch): a page of head office builds thousands of short-lived objects (its RM
        # filter alone, 1,520 staff rows) that reference counting frees when it ends,
        # yet they made a full collection run during about one page view in twenty,
        # adding ~80 ms to it (bench/client_list.py: p95 126 ms against a 41 ms median).
        with cyclic_gc_paused():
            return super().get(request, *args, **kwargs).render()

    def get_queryset(self):
        self.filter_form = ClientFilterForm(self.request.GET or None, actor=self.actor)
        _choices_read_once(self.filter_form)
        if self.filter_form.is_bound and not self.filter_form.is_valid():
            messages.error(self.request, _("Please correct the filter below."))
        return selectors.client_search(actor=self.actor, **self.filter_form.search_arguments())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        for client in context["clients"]:
            client.identity = selectors.client_identity(client)
            client.risk_expired = bool(client.risk_level) and not client.risk_is_valid(today)
        context.update(
            window_page_context(
                queryset=self.object_list, page=context["page_obj"], per_page=self.paginate_by
            ),
            filter_form=self.filter_form,
            active_filters=self.filter_form.active_filters(),
            today=today,
        )
        return context


# --- The client 360 page -------------------------------------------------------------


EXPORT_ROW_CAP = 100_000


class ClientExportView(StaffRequiredMixin, View):
    """The filtered client list as CSV (UTF-8 with BOM, so Excel reads the Chinese).

    Built inside the request's tenant transaction (not streamed after it), with identity
    data masked per role exactly as on the page, and audited as an ``export``.
    """

    def get(self, request, *args, **kwargs):
        form = ClientFilterForm(request.GET or None, actor=self.actor)
        if form.is_bound and not form.is_valid():
            return invalid_filters_response(form)
        clients = selectors.client_search(actor=self.actor, **form.search_arguments())
        clients = list(clients[: EXPORT_ROW_CAP + 1])
        truncated = len(clients) > EXPORT_ROW_CAP
        clients = clients[:EXPORT_ROW_CAP]
        header = [
            _("Customer number"),
            pgettext("person", "Name"),
            _("Tier"),
            _("AUM (CNY)"),
            _("Owner RM"),
            _("Home branch"),
            _("Risk level"),
            _("Risk assessed on"),
            _("Mobile"),
            _("Entrepreneur"),
        ]
        rows = []
        for client in clients:
            identity = selectors.client_identity(client)
            rows.append(
                [
                    client.external_id,
                    client.name,
                    client.tier.name if client.tier else "",
                    f"{client.aum_cny:.2f}",
                    client.owner_rm.name if client.owner_rm else "",
                    client.branch.name,
                    client.get_risk_level_display(),
                    client.risk_assessed_on or "",
                    identity["mobile"],
                    _("yes") if client.is_entrepreneur else _("no"),
                ]
            )
        return csv_export_response(
            request=request,
            header=header,
            rows=rows,
            name="clients",
            what="client list",
            truncated=truncated,
        )


class ClientMixin(ScopedViewMixin):
    """A client page: the client comes from the actor's scope, else 404."""

    model = Client  # for introspection (the cross-tenant test); rows come from the selector
    selector = selectors.client_detail_queryset
    slug_field = "external_id"
    slug_url_kwarg = "external_id"
    context_object_name = "client"


def _age(birth_date: datetime.date | None, today: datetime.date) -> int | None:
    if birth_date is None:
        return None
    return (
        today.year
        - birth_date.year
        - ((today.month, today.day) < (birth_date.month, birth_date.day))
    )


def _allocation_context(client: Client, today: datetime.date, holdings=None, held_away=None):
    holdings = holdings or selectors.client_holdings(client=client, today=today)
    held_away = (
        held_away if held_away is not None else selectors.client_held_away_assets(client=client)
    )
    allocation = selectors.client_allocation(client=client, holdings=holdings, held_away=held_away)
    colored = charts.allocation_colors(allocation.slices)
    return {
        "holdings": holdings,
        "allocation": allocation,
        "allocation_legend": colored,
        "allocation_chart": charts.donut(
            colored,
            center_value=(
                f"{allocation.share_of_wallet}%" if allocation.share_of_wallet is not None else "—"
            ),
            center_label=_("Share of wallet"),
            title=_("Allocation of the client's wealth"),
        ),
    }


def _relationships_context(client: Client, actor, extra_ids=()) -> dict:
    related = selectors.client_relationships(client=client)
    referrals = selectors.client_referrals(client=client)
    visible = selectors.clients_visible_among(
        actor=actor,
        ids={r.other.pk for r in related} | {c.pk for c in referrals} | set(extra_ids),
    )
    for item in related:
        item.visible = item.other.pk in visible
    for referred in referrals:
        referred.visible = referred.pk in visible
    return {
        "household": [r for r in related if r.is_household],
        "other_relationships": [r for r in related if not r.is_household],
        "referrals": referrals,
        "visible_ids": visible,
    }


SECTION_CONTEXT = {
    Section.NEEDS: lambda client, actor, today: {"needs": selectors.client_needs(client=client)},
    Section.LIFE_EVENTS: lambda client, actor, today: {
        "life_events": selectors.client_life_events(client=client, today=today)
    },
    Section.HELD_AWAY: lambda client, actor, today: {
        "held_away": selectors.client_held_away_assets(client=client)
    },
    Section.RELATIONSHIPS: lambda client, actor, today: _relationships_context(client, actor),
    Section.PREFERENCES: lambda client, actor, today: {},
}

SECTION_TEMPLATES = {
    Section.NEEDS: "customers/sections/needs.html",
    Section.LIFE_EVENTS: "customers/sections/life_events.html",
    Section.HELD_AWAY: "customers/sections/held_away.html",
    Section.RELATIONSHIPS: "customers/sections/relationships.html",
    Section.PREFERENCES: "customers/sections/preferences.html",
}

SECTION_ANCHORS = {
    Section.NEEDS: "needs",
    Section.LIFE_EVENTS: "life-events",
    Section.HELD_AWAY: "held-away",
    Section.RELATIONSHIPS: "relationships",
    Section.PREFERENCES: "preferences",
}


def _blank_forms(client: Client, actor) -> dict:
    return {
        "need_form": NeedForm(),
        "life_event_form": LifeEventForm(),
        "held_away_form": HeldAwayAssetForm(),
        "relationship_form": RelationshipForm(actor=actor, client=client),
        "preferences_form": PreferencesForm(
            initial={
                "preferred_channel": client.preferred_channel,
                "preferred_contact_time": client.preferred_contact_time,
                "is_confidential": client.is_confidential,
                "lunar_birthday": client.lunar_birthday,
            }
        ),
    }


class ClientDetailView(ClientMixin, DetailView):
    """The client 360: everything the bank knows about one client, on one page.

    Each view is audited. The number of queries does not grow with the client's
    holdings, events or relationships (pinned by a test).
    """

    template_name = "customers/client_detail.html"

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        audit_record(action="view", request=request, obj=self.object)
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        client, actor = self.object, self.actor
        today = timezone.localdate()
        editable = services.client_editable_sections(actor=actor, client=client)
        holdings = selectors.client_holdings(client=client, today=today)
        held_away = selectors.client_held_away_assets(client=client)
        relationships = _relationships_context(
            client, actor, extra_ids={client.referrer_id, client.company_id}
        )
        context.update(
            today=today,
            can={section.value: True for section in editable},
            identity=selectors.client_identity(client),
            age=_age(client.birth_date, today),
            held_away=held_away,
            risk=selectors.client_risk_status(client=client, today=today),
            risk_history=selectors.client_risk_history(client=client),
            needs=selectors.client_needs(client=client),
            life_events=selectors.client_life_events(client=client, today=today),
            team=selectors.client_team(client=client),
            **relationships,
            **_allocation_context(client, today, holdings, held_away),
            **_blank_forms(client, actor),
            # Sections the apps above customers add (client_sections): tiers, plans…
            extra_sections=client_sections.render_client_sections(
                request=self.request, actor=actor, client=client
            ),
        )
        return context


# --- Edits on the 360 page -----------------------------------------------------------


class ClientSectionView(ClientMixin, SingleObjectMixin, View):
    """One section of the 360 page, and one change to it.

    GET shows the section (alone for htmx, in a page of its own without JS); POST makes
    the change through a service. With htmx the answer is the section, re-rendered with
    the form's errors or the fresh data; without JS a success redirects to the 360 page
    and a form error shows the section's page with the messages.
    """

    section: Section
    form_class = None
    item_field: str | None = None  # the POST/GET field naming the row acted on
    success_message = _("Saved.")

    # -- the row acted on --
    def item_queryset(self):
        raise NotImplementedError

    def get_item(self, raw):
        """The row named by ``raw`` among the client's own rows, else 404."""
        try:
            pk = int(raw)
        except (TypeError, ValueError) as error:
            raise Http404 from error
        item = self.item_queryset().filter(pk=pk).first()
        if item is None:
            raise Http404
        return item

    # -- forms --
    def get_form(self, data=None, item=None):
        if self.form_class is None:
            return None
        kwargs = self.form_kwargs()
        if data is None and item is not None:
            kwargs["initial"] = self.initial_for(item)
        return self.form_class(data, **kwargs)

    def form_kwargs(self) -> dict:
        return {}

    def initial_for(self, item) -> dict:
        return {}

    def perform(self, form, item) -> None:
        raise NotImplementedError

    # -- rendering --
    def section_context(self, **extra) -> dict:
        client, actor = self.object, self.actor
        today = timezone.localdate()
        editable = services.client_editable_sections(actor=actor, client=client)
        context = {
            "client": client,
            "today": today,
            "can": {section.value: True for section in editable},
            **_blank_forms(client, actor),
            **SECTION_CONTEXT[self.section](client, actor, today),
        }
        if self.section == Section.HELD_AWAY:
            context.update(_allocation_context(client, today, held_away=context["held_away"]))
            context["allocation_oob"] = True
        context.update(extra)
        return context

    def render_section(self, **extra) -> HttpResponse:
        context = self.section_context(**extra)
        if self.request.htmx:
            template = SECTION_TEMPLATES[self.section]
            return render(self.request, template, context)
        context["section_template"] = SECTION_TEMPLATES[self.section]
        return render(self.request, "customers/client_section.html", context)

    # -- HTTP --
    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        raw = request.GET.get(self.item_field) if self.item_field else None
        if raw is None or self.form_class is None:
            return self.render_section()
        item = self.get_item(raw)
        return self.render_section(**self.editing_context(item, self.get_form(item=item)))

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        # Refuse before validating: a role that may not edit learns nothing from the
        # form's messages. The service checks again, whoever calls it.
        services.client_edit_check(actor=self.actor, client=self.object, section=self.section)
        item = self.get_item(request.POST.get(self.item_field)) if self.item_field else None
        form = self.get_form(data=request.POST, item=item)
        if form is None or form.is_valid():
            try:
                self.perform(form, item)
            except ValidationError as error:
                if form is None:
                    raise
                _add_service_error(form, error)
            else:
                return self.succeeded()
        return self.render_section(**self.invalid_context(form, item))

    def editing_context(self, item, form) -> dict:
        return {}

    def invalid_context(self, form, item) -> dict:
        return {}

    def succeeded(self) -> HttpResponse:
        if self.request.htmx:
            return self.render_section(saved_message=self.success_message)
        messages.success(self.request, self.success_message)
        url = reverse("customers:client-detail", args=[self.object.external_id])
        return HttpResponseRedirect(f"{url}#{SECTION_ANCHORS[self.section]}")


def _add_service_error(form, error: ValidationError) -> None:
    """A service's refusal, shown on the form field it names (or above the form)."""
    if hasattr(error, "error_dict"):
        for field, field_errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, field_errors)
    else:
        form.add_error(None, error)


# Needs


class NeedAddView(ClientSectionView):
    section = Section.NEEDS
    form_class = NeedForm
    success_message = _("Need added.")

    def perform(self, form, item):
        services.need_create(
            actor=self.actor, client=self.object, request=self.request, **form.cleaned_data
        )

    def invalid_context(self, form, item):
        return {"need_form": form}


class NeedAddressView(ClientSectionView):
    section = Section.NEEDS
    item_field = "need"
    success_message = _("Need marked as addressed.")

    def item_queryset(self):
        return self.object.needs.all()

    def perform(self, form, item):
        services.need_mark_addressed(
            actor=self.actor, client=self.object, need=item, request=self.request
        )


class NeedRemoveView(NeedAddressView):
    success_message = _("Need removed.")

    def perform(self, form, item):
        services.need_delete(actor=self.actor, client=self.object, need=item, request=self.request)


# Life events


class LifeEventAddView(ClientSectionView):
    section = Section.LIFE_EVENTS
    form_class = LifeEventForm
    success_message = _("Life event added.")

    def perform(self, form, item):
        services.life_event_create(
            actor=self.actor, client=self.object, request=self.request, **form.cleaned_data
        )

    def invalid_context(self, form, item):
        return {"life_event_form": form}


class LifeEventEditView(ClientSectionView):
    section = Section.LIFE_EVENTS
    form_class = LifeEventForm
    item_field = "event"
    success_message = _("Life event saved.")

    def item_queryset(self):
        return self.object.life_events.all()

    def initial_for(self, item):
        return {"kind": item.kind, "occurs_on": item.occurs_on, "note": item.note}

    def perform(self, form, item):
        services.life_event_update(
            actor=self.actor,
            client=self.object,
            life_event=item,
            request=self.request,
            **form.cleaned_data,
        )

    def form_kwargs(self):
        return {"auto_id": "event-edit-%s"}

    def editing_context(self, item, form):
        return {"editing_event": item.pk, "life_event_edit_form": form}

    def invalid_context(self, form, item):
        return self.editing_context(item, form)


class LifeEventRemoveView(ClientSectionView):
    section = Section.LIFE_EVENTS
    item_field = "event"
    success_message = _("Life event removed.")

    def item_queryset(self):
        return self.object.life_events.all()

    def perform(self, form, item):
        services.life_event_delete(
            actor=self.actor, client=self.object, life_event=item, request=self.request
        )


# Held-away assets


class HeldAwayAddView(ClientSectionView):
    section = Section.HELD_AWAY
    form_class = HeldAwayAssetForm
    success_message = _("Held-away asset added.")

    def perform(self, form, item):
        services.held_away_asset_create(
            actor=self.actor, client=self.object, request=self.request, **form.cleaned_data
        )

    def invalid_context(self, form, item):
        return {"held_away_form": form}


class HeldAwayEditView(ClientSectionView):
    section = Section.HELD_AWAY
    form_class = HeldAwayAssetForm
    item_field = "asset"
    success_message = _("Held-away asset saved.")

    def item_queryset(self):
        return self.object.held_away_assets.all()

    def initial_for(self, item):
        return {
            "kind": item.kind,
            "amount_cny": item.amount_cny,
            "description": item.description,
            "as_of": item.as_of,
        }

    def perform(self, form, item):
        services.held_away_asset_update(
            actor=self.actor,
            client=self.object,
            asset=item,
            request=self.request,
            **form.cleaned_data,
        )

    def form_kwargs(self):
        return {"auto_id": "asset-edit-%s"}

    def editing_context(self, item, form):
        return {"editing_asset": item.pk, "held_away_edit_form": form}

    def invalid_context(self, form, item):
        return self.editing_context(item, form)


class HeldAwayRemoveView(ClientSectionView):
    section = Section.HELD_AWAY
    item_field = "asset"
    success_message = _("Held-away asset removed.")

    def item_queryset(self):
        return self.object.held_away_assets.all()

    def perform(self, form, item):
        services.held_away_asset_delete(
            actor=self.actor, client=self.object, asset=item, request=self.request
        )


# Relationships


class RelationshipAddView(ClientSectionView):
    section = Section.RELATIONSHIPS
    form_class = RelationshipForm
    success_message = _("Relationship added.")

    def form_kwargs(self):
        return {"actor": self.actor, "client": self.object}

    def perform(self, form, item):
        services.relationship_create(
            actor=self.actor,
            client=self.object,
            related=form.cleaned_data["related"],
            kind=form.cleaned_data["kind"],
            request=self.request,
        )

    def invalid_context(self, form, item):
        return {"relationship_form": form}


class RelationshipRemoveView(ClientSectionView):
    section = Section.RELATIONSHIPS
    item_field = "relationship"
    success_message = _("Relationship removed.")

    def item_queryset(self):
        client = self.object
        return Relationship.objects.filter(client=client) | Relationship.objects.filter(
            related=client
        )

    def perform(self, form, item):
        services.relationship_delete(
            actor=self.actor, client=self.object, relationship=item, request=self.request
        )


# Preferences


class PreferencesView(ClientSectionView):
    section = Section.PREFERENCES
    form_class = PreferencesForm
    success_message = _("Contact preferences saved.")

    def perform(self, form, item):
        services.client_preferences_update(
            actor=self.actor, client=self.object, request=self.request, **form.cleaned_data
        )

    def invalid_context(self, form, item):
        return {"preferences_form": form}
