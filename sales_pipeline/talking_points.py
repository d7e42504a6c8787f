"""The sales pipeline's talking points for planned contacts (registered with
``contact_plans.talking_points`` from ``SalesPipelineConfig.ready``).

- Every contact with a client who has open opportunities: each of them (up to
  ``OPPORTUNITIES_SHOWN``, oldest first), with its step, title and expected amount —
  "Open opportunity at step 2 (Contact & assess needs): 到期理财续作, expected ¥500,000.00".
- An after-sales check-in planned by a win: which sale it follows, when it was won and
  for how much, and what to ask.

One query for the whole list of contacts (none when the list is empty).
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal

from django.db.models import Q
from django.utils.translation import gettext

from contact_plans.models import PlannedContact
from sales_pipeline.models import Opportunity, Step

OPPORTUNITIES_SHOWN = 3
CHECK_IN_KEY = re.compile(r"^opportunity:(\d+):check_in:(\d+)$")  # made by opportunity_win


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _check_in(contact: PlannedContact) -> tuple[int, int] | None:
    """(opportunity id, days after the sale) of an after-sales check-in, else None."""
    if contact.reason != PlannedContact.Reason.FOLLOW_UP:
        return None
    match = CHECK_IN_KEY.match(contact.source_key or "")
    return (int(match[1]), int(match[2])) if match else None


def opportunity_talking_points(
    contacts: Sequence[PlannedContact], *, on: datetime.date
) -> Mapping[int, list[str]]:
    """``{planned contact id: lines}`` about the contacts' clients' open opportunities
    and the sales their after-sales check-ins follow (one query)."""
    check_ins = {contact.pk: found for contact in contacts if (found := _check_in(contact))}
    client_ids = {contact.client_id for contact in contacts}
    if not client_ids:
        return {}
    wanted = Q(client_id__in=client_ids, status=Opportunity.Status.OPEN)
    if check_ins:
        wanted |= Q(pk__in={pk for pk, _days in check_ins.values()})
    opportunities = Opportunity.objects.filter(wanted).order_by("created_at", "id")
    open_by_client: dict[int, list[Opportunity]] = defaultdict(list)
    by_pk: dict[int, Opportunity] = {}
    for opportunity in opportunities:
        by_pk[opportunity.pk] = opportunity
        if opportunity.status == Opportunity.Status.OPEN:
            open_by_client[opportunity.client_id].append(opportunity)
    lines: dict[int, list[str]] = {}
    for contact in contacts:
        found: list[str] = []
        if contact.pk in check_ins:
            pk, days = check_ins[contact.pk]
            sale = by_pk.get(pk)
            if sale is not None and sale.client_id == contact.client_id:
                found.append(_check_in_line(sale, days, won_on=contact.source_date))
        found.extend(
            _open_line(opportunity)
            for opportunity in open_by_client.get(contact.client_id, [])[:OPPORTUNITIES_SHOWN]
        )
        if found:
            lines[contact.pk] = found
    return lines


def _open_line(opportunity: Opportunity) -> str:
    values = {
        "step": opportunity.step,
        "label": Step(opportunity.step).label,
        "title": opportunity.title,
    }
    if opportunity.expected_amount_cny is None:
        return gettext("Open opportunity at step %(step)s (%(label)s): %(title)s.") % values
    values["amount"] = _money(opportunity.expected_amount_cny)
    return (
        gettext("Open opportunity at step %(step)s (%(label)s): %(title)s, expected ¥%(amount)s.")
        % values
    )


def _check_in_line(sale: Opportunity, days: int, *, won_on: datetime.date | None) -> str:
    return gettext(
        "After-sales check-in, %(days)s days after the sale of %(title)s (won on %(date)s, "
        "¥%(amount)s): ask how it suits the client, and about other needs and referrals."
    ) % {
        "days": days,
        "title": sale.title,
        "date": won_on.isoformat() if won_on else "—",
        "amount": _money(sale.won_amount_cny) if sale.won_amount_cny is not None else "—",
    }
