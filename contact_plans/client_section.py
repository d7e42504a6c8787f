"""The "Contact plan" section of the client 360 page, and the changes made from it.

The section shows the client's plan (cadence, last contact, next due date), the open
planned contacts with their talking points, the interaction history, and the forms: log
a contact (answering one of the open planned contacts, or none), plan a contact by
hand, reschedule or cancel one with a reason. Anyone who sees the client may use them;
``contact_plans.services`` checks again and writes.

``customers`` cannot import this app, so the section is registered with the 360 page
through ``customers.client_sections`` from ``ContactPlansConfig.ready``.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import View
from django.views.generic.detail import SingleObjectMixin

from contact_plans import selectors, services
from contact_plans.forms import (
    CancelForm,
    InteractionLogForm,
    PlannedContactCreateForm,
    RescheduleForm,
    add_service_error,
)
from contact_plans.talking_points import attach_talking_points
from customers.client_sections import MAIN, ClientSection
from customers.models import Client
from customers.selectors import client_detail_queryset
from vipcrm.roles import Actor
from vipcrm.views import StaffRequiredMixin

TEMPLATE = "contact_plans/client_section.html"
ANCHOR = "contacts"
ITEM_MODES = ("log", "reschedule", "cancel")


def _log_form(client, open_contacts, data=None, preselect=None) -> InteractionLogForm:
    """The section's log form; unbound, it proposes the client's preferred channel (or
    the chosen contact's) and the contact chosen with its "Log" button."""
    initial = {"channel": client.preferred_channel}
    if preselect is not None:
        initial = {
            "planned_contact": str(preselect.pk),
            "channel": preselect.channel or initial["channel"],
        }
    return InteractionLogForm(
        data, open_contacts=open_contacts, auto_id="contact-log-%s", initial=initial
    )


def contacts_section_context(
    *,
    actor: Actor,
    client: Client,
    log_form: InteractionLogForm | None = None,
    plan_form: PlannedContactCreateForm | None = None,
    editing: tuple[int, str] | None = None,
    item_form=None,
    open_contacts=None,
    **extra,
) -> dict:
    """What the section shows ``actor`` about ``client``: a fixed number of queries."""
    today = timezone.localdate()
    if open_contacts is None:
        open_contacts = selectors.client_open_contacts(client=client)
    attach_talking_points(open_contacts, on=today)
    preselect = None
    if editing is not None and editing[1] == "log":
        preselect = next((c for c in open_contacts if c.pk == editing[0]), None)
    plan = selectors.client_contact_plan(client=client)
    return {
        "client": client,
        "today": today,
        "plan": plan,
        "plan_overdue": bool(plan and plan.next_due_on and plan.next_due_on < today),
        "open_contacts": open_contacts,
        "interactions": selectors.client_interactions(client=client),
        "can_act": actor.staff is not None,
        "log_form": log_form or _log_form(client, open_contacts, preselect=preselect),
        "plan_form": plan_form or PlannedContactCreateForm(auto_id="contact-plan-%s"),
        "editing_pk": editing[0] if editing and editing[1] != "log" else None,
        "editing_mode": editing[1] if editing else "",
        "item_form": item_form,
        **extra,
    }


def render_contacts_section(*, request: HttpRequest, actor: Actor, client: Client) -> SafeString:
    """The section as the client 360 page embeds it (``customers.client_sections``)."""
    return render_to_string(TEMPLATE, contacts_section_context(actor=actor, client=client), request)


CONTACTS_SECTION = ClientSection(
    name="contact_plans.contacts", order=20, render=render_contacts_section, column=MAIN
)


# --- Views ---------------------------------------------------------------------------


class ContactsSectionView(StaffRequiredMixin, SingleObjectMixin, View):
    """The section alone (htmx) or on a page of its own (no JS); GET ``?log=``,
    ``?reschedule=`` or ``?cancel=`` with a planned contact's id opens its form.

    The client comes from the actor's scope: another branch's or bank's client is a 404.
    """

    model = Client  # for introspection (the cross-tenant test); rows come from the selector
    slug_field = "external_id"
    slug_url_kwarg = "external_id"
    context_object_name = "client"
    success_message = _("Saved.")

    def get_queryset(self):
        return client_detail_queryset(actor=self.actor)

    def open_contact(self, raw):
        """One of the client's open planned contacts, else 404."""
        try:
            pk = int(raw)
        except (TypeError, ValueError) as error:
            raise Http404 from error
        contact = next((c for c in self.open_contacts if c.pk == pk), None)
        if contact is None:
            raise Http404
        return contact

    def setup_object(self) -> None:
        self.object = self.get_object()
        self.open_contacts = selectors.client_open_contacts(client=self.object)

    def get(self, request, *args, **kwargs):
        self.setup_object()
        for mode in ITEM_MODES:
            raw = request.GET.get(mode)
            if raw is not None:
                contact = self.open_contact(raw)
                form = None
                if mode == "reschedule":
                    form = RescheduleForm(auto_id=f"contact-reschedule-{contact.pk}-%s")
                elif mode == "cancel":
                    form = CancelForm(auto_id=f"contact-cancel-{contact.pk}-%s")
                return self.render_section(editing=(contact.pk, mode), item_form=form)
        return self.render_section()

    def render_section(self, *, status: int = 200, **extra) -> HttpResponse:
        context = contacts_section_context(
            actor=self.actor, client=self.object, open_contacts=self.open_contacts, **extra
        )
        if self.request.htmx:
            return render(self.request, TEMPLATE, context)
        context["section_template"] = TEMPLATE
        return render(self.request, "customers/client_section.html", context, status=status)

    def succeeded(self, message: str) -> HttpResponse:
        if self.request.htmx:
            self.open_contacts = selectors.client_open_contacts(client=self.object)
            response = self.render_section(saved_message=message)
            response["HX-Trigger"] = "contacts-changed"
            return response
        messages.success(self.request, message)
        url = reverse("customers:client-detail", args=[self.object.external_id])
        return HttpResponseRedirect(f"{url}#{ANCHOR}")

    def post(self, request, *args, **kwargs):
        self.setup_object()
        form, extra = self.bound_form()
        if form.is_valid():
            try:
                message = self.perform(form)
            except ObjectDoesNotExist as error:
                raise Http404 from error
            except ValidationError as error:
                add_service_error(form, error)
            else:
                return self.succeeded(message)
        # htmx swaps only 2xx answers: the form with its errors comes back as 200.
        return self.render_section(status=200 if request.htmx else 400, **extra)

    def bound_form(self):
        raise NotImplementedError

    def perform(self, form) -> str:
        raise NotImplementedError


class ClientInteractionLogView(ContactsSectionView):
    """Log a contact with the client (optionally answering an open planned contact)."""

    def bound_form(self):
        form = _log_form(self.object, self.open_contacts, data=self.request.POST)
        return form, {"log_form": form}

    def perform(self, form) -> str:
        services.interaction_log(
            actor=self.actor, client=self.object, request=self.request, **form.log_arguments()
        )
        plan = selectors.client_contact_plan(client=self.object)
        if plan is not None and plan.next_due_on:
            return gettext("Contact logged. The next contact is due on %(date)s.") % {
                "date": plan.next_due_on.isoformat()
            }
        return gettext("Contact logged.")


class PlannedContactCreateView(ContactsSectionView):
    """Plan a contact by hand (a follow-up, a campaign call…)."""

    def bound_form(self):
        form = PlannedContactCreateForm(self.request.POST, auto_id="contact-plan-%s")
        return form, {"plan_form": form}

    def perform(self, form) -> str:
        data = form.cleaned_data
        services.planned_contact_create(
            actor=self.actor,
            client=self.object,
            reason=data["reason"],
            due_on=data["due_on"],
            channel=data.get("channel") or "",
            note=data.get("note") or "",
            request=self.request,
        )
        return gettext("Contact planned for %(date)s.") % {"date": data["due_on"].isoformat()}


class _ContactChangeView(ContactsSectionView):
    """A change to one open planned contact, named by the POST field ``contact``."""

    mode = ""
    form_class = None

    def bound_form(self):
        self.contact = self.open_contact(self.request.POST.get("contact"))
        form = self.form_class(
            self.request.POST, auto_id=f"contact-{self.mode}-{self.contact.pk}-%s"
        )
        return form, {"editing": (self.contact.pk, self.mode), "item_form": form}


class ClientContactRescheduleView(_ContactChangeView):
    mode = "reschedule"
    form_class = RescheduleForm

    def perform(self, form) -> str:
        services.planned_contact_reschedule(
            actor=self.actor,
            planned_contact=self.contact,
            due_on=form.cleaned_data["due_on"],
            reason=form.cleaned_data["reason"],
            request=self.request,
        )
        return gettext("Contact moved to %(date)s.") % {
            "date": form.cleaned_data["due_on"].isoformat()
        }


class ClientContactCancelView(_ContactChangeView):
    mode = "cancel"
    form_class = CancelForm

    def perform(self, form) -> str:
        services.planned_contact_cancel(
            actor=self.actor,
            planned_contact=self.contact,
            reason=form.cleaned_data["reason"],
            request=self.request,
        )
        return gettext("Planned contact cancelled.")
