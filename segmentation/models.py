"""Segmentation (客户分层): tiering rules, service standards, the clients' segment state.

The tiers themselves (code, name, rank, AUM floor) are ``customers.Tier``, because every
app reads them; what a tier *means* — its service standard, how clients enter and leave
it, who may pin it by hand — lives here.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.models import MONEY, Client, Product, Tier
from vipcrm.models import StaffProfile
from vipcrm.roles import RowScope
from vipcrm.tenancy import TenantOwnedModel

CLIENT_SCOPE = RowScope(
    branch="client__branch", owner="client__owner_rm", team="client__team_members__staff"
)


class TieringPolicy(TenantOwnedModel):
    """The tenant's tiering rules (one row per tenant; the defaults are the spec's)."""

    window_days = models.PositiveSmallIntegerField(
        _("tiering window (days)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(366)],
        help_text=_("Tiers follow the average daily AUM over this many days of snapshots."),
    )
    downgrade_grace = models.PositiveSmallIntegerField(
        _("downgrade grace (monthly evaluations)"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(24)],
        help_text=_(
            "A client is moved down only after this many consecutive monthly evaluations "
            "below their tier's floor."
        ),
    )
    near_threshold_percent = models.PositiveSmallIntegerField(
        _("near-threshold band (%)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_("Clients this close below the next floor are listed for an upgrade talk."),
    )
    default_rm_capacity = models.DecimalField(
        _("default RM capacity (weighted clients)"),
        max_digits=8,
        decimal_places=2,
        default=Decimal("150"),
        validators=[MinValueValidator(Decimal("1"))],
    )

    class Meta:
        verbose_name = _("tiering policy")
        verbose_name_plural = _("tiering policies")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="tieringpolicy_one_per_tenant"),
        ]

    def __str__(self) -> str:
        return str(_("Tiering policy"))


class ServiceStandard(TenantOwnedModel):
    """What a tier's clients are promised (服务标准) and what they weigh in an RM's book."""

    # A foreign key with a per-tenant unique constraint rather than a one-to-one
    # field: every unique constraint of a tenant table includes the tenant.
    tier = models.ForeignKey(
        Tier, on_delete=models.CASCADE, related_name="service_standards", verbose_name=_("tier")
    )
    contact_cadence_days = models.PositiveSmallIntegerField(
        _("contact cadence (days)"), validators=[MinValueValidator(1), MaxValueValidator(366)]
    )
    maturity_lead_days = models.PositiveSmallIntegerField(
        _("maturity lead time (days)"), validators=[MinValueValidator(1), MaxValueValidator(180)]
    )
    meetings_per_year = models.PositiveSmallIntegerField(
        _("face-to-face meetings a year"), default=0, validators=[MaxValueValidator(52)]
    )
    service_package = models.TextField(_("service package"), blank=True)
    book_weight = models.DecimalField(
        _("book weight"),
        max_digits=6,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("How much one client of this tier counts in an RM's weighted book."),
    )
    festival_care = models.BooleanField(
        _("festival care (Spring Festival, Mid-Autumn)"),
        default=False,
        help_text=_("The tier's clients are on the festival greeting lists."),
    )

    class Meta:
        verbose_name = _("service standard")
        verbose_name_plural = _("service standards")
        ordering = ["-tier__rank"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "tier"], name="servicestandard_one_per_tier"),
        ]

    def __str__(self) -> str:
        return str(self.tier)


class AumSnapshot(TenantOwnedModel):
    """A client's AUM in CNY at the end of one business day (one row per client and day)."""

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="aum_snapshots", verbose_name=_("client")
    )
    date = models.DateField(_("date"))
    aum_cny = models.DecimalField(_("AUM (CNY)"), **MONEY)

    class Meta:
        verbose_name = _("AUM snapshot")
        verbose_name_plural = _("AUM snapshots")
        ordering = ["client", "-date"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "client", "date"], name="aumsnapshot_one_per_client_day"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "date"], name="aumsnapshot_tenant_date_idx")]

    def __str__(self) -> str:
        return f"{self.client_id} {self.date} {self.aum_cny}"


class Lifecycle(models.TextChoices):
    NEW = "new", _("New")
    GROWING = "growing", _("Growing")
    STABLE = "stable", _("Stable")
    DECLINING = "declining", _("Declining")
    DORMANT = "dormant", _("Dormant")


class ClientSegment(TenantOwnedModel):
    """A client's segmentation state, kept by the nightly jobs (one row per client).

    Holds the tiering basis and the downgrade counter the hysteresis needs, and the
    derived dimensions (lifecycle, product preference) that segments filter on.
    """

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="segments", verbose_name=_("client")
    )
    average_aum_cny = models.DecimalField(
        _("average daily AUM (CNY)"), default=Decimal("0"), **MONEY
    )
    rule_tier = models.ForeignKey(
        Tier,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("tier by the rules"),
    )
    months_below_floor = models.PositiveSmallIntegerField(
        _("consecutive monthly evaluations below the floor"), default=0
    )
    last_monthly_evaluation = models.DateField(_("last monthly evaluation"), null=True, blank=True)
    evaluated_on = models.DateField(_("evaluated on"), null=True, blank=True)
    lifecycle = models.CharField(
        _("lifecycle"), max_length=16, choices=Lifecycle.choices, blank=True
    )
    product_preference = models.CharField(
        _("product preference"), max_length=32, choices=Product.Category.choices, blank=True
    )
    last_contact_on = models.DateField(_("last contact"), null=True, blank=True)
    last_aum_change_on = models.DateField(_("last AUM movement"), null=True, blank=True)

    row_scope = CLIENT_SCOPE

    class Meta:
        verbose_name = _("client segment")
        verbose_name_plural = _("client segments")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "client"], name="clientsegment_one_per_client"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "lifecycle"], name="clientsegment_lifecycle_idx"),
            models.Index(fields=["tenant", "rule_tier"], name="clientsegment_rule_tier_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} {self.lifecycle}"


class TierOverride(TenantOwnedModel):
    """A tier pinned by a supervisor, with a reason, until it expires or is revoked."""

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="tier_overrides", verbose_name=_("client")
    )
    tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, related_name="+", verbose_name=_("pinned tier")
    )
    reason = models.TextField(_("reason"))
    expires_on = models.DateField(_("expires on"))
    created_by = models.ForeignKey(
        StaffProfile,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("set by"),
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        StaffProfile,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("revoked by"),
    )

    row_scope = CLIENT_SCOPE

    class Meta:
        verbose_name = _("tier override")
        verbose_name_plural = _("tier overrides")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "client"],
                condition=Q(revoked_at__isnull=True),
                name="tieroverride_one_standing_per_client",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} → {self.tier_id} until {self.expires_on}"


class TierChange(TenantOwnedModel):
    """One move of a client between tiers: from, to, why, when."""

    class Reason(models.TextChoices):
        UPGRADE = "upgrade", _("Upgrade: average AUM reached the floor")
        DOWNGRADE = "downgrade", _("Downgrade: below the floor for the grace period")
        OVERRIDE = "override", _("Pinned by a supervisor")
        OVERRIDE_ENDED = "override_ended", _("Override ended: back to the rules")

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="tier_changes", verbose_name=_("client")
    )
    from_tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("from tier"),
    )
    to_tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("to tier"),
    )
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    average_aum_cny = models.DecimalField(_("average daily AUM (CNY)"), **MONEY)
    effective_on = models.DateField(_("effective on"))
    override = models.ForeignKey(
        TierOverride,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("override"),
    )

    row_scope = CLIENT_SCOPE

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-effective_on", "-id"]
        indexes = [
            models.Index(fields=["tenant", "effective_on"], name="tierchange_tenant_date_idx"),
            models.Index(fields=["tenant", "client", "effective_on"], name="tierchange_client_idx"),
            models.Index(fields=["tenant", "updated_at", "id"], name="tierchange_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id}: {self.from_tier_id} → {self.to_tier_id} ({self.reason})"

    @property
    def is_upgrade(self) -> bool:
        from_rank = self.from_tier.rank if self.from_tier_id else 0
        to_rank = self.to_tier.rank if self.to_tier_id else 0
        return to_rank > from_rank


class RmCapacity(TenantOwnedModel):
    """How many weighted clients an RM can serve well (default: the tenant's policy)."""

    staff = models.ForeignKey(
        StaffProfile, on_delete=models.CASCADE, related_name="capacities", verbose_name=_("RM")
    )
    capacity = models.DecimalField(
        _("capacity (weighted clients)"),
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("1"))],
    )

    row_scope = RowScope(branch="staff__branch", owner="staff")

    class Meta:
        verbose_name = _("RM capacity")
        verbose_name_plural = _("RM capacities")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "staff"], name="rmcapacity_one_per_staff"),
        ]

    def __str__(self) -> str:
        return f"{self.staff_id}: {self.capacity}"


class SavedSegment(TenantOwnedModel):
    """A named filter over clients and their segment (a target list), built in a page."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    criteria = models.JSONField(_("criteria"), default=dict)
    owner = models.ForeignKey(
        StaffProfile, on_delete=models.PROTECT, related_name="segments", verbose_name=_("owner")
    )
    is_shared = models.BooleanField(
        _("shared with my branch"),
        default=False,
        help_text=_("Colleagues in your branch can use it; each sees only their own clients."),
    )

    row_scope = RowScope(branch="owner__branch", owner="owner")

    class Meta:
        verbose_name = _("saved segment")
        verbose_name_plural = _("saved segments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "owner", "name"], name="savedsegment_name_unique_per_owner"
            ),
        ]

    def __str__(self) -> str:
        return self.name
