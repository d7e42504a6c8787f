"""Forms of the pipeline pages: the board's filters, a move, an opportunity (new,
edited, cross-sold), each step's work (plan the contact, log it, propose, record the
sale, log a check-in, refer a prospect, celebrate), losing one, and the honours board's
branch and month.

Plain forms: they check the input's shape; ``sales_pipeline.services`` checks the rules
(scope, the step, suitability, the team…) and writes. A service's refusal is shown on
the field it names, else above the form (``contact_plans.forms.add_service_error``).
Choices that come from the database (products, the client's team, open check-ins) are
loaded once by the view and passed in, so rendering a form never costs a query per
field or per line.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable, Sequence
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from contact_plans.forms import DATE_INPUT, InteractionLogForm
from customers.models import MONEY, Channel, Client, LifeEvent, Product, Relationship
from customers.validators import validate_mobile
from sales_pipeline.board import BoardFilters
from sales_pipeline.models import Opportunity, Proposal, Step
from segmentation.list_forms import ListFilterForm
from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import Actor, Role

MAX_LINES = 12
BLANK_LINES = 4
MAX_STALE_DAYS = 3650
MONTH_INPUT = forms.TextInput(attrs={"type": "month", "pattern": r"\d{4}-\d{2}"})

# Sources an RM picks by hand; maturity comes from the nightly job, cross-sell and
# referral from a won opportunity's follow-up.
MANUAL_SOURCES = [
    (value, label)
    for value, label in Opportunity.Source.choices
    if value
    not in (
        Opportunity.Source.MATURITY,
        Opportunity.Source.CROSS_SELL,
        Opportunity.Source.REFERRAL,
    )
]


def _amount_field(label, *, required: bool) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        max_digits=MONEY["max_digits"],
        decimal_places=MONEY["decimal_places"],
        validators=[MinValueValidator(Decimal("0.01"), _("The amount must be more than zero."))],
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"}),
    )


class ProductChoices:
    """The bank's products as grouped choices (by category, each with its risk level),
    and the products behind the submitted values. ``unsuitable``: ids of products whose
    label says they exceed the client's risk tolerance (the service refuses them)."""

    def __init__(self, products: Iterable[Product], *, unsuitable: Collection[int] = ()):
        self.by_pk = {str(product.pk): product for product in products}
        groups: dict[str, list[tuple[str, str]]] = {}
        labels: dict[str, str] = {}
        above = _("above the client's risk tolerance")
        for product in self.by_pk.values():
            labels[product.category] = product.get_category_display()
            label = f"{product.name} · {product.risk_level}"
            if product.pk in unsuitable:
                label = f"{label} · {above}"
            groups.setdefault(product.category, []).append((str(product.pk), label))
        self.choices = [(labels[category], options) for category, options in groups.items()]

    def products(self, values: Iterable[str]) -> list[Product]:
        return [self.by_pk[value] for value in values if value in self.by_pk]


class ProductsField(forms.MultipleChoiceField):
    widget = forms.SelectMultiple(attrs={"size": 8})

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", _("Ctrl (⌘ on a Mac) and click to choose several."))
        super().__init__(**kwargs)


# --- The board and the honours board (GET) ----------------------------------------------


class BoardFilterForm(ListFilterForm):
    """The board's filters. Supervisors pick an RM (and a branch of their subtree), head
    office a branch (and an RM); RMs and advisors see their own board."""

    source = forms.ChoiceField(
        label=_("Source"),
        required=False,
        choices=[("", _("All sources")), *Opportunity.Source.choices],
    )
    min_days = forms.IntegerField(
        label=_("In the step for at least (days)"),
        required=False,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_STALE_DAYS)],
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_STALE_DAYS, "inputmode": "numeric"}),
    )
    q = forms.CharField(
        label=_("Client"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("Name or customer number"),
                "autocomplete": "off",
            }
        ),
    )

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, actor=actor, **kwargs)
        if actor.role == Role.ADVISOR:
            del self.fields["branch"], self.fields["owner_rm"]

    def filters(self) -> BoardFilters:
        """The valid filters (an invalid one shows its error and is left out)."""
        data = getattr(self, "cleaned_data", {})
        return BoardFilters(
            branch=data.get("branch"),
            owner_rm=data.get("owner_rm"),
            tier=data.get("tier"),
            source=data.get("source") or "",
            min_days=data.get("min_days"),
            q=(data.get("q") or "").strip(),
        )


def parse_month(value: str) -> datetime.date | None:
    """``2026-11`` → 2026-11-01; None when it is not a month."""
    try:
        year, month = (int(part) for part in value.split("-"))
        return datetime.date(year, month, 1)
    except (TypeError, ValueError):
        return None


class HonoursFilterForm(forms.Form):
    """The honours board's branch (supervisors: of their subtree; head office: any, or
    the whole bank) and month. RMs and advisors see their own branch's."""

    branch = forms.ModelChoiceField(
        label=_("Branch"), required=False, queryset=Branch.objects.none(), empty_label=None
    )
    month = forms.CharField(label=_("Month"), required=False, max_length=7, widget=MONTH_INPUT)

    def __init__(self, *args, branches=None, whole_bank: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if branches is None:
            del self.fields["branch"]
        else:
            field = self.fields["branch"]
            field.queryset = branches
            if whole_bank:
                field.empty_label = _("The whole bank")

    def clean_month(self) -> datetime.date | None:
        value = self.cleaned_data.get("month") or ""
        if not value:
            return None
        month = parse_month(value)
        if month is None or month.year < 2000:
            raise ValidationError(_("Give a month as YYYY-MM."), code="invalid")
        return month


# --- Moves and losses -----------------------------------------------------------------


class MoveForm(forms.Form):
    """One step forward. ``from_step`` is the step the page showed: if the opportunity
    has moved meanwhile, the service refuses instead of moving it twice."""

    to_step = forms.TypedChoiceField(label=_("Step"), choices=Step.choices, coerce=int)
    from_step = forms.TypedChoiceField(
        choices=Step.choices, coerce=int, required=False, empty_value=None
    )


class LoseForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Reason"), choices=[("", "—"), *Opportunity.LostReason.choices]
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": _("Required for “Other”")}),
    )


# --- An opportunity: new, edited, cross-sold -----------------------------------------------


class OpportunityForm(forms.Form):
    """Title, expected amount, products of interest and advisors; a new one also has its
    source (and, from a life event, which one)."""

    title = forms.CharField(label=_("Title"), max_length=120)
    source = forms.ChoiceField(label=_("Source"), choices=[("", "—"), *MANUAL_SOURCES])
    life_event = forms.ChoiceField(label=_("Life event"), required=False)
    expected_amount_cny = _amount_field(_("Expected amount (CNY)"), required=False)
    products = ProductsField(label=_("Products of interest"), required=False)
    advisors = forms.MultipleChoiceField(
        label=_("Advisors"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("From the client's team."),
    )

    def __init__(
        self,
        *args,
        products: ProductChoices,
        team: Sequence[StaffProfile] = (),
        life_events: Sequence[LifeEvent] = (),
        new: bool = True,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.product_choices = products
        self.team = {str(person.pk): person for person in team}
        self.life_events = {str(event.pk): event for event in life_events}
        self.fields["products"].choices = products.choices
        self.fields["advisors"].choices = [
            (pk, f"{person.name} · {person.get_role_display()}") for pk, person in self.team.items()
        ]
        if not new:
            del self.fields["source"], self.fields["life_event"]
        elif life_events:
            self.fields["life_event"].choices = [
                ("", "—"),
                *(
                    (pk, f"{event.get_kind_display()} · {event.occurs_on:%Y-%m-%d}")
                    for pk, event in self.life_events.items()
                ),
            ]
        else:
            del self.fields["life_event"]
        if not self.team:
            del self.fields["advisors"]

    def clean_products(self) -> list[Product]:
        return self.product_choices.products(self.cleaned_data.get("products") or ())

    def clean_advisors(self) -> list[StaffProfile]:
        return [self.team[pk] for pk in self.cleaned_data.get("advisors") or () if pk in self.team]

    def clean_life_event(self) -> LifeEvent | None:
        return self.life_events.get(self.cleaned_data.get("life_event") or "")

    def arguments(self) -> dict:
        """Keyword arguments for ``opportunity_create`` / ``opportunity_update``."""
        data = self.cleaned_data
        arguments = {
            "title": data["title"].strip(),
            "expected_amount_cny": data.get("expected_amount_cny"),
            "products": data.get("products") or [],
            "advisors": data.get("advisors") or [],
        }
        if "source" in self.fields:
            arguments["source"] = data["source"]
        if "life_event" in self.fields:
            arguments["life_event"] = data.get("life_event")
        return arguments


class CrossSellForm(forms.Form):
    """A new opportunity found while following up a won one."""

    title = forms.CharField(label=_("Title"), max_length=120)
    expected_amount_cny = _amount_field(_("Expected amount (CNY)"), required=False)
    products = ProductsField(label=_("Products of interest"), required=False)

    def __init__(self, *args, products: ProductChoices, **kwargs):
        super().__init__(*args, **kwargs)
        self.product_choices = products
        self.fields["products"].choices = products.choices

    def clean_products(self) -> list[Product]:
        return self.product_choices.products(self.cleaned_data.get("products") or ())


# --- Steps 1 and 2: plan the contact, log it ----------------------------------------------


class PlanContactForm(forms.Form):
    due_on = forms.DateField(label=_("Contact on"), widget=DATE_INPUT)
    channel = forms.ChoiceField(
        label=_("Channel"), required=False, choices=[("", _("Any channel")), *Channel.choices]
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=200)


class ContactLogForm(InteractionLogForm):
    """Step 2: the contact itself, with the needs found (contact plans' log form, when
    and how long, without its planned-contact choice and next step)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("planned_contact", "next_step", "next_step_on"):
            del self.fields[name]

    def arguments(self) -> dict:
        """Keyword arguments for ``services.opportunity_log_contact``."""
        arguments = self.log_arguments()
        for name in ("next_step", "next_step_on"):
            arguments.pop(name)
        return arguments


class CheckInLogForm(InteractionLogForm):
    """Step 4: log one of the open check-ins planned by the win (contact plans' log
    form: the check-in it answers, when, how, how long, what was said)."""

    def __init__(self, *args, check_ins: Sequence = (), **kwargs):
        super().__init__(*args, open_contacts=check_ins, **kwargs)
        for name in ("needs_found", "next_step", "next_step_on"):
            del self.fields[name]
        field = self.fields["planned_contact"]
        field.label = _("Check-in")
        field.required = True
        field.choices = field.choices[1:]  # no "unplanned contact": it answers a check-in

    def arguments(self) -> dict:
        """Keyword arguments for ``services.opportunity_check_in_log``."""
        data = self.cleaned_data
        return {
            "planned_contact": data["planned_contact"],
            "channel": data["channel"],
            "occurred_at": data.get("occurred_at") or timezone.now(),
            "summary": data["summary"],
            "duration_minutes": data.get("duration_minutes"),
        }


# --- Step 3: the proposal and the sale --------------------------------------------------


class ProposalLineForm(forms.Form):
    product = forms.ChoiceField(label=_("Product"), required=False)
    amount_cny = _amount_field(_("Amount (CNY)"), required=False)

    def __init__(self, *args, products: ProductChoices, **kwargs):
        super().__init__(*args, **kwargs)
        self.product_choices = products
        self.fields["product"].choices = [("", "—"), *products.choices]

    def clean_product(self) -> Product | None:
        return self.product_choices.by_pk.get(self.cleaned_data.get("product") or "")

    def clean(self):
        cleaned = super().clean()
        product, amount = cleaned.get("product"), cleaned.get("amount_cny")
        if product is not None and amount is None and "amount_cny" not in self.errors:
            self.add_error("amount_cny", _("Give the amount for this product."))
        if product is None and amount is not None:
            self.add_error("product", _("Choose the product for this amount."))
        return cleaned


class BaseProposalLineFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        seen = set()
        for form in self.forms:
            product = form.cleaned_data.get("product")
            if product is None:
                continue
            if product.pk in seen:
                form.add_error("product", _("This product is already on the proposal."))
            seen.add(product.pk)
        if not seen:
            raise ValidationError(_("Propose at least one product with its amount."))

    def lines(self) -> list[tuple[Product, Decimal]]:
        """``[(product, amount)]`` of the filled lines (valid formsets only)."""
        return [
            (form.cleaned_data["product"], form.cleaned_data["amount_cny"])
            for form in self.forms
            if form.cleaned_data.get("product") is not None
        ]


ProposalLineFormSet = forms.formset_factory(
    ProposalLineForm,
    formset=BaseProposalLineFormSet,
    extra=BLANK_LINES,
    max_num=MAX_LINES,
    absolute_max=MAX_LINES,
    validate_max=True,
)


class ProposalForm(forms.Form):
    """A proposal: its product lines (a formset, ``lines``) and a note."""

    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("Why this mix, for the client")}),
    )

    def __init__(self, data=None, *, products: ProductChoices, initial_lines=(), **kwargs):
        super().__init__(data, **kwargs)
        self.lines = ProposalLineFormSet(
            data,
            prefix="lines",
            initial=list(initial_lines) or None,
            form_kwargs={"products": products},
        )

    def is_valid(self) -> bool:
        # Both, always: each shows its own errors.
        return all([super().is_valid(), self.lines.is_valid()])

    def arguments(self) -> dict:
        return {"lines": self.lines.lines(), "note": self.cleaned_data.get("note") or ""}


class RecordSaleForm(forms.Form):
    """Record the sale of one proposal: when, and the 双录 reference of each line whose
    product category is in ``recording_categories``. ``instance``: the proposal the form
    was sent for, None when it is not one of the opportunity's (an error on the hidden
    ``proposal`` field)."""

    proposal = forms.IntegerField(widget=forms.HiddenInput)
    won_on = forms.DateField(
        label=_("Sold on"), required=False, widget=DATE_INPUT, help_text=_("Empty: today.")
    )

    def __init__(
        self, *args, proposal: Proposal | None, recording_categories=frozenset(), **kwargs
    ):
        if proposal is not None:
            kwargs.setdefault("initial", {"proposal": proposal.pk})
        super().__init__(*args, **kwargs)
        self.instance = proposal
        self.recorded_lines = []
        lines = proposal.lines.all() if proposal is not None else ()
        for line in lines:
            if line.product.category not in recording_categories:
                continue
            name = f"ref_{line.product_id}"
            self.fields[name] = forms.CharField(
                label=_("Recording reference (双录) · %(product)s")
                % {"product": line.product.name},
                max_length=64,
                error_messages={
                    "required": _("This product needs the reference of its sales recording.")
                },
                widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
            )
            self.recorded_lines.append((line, name))

    def clean_proposal(self) -> Proposal:
        if self.instance is None or self.cleaned_data.get("proposal") != self.instance.pk:
            raise ValidationError(_("Choose one of this opportunity's proposals."), code="invalid")
        return self.instance

    def recording_fields(self):
        return [(line, self[name]) for line, name in self.recorded_lines]

    def arguments(self) -> dict:
        """Keyword arguments for ``services.opportunity_win``."""
        data = self.cleaned_data
        arguments = {
            "proposal": self.instance,
            "recording_refs": {
                line.product_id: data[name].strip() for line, name in self.recorded_lines
            },
        }
        if data.get("won_on"):
            arguments["won_on"] = data["won_on"]
        return arguments


# --- Step 4: referrals; step 5: the celebration --------------------------------------------


class ReferralForm(forms.Form):
    """A prospect the client introduces (转介绍)."""

    name = forms.CharField(label=_("Prospect's name"), max_length=100)
    mobile = forms.CharField(
        label=_("Mobile"),
        required=False,
        max_length=11,
        validators=[validate_mobile],
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    gender = forms.ChoiceField(
        label=_("Gender"), required=False, choices=[("", "—"), *Client.Gender.choices]
    )
    relationship = forms.ChoiceField(
        label=_("Relationship to the client"),
        required=False,
        choices=[("", "—"), *Relationship.Kind.choices],
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=300)


class CelebrationForm(forms.Form):
    team_recognition = forms.CharField(
        label=_("Recognition for the team"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    client_thanks = forms.CharField(
        label=_("Thank-you to the client"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    client_thanks_channel = forms.ChoiceField(
        label=_("Thanked the client by"), required=False, choices=[("", "—"), *Channel.choices]
    )
    departments = forms.CharField(
        label=_("Supporting departments"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. 个金部, 运营部, 风险管理部")}),
    )
    department_thanks = forms.CharField(
        label=_("Thanks to the departments"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
