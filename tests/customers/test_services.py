"""Writes an RM makes about a client: who may, what is refused, what is audited."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from customers import services
from customers.models import HeldAwayAsset, LifeEvent, Need, Relationship
from customers.services import Section
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    HeldAwayAssetFactory,
    LifeEventFactory,
    NeedFactory,
    RelationshipFactory,
)
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(bank_a):
    """A client of the RM at the Chaoyang sub-branch (under the supervisor's city branch)."""
    return ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)


def actor(staff):
    return Actor.for_staff(staff)


def audit_entries(bank, in_tenant, action):
    with in_tenant(bank.tenant):
        return list(AuditEntry.objects.filter(action=action).order_by("id"))


# --- Who may edit ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "sections"),
    [
        ("rm", set(Section)),
        ("head", set(Section)),
        ("supervisor", set(Section)),
        ("advisor", set()),  # not on the team
        ("other_rm", set()),
    ],
)
def test_who_may_edit_a_client(bank_a, book, in_tenant, who, sections):
    with in_tenant(bank_a.tenant):
        found = services.client_editable_sections(actor=actor(getattr(bank_a, who)), client=book)
    assert set(found) == sections


def test_team_members_may_edit_advisors_only_needs_and_life_events(bank_a, book, in_tenant):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=book, staff=bank_a.advisor)
    ClientTeamMemberFactory(
        tenant=bank_a.tenant, client=book, staff=bank_a.other_rm, role="secondary_rm"
    )
    with in_tenant(bank_a.tenant):
        advisor = services.client_editable_sections(actor=actor(bank_a.advisor), client=book)
        secondary = services.client_editable_sections(actor=actor(bank_a.other_rm), client=book)
    assert advisor == {Section.NEEDS, Section.LIFE_EVENTS}
    assert secondary == set(Section)


def test_a_supervisor_may_not_edit_another_branchs_client(bank_a, in_tenant):
    shanghai = ClientFactory(tenant=bank_a.tenant, branch=bank_a.other_sub)
    with in_tenant(bank_a.tenant), pytest.raises(PermissionDenied):
        services.need_create(actor=actor(bank_a.supervisor), client=shanghai, kind=Need.Kind.GROWTH)


def test_another_tenants_staff_may_edit_nothing(bank_a, bank_b, book, in_tenant):
    with in_tenant(bank_a.tenant):
        assert services.client_editable_sections(actor=actor(bank_b.head), client=book) == set()


# --- Needs ----------------------------------------------------------------------------


def test_need_create_records_the_need_and_an_audit_entry(bank_a, book, in_tenant):
    with in_tenant(bank_a.tenant):
        need = services.need_create(
            actor=actor(bank_a.rm), client=book, kind=Need.Kind.GROWTH, note="想多一些收益"
        )
        assert need.is_open and need.note == "想多一些收益" and need.tenant_id == bank_a.tenant.pk
    (entry,) = audit_entries(bank_a, in_tenant, "create")
    assert entry.object_type == "customers.need"
    assert entry.object_id == str(need.pk)
    assert entry.actor == bank_a.rm.user
    assert entry.detail == {"client": book.external_id}


def test_the_same_need_twice_is_a_validation_error_and_writes_nothing(bank_a, book, in_tenant):
    NeedFactory(tenant=bank_a.tenant, client=book, kind=Need.Kind.GROWTH)
    with in_tenant(bank_a.tenant):
        with pytest.raises(ValidationError) as error:
            services.need_create(actor=actor(bank_a.rm), client=book, kind=Need.Kind.GROWTH)
        assert "kind" in error.value.message_dict
        assert Need.objects.count() == 1
    assert audit_entries(bank_a, in_tenant, "create") == []


def test_an_unknown_need_kind_is_refused_before_anything_is_written(bank_a, book, in_tenant):
    with in_tenant(bank_a.tenant):
        with pytest.raises(ValidationError):
            services.need_create(actor=actor(bank_a.rm), client=book, kind="lottery")
        assert not Need.objects.exists()


def test_need_mark_addressed_and_delete(bank_a, book, in_tenant):
    need = NeedFactory(tenant=bank_a.tenant, client=book)
    need_id = str(need.pk)
    with in_tenant(bank_a.tenant):
        services.need_mark_addressed(actor=actor(bank_a.rm), client=book, need=need)
        need.refresh_from_db()
        assert not need.is_open
        services.need_delete(actor=actor(bank_a.rm), client=book, need=need)
        assert not Need.objects.exists()
    assert [e.object_type for e in audit_entries(bank_a, in_tenant, "update")] == ["customers.need"]
    assert [e.object_id for e in audit_entries(bank_a, in_tenant, "delete")] == [need_id]


def test_a_need_of_another_client_is_refused(bank_a, book, in_tenant):
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    need = NeedFactory(tenant=bank_a.tenant, client=other)
    with in_tenant(bank_a.tenant), pytest.raises(PermissionDenied):
        services.need_delete(actor=actor(bank_a.rm), client=book, need=need)


def test_an_advisor_on_the_team_may_add_needs_but_not_held_away_assets(bank_a, book, in_tenant):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=book, staff=bank_a.advisor)
    with in_tenant(bank_a.tenant):
        services.need_create(actor=actor(bank_a.advisor), client=book, kind=Need.Kind.GROWTH)
        with pytest.raises(PermissionDenied):
            services.held_away_asset_create(
                actor=actor(bank_a.advisor),
                client=book,
                kind=HeldAwayAsset.Kind.REAL_ESTATE,
                amount_cny=Decimal("1"),
            )
        assert not HeldAwayAsset.objects.exists()


# --- Life events ----------------------------------------------------------------------


def test_life_event_update_audits_what_changed(bank_a, book, in_tenant):
    event = LifeEventFactory(
        tenant=bank_a.tenant, client=book, kind="retirement", occurs_on=datetime.date(2027, 3, 1)
    )
    with in_tenant(bank_a.tenant):
        services.life_event_update(
            actor=actor(bank_a.rm),
            client=book,
            life_event=event,
            kind="retirement",
            occurs_on=datetime.date(2027, 6, 1),
            note="",
        )
        event.refresh_from_db()
    assert event.occurs_on == datetime.date(2027, 6, 1)
    (entry,) = audit_entries(bank_a, in_tenant, "update")
    assert entry.detail["changes"] == {"occurs_on": ["2027-03-01", "2027-06-01"]}


def test_life_event_create_and_delete(bank_a, book, in_tenant):
    with in_tenant(bank_a.tenant):
        event = services.life_event_create(
            actor=actor(bank_a.rm),
            client=book,
            kind=LifeEvent.Kind.MARRIAGE,
            occurs_on=datetime.date(2027, 5, 20),
        )
        services.life_event_delete(actor=actor(bank_a.rm), client=book, life_event=event)
        assert not LifeEvent.objects.exists()
    assert len(audit_entries(bank_a, in_tenant, "create")) == 1
    assert len(audit_entries(bank_a, in_tenant, "delete")) == 1


# --- Held-away assets -----------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", [Decimal("-0.01"), Decimal("NaN"), Decimal("Infinity"), Decimal("1.001"), 100]
)
def test_held_away_amounts_must_be_decimals_of_zero_or_more(bank_a, book, in_tenant, amount):
    with in_tenant(bank_a.tenant):
        with pytest.raises(ValidationError) as error:
            services.held_away_asset_create(
                actor=actor(bank_a.rm), client=book, kind="real_estate", amount_cny=amount
            )
        assert "amount_cny" in error.value.message_dict
        assert not HeldAwayAsset.objects.exists()


def test_held_away_asset_create_update_delete(bank_a, book, in_tenant):
    with in_tenant(bank_a.tenant):
        asset = services.held_away_asset_create(
            actor=actor(bank_a.rm), client=book, kind="real_estate", amount_cny=Decimal("0")
        )
        services.held_away_asset_update(
            actor=actor(bank_a.rm),
            client=book,
            asset=asset,
            kind="real_estate",
            amount_cny=Decimal("8800000.00"),
            description="上海住宅",
        )
        asset.refresh_from_db()
        assert asset.amount_cny == Decimal("8800000.00")
        services.held_away_asset_delete(actor=actor(bank_a.rm), client=book, asset=asset)
        assert not HeldAwayAsset.objects.exists()
    (update,) = audit_entries(bank_a, in_tenant, "update")
    assert update.detail["changes"]["amount_cny"] == ["0.00", "8800000.00"]


def test_held_away_asset_of_another_client_is_refused(bank_a, book, in_tenant):
    asset = HeldAwayAssetFactory(tenant=bank_a.tenant)
    with in_tenant(bank_a.tenant), pytest.raises(PermissionDenied):
        services.held_away_asset_delete(actor=actor(bank_a.rm), client=book, asset=asset)


# --- Relationships --------------------------------------------------------------------


def test_relationship_create(bank_a, book, in_tenant):
    spouse = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    with in_tenant(bank_a.tenant):
        tie = services.relationship_create(
            actor=actor(bank_a.rm), client=book, related=spouse, kind="spouse"
        )
    assert (tie.client, tie.related, tie.kind) == (book, spouse, "spouse")
    (entry,) = audit_entries(bank_a, in_tenant, "create")
    assert entry.detail == {"client": book.external_id, "related": spouse.external_id}


def test_a_client_cannot_be_related_to_themself(bank_a, book, in_tenant):
    with in_tenant(bank_a.tenant), pytest.raises(ValidationError) as error:
        services.relationship_create(
            actor=actor(bank_a.rm), client=book, related=book, kind="other"
        )
    assert "related" in error.value.message_dict


def test_a_relationship_recorded_from_the_other_side_is_a_duplicate(bank_a, book, in_tenant):
    spouse = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    RelationshipFactory(tenant=bank_a.tenant, client=spouse, related=book, kind="spouse")
    with in_tenant(bank_a.tenant):
        with pytest.raises(ValidationError) as error:
            services.relationship_create(
                actor=actor(bank_a.rm), client=book, related=spouse, kind="spouse"
            )
        with translation.override("en"):
            assert "already related" in str(error.value.message_dict["related"])
        assert Relationship.objects.count() == 1


def test_a_relationship_to_another_tenants_client_is_not_found(bank_a, bank_b, book, in_tenant):
    stranger = ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub)
    with in_tenant(bank_a.tenant):
        with pytest.raises(ValidationError) as error:
            services.relationship_create(
                actor=actor(bank_a.head), client=book, related=stranger, kind="spouse"
            )
        with translation.override("en"):
            assert "No client" in str(error.value.message_dict["related"])
        assert not Relationship.objects.exists()


def test_relationship_delete_from_either_side(bank_a, book, in_tenant):
    parent = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    tie = RelationshipFactory(tenant=bank_a.tenant, client=parent, related=book, kind="child")
    with in_tenant(bank_a.tenant):
        services.relationship_delete(actor=actor(bank_a.rm), client=book, relationship=tie)
        assert not Relationship.objects.exists()


# --- Preferences ----------------------------------------------------------------------


def test_preferences_update_changes_only_the_preferences(bank_a, book, in_tenant):
    with in_tenant(bank_a.tenant):
        services.client_preferences_update(
            actor=actor(bank_a.rm),
            client=book,
            preferred_channel="wechat",
            preferred_contact_time="evening",
            is_confidential=True,
        )
        book.refresh_from_db()
    assert (book.preferred_channel, book.preferred_contact_time, book.is_confidential) == (
        "wechat",
        "evening",
        True,
    )
    (entry,) = audit_entries(bank_a, in_tenant, "update")
    assert entry.detail["changes"] == {
        "preferred_channel": ["", "wechat"],
        "preferred_contact_time": ["", "evening"],
        "is_confidential": ["False", "True"],
    }


def test_preferences_unchanged_write_nothing(bank_a, book, in_tenant):
    with in_tenant(bank_a.tenant):
        services.client_preferences_update(
            actor=actor(bank_a.rm),
            client=book,
            preferred_channel="",
            preferred_contact_time="",
            is_confidential=False,
        )
    assert audit_entries(bank_a, in_tenant, "update") == []


def test_an_unknown_channel_is_refused(bank_a, book, in_tenant):
    with in_tenant(bank_a.tenant), pytest.raises(ValidationError):
        services.client_preferences_update(
            actor=actor(bank_a.rm),
            client=book,
            preferred_channel="pigeon",
            preferred_contact_time="",
            is_confidential=False,
        )
    with in_tenant(bank_a.tenant):
        book.refresh_from_db()
    assert book.preferred_channel == ""
