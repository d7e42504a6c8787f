"""Shared fixtures: two banks with the same shape, so every test can try to cross them."""

from dataclasses import dataclass

import pytest
from django.utils import translation

from tests.factories import (
    BranchFactory,
    ClientFactory,
    StaffFactory,
    TenantFactory,
)
from vipcrm.dbroles import as_schema_owner
from vipcrm.models import Branch, StaffProfile, Tenant
from vipcrm.roles import Role
from vipcrm.services import api_token_create
from vipcrm.tenancy import tenant_context


@pytest.fixture(autouse=True)
def _english_outside_requests():
    """Code run outside a request (services, jobs, serializers) speaks the active
    language, which a request leaves behind it (``LocaleMiddleware`` activates, never
    deactivates): every test starts in English, whatever ran before it, so its messages
    do not depend on the order of the tests. Pages still choose their language per
    request (Chinese first; the ``english`` fixture asks for English)."""
    with translation.override("en"):
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker):
    """Create and migrate the test database as the schema owner; tests run as the app role.

    On PostgreSQL with DATABASE_OWNER_URL set this reproduces production: the role the
    tests connect as owns nothing, so Row-Level Security binds every query they make.
    """
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock(), as_schema_owner() as app_role:
        config = setup_databases(
            verbosity=0, interactive=False, keepdb=False, serialized_aliases=set()
        )
        if app_role:
            # Test-only: transactional tests (live server) empty tables with TRUNCATE.
            with connection.cursor() as cursor:
                cursor.execute(f'GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO "{app_role}"')
    yield
    with django_db_blocker.unblock(), as_schema_owner():
        teardown_databases(config, verbosity=0)


@dataclass
class Bank:
    """One tenant with a head office, a city branch and a sub-branch, and one person per role."""

    tenant: Tenant
    head_office: Branch
    city: Branch
    sub: Branch
    other_sub: Branch
    head: StaffProfile
    supervisor: StaffProfile
    rm: StaffProfile
    other_rm: StaffProfile
    advisor: StaffProfile


def make_bank(slug: str, name: str) -> Bank:
    tenant = TenantFactory(slug=slug, name=name)
    head_office = BranchFactory(tenant=tenant, code="HQ", name=f"{name}总行")
    city = BranchFactory(tenant=tenant, code="BJ", name="北京分行", parent=head_office)
    sub = BranchFactory(tenant=tenant, code="BJ01", name="朝阳支行", parent=city)
    other_sub = BranchFactory(tenant=tenant, code="SH01", name="浦东支行", parent=head_office)
    prefix = slug.replace("-", "")
    return Bank(
        tenant=tenant,
        head_office=head_office,
        city=city,
        sub=sub,
        other_sub=other_sub,
        head=StaffFactory(
            tenant=tenant,
            branch=head_office,
            role=Role.HEAD_OFFICE,
            code="H1",
            user__username=f"{prefix}.head",
        ),
        supervisor=StaffFactory(
            tenant=tenant,
            branch=city,
            role=Role.SUPERVISOR,
            code="S1",
            user__username=f"{prefix}.sup",
        ),
        rm=StaffFactory(
            tenant=tenant, branch=sub, role=Role.RM, code="R1", user__username=f"{prefix}.rm"
        ),
        other_rm=StaffFactory(
            tenant=tenant, branch=other_sub, role=Role.RM, code="R2", user__username=f"{prefix}.rm2"
        ),
        advisor=StaffFactory(
            tenant=tenant, branch=sub, role=Role.ADVISOR, code="A1", user__username=f"{prefix}.adv"
        ),
    )


@pytest.fixture
def bank_a(db) -> Bank:
    return make_bank("bank-a", "甲银行")


@pytest.fixture
def bank_b(db) -> Bank:
    return make_bank("bank-b", "乙银行")


@pytest.fixture
def in_tenant():
    """``with in_tenant(bank.tenant): ...`` — run ORM code as the application would."""
    return tenant_context


@pytest.fixture
def login(client):
    """Log a staff member's user into the Django test client."""

    def _login(staff: StaffProfile):
        client.force_login(staff.user)
        return client

    return _login


@pytest.fixture
def english(client):
    """Pages in English (they are Chinese-first whatever the browser asks)."""
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def make_client():
    return ClientFactory


@pytest.fixture
def read_key(bank_a):
    """A read-only API token of bank A (the plain key, for ``api``)."""
    return api_token_create(tenant=bank_a.tenant, name="reader", scopes=["read"])[1]


@pytest.fixture
def api(client):
    """GET an API path with query parameters, with ``key`` as the token if given."""

    def _get(path, key=None, **params):
        extra = {"HTTP_AUTHORIZATION": f"Token {key}"} if key else {}
        return client.get(path, params, **extra)

    return _get
