"""factory_boy factories. A child's tenant is its parent's, so one tenant= suffices."""

import factory
from factory.django import DjangoModelFactory

from customers.models import Client, ClientTeamMember
from vipcrm.models import Branch, StaffProfile, Tenant, User
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context

TEST_PASSWORD = "Correct-Horse-42"


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"测试银行{n}")
    slug = factory.Sequence(lambda n: f"bank-{n}")


class TenantOwnedFactory(DjangoModelFactory):
    """Creates the row inside its tenant's context, as the application would."""

    class Meta:
        abstract = True

    tenant = factory.SubFactory(TenantFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with tenant_context(kwargs["tenant"]):
            return super()._create(model_class, *args, **kwargs)


class BranchFactory(TenantOwnedFactory):
    class Meta:
        model = Branch

    code = factory.Sequence(lambda n: f"B{n:04d}")
    name = factory.Sequence(lambda n: f"第{n}支行")
    parent = None


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    tenant = factory.SubFactory(TenantFactory)
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def save_password(self, create, extracted, **kwargs):
        if create:
            self.save()


class StaffFactory(TenantOwnedFactory):
    class Meta:
        model = StaffProfile

    code = factory.Sequence(lambda n: f"S{n:05d}")
    name = factory.Sequence(lambda n: f"员工{n}")
    role = Role.RM
    branch = factory.SubFactory(BranchFactory, tenant=factory.SelfAttribute("..tenant"))
    user = factory.SubFactory(UserFactory, tenant=factory.SelfAttribute("..tenant"))


class ClientFactory(TenantOwnedFactory):
    class Meta:
        model = Client

    external_id = factory.Sequence(lambda n: f"C{n:010d}")
    name = factory.Sequence(lambda n: f"客户{n}")
    gender = Client.Gender.FEMALE
    branch = factory.SubFactory(BranchFactory, tenant=factory.SelfAttribute("..tenant"))
    owner_rm = None


class ClientTeamMemberFactory(TenantOwnedFactory):
    class Meta:
        model = ClientTeamMember

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    staff = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    role = ClientTeamMember.TeamRole.ADVISOR
