"""Forms of the segment builder: the criteria (checkboxes, number inputs) and the name.

Plain forms: they turn the page's input into criteria JSON and show its errors; the
services in ``segmentation.segments`` validate again and write.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Client, LifeEvent, Need, Product, RiskLevel, Tier
from customers.selectors import client_filter_choices
from segmentation import segments
from segmentation.models import Lifecycle, SavedSegment
from vipcrm.roles import Actor

YES_NO = [("", _("Any")), ("yes", _("Yes")), ("no", _("No"))]
RISK_STATES = [("", _("Any")), ("expired", _("Expired or missing")), ("valid", _("Valid"))]
# Form value ↔ criteria value of the two three-way choices.
TO_BOOL = {"yes": True, "no": False, "expired": True, "valid": False}


def _checkboxes(key: str, choices) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=segments.LABELS[key],
        required=False,
        choices=choices,
        widget=forms.CheckboxSelectMultiple,
    )


def _amount(key: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=segments.LABELS[key],
        required=False,
        min_value=0,
        max_value=segments.MAX_AMOUNT,
        max_digits=18,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "inputmode": "decimal"}),
    )


def _whole(key: str, low: int, high: int, placeholder: str = "") -> forms.IntegerField:
    attrs = {"inputmode": "numeric"}
    if placeholder:
        attrs["placeholder"] = placeholder
    return forms.IntegerField(
        label=segments.LABELS[key],
        required=False,
        min_value=low,
        max_value=high,
        widget=forms.NumberInput(attrs=attrs),
    )


class SegmentCriteriaForm(forms.Form):
    """Every dimension of a segment. Field names are the criteria's keys.

    Tiers, branches and owner RMs offer what the actor may pick (an RM: their own branch
    and themself); everything else offers its fixed choices.
    """

    tiers = _checkboxes("tiers", [])
    aum_min = _amount("aum_min")
    aum_max = _amount("aum_max")
    average_aum_min = _amount("average_aum_min")
    average_aum_max = _amount("average_aum_max")
    lifecycles = _checkboxes("lifecycles", Lifecycle.choices)
    open_needs = _checkboxes("open_needs", Need.Kind.choices)
    entrepreneur = forms.ChoiceField(
        label=segments.LABELS["entrepreneur"], required=False, choices=YES_NO
    )
    risk_levels = _checkboxes("risk_levels", RiskLevel.choices)
    risk_expired = forms.ChoiceField(
        label=segments.LABELS["risk_expired"], required=False, choices=RISK_STATES
    )
    product_preferences = _checkboxes("product_preferences", Product.Category.choices)
    holds_categories = _checkboxes("holds_categories", Product.Category.choices)
    branches = _checkboxes("branches", [])
    owner_rms = _checkboxes("owner_rms", [])
    maturing_within_days = _whole("maturing_within_days", 1, 365, "30")
    age_min = _whole("age_min", 0, 120)
    age_max = _whole("age_max", 0, 120)
    birth_months = _checkboxes("birth_months", segments.MONTH_CHOICES)
    genders = _checkboxes("genders", Client.Gender.choices)
    preferred_channels = _checkboxes("preferred_channels", Channel.choices)
    life_events = _checkboxes("life_events", LifeEvent.Kind.choices)
    life_event_within_days = _whole("life_event_within_days", 1, 3650, "90")

    # How the builder groups the fields (legend, field names).
    GROUPS = [
        (
            _("Tier and assets"),
            ["tiers", "aum_min", "aum_max", "average_aum_min", "average_aum_max"],
        ),
        (_("Lifecycle and needs"), ["lifecycles", "open_needs", "entrepreneur"]),
        (
            _("Risk and products"),
            [
                "risk_levels",
                "risk_expired",
                "product_preferences",
                "holds_categories",
                "maturing_within_days",
            ],
        ),
        (_("Branch and RM"), ["branches", "owner_rms"]),
        (
            _("The person"),
            ["age_min", "age_max", "birth_months", "genders", "preferred_channels"],
        ),
        (_("Life events"), ["life_events", "life_event_within_days"]),
    ]

    def __init__(self, *args, actor: Actor, **kwargs):
        kwargs.setdefault("auto_id", "crit-%s")
        super().__init__(*args, **kwargs)
        choices = client_filter_choices(actor=actor)
        tiers = [(t.code, t.name) for t in Tier.objects.order_by("-rank")]
        self.fields["tiers"].choices = [*tiers, (segments.NON_VIP, _("Not VIP"))]
        self.fields["branches"].choices = [(b.code, b.name) for b in choices["branches"]]
        self.fields["owner_rms"].choices = [(s.code, s.name) for s in choices["owner_rms"]]
        self.criteria: dict[str, Any] = {}

    @classmethod
    def initial_for(cls, criteria: dict[str, Any]) -> dict[str, Any]:
        """The form's initial values that show saved ``criteria``."""
        initial = {}
        for key, value in criteria.items():
            if key == "entrepreneur":
                initial[key] = "yes" if value else "no"
            elif key == "risk_expired":
                initial[key] = "expired" if value else "valid"
            elif key == "birth_months":
                initial[key] = [str(month) for month in value]
            elif key != "version":
                initial[key] = value
        return initial

    def groups(self):
        """``[(legend, [bound fields])]`` for the template."""
        return [(legend, [self[name] for name in names]) for legend, names in self.GROUPS]

    def clean(self):
        cleaned = super().clean()
        raw: dict[str, Any] = {}
        for key, value in cleaned.items():
            if key in ("entrepreneur", "risk_expired"):
                value = TO_BOOL.get(value)
            elif isinstance(value, Decimal):
                value = str(value)
            raw[key] = value
        try:
            self.criteria = segments.criteria_clean(raw)
        except ValidationError as error:
            add_criteria_errors(self, error)
        return cleaned


def add_criteria_errors(form: forms.Form, error: ValidationError) -> None:
    """A service's or the schema's refusal, shown on the field it names."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, messages in error.error_dict.items():
        field = key if key in form.fields else None
        # A field that already failed its own checks keeps its first message only.
        if field is not None and field in form.errors:
            continue
        form.add_error(None if key == NON_FIELD_ERRORS else field, messages)


class SegmentForm(forms.Form):
    """The segment's name, description and sharing."""

    name = forms.CharField(
        label=_("Segment name"),
        max_length=SavedSegment._meta.get_field("name").max_length,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. Gold clients with maturities")}),
    )
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    is_shared = forms.BooleanField(
        label=_("Share with my branch"),
        required=False,
        help_text=_("Colleagues in your branch can use it; each sees only their own clients."),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "seg-%s")
        super().__init__(*args, **kwargs)
