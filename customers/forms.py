"""Forms of the client pages: the list's filters and the 360 page's edits.

Plain forms (not model forms): they only validate input; the services in
``customers.services`` check permissions and write.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers import selectors
from customers.models import (
    MONEY,
    Channel,
    Client,
    HeldAwayAsset,
    LifeEvent,
    Need,
    Relationship,
    RiskLevel,
)
from vipcrm.roles import Actor

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
YES_NO = [("", _("Any")), ("yes", _("Yes")), ("no", _("No"))]


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class ClientFilterForm(forms.Form):
    """The client list's search, filters and sort order (all optional, all from GET)."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("Name, customer number, mobile or its last 4 digits"),
                "autocomplete": "off",
            }
        ),
    )
    branch = forms.ModelChoiceField(
        label=_("Branch"), required=False, queryset=None, empty_label=_("All branches")
    )
    owner_rm = forms.ModelChoiceField(
        label=_("Owner RM"), required=False, queryset=None, empty_label=_("All RMs")
    )
    tier = forms.ModelChoiceField(
        label=_("Tier"), required=False, queryset=None, empty_label=_("All tiers")
    )
    risk_level = forms.ChoiceField(
        label=_("Risk level"),
        required=False,
        choices=[("", _("All levels")), *RiskLevel.choices],
    )
    risk = forms.ChoiceField(
        label=_("Risk assessment"),
        required=False,
        choices=[("", _("Any")), ("expired", _("Expired or missing")), ("valid", _("Valid"))],
    )
    entrepreneur = forms.ChoiceField(label=_("Entrepreneur"), required=False, choices=YES_NO)
    maturing = forms.IntegerField(
        label=_("Maturing within (days)"),
        required=False,
        min_value=1,
        max_value=365,
        widget=forms.NumberInput(attrs={"placeholder": "30", "inputmode": "numeric"}),
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("name", pgettext_lazy("sort", "Name")),
            ("-aum", _("AUM, largest first")),
            ("aum", _("AUM, smallest first")),
            ("external_id", _("Customer number")),
            ("risk_assessed", _("Risk assessed, oldest first")),
        ],
    )

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        choices = selectors.client_filter_choices(actor=actor)
        self.fields["branch"].queryset = choices["branches"]
        self.fields["owner_rm"].queryset = choices["owner_rms"]
        self.fields["tier"].queryset = choices["tiers"]

    def search_arguments(self) -> dict:
        """Keyword arguments for ``selectors.client_search`` from the valid fields.

        Call after ``is_valid()``: an invalid field shows its error and is left out,
        the valid ones still apply.
        """
        data = getattr(self, "cleaned_data", {})
        risk = data.get("risk")
        return {
            "query": data.get("q") or "",
            "branch": data.get("branch"),
            "owner_rm": data.get("owner_rm"),
            "tier": data.get("tier"),
            "risk_level": data.get("risk_level") or "",
            "risk_expired": {"expired": True, "valid": False}.get(risk or ""),
            "is_entrepreneur": _yes_no(data.get("entrepreneur") or ""),
            "maturing_within_days": data.get("maturing"),
            "sort": data.get("sort") or "name",
        }

    def active_filters(self) -> int:
        """How many filters (besides search and sort) narrow the list."""
        names = ("branch", "owner_rm", "tier", "risk_level", "risk", "entrepreneur", "maturing")
        data = getattr(self, "cleaned_data", {})
        return sum(1 for name in names if data.get(name) not in (None, ""))


class SectionForm(forms.Form):
    """A form of a 360 page section. Several share the page, so their element ids carry
    the form's own prefix (``need-kind``, ``event-kind``…) and never collide."""

    id_prefix = "form"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)


class NeedForm(SectionForm):
    id_prefix = "need"
    kind = forms.ChoiceField(label=_("Need"), choices=[("", "—"), *Need.Kind.choices])
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": _("What the client said (optional)")}),
    )


class LifeEventForm(SectionForm):
    id_prefix = "event"
    kind = forms.ChoiceField(label=_("Event type"), choices=[("", "—"), *LifeEvent.Kind.choices])
    occurs_on = forms.DateField(label=_("Date"), widget=DATE_INPUT)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)


class HeldAwayAssetForm(SectionForm):
    id_prefix = "asset"
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", "—"), *HeldAwayAsset.Kind.choices])
    amount_cny = forms.DecimalField(
        label=_("Estimated value (CNY)"),
        min_value=0,
        max_digits=MONEY["max_digits"],
        decimal_places=MONEY["decimal_places"],
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
    )
    description = forms.CharField(label=_("Description"), required=False, max_length=200)
    as_of = forms.DateField(label=_("As of"), required=False, widget=DATE_INPUT)


class RelationshipForm(SectionForm):
    """A tie to another client, found by customer number among the clients in view."""

    id_prefix = "tie"

    related = forms.CharField(
        label=_("Customer number"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    kind = forms.ChoiceField(
        label=_("Relationship"), choices=[("", "—"), *Relationship.Kind.choices]
    )

    def __init__(self, *args, actor: Actor, client: Client, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.client = client

    def clean_related(self) -> Client:
        number = self.cleaned_data["related"].strip()
        # Another tenant's customer, or one outside the actor's scope, is "not found":
        # the form must not reveal that a customer number exists elsewhere.
        related = selectors.client_list(actor=self.actor).filter(external_id=number).first()
        if related is None:
            raise forms.ValidationError(
                _("No client with this customer number in your view."), code="not_found"
            )
        if related.pk == self.client.pk:
            raise forms.ValidationError(_("A client cannot be related to themself."), code="self")
        return related


class PreferencesForm(SectionForm):
    id_prefix = "prefs"
    preferred_channel = forms.ChoiceField(
        label=_("Preferred channel"),
        required=False,
        choices=[("", _("No preference")), *Channel.choices],
    )
    preferred_contact_time = forms.ChoiceField(
        label=_("Preferred contact time"),
        required=False,
        choices=[("", _("No preference")), *Client.ContactTime.choices],
    )
    is_confidential = forms.BooleanField(
        label=_("Confidential client"),
        required=False,
        help_text=_("Only the owner RM and the team see this client's identity data."),
    )
    lunar_birthday = forms.BooleanField(
        label=_("Celebrates the lunar birthday (农历)"),
        required=False,
        help_text=_("Birthday greetings are planned on the Chinese-calendar date of birth."),
    )
