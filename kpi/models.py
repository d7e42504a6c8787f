"""KPIs (考核): the inputs that exist nowhere else, the bank's scorecard weights, and the
nightly snapshots the dashboards read.

Inputs: ``TimeLog`` (an RM's hours per day by kind — VIP service, non-VIP service,
admin — for the 70% rule), ``SatisfactionSurvey`` (a client's score 1–5) and
``Complaint``, both entered in the pages or ingested through the API, and
``CoachingNote`` (a supervisor's note to an RM: the two of them and head office see it).

``ScorecardWeights``: the bank's weights of the five dimensions (results, process,
tool use, teamwork, client feedback) in the one score.

``KpiSnapshot``: every KPI of one scope (an RM, a branch, the bank) for one period (a
month, a quarter, a year, in the bank's time zone), computed by the nightly job
``kpi.snapshot`` (``kpi.services``); the metric codes, their formulas and dimensions
are in ``kpi.definitions``. Dashboards read snapshots, never the raw tables.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import Channel, Client
from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import RowScope
from vipcrm.tenancy import TenantOwnedModel

STAFF_SCOPE = RowScope(branch="staff__branch", owner="staff")
CLIENT_STAFF_SCOPE = RowScope(
    branch="client__branch", owner="client__owner_rm", team="client__team_members__staff"
)


class TimeLog(TenantOwnedModel):
    """Hours an RM spent on one day on one kind of work."""

    class Kind(models.TextChoices):
        VIP_SERVICE = "vip_service", _("VIP client service")
        NON_VIP_SERVICE = "non_vip_service", _("Non-VIP client service")
        ADMIN = "admin", _("Administration")

    staff = models.ForeignKey(
        StaffProfile, on_delete=models.CASCADE, related_name="time_logs", verbose_name=_("staff")
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind of work"), max_length=16, choices=Kind.choices)
    hours = models.DecimalField(
        _("hours"),
        max_digits=4,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("24"))],
    )

    row_scope = STAFF_SCOPE

    class Meta:
        verbose_name = _("time log")
        verbose_name_plural = _("time logs")
        ordering = ["staff", "date", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "staff", "date", "kind"], name="timelog_once_per_day_and_kind"
            ),
            models.CheckConstraint(
                condition=Q(hours__gte=0) & Q(hours__lte=24), name="timelog_hours_in_a_day"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "date"], name="timelog_date_idx")]

    def __str__(self) -> str:
        return f"{self.staff_id} {self.date} {self.kind} {self.hours}"


class SatisfactionSurvey(TenantOwnedModel):
    """A client's satisfaction with the service (满意度调查), 1 (poor) to 5 (excellent)."""

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="surveys", verbose_name=_("client")
    )
    staff = models.ForeignKey(
        StaffProfile,
        on_delete=models.PROTECT,
        related_name="surveys",
        verbose_name=_("RM rated"),
    )
    score = models.PositiveSmallIntegerField(
        _("score"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    surveyed_on = models.DateField(_("surveyed on"))
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, blank=True)
    external_id = models.CharField(
        _("external reference"),
        max_length=64,
        blank=True,
        help_text=_("The survey's id in the system that collected it (call centre, app)."),
    )

    row_scope = CLIENT_STAFF_SCOPE

    class Meta:
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")
        ordering = ["-surveyed_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1) & Q(score__lte=5), name="survey_score_1_to_5"
            ),
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=~Q(external_id=""),
                name="survey_external_id_unique_per_tenant",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "staff", "surveyed_on"], name="survey_staff_idx"),
            models.Index(fields=["tenant", "updated_at", "id"], name="survey_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} {self.score} {self.surveyed_on}"


class Complaint(TenantOwnedModel):
    """A client's complaint (客户投诉) about the service."""

    class Category(models.TextChoices):
        SERVICE_ATTITUDE = "service_attitude", _("Service attitude")
        MIS_SELLING = "mis_selling", _("Product sold unsuitably")
        WAITING = "waiting", _("Waiting time")
        FEES = "fees", _("Fees")
        ERROR = "error", _("Processing error")
        PRIVACY = "privacy", _("Privacy")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("complaint", "Open")
        RESOLVED = "resolved", _("Resolved")

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="complaints", verbose_name=_("client")
    )
    staff = models.ForeignKey(
        StaffProfile,
        on_delete=models.PROTECT,
        related_name="complaints",
        verbose_name=_("staff concerned"),
    )
    received_on = models.DateField(_("received on"))
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    description = models.TextField(_("description"), max_length=4000)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    resolved_on = models.DateField(_("resolved on"), null=True, blank=True)
    resolution = models.TextField(_("resolution"), blank=True, max_length=4000)
    external_id = models.CharField(_("external reference"), max_length=64, blank=True)

    row_scope = CLIENT_STAFF_SCOPE

    class Meta:
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")
        ordering = ["-received_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=~Q(external_id=""),
                name="complaint_external_id_unique_per_tenant",
            ),
            models.CheckConstraint(
                condition=Q(resolved_on__isnull=True) | Q(resolved_on__gte=models.F("received_on")),
                name="complaint_resolved_after_received",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "staff", "received_on"], name="complaint_staff_idx"),
            models.Index(fields=["tenant", "updated_at", "id"], name="complaint_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} {self.category} {self.received_on}"


class CoachingNote(TenantOwnedModel):
    """A supervisor's coaching note to an RM (辅导记录): seen by the two of them and head
    office only (``kpi.selectors.coaching_notes``)."""

    rm = models.ForeignKey(
        StaffProfile, on_delete=models.CASCADE, related_name="coaching_notes", verbose_name=_("RM")
    )
    author = models.ForeignKey(
        StaffProfile, on_delete=models.PROTECT, related_name="+", verbose_name=_("written by")
    )
    text = models.TextField(_("note"), max_length=4000)
    focus = models.CharField(
        _("focus"),
        max_length=16,
        blank=True,
        help_text=_("The scorecard dimension the note is about."),
    )
    follow_up_on = models.DateField(_("follow up on"), null=True, blank=True)

    row_scope = RowScope(branch="rm__branch", owner="rm")

    class Meta:
        verbose_name = _("coaching note")
        verbose_name_plural = _("coaching notes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "rm", "created_at"], name="coachingnote_rm_idx")]

    def __str__(self) -> str:
        return f"{self.author_id} → {self.rm_id}"


class ScorecardWeights(TenantOwnedModel):
    """The bank's weights (in percent, summing to 100) of the scorecard's dimensions."""

    results = models.PositiveSmallIntegerField(_("results"), default=40)
    process = models.PositiveSmallIntegerField(_("process"), default=25)
    tool_use = models.PositiveSmallIntegerField(_("tool use"), default=10)
    teamwork = models.PositiveSmallIntegerField(_("teamwork"), default=10)
    feedback = models.PositiveSmallIntegerField(_("client feedback"), default=15)

    class Meta:
        verbose_name = _("scorecard weights")
        verbose_name_plural = _("scorecard weights")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="scorecardweights_one_per_tenant"),
            models.CheckConstraint(
                condition=Q(
                    results__lte=100,
                    process__lte=100,
                    tool_use__lte=100,
                    teamwork__lte=100,
                    feedback__lte=100,
                ),
                name="scorecardweights_percent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.results}/{self.process}/{self.tool_use}/{self.teamwork}/{self.feedback}"


class KpiSnapshot(TenantOwnedModel):
    """Every KPI of one scope for one period, as the nightly job computed it."""

    class Period(models.TextChoices):
        MONTH = "month", _("Month")
        QUARTER = "quarter", _("Quarter")
        YEAR = "year", _("Year")

    class Scope(models.TextChoices):
        RM = "rm", _("RM")
        BRANCH = "branch", _("Branch")
        TENANT = "tenant", _("Bank")

    period = models.CharField(_("period"), max_length=8, choices=Period.choices)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(
        _("period end"), help_text=_("The last day of the period (inclusive).")
    )
    as_of = models.DateField(
        _("figures as of"), help_text=_("The business date the figures run to (≤ period end).")
    )
    scope = models.CharField(_("scope"), max_length=8, choices=Scope.choices)
    staff = models.ForeignKey(
        StaffProfile,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="kpi_snapshots",
        verbose_name=_("RM"),
    )
    branch = models.ForeignKey(
        Branch,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="kpi_snapshots",
        verbose_name=_("branch"),
        help_text=_("The branch itself (scope branch), or the RM's branch (scope RM)."),
    )
    # "rm:<staff id>", "branch:<branch id>" or "tenant": one row per scope and period.
    scope_key = models.CharField(_("scope key"), max_length=32)
    values = models.JSONField(
        _("figures"), default=dict, help_text=_("Metric code → value (kpi.definitions).")
    )
    scores = models.JSONField(
        _("scores"),
        default=dict,
        help_text=_("Dimension → score 0–100, and 'total' (RM and branch scopes)."),
    )
    score = models.DecimalField(_("score"), max_digits=5, decimal_places=2, null=True, blank=True)
    rank_in_branch = models.PositiveIntegerField(_("rank in the branch"), null=True, blank=True)
    positions = models.JSONField(
        _("positions"),
        default=dict,
        help_text=_(
            "Rank-scored metric → [RMs with a better value, RMs with a value] among the "
            "bank's RMs (scope RM): the scorecard's positions, without reading every RM's row."
        ),
    )
    branch_peers = models.PositiveIntegerField(
        _("RMs in the branch"),
        null=True,
        blank=True,
        help_text=_("The RMs ranked with this one in its branch (scope RM)."),
    )
    computed_at = models.DateTimeField(_("computed at"))

    row_scope = RowScope(branch="branch", owner="staff")

    class Meta:
        verbose_name = _("KPI snapshot")
        verbose_name_plural = _("KPI snapshots")
        ordering = ["-period_start", "scope", "scope_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "period", "period_start", "scope_key"],
                name="kpisnapshot_once_per_scope_and_period",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")),
                name="kpisnapshot_period_order",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "period", "period_start", "scope", "branch"],
                name="kpisnapshot_period_idx",
            ),
            models.Index(
                fields=["tenant", "staff", "period", "period_start"], name="kpisnapshot_staff_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope_key} {self.period} {self.period_start}"
