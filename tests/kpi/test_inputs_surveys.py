"""Satisfaction surveys (kpi.inputs.survey_record and the pages surveys/, surveys/new/):
who records one for whom, every refusal with nothing written, the list per role with
its filters, and query counts."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from customers.models import Client
from kpi.inputs import survey_record
from kpi.models import SatisfactionSurvey
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    SatisfactionSurveyFactory,
    StaffFactory,
)
from vipcrm.models import AuditEntry
from vipcrm.roles import Actor, Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_messages():
    """The services' messages in English (the bank's default language is Chinese)."""
    with translation.override("en"):
        yield


SURVEYS = reverse("kpi:surveys")
NEW = reverse("kpi:survey-create")
DAY = datetime.timedelta(days=1)


def today() -> datetime.date:
    return timezone.localdate()


@pytest.fixture
def clients(bank_a):
    """mine: R1's client in BJ01 (the supervisor's subtree); theirs: R2's in SH01."""
    return {
        "mine": ClientFactory(
            tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, external_id="C-MINE"
        ),
        "theirs": ClientFactory(
            tenant=bank_a.tenant,
            branch=bank_a.other_sub,
            owner_rm=bank_a.other_rm,
            external_id="C-THEIRS",
        ),
    }


def surveys(bank) -> list[tuple]:
    with tenant_context(bank.tenant):
        return list(
            SatisfactionSurvey.objects.order_by("id").values_list("client__external_id", "score")
        )


def record(bank, actor, client, **kwargs):
    arguments = {"staff": client.owner_rm, "score": 4, "surveyed_on": today() - DAY, **kwargs}
    with tenant_context(bank.tenant):
        return survey_record(actor=actor, client=client, **arguments)


# --- The service -------------------------------------------------------------------------


def test_a_supervisor_records_a_survey_of_their_branches_and_it_is_audited(bank_a, clients):
    survey = record(
        bank_a,
        Actor.for_staff(bank_a.supervisor),
        clients["mine"],
        score=5,
        comment="  服务周到  ",
        channel="phone",
    )
    assert (survey.staff, survey.score, survey.comment, survey.channel) == (
        bank_a.rm,
        5,
        "服务周到",
        "phone",
    )
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(object_type="kpi.satisfactionsurvey")
    assert (entry.action, entry.object_id) == ("create", str(survey.pk))
    assert entry.detail == {
        "client": "C-MINE",
        "staff": "R1",
        "score": 5,
        "surveyed_on": (today() - DAY).isoformat(),
    }


def test_head_office_and_a_write_token_record_for_any_client(bank_a, clients):
    record(bank_a, Actor.for_staff(bank_a.head), clients["theirs"])
    token = Actor(tenant_id=bank_a.tenant.pk, scopes=frozenset({"read", "write"}))
    record(bank_a, token, clients["mine"], external_id="CC-1")
    assert surveys(bank_a) == [("C-THEIRS", 4), ("C-MINE", 4)]


@pytest.mark.parametrize("role", ["rm", "advisor"])
def test_the_staff_rated_do_not_record_surveys(bank_a, clients, role):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=clients["mine"], staff=bank_a.advisor)
    with pytest.raises(PermissionDenied):
        record(bank_a, Actor.for_staff(getattr(bank_a, role)), clients["mine"])
    with pytest.raises(PermissionDenied):
        record(
            bank_a, Actor(tenant_id=bank_a.tenant.pk, scopes=frozenset({"read"})), clients["mine"]
        )
    assert surveys(bank_a) == []


def test_a_client_outside_the_scope_is_not_found(bank_a, bank_b, clients):
    with pytest.raises(Client.DoesNotExist):
        record(bank_a, Actor.for_staff(bank_a.supervisor), clients["theirs"])
    stranger = ClientFactory(tenant=bank_b.tenant, owner_rm=bank_b.rm)
    with pytest.raises(Client.DoesNotExist):
        record(bank_a, Actor.for_staff(bank_a.head), stranger, staff=bank_a.rm)
    assert surveys(bank_a) == []


def test_the_rm_rated_must_serve_the_client_or_be_overseen(bank_a, bank_b, clients):
    supervisor = Actor.for_staff(bank_a.supervisor)
    for staff, message in [
        (bank_a.advisor, "Choose the RM the client rated."),
        (bank_b.rm, "Choose the RM the client rated."),
        (None, "Choose the RM the client rated."),
        (bank_a.other_rm, "This staff member neither serves the client nor works under you."),
    ]:
        with pytest.raises(ValidationError) as refused:
            record(bank_a, supervisor, clients["mine"], staff=staff)
        assert refused.value.message_dict == {"staff": [message]}
    # On the client's team (a secondary RM from another branch), R2 may be rated.
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=clients["mine"], staff=bank_a.other_rm)
    assert (
        record(bank_a, supervisor, clients["mine"], staff=bank_a.other_rm).staff == bank_a.other_rm
    )
    # An RM who has left may still be rated for the service given before.
    former = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, is_active=False)
    assert record(bank_a, supervisor, clients["mine"], staff=former).staff == former


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"score": 0}, "score"),
        ({"score": 6}, "score"),
        ({"score": None}, "score"),
        ({"score": True}, "score"),
        ({"surveyed_on": None}, "surveyed_on"),
        ({"comment": "很" * 2001}, "comment"),
        ({"channel": "pigeon"}, "channel"),
        ({"external_id": "x" * 65}, "external_id"),
    ],
)
def test_bad_input_is_refused_by_field_and_nothing_is_written(bank_a, clients, arguments, field):
    with pytest.raises(ValidationError) as refused:
        record(bank_a, Actor.for_staff(bank_a.head), clients["mine"], **arguments)
    assert list(refused.value.message_dict) == [field]
    assert surveys(bank_a) == []


def test_a_survey_cannot_be_dated_in_the_future(bank_a, clients):
    with pytest.raises(ValidationError) as refused:
        record(bank_a, Actor.for_staff(bank_a.head), clients["mine"], surveyed_on=today() + DAY)
    assert refused.value.message_dict == {"surveyed_on": ["The date cannot be in the future."]}
    assert record(bank_a, Actor.for_staff(bank_a.head), clients["mine"], surveyed_on=today())


def test_an_external_reference_is_recorded_once(bank_a, clients):
    head = Actor.for_staff(bank_a.head)
    record(bank_a, head, clients["mine"], external_id="CC-7")
    with pytest.raises(ValidationError) as refused:
        record(bank_a, head, clients["theirs"], external_id="CC-7")
    assert refused.value.message_dict == {
        "external_id": ["A survey with this external reference is already recorded."]
    }
    assert surveys(bank_a) == [("C-MINE", 4)]


# --- The list ----------------------------------------------------------------------------


@pytest.fixture
def rated(bank_a, clients):
    """Three surveys: two of R1's client (November, 5 and 2), one of R2's (October, 4);
    plus R1 and advisor A1 on the team of a client of the city branch."""
    team_client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.city, external_id="C-TEAM")
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=team_client, staff=bank_a.advisor)
    return [
        SatisfactionSurveyFactory(
            tenant=bank_a.tenant,
            client=clients["mine"],
            staff=bank_a.rm,
            score=5,
            surveyed_on=datetime.date(2026, 11, 3),
            comment="非常满意",
        ),
        SatisfactionSurveyFactory(
            tenant=bank_a.tenant,
            client=clients["mine"],
            staff=bank_a.rm,
            score=2,
            surveyed_on=datetime.date(2026, 11, 30),
        ),
        SatisfactionSurveyFactory(
            tenant=bank_a.tenant,
            client=clients["theirs"],
            staff=bank_a.other_rm,
            score=4,
            surveyed_on=datetime.date(2026, 10, 31),
        ),
        SatisfactionSurveyFactory(
            tenant=bank_a.tenant,
            client=team_client,
            staff=bank_a.rm,
            score=3,
            surveyed_on=datetime.date(2026, 9, 1),
        ),
    ]


def listed(response) -> list[int]:
    return [survey.pk for survey in response.context["surveys"]]


def test_each_role_lists_the_surveys_of_the_clients_it_sees(login, english, bank_a, rated):
    five, two, theirs, team = rated
    assert listed(login(bank_a.rm).get(SURVEYS)) == [two.pk, five.pk]
    assert listed(login(bank_a.advisor).get(SURVEYS)) == [team.pk]
    assert listed(login(bank_a.supervisor).get(SURVEYS)) == [two.pk, five.pk, team.pk]
    response = login(bank_a.head).get(SURVEYS)
    assert listed(response) == [two.pk, five.pk, theirs.pk, team.pk]
    page = response.content.decode()
    assert "非常满意" in page and "Record a survey" in page
    assert "Record a survey" not in login(bank_a.rm).get(SURVEYS).content.decode()


def test_the_list_filters_by_rm_branch_period_and_score(login, english, bank_a, rated):
    five, two, theirs, team = rated
    http = login(bank_a.head)
    assert listed(http.get(SURVEYS, {"staff": bank_a.other_rm.pk})) == [theirs.pk]
    assert listed(http.get(SURVEYS, {"branch": bank_a.city.pk})) == [two.pk, five.pk, team.pk]
    assert listed(http.get(SURVEYS, {"period": "2026-11"})) == [two.pk, five.pk]
    assert listed(http.get(SURVEYS, {"period": "2026-Q4"})) == [two.pk, five.pk, theirs.pk]
    assert listed(http.get(SURVEYS, {"period": "2026"})) == [two.pk, five.pk, theirs.pk, team.pk]
    assert listed(http.get(SURVEYS, {"score": "5"})) == [five.pk]
    response = http.get(SURVEYS, {"period": "2026-11", "staff": bank_a.rm.pk})
    assert response.context["summary"] == {"count": 2, "average": 3.5}
    assert "Surveys in 2026-11" in response.content.decode()


def test_a_bad_filter_is_shown_and_the_others_still_apply(login, english, bank_a, rated):
    five, two, _theirs, _team = rated
    response = login(bank_a.head).get(SURVEYS, {"period": "2026-13", "staff": bank_a.rm.pk})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Give a month (2026-11), a quarter (2026-Q4) or a year (2026)." in page
    assert "Please correct the filter below." in page
    assert set(listed(response)) == {five.pk, two.pk, rated[3].pk}
    assert "summary" not in response.context


def test_a_supervisor_cannot_filter_on_an_rm_outside_their_branches(login, english, bank_a, rated):
    response = login(bank_a.supervisor).get(SURVEYS, {"staff": bank_a.other_rm.pk})
    assert "Select a valid choice." in response.content.decode()
    assert rated[2].pk not in listed(response)


def test_the_list_costs_the_same_queries_for_few_or_many_surveys(
    login, bank_a, clients, django_assert_max_num_queries
):
    http = login(bank_a.head)
    SatisfactionSurveyFactory(tenant=bank_a.tenant, client=clients["mine"], staff=bank_a.rm)
    with CaptureQueriesContext(connection) as few:
        http.get(SURVEYS, {"period": "2026-11"})
    for n in range(30):
        client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
        SatisfactionSurveyFactory(
            tenant=bank_a.tenant, client=client, staff=bank_a.rm, score=n % 5 + 1
        )
    with django_assert_max_num_queries(len(few)):
        response = http.get(SURVEYS, {"period": "2026-11"})
    assert len(response.context["surveys"]) == 31


# --- Recording in the page ---------------------------------------------------------------


def form_data(**overrides) -> dict:
    return {
        "client": "C-MINE",
        "staff": "",
        "score": "4",
        "surveyed_on": (today() - DAY).isoformat(),
        "channel": "phone",
        "comment": "理财经理响应及时",
        **overrides,
    }


def test_a_supervisor_records_a_survey_for_the_clients_owner_rm(login, english, bank_a, clients):
    http = login(bank_a.supervisor)
    page = http.get(NEW, {"client": "C-MINE"})
    assert page.status_code == 200
    assert page.context["form"]["client"].value() == "C-MINE"
    assert page.context["form"]["surveyed_on"].value() == today()
    response = http.post(NEW, form_data())
    assert response.status_code == 302 and response["Location"] == SURVEYS
    with tenant_context(bank_a.tenant):
        survey = SatisfactionSurvey.objects.get()
    assert (survey.staff_id, survey.score, survey.channel) == (bank_a.rm.pk, 4, "phone")
    assert "is recorded." in http.get(SURVEYS).content.decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"client": ""}, "This field is required."),
        ({"client": "NOBODY"}, "No client with this customer number among the clients you see."),
        ({"client": "C-THEIRS"}, "No client with this customer number among the clients you see."),
        ({"score": "9"}, "Select a valid choice."),
        ({"score": ""}, "This field is required."),
        ({"surveyed_on": "2026-02-30"}, "Enter a valid date."),
        ({"surveyed_on": "2999-01-01"}, "The date cannot be in the future."),
        ({"channel": "pigeon"}, "Select a valid choice."),
        ({"staff": "999999"}, "Select a valid choice."),
    ],
)
def test_bad_input_is_the_form_with_its_errors_and_nothing_is_written(
    login, english, bank_a, clients, overrides, message
):
    response = login(bank_a.supervisor).post(NEW, form_data(**overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert surveys(bank_a) == []


def test_a_client_without_an_owner_needs_the_rm_named(login, english, bank_a):
    ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, external_id="C-POOL")
    http = login(bank_a.supervisor)
    response = http.post(NEW, form_data(client="C-POOL"))
    assert response.status_code == 400
    assert (
        "This client has no owner RM: choose who the record is about." in response.content.decode()
    )
    assert http.post(NEW, form_data(client="C-POOL", staff=bank_a.rm.pk)).status_code == 302
    assert surveys(bank_a) == [("C-POOL", 4)]


def test_rms_and_advisors_have_no_survey_form(login, bank_a, clients):
    for staff in (bank_a.rm, bank_a.advisor):
        http = login(staff)
        assert http.get(NEW).status_code == 404
        assert http.post(NEW, form_data()).status_code == 404
    assert surveys(bank_a) == []
