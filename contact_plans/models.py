"""Contact plans (联系计划): every VIP contacted on time.

A client's ``ContactPlan`` holds the cadence of their tier's service standard, the last
completed contact and the next due date. ``PlannedContact`` rows are the concrete
reasons to call (cadence, a maturing holding, a birthday, a festival, a risk
re-assessment, a life event, a campaign, a follow-up); an ``Interaction`` is a real
contact, which completes the planned contact it answers and moves the plan on.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Client, Holding, LifeEvent
from segmentation.models import CLIENT_SCOPE
from vipcrm.models import StaffProfile
from vipcrm.roles import RowScope
from vipcrm.tenancy import TenantOwnedModel


class ContactPlan(TenantOwnedModel):
    """One client's plan: how often, when last, when next (kept by the nightly job and
    by every interaction)."""

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="contact_plans", verbose_name=_("client")
    )
    cadence_days = models.PositiveSmallIntegerField(
        _("contact cadence (days)"),
        null=True,
        blank=True,
        help_text=_("From the tier's service standard; empty for a client without a tier."),
    )
    last_contact_on = models.DateField(_("last contact"), null=True, blank=True)
    next_due_on = models.DateField(_("next contact due"), null=True, blank=True)

    row_scope = CLIENT_SCOPE

    class Meta:
        verbose_name = _("contact plan")
        verbose_name_plural = _("contact plans")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "client"], name="contactplan_one_per_client"),
        ]
        indexes = [
            models.Index(fields=["tenant", "next_due_on"], name="contactplan_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id}: {self.next_due_on}"


class PlannedContact(TenantOwnedModel):
    """A contact the RM should make, why, and by when."""

    class Reason(models.TextChoices):
        CADENCE = "cadence", _("Regular contact (cadence)")
        MATURITY = "maturity", _("Product maturity")
        LIFE_EVENT = "life_event", _("Life event")
        BIRTHDAY = "birthday", _("Birthday")
        FESTIVAL = "festival", _("Festival greetings")
        RISK_REASSESSMENT = "risk_reassessment", _("Risk re-assessment due")
        CAMPAIGN = "campaign", _("Campaign")
        FOLLOW_UP = "follow_up", _("Follow-up")

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        OVERDUE = "overdue", _("Overdue")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN = (Status.PLANNED, Status.OVERDUE)

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="planned_contacts", verbose_name=_("client")
    )
    assigned_to = models.ForeignKey(
        StaffProfile,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="planned_contacts",
        verbose_name=_("assigned to"),
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    due_on = models.DateField(_("due on"))
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PLANNED
    )
    # What the contact came from. ``source_key`` makes the nightly planning exactly-once:
    # e.g. "maturity:<holding id>:<maturity date>", "birthday:2027", "cadence:<due date>".
    source_key = models.CharField(_("source"), max_length=80)
    holding = models.ForeignKey(
        Holding,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="planned_contacts",
        verbose_name=_("holding"),
    )
    life_event = models.ForeignKey(
        LifeEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="planned_contacts",
        verbose_name=_("life event"),
    )
    source_date = models.DateField(
        _("occasion date"),
        null=True,
        blank=True,
        help_text=_("The maturity date, birthday, festival or event the contact is about."),
    )
    amount_cny = models.DecimalField(
        _("amount (CNY)"), max_digits=18, decimal_places=2, null=True, blank=True
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(
        _("reminders sent"),
        default=0,
        validators=[MaxValueValidator(3)],
        help_text=_("Maturity reminders already sent: at the lead time, 7 days and 1 day before."),
    )
    rescheduled_from = models.DateField(_("originally due on"), null=True, blank=True)
    reschedule_reason = models.CharField(_("reason for rescheduling"), max_length=200, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    cancel_reason = models.CharField(
        _("reason for cancelling"),
        max_length=200,
        blank=True,
        help_text=_("Given by whoever cancelled it; empty when the nightly planning did."),
    )

    row_scope = CLIENT_SCOPE

    class Meta:
        verbose_name = _("planned contact")
        verbose_name_plural = _("planned contacts")
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "client", "reason", "source_key"],
                name="plannedcontact_once_per_source",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "assigned_to", "status", "due_on"],
                name="plannedcontact_rm_due_idx",
            ),
            models.Index(fields=["tenant", "status", "due_on"], name="plannedcontact_due_idx"),
            # The open contacts by due date, with their client (PostgreSQL): the overdue
            # list in due order and its count, without reading the table.
            models.Index(
                fields=["tenant", "due_on", "id"],
                include=["client"],
                condition=Q(status__in=["planned", "overdue"]),
                name="plannedcontact_open_due_idx",
            ),
            models.Index(fields=["tenant", "updated_at", "id"], name="plannedcontact_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} {self.reason} {self.due_on}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class Interaction(TenantOwnedModel):
    """A real contact with a client (联系记录)."""

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="interactions", verbose_name=_("client")
    )
    staff = models.ForeignKey(
        StaffProfile,
        on_delete=models.PROTECT,
        related_name="interactions",
        verbose_name=_("logged by"),
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    occurred_at = models.DateTimeField(_("when"))
    duration_minutes = models.PositiveSmallIntegerField(
        _("duration (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
    )
    summary = models.TextField(_("summary"))
    needs_found = models.JSONField(
        _("needs found"), default=list, blank=True, help_text=_("Need kinds found in the talk.")
    )
    next_step = models.CharField(_("next step"), max_length=300, blank=True)
    next_step_on = models.DateField(_("next step on"), null=True, blank=True)
    planned_contact = models.ForeignKey(
        PlannedContact,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="interactions",
        verbose_name=_("answers the planned contact"),
    )
    external_id = models.CharField(
        _("external reference"),
        max_length=64,
        blank=True,
        help_text=_("The id in the system that logged it (call centre, mobile app)."),
    )

    row_scope = CLIENT_SCOPE

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "client", "occurred_at"], name="interaction_client_idx"),
            models.Index(fields=["tenant", "staff", "occurred_at"], name="interaction_staff_idx"),
            models.Index(fields=["tenant", "updated_at", "id"], name="interaction_updated_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=~models.Q(external_id=""),
                name="interaction_external_id_unique_per_tenant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} {self.channel} {self.occurred_at:%Y-%m-%d}"


class CalendarFeed(TenantOwnedModel):
    """A staff member's secret calendar URL (.ics) for their planned contacts.

    Only the SHA-256 of the secret is stored; the URL is shown once when made, and a new
    one replaces (revokes) the old.
    """

    staff = models.ForeignKey(
        StaffProfile,
        on_delete=models.CASCADE,
        related_name="calendar_feeds",
        verbose_name=_("staff member"),
    )
    secret_hash = models.CharField(_("secret (SHA-256)"), max_length=64)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    row_scope = RowScope(branch="staff__branch", owner="staff")

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "staff"], name="calendarfeed_one_per_staff"),
            models.UniqueConstraint(
                fields=["tenant", "secret_hash"], name="calendarfeed_secret_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"calendar of {self.staff_id}"


class LunarDay(models.Model):
    """One solar day in the Chinese calendar (农历): a reference table, the same for every
    bank (not tenant-owned), filled a year at a time by ``contact_plans.lunar``.

    It lets the nightly planning find lunar birthdays and festivals with joins instead
    of converting dates in Python one client at a time.
    """

    solar_date = models.DateField(_("solar date"), primary_key=True)
    lunar_year = models.PositiveSmallIntegerField(_("lunar year"))
    lunar_month = models.PositiveSmallIntegerField(
        _("lunar month"), validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    lunar_day = models.PositiveSmallIntegerField(
        _("lunar day"), validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    is_leap_month = models.BooleanField(_("leap month (闰月)"), default=False)
    month_days = models.PositiveSmallIntegerField(
        _("days in the lunar month"), validators=[MinValueValidator(29), MaxValueValidator(30)]
    )

    class Meta:
        verbose_name = _("lunar calendar day")
        verbose_name_plural = _("lunar calendar days")
        ordering = ["solar_date"]
        indexes = [
            models.Index(
                fields=["lunar_month", "lunar_day", "is_leap_month"], name="lunarday_lunar_idx"
            ),
        ]

    def __str__(self) -> str:
        leap = "闰" if self.is_leap_month else ""
        return f"{self.solar_date}: {self.lunar_year}年{leap}{self.lunar_month}月{self.lunar_day}日"
