"""Complaints (kpi.inputs.complaint_record, complaint_resolve and the pages complaints/,
complaints/new/, complaints/<id>/resolve/): who records and who resolves, every refusal
with nothing written, the list per role with its filters, and query counts."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from customers.models import Client
from kpi.inputs import complaint_record, complaint_resolve
from kpi.models import Complaint
from tests.factories import ClientFactory, ClientTeamMemberFactory, ComplaintFactory
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_messages():
    """The services' messages in English (the bank's default language is Chinese)."""
    with translation.override("en"):
        yield


COMPLAINTS = reverse("kpi:complaints")
NEW = reverse("kpi:complaint-create")
DAY = datetime.timedelta(days=1)
OPEN, RESOLVED = Complaint.Status.OPEN, Complaint.Status.RESOLVED


def today() -> datetime.date:
    return timezone.localdate()


def resolve_url(complaint) -> str:
    return reverse("kpi:complaint-resolve", args=[complaint.pk])


@pytest.fixture
def clients(bank_a):
    """mine: R1's client in BJ01, advisor A1 on its team; theirs: R2's in SH01."""
    mine = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, external_id="C-MINE"
    )
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=mine, staff=bank_a.advisor)
    theirs = ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.other_sub,
        owner_rm=bank_a.other_rm,
        external_id="C-THEIRS",
    )
    return {"mine": mine, "theirs": theirs}


def complaints(bank) -> list[tuple]:
    with tenant_context(bank.tenant):
        return list(
            Complaint.objects.order_by("id").values_list(
                "client__external_id", "staff__code", "status"
            )
        )


def record(bank, actor, client, **kwargs):
    arguments = {
        "staff": client.owner_rm,
        "received_on": today() - DAY,
        "category": "waiting",
        "description": "排队一小时无人接待",
        **kwargs,
    }
    with tenant_context(bank.tenant):
        return complaint_record(actor=actor, client=client, **arguments)


def resolve(bank, actor, complaint, **kwargs):
    arguments = {"resolved_on": today(), "resolution": "已致歉并调整预约流程", **kwargs}
    with tenant_context(bank.tenant):
        return complaint_resolve(actor=actor, complaint=complaint, **arguments)


# --- Recording ---------------------------------------------------------------------------


def test_an_rm_records_a_complaint_about_themselves_and_it_is_audited(bank_a, clients):
    complaint = record(bank_a, Actor.for_staff(bank_a.rm), clients["mine"], category="fees")
    assert (complaint.status, complaint.category, complaint.staff) == (OPEN, "fees", bank_a.rm)
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(object_type="kpi.complaint")
    assert (entry.action, entry.detail["client"], entry.detail["staff"]) == (
        "create",
        "C-MINE",
        "R1",
    )


def test_an_advisor_records_one_about_the_clients_owner_and_about_themselves(bank_a, clients):
    advisor = Actor.for_staff(bank_a.advisor)
    record(bank_a, advisor, clients["mine"])
    record(bank_a, advisor, clients["mine"], staff=bank_a.advisor)
    assert complaints(bank_a) == [("C-MINE", "R1", OPEN), ("C-MINE", "A1", OPEN)]


def test_every_role_and_a_write_token_record_complaints_in_their_scope(bank_a, clients):
    record(bank_a, Actor.for_staff(bank_a.supervisor), clients["mine"])
    record(bank_a, Actor.for_staff(bank_a.head), clients["theirs"])
    token = Actor(tenant_id=bank_a.tenant.pk, scopes=frozenset({"write"}))
    record(bank_a, token, clients["theirs"], external_id="CC-9")
    assert [row[0] for row in complaints(bank_a)] == ["C-MINE", "C-THEIRS", "C-THEIRS"]
    with pytest.raises(PermissionDenied):
        record(
            bank_a, Actor(tenant_id=bank_a.tenant.pk, scopes=frozenset({"read"})), clients["mine"]
        )


def test_a_client_outside_the_scope_is_not_found(bank_a, bank_b, clients):
    for staff in (bank_a.rm, bank_a.supervisor):
        with pytest.raises(Client.DoesNotExist):
            record(bank_a, Actor.for_staff(staff), clients["theirs"])
    with pytest.raises(Client.DoesNotExist):
        record(
            bank_a,
            Actor.for_staff(bank_a.head),
            ClientFactory(tenant=bank_b.tenant),
            staff=bank_a.rm,
        )
    assert complaints(bank_a) == []


def test_the_staff_concerned_serve_the_client_or_are_overseen(bank_a, bank_b, clients):
    rm = Actor.for_staff(bank_a.rm)
    for staff, message in [
        (bank_a.supervisor, "Choose the RM or advisor the complaint is about."),
        (bank_b.rm, "Choose the RM or advisor the complaint is about."),
        (None, "Choose the RM or advisor the complaint is about."),
        (bank_a.other_rm, "This staff member neither serves the client nor works under you."),
    ]:
        with pytest.raises(ValidationError) as refused:
            record(bank_a, rm, clients["mine"], staff=staff)
        assert refused.value.message_dict == {"staff": [message]}
    assert complaints(bank_a) == []


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"received_on": None}, "received_on"),
        ({"category": "weather"}, "category"),
        ({"description": "   "}, "description"),
        ({"description": "慢" * 4001}, "description"),
        ({"external_id": "x" * 65}, "external_id"),
    ],
)
def test_bad_input_is_refused_by_field_and_nothing_is_written(bank_a, clients, arguments, field):
    with pytest.raises(ValidationError) as refused:
        record(bank_a, Actor.for_staff(bank_a.rm), clients["mine"], **arguments)
    assert list(refused.value.message_dict) == [field]
    assert complaints(bank_a) == []


def test_a_complaint_is_not_received_in_the_future_and_its_reference_is_unique(bank_a, clients):
    rm = Actor.for_staff(bank_a.rm)
    with pytest.raises(ValidationError) as future:
        record(bank_a, rm, clients["mine"], received_on=today() + DAY)
    assert future.value.message_dict == {"received_on": ["The date cannot be in the future."]}
    record(bank_a, rm, clients["mine"], external_id="CC-1")
    with pytest.raises(ValidationError) as taken:
        record(bank_a, rm, clients["mine"], external_id="CC-1")
    assert list(taken.value.message_dict) == ["external_id"]
    assert len(complaints(bank_a)) == 1


# --- Resolving ---------------------------------------------------------------------------


@pytest.fixture
def open_complaint(bank_a, clients):
    return ComplaintFactory(
        tenant=bank_a.tenant,
        client=clients["mine"],
        staff=bank_a.rm,
        received_on=today() - DAY * 5,
    )


def stored(bank, complaint) -> Complaint:
    with tenant_context(bank.tenant):
        return Complaint.objects.get(pk=complaint.pk)


def test_a_supervisor_resolves_a_complaint_and_it_is_audited(bank_a, open_complaint):
    resolve(bank_a, Actor.for_staff(bank_a.supervisor), open_complaint, resolution="  已退费  ")
    complaint = stored(bank_a, open_complaint)
    assert (complaint.status, complaint.resolved_on, complaint.resolution) == (
        RESOLVED,
        today(),
        "已退费",
    )
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(object_type="kpi.complaint", action="update")
    assert entry.detail["status"] == ["open", "resolved"]


def test_head_office_resolves_any_complaint(bank_a, clients):
    theirs = ComplaintFactory(tenant=bank_a.tenant, client=clients["theirs"], staff=bank_a.other_rm)
    resolve(bank_a, Actor.for_staff(bank_a.head), theirs, resolved_on=theirs.received_on)
    assert stored(bank_a, theirs).status == RESOLVED


@pytest.mark.parametrize("role", ["rm", "advisor"])
def test_the_staff_concerned_do_not_resolve_complaints(bank_a, open_complaint, role):
    with pytest.raises(PermissionDenied):
        resolve(bank_a, Actor.for_staff(getattr(bank_a, role)), open_complaint)
    assert stored(bank_a, open_complaint).status == OPEN


def test_a_complaint_outside_the_scope_is_not_found(bank_a, bank_b, clients):
    theirs = ComplaintFactory(tenant=bank_a.tenant, client=clients["theirs"], staff=bank_a.other_rm)
    with pytest.raises(Complaint.DoesNotExist):
        resolve(bank_a, Actor.for_staff(bank_a.supervisor), theirs)
    with pytest.raises(Complaint.DoesNotExist):
        resolve(bank_a, Actor.for_staff(bank_a.rm), theirs)  # not found before the role
    elsewhere = ComplaintFactory(tenant=bank_b.tenant)
    with pytest.raises(Complaint.DoesNotExist):
        resolve(bank_a, Actor.for_staff(bank_a.head), elsewhere)
    assert stored(bank_a, theirs).status == OPEN


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"resolved_on": None}, "Give the date."),
        ({"resolved_on": "past"}, "A complaint is resolved on or after the day it was received."),
        ({"resolved_on": "future"}, "The date cannot be in the future."),
        ({"resolution": ""}, "Say how the complaint was resolved."),
        ({"resolution": "好" * 4001}, "At most 4,000 characters."),
    ],
)
def test_a_bad_resolution_is_refused_and_nothing_is_written(
    bank_a, open_complaint, arguments, message
):
    days = {"past": today() - DAY * 6, "future": today() + DAY}
    arguments = {k: days.get(v, v) if isinstance(v, str) else v for k, v in arguments.items()}
    with pytest.raises(ValidationError) as refused:
        resolve(bank_a, Actor.for_staff(bank_a.supervisor), open_complaint, **arguments)
    assert message in refused.value.messages
    assert stored(bank_a, open_complaint).status == OPEN


def test_a_resolved_complaint_is_not_resolved_again(bank_a, open_complaint):
    supervisor = Actor.for_staff(bank_a.supervisor)
    resolve(bank_a, supervisor, open_complaint, resolution="第一次处理")
    with pytest.raises(ValidationError) as refused:
        resolve(bank_a, supervisor, open_complaint, resolution="第二次处理")
    assert refused.value.messages == ["This complaint is already resolved."]
    assert stored(bank_a, open_complaint).resolution == "第一次处理"


# --- The list ----------------------------------------------------------------------------


@pytest.fixture
def filed(bank_a, clients):
    team_client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.city)
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=team_client, staff=bank_a.advisor)
    return {
        "fees": ComplaintFactory(
            tenant=bank_a.tenant,
            client=clients["mine"],
            staff=bank_a.rm,
            category="fees",
            received_on=datetime.date(2026, 11, 2),
        ),
        "resolved": ComplaintFactory(
            tenant=bank_a.tenant,
            client=clients["mine"],
            staff=bank_a.rm,
            category="waiting",
            received_on=datetime.date(2026, 11, 20),
            status=RESOLVED,
            resolved_on=datetime.date(2026, 11, 21),
            resolution="已处理",
        ),
        "theirs": ComplaintFactory(
            tenant=bank_a.tenant,
            client=clients["theirs"],
            staff=bank_a.other_rm,
            received_on=datetime.date(2026, 10, 9),
        ),
        "team": ComplaintFactory(
            tenant=bank_a.tenant,
            client=team_client,
            staff=bank_a.advisor,
            received_on=datetime.date(2026, 8, 1),
        ),
    }


def listed(response) -> list[int]:
    return [complaint.pk for complaint in response.context["complaints"]]


def test_each_role_lists_the_complaints_it_sees_the_open_ones_first(login, english, bank_a, filed):
    fees, resolved, theirs, team = filed.values()
    assert listed(login(bank_a.rm).get(COMPLAINTS)) == [fees.pk, resolved.pk]
    assert listed(login(bank_a.advisor).get(COMPLAINTS)) == [fees.pk, team.pk, resolved.pk]
    assert listed(login(bank_a.supervisor).get(COMPLAINTS)) == [fees.pk, team.pk, resolved.pk]
    response = login(bank_a.head).get(COMPLAINTS)
    assert listed(response) == [fees.pk, theirs.pk, team.pk, resolved.pk]
    assert response.content.decode().count(">Resolve</a>") == 3


def test_the_list_filters_by_staff_period_category_and_status(login, english, bank_a, filed):
    fees, resolved, theirs, team = filed.values()
    http = login(bank_a.head)
    assert listed(http.get(COMPLAINTS, {"staff": bank_a.advisor.pk})) == [team.pk]
    assert listed(http.get(COMPLAINTS, {"branch": bank_a.other_sub.pk})) == [theirs.pk]
    assert listed(http.get(COMPLAINTS, {"period": "2026-11"})) == [fees.pk, resolved.pk]
    assert listed(http.get(COMPLAINTS, {"period": "2026-q4"})) == [fees.pk, theirs.pk, resolved.pk]
    assert listed(http.get(COMPLAINTS, {"category": "fees"})) == [fees.pk]
    assert listed(http.get(COMPLAINTS, {"status": "resolved"})) == [resolved.pk]
    bad = http.get(COMPLAINTS, {"status": "lost", "category": "fees"})
    assert "Select a valid choice." in bad.content.decode()
    assert listed(bad) == [fees.pk]


def test_the_list_costs_the_same_queries_for_few_or_many(
    login, bank_a, clients, django_assert_max_num_queries
):
    http = login(bank_a.supervisor)
    ComplaintFactory(tenant=bank_a.tenant, client=clients["mine"], staff=bank_a.rm)
    with CaptureQueriesContext(connection) as few:
        http.get(COMPLAINTS)
    for _n in range(25):
        client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
        ComplaintFactory(tenant=bank_a.tenant, client=client, staff=bank_a.rm)
    with django_assert_max_num_queries(len(few)):
        assert len(listed(http.get(COMPLAINTS))) == 26


# --- The pages: recording and resolving --------------------------------------------------


def form_data(**overrides) -> dict:
    return {
        "client": "C-MINE",
        "staff": "",
        "received_on": (today() - DAY).isoformat(),
        "category": "service_attitude",
        "description": "电话多次未接",
        **overrides,
    }


def test_an_rm_records_a_complaint_in_the_page(login, english, bank_a, clients):
    http = login(bank_a.rm)
    page = http.get(NEW, {"client": "C-MINE"})
    assert page.status_code == 200 and page.context["form"]["received_on"].value() == today()
    response = http.post(NEW, form_data())
    assert response.status_code == 302 and response["Location"] == COMPLAINTS
    assert complaints(bank_a) == [("C-MINE", "R1", OPEN)]
    assert "it is open until resolved" in http.get(COMPLAINTS).content.decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"client": "C-THEIRS"}, "No client with this customer number among the clients you see."),
        ({"category": ""}, "This field is required."),
        ({"category": "weather"}, "Select a valid choice."),
        ({"description": ""}, "This field is required."),
        ({"received_on": "yesterday"}, "Enter a valid date."),
        ({"received_on": "2999-12-31"}, "The date cannot be in the future."),
        ({"staff": "1x"}, "Select a valid choice."),
    ],
)
def test_bad_input_is_the_form_with_its_errors_and_nothing_is_written(
    login, english, bank_a, clients, overrides, message
):
    response = login(bank_a.rm).post(NEW, form_data(**overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert complaints(bank_a) == []


def test_a_supervisor_resolves_in_the_page(login, english, bank_a, open_complaint):
    http = login(bank_a.supervisor)
    page = http.get(resolve_url(open_complaint))
    assert page.status_code == 200 and page.context["form"] is not None
    response = http.post(
        resolve_url(open_complaint), {"resolved_on": today().isoformat(), "resolution": "已回访"}
    )
    assert response.status_code == 302 and response["Location"] == COMPLAINTS
    assert stored(bank_a, open_complaint).status == RESOLVED
    page = http.get(resolve_url(open_complaint))
    assert page.context["form"] is None and "已回访" in page.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"resolved_on": "", "resolution": "已处理"}, "This field is required."),
        ({"resolved_on": "2001-01-01", "resolution": "已处理"}, "on or after the day it was"),
        ({"resolution": ""}, "This field is required."),
    ],
)
def test_a_bad_resolution_in_the_page_is_a_400(
    login, english, bank_a, open_complaint, data, message
):
    data = {"resolved_on": today().isoformat(), **data}
    response = login(bank_a.supervisor).post(resolve_url(open_complaint), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert stored(bank_a, open_complaint).status == OPEN


def test_the_staff_concerned_read_the_complaint_but_cannot_resolve_it(
    login, english, bank_a, open_complaint
):
    http = login(bank_a.rm)
    page = http.get(resolve_url(open_complaint))
    assert page.status_code == 200 and page.context["form"] is None
    assert "A supervisor or head office resolves the complaint." in page.content.decode()
    data = {"resolved_on": today().isoformat(), "resolution": "自行处理"}
    assert http.post(resolve_url(open_complaint), data).status_code == 403
    assert stored(bank_a, open_complaint).status == OPEN


def test_a_complaint_outside_the_scope_is_a_404(login, bank_a, clients):
    theirs = ComplaintFactory(tenant=bank_a.tenant, client=clients["theirs"], staff=bank_a.other_rm)
    for staff in (bank_a.rm, bank_a.advisor, bank_a.supervisor):
        http = login(staff)
        assert http.get(resolve_url(theirs)).status_code == 404
        assert http.post(resolve_url(theirs), {"resolution": "x"}).status_code == 404
    assert stored(bank_a, theirs).status == OPEN
