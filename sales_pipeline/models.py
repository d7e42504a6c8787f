"""The five-step sales process (以客户为中心销售流程).

An ``Opportunity`` (销售机会) belongs to one client and moves through five steps in
order — 1 Plan, 2 Contact & assess needs, 3 Execute, 4 Follow up, 5 Celebrate — never
skipped; ``StepEntry`` keeps when each step was entered and left (time-in-step and
conversion per step). At step 3 a ``Proposal`` (a product mix with amounts) must pass
suitability before the sale is recorded (won), with the reference of the mandatory
sales recording (双录) on the lines that need one; the win is credited to the team
(``SaleCredit``). Step 4 captures cross-sell opportunities and ``Referral``s (a new
prospect linked to the referrer, credited to the referring RM); step 5 records the
``Celebration``. An opportunity may be lost, with a reason, at any step before the win.

The rules live in ``sales_pipeline.services``; the models only hold the state.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from contact_plans.models import Interaction, PlannedContact
from customers.models import MONEY, Channel, Client, Holding, LifeEvent, Product
from vipcrm.models import StaffProfile
from vipcrm.roles import RowScope
from vipcrm.tenancy import TenantOwnedModel

OPPORTUNITY_SCOPE = RowScope(
    branch="client__branch", owner="owner_rm", team="client__team_members__staff"
)
THROUGH_OPPORTUNITY = RowScope(
    branch="opportunity__client__branch",
    owner="opportunity__owner_rm",
    team="opportunity__client__team_members__staff",
)


class Step(models.IntegerChoices):
    PLAN = 1, _("Plan")  # 更新客户联系计划
    CONTACT = 2, _("Contact & assess needs")  # 联系客户和评估需求
    EXECUTE = 3, _("Execute")  # 执行销售
    FOLLOW_UP = 4, _("Follow up")  # 销售后续跟踪
    CELEBRATE = 5, _("Celebrate")  # 庆祝成功


class Opportunity(TenantOwnedModel):
    """A sales opportunity (销售机会) of one client, at one of the five steps."""

    class Source(models.TextChoices):
        MATURITY = "maturity", _("Product maturity")
        LIFE_EVENT = "life_event", _("Life event")
        REFERRAL = "referral", _("Referral")
        CAMPAIGN = "campaign", _("Campaign")
        CADENCE_REVIEW = "cadence_review", _("Cadence review")
        WALK_IN = "walk_in", _("Walk-in")
        CROSS_SELL = "cross_sell", _("Cross-sell")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("opportunity", "Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    class LostReason(models.TextChoices):
        DECLINED = "declined", _("Client declined")
        COMPETITOR = "competitor", _("Went to another bank")
        SUITABILITY = "suitability", _("Not suitable for the client")
        NO_FUNDS = "no_funds", _("No funds available")
        TIMING = "timing", _("Not the right time")
        UNREACHABLE = "unreachable", _("Client unreachable")
        OTHER = "other", _("Other")

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="opportunities", verbose_name=_("client")
    )
    owner_rm = models.ForeignKey(
        StaffProfile,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="opportunities",
        verbose_name=_("owner RM"),
    )
    advisors = models.ManyToManyField(
        StaffProfile,
        through="OpportunityAdvisor",
        related_name="advised_opportunities",
        blank=True,
        verbose_name=_("advisors"),
    )
    title = models.CharField(_("title"), max_length=120)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    products_of_interest = models.ManyToManyField(
        Product,
        through="OpportunityProduct",
        related_name="opportunities",
        blank=True,
        verbose_name=_("products of interest"),
    )
    expected_amount_cny = models.DecimalField(
        _("expected amount (CNY)"), null=True, blank=True, **MONEY
    )
    step = models.PositiveSmallIntegerField(_("step"), choices=Step.choices, default=Step.PLAN)
    step_entered_at = models.DateTimeField(_("in this step since"))
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.OPEN
    )
    # Where it came from. ``source_key`` makes the nightly maturity flag exactly-once:
    # the maturity alert's own key, "maturity:<holding id>:<maturity date>".
    source_key = models.CharField(_("source key"), max_length=80, blank=True)
    planned_contact = models.ForeignKey(
        PlannedContact,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opportunities",
        verbose_name=_("planned contact"),
        help_text=_("The contact planned in step 1 (or the maturity alert it came from)."),
    )
    interaction = models.ForeignKey(
        Interaction,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opportunities",
        verbose_name=_("needs assessment"),
        help_text=_("The contact of step 2 in which the needs were assessed."),
    )
    holding = models.ForeignKey(
        Holding,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opportunities",
        verbose_name=_("maturing holding"),
    )
    life_event = models.ForeignKey(
        LifeEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opportunities",
        verbose_name=_("life event"),
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="cross_sells",
        verbose_name=_("found while following up"),
    )
    won_amount_cny = models.DecimalField(_("amount won (CNY)"), null=True, blank=True, **MONEY)
    won_at = models.DateTimeField(_("won at"), null=True, blank=True)
    lost_reason = models.CharField(
        _("reason lost"), max_length=16, choices=LostReason.choices, blank=True
    )
    lost_note = models.CharField(_("note on the loss"), max_length=300, blank=True)
    lost_at = models.DateTimeField(_("lost at"), null=True, blank=True)
    completed_at = models.DateTimeField(
        _("celebrated at"),
        null=True,
        blank=True,
        help_text=_("Step 5 done: the celebration is recorded and the opportunity closed."),
    )
    created_by = models.ForeignKey(
        StaffProfile,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )

    row_scope = OPPORTUNITY_SCOPE

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_key"],
                condition=~Q(source_key=""),
                name="opportunity_once_per_source",
            ),
            models.CheckConstraint(
                condition=Q(step__gte=1) & Q(step__lte=5), name="opportunity_step_1_to_5"
            ),
            models.CheckConstraint(
                condition=Q(expected_amount_cny__isnull=True) | Q(expected_amount_cny__gt=0),
                name="opportunity_expected_amount_positive",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "owner_rm", "status", "step"], name="opportunity_rm_step_idx"
            ),
            models.Index(fields=["tenant", "status", "step"], name="opportunity_step_idx"),
            models.Index(fields=["tenant", "client"], name="opportunity_client_idx"),
            models.Index(fields=["tenant", "updated_at", "id"], name="opportunity_updated_idx"),
            models.Index(fields=["tenant", "completed_at"], name="opportunity_completed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.client_id})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.LOST or self.completed_at is not None


class OpportunityAdvisor(TenantOwnedModel):
    """A wealth advisor (or second RM) who joins the sale."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="advisor_links"
    )
    staff = models.ForeignKey(
        StaffProfile, on_delete=models.PROTECT, related_name="opportunity_links"
    )

    row_scope = THROUGH_OPPORTUNITY

    class Meta:
        verbose_name = _("opportunity advisor")
        verbose_name_plural = _("opportunity advisors")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "opportunity", "staff"], name="opportunityadvisor_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff_id} on {self.opportunity_id}"


class OpportunityProduct(TenantOwnedModel):
    """A product the client is interested in."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="product_links"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")

    row_scope = THROUGH_OPPORTUNITY

    class Meta:
        verbose_name = _("product of interest")
        verbose_name_plural = _("products of interest")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "opportunity", "product"], name="opportunityproduct_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} for {self.opportunity_id}"


class StepEntry(TenantOwnedModel):
    """One step of one opportunity: when it was entered and left, and by whom."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="step_entries"
    )
    step = models.PositiveSmallIntegerField(_("step"), choices=Step.choices)
    entered_at = models.DateTimeField(_("entered at"))
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    entered_by = models.ForeignKey(
        StaffProfile,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("moved by"),
    )

    row_scope = THROUGH_OPPORTUNITY

    class Meta:
        verbose_name = _("step entry")
        verbose_name_plural = _("step entries")
        ordering = ["opportunity", "step"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "opportunity", "step"], name="stepentry_once_per_step"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "step", "entered_at"], name="stepentry_idx")]

    def __str__(self) -> str:
        return f"{self.opportunity_id} step {self.step}"


class Proposal(TenantOwnedModel):
    """A product mix with amounts proposed to the client at step 3."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Proposed")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        SUPERSEDED = "superseded", _("Superseded")

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="proposals")
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.DRAFT
    )
    note = models.TextField(_("note"), blank=True, max_length=2000)
    # The assessment the suitability check was made against (kept: it may change later).
    risk_level = models.CharField(_("client risk level at the proposal"), max_length=2)
    risk_assessed_on = models.DateField(_("assessed on"))
    created_by = models.ForeignKey(
        StaffProfile,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("proposed by"),
    )
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)

    row_scope = THROUGH_OPPORTUNITY

    class Meta:
        verbose_name = _("proposal")
        verbose_name_plural = _("proposals")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"proposal {self.pk} for {self.opportunity_id}"


class ProposalLine(TenantOwnedModel):
    """One product and amount of a proposal; the recording reference (双录) when the
    product's category requires one."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product")
    )
    amount_cny = models.DecimalField(_("amount (CNY)"), **MONEY)
    recording_ref = models.CharField(
        _("sales recording reference (双录)"), max_length=64, blank=True
    )

    row_scope = RowScope(
        branch="proposal__opportunity__client__branch",
        owner="proposal__opportunity__owner_rm",
        team="proposal__opportunity__client__team_members__staff",
    )

    class Meta:
        verbose_name = _("proposal line")
        verbose_name_plural = _("proposal lines")
        ordering = ["proposal", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "proposal", "product"], name="proposalline_once_per_product"
            ),
            models.CheckConstraint(
                condition=Q(amount_cny__gt=0), name="proposalline_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.amount_cny}"


class SaleCredit(TenantOwnedModel):
    """The share of a won sale credited to one person: the owner RM, and per the
    client's team the secondary RM (主辅管户) by their share."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner RM")
        SECONDARY = "secondary", _("Secondary RM")

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="credits")
    staff = models.ForeignKey(
        StaffProfile,
        on_delete=models.PROTECT,
        related_name="sale_credits",
        verbose_name=_("credited to"),
    )
    role = models.CharField(_("as"), max_length=12, choices=Role.choices)
    share_percent = models.DecimalField(
        _("share (%)"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    amount_cny = models.DecimalField(_("credited amount (CNY)"), default=Decimal("0"), **MONEY)
    credited_on = models.DateField(_("credited on"))

    row_scope = THROUGH_OPPORTUNITY

    class Meta:
        verbose_name = _("sale credit")
        verbose_name_plural = _("sale credits")
        ordering = ["opportunity", "-share_percent"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "opportunity", "staff"], name="salecredit_once_per_staff"
            ),
            models.CheckConstraint(
                condition=Q(share_percent__gte=0) & Q(share_percent__lte=100),
                name="salecredit_share_percent",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "staff", "credited_on"], name="salecredit_staff_idx")
        ]

    def __str__(self) -> str:
        return f"{self.staff_id}: {self.share_percent}% of {self.opportunity_id}"


class Referral(TenantOwnedModel):
    """A new prospect introduced by a client (转介绍), credited to the referring RM."""

    referrer = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="referrals_given", verbose_name=_("referrer")
    )
    prospect = models.ForeignKey(
        Client,
        on_delete=models.CASCADE,
        related_name="referral_received",
        verbose_name=_("prospect"),
    )
    opportunity = models.ForeignKey(
        Opportunity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("captured while following up"),
    )
    prospect_opportunity = models.ForeignKey(
        Opportunity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("the prospect's opportunity"),
    )
    credited_to = models.ForeignKey(
        StaffProfile,
        on_delete=models.PROTECT,
        related_name="referral_credits",
        verbose_name=_("credited to"),
    )
    received_by = models.ForeignKey(
        StaffProfile,
        on_delete=models.PROTECT,
        related_name="referrals_received",
        verbose_name=_("prospect served by"),
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    row_scope = RowScope(
        branch="referrer__branch",
        owner="credited_to",
        team="referrer__team_members__staff",
    )

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "prospect"], name="referral_once_per_prospect"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "credited_to", "created_at"], name="referral_staff_idx")
        ]

    def __str__(self) -> str:
        return f"{self.referrer_id} → {self.prospect_id}"


class Celebration(TenantOwnedModel):
    """Step 5 (庆祝成功): recognition for the team, a thank-you to the client, thanks to
    the supporting departments."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="celebrations"
    )
    team_recognition = models.TextField(_("recognition for the team"), max_length=2000)
    client_thanks = models.TextField(_("thank-you to the client"), max_length=2000, blank=True)
    client_thanks_channel = models.CharField(
        _("thanked the client by"), max_length=16, choices=Channel.choices, blank=True
    )
    departments = models.CharField(
        _("supporting departments"),
        max_length=200,
        blank=True,
        help_text=_("e.g. 个金部, 运营部, 风险管理部"),
    )
    department_thanks = models.TextField(
        _("thanks to the departments"), max_length=2000, blank=True
    )
    recorded_by = models.ForeignKey(
        StaffProfile,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )

    row_scope = THROUGH_OPPORTUNITY

    class Meta:
        verbose_name = _("celebration")
        verbose_name_plural = _("celebrations")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "opportunity"], name="celebration_once"),
        ]

    def __str__(self) -> str:
        return f"celebration of {self.opportunity_id}"
