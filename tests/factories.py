"""factory_boy factories. A child's tenant is its parent's, so one tenant= suffices."""

import datetime
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from contact_plans.models import CalendarFeed, ContactPlan, Interaction, PlannedContact
from customers.models import (
    Client,
    ClientTeamMember,
    FxRate,
    HeldAwayAsset,
    Holding,
    LifeEvent,
    Need,
    Product,
    Relationship,
    RiskAssessment,
    Tier,
)
from kpi.models import (
    CoachingNote,
    Complaint,
    KpiSnapshot,
    SatisfactionSurvey,
    ScorecardWeights,
    TimeLog,
)
from sales_pipeline.models import (
    Celebration,
    Opportunity,
    OpportunityAdvisor,
    OpportunityProduct,
    Proposal,
    ProposalLine,
    Referral,
    SaleCredit,
    StepEntry,
)
from segmentation.models import (
    AumSnapshot,
    ClientSegment,
    RmCapacity,
    SavedSegment,
    ServiceStandard,
    TierChange,
    TieringPolicy,
    TierOverride,
)
from vipcrm.models import Branch, Notification, StaffProfile, Tenant, User
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


class TierFactory(TenantOwnedFactory):
    class Meta:
        model = Tier

    code = factory.Sequence(lambda n: f"T{n}")
    name = factory.Sequence(lambda n: f"等级{n}")
    rank = factory.Sequence(lambda n: n + 1)
    aum_floor = Decimal("500000.00")


class ProductFactory(TenantOwnedFactory):
    class Meta:
        model = Product

    code = factory.Sequence(lambda n: f"P{n:05d}")
    name = factory.Sequence(lambda n: f"稳健理财{n}号")
    category = Product.Category.WEALTH_MANAGEMENT
    risk_level = "R2"
    currency = "CNY"


class HoldingFactory(TenantOwnedFactory):
    class Meta:
        model = Holding

    external_id = factory.Sequence(lambda n: f"H{n:010d}")
    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    product = factory.SubFactory(ProductFactory, tenant=factory.SelfAttribute("..tenant"))
    balance = Decimal("100000.00")
    currency = "CNY"
    status = Holding.Status.ACTIVE


class FxRateFactory(TenantOwnedFactory):
    class Meta:
        model = FxRate

    currency = "USD"
    date = factory.Sequence(lambda n: datetime.date(2026, 1, 1) + datetime.timedelta(days=n))
    rate_to_cny = Decimal("7.10000000")


class RiskAssessmentFactory(TenantOwnedFactory):
    class Meta:
        model = RiskAssessment

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    level = "C3"
    assessed_on = datetime.date(2026, 6, 1)


class NeedFactory(TenantOwnedFactory):
    class Meta:
        model = Need

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    kind = Need.Kind.GROWTH


class LifeEventFactory(TenantOwnedFactory):
    class Meta:
        model = LifeEvent

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    kind = LifeEvent.Kind.RETIREMENT
    occurs_on = datetime.date(2027, 3, 1)


class RelationshipFactory(TenantOwnedFactory):
    class Meta:
        model = Relationship

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    related = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    kind = Relationship.Kind.SPOUSE


class HeldAwayAssetFactory(TenantOwnedFactory):
    class Meta:
        model = HeldAwayAsset

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    kind = HeldAwayAsset.Kind.REAL_ESTATE
    amount_cny = Decimal("3000000.00")


class NotificationFactory(TenantOwnedFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    kind = "tier_changes"
    params = factory.LazyFunction(lambda: {"upgrades": 1, "downgrades": 0})


class TieringPolicyFactory(TenantOwnedFactory):
    class Meta:
        model = TieringPolicy
        django_get_or_create = ["tenant"]


class ServiceStandardFactory(TenantOwnedFactory):
    class Meta:
        model = ServiceStandard

    tier = factory.SubFactory(TierFactory, tenant=factory.SelfAttribute("..tenant"))
    contact_cadence_days = 90
    maturity_lead_days = 14
    meetings_per_year = 2
    service_package = "贵宾厅、专属理财顾问"
    book_weight = Decimal("1.00")


class AumSnapshotFactory(TenantOwnedFactory):
    class Meta:
        model = AumSnapshot

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    date = factory.Sequence(lambda n: datetime.date(2026, 1, 1) + datetime.timedelta(days=n))
    aum_cny = Decimal("600000.00")


class ClientSegmentFactory(TenantOwnedFactory):
    class Meta:
        model = ClientSegment

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))


class TierOverrideFactory(TenantOwnedFactory):
    class Meta:
        model = TierOverride

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    tier = factory.SubFactory(TierFactory, tenant=factory.SelfAttribute("..tenant"))
    reason = "重要企业主客户，行长特批"
    expires_on = datetime.date(2027, 6, 30)
    created_by = factory.SubFactory(
        StaffFactory, tenant=factory.SelfAttribute("..tenant"), role=Role.SUPERVISOR
    )


class TierChangeFactory(TenantOwnedFactory):
    class Meta:
        model = TierChange

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    from_tier = None
    to_tier = factory.SubFactory(TierFactory, tenant=factory.SelfAttribute("..tenant"))
    reason = TierChange.Reason.UPGRADE
    average_aum_cny = Decimal("600000.00")
    effective_on = datetime.date(2026, 11, 1)


class RmCapacityFactory(TenantOwnedFactory):
    class Meta:
        model = RmCapacity

    staff = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    capacity = Decimal("150.00")


class SavedSegmentFactory(TenantOwnedFactory):
    class Meta:
        model = SavedSegment

    name = factory.Sequence(lambda n: f"目标客户{n}")
    owner = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    criteria = factory.LazyFunction(dict)


class ContactPlanFactory(TenantOwnedFactory):
    class Meta:
        model = ContactPlan

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    cadence_days = 90


class PlannedContactFactory(TenantOwnedFactory):
    class Meta:
        model = PlannedContact

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    reason = PlannedContact.Reason.CADENCE
    due_on = datetime.date(2026, 12, 1)
    source_key = factory.Sequence(lambda n: f"cadence:{n}")


class InteractionFactory(TenantOwnedFactory):
    class Meta:
        model = Interaction

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    staff = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    channel = "phone"
    occurred_at = factory.LazyFunction(
        lambda: datetime.datetime(2026, 11, 20, 10, 0, tzinfo=datetime.UTC)
    )
    summary = "电话回访，客户关注到期理财的续作方案"


class CalendarFeedFactory(TenantOwnedFactory):
    class Meta:
        model = CalendarFeed

    staff = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    secret_hash = factory.Sequence(lambda n: f"{n:064x}")


class OpportunityFactory(TenantOwnedFactory):
    class Meta:
        model = Opportunity

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    owner_rm = factory.LazyAttribute(lambda o: o.client.owner_rm)
    title = factory.Sequence(lambda n: f"到期理财续作 {n}")
    source = Opportunity.Source.WALK_IN
    expected_amount_cny = Decimal("500000.00")
    step_entered_at = factory.LazyFunction(
        lambda: datetime.datetime(2026, 11, 20, 9, 0, tzinfo=datetime.UTC)
    )


class OpportunityAdvisorFactory(TenantOwnedFactory):
    class Meta:
        model = OpportunityAdvisor

    opportunity = factory.SubFactory(OpportunityFactory, tenant=factory.SelfAttribute("..tenant"))
    staff = factory.SubFactory(
        StaffFactory, tenant=factory.SelfAttribute("..tenant"), role=Role.ADVISOR
    )


class OpportunityProductFactory(TenantOwnedFactory):
    class Meta:
        model = OpportunityProduct

    opportunity = factory.SubFactory(OpportunityFactory, tenant=factory.SelfAttribute("..tenant"))
    product = factory.SubFactory(ProductFactory, tenant=factory.SelfAttribute("..tenant"))


class StepEntryFactory(TenantOwnedFactory):
    class Meta:
        model = StepEntry

    opportunity = factory.SubFactory(OpportunityFactory, tenant=factory.SelfAttribute("..tenant"))
    step = 1
    entered_at = factory.LazyAttribute(lambda o: o.opportunity.step_entered_at)


class ProposalFactory(TenantOwnedFactory):
    class Meta:
        model = Proposal

    opportunity = factory.SubFactory(
        OpportunityFactory, tenant=factory.SelfAttribute("..tenant"), step=3
    )
    risk_level = "C3"
    risk_assessed_on = datetime.date(2026, 6, 1)


class ProposalLineFactory(TenantOwnedFactory):
    class Meta:
        model = ProposalLine

    proposal = factory.SubFactory(ProposalFactory, tenant=factory.SelfAttribute("..tenant"))
    product = factory.SubFactory(ProductFactory, tenant=factory.SelfAttribute("..tenant"))
    amount_cny = Decimal("300000.00")


class SaleCreditFactory(TenantOwnedFactory):
    class Meta:
        model = SaleCredit

    opportunity = factory.SubFactory(
        OpportunityFactory, tenant=factory.SelfAttribute("..tenant"), status="won", step=4
    )
    staff = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    role = SaleCredit.Role.OWNER
    share_percent = Decimal("100")
    amount_cny = Decimal("500000.00")
    credited_on = datetime.date(2026, 11, 20)


class ReferralFactory(TenantOwnedFactory):
    class Meta:
        model = Referral

    referrer = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    prospect = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    credited_to = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    received_by = factory.SelfAttribute("credited_to")


class CelebrationFactory(TenantOwnedFactory):
    class Meta:
        model = Celebration

    opportunity = factory.SubFactory(
        OpportunityFactory, tenant=factory.SelfAttribute("..tenant"), status="won", step=5
    )
    team_recognition = "感谢团队通力合作，顺利完成到期资金承接"


class TimeLogFactory(TenantOwnedFactory):
    class Meta:
        model = TimeLog

    staff = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    date = datetime.date(2026, 11, 23)
    kind = TimeLog.Kind.VIP_SERVICE
    hours = Decimal("6.00")


class SatisfactionSurveyFactory(TenantOwnedFactory):
    class Meta:
        model = SatisfactionSurvey

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    staff = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    score = 5
    surveyed_on = datetime.date(2026, 11, 20)


class ComplaintFactory(TenantOwnedFactory):
    class Meta:
        model = Complaint

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    staff = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    received_on = datetime.date(2026, 11, 18)
    category = Complaint.Category.WAITING
    description = "网点排队时间过长，理财经理未按约定时间接待"


class CoachingNoteFactory(TenantOwnedFactory):
    class Meta:
        model = CoachingNote

    rm = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    author = factory.SubFactory(
        StaffFactory, tenant=factory.SelfAttribute("..tenant"), role=Role.SUPERVISOR
    )
    text = "本月联系计划执行率偏低，建议每周一上午集中安排到期客户回访"


class ScorecardWeightsFactory(TenantOwnedFactory):
    class Meta:
        model = ScorecardWeights


class KpiSnapshotFactory(TenantOwnedFactory):
    class Meta:
        model = KpiSnapshot

    period = KpiSnapshot.Period.MONTH
    period_start = datetime.date(2026, 11, 1)
    period_end = datetime.date(2026, 11, 30)
    as_of = datetime.date(2026, 11, 27)
    scope = KpiSnapshot.Scope.RM
    staff = factory.SubFactory(StaffFactory, tenant=factory.SelfAttribute("..tenant"))
    branch = factory.LazyAttribute(lambda o: o.staff.branch if o.staff else None)
    scope_key = factory.LazyAttribute(lambda o: f"rm:{o.staff.pk}" if o.staff else "tenant")
    computed_at = factory.LazyFunction(
        lambda: datetime.datetime(2026, 11, 28, 2, 0, tzinfo=datetime.UTC)
    )
