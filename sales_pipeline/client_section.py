"""The sales pipeline's section of the client 360 page: the client's opportunities on
the board (step, amount, days in the step, whether the step's requirement is met), the
latest closed ones, and a link to open a new one (RMs and advisors).

``customers`` cannot import this app, so the section is registered with the 360 page
through ``customers.client_sections`` from ``SalesPipelineConfig.ready``.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.generic import View
from django.views.generic.detail import SingleObjectMixin

from customers.client_sections import MAIN, ClientSection
from customers.models import Client
from customers.selectors import client_detail_queryset
from sales_pipeline import board
from sales_pipeline.views import is_writer
from vipcrm.roles import Actor
from vipcrm.views import StaffRequiredMixin

TEMPLATE = "sales_pipeline/client_section.html"


def opportunities_section_context(*, actor: Actor, client: Client) -> dict:
    """What the section shows ``actor`` about ``client``: two queries."""
    return {
        "client": client,
        "pipeline": board.client_pipeline(client=client, now=timezone.now()),
        "can_open": is_writer(actor),
    }


def render_opportunities_section(
    *, request: HttpRequest, actor: Actor, client: Client
) -> SafeString:
    """The section as the client 360 page embeds it (``customers.client_sections``)."""
    context = opportunities_section_context(actor=actor, client=client)
    return render_to_string(TEMPLATE, context, request)


OPPORTUNITIES_SECTION = ClientSection(
    name="sales_pipeline.opportunities", order=15, render=render_opportunities_section, column=MAIN
)


class OpportunitiesSectionView(StaffRequiredMixin, SingleObjectMixin, View):
    """The section alone (htmx) or on a page of its own (no JS). The client comes from
    the actor's scope: another branch's or bank's client is a 404."""

    model = Client  # for introspection (the cross-tenant test); rows come from the selector
    slug_field = "external_id"
    slug_url_kwarg = "external_id"
    context_object_name = "client"

    def get_queryset(self):
        return client_detail_queryset(actor=self.actor)

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        context = opportunities_section_context(actor=self.actor, client=self.object)
        if request.htmx:
            return render(request, TEMPLATE, context)
        context["section_template"] = TEMPLATE
        return render(request, "customers/client_section.html", context)
