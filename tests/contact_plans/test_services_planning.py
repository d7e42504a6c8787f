"""The nightly planning (``contact_plans.services.contact_plans_refresh``): plans and
cadence, maturity alerts exactly once with their reminders, birthdays, festivals, risk
re-assessments, life events, owners, cancellations and overdue marking."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from contact_plans import services
from contact_plans.models import ContactPlan, PlannedContact
from customers.models import Holding, Tier
from segmentation.models import ClientSegment, ServiceStandard
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    FxRateFactory,
    HoldingFactory,
    LifeEventFactory,
    PlannedContactFactory,
)
from vipcrm.models import Notification
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

ON = datetime.date(2026, 11, 28)
DAY = datetime.timedelta(days=1)
# code: rank, floor, cadence, maturity lead, festival care (the spec's demo standards)
STANDARDS = {
    "potential": (1, "200000", 180, 7, False),
    "gold": (2, "500000", 90, 14, False),
    "diamond": (3, "5000000", 45, 30, True),
    "private": (4, "10000000", 30, 30, True),
}
R = PlannedContact.Reason
S = PlannedContact.Status


@pytest.fixture
def tiers(bank_a) -> dict[str, Tier]:
    return tiers_of(bank_a)


def tiers_of(bank) -> dict[str, Tier]:
    made = {}
    with tenant_context(bank.tenant):
        for code, (rank, floor, cadence, lead, festival) in STANDARDS.items():
            tier = Tier.objects.create(code=code, name=code, rank=rank, aum_floor=Decimal(floor))
            ServiceStandard.objects.create(
                tier=tier,
                contact_cadence_days=cadence,
                maturity_lead_days=lead,
                book_weight=Decimal("1"),
                festival_care=festival,
            )
            made[code] = tier
    return made


def person(bank, tier=None, **kwargs):
    kwargs.setdefault("owner_rm", bank.rm)
    return ClientFactory(tenant=bank.tenant, branch=bank.sub, tier=tier, **kwargs)


def run(bank, on=ON) -> dict[str, int]:
    with tenant_context(bank.tenant):
        return services.contact_plans_refresh(on=on)


def contacts(bank, **filters) -> list[PlannedContact]:
    with tenant_context(bank.tenant):
        return list(PlannedContact.objects.filter(**filters).order_by("due_on", "id"))


def plan_of(client) -> ContactPlan:
    with tenant_context(client.tenant_id):
        return ContactPlan.objects.get(client=client)


def maturing(bank, client, days: int, **kwargs) -> Holding:
    kwargs.setdefault("balance", Decimal("1000000.00"))
    return HoldingFactory(tenant=bank.tenant, client=client, matures_on=ON + DAY * days, **kwargs)


# --- Plans and cadence -----------------------------------------------------------------


def test_a_never_contacted_vip_gets_a_plan_due_within_its_first_cadence(bank_a, tiers):
    client = person(bank_a, tiers["gold"])
    run(bank_a)
    plan = plan_of(client)
    assert plan.cadence_days == 90
    assert plan.last_contact_on is None
    assert plan.next_due_on == ON + DAY * (client.pk % 90)


def test_first_due_dates_are_spread_over_the_cadence_not_all_on_day_one(bank_a, tiers):
    clients = [person(bank_a, tiers["private"]) for _ in range(30)]
    run(bank_a)
    due = {plan_of(client).next_due_on for client in clients}
    assert len(due) == 30  # consecutive ids, cadence 30: one client a day
    assert min(due) >= ON and max(due) < ON + DAY * 30


def test_the_next_due_date_is_the_last_contact_plus_the_cadence(bank_a, tiers):
    client = person(bank_a, tiers["diamond"])
    ClientSegmentFactory(tenant=bank_a.tenant, client=client, last_contact_on=ON - DAY * 40)
    run(bank_a)
    plan = plan_of(client)
    assert plan.last_contact_on == ON - DAY * 40
    assert plan.next_due_on == ON + DAY * 5
    (cadence,) = contacts(bank_a, reason=R.CADENCE)
    assert (cadence.due_on, cadence.status) == (ON + DAY * 5, S.PLANNED)
    assert cadence.source_key == f"cadence:{ON + DAY * 5}"
    assert cadence.assigned_to_id == bank_a.rm.pk


def test_a_cadence_contact_is_planned_only_within_two_weeks_of_the_due_date(bank_a, tiers):
    soon, later = person(bank_a, tiers["gold"]), person(bank_a, tiers["gold"])
    ClientSegmentFactory(tenant=bank_a.tenant, client=soon, last_contact_on=ON - DAY * 76)
    ClientSegmentFactory(tenant=bank_a.tenant, client=later, last_contact_on=ON - DAY * 75)
    run(bank_a)
    assert [c.client_id for c in contacts(bank_a, reason=R.CADENCE)] == [soon.pk]


def test_a_cadence_contact_already_past_due_is_planned_overdue(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    ClientSegmentFactory(tenant=bank_a.tenant, client=client, last_contact_on=ON - DAY * 50)
    summary = run(bank_a)
    (cadence,) = contacts(bank_a, reason=R.CADENCE)
    assert (cadence.due_on, cadence.status) == (ON - DAY * 20, S.OVERDUE)
    assert summary["cadence"] == 1 and summary["overdue"] == 0


def test_a_tier_change_moves_the_cadence_and_replaces_the_stale_cadence_contact(bank_a, tiers):
    client = person(bank_a, tiers["gold"])
    ClientSegmentFactory(tenant=bank_a.tenant, client=client, last_contact_on=ON - DAY * 80)
    run(bank_a)
    (old,) = contacts(bank_a, reason=R.CADENCE)
    assert old.due_on == ON + DAY * 10
    with tenant_context(bank_a.tenant):
        type(client).objects.filter(pk=client.pk).update(tier=tiers["private"])
    summary = run(bank_a, ON + DAY)
    plan = plan_of(client)
    assert (plan.cadence_days, plan.next_due_on) == (30, ON - DAY * 50)
    assert summary["plans_updated"] == 1 and summary["cancelled"] == 1
    by_status = {c.status: c for c in contacts(bank_a, reason=R.CADENCE)}
    assert by_status[S.CANCELLED].pk == old.pk
    assert by_status[S.OVERDUE].due_on == ON - DAY * 50


def test_an_upgrade_brings_a_never_contacted_clients_first_due_date_forward(bank_a, tiers):
    client = person(bank_a, tiers["potential"])
    run(bank_a)
    with tenant_context(bank_a.tenant):
        ContactPlan.objects.filter(client=client).update(next_due_on=ON + DAY * 170)
        type(client).objects.filter(pk=client.pk).update(tier=tiers["private"])
    run(bank_a)
    assert plan_of(client).next_due_on == ON + DAY * (client.pk % 30)


def test_clients_below_the_tiers_get_no_plan_and_no_contacts(bank_a, tiers):
    client = person(bank_a, None, birth_date=ON + DAY - datetime.timedelta(days=365 * 40))
    maturing(bank_a, client, 3)
    run(bank_a)
    with tenant_context(bank_a.tenant):
        assert not ContactPlan.objects.exists()
    assert contacts(bank_a) == []


def test_losing_the_tier_cancels_cadence_and_festival_contacts_but_not_maturities(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    ClientSegmentFactory(tenant=bank_a.tenant, client=client, last_contact_on=ON - DAY * 25)
    maturing(bank_a, client, 10)
    festival_on = datetime.date(2027, 1, 25)  # Spring Festival 2027 is 6 February
    run(bank_a, festival_on - DAY * 60)
    run(bank_a, festival_on)
    reasons = {c.reason for c in contacts(bank_a, status__in=PlannedContact.OPEN)}
    assert {R.CADENCE, R.FESTIVAL, R.MATURITY} <= reasons
    with tenant_context(bank_a.tenant):
        type(client).objects.filter(pk=client.pk).update(tier=None)
    run(bank_a, festival_on + DAY)
    open_reasons = {c.reason for c in contacts(bank_a, status__in=PlannedContact.OPEN)}
    assert R.CADENCE not in open_reasons and R.FESTIVAL not in open_reasons
    assert R.MATURITY in open_reasons
    plan = plan_of(client)
    assert (plan.cadence_days, plan.next_due_on) == (None, None)


# --- Maturity alerts -----------------------------------------------------------------------


def test_each_maturing_holding_gets_exactly_one_alert_however_often_the_job_runs(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    holding = maturing(bank_a, client, 20)
    first = run(bank_a)
    for day in range(4):
        run(bank_a, ON + DAY * day)
        run(bank_a, ON + DAY * day)
    (alert,) = contacts(bank_a, reason=R.MATURITY)
    assert first["maturity"] == 1
    assert alert.holding_id == holding.pk
    assert alert.source_date == holding.matures_on
    assert alert.source_key == f"maturity:{holding.pk}:{holding.matures_on}"
    assert alert.due_on == ON  # lead time 30 > 20 days: due at once
    assert alert.amount_cny == Decimal("1000000.00")


def test_a_duplicate_alert_is_refused_by_the_database_even_past_the_job(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    holding = maturing(bank_a, client, 20)
    run(bank_a)
    (alert,) = contacts(bank_a, reason=R.MATURITY)
    with tenant_context(bank_a.tenant), pytest.raises(IntegrityError), transaction.atomic():
        PlannedContact.objects.create(
            client=client,
            reason=R.MATURITY,
            due_on=ON,
            source_key=alert.source_key,
            holding=holding,
        )
    assert len(contacts(bank_a, reason=R.MATURITY)) == 1


def test_the_lead_time_follows_the_clients_tier(bank_a, tiers):
    gold, private = person(bank_a, tiers["gold"]), person(bank_a, tiers["private"])
    potential = person(bank_a, tiers["potential"])
    maturing(bank_a, gold, 20)
    maturing(bank_a, private, 20)
    maturing(bank_a, gold, 14)
    maturing(bank_a, potential, 7)
    maturing(bank_a, potential, 8)
    run(bank_a)
    got = sorted((c.client_id, c.source_date) for c in contacts(bank_a, reason=R.MATURITY))
    assert got == sorted(
        [
            (private.pk, ON + DAY * 20),
            (gold.pk, ON + DAY * 14),
            (potential.pk, ON + DAY * 7),
        ]
    )


def test_an_alert_is_due_at_the_lead_time_before_the_maturity(bank_a, tiers):
    client = person(bank_a, tiers["gold"])
    maturing(bank_a, client, 14)
    run(bank_a)
    (alert,) = contacts(bank_a, reason=R.MATURITY)
    assert alert.due_on == ON


def test_closed_holdings_and_holdings_of_non_vips_get_no_alert(bank_a, tiers):
    vip, other = person(bank_a, tiers["private"]), person(bank_a, None)
    maturing(bank_a, vip, 5, status=Holding.Status.CLOSED)
    maturing(bank_a, other, 5)
    maturing(bank_a, vip, -1)  # matured yesterday
    run(bank_a)
    assert contacts(bank_a, reason=R.MATURITY) == []


def test_the_amount_is_converted_at_the_latest_rate_on_or_before_the_day(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    FxRateFactory(tenant=bank_a.tenant, currency="USD", date=ON - DAY * 3, rate_to_cny="7.0")
    FxRateFactory(tenant=bank_a.tenant, currency="USD", date=ON - DAY, rate_to_cny="7.2")
    FxRateFactory(tenant=bank_a.tenant, currency="USD", date=ON + DAY, rate_to_cny="9.9")
    maturing(bank_a, client, 10, currency="USD", balance=Decimal("1000.50"))
    run(bank_a)
    (alert,) = contacts(bank_a, reason=R.MATURITY)
    assert alert.amount_cny == Decimal("7203.60")


def test_reminders_go_at_the_lead_time_then_7_days_and_1_day_before(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    holding = maturing(bank_a, client, 30)
    matures = holding.matures_on
    sent = []
    for on in (ON, ON + DAY, matures - DAY * 8, matures - DAY * 7, matures - DAY * 6):
        sent.append(run(bank_a, on)["reminders"])
    sent.append(run(bank_a, matures - DAY)["reminders"])
    sent.append(run(bank_a, matures - DAY)["reminders"])
    sent.append(run(bank_a, matures)["reminders"])
    assert sent == [1, 0, 0, 1, 0, 1, 0, 0]
    (alert,) = contacts(bank_a, reason=R.MATURITY)
    assert alert.reminders_sent == 3
    with tenant_context(bank_a.tenant):
        notes = list(Notification.objects.filter(kind="maturity_reminders").order_by("id"))
    assert [n.params["date"] for n in notes] == [
        ON.isoformat(),
        (matures - DAY * 7).isoformat(),
        (matures - DAY).isoformat(),
    ]
    assert {n.recipient_id for n in notes} == {bank_a.rm.pk}
    assert notes[0].link == "/"


def test_skipped_reminder_stages_are_sent_once(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    maturing(bank_a, client, 3)  # found 3 days ahead: lead time and 7 days at once
    summary = run(bank_a)
    (alert,) = contacts(bank_a, reason=R.MATURITY)
    assert (summary["reminders"], alert.reminders_sent) == (1, 2)
    assert run(bank_a, ON + DAY * 2)["reminders"] == 1  # one day before
    assert contacts(bank_a, reason=R.MATURITY)[0].reminders_sent == 3


def test_each_rm_gets_one_notification_per_run_with_count_and_amount(bank_a, tiers):
    mine = [person(bank_a, tiers["private"]) for _ in range(2)]
    theirs = person(bank_a, tiers["private"], owner_rm=bank_a.other_rm)
    pool = person(bank_a, tiers["private"], owner_rm=None)
    for client in [*mine, theirs, pool]:
        maturing(bank_a, client, 10, balance=Decimal("250000.25"))
    maturing(bank_a, mine[0], 12, balance=Decimal("100"))
    summary = run(bank_a)
    assert (summary["notifications"], summary["reminders"]) == (2, 5)
    with tenant_context(bank_a.tenant):
        by_rm = {n.recipient_id: n.params for n in Notification.objects.all()}
    assert by_rm[bank_a.rm.pk] == {
        "date": ON.isoformat(),
        "count": 3,
        "amount_cny": "500100.50",
    }
    assert by_rm[bank_a.other_rm.pk]["count"] == 1
    assert run(bank_a)["notifications"] == 0


def test_a_changed_maturity_date_cancels_the_old_alert_and_makes_a_new_one(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    holding = maturing(bank_a, client, 20)
    run(bank_a)
    with tenant_context(bank_a.tenant):
        Holding.objects.filter(pk=holding.pk).update(matures_on=ON + DAY * 25)
    summary = run(bank_a, ON + DAY)
    assert (summary["cancelled"], summary["maturity"]) == (1, 1)
    old, new = contacts(bank_a, reason=R.MATURITY)
    assert (old.status, old.source_date) == (S.CANCELLED, ON + DAY * 20)
    assert (new.status, new.source_date) == (S.PLANNED, ON + DAY * 25)
    assert new.source_key == f"maturity:{holding.pk}:{ON + DAY * 25}"


def test_a_closed_holding_cancels_its_open_alert(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    holding = maturing(bank_a, client, 20)
    run(bank_a)
    with tenant_context(bank_a.tenant):
        Holding.objects.filter(pk=holding.pk).update(status=Holding.Status.CLOSED)
    assert run(bank_a, ON + DAY)["cancelled"] == 1
    assert [c.status for c in contacts(bank_a, reason=R.MATURITY)] == [S.CANCELLED]


def test_a_done_alert_is_never_made_again(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    maturing(bank_a, client, 20)
    run(bank_a)
    with tenant_context(bank_a.tenant):
        PlannedContact.objects.update(status=S.DONE)
    assert run(bank_a, ON + DAY)["maturity"] == 0
    assert [c.status for c in contacts(bank_a, reason=R.MATURITY)] == [S.DONE]


# --- Birthdays, festivals, risk, life events ---------------------------------------------


def test_a_solar_birthday_within_a_week_is_planned_on_the_day(bank_a, tiers):
    soon = person(bank_a, tiers["gold"], birth_date=datetime.date(1975, 12, 3))
    person(bank_a, tiers["gold"], birth_date=datetime.date(1975, 12, 6))  # 8 days away
    person(bank_a, None, birth_date=datetime.date(1975, 12, 1))  # not a VIP
    run(bank_a)
    (birthday,) = contacts(bank_a, reason=R.BIRTHDAY)
    assert birthday.client_id == soon.pk
    assert (birthday.due_on, birthday.source_date) == (datetime.date(2026, 12, 3),) * 2
    assert birthday.source_key == "birthday:2026"


def test_a_birthday_across_the_new_year_is_keyed_by_its_year(bank_a, tiers):
    person(bank_a, tiers["gold"], birth_date=datetime.date(1980, 1, 2))
    run(bank_a, datetime.date(2026, 12, 28))
    (birthday,) = contacts(bank_a, reason=R.BIRTHDAY)
    assert (birthday.due_on, birthday.source_key) == (datetime.date(2027, 1, 2), "birthday:2027")


def test_a_29_february_birthday_is_celebrated_on_28_february_in_other_years(bank_a, tiers):
    person(bank_a, tiers["gold"], birth_date=datetime.date(1984, 2, 29))
    run(bank_a, datetime.date(2027, 2, 24))
    (birthday,) = contacts(bank_a, reason=R.BIRTHDAY)
    assert birthday.due_on == datetime.date(2027, 2, 28)
    run(bank_a, datetime.date(2028, 2, 24))
    assert [c.due_on for c in contacts(bank_a, reason=R.BIRTHDAY)] == [
        datetime.date(2027, 2, 28),
        datetime.date(2028, 2, 29),
    ]


def test_festival_greetings_only_for_tiers_with_festival_care(bank_a, tiers):
    private = person(bank_a, tiers["private"])
    person(bank_a, tiers["gold"])
    on = datetime.date(2027, 1, 25)  # Spring Festival 2027: 6 February
    summary = run(bank_a, on)
    (greeting,) = contacts(bank_a, reason=R.FESTIVAL)
    assert summary["festival"] == 1
    assert greeting.client_id == private.pk
    assert greeting.source_key == "festival:spring:2027"
    assert greeting.source_date == datetime.date(2027, 2, 6)
    assert greeting.due_on == datetime.date(2027, 2, 3)
    assert run(bank_a, on - DAY * 3)["festival"] == 0  # 15 days ahead: not yet


def test_the_mid_autumn_festival_is_planned_two_weeks_ahead(bank_a, tiers):
    person(bank_a, tiers["diamond"])
    run(bank_a, datetime.date(2026, 9, 24))
    (greeting,) = contacts(bank_a, reason=R.FESTIVAL)
    assert greeting.source_key == "festival:mid_autumn:2026"
    assert greeting.source_date == datetime.date(2026, 9, 25)
    assert greeting.due_on == datetime.date(2026, 9, 24)  # closer than 3 days: today


def test_an_assessment_expiring_within_30_days_or_expired_gets_one_contact(bank_a, tiers):
    expiring = person(
        bank_a, tiers["gold"], risk_level="C3", risk_assessed_on=ON - DAY * (365 - 30)
    )
    expired = person(bank_a, tiers["gold"], risk_level="C3", risk_assessed_on=ON - DAY * 500)
    person(bank_a, tiers["gold"], risk_level="C3", risk_assessed_on=ON - DAY * (365 - 31))
    later = person(bank_a, tiers["gold"], risk_level="C3", risk_assessed_on=ON - DAY * 300)
    run(bank_a)
    got = {c.client_id: c for c in contacts(bank_a, reason=R.RISK_REASSESSMENT)}
    assert set(got) == {expiring.pk, expired.pk}
    assert got[expiring.pk].source_key == f"risk:{ON - DAY * 335}"
    assert got[expiring.pk].source_date == ON + DAY * 30  # the expiry
    assert got[expired.pk].due_on == ON
    with tenant_context(bank_a.tenant):  # re-assessed: the next one is another contact
        type(expired).objects.filter(pk=expired.pk).update(risk_assessed_on=ON - DAY * 340)
    run(bank_a, ON + DAY)
    again = contacts(bank_a, reason=R.RISK_REASSESSMENT, client=expired)
    assert [c.source_key for c in again] == [f"risk:{ON - DAY * 500}", f"risk:{ON - DAY * 340}"]
    assert not contacts(bank_a, reason=R.RISK_REASSESSMENT, client=later)


def test_upcoming_and_recent_life_events_get_one_contact_each(bank_a, tiers):
    client = person(bank_a, tiers["gold"])
    soon = LifeEventFactory(tenant=bank_a.tenant, client=client, occurs_on=ON + DAY * 10)
    recent = LifeEventFactory(tenant=bank_a.tenant, client=client, occurs_on=ON - DAY * 7)
    LifeEventFactory(tenant=bank_a.tenant, client=client, occurs_on=ON + DAY * 15)
    LifeEventFactory(tenant=bank_a.tenant, client=client, occurs_on=ON - DAY * 8)
    run(bank_a)
    run(bank_a)
    got = {c.life_event_id: c for c in contacts(bank_a, reason=R.LIFE_EVENT)}
    assert set(got) == {soon.pk, recent.pk}
    assert got[soon.pk].due_on == ON + DAY * 3
    assert got[soon.pk].source_key == f"life_event:{soon.pk}:{ON + DAY * 10}"
    assert got[recent.pk].due_on == ON


# --- Owners, overdue, idempotence ------------------------------------------------------------


def test_open_contacts_follow_a_new_owner_rm(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    maturing(bank_a, client, 10)
    done = PlannedContactFactory(
        tenant=bank_a.tenant, client=client, assigned_to=bank_a.rm, status=S.DONE
    )
    run(bank_a)
    with tenant_context(bank_a.tenant):
        type(client).objects.filter(pk=client.pk).update(owner_rm=bank_a.other_rm)
    assert run(bank_a, ON + DAY)["reassigned"] >= 1
    (alert,) = contacts(bank_a, reason=R.MATURITY)
    assert alert.assigned_to_id == bank_a.other_rm.pk
    assert {c.assigned_to_id for c in contacts(bank_a, status__in=PlannedContact.OPEN)} == {
        bank_a.other_rm.pk
    }
    assert contacts(bank_a, pk=done.pk)[0].assigned_to_id == bank_a.rm.pk


def test_planned_contacts_past_their_due_date_become_overdue(bank_a, tiers):
    client = person(bank_a, tiers["gold"])
    manual = {"tenant": bank_a.tenant, "client": client, "reason": R.CAMPAIGN}
    late = PlannedContactFactory(**manual, due_on=ON - DAY, source_key="manual:1")
    today = PlannedContactFactory(**manual, due_on=ON, source_key="manual:2")
    done = PlannedContactFactory(
        **manual, due_on=ON - DAY * 3, status=S.DONE, source_key="manual:3"
    )
    assert run(bank_a)["overdue"] == 1
    status = {c.pk: c.status for c in contacts(bank_a)}
    assert status[late.pk] == S.OVERDUE
    assert status[today.pk] == S.PLANNED
    assert status[done.pk] == S.DONE


def test_a_manual_contact_is_never_cancelled_by_the_night(bank_a, tiers):
    client = person(bank_a, tiers["private"])
    manual = PlannedContactFactory(
        tenant=bank_a.tenant,
        client=client,
        reason=R.FESTIVAL,
        due_on=ON + DAY,
        source_key="manual:abc",
    )
    with tenant_context(bank_a.tenant):
        type(client).objects.filter(pk=client.pk).update(tier=None)
    run(bank_a)
    assert contacts(bank_a, pk=manual.pk)[0].status == S.PLANNED


def test_a_second_run_the_same_day_creates_and_changes_nothing(bank_a, tiers):
    for i, code in enumerate(["private", "diamond", "gold", "potential"] * 3):
        client = person(
            bank_a,
            tiers[code],
            birth_date=datetime.date(1970 + i, 12, 1 + i % 5),
            lunar_birthday=i % 2 == 0,
            risk_level="C3",
            risk_assessed_on=ON - DAY * (300 + 20 * i),
        )
        if i % 3:
            ClientSegmentFactory(
                tenant=bank_a.tenant, client=client, last_contact_on=ON - DAY * (10 * i)
            )
        maturing(bank_a, client, i * 2)
        LifeEventFactory(tenant=bank_a.tenant, client=client, occurs_on=ON + DAY * (i - 6))
    first = run(bank_a)
    assert first["plans_created"] == 12
    assert first["maturity"] > 0 and first["cadence"] > 0 and first["risk_reassessment"] > 0
    assert first["birthday"] > 0 and first["life_event"] > 0 and first["notifications"] == 1
    with tenant_context(bank_a.tenant):
        before = list(PlannedContact.objects.values_list("pk", "status", "updated_at"))
        plans = list(ContactPlan.objects.values_list("pk", "updated_at"))
        segments = ClientSegment.objects.count()
    second = run(bank_a)
    assert set(second.values()) == {0}, second
    with tenant_context(bank_a.tenant):
        assert list(PlannedContact.objects.values_list("pk", "status", "updated_at")) == before
        assert list(ContactPlan.objects.values_list("pk", "updated_at")) == plans
        assert ClientSegment.objects.count() == segments
        assert Notification.objects.count() == 1
