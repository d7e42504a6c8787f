"""The append-only audit log: one service to write it, and the guards that keep it so."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import signals as auth_signals
from django.db import connections, models
from django.http import HttpRequest

from vipcrm.tenancy import current_tenant_id_or_none, tenant_context


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR") or None


def _actor_of(request: HttpRequest | None):
    """(user, label) of whoever made the request: a staff login or an API token."""
    if request is None:
        return None, "system"
    token = getattr(request, "auth", None)
    if token is not None and hasattr(token, "prefix"):
        return None, f"token:{token.name}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user, user.get_username()
    return None, "anonymous"


def audit_record(
    *,
    action: str,
    request: HttpRequest | None = None,
    obj: models.Model | None = None,
    user=None,
    detail: dict[str, Any] | None = None,
    tenant_id: int | None = None,
) -> None:
    """Append one entry to the current tenant's audit log (or ``tenant_id``'s).

    ``obj`` names the object acted on; ``user`` overrides the request's user (login
    signals fire before the session knows who logged in).
    """
    from vipcrm.models import AuditEntry

    actor, label = _actor_of(request)
    if user is not None:
        actor, label = user, user.get_username()
    tenant_id = tenant_id or current_tenant_id_or_none() or getattr(actor, "tenant_id", None)
    if tenant_id is None:
        return  # nobody's tenant (a platform operator, an unknown username): axes logs it
    entry = AuditEntry(
        tenant_id=tenant_id,
        actor=actor,
        actor_label=label[:150],
        action=action,
        ip_address=_client_ip(request),
        detail=detail or {},
    )
    if obj is not None:
        entry.object_type = obj._meta.label_lower
        entry.object_id = str(obj.pk)
        entry.object_repr = str(obj)[:200]
    with tenant_context(tenant_id):
        entry.save()


def audit_action(
    action: str,
    *,
    actor,
    obj: models.Model | None,
    request: HttpRequest | None,
    detail: dict[str, Any],
) -> None:
    """``audit_record`` for a service acting for ``actor`` (an ``Actor``): with a request
    the entry names its user (or token) and address; without one (a shell, a test, a
    job, the demo) it names the actor's own login."""
    staff = getattr(actor, "staff", None)
    user = None if request is not None else getattr(staff, "user", None)
    audit_record(action=action, request=request, user=user, obj=obj, detail=detail)


def _on_login(sender, request, user, **kwargs) -> None:
    audit_record(action="login", request=request, user=user)


def _on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit_record(action="logout", request=request, user=user)


def _on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    from vipcrm.models import User

    username = (credentials or {}).get("username") or ""
    user = User.objects.filter(username=username, tenant__isnull=False).first()
    if user is not None:
        audit_record(action="login_failed", request=request, user=user)


def connect_login_signals() -> None:
    auth_signals.user_logged_in.connect(_on_login, dispatch_uid="vipcrm-audit-login")
    auth_signals.user_logged_out.connect(_on_logout, dispatch_uid="vipcrm-audit-logout")
    auth_signals.user_login_failed.connect(_on_login_failed, dispatch_uid="vipcrm-audit-failed")


def install_append_only_guard(using: str = "default", **kwargs) -> None:
    """A PostgreSQL trigger that rejects UPDATE and DELETE on the audit table.

    The application role could otherwise rewrite history with raw SQL; the trigger
    holds whatever code runs. Installed after every ``migrate`` (idempotent). On the
    embedded SQLite default the model and queryset guards stand alone.
    """
    from vipcrm.models import AuditEntry

    conn = connections[using]
    table = AuditEntry._meta.db_table
    if conn.vendor != "postgresql":
        return
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass(%s) IS NOT NULL, EXISTS (SELECT 1 FROM pg_trigger "
            "WHERE tgname = 'audit_append_only' AND tgrelid = to_regclass(%s))",
            [table, table],
        )
        table_exists, installed = cursor.fetchone()
        if not table_exists or installed:
            return  # also what ``flush`` (which sends post_migrate) finds
        cursor.execute(
            """
            CREATE OR REPLACE FUNCTION vipcrm_audit_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = '42501';
            END $$
            """
        )
        cursor.execute(f'DROP TRIGGER IF EXISTS audit_append_only ON "{table}"')
        cursor.execute(
            f'CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION vipcrm_audit_append_only()"
        )
