"""Time by kind (kpi.inputs.time_week_set and the page time/): an RM's week saved in one
go with every rule allowed and refused (nothing written), the page for each role, the
copy of last week, the supervisors' overview, the "My day" panel, and query counts."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from kpi.inputs import hours_parse, time_week_set, week_start
from kpi.models import TimeLog
from tests.factories import StaffFactory, TimeLogFactory
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor, Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_messages():
    """The services' messages in English (the bank's default language is Chinese)."""
    with translation.override("en"):
        yield


TIME = reverse("kpi:time")
DAY = datetime.timedelta(days=1)
VIP, NON_VIP, ADMIN = "vip_service", "non_vip_service", "admin"


def today() -> datetime.date:
    return timezone.localdate()


def last_week() -> datetime.date:
    """The Monday of last week: all its days are past."""
    return week_start(today()) - DAY * 7


def logs(bank, staff=None) -> dict:
    with tenant_context(bank.tenant):
        rows = TimeLog.objects.filter(**({"staff": staff} if staff else {}))
        return {(log.date, log.kind): log.hours for log in rows}


def cell(day: datetime.date, kind: str) -> str:
    return f"{kind}-{day.isoformat()}"


def set_week(bank, staff, start, hours, *, actor=None):
    with tenant_context(bank.tenant):
        return time_week_set(
            actor=actor or Actor.for_staff(staff), staff=staff, week_start=start, hours=hours
        )


# --- The service -------------------------------------------------------------------------


def test_an_rm_logs_a_week_and_it_is_audited(bank_a):
    monday = last_week()
    result = set_week(
        bank_a,
        bank_a.rm,
        monday,
        {
            (monday, VIP): Decimal("6"),
            (monday, ADMIN): Decimal("1.5"),
            (monday + DAY, VIP): Decimal("7.25"),
            (monday + DAY, NON_VIP): None,
        },
    )
    assert result == {"created": 3, "updated": 0, "deleted": 0}
    assert logs(bank_a) == {
        (monday, VIP): Decimal("6.00"),
        (monday, ADMIN): Decimal("1.50"),
        (monday + DAY, VIP): Decimal("7.25"),
    }
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(object_type="vipcrm.staffprofile")
    assert entry.action == "update"
    assert entry.object_id == str(bank_a.rm.pk)
    assert entry.detail["time_week"] == monday.isoformat()
    assert entry.detail["hours"][f"{monday.isoformat()} vip_service"] == ["0.00", "6.00"]


def test_saving_the_same_week_again_writes_and_audits_nothing(bank_a):
    monday = last_week()
    week = {(monday, VIP): Decimal("6"), (monday, ADMIN): Decimal("2")}
    set_week(bank_a, bank_a.rm, monday, week)
    with tenant_context(bank_a.tenant):
        stamps = list(TimeLog.objects.values_list("updated_at", flat=True))
    assert set_week(bank_a, bank_a.rm, monday, week) == {"created": 0, "updated": 0, "deleted": 0}
    with tenant_context(bank_a.tenant):
        assert list(TimeLog.objects.values_list("updated_at", flat=True)) == stamps
        assert AuditEntry.objects.count() == 1


def test_a_changed_cell_is_updated_and_a_blank_or_zero_deletes(bank_a):
    monday = last_week()
    set_week(
        bank_a,
        bank_a.rm,
        monday,
        {(monday, VIP): Decimal("6"), (monday, ADMIN): Decimal("2"), (monday, NON_VIP): 1},
    )
    result = set_week(
        bank_a,
        bank_a.rm,
        monday,
        {(monday, VIP): Decimal("5.5"), (monday, ADMIN): None, (monday, NON_VIP): Decimal("0")},
    )
    assert result == {"created": 0, "updated": 1, "deleted": 2}
    assert logs(bank_a) == {(monday, VIP): Decimal("5.50")}


def test_cells_not_given_are_left_as_they_are(bank_a):
    monday = last_week()
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=monday, kind=ADMIN, hours=3)
    set_week(bank_a, bank_a.rm, monday, {(monday, VIP): Decimal("4")})
    assert logs(bank_a) == {(monday, ADMIN): Decimal("3.00"), (monday, VIP): Decimal("4.00")}


def test_an_advisor_logs_their_own_week(bank_a):
    monday = last_week()
    set_week(bank_a, bank_a.advisor, monday, {(monday, NON_VIP): Decimal("8")})
    assert logs(bank_a, bank_a.advisor) == {(monday, NON_VIP): Decimal("8.00")}


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({(0, VIP): Decimal("20"), (0, ADMIN): Decimal("5")}, "25.00 hours in one day"),
        ({(2, VIP): Decimal("24"), (2, ADMIN): Decimal("0.25")}, "24.25 hours in one day"),
        ({(1, VIP): Decimal("-1")}, "a number from 0 to 24"),
        ({(1, VIP): Decimal("24.5")}, "a number from 0 to 24"),
        ({(1, VIP): Decimal("1.125")}, "at most two decimals"),
        ({(1, VIP): "abc"}, "a number from 0 to 24"),
        ({(1, VIP): Decimal("NaN")}, "a number from 0 to 24"),
    ],
)
def test_bad_hours_are_refused_by_day_and_nothing_is_written(bank_a, hours, message):
    monday = last_week()
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=monday + DAY * 3, kind=VIP, hours=2)
    with pytest.raises(ValidationError) as refused:
        set_week(
            bank_a,
            bank_a.rm,
            monday,
            {(monday + DAY * offset, kind): value for (offset, kind), value in hours.items()},
        )
    assert message in " ".join(refused.value.messages)
    assert logs(bank_a) == {(monday + DAY * 3, VIP): Decimal("2.00")}


def test_the_day_total_counts_the_hours_already_stored(bank_a):
    monday = last_week()
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=monday, kind=VIP, hours=20)
    with pytest.raises(ValidationError) as refused:
        set_week(bank_a, bank_a.rm, monday, {(monday, ADMIN): Decimal("5")})
    assert list(refused.value.message_dict) == [monday.isoformat()]
    assert logs(bank_a) == {(monday, VIP): Decimal("20.00")}


def test_no_hours_on_a_day_to_come_but_clearing_it_is_fine(bank_a):
    next_monday = week_start(today()) + DAY * 7
    with pytest.raises(ValidationError) as refused:
        set_week(bank_a, bank_a.rm, next_monday, {(next_monday, VIP): Decimal("8")})
    assert "is still to come" in refused.value.messages[0]
    assert set_week(bank_a, bank_a.rm, next_monday, {(next_monday, VIP): None})["created"] == 0
    assert logs(bank_a) == {}


def test_a_week_starts_on_a_monday_and_holds_only_its_days(bank_a):
    monday = last_week()
    with pytest.raises(ValidationError) as not_monday:
        set_week(bank_a, bank_a.rm, monday + DAY, {(monday + DAY, VIP): 1})
    assert not_monday.value.message_dict == {"week": ["A week starts on a Monday."]}
    with pytest.raises(ValidationError):
        set_week(bank_a, bank_a.rm, monday, {(monday + DAY * 7, VIP): 1})
    with pytest.raises(ValidationError):
        set_week(bank_a, bank_a.rm, monday, {(monday, "sleep"): 1})
    assert logs(bank_a) == {}


@pytest.mark.parametrize("role", ["supervisor", "head", "other_rm"])
def test_nobody_logs_someone_elses_week(bank_a, role):
    monday = last_week()
    with pytest.raises(PermissionDenied):
        set_week(
            bank_a,
            bank_a.rm,
            monday,
            {(monday, VIP): 1},
            actor=Actor.for_staff(getattr(bank_a, role)),
        )
    assert logs(bank_a) == {}


def test_supervisors_and_tokens_log_no_time_of_their_own(bank_a):
    monday = last_week()
    with pytest.raises(PermissionDenied):
        set_week(bank_a, bank_a.supervisor, monday, {(monday, ADMIN): 8})
    token = Actor(tenant_id=bank_a.tenant.pk, scopes=frozenset({"read", "write"}))
    with pytest.raises(PermissionDenied):
        set_week(bank_a, bank_a.rm, monday, {(monday, VIP): 8}, actor=token)
    assert logs(bank_a) == {}


def test_another_banks_staff_is_not_found(bank_a, bank_b):
    monday = last_week()
    with pytest.raises(bank_a.rm.DoesNotExist):
        set_week(bank_a, bank_b.rm, monday, {(monday, VIP): 1}, actor=Actor.for_staff(bank_a.rm))


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("", None), (None, None), ("0", Decimal("0.00")), (" 7.5 ", Decimal("7.50")), (24, 24)],
)
def test_hours_parse_reads_a_cell(value, parsed):
    assert hours_parse(value) == parsed


# --- The page: an RM's own week ----------------------------------------------------------


def test_the_rm_sees_their_week_as_a_grid_with_totals_and_the_vip_share(login, english, bank_a):
    monday = last_week()
    for offset, kind, hours in [(0, VIP, 6), (0, ADMIN, 2), (1, VIP, 5), (1, NON_VIP, 3)]:
        TimeLogFactory(
            tenant=bank_a.tenant,
            staff=bank_a.rm,
            date=monday + DAY * offset,
            kind=kind,
            hours=hours,
        )
    response = login(bank_a.rm).get(TIME, {"week": (monday + DAY * 3).isoformat()})
    assert response.status_code == 200
    week = response.context["week"]
    assert (week.start, week.total, week.vip_share, week.meets_target) == (
        monday,
        Decimal("16.00"),
        68.8,
        False,
    )
    page = response.content.decode()
    assert f'name="{cell(monday, VIP)}"' in page and 'value="6.00"' in page
    assert "68.8% of this week's hours went to VIP clients, below the target of 70%." in page
    assert f'name="week" value="{monday.isoformat()}"' in page
    assert "Copy last week's pattern" in page


def test_the_rm_saves_the_week_in_one_post(login, english, bank_a):
    monday = last_week()
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=monday, kind=ADMIN, hours=4)
    data = {"week": monday.isoformat()}
    data.update(
        {cell(monday + DAY * n, kind): "" for n in range(7) for kind in (VIP, NON_VIP, ADMIN)}
    )
    data.update({cell(monday, VIP): "6", cell(monday + DAY, VIP): "7.5", cell(monday, ADMIN): ""})
    http = login(bank_a.rm)
    response = http.post(TIME, data)
    assert response.status_code == 302
    assert response["Location"] == f"{TIME}?week={monday.isoformat()}"
    assert logs(bank_a) == {(monday, VIP): Decimal("6.00"), (monday + DAY, VIP): Decimal("7.50")}
    assert "Your week&#x27;s hours are saved." in http.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({VIP: "abc"}, "Enter a number."),
        ({VIP: "25"}, "Ensure this value is less than or equal to 24."),
        ({VIP: "-1"}, "Ensure this value is greater than or equal to 0."),
        ({VIP: "1.125"}, "Ensure that there are no more than 2 decimal places."),
        ({VIP: "20", ADMIN: "6"}, "26.00 hours in one day; a day has at most 24."),
    ],
)
def test_bad_input_is_the_page_with_its_errors_and_nothing_is_written(
    login, english, bank_a, cells, message
):
    monday = last_week()
    data = {"week": monday.isoformat(), **{cell(monday, kind): v for kind, v in cells.items()}}
    response = login(bank_a.rm).post(TIME, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert logs(bank_a) == {}


def test_a_post_without_its_week_saves_nothing(login, english, bank_a):
    monday = last_week()
    for week in ({}, {"week": "2026-02-30"}):
        response = login(bank_a.rm).post(TIME, {**week, cell(monday, VIP): "8"})
        assert response.status_code == 400
        assert "The week to save is missing or not a date." in response.content.decode()
    assert logs(bank_a) == {}


def test_days_to_come_are_read_only_and_a_week_to_come_has_no_form(login, english, bank_a):
    http = login(bank_a.rm)
    next_monday = week_start(today()) + DAY * 7
    response = http.get(TIME, {"week": next_monday.isoformat()})
    assert response.status_code == 200
    assert response.context["form"] is None
    assert "This week has not begun" in response.content.decode()
    # A posted value for a day to come is ignored by its (disabled) field.
    response = http.post(TIME, {"week": next_monday.isoformat(), cell(next_monday, VIP): "8"})
    assert response.status_code == 302
    assert logs(bank_a) == {}
    form = http.get(TIME).context["form"]
    assert form.fields[cell(week_start(today()), VIP)].disabled is False
    assert form.fields[cell(today(), VIP)].disabled is False
    if today().weekday() < 6:
        assert form.fields[cell(today() + DAY, VIP)].disabled is True


def test_copy_last_week_fills_the_grid_to_check_and_save(login, english, bank_a):
    monday = last_week()
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=monday - DAY * 7, kind=VIP, hours=6)
    TimeLogFactory(
        tenant=bank_a.tenant, staff=bank_a.rm, date=monday - DAY * 6, kind=ADMIN, hours=2
    )
    response = login(bank_a.rm).get(TIME, {"week": monday.isoformat(), "copy": "previous"})
    assert response.status_code == 200
    form = response.context["form"]
    assert form[cell(monday, VIP)].value() == Decimal("6.00")
    assert form[cell(monday + DAY, ADMIN)].value() == Decimal("2.00")
    assert "Last week&#x27;s hours are filled in below" in response.content.decode()
    assert logs(bank_a, bank_a.rm) == {
        (monday - DAY * 7, VIP): Decimal("6.00"),
        (monday - DAY * 6, ADMIN): Decimal("2.00"),
    }  # copying saves nothing


def test_copying_an_empty_week_says_so(login, english, bank_a):
    response = login(bank_a.rm).get(TIME, {"week": last_week().isoformat(), "copy": "previous"})
    assert "Nothing was logged the week before." in response.content.decode()


def test_a_bad_week_parameter_shows_this_week(login, english, bank_a):
    response = login(bank_a.rm).get(TIME, {"week": "next tuesday"})
    assert response.status_code == 200
    assert response.context["week"].start == week_start(today())
    assert "That is not a date: showing this week." in response.content.decode()


def test_an_rm_cannot_open_someone_elses_week(login, bank_a, bank_b):
    http = login(bank_a.rm)
    for staff in (bank_a.other_rm, bank_a.advisor, bank_a.supervisor, bank_b.rm):
        assert http.get(TIME, {"staff": staff.pk}).status_code == 404
    assert http.get(TIME, {"staff": bank_a.rm.pk}).status_code == 200


# --- Supervisors and head office ---------------------------------------------------------


def test_a_supervisor_sees_their_peoples_hours_of_the_week(login, english, bank_a):
    monday = week_start(today())
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=monday, kind=VIP, hours=6)
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=monday, kind=ADMIN, hours=2)
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.other_rm, date=monday, kind=VIP, hours=8)
    response = login(bank_a.supervisor).get(TIME)
    assert response.status_code == 200
    people = {person.code: person for person in response.context["team_page"]}
    assert set(people) == {"R1", "A1"}  # the city branch's subtree: not SH01's R2
    assert (people["R1"].vip_hours, people["R1"].total_hours, people["R1"].vip_share) == (
        Decimal("6.00"),
        Decimal("8.00"),
        75.0,
    )
    assert people["A1"].vip_share is None
    head = login(bank_a.head).get(TIME)
    assert {person.code for person in head.context["team_page"]} == {"R1", "R2", "A1"}


def test_a_supervisor_reads_an_rms_week_but_cannot_save_it(login, english, bank_a):
    monday = last_week()
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=monday, kind=VIP, hours=6)
    http = login(bank_a.supervisor)
    response = http.get(TIME, {"staff": bank_a.rm.pk, "week": monday.isoformat()})
    assert response.status_code == 200
    assert response.context["form"] is None
    page = response.content.decode()
    assert f"Time of {bank_a.rm.name}" in page and '<td class="num">6.00</td>' in page
    assert 'name="week"' not in page
    refused = http.post(
        f"{TIME}?staff={bank_a.rm.pk}", {"week": monday.isoformat(), cell(monday, VIP): "1"}
    )
    assert refused.status_code == 403
    assert (
        http.post(TIME, {"week": monday.isoformat(), cell(monday, ADMIN): "8"}).status_code == 403
    )
    assert logs(bank_a) == {(monday, VIP): Decimal("6.00")}


def test_a_supervisor_cannot_read_a_week_outside_their_branches(login, bank_a, bank_b):
    http = login(bank_a.supervisor)
    for staff in (bank_a.other_rm, bank_a.head, bank_b.rm):
        assert http.get(TIME, {"staff": staff.pk}).status_code == 404
        assert http.post(f"{TIME}?staff={staff.pk}", {}).status_code == 404
    for junk in ("abc", "-1", "99999999999999999999999"):
        assert http.get(TIME, {"staff": junk}).status_code == 404
    assert login(bank_a.head).get(TIME, {"staff": bank_a.other_rm.pk}).status_code == 200


# --- Menu, "My day", queries -------------------------------------------------------------


def test_the_time_menu_entry_is_for_rms_and_advisors(login, english, bank_a):
    for staff, shown in [(bank_a.rm, True), (bank_a.advisor, True), (bank_a.supervisor, False)]:
        labels = [str(item["label"]) for item in login(staff).get(TIME).context["nav_items"]]
        assert ("Time" in labels) is shown


def test_my_day_shows_the_rms_vip_share_of_the_week(login, english, bank_a):
    monday = week_start(today())
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=monday, kind=VIP, hours=3)
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=monday, kind=ADMIN, hours=1)
    page = login(bank_a.rm).get(reverse("home")).content.decode()
    assert "My time this week" in page and "75.0%" in page
    assert "My time this week" not in login(bank_a.supervisor).get(reverse("home")).content.decode()


def test_the_week_costs_the_same_queries_however_much_is_logged(
    login, bank_a, django_assert_max_num_queries
):
    monday = last_week()
    http = login(bank_a.rm)
    with CaptureQueriesContext(connection) as few:
        http.get(TIME, {"week": monday.isoformat()})
    for n in range(7):
        for kind in (VIP, NON_VIP, ADMIN):
            TimeLogFactory(
                tenant=bank_a.tenant, staff=bank_a.rm, date=monday + DAY * n, kind=kind, hours=2
            )
    with django_assert_max_num_queries(len(few)):
        http.get(TIME, {"week": monday.isoformat()})


def test_the_overview_costs_the_same_queries_for_one_person_or_many(
    login, bank_a, django_assert_max_num_queries
):
    http = login(bank_a.supervisor)
    with CaptureQueriesContext(connection) as few:
        http.get(TIME)
    for n in range(12):
        rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM)
        TimeLogFactory(tenant=bank_a.tenant, staff=rm, date=week_start(today()), hours=n % 9)
    with django_assert_max_num_queries(len(few)):
        response = http.get(TIME)
    assert len(response.context["team_page"]) == 14
