"""Configuration services: tiers with their floors and service standards, the tiering
policy — who may change them, validation, the audit trail, and that nothing re-tiers."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from customers.models import Client, Tier
from segmentation import configuration, selectors
from segmentation.models import ServiceStandard, TieringPolicy
from tests.factories import (
    ClientFactory,
    ServiceStandardFactory,
    TierChangeFactory,
    TierFactory,
    TieringPolicyFactory,
    TierOverrideFactory,
)
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor

pytestmark = pytest.mark.django_db

STANDARD = {
    "contact_cadence_days": 90,
    "maturity_lead_days": 14,
    "meetings_per_year": 2,
    "service_package": "贵宾厅",
    "book_weight": Decimal("1"),
}


@pytest.fixture
def english():
    """Service messages in English (the default language is Chinese)."""
    with translation.override("en"):
        yield


@pytest.fixture
def head(bank_a):
    return Actor.for_staff(bank_a.head)


@pytest.fixture
def ladder(bank_a):
    """The demo ladder: Potential 200k, Gold 500k, Diamond 5m, Private 10m."""
    tiers = {}
    for rank, (code, name, floor, cadence, weight) in enumerate(
        [
            ("POT", "潜力客户", "200000", 180, "0.5"),
            ("GOLD", "金卡", "500000", 90, "1"),
            ("DIAMOND", "钻石", "5000000", 45, "4"),
            ("PRIVATE", "私人银行", "10000000", 30, "8"),
        ],
        start=1,
    ):
        tier = TierFactory(
            tenant=bank_a.tenant, code=code, name=name, rank=rank, aum_floor=Decimal(floor)
        )
        ServiceStandardFactory(
            tenant=bank_a.tenant,
            tier=tier,
            contact_cadence_days=cadence,
            book_weight=Decimal(weight),
        )
        tiers[code] = tier
    return tiers


def entries(action=None):
    found = AuditEntry.objects.filter(object_type__in=configuration.CONFIG_OBJECT_TYPES)
    return list(found.filter(action=action) if action else found)


# --- Who may change the configuration --------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "rm", "advisor"])
def test_only_head_office_may_change_the_configuration(bank_a, in_tenant, ladder, role):
    actor = Actor.for_staff(getattr(bank_a, role))
    gold = ladder["GOLD"]
    with in_tenant(bank_a.tenant):
        with pytest.raises(PermissionDenied):
            configuration.tier_update(
                actor=actor, tier=gold, name="金卡", rank=2, aum_floor=Decimal("600000")
            )
        with pytest.raises(PermissionDenied):
            configuration.service_standard_update(actor=actor, tier=gold, **STANDARD)
        with pytest.raises(PermissionDenied):
            configuration.tier_create(
                actor=actor, code="X", name="X", rank=9, aum_floor=Decimal("1e8"), **STANDARD
            )
        with pytest.raises(PermissionDenied):
            configuration.tiering_policy_update(
                actor=actor,
                window_days=60,
                downgrade_grace=3,
                near_threshold_percent=10,
                default_rm_capacity=Decimal("150"),
            )
        assert Tier.objects.get(pk=gold.pk).aum_floor == Decimal("500000")
        assert not TieringPolicy.objects.exists()
        assert entries() == []


def test_another_banks_head_office_cannot_change_a_tier(bank_a, bank_b, in_tenant, ladder):
    with in_tenant(bank_a.tenant), pytest.raises(PermissionDenied):
        configuration.tier_update(
            actor=Actor.for_staff(bank_b.head),
            tier=ladder["GOLD"],
            name="金卡",
            rank=2,
            aum_floor=Decimal("1"),
        )


# --- Tier updates: floors, audit, no re-tiering ------------------------------------------


def test_a_floor_change_is_audited_with_before_and_after(bank_a, in_tenant, head, ladder):
    with in_tenant(bank_a.tenant):
        configuration.tier_update(
            actor=head, tier=ladder["GOLD"], name="金卡", rank=2, aum_floor=Decimal("600000")
        )
        (entry,) = entries("update")
        assert Tier.objects.get(code="GOLD").aum_floor == Decimal("600000.00")
    assert (entry.object_type, entry.object_id) == ("customers.tier", str(ladder["GOLD"].pk))
    assert entry.detail["changes"] == {"aum_floor": ["500000.00", "600000.00"]}
    assert entry.detail["takes_effect"] == "next nightly run"
    assert entry.actor_label == bank_a.head.user.username


def test_a_floor_change_does_not_re_tier_anyone_until_the_nightly_run(
    bank_a, in_tenant, head, ladder
):
    # A Gold client at 550k stays Gold when the floor moves to 600k: the nightly run
    # (not the configuration) moves clients, with its grace period and records.
    client = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, tier=ladder["GOLD"], aum_cny=Decimal("550000")
    )
    with in_tenant(bank_a.tenant):
        configuration.tier_update(
            actor=head, tier=ladder["GOLD"], name="金卡", rank=2, aum_floor=Decimal("600000")
        )
        assert Client.objects.get(pk=client.pk).tier_id == ladder["GOLD"].pk
        assert not client.tier_changes.exists()


def test_saving_the_same_values_writes_no_audit_entry(bank_a, in_tenant, head, ladder):
    with in_tenant(bank_a.tenant):
        configuration.tier_update(
            actor=head, tier=ladder["GOLD"], name="金卡", rank=2, aum_floor=Decimal("500000")
        )
        configuration.service_standard_update(
            actor=head,
            tier=ladder["GOLD"],
            contact_cadence_days=90,
            maturity_lead_days=14,
            meetings_per_year=2,
            service_package="贵宾厅、专属理财顾问",
            book_weight=Decimal("1.00"),
        )
        assert entries() == []


@pytest.mark.parametrize(
    ("floor", "message"),
    [
        ("200000", "above that of 潜力客户 (200,000.00 CNY)"),  # equal to the tier below
        ("199999.99", "above that of 潜力客户"),
        ("5000000", "below that of 钻石 (5,000,000.00 CNY)"),  # equal to the tier above
        ("-1", "cannot be negative"),
    ],
)
def test_floors_must_rise_strictly_with_rank(
    bank_a, in_tenant, head, ladder, english, floor, message
):
    with in_tenant(bank_a.tenant):
        with pytest.raises(ValidationError) as refused:
            configuration.tier_update(
                actor=head, tier=ladder["GOLD"], name="金卡", rank=2, aum_floor=Decimal(floor)
            )
        assert message in " ".join(refused.value.message_dict["aum_floor"])
        assert Tier.objects.get(code="GOLD").aum_floor == Decimal("500000")
        assert entries() == []


def test_a_floor_just_inside_its_neighbours_is_accepted(bank_a, in_tenant, head, ladder):
    with in_tenant(bank_a.tenant):
        configuration.tier_update(
            actor=head, tier=ladder["GOLD"], name="金卡", rank=2, aum_floor=Decimal("200000.01")
        )
        configuration.tier_update(
            actor=head, tier=ladder["GOLD"], name="金卡", rank=2, aum_floor=Decimal("4999999.99")
        )
        assert Tier.objects.get(code="GOLD").aum_floor == Decimal("4999999.99")


def test_re_ranking_a_tier_checks_the_floors_at_its_new_place(
    bank_a, in_tenant, head, ladder, english
):
    with in_tenant(bank_a.tenant):
        with pytest.raises(ValidationError) as clash:
            configuration.tier_update(
                actor=head, tier=ladder["GOLD"], name="金卡", rank=3, aum_floor=Decimal("500000")
            )
        assert "钻石 already has rank 3" in clash.value.message_dict["rank"][0]
        with pytest.raises(ValidationError) as crossed:
            configuration.tier_update(
                actor=head, tier=ladder["GOLD"], name="金卡", rank=5, aum_floor=Decimal("500000")
            )
        assert "above that of 私人银行" in crossed.value.message_dict["aum_floor"][0]
        configuration.tier_update(
            actor=head, tier=ladder["GOLD"], name="金卡", rank=5, aum_floor=Decimal("20000000")
        )
        assert list(Tier.objects.order_by("rank").values_list("code", flat=True)) == [
            "POT",
            "DIAMOND",
            "PRIVATE",
            "GOLD",
        ]


def test_a_tier_name_belongs_to_one_tier(bank_a, in_tenant, head, ladder, english):
    with in_tenant(bank_a.tenant), pytest.raises(ValidationError) as refused:
        configuration.tier_update(
            actor=head, tier=ladder["GOLD"], name="钻石", rank=2, aum_floor=Decimal("500000")
        )
    assert "name" in refused.value.message_dict


# --- Tier creation and deletion --------------------------------------------------------


def test_a_new_tier_comes_with_its_standard_and_is_audited(bank_a, in_tenant, head, ladder):
    with in_tenant(bank_a.tenant):
        tier = configuration.tier_create(
            actor=head,
            code="BLACK",
            name="黑金",
            rank=5,
            aum_floor=Decimal("50000000"),
            contact_cadence_days=14,
            maturity_lead_days=45,
            meetings_per_year=12,
            service_package="家族办公室",
            book_weight=Decimal("12"),
        )
        standard = ServiceStandard.objects.get(tier=tier)
        (entry,) = entries("create")
    assert (standard.contact_cadence_days, standard.book_weight) == (14, Decimal("12.00"))
    assert entry.object_id == str(tier.pk)
    assert entry.detail["values"]["aum_floor"] == "50000000.00"
    assert entry.detail["values"]["book_weight"] == "12.00"


def test_a_new_tier_reports_every_problem_at_once_and_writes_nothing(
    bank_a, in_tenant, head, ladder, english
):
    with in_tenant(bank_a.tenant):
        with pytest.raises(ValidationError) as refused:
            configuration.tier_create(
                actor=head,
                code="gold",  # codes are unique whatever their case
                name="新等级",
                rank=1,  # Potential's
                aum_floor=Decimal("100"),
                contact_cadence_days=0,
                maturity_lead_days=181,
                meetings_per_year=53,
                service_package="",
                book_weight=Decimal("-1"),
            )
        errors = refused.value.message_dict
        assert Tier.objects.count() == 4
        assert ServiceStandard.objects.count() == 4
        assert entries() == []
    assert set(errors) >= {
        "code",
        "rank",
        "contact_cadence_days",
        "maturity_lead_days",
        "meetings_per_year",
        "book_weight",
    }


def test_a_tier_code_is_letters_digits_and_dashes(bank_a, in_tenant, head, english):
    with in_tenant(bank_a.tenant), pytest.raises(ValidationError) as refused:
        configuration.tier_create(
            actor=head, code="金 卡", name="金卡", rank=1, aum_floor=Decimal("1"), **STANDARD
        )
    assert "letters, digits" in refused.value.message_dict["code"][0]


def test_an_unused_tier_can_be_deleted_with_its_standard(bank_a, in_tenant, head, ladder):
    with in_tenant(bank_a.tenant):
        configuration.tier_delete(actor=head, tier=ladder["PRIVATE"])
        assert not Tier.objects.filter(code="PRIVATE").exists()
        assert ServiceStandard.objects.count() == 3
        (entry,) = entries("delete")
    assert entry.detail["values"]["code"] == "PRIVATE"


@pytest.mark.parametrize("use", ["client", "override", "change_to", "change_from"])
def test_a_tier_in_use_cannot_be_deleted(bank_a, in_tenant, head, ladder, use, english):
    gold = ladder["GOLD"]
    if use == "client":
        ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, tier=gold)
    elif use == "override":
        TierOverrideFactory(tenant=bank_a.tenant, tier=gold, created_by=bank_a.supervisor)
    elif use == "change_to":
        TierChangeFactory(tenant=bank_a.tenant, to_tier=gold)
    else:
        TierChangeFactory(tenant=bank_a.tenant, from_tier=gold, to_tier=None)
    with in_tenant(bank_a.tenant):
        with pytest.raises(ValidationError) as refused:
            configuration.tier_delete(actor=head, tier=gold)
        assert Tier.objects.filter(code="GOLD").exists()
        assert entries() == []
    assert "in use" in refused.value.messages[0]


def test_the_config_list_flags_tiers_in_use_without_counting_the_book(
    bank_a, in_tenant, ladder, django_assert_max_num_queries
):
    ClientFactory.create_batch(3, tenant=bank_a.tenant, branch=bank_a.sub, tier=ladder["GOLD"])
    with in_tenant(bank_a.tenant), django_assert_max_num_queries(2):
        tiers = configuration.tier_config_list()
        found = {t.code: (t.in_use, t.standard.contact_cadence_days) for t in tiers}
    assert [t.code for t in tiers] == ["PRIVATE", "DIAMOND", "GOLD", "POT"]
    assert found["GOLD"] == (True, 90)
    assert found["PRIVATE"] == (False, 30)


# --- Service standards -----------------------------------------------------------------


def test_a_standard_change_is_audited_with_before_and_after(bank_a, in_tenant, head, ladder):
    with in_tenant(bank_a.tenant):
        configuration.service_standard_update(
            actor=head, tier=ladder["DIAMOND"], **{**STANDARD, "contact_cadence_days": 30}
        )
        (entry,) = entries("update")
    assert entry.object_type == "segmentation.servicestandard"
    assert entry.detail["tier"] == "DIAMOND"
    assert entry.detail["changes"]["contact_cadence_days"] == ["45", "30"]
    assert entry.detail["changes"]["book_weight"] == ["4.00", "1.00"]


def test_festival_care_is_part_of_the_standard(bank_a, in_tenant, head, ladder):
    with in_tenant(bank_a.tenant):
        configuration.service_standard_update(
            actor=head, tier=ladder["PRIVATE"], **{**STANDARD, "festival_care": True}
        )
        assert ServiceStandard.objects.get(tier=ladder["PRIVATE"]).festival_care
        (entry,) = entries("update")
    assert entry.detail["changes"]["festival_care"] == ["False", "True"]


def test_a_tier_without_a_standard_gets_one(bank_a, in_tenant, head):
    tier = TierFactory(tenant=bank_a.tenant, rank=1)
    with in_tenant(bank_a.tenant):
        standard = configuration.service_standard_update(actor=head, tier=tier, **STANDARD)
        assert ServiceStandard.objects.get(tier=tier) == standard
        (entry,) = entries("create")
    assert entry.detail["values"]["contact_cadence_days"] == "90"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("contact_cadence_days", 0),
        ("contact_cadence_days", 367),
        ("maturity_lead_days", 0),
        ("maturity_lead_days", 181),
        ("meetings_per_year", 53),
        ("book_weight", Decimal("-0.01")),
    ],
)
def test_standards_stay_within_sane_bounds(bank_a, in_tenant, head, ladder, field, value):
    with in_tenant(bank_a.tenant):
        with pytest.raises(ValidationError) as refused:
            configuration.service_standard_update(
                actor=head, tier=ladder["GOLD"], **{**STANDARD, field: value}
            )
        assert field in refused.value.message_dict
        assert ServiceStandard.objects.get(tier=ladder["GOLD"]).contact_cadence_days == 90


# --- The tiering policy ----------------------------------------------------------------


def test_the_policy_reads_as_the_defaults_until_saved(bank_a, in_tenant):
    with in_tenant(bank_a.tenant):
        policy = selectors.tiering_policy()
        assert not TieringPolicy.objects.exists()  # reading never writes
    assert policy.pk is None
    assert (policy.window_days, policy.downgrade_grace, policy.near_threshold_percent) == (
        90,
        3,
        10,
    )


def test_the_first_policy_save_is_audited_against_the_defaults(bank_a, in_tenant, head):
    with in_tenant(bank_a.tenant):
        configuration.tiering_policy_update(
            actor=head,
            window_days=60,
            downgrade_grace=3,
            near_threshold_percent=10,
            default_rm_capacity=Decimal("150"),
        )
        policy = TieringPolicy.objects.get()
        (entry,) = entries("create")
    assert policy.window_days == 60
    assert entry.detail["changes"] == {"window_days": ["90", "60"]}


def test_a_policy_change_is_audited_and_an_unchanged_save_is_not(bank_a, in_tenant, head):
    TieringPolicyFactory(tenant=bank_a.tenant)
    values = {
        "window_days": 90,
        "downgrade_grace": 6,
        "near_threshold_percent": 10,
        "default_rm_capacity": Decimal("120.5"),
    }
    with in_tenant(bank_a.tenant):
        configuration.tiering_policy_update(actor=head, **values)
        configuration.tiering_policy_update(actor=head, **values)
        (entry,) = entries("update")
        assert TieringPolicy.objects.count() == 1
    assert entry.detail["changes"] == {
        "downgrade_grace": ["3", "6"],
        "default_rm_capacity": ["150.00", "120.50"],
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window_days", 0),
        ("window_days", 367),
        ("downgrade_grace", 0),
        ("downgrade_grace", 25),
        ("near_threshold_percent", 0),
        ("near_threshold_percent", 51),
        ("default_rm_capacity", Decimal("0.5")),
    ],
)
def test_the_policy_stays_within_sane_bounds(bank_a, in_tenant, head, field, value):
    values = {
        "window_days": 90,
        "downgrade_grace": 3,
        "near_threshold_percent": 10,
        "default_rm_capacity": Decimal("150"),
        field: value,
    }
    with in_tenant(bank_a.tenant):
        with pytest.raises(ValidationError) as refused:
            configuration.tiering_policy_update(actor=head, **values)
        assert field in refused.value.message_dict
        assert not TieringPolicy.objects.exists()
        assert entries() == []
