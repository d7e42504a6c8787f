"""Forms of the supervisor lists and the capacity page: filters (GET) and the actions
(reassign, capacity). Plain forms: they validate input; ``segmentation.capacity``
checks permissions and writes."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from segmentation import capacity, selectors
from segmentation.models import TierChange
from vipcrm.models import StaffProfile
from vipcrm.roles import Actor, Role

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
POOL = "pool"


class ListFilterForm(forms.Form):
    """Branch, RM and tier filters shared by the lists (all optional, all from GET).

    Supervisors and head office pick among the branches and RMs they see; an RM's lists
    are their own book, so those two filters are dropped for them.
    """

    branch = forms.ModelChoiceField(
        label=_("Branch"), required=False, queryset=None, empty_label=_("All branches")
    )
    owner_rm = forms.ModelChoiceField(
        label=_("RM"), required=False, queryset=None, empty_label=_("All RMs")
    )
    tier = forms.ModelChoiceField(
        label=_("Tier"), required=False, queryset=None, empty_label=_("All tiers")
    )

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        choices = selectors.list_filter_choices(actor=actor)
        if actor.role == Role.RM:
            del self.fields["branch"], self.fields["owner_rm"]
        else:
            self.fields["branch"].queryset = choices["branches"]
            self.fields["owner_rm"].queryset = choices["owner_rms"]
        self.fields["tier"].queryset = choices["tiers"]

    def arguments(self) -> dict:
        """Keyword arguments for the list's selector from the valid fields.

        Call after ``is_valid()``: an invalid field shows its error and is left out,
        the valid ones still apply.
        """
        data = getattr(self, "cleaned_data", {})
        return {name: data.get(name) for name in ("branch", "owner_rm", "tier") if name in data}

    def active_filters(self) -> int:
        data = getattr(self, "cleaned_data", {})
        return sum(1 for name, value in data.items() if name != "sort" and value not in (None, ""))


class UnqualifiedFilterForm(ListFilterForm):
    kind = forms.ChoiceField(
        label=_("Why"),
        required=False,
        choices=[("", _("Any reason")), *selectors.UnqualifiedKind.choices],
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("gap", _("Furthest below the floor first")),
            ("-gap", _("Closest to the floor first")),
            ("basis", _("Average AUM, smallest first")),
            ("-basis", _("Average AUM, largest first")),
            ("months", _("Months below the floor, most first")),
            ("rm", _("RM")),
            ("name", _("Client name")),
        ],
    )

    def arguments(self) -> dict:
        data = getattr(self, "cleaned_data", {})
        return {
            **super().arguments(),
            "kind": data.get("kind") or "",
            "sort": data.get("sort") or "gap",
        }


class NearThresholdFilterForm(ListFilterForm):
    next_tier = forms.ModelChoiceField(
        label=_("Next tier"), required=False, queryset=None, empty_label=_("Any next tier")
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("gap", _("Amount missing, smallest first")),
            ("-gap", _("Amount missing, largest first")),
            ("-basis", _("Average AUM, largest first")),
            ("name", _("Client name")),
        ],
    )

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, actor=actor, **kwargs)
        self.fields["next_tier"].queryset = self.fields["tier"].queryset
        self.fields["tier"].empty_label = _("Any current tier")
        self.fields["tier"].label = _("Current tier")

    def arguments(self) -> dict:
        data = getattr(self, "cleaned_data", {})
        return {
            **super().arguments(),
            "next_tier": data.get("next_tier"),
            "sort": data.get("sort") or "gap",
        }


class TierChangeFilterForm(ListFilterForm):
    effective_on = forms.DateField(label=_("On"), required=False, widget=DATE_INPUT)
    date_from = forms.DateField(label=_("From"), required=False, widget=DATE_INPUT)
    date_to = forms.DateField(label=_("To"), required=False, widget=DATE_INPUT)
    direction = forms.ChoiceField(
        label=_("Direction"),
        required=False,
        choices=[("", _("Up and down")), *selectors.Direction.choices],
    )
    reason = forms.ChoiceField(
        label=_("Reason"),
        required=False,
        choices=[("", _("Any reason")), *TierChange.Reason.choices],
    )

    field_order = ["effective_on", "date_from", "date_to", "direction", "reason"]

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, actor=actor, **kwargs)
        self.fields["tier"].label = _("To tier")
        self.fields["tier"].empty_label = _("Any tier")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
            cleaned.pop("date_to", None)
        return cleaned

    def arguments(self) -> dict:
        data = getattr(self, "cleaned_data", {})
        return {
            **super().arguments(),
            "effective_on": data.get("effective_on"),
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "direction": data.get("direction") or "",
            "reason": data.get("reason") or "",
        }


class CapacityFilterForm(forms.Form):
    branch = forms.ModelChoiceField(
        label=_("Branch"), required=False, queryset=None, empty_label=_("All my branches")
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *capacity.LoadStatus.choices],
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("-ratio", _("Service ratio, highest first")),
            ("ratio", _("Service ratio, lowest first")),
            ("-weighted", _("Weighted book, largest first")),
            ("-clients", _("Clients, most first")),
            ("-unqualified", _("Unqualified VIPs, most first")),
            ("branch", _("Branch")),
            ("name", _("RM")),
        ],
    )

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        if actor.role == Role.RM:
            del self.fields["branch"]
        else:
            self.fields["branch"].queryset = selectors.list_filter_choices(actor=actor)["branches"]


class ClientIdsField(forms.Field):
    """The ids of the clients ticked in a list (``<input name=clients value=id>``)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": _("Select at least one client."),
        "invalid": _("The selection of clients is not valid."),
        "too_many": _("Select at most %(max)d clients at a time."),
    }

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        try:
            ids = sorted({int(item) for item in value})
        except (TypeError, ValueError) as error:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from error
        if any(pk <= 0 for pk in ids):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if len(ids) > capacity.MAX_REASSIGN:
            raise forms.ValidationError(
                self.error_messages["too_many"],
                code="too_many",
                params={"max": capacity.MAX_REASSIGN},
            )
        return ids


class ReassignForm(forms.Form):
    """Move the ticked clients to an RM of the actor's branches, or release them to the
    branch pool. The target list holds only active RMs the actor may assign to."""

    clients = ClientIdsField(label=_("Clients"))
    to_rm = forms.ChoiceField(label=_("Move to"))
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. book clean-up after re-tiering")}),
    )

    def __init__(self, *args, actor: Actor, **kwargs):
        kwargs.setdefault("auto_id", "reassign-%s")
        super().__init__(*args, **kwargs)
        self.targets = {
            str(rm.pk): rm
            for rm in capacity.capacity_rms(actor=actor).order_by("branch__code", "name")
        }
        self.fields["to_rm"].choices = [
            ("", _("Choose…")),
            (POOL, _("Release to the branch pool (no RM)")),
            (
                _("RMs"),
                [(pk, f"{rm.name} · {rm.branch.name}") for pk, rm in self.targets.items()],
            ),
        ]

    def clean_to_rm(self) -> StaffProfile | None:
        value = self.cleaned_data["to_rm"]
        return None if value == POOL else self.targets[value]


class RmCapacityForm(forms.Form):
    capacity = forms.DecimalField(
        label=_("Capacity (weighted clients)"),
        required=False,
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("999999.99"))],
        help_text=_("Leave empty to use the bank's default."),
        widget=forms.NumberInput(attrs={"step": "0.5", "min": "1", "inputmode": "decimal"}),
    )
