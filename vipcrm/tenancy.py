"""Tenancy that fails closed.

The current tenant lives in a context variable. It is set in exactly three places:
``TenantMiddleware`` (pages, from the logged-in user), ``api.TokenAuthentication``
(the API, from the token) and ``tasks.TenantTask`` (Celery, from the ``tenant_id``
argument). Management commands set it explicitly with ``tenant_context``.

Two walls keep tenants apart:

1. Every tenant-owned model's default (and base) manager filters by the current tenant
   and *raises* ``TenantNotSet`` when there is none.
2. On PostgreSQL, every tenant table has Row-Level Security forced, with a policy on
   ``app.tenant_id``; ``tenant_context`` sets that with ``set_config(..., true)`` (the
   function form of ``SET LOCAL``) inside the transaction it opens, so the setting dies
   with the transaction and never leaks to the next user of a pooled connection.
   ``install_row_level_security`` adds the policy to every tenant table after each
   ``migrate``, so new tables get it without anyone remembering.

The single escape across tenants is the ``all_tenants`` manager, for platform jobs only
(``tests/vipcrm/test_tenancy.py`` pins where it may be used). On PostgreSQL it still
sees only the tenant set in the transaction: RLS has no escape for the application role.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from django.apps import apps
from django.db import connection, models, transaction
from django.http import HttpRequest, HttpResponse

_current_tenant_id: ContextVar[int | None] = ContextVar("vipcrm_tenant_id", default=None)
_request_memo: ContextVar[dict | None] = ContextVar("vipcrm_request_memo", default=None)

RLS_SETTING = "app.tenant_id"


class TenantNotSet(RuntimeError):
    """A tenant-owned table was queried with no tenant in context."""


def current_tenant_id() -> int:
    """The tenant of this request/task; raises ``TenantNotSet`` when there is none."""
    tenant_id = _current_tenant_id.get()
    if tenant_id is None:
        raise TenantNotSet(
            "No tenant is set: tenant-owned data is only reachable inside tenant_context()."
        )
    return tenant_id


def current_tenant_id_or_none() -> int | None:
    return _current_tenant_id.get()


def _apply_db_setting(tenant_id: int | None) -> None:
    """Bind the open transaction to ``tenant_id`` for Row-Level Security."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, true)",
            [RLS_SETTING, "" if tenant_id is None else str(tenant_id)],
        )


@contextlib.contextmanager
def tenant_context(tenant: int | models.Model | None) -> Iterator[None]:
    """Run the block as ``tenant``, inside a transaction bound to it.

    ``None`` means explicitly no tenant: tenant-owned queries raise. On exit the
    previous tenant is restored, in the context variable and in the database.
    """
    tenant_id = getattr(tenant, "pk", tenant)
    if tenant_id is not None:
        tenant_id = int(tenant_id)
    outermost = not transaction.get_connection().in_atomic_block
    token = _current_tenant_id.set(tenant_id)
    try:
        with transaction.atomic():
            _apply_db_setting(tenant_id)
            yield
            # On an exception the rollback (of the transaction or savepoint) undoes the
            # setting by itself; on success an enclosing transaction gets its tenant back.
            if not outermost:
                previous = None if token.old_value is token.MISSING else token.old_value
                _apply_db_setting(previous)
    finally:
        _current_tenant_id.reset(token)


def request_memo() -> dict | None:
    """A dict that lives for the current page view or API call (``TenantMiddleware``),
    for what a request reads several times and does not change — the bank's branch tree
    behind each scope check; None outside a request (jobs, commands, tests calling
    services), where nothing is kept. Key entries by tenant."""
    return _request_memo.get()


def activate_tenant(tenant_id: int) -> None:
    """Switch the running request to ``tenant_id`` (the API's token authentication).

    Only valid inside the transaction ``TenantMiddleware`` opened for the request,
    which restores the previous (empty) tenant when the request ends.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("activate_tenant() must run inside the request's transaction.")
    _current_tenant_id.set(int(tenant_id))
    _apply_db_setting(int(tenant_id))


class TenantQuerySet(models.QuerySet):
    pass


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """Always filtered by the current tenant; raises when there is none."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(tenant_id=current_tenant_id())

    def none(self) -> models.QuerySet:
        # Empty whatever the tenant: schema generators and forms ask for it with none set.
        return super().get_queryset().none()

    def create(self, **kwargs):
        kwargs.setdefault("tenant_id", current_tenant_id())
        return super().create(**kwargs)

    def bulk_create(self, objs, *args, **kwargs):
        tenant_id = current_tenant_id()
        objs = list(objs)  # a generator would be used up by the check below
        for obj in objs:
            if obj.tenant_id is None:
                obj.tenant_id = tenant_id
            elif obj.tenant_id != tenant_id:
                raise ValueError("bulk_create() of another tenant's rows is refused.")
        return super().bulk_create(objs, *args, **kwargs)


class TenantOwnedModel(models.Model):
    """Base of every model that belongs to one tenant.

    Every unique constraint of a subclass must include ``tenant`` (enforced by a test),
    so the schema can be distributed by tenant.
    """

    tenant = models.ForeignKey("vipcrm.Tenant", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()
    # The one escape across tenants: platform jobs only (pinned by a test).
    all_tenants = models.Manager()  # noqa: DJ012  (a manager, not a field)

    class Meta:
        abstract = True
        base_manager_name = "objects"
        default_manager_name = "objects"

    def save(self, *args, **kwargs):
        # A new row lands in the current tenant; an existing row never moves tenant.
        if self.tenant_id is None:
            self.tenant_id = current_tenant_id()
        elif self.tenant_id != current_tenant_id():
            raise TenantNotSet("A row of another tenant cannot be saved in this tenant's context.")
        super().save(*args, **kwargs)


def tenant_models() -> list[type[models.Model]]:
    """Every concrete tenant-owned model, found by enumeration (never hand-listed)."""
    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantOwnedModel) and not model._meta.proxy
    ]


class TenantMiddleware:
    """Binds each request to the logged-in user's tenant, in one transaction.

    The transaction spans the view *and* the template rendering, so lazily evaluated
    querysets still run under the tenant's Row-Level Security setting. API requests
    arrive anonymous; ``TokenAuthentication`` then activates the token's tenant inside
    this same transaction.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        tenant_id = getattr(user, "tenant_id", None) if user and user.is_authenticated else None
        memo = _request_memo.set({})
        try:
            with tenant_context(tenant_id):
                response = self.get_response(request)
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response = response.render()
        finally:
            _request_memo.reset(memo)
        return response


# --- Row-Level Security --------------------------------------------------------------

RLS_POLICY = "tenant_isolation"


def rls_statements(table: str) -> list[str]:
    qn = connection.ops.quote_name
    predicate = f"tenant_id = NULLIF(current_setting('{RLS_SETTING}', true), '')::bigint"
    return [
        f"ALTER TABLE {qn(table)} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {qn(table)} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {RLS_POLICY} ON {qn(table)}",
        f"CREATE POLICY {RLS_POLICY} ON {qn(table)} USING ({predicate}) WITH CHECK ({predicate})",
    ]


def install_row_level_security(using: str = "default", **kwargs) -> None:
    """Force RLS with the tenant policy on every tenant table (idempotent).

    Connected to ``post_migrate``: a new tenant-owned model gets its policy from the
    migration that creates its table, without anyone remembering to add it.
    """
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "postgresql":
        return
    tables = [model._meta.db_table for model in tenant_models()]
    with conn.cursor() as cursor:
        # Only tables not yet configured: post_migrate also fires on ``flush``, run by
        # a role that may not own the tables, and then there is nothing to do.
        cursor.execute(
            """
            SELECT c.relname FROM pg_class c
            WHERE c.relname = ANY(%s) AND c.relkind = 'r'
              AND NOT (c.relrowsecurity AND c.relforcerowsecurity AND EXISTS (
                  SELECT 1 FROM pg_policies p
                  WHERE p.tablename = c.relname AND p.policyname = %s))
            """,
            [tables, RLS_POLICY],
        )
        for (table,) in cursor.fetchall():
            for sql in rls_statements(table):
                cursor.execute(sql)
