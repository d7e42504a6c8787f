"""Forms of the segmentation pages: the configuration (tiers with their service standard,
the tiering policy) and the tier override on the client 360 page.

Plain forms: they check types and bounds so the page can answer field by field; the
services in ``segmentation.configuration`` and ``segmentation.services`` check the rules
(floors rising with rank, who may change what) and write.
"""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Tier
from segmentation.configuration import MAX_RANK

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
NUMERIC = {"inputmode": "numeric"}
DECIMAL = {"inputmode": "decimal"}


class TierForm(forms.Form):
    """A tier and its service standard, added or edited in one form."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        help_text=_("How the core-banking system and the API name the tier; it cannot change."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "GOLD"}),
    )
    name = forms.CharField(label=_("Name"), max_length=64)
    rank = forms.IntegerField(
        label=_("Rank"),
        min_value=1,
        max_value=MAX_RANK,
        help_text=_("Higher is better: the highest tier has the highest rank."),
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    aum_floor = forms.DecimalField(
        label=_("AUM floor (CNY)"),
        min_value=0,
        max_digits=18,
        decimal_places=2,
        help_text=_("Average daily AUM over the tiering window that qualifies for the tier."),
        widget=forms.NumberInput(attrs={**DECIMAL, "step": "0.01"}),
    )
    contact_cadence_days = forms.IntegerField(
        label=_("Contact cadence (days)"),
        min_value=1,
        max_value=366,
        help_text=_("The RM contacts each client of the tier at least this often."),
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    maturity_lead_days = forms.IntegerField(
        label=_("Maturity lead time (days)"),
        min_value=1,
        max_value=180,
        help_text=_("How long before a holding matures its client is contacted."),
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    meetings_per_year = forms.IntegerField(
        label=_("Face-to-face meetings a year"),
        min_value=0,
        max_value=52,
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    book_weight = forms.DecimalField(
        label=_("Book weight"),
        min_value=0,
        max_digits=6,
        decimal_places=2,
        help_text=_("How much one client of this tier counts in an RM's weighted book."),
        widget=forms.NumberInput(attrs={**DECIMAL, "step": "0.01"}),
    )
    festival_care = forms.BooleanField(
        label=_("Festival care"),
        required=False,
        help_text=_("Spring Festival and Mid-Autumn greetings for this tier's clients."),
    )
    service_package = forms.CharField(
        label=_("Service package"),
        required=False,
        max_length=2000,
        help_text=_("The perks of the tier, e.g. airport lounge, health check, wealth seminars."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            # The code is shown, never sent back: what the browser posts is ignored.
            self.fields["code"].disabled = True
            self.fields["code"].required = False

    TIER_FIELDS = ("code", "name", "rank", "aum_floor")
    STANDARD_FIELDS = (
        "contact_cadence_days",
        "maturity_lead_days",
        "meetings_per_year",
        "book_weight",
        "festival_care",
        "service_package",
    )

    def tier_fields(self) -> list:
        return [self[name] for name in self.TIER_FIELDS]

    def standard_fields(self) -> list:
        return [self[name] for name in self.STANDARD_FIELDS]

    def tier_values(self) -> dict:
        data = self.cleaned_data
        return {"name": data["name"], "rank": data["rank"], "aum_floor": data["aum_floor"]}

    def standard_values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.STANDARD_FIELDS}

    @classmethod
    def initial_for(cls, tier: Tier, standard) -> dict:
        initial = {
            "code": tier.code,
            "name": tier.name,
            "rank": tier.rank,
            "aum_floor": tier.aum_floor,
        }
        if standard is not None:
            initial.update(
                contact_cadence_days=standard.contact_cadence_days,
                maturity_lead_days=standard.maturity_lead_days,
                meetings_per_year=standard.meetings_per_year,
                service_package=standard.service_package,
                book_weight=standard.book_weight,
                festival_care=standard.festival_care,
            )
        return initial


class TieringPolicyForm(forms.Form):
    window_days = forms.IntegerField(
        label=_("Tiering window (days)"),
        min_value=1,
        max_value=366,
        help_text=_("Tiers follow the average daily AUM over this many days of snapshots."),
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    downgrade_grace = forms.IntegerField(
        label=_("Downgrade grace (monthly evaluations)"),
        min_value=1,
        max_value=24,
        help_text=_(
            "A client is moved down only after this many consecutive monthly evaluations "
            "below their tier's floor."
        ),
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    near_threshold_percent = forms.IntegerField(
        label=_("Near-threshold band (%)"),
        min_value=1,
        max_value=50,
        help_text=_("Clients this close below the next floor are listed for an upgrade talk."),
        widget=forms.NumberInput(attrs=NUMERIC),
    )
    default_rm_capacity = forms.DecimalField(
        label=_("Default RM capacity (weighted clients)"),
        min_value=1,
        max_digits=8,
        decimal_places=2,
        help_text=_("Used for every RM without a capacity of their own."),
        widget=forms.NumberInput(attrs={**DECIMAL, "step": "0.01"}),
    )

    @classmethod
    def initial_for(cls, policy) -> dict:
        return {field: getattr(policy, field) for field in cls.base_fields}


class TierOverrideForm(forms.Form):
    """Pin a client's tier by hand, with a reason and an expiry (the service checks the
    reason is given and the expiry is after today and at most a year ahead)."""

    tier = forms.ModelChoiceField(label=_("Pinned tier"), queryset=Tier.objects.none())
    reason = forms.CharField(
        label=_("Reason"),
        max_length=1000,
        widget=forms.Textarea(
            attrs={
                "rows": 2,
                "placeholder": _("e.g. key entrepreneur client, approved by the branch head"),
            }
        ),
    )
    expires_on = forms.DateField(label=_("Expires on"), widget=DATE_INPUT)

    def __init__(self, *args, tiers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tier"].queryset = tiers if tiers is not None else Tier.objects.none()
        self.fields["tier"].empty_label = _("Choose a tier")
        tomorrow = timezone.localdate() + datetime.timedelta(days=1)
        self.fields["expires_on"].widget.attrs["min"] = tomorrow.isoformat()
