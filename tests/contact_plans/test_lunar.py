"""The Chinese calendar (``contact_plans.lunar``) and lunar birthdays in the planning,
checked against dates of the almanac."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from contact_plans import lunar, services
from contact_plans.models import LunarDay, PlannedContact
from customers.models import Tier
from segmentation.models import ServiceStandard
from tests.factories import ClientFactory
from vipcrm.tenancy import tenant_context

DAY = datetime.timedelta(days=1)


# --- Conversions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("solar", "lunar_date"),
    [
        (datetime.date(2027, 2, 6), (2027, 1, 1, False)),  # Spring Festival 2027
        (datetime.date(2026, 2, 17), (2026, 1, 1, False)),  # Spring Festival 2026
        (datetime.date(2026, 9, 25), (2026, 8, 15, False)),  # Mid-Autumn 2026
        (datetime.date(1985, 9, 29), (1985, 8, 15, False)),  # Mid-Autumn 1985
        (datetime.date(1980, 2, 16), (1980, 1, 1, False)),  # Spring Festival 1980
        (datetime.date(2025, 7, 25), (2025, 6, 1, True)),  # 闰六月初一, 2025
    ],
)
def test_solar_dates_convert_to_the_almanacs_lunar_dates(solar, lunar_date):
    assert lunar.lunar_of(solar) == lunar_date


def test_lunar_dates_convert_back_to_solar():
    assert lunar.solar_of(2027, 1, 1) == datetime.date(2027, 2, 6)
    assert lunar.solar_of(2026, 8, 15) == datetime.date(2026, 9, 25)
    assert lunar.solar_of(2025, 6, 1, leap=True) == datetime.date(2025, 7, 25)


@pytest.mark.parametrize("year", [1901, 1984, 2025, 2028, 2099])
def test_a_years_rows_are_every_day_of_the_solar_year_as_the_library_converts_it(year):
    rows = lunar.lunar_year_rows(year)
    days = (datetime.date(year + 1, 1, 1) - datetime.date(year, 1, 1)).days
    assert [row[0] for row in rows] == [datetime.date(year, 1, 1) + DAY * n for n in range(days)]
    for solar, lunar_year, month, day, leap, month_days in rows[::7]:
        assert lunar.lunar_of(solar) == (lunar_year, month, day, leap)
        assert month_days in (29, 30)
        assert day <= month_days


@pytest.mark.django_db
def test_years_are_filled_once_and_only_within_the_supported_range():
    assert lunar.lunar_days_ensure(years=[2026, 2026, 1850]) == 365
    assert lunar.lunar_days_ensure(years=[2026]) == 0
    assert lunar.lunar_days_ensure(years=[2026, 2028]) == 366
    assert LunarDay.objects.count() == 731
    assert str(LunarDay.objects.get(solar_date=datetime.date(2026, 9, 25))) == (
        "2026-09-25: 2026年8月15日"
    )
    leap = LunarDay.objects.get(solar_date=datetime.date(2028, 6, 24))
    assert (leap.lunar_month, leap.is_leap_month) == (5, True)  # 2028 has a 闰五月


# --- Lunar birthdays in the planning ---------------------------------------------------


@pytest.fixture
def gold(bank_a) -> Tier:
    with tenant_context(bank_a.tenant):
        tier = Tier.objects.create(code="gold", name="金卡", rank=2, aum_floor=Decimal("500000"))
        ServiceStandard.objects.create(
            tier=tier, contact_cadence_days=90, maturity_lead_days=14, book_weight=Decimal("1")
        )
    return tier


def lunar_person(bank, tier, born: datetime.date):
    return ClientFactory(
        tenant=bank.tenant,
        branch=bank.sub,
        owner_rm=bank.rm,
        tier=tier,
        birth_date=born,
        lunar_birthday=True,
    )


def birthdays(bank, on: datetime.date) -> list[PlannedContact]:
    with tenant_context(bank.tenant):
        services.contact_plans_refresh(on=on)
        return list(PlannedContact.objects.filter(reason=PlannedContact.Reason.BIRTHDAY))


@pytest.mark.django_db
def test_a_lunar_birthday_falls_on_this_years_solar_date_of_the_lunar_date(bank_a, gold):
    # Born at Mid-Autumn 1985 (29 September, lunar 8/15): in 2026 that is 25 September.
    client = lunar_person(bank_a, gold, datetime.date(1985, 9, 29))
    assert birthdays(bank_a, datetime.date(2026, 9, 17)) == []  # 8 days ahead: not yet
    (birthday,) = birthdays(bank_a, datetime.date(2026, 9, 18))
    assert birthday.client_id == client.pk
    assert birthday.due_on == datetime.date(2026, 9, 25)
    assert birthday.source_key == "birthday:2026"  # the lunar year


@pytest.mark.django_db
def test_a_spring_festival_baby_is_greeted_at_the_next_spring_festival(bank_a, gold):
    lunar_person(bank_a, gold, datetime.date(1980, 2, 16))  # lunar 1980/1/1
    (birthday,) = birthdays(bank_a, datetime.date(2027, 2, 1))
    assert birthday.due_on == datetime.date(2027, 2, 6)
    assert birthday.source_key == "birthday:2027"


@pytest.mark.django_db
def test_a_lunar_birthday_is_not_greeted_on_the_solar_date(bank_a, gold):
    lunar_person(bank_a, gold, datetime.date(1985, 9, 29))
    assert birthdays(bank_a, datetime.date(2026, 9, 28)) == []


@pytest.mark.django_db
def test_the_30th_in_a_29_day_month_is_celebrated_on_the_29th(bank_a, gold):
    # Born lunar 1980/4/30; the 4th month of 2026 has 29 days.
    born = lunar.solar_of(1980, 4, 30)
    assert lunar.solar_of(2026, 4, 29) + DAY == lunar.solar_of(2026, 5, 1)
    lunar_person(bank_a, gold, born)
    celebrated = lunar.solar_of(2026, 4, 29)
    (birthday,) = birthdays(bank_a, celebrated - DAY * 3)
    assert birthday.due_on == celebrated


@pytest.mark.django_db
def test_a_leap_month_birthday_is_celebrated_once_in_the_ordinary_month(bank_a, gold):
    # Born in the leap 2nd month of 2023 (闰二月十日); 2026 has no leap 2nd month.
    born = lunar.solar_of(2023, 2, 10, leap=True)
    lunar_person(bank_a, gold, born)
    celebrated = lunar.solar_of(2026, 2, 10)
    (birthday,) = birthdays(bank_a, celebrated - DAY * 2)
    assert birthday.due_on == celebrated
    # In 2025, whose leap month is the 6th, a leap-6th birthday is greeted once only.
    other = lunar_person(bank_a, gold, lunar.solar_of(2025, 6, 3, leap=True))
    ordinary = lunar.solar_of(2025, 6, 3)
    leap = lunar.solar_of(2025, 6, 3, leap=True)
    of_other = [b.due_on for b in birthdays(bank_a, ordinary - DAY) if b.client_id == other.pk]
    assert of_other == [ordinary]
    of_other = [b.due_on for b in birthdays(bank_a, leap - DAY) if b.client_id == other.pk]
    assert of_other == [ordinary]


@pytest.mark.django_db
def test_a_lunar_birthday_before_1901_falls_back_to_the_solar_date(bank_a, gold):
    lunar_person(bank_a, gold, datetime.date(1900, 10, 3))
    (birthday,) = birthdays(bank_a, datetime.date(2026, 10, 1))
    assert birthday.due_on == datetime.date(2026, 10, 3)


@pytest.mark.django_db
def test_the_run_fills_the_years_it_needs(bank_a, gold):
    lunar_person(bank_a, gold, datetime.date(1962, 5, 5))
    with tenant_context(bank_a.tenant):
        summary = services.contact_plans_refresh(on=datetime.date(2026, 12, 28))
    years = {day.year for day in LunarDay.objects.dates("solar_date", "year")}
    assert years == {1962, 2026, 2027}
    assert summary["lunar_days"] == 365 * 3
