"""Reading opportunities: always through ``vipcrm.roles.visible_to``.

RMs see the opportunities they own and those of clients whose team they are on;
advisors those of their team's clients; supervisors their branch subtree's (by the
client's home branch); head office and integration tokens the whole bank.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from customers.models import Client
from sales_pipeline.models import Opportunity, ProposalLine, StepEntry
from vipcrm.roles import Actor, visible_to


def opportunity_list(*, actor: Actor | None) -> QuerySet[Opportunity]:
    """The opportunities ``actor`` may see, with what a row shows (client, tier, owner)."""
    return visible_to(
        Opportunity.objects.select_related("client", "client__tier", "client__branch", "owner_rm"),
        actor,
    )


def opportunity_detail_queryset(*, actor: Actor | None) -> QuerySet[Opportunity]:
    """As ``opportunity_list``, with the steps, proposals and their lines, credits,
    advisors and products of interest prefetched (a fixed number of queries)."""
    return opportunity_list(actor=actor).prefetch_related(
        Prefetch("step_entries", queryset=StepEntry.objects.select_related("entered_by")),
        "proposals",
        Prefetch(
            "proposals__lines",
            queryset=ProposalLine.objects.select_related("product").order_by("id"),
        ),
        "credits__staff",
        "advisors",
        "products_of_interest",
    )


def client_opportunities(*, client: Client) -> QuerySet[Opportunity]:
    """One client's opportunities, newest first (the client's own visibility has been
    checked by whoever shows the client)."""
    return Opportunity.objects.filter(client=client).select_related("owner_rm")
