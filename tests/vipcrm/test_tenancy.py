"""The first wall: tenant-owned managers fail closed, and only the current tenant is seen."""

import re
from pathlib import Path

import pytest
from django.db import models

from tests.factories import BranchFactory, ClientFactory
from vipcrm.models import Branch
from vipcrm.tenancy import (
    TenantManager,
    TenantNotSet,
    current_tenant_id_or_none,
    tenant_context,
    tenant_models,
)

ROOT = Path(__file__).resolve().parents[2]
ALL_TENANT_MODELS = tenant_models()


def test_every_domain_app_has_tenant_models_enumerated():
    labels = {model._meta.app_label for model in ALL_TENANT_MODELS}
    assert {"vipcrm", "customers"} <= labels
    assert len(ALL_TENANT_MODELS) >= 5


@pytest.mark.parametrize("model", ALL_TENANT_MODELS, ids=lambda m: m._meta.label)
def test_default_and_base_managers_are_tenant_managers(model):
    assert isinstance(model._default_manager, TenantManager)
    assert isinstance(model._base_manager, TenantManager)


@pytest.mark.django_db
@pytest.mark.parametrize("model", ALL_TENANT_MODELS, ids=lambda m: m._meta.label)
def test_manager_raises_without_a_tenant(model):
    with pytest.raises(TenantNotSet):
        list(model.objects.all())
    with pytest.raises(TenantNotSet):
        model.objects.count()


@pytest.mark.django_db
@pytest.mark.parametrize("model", ALL_TENANT_MODELS, ids=lambda m: m._meta.label)
def test_manager_filters_by_the_current_tenant(model, bank_a, bank_b):
    with tenant_context(bank_a.tenant):
        sql = str(model.objects.all().query)
    assert re.search(rf'"tenant_id"\s*=\s*{bank_a.tenant.pk}\b', sql), sql


@pytest.mark.parametrize("model", ALL_TENANT_MODELS, ids=lambda m: m._meta.label)
def test_every_unique_constraint_includes_the_tenant(model):
    """So the schema can later be distributed by tenant."""
    opts = model._meta
    for field in opts.local_fields:
        if field.unique and not field.primary_key:
            pytest.fail(f"{opts.label}.{field.name} is unique without the tenant")
    for fields in opts.unique_together:
        assert "tenant" in fields, f"{opts.label} unique_together {fields}"
    for constraint in opts.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            assert "tenant" in constraint.fields, f"{opts.label} {constraint.name}"


@pytest.mark.django_db
def test_each_tenant_sees_only_its_own_rows(bank_a, bank_b):
    ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, name="甲的客户")
    ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub, name="乙的客户")
    from customers.models import Client

    with tenant_context(bank_a.tenant):
        assert list(Client.objects.values_list("name", flat=True)) == ["甲的客户"]
        assert Branch.objects.filter(code="HQ").get().tenant_id == bank_a.tenant.pk
    with tenant_context(bank_b.tenant):
        assert list(Client.objects.values_list("name", flat=True)) == ["乙的客户"]


@pytest.mark.django_db
def test_new_rows_land_in_the_current_tenant_and_never_move(bank_a, bank_b):
    with tenant_context(bank_a.tenant):
        branch = Branch.objects.create(code="NEW", name="新支行")
    assert branch.tenant_id == bank_a.tenant.pk
    with tenant_context(bank_b.tenant), pytest.raises(TenantNotSet):
        branch.name = "改名"
        branch.save()


@pytest.mark.django_db
def test_bulk_create_refuses_another_tenants_rows(bank_a, bank_b):
    with tenant_context(bank_a.tenant), pytest.raises(ValueError):
        Branch.objects.bulk_create([Branch(tenant=bank_b.tenant, code="X", name="x")])


@pytest.mark.django_db
def test_bulk_create_takes_a_generator(bank_a):
    with tenant_context(bank_a.tenant):
        created = Branch.objects.bulk_create(
            Branch(code=f"G{n}", name=f"支行{n}") for n in range(3)
        )
        assert len(created) == 3
        assert Branch.objects.filter(code__startswith="G").count() == 3


@pytest.mark.django_db
def test_nested_context_restores_the_outer_tenant(bank_a, bank_b):
    with tenant_context(bank_a.tenant):
        with tenant_context(bank_b.tenant):
            assert current_tenant_id_or_none() == bank_b.tenant.pk
        assert current_tenant_id_or_none() == bank_a.tenant.pk
        assert Branch.objects.filter(code="HQ").get().tenant_id == bank_a.tenant.pk
    assert current_tenant_id_or_none() is None


@pytest.mark.django_db
def test_a_failed_block_does_not_leave_its_tenant_behind(bank_a):
    with pytest.raises(ZeroDivisionError), tenant_context(bank_a.tenant):
        BranchFactory(tenant=bank_a.tenant)
        1 / 0
    assert current_tenant_id_or_none() is None


def test_the_cross_tenant_escape_is_used_only_where_allowed():
    """``all_tenants`` is the one greppable escape; platform code only."""
    allowed = {"vipcrm/tenancy.py"}
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith((".venv/", "tests/", "var/")) or "/migrations/" in rel:
            continue
        if ".all_tenants" in path.read_text(encoding="utf-8") and rel not in allowed:
            offenders.append(rel)
    assert offenders == []
