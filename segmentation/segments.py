"""Saved segments (目标客户名单): named, multi-dimensional filters over clients, used as
target lists and exported as CSV or XLSX.

A segment's ``criteria`` is a versioned JSON object (schema below). It is validated on
every save (``criteria_clean``: unknown keys or bad values are field errors, never a
500) and translated into ONE queryset of clients (``criteria_filter``: ``Exists`` and
subqueries, no Python loop over clients). That queryset is always intersected with the
clients the *viewing* user may see (``customers.selectors.client_list``), so a segment
shared by a colleague shows each reader only their own clients.

Who sees a segment: its owner; and, when it is shared, the owner's branch colleagues
and whoever's role scope covers the owner's branch (a supervisor for the branches under
them, head office for the bank). Only the owner changes or deletes it.

Criteria, version 1 — every key optional; an empty object matches every client in view:

===========================  ===========================================================
``version``                  1
``tiers``                    tier codes; ``"-"`` stands for "not VIP" (no tier)
``aum_min`` / ``aum_max``    current AUM (CNY, ``Client.aum_cny``), inclusive, as text
``average_aum_min`` / ``…max``  average daily AUM (CNY, ``ClientSegment.average_aum_cny``)
``lifecycles``               ``ClientSegment.lifecycle``: new, growing, stable, declining,
                             dormant
``open_needs``               has at least one of these need kinds still open
``entrepreneur``             true / false
``risk_levels``              C1…C5
``risk_expired``             true: never assessed or assessed 365+ days ago; false: valid
``product_preferences``      ``ClientSegment.product_preference`` (product categories)
``holds_categories``         holds an active product of one of these categories
``branches``                 branch codes, each with its sub-branches
``owner_rms``                staff codes of owner RMs
``maturing_within_days``     an active holding matures from today to today + N days
``age_min`` / ``age_max``    age in whole years today, inclusive
``birth_months``             1…12
``genders``                  M, F
``preferred_channels``       the client's preferred contact channel
``life_events``              life event kinds (any kind when only the days are given)
``life_event_within_days``   the event falls within N days of today, before or after
===========================  ===========================================================

Segment dimensions (average AUM, lifecycle, product preference) come from the nightly
``ClientSegment`` row; a client without one does not match them.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from customers.models import (
    RISK_VALIDITY_DAYS,
    Channel,
    Client,
    Holding,
    LifeEvent,
    Need,
    Product,
    RiskLevel,
    Tier,
)
from customers.selectors import client_identity, client_list
from segmentation.models import ClientSegment, Lifecycle, SavedSegment
from vipcrm.audit import audit_record
from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import Actor, scope_q

CRITERIA_VERSION = 1
NON_VIP = "-"  # in ``tiers``: clients without a tier
MAX_AMOUNT = Decimal("9999999999999999.99")  # what ``MONEY`` (18 digits, 2 places) holds
CENT = Decimal("0.01")
PREVIEW_SIZE = 25
COUNT_CAP = 10_000  # counts above this read "10,000+": counting further is not worth a scan
EXPORT_ROW_CAP = 100_000

# The label of each criterion: the builder's field labels and the segment page's summary.
LABELS: dict[str, Any] = {
    "tiers": _("Tier"),
    "aum_min": _("AUM from (CNY)"),
    "aum_max": _("AUM up to (CNY)"),
    "average_aum_min": _("Average daily AUM from (CNY)"),
    "average_aum_max": _("Average daily AUM up to (CNY)"),
    "lifecycles": _("Lifecycle"),
    "open_needs": _("Open needs"),
    "entrepreneur": _("Entrepreneur"),
    "risk_levels": _("Risk level"),
    "risk_expired": _("Risk assessment"),
    "product_preferences": _("Product preference"),
    "holds_categories": _("Holds a product of"),
    "branches": _("Branch (with its sub-branches)"),
    "owner_rms": _("Owner RM"),
    "maturing_within_days": _("Holding maturing within (days)"),
    "age_min": _("Age from"),
    "age_max": _("Age up to"),
    "birth_months": _("Birth month"),
    "genders": _("Gender"),
    "preferred_channels": _("Preferred channel"),
    "life_events": _("Life event"),
    "life_event_within_days": _("Life event within (days, before or after today)"),
}

MONTH_CHOICES = [(str(number), name) for number, name in MONTHS.items()]


# --- The criteria schema ------------------------------------------------------------


def _choices(values: Iterable[str]) -> Callable[[Any], list[str]]:
    """A list of distinct values, each one of ``values`` (kept in the given order)."""
    allowed = list(values)

    def clean(raw: Any) -> list[str]:
        if isinstance(raw, str) or not isinstance(raw, list | tuple):
            raise ValidationError(_("Expected a list of choices."), code="not_a_list")
        wrong = [str(v) for v in raw if not isinstance(v, str) or v not in allowed]
        if wrong:
            raise ValidationError(
                _("Not one of the choices: %(values)s.") % {"values": ", ".join(wrong)},
                code="invalid_choice",
            )
        return [value for value in allowed if value in raw]

    return clean


def _codes(raw: Any) -> list[str]:
    """A list of codes of the tenant's tiers, branches or staff (checked in the database)."""
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise ValidationError(_("Expected a list of choices."), code="not_a_list")
    if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in raw):
        raise ValidationError(_("Expected a list of codes."), code="invalid_code")
    return sorted(set(raw))


def _amount(raw: Any) -> str:
    message = _("Enter an amount in CNY from 0 to 9,999,999,999,999,999.99.")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise ValidationError(message, code="invalid_amount")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation as error:
        raise ValidationError(message, code="invalid_amount") from error
    if not value.is_finite() or value < 0 or value > MAX_AMOUNT:
        raise ValidationError(message, code="invalid_amount")
    return str(value.quantize(CENT))


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def clean(raw: Any) -> int:
        message = _("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw.strip())
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            raise ValidationError(message, code="invalid_number")
        return raw

    return clean


def _yes_no(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValidationError(_("Expected true or false."), code="invalid_boolean")
    return raw


def _months(raw: Any) -> list[int]:
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise ValidationError(_("Expected a list of choices."), code="not_a_list")
    months = set()
    for value in raw:
        month = int(value) if isinstance(value, str) and value.isdigit() else value
        if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
            raise ValidationError(_("A month is a number from 1 to 12."), code="invalid_month")
        months.add(month)
    return sorted(months)


CATEGORIES = Product.Category.values

# Each key of version 1 and how its value is checked and normalised.
SCHEMA: dict[str, Callable[[Any], Any]] = {
    "tiers": _codes,
    "aum_min": _amount,
    "aum_max": _amount,
    "average_aum_min": _amount,
    "average_aum_max": _amount,
    "lifecycles": _choices(Lifecycle.values),
    "open_needs": _choices(Need.Kind.values),
    "entrepreneur": _yes_no,
    "risk_levels": _choices(RiskLevel.values),
    "risk_expired": _yes_no,
    "product_preferences": _choices(CATEGORIES),
    "holds_categories": _choices(CATEGORIES),
    "branches": _codes,
    "owner_rms": _codes,
    "maturing_within_days": _whole(1, 365),
    "age_min": _whole(0, 120),
    "age_max": _whole(0, 120),
    "birth_months": _months,
    "genders": _choices(Client.Gender.values),
    "preferred_channels": _choices(Channel.values),
    "life_events": _choices(LifeEvent.Kind.values),
    "life_event_within_days": _whole(1, 3650),
}
RANGES = [("aum_min", "aum_max"), ("average_aum_min", "average_aum_max"), ("age_min", "age_max")]
# Codes that must name rows of the current tenant: key → (model, what the message calls it).
REFERENCES: dict[str, tuple[type, Any]] = {
    "tiers": (Tier, _("No tier with the code %(codes)s in this bank.")),
    "branches": (Branch, _("No branch with the code %(codes)s in this bank.")),
    "owner_rms": (StaffProfile, _("No staff member with the code %(codes)s in this bank.")),
}


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def criteria_clean(raw: Any) -> dict[str, Any]:
    """``raw`` checked against the schema and normalised (empty criteria dropped).

    Raises ``ValidationError`` whose ``error_dict`` is keyed by criterion (the builder
    form's field names); problems with the whole object go under ``__all__``. Codes of
    tiers, branches and staff are checked against the current tenant (one query each).
    """
    if not isinstance(raw, dict):
        raise ValidationError(
            {NON_FIELD_ERRORS: _("The criteria must be a JSON object.")}, code="invalid"
        )
    errors: dict[str, list] = {}
    version = raw.get("version", CRITERIA_VERSION)
    if version != CRITERIA_VERSION:
        errors[NON_FIELD_ERRORS] = [
            ValidationError(
                _("Unsupported criteria version: %(version)s.") % {"version": version},
                code="version",
            )
        ]
    unknown = sorted(str(key) for key in raw if key != "version" and key not in SCHEMA)
    if unknown:
        errors.setdefault(NON_FIELD_ERRORS, []).append(
            ValidationError(
                _("Unknown criteria: %(keys)s.") % {"keys": ", ".join(unknown)}, code="unknown"
            )
        )
    cleaned: dict[str, Any] = {}
    for key, clean in SCHEMA.items():
        value = raw.get(key)
        if _is_empty(value):
            continue
        try:
            cleaned[key] = clean(value)
        except ValidationError as error:
            errors[key] = [error]
    for low, high in RANGES:
        if low in cleaned and high in cleaned and _number(cleaned[low]) > _number(cleaned[high]):
            errors[high] = [
                ValidationError(_("This is below the lower bound."), code="inverted_range")
            ]
    for key, (model, message) in REFERENCES.items():
        codes = set(cleaned.get(key, ())) - ({NON_VIP} if key == "tiers" else set())
        if codes and key not in errors:
            found = set(model.objects.filter(code__in=codes).values_list("code", flat=True))
            if missing := sorted(codes - found):
                errors[key] = [
                    ValidationError(message % {"codes": ", ".join(missing)}, code="not_found")
                ]
    if errors:
        raise ValidationError(errors)
    return {"version": CRITERIA_VERSION, **cleaned}


def _number(value: Any) -> Decimal:
    return Decimal(str(value))


# --- Criteria → one queryset --------------------------------------------------------


def _years_before(day: datetime.date, years: int) -> datetime.date:
    """The same day ``years`` earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _branch_subtrees(codes: Iterable[str]) -> list[int]:
    """The branches with these codes and every branch below them (one query)."""
    rows = list(Branch.objects.values_list("pk", "parent_id", "code"))
    children: dict[int | None, list[int]] = {}
    for pk, parent_id, _code in rows:
        children.setdefault(parent_id, []).append(pk)
    wanted = set(codes)
    found: set[int] = set()
    stack = [pk for pk, _parent, code in rows if code in wanted]
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(children.get(current, []))
    return sorted(found)


def criteria_filter(
    clients: QuerySet[Client], criteria: dict[str, Any], *, today: datetime.date
) -> QuerySet[Client]:
    """``clients`` narrowed by (clean) ``criteria``: one WHERE clause of column tests and
    ``EXISTS`` subqueries. Reading the branch tree is the only extra query."""
    c = criteria
    q = Q()
    if tiers := c.get("tiers"):
        codes = [code for code in tiers if code != NON_VIP]
        tier_q = Q(tier__isnull=True) if NON_VIP in tiers else Q(pk__in=[])
        if codes:
            tier_q |= Q(tier__in=Tier.objects.filter(code__in=codes).values("pk"))
        q &= tier_q
    if "aum_min" in c:
        q &= Q(aum_cny__gte=Decimal(c["aum_min"]))
    if "aum_max" in c:
        q &= Q(aum_cny__lte=Decimal(c["aum_max"]))

    # The nightly segment row: every condition on it in one EXISTS (one row per client).
    segment_q = Q()
    if "average_aum_min" in c:
        segment_q &= Q(average_aum_cny__gte=Decimal(c["average_aum_min"]))
    if "average_aum_max" in c:
        segment_q &= Q(average_aum_cny__lte=Decimal(c["average_aum_max"]))
    if lifecycles := c.get("lifecycles"):
        segment_q &= Q(lifecycle__in=lifecycles)
    if preferences := c.get("product_preferences"):
        segment_q &= Q(product_preference__in=preferences)
    if segment_q:
        q &= Q(Exists(ClientSegment.objects.filter(segment_q, client=OuterRef("pk"))))

    if needs := c.get("open_needs"):
        open_needs = Need.objects.filter(client=OuterRef("pk"), is_open=True, kind__in=needs)
        q &= Q(Exists(open_needs))
    if "entrepreneur" in c:
        q &= Q(is_entrepreneur=c["entrepreneur"])
    if levels := c.get("risk_levels"):
        q &= Q(risk_level__in=levels)
    if "risk_expired" in c:
        expired = (
            Q(risk_level="")
            | Q(risk_assessed_on__isnull=True)
            | Q(risk_assessed_on__lte=today - datetime.timedelta(days=RISK_VALIDITY_DAYS))
        )
        q &= expired if c["risk_expired"] else ~expired
    if categories := c.get("holds_categories"):
        holds = Holding.objects.filter(
            client=OuterRef("pk"), status=Holding.Status.ACTIVE, product__category__in=categories
        )
        q &= Q(Exists(holds))
    if branches := c.get("branches"):
        q &= Q(branch__in=_branch_subtrees(branches))
    if rms := c.get("owner_rms"):
        q &= Q(owner_rm__in=StaffProfile.objects.filter(code__in=rms).values("pk"))
    if "maturing_within_days" in c:
        maturing = Holding.objects.filter(
            client=OuterRef("pk"),
            status=Holding.Status.ACTIVE,
            matures_on__gte=today,
            matures_on__lte=today + datetime.timedelta(days=c["maturing_within_days"]),
        )
        q &= Q(Exists(maturing))
    if "age_min" in c:
        q &= Q(birth_date__lte=_years_before(today, c["age_min"]))
    if "age_max" in c:
        q &= Q(birth_date__gt=_years_before(today, c["age_max"] + 1))
    if months := c.get("birth_months"):
        q &= Q(birth_date__month__in=months)
    if genders := c.get("genders"):
        q &= Q(gender__in=genders)
    if channels := c.get("preferred_channels"):
        q &= Q(preferred_channel__in=channels)
    if c.get("life_events") or "life_event_within_days" in c:
        events = LifeEvent.objects.filter(client=OuterRef("pk"))
        if kinds := c.get("life_events"):
            events = events.filter(kind__in=kinds)
        if "life_event_within_days" in c:
            days = datetime.timedelta(days=c["life_event_within_days"])
            events = events.filter(occurs_on__gte=today - days, occurs_on__lte=today + days)
        q &= Q(Exists(events))
    return clients.filter(q)


# --- Selectors ----------------------------------------------------------------------


def saved_segment_list(*, actor: Actor) -> QuerySet[SavedSegment]:
    """The segments the actor may use: their own, the shared ones of their branch, and
    the shared ones their role's scope covers (supervisor: branch subtree; head office:
    the bank). A colleague's unshared segment is never in it."""
    staff = getattr(actor, "staff", None)
    if staff is None:
        return SavedSegment.objects.none()
    reach = scope_q(SavedSegment, actor)
    # An empty Q is the whole tenant (head office); OR-ed with another Q it would vanish.
    in_reach = (Q(owner__branch=staff.branch_id) | reach) if reach else Q()
    shared = Q(is_shared=True) & in_reach
    return (
        SavedSegment.objects.filter(Q(owner=staff) | shared)
        .select_related("owner", "owner__branch")
        .order_by("name", "pk")
    )


def segment_clients(
    *, actor: Actor, criteria: dict[str, Any], today: datetime.date | None = None
) -> QuerySet[Client]:
    """The clients matching ``criteria`` among those the actor may see, largest AUM first.

    Each carries ``identity_visible`` (for ``client_identity``) and its segment row's
    ``segment_average_aum``, ``segment_lifecycle`` and ``segment_product_preference``.
    """
    today = today or timezone.localdate()
    segment = ClientSegment.objects.filter(client=OuterRef("pk"))
    clients = criteria_filter(client_list(actor=actor), criteria, today=today)
    return clients.annotate(
        segment_average_aum=Subquery(segment.values("average_aum_cny")[:1]),
        segment_lifecycle=Subquery(segment.values("lifecycle")[:1]),
        segment_product_preference=Subquery(segment.values("product_preference")[:1]),
    ).order_by("-aum_cny", "pk")


def saved_segment_clients(
    *, actor: Actor, segment: SavedSegment, today: datetime.date | None = None
) -> QuerySet[Client]:
    """A saved segment run by ``actor``: only the actor's own visible clients.

    The stored criteria are clean: only the services below write them, through
    ``criteria_clean``.
    """
    return segment_clients(actor=actor, criteria=segment.criteria, today=today)


@dataclass(frozen=True)
class MatchCount:
    value: int
    exact: bool  # False: more than ``value`` match (the count stopped at the cap)


def segment_count(clients: QuerySet[Client], *, cap: int = COUNT_CAP) -> MatchCount:
    """How many ``clients`` there are, counted up to ``cap`` (one bounded query)."""
    found = clients.order_by().values("pk")[: cap + 1].count()
    return MatchCount(value=min(found, cap), exact=found <= cap)


LIFECYCLE_LABELS = dict(Lifecycle.choices)
CATEGORY_LABELS = dict(Product.Category.choices)


def segment_client_labels(client: Client) -> None:
    """Set the display values of one listed client (identity masked per viewer)."""
    client.identity = client_identity(client)
    client.lifecycle_label = LIFECYCLE_LABELS.get(client.segment_lifecycle or "", "")


def criteria_describe(criteria: dict[str, Any]) -> list[tuple[Any, str]]:
    """The criteria in words, ``[(label, values)]`` in the builder's order.

    Names of tiers, branches and RMs are looked up (at most one query each).
    """
    c = criteria
    names: dict[str, dict[str, str]] = {}
    for key, (model, _message) in REFERENCES.items():
        if c.get(key):
            names[key] = dict(model.objects.filter(code__in=c[key]).values_list("code", "name"))
    names.setdefault("tiers", {})[NON_VIP] = gettext("Not VIP")
    choice_labels: dict[str, dict] = {
        "lifecycles": dict(Lifecycle.choices),
        "open_needs": dict(Need.Kind.choices),
        "risk_levels": dict(RiskLevel.choices),
        "product_preferences": CATEGORY_LABELS,
        "holds_categories": CATEGORY_LABELS,
        "genders": dict(Client.Gender.choices),
        "preferred_channels": dict(Channel.choices),
        "life_events": dict(LifeEvent.Kind.choices),
        "birth_months": dict(MONTHS),
    }
    described = []
    for key in SCHEMA:
        if key not in c:
            continue
        value = c[key]
        if key in names:
            text = "、".join(names[key].get(code, code) for code in value)
        elif key in choice_labels:
            text = "、".join(str(choice_labels[key].get(v, v)) for v in value)
        elif key == "entrepreneur":
            text = gettext("Yes") if value else gettext("No")
        elif key == "risk_expired":
            text = gettext("Expired or missing") if value else gettext("Valid")
        elif key.endswith(("aum_min", "aum_max")):
            text = f"{Decimal(value):,.2f}"
        else:
            text = str(value)
        described.append((LABELS[key], text))
    return described


# --- Services -----------------------------------------------------------------------


def _owner(actor: Actor) -> StaffProfile:
    staff = getattr(actor, "staff", None)
    if staff is None:
        raise PermissionDenied(_("Only staff members keep saved segments."))
    return staff


def saved_segment_change_check(*, actor: Actor, segment: SavedSegment) -> None:
    """Raise ``PermissionDenied`` unless the actor owns ``segment`` (colleagues read only)."""
    staff = getattr(actor, "staff", None)
    if staff is None or segment.tenant_id != actor.tenant_id or segment.owner_id != staff.pk:
        raise PermissionDenied(_("Only the owner of a segment may change or delete it."))


def _clean_fields(*, owner: StaffProfile, name: str, description: str, exclude_pk=None) -> dict:
    errors = {}
    name = (name or "").strip()
    description = (description or "").strip()
    if not name:
        errors["name"] = _("Give the segment a name.")
    elif len(name) > SavedSegment._meta.get_field("name").max_length:
        errors["name"] = _("A name has at most 100 characters.")
    elif SavedSegment.objects.filter(owner=owner, name=name).exclude(pk=exclude_pk).exists():
        errors["name"] = _("You already have a segment with this name.")
    if len(description) > 2000:
        errors["description"] = _("A description has at most 2,000 characters.")
    if errors:
        raise ValidationError(errors)
    return {"name": name, "description": description}


def _save(segment: SavedSegment) -> None:
    # The name check above can be raced by a second tab: the constraint still holds, and
    # its violation becomes the same form error instead of a 500.
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError as error:
        raise ValidationError({"name": _("You already have a segment with this name.")}) from error


def _audit(action: str, *, actor: Actor, segment: SavedSegment, request, detail: dict) -> None:
    user = None if request is not None else getattr(actor.staff, "user", None)
    audit_record(action=action, request=request, user=user, obj=segment, detail=detail)


@transaction.atomic
def saved_segment_create(
    *,
    actor: Actor,
    name: str,
    criteria: dict[str, Any],
    description: str = "",
    is_shared: bool = False,
    request: HttpRequest | None = None,
) -> SavedSegment:
    """Save a new segment owned by the actor; invalid criteria or a taken name raise
    ``ValidationError`` keyed by field, and nothing is written."""
    owner = _owner(actor)
    errors: dict[str, list] = {}
    fields: dict[str, str] = {}
    try:
        fields = _clean_fields(owner=owner, name=name, description=description)
    except ValidationError as error:
        errors.update(error.error_dict)
    try:
        criteria = criteria_clean(criteria)
    except ValidationError as error:
        errors.update(error.error_dict)
    if errors:
        raise ValidationError(errors)
    segment = SavedSegment(
        tenant_id=owner.tenant_id,
        owner=owner,
        criteria=criteria,
        is_shared=bool(is_shared),
        **fields,
    )
    _save(segment)
    _audit(
        "create",
        actor=actor,
        segment=segment,
        request=request,
        detail={"criteria": criteria, "is_shared": segment.is_shared},
    )
    return segment


@transaction.atomic
def saved_segment_update(
    *,
    actor: Actor,
    segment: SavedSegment,
    name: str,
    criteria: dict[str, Any],
    description: str = "",
    is_shared: bool = False,
    request: HttpRequest | None = None,
) -> SavedSegment:
    """Change the owner's segment; written and audited only when something differs."""
    saved_segment_change_check(actor=actor, segment=segment)
    errors: dict[str, list] = {}
    fields: dict[str, Any] = {}
    try:
        fields = _clean_fields(
            owner=segment.owner, name=name, description=description, exclude_pk=segment.pk
        )
    except ValidationError as error:
        errors.update(error.error_dict)
    try:
        fields["criteria"] = criteria_clean(criteria)
    except ValidationError as error:
        errors.update(error.error_dict)
    if errors:
        raise ValidationError(errors)
    fields["is_shared"] = bool(is_shared)
    changes = {
        key: [getattr(segment, key), value]
        for key, value in fields.items()
        if getattr(segment, key) != value
    }
    if changes:
        for key, value in fields.items():
            setattr(segment, key, value)
        _save(segment)
        _audit("update", actor=actor, segment=segment, request=request, detail={"changes": changes})
    return segment


@transaction.atomic
def saved_segment_delete(
    *, actor: Actor, segment: SavedSegment, request: HttpRequest | None = None
) -> None:
    saved_segment_change_check(actor=actor, segment=segment)
    _audit("delete", actor=actor, segment=segment, request=request, detail={"name": segment.name})
    segment.delete()


# --- Exports ------------------------------------------------------------------------

# A cell starting with one of these is a formula to Excel: such text is written so that
# it stays text (CSV: a leading apostrophe; XLSX: an explicit string cell).
FORMULA_START = re.compile(r"^[=+\-@\t\r]")
EXPORT_CHUNK = 2000


def export_header() -> list[str]:
    return [
        gettext("Customer number"),
        pgettext("person", "Name"),
        gettext("Gender"),
        gettext("Tier"),
        gettext("AUM (CNY)"),
        gettext("Average daily AUM (CNY)"),
        gettext("Lifecycle"),
        gettext("Product preference"),
        gettext("Risk level"),
        gettext("Risk assessed on"),
        gettext("Owner RM"),
        gettext("Home branch"),
        gettext("Mobile"),
        gettext("Preferred channel"),
        gettext("Entrepreneur"),
    ]


MONEY_COLUMNS = (4, 5)  # AUM and average AUM: numbers in the XLSX


def export_rows(clients: QuerySet[Client], *, limit: int = EXPORT_ROW_CAP) -> Iterator[list]:
    """One list of cell values per client, streamed from the database in chunks
    (``iterator``: rows are never all in memory). Identity data is masked per viewer."""
    yes, no = gettext("yes"), gettext("no")
    for client in clients[:limit].iterator(chunk_size=EXPORT_CHUNK):
        identity = client_identity(client)
        average = client.segment_average_aum
        yield [
            client.external_id,
            client.name,
            client.get_gender_display(),
            client.tier.name if client.tier else gettext("Not VIP"),
            client.aum_cny,
            average if average is not None else "",
            str(LIFECYCLE_LABELS.get(client.segment_lifecycle or "", "")),
            str(CATEGORY_LABELS.get(client.segment_product_preference or "", "")),
            client.risk_level,
            client.risk_assessed_on.isoformat() if client.risk_assessed_on else "",
            client.owner_rm.name if client.owner_rm else "",
            client.branch.name,
            identity["mobile"],
            client.get_preferred_channel_display(),
            yes if client.is_entrepreneur else no,
        ]


def _text_safe(value: Any) -> Any:
    if isinstance(value, str) and FORMULA_START.match(value):
        return f"'{value}"
    return value


def export_csv_write(clients: QuerySet[Client], file: IO[bytes]) -> int:
    """Write the CSV (UTF-8 with a BOM, so Excel reads the Chinese) to ``file``; returns
    the number of clients written."""
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow(export_header())
    count = 0
    for row in export_rows(clients):
        for index in MONEY_COLUMNS:
            if row[index] != "":
                row[index] = f"{row[index]:.2f}"
        writer.writerow([_text_safe(value) for value in row])
        count += 1
    text.flush()
    text.detach()  # hand ``file`` back open
    return count


def export_xlsx_write(clients: QuerySet[Client], file: IO[bytes], *, title: str) -> int:
    """Write the XLSX to ``file`` with openpyxl's write-only workbook: rows go straight
    to a temporary sheet file, so memory stays flat however many clients there are."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(title))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for label in export_header():
        cell = WriteOnlyCell(sheet, value=label)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    count = 0
    for row in export_rows(clients):
        # Plain values are cheapest; a cell object only where a format or type is needed.
        for index in MONEY_COLUMNS:
            if row[index] != "":
                row[index] = WriteOnlyCell(sheet, value=row[index])
                row[index].number_format = "#,##0.00"
        for index, value in enumerate(row):
            if isinstance(value, str) and value.startswith("="):
                row[index] = WriteOnlyCell(sheet, value=value)
                row[index].data_type = "s"  # text that looks like a formula stays text
        sheet.append(row)
        count += 1
    workbook.save(file)
    return count


EXPORT_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportTooLarge(ValidationError):
    """More clients match than one export may hold."""


def saved_segment_export(
    *,
    actor: Actor,
    segment: SavedSegment,
    file_format: str,
    file: IO[bytes],
    request: HttpRequest | None = None,
) -> int:
    """Write the clients of ``segment`` that the actor may see to ``file`` as ``csv`` or
    ``xlsx``, and audit it as an ``export``; returns the number of clients written.

    More than ``EXPORT_ROW_CAP`` matches raise ``ExportTooLarge`` (nothing written, no
    audit entry): such a list is narrowed first, not mailed around whole.
    """
    if file_format not in EXPORT_CONTENT_TYPES:
        raise ValueError(f"Unknown export format: {file_format}")
    clients = saved_segment_clients(actor=actor, segment=segment)
    if not segment_count(clients, cap=EXPORT_ROW_CAP).exact:
        raise ExportTooLarge(
            _(
                "More than %(cap)s clients in your view match this segment: narrow it "
                "before exporting."
            )
            % {"cap": f"{EXPORT_ROW_CAP:,}"},
            code="too_large",
        )
    if file_format == "csv":
        rows = export_csv_write(clients, file)
    else:
        rows = export_xlsx_write(clients, file, title=segment.name)
    user = None if request is not None else getattr(actor.staff, "user", None)
    audit_record(
        action="export",
        request=request,
        user=user,
        obj=segment,
        detail={
            "what": "saved segment",
            "format": file_format,
            "rows": rows,
            "criteria": segment.criteria,
        },
    )
    return rows


def _sheet_title(name: str) -> str:
    # Excel: at most 31 characters, none of []:*?/\ and not blank.
    cleaned = re.sub(r"[\[\]:*?/\\]", " ", name).strip()[:31]
    return cleaned or "Segment"
