"""Talking points (谈话要点): what an RM should bring up in a planned contact.

Generated from what the bank knows — never stored, so they are always current and in
the reader's language — and deterministic: the same data on the same day gives the same
lines in the same order:

1. why the contact is planned: the maturing holding (product, amount in CNY, date, days
   left), the birthday, the festival, the life event, the regular cadence, the note;
2. the risk profile: alternatives for a maturing holding among the bank's products
   whose risk level the client's *valid* assessment allows (Rn for Cn or higher) — or,
   when the assessment is missing or expired, that it must be renewed first (no product
   may be proposed before); an assessment expiring within 30 days;
3. the product preference (the client's largest category, from segmentation);
4. recent and upcoming life events, open needs, the next step agreed at the last
   contact;
5. lines from other apps (the sales pipeline's open opportunities) through
   ``register_talking_point_source``.

``talking_points_many`` computes them for a whole list of planned contacts in a
constant number of queries (a page of rows never costs a query per row).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal

from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext, ngettext

from contact_plans.models import ContactPlan, Interaction, PlannedContact
from customers.models import Client, LifeEvent, Need, Product
from segmentation.models import ClientSegment

TalkingPointSource = Callable[..., Mapping[int, Sequence[str]]]

ALTERNATIVES_SHOWN = 3
RISK_EXPIRY_NOTICE_DAYS = 30
LIFE_EVENTS_BEFORE_DAYS = 90  # a life event this recent is still worth mentioning
LIFE_EVENTS_AFTER_DAYS = 60  # and one this close ahead
LIFE_EVENTS_SHOWN = 3

# Where a maturing holding's money could go next, nearest first: the same category,
# then the neighbouring ones a client of that habit usually accepts.
NEIGHBOUR_CATEGORIES: dict[str, tuple[str, ...]] = {
    Product.Category.DEPOSIT: (
        Product.Category.TIME_DEPOSIT,
        Product.Category.WEALTH_MANAGEMENT,
    ),
    Product.Category.TIME_DEPOSIT: (
        Product.Category.TIME_DEPOSIT,
        Product.Category.WEALTH_MANAGEMENT,
        Product.Category.BOND,
    ),
    Product.Category.WEALTH_MANAGEMENT: (
        Product.Category.WEALTH_MANAGEMENT,
        Product.Category.TIME_DEPOSIT,
        Product.Category.BOND,
        Product.Category.FUND,
    ),
    Product.Category.BOND: (
        Product.Category.BOND,
        Product.Category.WEALTH_MANAGEMENT,
        Product.Category.FUND,
    ),
    Product.Category.FUND: (
        Product.Category.FUND,
        Product.Category.WEALTH_MANAGEMENT,
        Product.Category.BOND,
    ),
    Product.Category.INSURANCE: (Product.Category.INSURANCE, Product.Category.WEALTH_MANAGEMENT),
    Product.Category.TRUST: (Product.Category.TRUST, Product.Category.WEALTH_MANAGEMENT),
    Product.Category.PRECIOUS_METAL: (Product.Category.PRECIOUS_METAL, Product.Category.FUND),
    Product.Category.OTHER: (Product.Category.WEALTH_MANAGEMENT, Product.Category.TIME_DEPOSIT),
}

_sources: dict[str, TalkingPointSource] = {}


def register_talking_point_source(source: TalkingPointSource) -> None:
    """Add lines from another app (e.g. the sales pipeline's open opportunities).

    ``source(contacts, *, on)`` receives the planned contacts (with ``client`` loaded)
    and returns ``{planned contact id: [line, ...]}``, translated, for those it has
    something to say about — in a constant number of queries for the whole list.
    Registering the same function again replaces it (``AppConfig.ready`` may run twice).
    """
    _sources[f"{source.__module__}.{source.__qualname__}"] = source


def talking_point_sources() -> list[TalkingPointSource]:
    return [_sources[key] for key in sorted(_sources)]


def talking_points_for(planned_contact: PlannedContact, *, on: datetime.date) -> list[str]:
    """The talking points of one planned contact on ``on``."""
    return talking_points_many([planned_contact], on=on)[planned_contact.pk]


def talking_points_many(
    contacts: Iterable[PlannedContact], *, on: datetime.date
) -> dict[int, list[str]]:
    """``{planned contact id: talking points}`` for many contacts, in a fixed number of
    queries (about six, none when the list is empty), whatever their number."""
    contacts = list(contacts)
    if not contacts:
        return {}
    facts = _Facts.load(contacts, on=on)
    extra: dict[int, list[str]] = defaultdict(list)
    for source in talking_point_sources():
        for pk, lines in source(contacts, on=on).items():
            extra[pk].extend(lines)
    return {
        contact.pk: [*_points(contact, facts, on), *extra.get(contact.pk, [])]
        for contact in contacts
    }


def attach_talking_points(contacts: Iterable[PlannedContact], *, on: datetime.date) -> list:
    """Set ``contact.talking_points`` on each contact (for templates); returns the list."""
    contacts = list(contacts)
    points = talking_points_many(contacts, on=on)
    for contact in contacts:
        contact.talking_points = points.get(contact.pk, [])
    return contacts


# --- What is known about the clients, loaded once for the list -------------------------


class _Facts:
    """Everything the lines need about the contacts' clients, one query per kind."""

    def __init__(self) -> None:
        self.plans: dict[int, ContactPlan] = {}
        self.preferences: dict[int, str] = {}
        self.life_events: dict[int, list[LifeEvent]] = defaultdict(list)
        self.needs: dict[int, list[Need]] = defaultdict(list)
        self.last_interactions: dict[int, Interaction] = {}
        self.products: list[Product] = []

    @classmethod
    def load(cls, contacts: list[PlannedContact], *, on: datetime.date) -> _Facts:
        facts = cls()
        client_ids = sorted({contact.client_id for contact in contacts})
        facts.plans = {
            plan.client_id: plan for plan in ContactPlan.objects.filter(client_id__in=client_ids)
        }
        facts.preferences = dict(
            ClientSegment.objects.filter(client_id__in=client_ids)
            .exclude(product_preference="")
            .values_list("client_id", "product_preference")
        )
        events = LifeEvent.objects.filter(
            client_id__in=client_ids,
            occurs_on__gte=on - datetime.timedelta(days=LIFE_EVENTS_BEFORE_DAYS),
            occurs_on__lte=on + datetime.timedelta(days=LIFE_EVENTS_AFTER_DAYS),
        ).order_by("client_id", "-occurs_on", "id")
        for event in events:
            facts.life_events[event.client_id].append(event)
        needs = Need.objects.filter(client_id__in=client_ids, is_open=True).order_by(
            "client_id", "kind"
        )
        for need in needs:
            facts.needs[need.client_id].append(need)
        latest = (
            Interaction.objects.filter(client_id__in=client_ids)
            .annotate(
                rank=Window(
                    RowNumber(),
                    partition_by=[F("client_id")],
                    order_by=[F("occurred_at").desc(), F("id").desc()],
                )
            )
            .filter(rank=1)
        )
        facts.last_interactions = {item.client_id: item for item in latest}
        facts.products = _alternative_candidates(contacts, on=on)
        return facts


def _level(code: str) -> int:
    """``"C3"`` / ``"R3"`` → 3 (0 for an empty or unknown level)."""
    return int(code[1:]) if len(code) == 2 and code[1:].isdigit() else 0


def _maturing_category(contact: PlannedContact) -> str | None:
    holding = contact.holding if contact.holding_id else None
    if contact.reason != PlannedContact.Reason.MATURITY or holding is None:
        return None
    return holding.product.category


def _alternative_candidates(contacts: list[PlannedContact], *, on: datetime.date) -> list:
    """The products that may be suggested to any of these clients: of a category near a
    maturing holding's, and of a risk level some client's valid assessment allows."""
    categories: set[str] = set()
    top_level = 0
    for contact in contacts:
        category = _maturing_category(contact)
        if category is None or not contact.client.risk_is_valid(on):
            continue
        categories.update(NEIGHBOUR_CATEGORIES.get(category, (category,)))
        top_level = max(top_level, _level(contact.client.risk_level))
    if not categories:
        return []
    allowed = [f"R{level}" for level in range(1, top_level + 1)]
    return list(
        Product.objects.filter(category__in=sorted(categories), risk_level__in=allowed)
        .only("pk", "code", "name", "category", "risk_level")
        .order_by("code")
    )


# --- The lines ---------------------------------------------------------------------


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _date(value: datetime.date) -> str:
    return value.isoformat()


def _points(contact: PlannedContact, facts: _Facts, on: datetime.date) -> list[str]:
    client: Client = contact.client
    lines: list[str] = []
    lines.extend(_reason_lines(contact, facts, on))
    lines.extend(_risk_lines(contact, facts, on))
    preference = facts.preferences.get(client.pk)
    if preference:
        lines.append(
            gettext("Product preference: %(category)s (the largest share of the holdings).")
            % {"category": Product.Category(preference).label}
        )
    for event in facts.life_events.get(client.pk, [])[:LIFE_EVENTS_SHOWN]:
        if contact.reason == PlannedContact.Reason.LIFE_EVENT and event.pk == contact.life_event_id:
            continue  # already the reason line
        lines.append(_life_event_line(event, on))
    needs = facts.needs.get(client.pk, [])
    if needs:
        lines.append(
            gettext("Open needs: %(needs)s.")
            % {"needs": gettext(", ").join(str(need.get_kind_display()) for need in needs)}
        )
    last = facts.last_interactions.get(client.pk)
    if last is not None and last.next_step:
        values = {
            "date": _date(last.occurred_at.date()),
            "channel": last.get_channel_display(),
            "step": last.next_step,
        }
        if last.next_step_on:
            values["due"] = _date(last.next_step_on)
            lines.append(
                gettext(
                    "Next step agreed at the last contact (%(channel)s, %(date)s): "
                    "%(step)s — by %(due)s."
                )
                % values
            )
        else:
            lines.append(
                gettext("Next step agreed at the last contact (%(channel)s, %(date)s): %(step)s.")
                % values
            )
    return lines


def _days_phrase(days: int) -> str:
    if days == 0:
        return gettext("today")
    if days > 0:
        return ngettext("in %(days)d day", "in %(days)d days", days) % {"days": days}
    return ngettext("%(days)d day ago", "%(days)d days ago", -days) % {"days": -days}


def _reason_lines(contact: PlannedContact, facts: _Facts, on: datetime.date) -> list[str]:
    Reason = PlannedContact.Reason
    client = contact.client
    lines = []
    if contact.reason == Reason.MATURITY:
        holding = contact.holding if contact.holding_id else None
        when = contact.source_date or (holding.matures_on if holding else None)
        amount = contact.amount_cny
        if amount is None and holding is not None and holding.currency == "CNY":
            amount = holding.balance
        values = {
            "product": holding.product.name if holding else gettext("A holding"),
            "amount": _money(amount) if amount is not None else "—",
            "date": _date(when) if when else "—",
            "days": _days_phrase((when - on).days) if when else "—",
        }
        lines.append(
            gettext("%(product)s matures on %(date)s (%(days)s): %(amount)s CNY to reinvest.")
            % values
        )
    elif contact.reason == Reason.BIRTHDAY:
        when = contact.source_date or contact.due_on
        values = {"date": _date(when), "days": _days_phrase((when - on).days)}
        if client.lunar_birthday:
            lines.append(
                gettext(
                    "Birthday on %(date)s (%(days)s), by the lunar calendar (农历): send greetings."
                )
                % values
            )
        else:
            lines.append(gettext("Birthday on %(date)s (%(days)s): send greetings.") % values)
    elif contact.reason == Reason.FESTIVAL:
        when = contact.source_date or contact.due_on
        lines.append(
            gettext("%(festival)s on %(date)s (%(days)s): greetings and the tier's festival care.")
            % {
                "festival": _festival_name(contact.source_key),
                "date": _date(when),
                "days": _days_phrase((when - on).days),
            }
        )
    elif contact.reason == Reason.LIFE_EVENT and contact.life_event_id:
        lines.append(_life_event_line(contact.life_event, on))
    elif contact.reason == Reason.CADENCE:
        plan = facts.plans.get(client.pk)
        if plan is not None and plan.last_contact_on:
            lines.append(
                ngettext(
                    "Regular contact: the last one was on %(date)s, %(days)d day ago "
                    "(every %(cadence)s days for this tier).",
                    "Regular contact: the last one was on %(date)s, %(days)d days ago "
                    "(every %(cadence)s days for this tier).",
                    (on - plan.last_contact_on).days,
                )
                % {
                    "date": _date(plan.last_contact_on),
                    "days": (on - plan.last_contact_on).days,
                    "cadence": plan.cadence_days or "—",
                }
            )
        else:
            lines.append(gettext("Regular contact: no contact recorded yet."))
    if contact.note:
        lines.append(gettext("Note: %(note)s") % {"note": contact.note})
    return lines


def _festival_name(source_key: str) -> str:
    """The festival of a ``festival:<name>:<year>`` source key."""
    name = source_key.split(":")[1] if source_key.count(":") >= 2 else ""
    if name == "spring":
        return gettext("Spring Festival (春节)")
    if name == "mid_autumn":
        return gettext("Mid-Autumn Festival (中秋节)")
    return gettext("Festival")


def _life_event_line(event: LifeEvent, on: datetime.date) -> str:
    values = {
        "event": event.get_kind_display(),
        "date": _date(event.occurs_on),
        "days": _days_phrase((event.occurs_on - on).days),
    }
    if event.note:
        values["note"] = event.note
        return gettext("Life event: %(event)s on %(date)s (%(days)s) — %(note)s") % values
    return gettext("Life event: %(event)s on %(date)s (%(days)s).") % values


def _risk_lines(contact: PlannedContact, facts: _Facts, on: datetime.date) -> list[str]:
    client = contact.client
    lines = []
    maturing = _maturing_category(contact)
    expires = client.risk_expires_on
    if not client.risk_level or expires is None:
        lines.append(
            gettext("No risk assessment on file: it must be done before any product is proposed.")
        )
        return lines
    if not client.risk_is_valid(on):
        lines.append(
            gettext(
                "The risk assessment (%(level)s) expired on %(date)s: it must be renewed "
                "before any product is proposed."
            )
            % {"level": client.get_risk_level_display(), "date": _date(expires)}
        )
        return lines
    days_left = (expires - on).days
    if days_left <= RISK_EXPIRY_NOTICE_DAYS:
        lines.append(
            ngettext(
                "The risk assessment (%(level)s) expires on %(date)s, in %(days)d day: "
                "arrange the re-assessment.",
                "The risk assessment (%(level)s) expires on %(date)s, in %(days)d days: "
                "arrange the re-assessment.",
                days_left,
            )
            % {"level": client.get_risk_level_display(), "date": _date(expires), "days": days_left}
        )
    if maturing is not None:
        alternatives = _alternatives(contact, facts, maturing)
        if alternatives:
            lines.append(
                gettext("Suitable for %(level)s: %(products)s.")
                % {
                    "level": client.get_risk_level_display(),
                    "products": gettext(", ").join(
                        f"{product.name} ({product.risk_level})" for product in alternatives
                    ),
                }
            )
    return lines


def _alternatives(contact: PlannedContact, facts: _Facts, category: str) -> list[Product]:
    """Up to three products for the maturing money: nearest category first, then the
    highest risk level the client accepts (closest to their profile), then by code."""
    order = NEIGHBOUR_CATEGORIES.get(category, (category,))
    ceiling = _level(contact.client.risk_level)
    current = contact.holding.product_id
    candidates = [
        product
        for product in facts.products
        if product.category in order
        and _level(product.risk_level) <= ceiling
        and product.pk != current
    ]
    candidates.sort(key=lambda p: (order.index(p.category), -_level(p.risk_level), p.code, p.pk))
    return candidates[:ALTERNATIVES_SHOWN]
