"""Forms of the contact-plan pages: logging an interaction, rescheduling, planning and
cancelling a contact, and the filters of the supervisors' pages.

Plain forms: they check the input's shape; ``contact_plans.services`` checks the rules
(scope, a contact in the future, a due date in the past…) and writes. A service's
refusal is shown on the field it names (``add_service_error``).
"""

from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from contact_plans.models import PlannedContact
from customers.models import Channel, Need
from segmentation.list_forms import ListFilterForm
from vipcrm.roles import Actor

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
MAX_DURATION = 24 * 60

# Reasons an RM may plan by hand; the others come from the nightly planning.
MANUAL_REASONS = (
    PlannedContact.Reason.FOLLOW_UP,
    PlannedContact.Reason.CAMPAIGN,
    PlannedContact.Reason.LIFE_EVENT,
    PlannedContact.Reason.RISK_REASSESSMENT,
)


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """A service's refusal, on the form field it names (or above the form)."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


class InteractionLogForm(forms.Form):
    """Log a contact. ``short``: the one-click form of a planned contact's row (it is
    the contact being answered, now); otherwise the client 360's form, which also asks
    when it happened and which open planned contact it answers."""

    channel = forms.ChoiceField(label=_("Channel"), choices=[("", "—"), *Channel.choices])
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        widget=DATETIME_INPUT,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text=_("Empty: now."),
    )
    summary = forms.CharField(
        label=_("Summary"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("What was discussed")}),
    )
    duration_minutes = forms.IntegerField(
        label=_("Duration (minutes)"),
        required=False,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DURATION)],
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_DURATION, "inputmode": "numeric"}),
    )
    needs_found = forms.MultipleChoiceField(
        label=_("Needs found"),
        required=False,
        choices=Need.Kind.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    next_step = forms.CharField(label=_("Next step"), required=False, max_length=300)
    next_step_on = forms.DateField(label=_("Next step on"), required=False, widget=DATE_INPUT)
    planned_contact = forms.ChoiceField(
        label=_("Answers the planned contact"),
        required=False,
        error_messages={
            "invalid_choice": _("That planned contact is not open for this client any more.")
        },
    )

    def __init__(self, *args, short: bool = False, open_contacts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self._open_contacts = {str(c.pk): c for c in open_contacts}
        if short:
            del self.fields["occurred_at"], self.fields["planned_contact"]
        else:
            # The client's open contacts, loaded by the section already (no query here).
            self.fields["planned_contact"].choices = [
                ("", _("None (an unplanned contact)")),
                *(
                    (str(c.pk), f"{c.due_on:%Y-%m-%d} · {c.get_reason_display()}")
                    for c in open_contacts
                ),
            ]

    def clean_planned_contact(self):
        return self._open_contacts.get(self.cleaned_data.get("planned_contact") or "")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("next_step_on") and not cleaned.get("next_step"):
            self.add_error("next_step", _("Say what the next step is, or leave its date empty."))
        return cleaned

    def log_arguments(self) -> dict:
        """Keyword arguments for ``services.interaction_log`` (valid forms only)."""
        data = self.cleaned_data
        arguments = {
            "channel": data["channel"],
            "occurred_at": data.get("occurred_at") or timezone.now(),
            "summary": data["summary"],
            "duration_minutes": data.get("duration_minutes"),
            "needs_found": tuple(data.get("needs_found") or ()),
            "next_step": data.get("next_step") or "",
            "next_step_on": data.get("next_step_on"),
        }
        if "planned_contact" in self.fields:
            arguments["planned_contact"] = data.get("planned_contact")
        return arguments


class RescheduleForm(forms.Form):
    due_on = forms.DateField(label=_("New due date"), widget=DATE_INPUT)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("Why it moves (required)")}),
    )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for cancelling"),
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("Why it is not needed (required)")}),
    )


class PlannedContactCreateForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[(reason.value, reason.label) for reason in MANUAL_REASONS],
    )
    due_on = forms.DateField(label=_("Due on"), widget=DATE_INPUT)
    channel = forms.ChoiceField(
        label=_("Channel"), required=False, choices=[("", _("Any channel")), *Channel.choices]
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=200)


class WeekForm(forms.Form):
    start = forms.DateField(label=_("Week of"), required=False, widget=DATE_INPUT)


class PrintForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=DATE_INPUT)
    days = forms.TypedChoiceField(
        label=_("Span"),
        required=False,
        coerce=int,
        choices=[(1, _("One day")), (7, _("One week"))],
        empty_value=7,
    )


class OverdueFilterForm(ListFilterForm):
    """The overdue list's filters: branch and RM (supervisors, head office), reason,
    overdue by at least N days."""

    reason = forms.ChoiceField(
        label=_("Reason"),
        required=False,
        choices=[("", _("Any reason")), *PlannedContact.Reason.choices],
    )
    min_days = forms.IntegerField(
        label=_("Overdue by at least (days)"),
        required=False,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, actor=actor, **kwargs)
        del self.fields["tier"]
        if "owner_rm" in self.fields:
            self.fields["owner_rm"].label = _("Assigned RM")

    def arguments(self) -> dict:
        data = getattr(self, "cleaned_data", {})
        return {
            "branch": data.get("branch"),
            "assigned_to": data.get("owner_rm"),
            "reason": data.get("reason") or "",
            "min_days": data.get("min_days"),
        }


class CoverageFilterForm(ListFilterForm):
    """The coverage page's branch, the day coverage is measured on, and the adherence
    period (default: the 30 days before that day)."""

    on = forms.DateField(label=_("Coverage on"), required=False, widget=DATE_INPUT)
    start = forms.DateField(label=_("Adherence from"), required=False, widget=DATE_INPUT)
    end = forms.DateField(label=_("Adherence to"), required=False, widget=DATE_INPUT)

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, actor=actor, **kwargs)
        del self.fields["tier"]
        self.fields.pop("owner_rm", None)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if bool(start) != bool(end):
            self.add_error("end" if start else "start", _("Give both ends of the period."))
        elif start and end and start > end:
            self.add_error("end", _("The end date is before the start date."))
        elif start and end and (end - start).days > 366:
            self.add_error("end", _("The period is at most a year."))
        return cleaned

    def arguments(self, *, today: datetime.date) -> dict:
        data = getattr(self, "cleaned_data", {})
        start, end = data.get("start"), data.get("end")
        if not (start and end):
            start = end = None
        return {
            "branch": data.get("branch"),
            "on": data.get("on") or today,
            "start": start,
            "end": end,
        }
