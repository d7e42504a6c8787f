"""Platform and tenancy models: tenants, branches, people, API tokens, audit."""

from __future__ import annotations

import datetime

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from vipcrm.roles import Role, RowScope
from vipcrm.tenancy import TenantManager, TenantOwnedModel, TenantQuerySet


class Tenant(models.Model):
    """One bank. Created by the platform operator; everything else belongs to one."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    nightly_at = models.TimeField(
        _("nightly jobs start at"),
        default=datetime.time(2, 0),
        help_text=_("Local time at which the nightly jobs run for this bank."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A login. Staff logins belong to one tenant; platform operators to none.

    Identity is platform-level (looked up before any tenant is known); what a person
    does inside a bank hangs off their tenant-owned ``StaffProfile``.
    """

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        verbose_name=_("tenant"),
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.CheckConstraint(
                condition=Q(tenant__isnull=False) | Q(is_superuser=True),
                name="user_tenant_or_platform_operator",
            ),
        ]

    @property
    def is_platform_operator(self) -> bool:
        return self.is_superuser and self.tenant_id is None


class Branch(TenantOwnedModel):
    """网点/支行: a branch, possibly under a parent branch."""

    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=200)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent branch"),
    )

    row_scope = RowScope(branch="pk")

    class Meta:
        verbose_name = _("branch")
        verbose_name_plural = _("branches")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "code"], name="branch_code_unique_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StaffProfile(TenantOwnedModel):
    """A person working in the bank: branch, role and the bank's staff code."""

    user = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff_profiles",
        verbose_name=_("login"),
    )
    code = models.CharField(_("staff code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="staff", verbose_name=_("branch")
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    email = models.EmailField(_("email"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    row_scope = RowScope(branch="branch", owner="pk")

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="staff_code_unique_per_tenant"),
            models.UniqueConstraint(
                fields=["tenant", "user"],
                condition=Q(user__isnull=False),
                name="staff_one_profile_per_login",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "branch", "role"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class APIToken(models.Model):
    """An integration's credential. Only the SHA-256 of the key is stored.

    Platform-level like ``User``: the token is looked up by its hash before the tenant
    is known, and then names the tenant.
    """

    class Scope(models.TextChoices):
        READ = "read", _("read")
        WRITE = "write", _("write")

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("key prefix"), max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(_("scopes"), default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                condition=Q(revoked_at__isnull=True),
                name="apitoken_active_name_unique_per_tenant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return self.is_active and scope in self.scopes


class AuditEntryQuerySet(TenantQuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def delete(self):
        raise PermissionError("The audit log is append-only.")


class AuditEntry(TenantOwnedModel):
    """One line of the append-only audit log.

    Nothing edits or deletes an entry: the queryset and model refuse, and a database
    trigger (SQLite and PostgreSQL) rejects UPDATE and DELETE whatever the caller.
    """

    class Action(models.TextChoices):
        CREATE = "create", _("create")
        UPDATE = "update", _("update")
        DELETE = "delete", _("delete")
        VIEW = "view", _("view")
        EXPORT = "export", _("export")
        LOGIN = "login", _("login")
        LOGIN_FAILED = "login_failed", _("failed login")
        LOGOUT = "logout", _("logout")

    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User,
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="+",
        verbose_name=_("who"),
    )
    actor_label = models.CharField(_("who"), max_length=150)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    objects = TenantManager.from_queryset(AuditEntryQuerySet)()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        base_manager_name = "objects"
        default_manager_name = "objects"
        indexes = [
            models.Index(fields=["tenant", "-at"]),
            models.Index(fields=["tenant", "action", "-at"]),
            models.Index(fields=["tenant", "object_type", "object_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only.")


class NightlyRun(TenantOwnedModel):
    """One tenant's nightly job for one business date: the guard against double runs."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    run_date = models.DateField(_("business date"))
    job = models.CharField(_("job"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        verbose_name = _("nightly run")
        verbose_name_plural = _("nightly runs")
        ordering = ["-run_date", "job"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "run_date", "job"], name="nightlyrun_one_per_tenant_date_job"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.run_date} {self.status}"


class IdempotencyRecord(TenantOwnedModel):
    """The first response to a request sent with an ``Idempotency-Key`` (kept 24 hours).

    A repeat with the same key and body gets this response back without being applied
    again; the same key with another body is a conflict (see ``vipcrm.idempotency``).
    """

    key = models.CharField(_("idempotency key"), max_length=255)
    request_hash = models.CharField(_("request SHA-256"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("response status"))
    response = models.JSONField(_("response body"))

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "key"], name="idempotency_key_unique_per_tenant"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="idempotency_tenant_created_idx")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"


class Notification(TenantOwnedModel):
    """An in-app message to a staff member (a tier change in their book, a reassignment…).

    Written set-based by the jobs that have news (one per recipient and run, not one per
    row) and shown under the bell in the header until read. The text is not stored: it
    is rendered from ``kind`` and ``params`` in the reader's language
    (``vipcrm.notifications``), since a nightly job has no language of its own.
    """

    recipient = models.ForeignKey(
        StaffProfile,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    kind = models.CharField(_("kind"), max_length=32)
    params = models.JSONField(_("details"), default=dict, blank=True)
    link = models.CharField(_("link"), max_length=300, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    row_scope = RowScope(owner="recipient")

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "recipient", "read_at"], name="notification_inbox_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"
