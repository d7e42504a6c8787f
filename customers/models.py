"""Clients (客户) and their money: holdings, products, FX rates, risk profile, needs,
life events, relationships, held-away assets, and the team that serves each client."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Right
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.validators import validate_id_number, validate_mobile
from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import RowScope
from vipcrm.tenancy import TenantOwnedModel

MONEY = {"max_digits": 18, "decimal_places": 2}
RISK_VALIDITY_DAYS = 365  # an assessment is valid for 12 months


def synced_tenant() -> models.ForeignKey:
    """The tenant key of a table the core-banking sync writes by the thousand (clients,
    their risk history, holdings): indexed only through the table's (tenant, …) indexes,
    and without a foreign-key constraint. Row-Level Security's WITH CHECK already holds
    every written row to the session's tenant, which the application binds from an
    authenticated, existing tenant; a constraint would check the same tenant row again
    for each of a batch's 5,000 rows (~7 µs each, measured: a third of a client batch's
    constraint checks). Django deletes a tenant's rows itself, constraint or not."""
    return models.ForeignKey(
        "vipcrm.Tenant",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )


class RiskLevel(models.TextChoices):
    """The client's risk tolerance (风险测评结果)."""

    C1 = "C1", _("C1 Conservative")
    C2 = "C2", _("C2 Cautious")
    C3 = "C3", _("C3 Balanced")
    C4 = "C4", _("C4 Growth")
    C5 = "C5", _("C5 Aggressive")


class ProductRisk(models.TextChoices):
    R1 = "R1", _("R1 Low")
    R2 = "R2", _("R2 Medium-low")
    R3 = "R3", _("R3 Medium")
    R4 = "R4", _("R4 Medium-high")
    R5 = "R5", _("R5 High")


class Channel(models.TextChoices):
    PHONE = "phone", _("Phone")
    VISIT = "visit", _("Visit")
    BRANCH = "branch", _("Branch meeting")
    WECHAT = "wechat", _("WeCom/WeChat")
    EVENT = "event", pgettext_lazy("channel", "Event")


class Tier(TenantOwnedModel):
    """A VIP tier of the bank (潜力/金卡/钻石/私人银行), ordered by its AUM floor.

    Read by every app; its rules (service standards, re-tiering) live in segmentation.
    """

    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=64)
    rank = models.PositiveSmallIntegerField(_("rank"), help_text=_("Higher is better."))
    aum_floor = models.DecimalField(_("AUM floor (CNY)"), **MONEY)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["-rank"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="tier_code_unique_per_tenant"),
            models.UniqueConstraint(fields=["tenant", "rank"], name="tier_rank_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name


class Client(TenantOwnedModel):
    """A core-banking customer served by an owner RM (管户客户经理)."""

    class Gender(models.TextChoices):
        MALE = "M", _("Male")
        FEMALE = "F", _("Female")

    class ContactTime(models.TextChoices):
        MORNING = "morning", _("Mornings")
        AFTERNOON = "afternoon", _("Afternoons")
        EVENING = "evening", _("Evenings")
        WEEKEND = "weekend", _("Weekends")

    # A client row is rewritten whenever its AUM changes (each holdings sync), and every
    # index of the row with it: the foreign keys below carry no single-column index of
    # their own. Row-Level Security puts ``tenant_id = …`` in every query, so the
    # (tenant, …) indexes of Meta serve the look-ups by tenant, branch, RM and tier.
    tenant = synced_tenant()
    external_id = models.CharField(_("customer number"), max_length=64)
    name = models.CharField(pgettext_lazy("person", "Name"), max_length=100)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    id_number = models.CharField(
        _("national ID number"), max_length=18, blank=True, validators=[validate_id_number]
    )
    mobile = models.CharField(_("mobile"), max_length=11, blank=True, validators=[validate_mobile])
    # RMs find a client by the last four digits of the mobile: a stored, indexed column.
    mobile_last4 = models.GeneratedField(
        expression=Right("mobile", 4),
        output_field=models.CharField(max_length=4),
        db_persist=True,
    )
    email = models.EmailField(_("email"), blank=True)
    occupation = models.CharField(_("occupation"), max_length=100, blank=True)
    is_entrepreneur = models.BooleanField(_("entrepreneur"), default=False)
    company = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="people",
        verbose_name=_("linked corporate client"),
        db_index=False,  # partial index in Meta: few clients have one
    )
    branch = models.ForeignKey(
        Branch,
        on_delete=models.PROTECT,
        related_name="clients",
        verbose_name=_("home branch"),
        db_index=False,
    )
    owner_rm = models.ForeignKey(
        StaffProfile,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="book",
        verbose_name=_("owner RM"),
        db_index=False,
    )
    tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="clients",
        verbose_name=_("tier"),
        db_index=False,
    )
    risk_level = models.CharField(
        _("risk level"), max_length=2, choices=RiskLevel.choices, blank=True
    )
    risk_assessed_on = models.DateField(_("risk assessed on"), null=True, blank=True)
    referrer = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("referred by"),
        db_index=False,  # partial index in Meta: few clients have one
    )
    preferred_channel = models.CharField(
        _("preferred channel"), max_length=16, choices=Channel.choices, blank=True
    )
    preferred_contact_time = models.CharField(
        _("preferred contact time"), max_length=16, choices=ContactTime.choices, blank=True
    )
    lunar_birthday = models.BooleanField(
        _("celebrates the lunar birthday (农历)"),
        default=False,
        help_text=_("Birthday greetings follow the Chinese calendar date of birth."),
    )
    is_confidential = models.BooleanField(
        _("confidential"),
        default=False,
        help_text=_("Only the owner RM and the team see this client's identity data."),
    )
    # AUM in CNY from active holdings, kept current by the holdings sync (set-based).
    aum_cny = models.DecimalField(_("AUM (CNY)"), default=Decimal("0"), **MONEY)

    row_scope = RowScope(branch="branch", owner="owner_rm", team="team_members__staff")

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"], name="client_external_id_unique_per_tenant"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "owner_rm", "name"]),
            # ``id`` carried in the index (PostgreSQL): a branch's clients joined to
            # its contacts or opportunities by an index-only scan (the KPI drill-downs).
            models.Index(
                fields=["tenant", "branch", "name"],
                include=["id"],
                name="client_tenant_branch_idx",
            ),
            models.Index(fields=["tenant", "name"]),
            models.Index(fields=["tenant", "-aum_cny", "id"], name="client_tenant_aum_idx"),
            models.Index(fields=["tenant", "updated_at", "id"], name="client_tenant_updated_idx"),
            models.Index(fields=["tenant", "tier"]),
            models.Index(fields=["tenant", "risk_assessed_on"]),
            models.Index(fields=["tenant", "mobile_last4"], name="client_mobile_last4_idx"),
            # Only rows that have the reference are indexed (deleting a client looks up
            # the clients pointing at it); rows without one cost these indexes nothing.
            models.Index(
                fields=["company"], condition=Q(company__isnull=False), name="client_company_idx"
            ),
            models.Index(
                fields=["referrer"],
                condition=Q(referrer__isnull=False),
                name="client_referrer_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"

    @classmethod
    def from_db(cls, db, field_names, values):
        client = super().from_db(db, field_names, values)
        client._stored_name = client.__dict__.get("name")
        return client

    def save(self, *args, **kwargs) -> None:
        """Save, and keep the name's search bigrams (``customers.name_search``) when the
        name is new or changed: one query for a new client, two for a rename, none
        otherwise. Set-based writers (the sync, the demo's blocks) write the bigrams of
        their batch themselves."""
        from customers.name_search import client_name_grams_write

        adding = self._state.adding
        super().save(*args, **kwargs)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "name" not in update_fields:
            return
        if getattr(self, "_stored_name", None) != self.name:
            client_name_grams_write({self.pk: self.name}, replace=not adding)
            self._stored_name = self.name

    @property
    def risk_expires_on(self) -> datetime.date | None:
        if self.risk_assessed_on is None:
            return None
        return self.risk_assessed_on + datetime.timedelta(days=RISK_VALIDITY_DAYS)

    def risk_is_valid(self, on: datetime.date) -> bool:
        expires = self.risk_expires_on
        return bool(self.risk_level) and expires is not None and on < expires


class ClientNameGram(TenantOwnedModel):
    """Two consecutive characters of a client's name: how "name contains" search finds
    its clients by equality, which Row-Level Security lets an index serve (LIKE it does
    not). Derived from ``Client.name`` by ``customers.name_search``; never edited.

    The rows are a search index, not data: they carry no foreign-key constraints (each
    would be checked for each of a sync batch's thousands of rows), a search always
    re-reads the client itself, and Django deletes them with their client.
    """

    tenant = models.ForeignKey(
        "vipcrm.Tenant",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    gram = models.CharField(max_length=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "gram", "client"], name="client_name_gram_unique"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "client"], name="client_name_gram_client_idx")]

    def __str__(self) -> str:
        return self.gram


class ClientTeamMember(TenantOwnedModel):
    """Someone besides the owner RM who serves the client: a secondary RM or an advisor."""

    class TeamRole(models.TextChoices):
        SECONDARY_RM = "secondary_rm", _("Secondary RM")
        ADVISOR = "advisor", _("Wealth advisor")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="team_members")
    staff = models.ForeignKey(StaffProfile, on_delete=models.PROTECT, related_name="team_clients")
    role = models.CharField(_("team role"), max_length=16, choices=TeamRole.choices)
    credit_share = models.DecimalField(
        _("credit share (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Share of a won sale credited to a secondary RM (主辅管户)."),
    )

    class Meta:
        verbose_name = _("team member")
        verbose_name_plural = _("team members")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "client", "staff"], name="clientteam_once_per_client"
            ),
            models.CheckConstraint(
                condition=Q(credit_share__gte=0) & Q(credit_share__lte=100),
                name="clientteam_credit_share_percent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff} → {self.client}"


class RiskAssessment(TenantOwnedModel):
    """One risk assessment (风险测评); the history is kept, the latest is on the client."""

    tenant = synced_tenant()
    # Looked up through the (tenant, client, assessed_on) constraint's index.
    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="risk_assessments", db_index=False
    )
    level = models.CharField(_("risk level"), max_length=2, choices=RiskLevel.choices)
    assessed_on = models.DateField(_("assessed on"))

    class Meta:
        verbose_name = _("risk assessment")
        verbose_name_plural = _("risk assessments")
        ordering = ["-assessed_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "client", "assessed_on"], name="riskassessment_one_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client} {self.level} {self.assessed_on}"

    @property
    def expires_on(self) -> datetime.date:
        return self.assessed_on + datetime.timedelta(days=RISK_VALIDITY_DAYS)


class Need(TenantOwnedModel):
    """A need the RM found (from the seed: preservation, growth, advice…)."""

    class Kind(models.TextChoices):
        PRESERVATION = "preservation", _("Preservation of wealth")
        GROWTH = "growth", _("Growth")
        TAX_ADVICE = "tax_advice", _("Tax advice")
        LEGAL_ADVICE = "legal_advice", _("Legal advice")
        FINANCIAL_ADVICE = "financial_advice", _("Financial advice")
        GLOBAL_INVESTMENT = "global_investment", _("Global investment")
        RISK_MANAGEMENT = "risk_management", _("Risk management")
        CORPORATE_BANKING = "corporate_banking", _("Corporate-banking integration")
        STATUS = "status", _("Status recognition")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="needs")
    kind = models.CharField(_("need"), max_length=32, choices=Kind.choices)
    note = models.TextField(_("note"), blank=True, max_length=2000)
    identified_on = models.DateField(_("identified on"), default=datetime.date.today)
    is_open = models.BooleanField(_("open"), default=True)

    class Meta:
        verbose_name = _("need")
        verbose_name_plural = _("needs")
        ordering = ["-is_open", "-identified_on"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "client", "kind"], name="need_once_per_kind"),
        ]

    def __str__(self) -> str:
        return self.get_kind_display()


class LifeEvent(TenantOwnedModel):
    """A major event in the client's life (重大事件): a reason to get in touch."""

    class Kind(models.TextChoices):
        MARRIAGE = "marriage", _("Marriage")
        CHILD = "child", _("Birth of a child")
        STUDY_ABROAD = "study_abroad", _("Child studying abroad")
        RETIREMENT = "retirement", _("Retirement")
        BUSINESS_SALE = "business_sale", _("Business sale or IPO")
        PROPERTY = "property", _("Property purchase")
        INHERITANCE = "inheritance", _("Inheritance")
        ILLNESS = "illness", _("Illness")
        OTHER = "other", _("Other")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="life_events")
    kind = models.CharField(_("event"), max_length=32, choices=Kind.choices)
    occurs_on = models.DateField(_("date"))
    note = models.TextField(_("note"), blank=True, max_length=2000)

    class Meta:
        verbose_name = _("life event")
        verbose_name_plural = _("life events")
        ordering = ["-occurs_on"]
        indexes = [models.Index(fields=["tenant", "occurs_on"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.occurs_on}"


class Relationship(TenantOwnedModel):
    """A tie between two clients: household (spouse, child, parent) or business partner."""

    class Kind(models.TextChoices):
        SPOUSE = "spouse", _("Spouse")
        CHILD = "child", _("Child")
        PARENT = "parent", _("Parent")
        SIBLING = "sibling", _("Sibling")
        BUSINESS_PARTNER = "business_partner", _("Business partner")
        OTHER = "other", _("Other")

    HOUSEHOLD = (Kind.SPOUSE, Kind.CHILD, Kind.PARENT, Kind.SIBLING)

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="relationships")
    related = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("relationship"), max_length=32, choices=Kind.choices)

    class Meta:
        verbose_name = _("relationship")
        verbose_name_plural = _("relationships")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "client", "related"], name="relationship_once_per_pair"
            ),
            models.CheckConstraint(
                condition=~Q(client=models.F("related")), name="relationship_not_to_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client} – {self.get_kind_display()} – {self.related}"


class Product(TenantOwnedModel):
    """The bank's product catalogue (产品)."""

    class Category(models.TextChoices):
        DEPOSIT = "deposit", _("Demand deposit")
        TIME_DEPOSIT = "time_deposit", _("Time deposit")
        WEALTH_MANAGEMENT = "wealth_management", _("Wealth-management product")
        FUND = "fund", _("Fund")
        INSURANCE = "insurance", _("Insurance")
        BOND = "bond", _("Bond")
        TRUST = "trust", _("Trust")
        PRECIOUS_METAL = "precious_metal", _("Precious metal")
        OTHER = "other", _("Other")

    code = models.CharField(_("code"), max_length=64)
    name = models.CharField(pgettext_lazy("product", "Name"), max_length=200)
    category = models.CharField(_("category"), max_length=32, choices=Category.choices)
    risk_level = models.CharField(_("risk level"), max_length=2, choices=ProductRisk.choices)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "code"], name="product_code_unique_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Holding(TenantOwnedModel):
    """A client's position in a product (持仓)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        CLOSED = "closed", _("Closed")

    # Served by the (tenant, …) indexes of Meta, as on Client.
    tenant = synced_tenant()
    external_id = models.CharField(_("account or contract number"), max_length=64)
    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="holdings", db_index=False
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="holdings")
    balance = models.DecimalField(_("balance"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    opened_on = models.DateField(_("opened on"), null=True, blank=True)
    matures_on = models.DateField(_("matures on"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.ACTIVE
    )

    class Meta:
        verbose_name = _("holding")
        verbose_name_plural = _("holdings")
        ordering = ["client", "matures_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"], name="holding_external_id_unique_per_tenant"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "client"]),
            models.Index(
                fields=["tenant", "matures_on"],
                condition=Q(status="active"),
                name="holding_active_maturity_idx",
            ),
            models.Index(fields=["tenant", "updated_at", "id"], name="holding_tenant_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} {self.product}"


class FxRate(TenantOwnedModel):
    """The tenant's rate of a currency to CNY on a date."""

    currency = models.CharField(_("currency"), max_length=3)
    date = models.DateField(_("date"))
    rate_to_cny = models.DecimalField(_("rate to CNY"), max_digits=18, decimal_places=8)

    class Meta:
        verbose_name = _("FX rate")
        verbose_name_plural = _("FX rates")
        ordering = ["currency", "-date"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "currency", "date"], name="fxrate_one_per_currency_date"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.date} {self.rate_to_cny}"


class HeldAwayAsset(TenantOwnedModel):
    """Wealth the client declares outside the bank: share of wallet, never AUM."""

    class Kind(models.TextChoices):
        REAL_ESTATE = "real_estate", _("Real estate")
        OTHER_BANK = "other_bank", _("Cash and investments at other banks")
        BUSINESS_EQUITY = "business_equity", _("Business equity")
        OTHER = "other", _("Other")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="held_away_assets")
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    description = models.CharField(_("description"), max_length=200, blank=True)
    amount_cny = models.DecimalField(
        _("estimated value (CNY)"), validators=[MinValueValidator(0)], **MONEY
    )
    as_of = models.DateField(_("as of"), default=datetime.date.today)

    class Meta:
        verbose_name = _("held-away asset")
        verbose_name_plural = _("held-away assets")
        ordering = ["-amount_cny"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_cny}"
