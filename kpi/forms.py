"""Forms of the KPI input pages: the weekly time grid, recording a survey or a
complaint, resolving a complaint, a coaching note, and the lists' filters.

Plain forms: they check the input's shape (and find the client by its customer number
among those the actor sees); ``kpi.inputs`` checks the rules and writes. A service's
refusal is shown on the field it names (``add_service_error``).
"""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Client
from kpi import selectors
from kpi.definitions import DIMENSIONS
from kpi.models import Complaint, TimeLog
from kpi.selectors import TimeWeek
from vipcrm.roles import Actor, Role, visible_to

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
OVERSEERS = (Role.SUPERVISOR, Role.HEAD_OFFICE)


# --- Periods -----------------------------------------------------------------------------

PERIOD_PATTERN = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>0[1-9]|1[0-2])|-[Qq](?P<quarter>[1-4]))?$"
)


@dataclass(frozen=True)
class Period:
    """A calendar month, quarter or year, as the scorecard counts them."""

    text: str
    start: datetime.date
    end: datetime.date


def period_parse(value: str) -> Period:
    """``2026-11`` (a month), ``2026-Q4`` (a quarter) or ``2026`` (a year); ``ValueError``
    for anything else."""
    match = PERIOD_PATTERN.match((value or "").strip())
    if match is None or int(match["year"]) < 1:
        raise ValueError(value)
    year = int(match["year"])
    if match["month"]:
        month = int(match["month"])
        first, last = month, month
        text = f"{year:04d}-{month:02d}"
    elif match["quarter"]:
        quarter = int(match["quarter"])
        first, last = quarter * 3 - 2, quarter * 3
        text = f"{year:04d}-Q{quarter}"
    else:
        first, last = 1, 12
        text = f"{year:04d}"
    end_day = calendar.monthrange(year, last)[1]
    return Period(text, datetime.date(year, first, 1), datetime.date(year, last, end_day))


def recent_periods(today: datetime.date) -> list[str]:
    """The periods a filter suggests: this and the two previous months, this and the
    previous quarter, this and the previous year."""
    months = []
    year, month = today.year, today.month
    for _n in range(3):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    quarter = (today.month - 1) // 3 + 1
    previous = f"{today.year:04d}-Q{quarter - 1}" if quarter > 1 else f"{today.year - 1:04d}-Q4"
    return [
        *months,
        f"{today.year:04d}-Q{quarter}",
        previous,
        f"{today.year:04d}",
        f"{today.year - 1:04d}",
    ]


class PeriodField(forms.CharField):
    """A month, quarter or year (see ``period_parse``), cleaned to a ``Period``."""

    default_error_messages = {
        "invalid": _("Give a month (2026-11), a quarter (2026-Q4) or a year (2026)."),
    }

    def to_python(self, value) -> Period | None:
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return period_parse(value)
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None

    def prepare_value(self, value):
        return value.text if isinstance(value, Period) else value


# --- Time --------------------------------------------------------------------------------


class WeekForm(forms.Form):
    week = forms.DateField(label=_("Week of"), required=False, widget=DATE_INPUT)


def cell_name(day: datetime.date, kind: str) -> str:
    return f"{kind}-{day.isoformat()}"


class TimeWeekForm(forms.Form):
    """One field per day and kind of the week (``cell_name``): hours, 0 to 24, two
    decimals at most. Days after today are disabled (the service refuses them too)."""

    def __init__(self, *args, week: TimeWeek, initial_hours=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.week = week
        initial_hours = week.cells() if initial_hours is None else initial_hours
        for day in week.days:
            for kind, label in TimeLog.Kind.choices:
                value = initial_hours.get((day.day, kind))
                self.fields[cell_name(day.day, kind)] = forms.DecimalField(
                    label=f"{label} · {day.day.isoformat()}",
                    required=False,
                    min_value=Decimal("0"),
                    max_value=Decimal("24"),
                    max_digits=4,
                    decimal_places=2,
                    disabled=day.is_future,
                    initial=value if value else None,
                    widget=forms.NumberInput(
                        attrs={
                            "aria-label": f"{label} {day.day.isoformat()}",
                            "step": "0.25",
                            "min": "0",
                            "max": "24",
                            "inputmode": "decimal",
                            "class": "timegrid__input",
                        }
                    ),
                )

    def rows(self) -> list[dict]:
        """The grid as the template draws it: a row per kind, a bound field per day."""
        return [
            {
                "kind": kind,
                "label": label,
                "cells": [self[cell_name(day.day, kind)] for day in self.week.days],
                "total": self.week.kind_totals[kind],
            }
            for kind, label in TimeLog.Kind.choices
        ]

    def hours(self) -> dict[tuple[datetime.date, str], Decimal | None]:
        """The cells to save (valid form): those sent, days to come left out."""
        return {
            (day.day, kind): self.cleaned_data.get(cell_name(day.day, kind))
            for day in self.week.days
            if not day.is_future
            for kind in TimeLog.Kind.values
            if cell_name(day.day, kind) in self.data
        }


# --- Surveys and complaints --------------------------------------------------------------


class ClientNumberField(forms.CharField):
    """A client's customer number, cleaned to the client among those the actor sees."""

    default_error_messages = {
        "unknown": _("No client with this customer number among the clients you see."),
    }

    def __init__(self, *, actor: Actor | None = None, **kwargs):
        kwargs.setdefault("label", _("Customer number"))
        kwargs.setdefault("max_length", Client._meta.get_field("external_id").max_length)
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        )
        super().__init__(**kwargs)
        self.actor = actor

    def clean(self, value) -> Client:
        number = super().clean(value)
        client = (
            visible_to(Client.objects.select_related("owner_rm", "branch"), self.actor)
            .filter(external_id=number)
            .first()
        )
        if client is None:
            raise ValidationError(self.error_messages["unknown"], code="unknown")
        return client


class FeedbackForm(forms.Form):
    """What a survey and a complaint share: the client (by customer number) and the
    staff member it is about, the client's owner RM when left empty."""

    staff_roles: tuple[str, ...] = (Role.RM,)
    staff_label = _("RM")
    no_owner = _("This client has no owner RM: choose who the record is about.")

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client"] = ClientNumberField(actor=actor)
        self.fields["staff"] = forms.ModelChoiceField(
            label=self.staff_label,
            required=False,
            queryset=selectors.rm_choices(actor=actor, roles=self.staff_roles).filter(
                is_active=True
            ),
            empty_label=_("The client's owner RM"),
        )
        self.order_fields(["client", "staff"])

    def clean(self):
        cleaned = super().clean()
        client = cleaned.get("client")
        if client is not None and cleaned.get("staff") is None and "staff" not in self.errors:
            if client.owner_rm is None:
                self.add_error("staff", self.no_owner)
            else:
                cleaned["staff"] = client.owner_rm
        return cleaned


class SurveyForm(FeedbackForm):
    staff_label = _("RM rated")

    score = forms.TypedChoiceField(
        label=_("Score"),
        coerce=int,
        choices=[(5, _("5 · excellent")), (4, "4"), (3, "3"), (2, "2"), (1, _("1 · poor"))],
        widget=forms.RadioSelect,
    )
    surveyed_on = forms.DateField(label=_("Surveyed on"), widget=DATE_INPUT)
    channel = forms.ChoiceField(
        label=_("Channel"), required=False, choices=[("", _("Not known")), *Channel.choices]
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("What the client said")}),
    )


class ComplaintForm(FeedbackForm):
    staff_label = _("Staff concerned")
    staff_roles = (Role.RM, Role.ADVISOR)

    received_on = forms.DateField(label=_("Received on"), widget=DATE_INPUT)
    category = forms.ChoiceField(
        label=_("Category"), choices=[("", "—"), *Complaint.Category.choices]
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=4000,
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": _("What the client complains about")}
        ),
    )


class ComplaintResolveForm(forms.Form):
    resolved_on = forms.DateField(label=_("Resolved on"), widget=DATE_INPUT)
    resolution = forms.CharField(
        label=_("Resolution"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": _("What was done about it")}),
    )


class FeedbackFilterForm(forms.Form):
    """The lists' filters (all optional, from GET): the staff member, the client's
    branch (supervisors and head office: RMs and advisors see their own clients only),
    the period. An invalid filter shows its error; the valid ones still apply."""

    staff_roles: tuple[str, ...] = (Role.RM,)
    staff_label = _("RM")

    period = PeriodField(
        label=_("Period"),
        required=False,
        widget=forms.TextInput(
            attrs={
                "placeholder": "2026-11",
                "list": "periods",
                "title": _("A month (2026-11), a quarter (2026-Q4) or a year (2026)"),
            }
        ),
    )

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        if actor.role in OVERSEERS:
            self.fields["staff"] = forms.ModelChoiceField(
                label=self.staff_label,
                required=False,
                queryset=selectors.rm_choices(actor=actor, roles=self.staff_roles),
                empty_label=_("Everyone"),
            )
            self.fields["branch"] = forms.ModelChoiceField(
                label=_("Branch"),
                required=False,
                queryset=selectors.branch_choices(actor=actor),
                empty_label=_("All branches"),
            )
            self.order_fields(["staff", "branch", "period"])

    def arguments(self) -> dict:
        """Keyword arguments for the list's selector from the valid fields (call after
        ``is_valid()``)."""
        data = getattr(self, "cleaned_data", {})
        period = data.get("period")
        return {
            "staff": data.get("staff"),
            "branch": data.get("branch"),
            "date_from": period.start if period else None,
            "date_to": period.end if period else None,
        }

    def active_filters(self) -> int:
        data = getattr(self, "cleaned_data", {})
        return sum(1 for value in data.values() if value not in (None, ""))


class SurveyFilterForm(FeedbackFilterForm):
    staff_label = _("RM rated")

    score = forms.TypedChoiceField(
        label=_("Score"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("Any score")), *((n, str(n)) for n in range(5, 0, -1))],
    )

    def arguments(self) -> dict:
        return {**super().arguments(), "score": getattr(self, "cleaned_data", {}).get("score")}


class ComplaintFilterForm(FeedbackFilterForm):
    staff_roles = (Role.RM, Role.ADVISOR)
    staff_label = _("Staff concerned")

    category = forms.ChoiceField(
        label=_("Category"),
        required=False,
        choices=[("", _("Any category")), *Complaint.Category.choices],
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Open and resolved")), *Complaint.Status.choices],
    )

    def arguments(self) -> dict:
        data = getattr(self, "cleaned_data", {})
        return {
            **super().arguments(),
            "category": data.get("category") or "",
            "status": data.get("status") or "",
        }


# --- Coaching ----------------------------------------------------------------------------


class CoachingNoteForm(forms.Form):
    """A coaching note; the browser test posts ``text``, ``focus`` and ``follow_up_on``."""

    text = forms.CharField(
        label=_("Note"),
        max_length=4000,
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": _("What went well, what to work on, and how")}
        ),
    )
    focus = forms.ChoiceField(
        label=_("Focus"),
        required=False,
        choices=[("", _("General")), *DIMENSIONS.items()],
    )
    follow_up_on = forms.DateField(
        label=_("Follow up on"),
        required=False,
        widget=DATE_INPUT,
        help_text=_("Optional: when you will look at it together again."),
    )
