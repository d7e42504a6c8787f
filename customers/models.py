"""Clients (客户) and the team that serves each of them."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import RowScope
from vipcrm.tenancy import TenantOwnedModel


class Client(TenantOwnedModel):
    """A core-banking customer served by an owner RM (管户客户经理)."""

    class Gender(models.TextChoices):
        MALE = "M", _("Male")
        FEMALE = "F", _("Female")

    external_id = models.CharField(_("customer number"), max_length=64)
    name = models.CharField(_("name"), max_length=100)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    mobile = models.CharField(_("mobile"), max_length=11, blank=True)
    email = models.EmailField(_("email"), blank=True)
    occupation = models.CharField(_("occupation"), max_length=100, blank=True)
    is_entrepreneur = models.BooleanField(_("entrepreneur"), default=False)
    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="clients", verbose_name=_("home branch")
    )
    owner_rm = models.ForeignKey(
        StaffProfile,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="book",
        verbose_name=_("owner RM"),
    )

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
            models.Index(fields=["tenant", "branch", "name"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


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
