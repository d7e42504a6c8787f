"""Supervisors' and head office's pages: the overdue list (with its CSV export) and
coverage and adherence per RM and per branch."""

import csv
import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contact_plans.models import PlannedContact
from tests.factories import (
    ClientFactory,
    ContactPlanFactory,
    PlannedContactFactory,
    StaffFactory,
    TierFactory,
)
from vipcrm.models import AuditEntry
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context

OVERDUE = reverse("contact_plans:overdue")
EXPORT = reverse("contact_plans:overdue-export")
COVERAGE = reverse("contact_plans:coverage")
Status = PlannedContact.Status
Reason = PlannedContact.Reason


def day(offset: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=offset)


@pytest.fixture
def late(bank_a):
    """Overdue contacts: two of rm's (city subtree), one of other_rm's (other_sub)."""
    tier = TierFactory(tenant=bank_a.tenant)
    mine = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, tier=tier, name="钱多多"
    )
    theirs = ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.other_sub,
        owner_rm=bank_a.other_rm,
        tier=tier,
        name="浦东客户",
    )
    ContactPlanFactory(tenant=bank_a.tenant, client=mine, cadence_days=90, last_contact_on=day(-10))
    ContactPlanFactory(
        tenant=bank_a.tenant, client=theirs, cadence_days=90, last_contact_on=day(-100)
    )

    def contact(client, rm, due, **kwargs):
        return PlannedContactFactory(
            tenant=bank_a.tenant, client=client, assigned_to=rm, due_on=due, **kwargs
        )

    return {
        "cadence": contact(mine, bank_a.rm, day(-20), status=Status.OVERDUE),
        "birthday": contact(mine, bank_a.rm, day(-2), reason=Reason.BIRTHDAY),
        "today": contact(mine, bank_a.rm, day(0)),
        "done": contact(mine, bank_a.rm, day(-5), status=Status.DONE),
        "theirs": contact(theirs, bank_a.other_rm, day(-1)),
    }


def test_a_supervisor_sees_the_overdue_contacts_of_the_branch_subtree(login, english, bank_a, late):
    response = login(bank_a.supervisor).get(OVERDUE)
    assert response.status_code == 200
    assert [c.pk for c in response.context["contacts"]] == [
        late["cadence"].pk,
        late["birthday"].pk,
    ]
    assert [(row["assigned_to"], row["count"]) for row in response.context["by_rm"]] == [
        (bank_a.rm.pk, 2)
    ]
    page = response.content.decode()
    assert "钱多多" in page and "浦东客户" not in page
    assert "20 days late" in page


def test_head_office_sees_the_bank_and_filters_by_rm_reason_and_age(login, bank_a, late):
    http = login(bank_a.head)
    assert len(http.get(OVERDUE).context["contacts"]) == 3
    by_rm = http.get(OVERDUE, {"owner_rm": bank_a.other_rm.pk}).context["contacts"]
    assert [c.pk for c in by_rm] == [late["theirs"].pk]
    by_reason = http.get(OVERDUE, {"reason": "birthday"}).context["contacts"]
    assert [c.pk for c in by_reason] == [late["birthday"].pk]
    older = http.get(OVERDUE, {"min_days": "10"}).context["contacts"]
    assert [c.pk for c in older] == [late["cadence"].pk]
    branch = http.get(OVERDUE, {"branch": bank_a.city.pk}).context["contacts"]
    assert {c.pk for c in branch} == {late["cadence"].pk, late["birthday"].pk}


def test_a_bad_filter_says_so_and_an_export_with_it_is_a_400(login, english, bank_a, late):
    http = login(bank_a.head)
    page = http.get(OVERDUE, {"min_days": "-3"})
    assert page.status_code == 200 and "Please correct the filter below." in page.content.decode()
    assert http.get(EXPORT, {"min_days": "x"}).status_code == 400


def test_the_overdue_export_is_a_csv_of_the_scope_and_is_audited(login, english, bank_a, late):
    response = login(bank_a.supervisor).get(EXPORT, {"reason": "cadence"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Assigned RM"
    assert len(rows) == 2
    assert rows[1][2:4] == [late["cadence"].client.external_id, "钱多多"]
    assert rows[1][7] == "20"
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(action="export")
    assert entry.detail["what"] == "overdue contacts"
    assert (entry.detail["rows"], entry.detail["filters"]) == (1, {"reason": "cadence"})


@pytest.mark.parametrize("role", ["rm", "advisor"])
@pytest.mark.parametrize("url", [OVERDUE, EXPORT, COVERAGE])
def test_rms_and_advisors_have_no_supervisor_pages(role, url, login, bank_a, late):
    assert login(getattr(bank_a, role)).get(url).status_code == 404


def test_the_overdue_list_does_not_grow_with_its_rows(
    login, bank_a, late, django_assert_max_num_queries
):
    http = login(bank_a.head)
    with CaptureQueriesContext(connection) as few:
        http.get(OVERDUE)
    for n in range(10):
        rm = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, code=f"N{n}")
        client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=rm)
        PlannedContactFactory(tenant=bank_a.tenant, client=client, assigned_to=rm, due_on=day(-3))
    with django_assert_max_num_queries(len(few)):
        response = http.get(OVERDUE)
    assert len(response.context["contacts"]) == 13


def test_the_coverage_page_shows_each_rm_and_the_branch_totals(login, english, bank_a, late):
    response = login(bank_a.head).get(COVERAGE)
    assert response.status_code == 200
    card = response.context["card"]
    rows = {row.staff.pk: row for row in card.rms}
    assert (rows[bank_a.rm.pk].book_size, rows[bank_a.rm.pk].covered) == (1, 1)
    assert rows[bank_a.rm.pk].overdue_count == 2
    assert (rows[bank_a.other_rm.pk].coverage, rows[bank_a.other_rm.pk].overdue_count) == (0, 1)
    assert (card.total.book_size, card.total.covered, card.total.coverage) == (2, 1, 50)
    page = response.content.decode()
    assert "How these figures are computed" in page
    assert "100.0%" in page and "50.0%" in page


def test_the_coverage_page_narrows_to_a_branch_and_checks_the_period(login, english, bank_a, late):
    http = login(bank_a.head)
    card = http.get(COVERAGE, {"branch": bank_a.other_sub.pk}).context["card"]
    assert [row.staff.pk for row in card.rms] == [bank_a.other_rm.pk]
    card = http.get(COVERAGE, {"start": day(-60).isoformat(), "end": day(-1).isoformat()}).context[
        "card"
    ]
    assert (card.start, card.end) == (day(-60), day(-1))
    bad = http.get(COVERAGE, {"start": day(0).isoformat(), "end": day(-5).isoformat()})
    assert "The end date is before the start date." in bad.content.decode()
    half = http.get(COVERAGE, {"start": day(-5).isoformat()})
    assert "Give both ends of the period." in half.content.decode()


def test_a_supervisors_coverage_is_their_subtree(login, bank_a, late):
    card = login(bank_a.supervisor).get(COVERAGE).context["card"]
    assert [row.staff.pk for row in card.rms] == [bank_a.rm.pk]
