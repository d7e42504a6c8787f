"""The contact-plan API: /api/v1/planned-contacts/ and /api/v1/interactions/
(shared/spec/sync-api.md) — formats, filters, cursor, scope, query counts, and logging an
interaction with every refusal."""

import datetime
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contact_plans.models import ContactPlan, Interaction, PlannedContact
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    ContactPlanFactory,
    HoldingFactory,
    InteractionFactory,
    PlannedContactFactory,
    StaffFactory,
    TierFactory,
)
from vipcrm.models import AuditEntry, IdempotencyRecord
from vipcrm.services import api_token_create
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

PLANNED = "/api/v1/planned-contacts/"
INTERACTIONS = "/api/v1/interactions/"
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
# On PostgreSQL the request binds its transaction for Row-Level Security: no tenant on
# entry, the token's tenant once authenticated, none again on exit.
PG_RLS_QUERIES = 3 if connection.vendor == "postgresql" else 0


@pytest.fixture
def write_key(bank_a):
    return api_token_create(tenant=bank_a.tenant, name="call-centre", scopes=["read", "write"])[1]


@pytest.fixture
def post(client):
    """POST a JSON body (a dict, or raw text/bytes sent as is) with a token, or as the
    staff member logged in with ``login``; messages in English (the API's callers choose
    with Accept-Language)."""

    def _post(body, key=None, idempotency_key=None, path=INTERACTIONS, language="en"):
        extra = {"HTTP_AUTHORIZATION": f"Token {key}"} if key else {}
        if language:
            extra["HTTP_ACCEPT_LANGUAGE"] = language
        if idempotency_key is not None:
            extra["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return client.post(path, data, content_type="application/json", **extra)

    return _post


@pytest.fixture
def book(bank_a):
    """Three clients of bank A with a planned contact and an interaction each.

    C1: RM R1's Gold client in BJ01.  C2: RM R2's Potential client in SH01.
    C3: no owner, in the city branch BJ, served by R1 and advisor A1 as its team.
    """
    tenant = bank_a.tenant
    gold = TierFactory(tenant=tenant, code="GOLD", rank=2)
    potential = TierFactory(tenant=tenant, code="POT", rank=1)
    c1 = ClientFactory(
        tenant=tenant, external_id="C1", branch=bank_a.sub, owner_rm=bank_a.rm, tier=gold
    )
    c2 = ClientFactory(
        tenant=tenant,
        external_id="C2",
        branch=bank_a.other_sub,
        owner_rm=bank_a.other_rm,
        tier=potential,
    )
    c3 = ClientFactory(tenant=tenant, external_id="C3", branch=bank_a.city)
    ClientTeamMemberFactory(tenant=tenant, client=c3, staff=bank_a.rm)
    ClientTeamMemberFactory(tenant=tenant, client=c3, staff=bank_a.advisor)
    holding = HoldingFactory(
        tenant=tenant,
        external_id="H2",
        client=c2,
        balance=Decimal("800000.00"),
        matures_on=datetime.date(2026, 12, 10),
    )
    planned = {
        "C1": PlannedContactFactory(
            tenant=tenant,
            client=c1,
            assigned_to=bank_a.rm,
            reason=PlannedContact.Reason.CADENCE,
            due_on=datetime.date(2026, 12, 1),
            channel="phone",
            source_key="cadence:2026-12-01",
        ),
        "C2": PlannedContactFactory(
            tenant=tenant,
            client=c2,
            assigned_to=bank_a.other_rm,
            reason=PlannedContact.Reason.MATURITY,
            status=PlannedContact.Status.OVERDUE,
            due_on=datetime.date(2026, 11, 26),
            source_key=f"maturity:{holding.pk}:2026-12-10",
            holding=holding,
            source_date=datetime.date(2026, 12, 10),
            amount_cny=Decimal("800000.00"),
            note="到期理财续作",
            rescheduled_from=datetime.date(2026, 11, 20),
            reschedule_reason="客户出差",
        ),
        "C3": PlannedContactFactory(
            tenant=tenant,
            client=c3,
            reason=PlannedContact.Reason.BIRTHDAY,
            status=PlannedContact.Status.DONE,
            due_on=datetime.date(2026, 11, 25),
            source_key="birthday:2026",
            source_date=datetime.date(2026, 11, 28),
            completed_at=datetime.datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI),
        ),
    }
    interactions = {
        "C1": InteractionFactory(
            tenant=tenant,
            client=c1,
            staff=bank_a.rm,
            channel="phone",
            occurred_at=datetime.datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI),
            duration_minutes=15,
            summary="电话回访",
            needs_found=["growth"],
            next_step="寄送产品资料",
            next_step_on=datetime.date(2026, 11, 27),
            planned_contact=planned["C1"],
            external_id="CC-1",
        ),
        "C2": InteractionFactory(
            tenant=tenant,
            client=c2,
            staff=bank_a.other_rm,
            channel="visit",
            occurred_at=datetime.datetime(2026, 11, 10, 15, 0, tzinfo=SHANGHAI),
            summary="上门拜访",
        ),
        # 23:30 in Shanghai is still the 25th there, though 15:30 UTC.
        "C3": InteractionFactory(
            tenant=tenant,
            client=c3,
            staff=bank_a.advisor,
            channel="wechat",
            occurred_at=datetime.datetime(2026, 11, 25, 23, 30, tzinfo=SHANGHAI),
            summary="微信祝福",
        ),
    }
    return {
        "clients": {"C1": c1, "C2": c2, "C3": c3},
        "planned": planned,
        "interactions": interactions,
    }


def clients_of(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["client_external_id"] for row in response.json()["results"]}


# --- Planned contacts -------------------------------------------------------------------


def test_a_planned_contact_carries_joinable_codes_and_contract_formats(api, read_key, book):
    (row,) = api(PLANNED, read_key, client="C2").json()["results"]
    assert row["id"] == book["planned"]["C2"].pk
    assert (row["client_external_id"], row["rm_code"]) == ("C2", "R2")
    assert (row["reason"], row["status"]) == ("maturity", "overdue")
    assert (row["due_on"], row["source_date"]) == ("2026-11-26", "2026-12-10")
    assert (row["amount_cny"], row["holding_external_id"]) == ("800000.00", "H2")
    assert (row["note"], row["channel"]) == ("到期理财续作", "")
    assert (row["rescheduled_from"], row["reschedule_reason"]) == ("2026-11-20", "客户出差")
    assert row["completed_at"] is None
    for stamp in ("created_at", "updated_at"):
        assert datetime.datetime.fromisoformat(row[stamp]).utcoffset() is not None


def test_a_planned_contact_without_rm_or_holding_has_nulls(api, read_key, book):
    (row,) = api(PLANNED, read_key, client="C3").json()["results"]
    assert (row["rm_code"], row["holding_external_id"], row["amount_cny"]) == (None, None, None)
    assert datetime.datetime.fromisoformat(row["completed_at"]) == datetime.datetime(
        2026, 11, 25, 9, 0, tzinfo=SHANGHAI
    )


def test_a_planned_contact_is_read_by_id(api, read_key, book):
    planned = book["planned"]["C1"]
    row = api(f"{PLANNED}{planned.pk}/", read_key).json()
    assert (row["client_external_id"], row["due_on"], row["channel"]) == (
        "C1",
        "2026-12-01",
        "phone",
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"branch_code": "BJ01"}, {"C1"}),
        ({"branch_code": "BJ"}, {"C3"}),
        ({"rm_code": "R2"}, {"C2"}),
        ({"tier": "GOLD"}, {"C1"}),
        ({"tier": "POT"}, {"C2"}),
        ({"client": "C3"}, {"C3"}),
        ({"reason": "maturity"}, {"C2"}),
        ({"status": "done"}, {"C3"}),
        ({"due_from": "2026-11-26"}, {"C1", "C2"}),
        ({"due_to": "2026-11-26"}, {"C2", "C3"}),
        ({"due_from": "2026-11-26", "due_to": "2026-11-30"}, {"C2"}),
        ({"rm_code": "R1", "status": "planned"}, {"C1"}),
        ({"tier": "NOPE"}, set()),
    ],
)
def test_planned_contacts_filter(api, read_key, book, filters, expected):
    assert clients_of(api(PLANNED, read_key, **filters)) == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"reason": "lottery"},
        {"status": "maybe"},
        {"due_from": "27/11/2026"},
        {"due_to": "2026-02-30"},
        {"updated_since": "yesterday"},
        {"updated_since": "0001-01-01T00:00:00+08:00"},
        {"updated_since": "9999-12-31T23:59:59-08:00"},
        {"client": "C1\x00"},
    ],
)
def test_a_bad_planned_contact_filter_is_a_400_naming_it(api, read_key, book, bad):
    response = api(PLANNED, read_key, **bad)
    assert response.status_code == 400
    assert set(response.json()) == set(bad)


def test_planned_contacts_updated_since_returns_only_later_changes(api, read_key, bank_a, book):
    later = timezone.now() + datetime.timedelta(seconds=5)
    with tenant_context(bank_a.tenant):
        PlannedContact.objects.filter(pk=book["planned"]["C3"].pk).update(updated_at=later)
    assert clients_of(api(PLANNED, read_key, updated_since=later.isoformat())) == {"C3"}


def test_planned_contacts_are_cursor_paginated(api, read_key, book):
    first = api(PLANNED, read_key, page_size=2).json()
    assert len(first["results"]) == 2 and "cursor=" in first["next"]
    second = api(first["next"], read_key).json()
    assert len(second["results"]) == 1 and second["next"] is None
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 3


# --- Interactions: reading ------------------------------------------------------------


def test_an_interaction_carries_joinable_codes_and_contract_formats(api, read_key, book):
    (row,) = api(INTERACTIONS, read_key, client="C1").json()["results"]
    assert row["id"] == book["interactions"]["C1"].pk
    assert (row["client_external_id"], row["rm_code"], row["external_id"]) == ("C1", "R1", "CC-1")
    assert (row["channel"], row["duration_minutes"], row["summary"]) == ("phone", 15, "电话回访")
    assert datetime.datetime.fromisoformat(row["occurred_at"]) == datetime.datetime(
        2026, 11, 20, 10, 0, tzinfo=SHANGHAI
    )
    assert row["needs_found"] == ["growth"]
    assert (row["next_step"], row["next_step_on"]) == ("寄送产品资料", "2026-11-27")
    assert row["planned_contact_id"] == book["planned"]["C1"].pk
    assert datetime.datetime.fromisoformat(row["updated_at"]).utcoffset() is not None


def test_an_interaction_logged_in_the_crm_has_no_external_id(api, read_key, book):
    row = api(f"{INTERACTIONS}{book['interactions']['C2'].pk}/", read_key).json()
    assert (row["external_id"], row["planned_contact_id"], row["duration_minutes"]) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"branch_code": "SH01"}, {"C2"}),
        ({"rm_code": "A1"}, {"C3"}),  # who logged it, not the owner
        ({"rm_code": "R1"}, {"C1"}),
        ({"tier": "GOLD"}, {"C1"}),
        ({"client": "C2"}, {"C2"}),
        ({"channel": "wechat"}, {"C3"}),
        ({"external_id": "CC-1"}, {"C1"}),
        # Days are the bank's (Asia/Shanghai): 23:30 on the 25th is on the 25th.
        ({"occurred_from": "2026-11-25"}, {"C3"}),
        ({"occurred_to": "2026-11-25"}, {"C1", "C2", "C3"}),
        ({"occurred_to": "2026-11-24"}, {"C1", "C2"}),
        ({"occurred_from": "2026-11-11", "occurred_to": "2026-11-20"}, {"C1"}),
        ({"occurred_from": "0001-01-01", "occurred_to": "9999-12-31"}, {"C1", "C2", "C3"}),
        ({"occurred_from": "9999-12-31"}, set()),
        ({"occurred_to": "0001-01-01"}, set()),
        ({"channel": "event"}, set()),
    ],
)
def test_interactions_filter(api, read_key, book, filters, expected):
    assert clients_of(api(INTERACTIONS, read_key, **filters)) == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"channel": "fax"},
        {"occurred_from": "2026-13-01"},
        {"occurred_to": "tomorrow"},
        {"updated_since": "2026-11-31T00:00:00Z"},
        {"updated_since": "0001-01-01T00:00:00+14:00"},
    ],
)
def test_a_bad_interaction_filter_is_a_400_naming_it(api, read_key, book, bad):
    response = api(INTERACTIONS, read_key, **bad)
    assert response.status_code == 400
    assert set(response.json()) == set(bad)


def test_interactions_updated_since_returns_only_later_changes(api, read_key, bank_a, book):
    later = timezone.now() + datetime.timedelta(seconds=5)
    with tenant_context(bank_a.tenant):
        Interaction.objects.filter(pk=book["interactions"]["C2"].pk).update(updated_at=later)
    assert clients_of(api(INTERACTIONS, read_key, updated_since=later.isoformat())) == {"C2"}


def test_interactions_are_cursor_paginated(api, read_key, book):
    first = api(INTERACTIONS, read_key, page_size=1).json()
    seen = [row["id"] for row in first["results"]]
    page = first
    while page["next"]:
        page = api(page["next"], read_key).json()
        seen += [row["id"] for row in page["results"]]
    assert seen == sorted(seen) and len(set(seen)) == 3


@pytest.mark.parametrize("path", ["abc", "99999999999999999999999", "0", "-1"])
def test_an_impossible_id_is_a_json_404(api, read_key, book, path):
    for base in (PLANNED, INTERACTIONS):
        response = api(f"{base}{path}/", read_key)
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}


# --- Query counts ------------------------------------------------------------------------


def _fill(bank, count: int) -> None:
    for _ in range(count):
        client = ClientFactory(tenant=bank.tenant, branch=bank.sub, owner_rm=bank.rm)
        holding = HoldingFactory(tenant=bank.tenant, client=client)
        PlannedContactFactory(
            tenant=bank.tenant,
            client=client,
            assigned_to=bank.rm,
            reason=PlannedContact.Reason.MATURITY,
            holding=holding,
        )
        InteractionFactory(tenant=bank.tenant, client=client, staff=bank.rm)


@pytest.mark.parametrize("rows", [5, 50])
@pytest.mark.parametrize("path", [PLANNED, INTERACTIONS])
def test_a_list_costs_the_same_queries_for_5_and_50_rows(
    api, read_key, bank_a, rows, path, django_assert_max_num_queries
):
    _fill(bank_a, rows)
    # One query for the page (client, RM and holding codes joined) + the token (lookup,
    # last use) and the request's transaction (savepoints): 7.
    with django_assert_max_num_queries(7 + PG_RLS_QUERIES):
        response = api(path, read_key, page_size=100)
    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("path", [PLANNED, INTERACTIONS])
def test_a_staff_members_list_does_not_grow_with_rows(login, bank_a, path):
    _fill(bank_a, 5)
    session = login(bank_a.rm)
    with CaptureQueriesContext(connection) as small:
        assert len(session.get(path).json()["results"]) == 5
    _fill(bank_a, 45)
    with CaptureQueriesContext(connection) as large:
        assert len(session.get(path).json()["results"]) == 50
    assert len(large) == len(small)


# --- Scope -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("rm", {"C1", "C3"}),  # own book + the team they are on
        ("advisor", {"C3"}),  # the team only
        ("supervisor", {"C1", "C3"}),  # the city branch and its sub-branch
        ("other_rm", {"C2"}),
        ("head", {"C1", "C2", "C3"}),
    ],
)
@pytest.mark.parametrize("path", [PLANNED, INTERACTIONS])
def test_staff_read_the_rows_of_the_clients_they_may_see(login, bank_a, book, role, path, expected):
    assert clients_of(login(getattr(bank_a, role)).get(path)) == expected


@pytest.mark.parametrize("kind", ["planned", "interactions"])
def test_a_row_outside_the_role_scope_is_a_404(login, bank_a, book, kind):
    path = PLANNED if kind == "planned" else INTERACTIONS
    url = f"{path}{book[kind]['C2'].pk}/"
    for staff in (bank_a.rm, bank_a.advisor, bank_a.supervisor):
        response = login(staff).get(url)
        assert response.status_code == 404 and set(response.json()) == {"detail"}
    assert login(bank_a.head).get(url).json()["client_external_id"] == "C2"


@pytest.mark.parametrize("path", [PLANNED, INTERACTIONS])
def test_another_banks_rows_are_never_listed_or_found(
    api, read_key, login, bank_a, bank_b, book, path
):
    factory = PlannedContactFactory if path == PLANNED else InteractionFactory
    theirs = factory(tenant=bank_b.tenant, client__external_id="B1")
    assert "B1" not in clients_of(api(path, read_key))
    assert clients_of(api(path, read_key, client="B1")) == set()
    for response in (
        api(f"{path}{theirs.pk}/", read_key),
        login(bank_a.head).get(f"{path}{theirs.pk}/"),
    ):
        assert response.status_code == 404 and set(response.json()) == {"detail"}


# --- Tokens and methods --------------------------------------------------------------


def test_no_token_is_a_401_and_a_bad_one_too(api, post, book):
    assert api(PLANNED).status_code == 401
    assert api(INTERACTIONS, "not-a-key").status_code == 401
    assert post({"client_external_id": "C1"}).status_code == 401


def test_a_token_without_the_read_scope_cannot_read(api, bank_a, book):
    _, write_only = api_token_create(tenant=bank_a.tenant, name="writer", scopes=["write"])
    assert api(PLANNED, write_only).status_code == 403
    assert api(INTERACTIONS, write_only).status_code == 403


def test_planned_contacts_are_read_only_and_interactions_are_never_changed(client, write_key, book):
    headers = {"HTTP_AUTHORIZATION": f"Token {write_key}"}
    planned = book["planned"]["C1"].pk
    interaction = book["interactions"]["C1"].pk
    assert client.post(PLANNED, {}, **headers).status_code == 405
    assert client.put(f"{PLANNED}{planned}/", {}, **headers).status_code == 405
    assert client.delete(f"{PLANNED}{planned}/", **headers).status_code == 405
    assert client.patch(f"{INTERACTIONS}{interaction}/", {}, **headers).status_code == 405
    assert client.delete(f"{INTERACTIONS}{interaction}/", **headers).status_code == 405


def test_the_schema_documents_both_endpoints_and_the_create(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    document = json.loads(schema.content)
    paths = document["paths"]
    for path in (
        "/api/v1/planned-contacts/",
        "/api/v1/planned-contacts/{id}/",
        "/api/v1/interactions/",
        "/api/v1/interactions/{id}/",
    ):
        assert path in paths, path
    create = paths["/api/v1/interactions/"]["post"]
    assert {"201", "200", "400", "403", "409"} <= set(create["responses"])
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    listed = {p["name"] for p in paths["/api/v1/planned-contacts/"]["get"]["parameters"]}
    assert {"updated_since", "branch_code", "rm_code", "tier", "due_from", "cursor"} <= listed
    listed = {p["name"] for p in paths["/api/v1/interactions/"]["get"]["parameters"]}
    assert {"updated_since", "branch_code", "rm_code", "tier", "occurred_to"} <= listed


# --- Logging an interaction ------------------------------------------------------------


def an_hour_ago() -> datetime.datetime:
    return (
        (timezone.now() - datetime.timedelta(hours=1)).astimezone(SHANGHAI).replace(microsecond=0)
    )


@pytest.fixture
def plan(bank_a, book):
    """C1's plan: every 90 days, last contacted long ago, due on 1 December 2026."""
    return ContactPlanFactory(
        tenant=bank_a.tenant,
        client=book["clients"]["C1"],
        cadence_days=90,
        last_contact_on=datetime.date(2026, 9, 1),
        next_due_on=datetime.date(2026, 12, 1),
    )


@pytest.fixture
def call(book):
    """A valid body: R1 called C1, answering C1's open planned contact."""
    return {
        "client_external_id": "C1",
        "rm_code": "R1",
        "channel": "phone",
        "occurred_at": an_hour_ago().isoformat(),
        "duration_minutes": 20,
        "summary": "电话沟通到期续作",
        "needs_found": ["preservation"],
        "next_step": "发送产品说明书",
        "planned_contact_id": book["planned"]["C1"].pk,
        "external_id": "CALL-1001",
    }


def snapshot(bank, book) -> tuple:
    """What a refused request must leave unchanged."""
    with tenant_context(bank.tenant):
        return (
            sorted(Interaction.objects.values_list("pk", flat=True)),
            sorted(PlannedContact.objects.values_list("pk", "status", "completed_at")),
            sorted(ContactPlan.objects.values_list("pk", "last_contact_on", "next_due_on")),
            AuditEntry.objects.filter(action="create").count(),
        )


def test_a_token_logs_an_interaction_that_completes_the_plan_and_moves_the_due_date(
    post, write_key, bank_a, book, plan, call
):
    response = post(call, write_key)
    assert response.status_code == 201, response.content
    row = response.json()
    assert response["Location"] == f"{INTERACTIONS}{row['id']}/"
    assert (row["client_external_id"], row["rm_code"], row["external_id"]) == (
        "C1",
        "R1",
        "CALL-1001",
    )
    assert (row["channel"], row["duration_minutes"]) == ("phone", 20)
    assert row["needs_found"] == ["preservation"]
    assert row["planned_contact_id"] == book["planned"]["C1"].pk
    assert datetime.datetime.fromisoformat(row["occurred_at"]) == datetime.datetime.fromisoformat(
        call["occurred_at"]
    )
    with tenant_context(bank_a.tenant):
        logged = Interaction.objects.get(pk=row["id"])
        assert (logged.staff_id, logged.summary) == (bank_a.rm.pk, "电话沟通到期续作")
        answered = PlannedContact.objects.get(pk=book["planned"]["C1"].pk)
        assert answered.status == PlannedContact.Status.DONE
        assert answered.completed_at is not None
        plan.refresh_from_db()
        contacted_on = datetime.datetime.fromisoformat(call["occurred_at"]).date()
        assert plan.last_contact_on == contacted_on
        assert plan.next_due_on == contacted_on + datetime.timedelta(days=90)
        audit = AuditEntry.objects.get(action="create", object_id=str(row["id"]))
        assert audit.actor_label == "token:call-centre"


def test_the_logged_interaction_is_then_read_like_any_other(post, api, write_key, book, call):
    created = post(call, write_key).json()
    assert api(f"{INTERACTIONS}{created['id']}/", write_key).json() == created
    assert clients_of(api(INTERACTIONS, write_key, external_id="CALL-1001")) == {"C1"}


def test_a_minimal_body_is_enough(post, write_key, book):
    body = {
        "client_external_id": "C2",
        "rm_code": "R2",
        "channel": "visit",
        "occurred_at": "2026-01-05T09:30:00Z",
        "summary": "拜访",
    }
    response = post(body, write_key)
    assert response.status_code == 201, response.content
    row = response.json()
    assert (row["external_id"], row["planned_contact_id"], row["needs_found"]) == (None, None, [])
    assert (row["next_step"], row["next_step_on"], row["duration_minutes"]) == ("", None, None)


def test_a_staff_member_logs_their_own_contact_without_naming_themselves(
    login, post, bank_a, book, plan, call
):
    del call["rm_code"]
    login(bank_a.rm)
    response = post(call)
    assert response.status_code == 201, response.content
    assert response.json()["rm_code"] == "R1"
    with tenant_context(bank_a.tenant):
        audit = AuditEntry.objects.get(action="create", object_id=str(response.json()["id"]))
        assert audit.actor_id == bank_a.rm.user_id


def test_an_advisor_logs_a_contact_with_a_client_of_their_team(login, post, bank_a, book):
    body = {
        "client_external_id": "C3",
        "channel": "wechat",
        "occurred_at": an_hour_ago().isoformat(),
        "summary": "产品答疑",
    }
    login(bank_a.advisor)
    response = post(body)
    assert response.status_code == 201, response.content
    assert response.json()["rm_code"] == "A1"


def test_a_read_only_token_cannot_log(post, read_key, bank_a, book, call):
    before = snapshot(bank_a, book)
    response = post(call, read_key)
    assert response.status_code == 403
    assert set(response.json()) == {"detail"}
    assert snapshot(bank_a, book) == before


def _with(**changes):
    def change(body):
        body = dict(body)
        for name, value in changes.items():
            if value is _MISSING:
                body.pop(name, None)
            else:
                body[name] = value
        return body

    return change


_MISSING = object()


# (id, change to the valid body, field named in the 400, part of its message).
REFUSALS = [
    ("no-channel", _with(channel=_MISSING), "channel", "required"),
    ("blank-channel", _with(channel=""), "channel", ""),
    ("unknown-channel", _with(channel="fax"), "channel", "fax"),
    ("no-occurred-at", _with(occurred_at=_MISSING), "occurred_at", "required"),
    ("future", _with(occurred_at="2999-01-01T10:00:00+08:00"), "occurred_at", ""),
    ("no-offset", _with(occurred_at="2026-01-05T10:00:00"), "occurred_at", "offset"),
    ("not-a-time", _with(occurred_at="yesterday"), "occurred_at", ""),
    ("year-1", _with(occurred_at="0001-01-01T00:00:00+08:00"), "occurred_at", ""),
    ("number-time", _with(occurred_at=1764000000), "occurred_at", ""),
    ("list-time", _with(occurred_at=["2026-01-05T10:00:00Z"]), "occurred_at", ""),
    ("no-summary", _with(summary=_MISSING), "summary", "required"),
    ("blank-summary", _with(summary="   "), "summary", "blank"),
    ("null-summary", _with(summary=None), "summary", "null"),
    ("nul-summary", _with(summary="a\x00b"), "summary", "Null"),
    ("huge-summary", _with(summary="长" * 10_001), "summary", "10000"),
    ("zero-minutes", _with(duration_minutes=0), "duration_minutes", "1"),
    ("day-long", _with(duration_minutes=1441), "duration_minutes", "1440"),
    ("text-minutes", _with(duration_minutes="twenty"), "duration_minutes", ""),
    ("bool-minutes", _with(duration_minutes=True), "duration_minutes", ""),
    ("fraction-minutes", _with(duration_minutes=2.5), "duration_minutes", ""),
    ("unknown-need", _with(needs_found=["lottery"]), "needs_found", "lottery"),
    ("need-not-list", _with(needs_found="growth"), "needs_found", "list"),
    ("past-next-step", _with(next_step_on="2020-01-01"), "next_step_on", ""),
    ("bad-next-step-date", _with(next_step_on="2026-02-30"), "next_step_on", ""),
    ("number-next-step-date", _with(next_step_on=20270101), "next_step_on", ""),
    ("long-next-step", _with(next_step="步" * 301), "next_step", "300"),
    ("unknown-plan", _with(planned_contact_id=987654321), "planned_contact_id", "No planned"),
    ("huge-plan", _with(planned_contact_id=2**70), "planned_contact_id", ""),
    ("text-plan", _with(planned_contact_id="one"), "planned_contact_id", ""),
    ("no-client", _with(client_external_id=_MISSING), "client_external_id", "required"),
    ("unknown-client", _with(client_external_id="NOPE"), "client_external_id", "No client"),
    ("list-client", _with(client_external_id=["C1"]), "client_external_id", ""),
    ("no-rm", _with(rm_code=_MISSING), "rm_code", "staff code"),
    ("unknown-rm", _with(rm_code="R404"), "rm_code", "No staff"),
    ("long-external-id", _with(external_id="x" * 65), "external_id", "64"),
]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [refusal[1:] for refusal in REFUSALS],
    ids=[refusal[0] for refusal in REFUSALS],
)
def test_a_bad_interaction_is_refused_with_a_message_and_nothing_written(
    post, write_key, bank_a, book, plan, call, change, field, message
):
    before = snapshot(bank_a, book)
    response = post(change(call), write_key)
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert snapshot(bank_a, book) == before


def test_a_planned_contact_of_another_client_is_refused(post, write_key, bank_a, book, plan, call):
    before = snapshot(bank_a, book)
    call["planned_contact_id"] = book["planned"]["C2"].pk
    response = post(call, write_key)
    assert response.status_code == 400
    assert "planned_contact_id" in response.json()
    assert snapshot(bank_a, book) == before


def test_a_closed_planned_contact_is_refused(post, write_key, bank_a, book, plan, call):
    before = snapshot(bank_a, book)
    call.update(client_external_id="C3", planned_contact_id=book["planned"]["C3"].pk)
    response = post(call, write_key)
    assert response.status_code == 400
    assert "planned_contact_id" in response.json()
    assert snapshot(bank_a, book) == before


def test_every_bad_reference_is_named_at_once(post, write_key, call):
    call.update(client_external_id="NOPE", rm_code="R404", planned_contact_id=987654321)
    response = post(call, write_key)
    assert response.status_code == 400
    assert set(response.json()) == {"client_external_id", "rm_code", "planned_contact_id"}


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        b"\xff\xfe\x00",
        "",
        '{"summary": NaN}',
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["broken", "not-utf8", "empty", "nan", "deeply-nested"],
)
def test_a_body_that_is_not_json_is_a_400(post, write_key, bank_a, book, body):
    before = snapshot(bank_a, book)
    response = post(body, write_key)
    assert response.status_code == 400
    assert set(response.json()) == {"detail"}
    assert snapshot(bank_a, book) == before


@pytest.mark.parametrize("body", ["[]", "null", "42", '"text"'])
def test_json_that_is_not_an_object_is_a_400(post, write_key, body):
    response = post(body, write_key)
    assert response.status_code == 400
    assert response.json()  # a message, under non_field_errors


def test_a_body_too_large_is_a_413(post, write_key, bank_a, book, call):
    call["summary"] = "长" * 100_000  # 300 KB of UTF-8
    response = post(call, write_key)
    assert response.status_code == 413
    assert set(response.json()) == {"detail"}


def test_another_banks_client_is_an_unknown_client(post, write_key, bank_a, bank_b, book, call):
    ClientFactory(tenant=bank_b.tenant, external_id="B1", branch=bank_b.sub)
    call.update(client_external_id="B1", planned_contact_id=None)
    response = post(call, write_key)
    assert response.status_code == 400
    assert response.json() == {
        "client_external_id": ["No client with this customer number in your bank."]
    }
    with tenant_context(bank_b.tenant):
        assert not Interaction.objects.exists()


def test_another_banks_staff_member_is_an_unknown_rm(post, write_key, bank_b, book, call):
    StaffFactory(tenant=bank_b.tenant, code="B-RM", branch=bank_b.sub)
    call["rm_code"] = "B-RM"
    response = post(call, write_key)
    assert response.status_code == 400
    assert response.json() == {"rm_code": ["No staff member with this code in your bank."]}


def test_another_banks_planned_contact_is_unknown(post, write_key, bank_b, book, call):
    theirs = PlannedContactFactory(tenant=bank_b.tenant)
    call["planned_contact_id"] = theirs.pk
    response = post(call, write_key)
    assert response.status_code == 400
    assert set(response.json()) == {"planned_contact_id"}


def test_an_inactive_staff_member_cannot_be_named(post, write_key, bank_a, book, call):
    StaffFactory(tenant=bank_a.tenant, code="GONE", branch=bank_a.sub, is_active=False)
    call["rm_code"] = "GONE"
    response = post(call, write_key)
    assert response.status_code == 400
    assert response.json() == {"rm_code": ["This staff member is no longer active."]}


def test_a_client_outside_the_staff_members_book_is_unknown_to_them(
    login, post, bank_a, book, plan, call
):
    before = snapshot(bank_a, book)
    call.update(client_external_id="C2", planned_contact_id=None)
    del call["rm_code"]
    login(bank_a.rm)
    response = post(call)
    assert response.status_code == 400
    assert response.json() == {
        "client_external_id": ["No client with this customer number among the clients you serve."]
    }
    assert snapshot(bank_a, book) == before


def test_a_planned_contact_outside_the_staff_members_book_is_unknown_to_them(
    login, post, bank_a, book, call
):
    call["planned_contact_id"] = book["planned"]["C2"].pk
    del call["rm_code"]
    login(bank_a.rm)
    response = post(call)
    assert response.status_code == 400
    assert set(response.json()) == {"planned_contact_id"}


def test_a_staff_member_cannot_log_in_a_colleagues_name(login, post, bank_a, book, call):
    call["rm_code"] = "R2"
    login(bank_a.rm)
    response = post(call)
    assert response.status_code == 400
    assert set(response.json()) == {"rm_code"}
    call["rm_code"] = "R1"  # their own code is fine
    assert post(call).status_code == 201


# --- external_id and Idempotency-Key --------------------------------------------------


def test_the_same_external_id_for_the_same_client_returns_the_logged_interaction(
    post, write_key, bank_a, book, call
):
    first = post(call, write_key)
    again = post({**call, "summary": "重复发送"}, write_key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    with tenant_context(bank_a.tenant):
        assert Interaction.objects.filter(external_id="CALL-1001").count() == 1


def test_an_external_id_logged_by_a_concurrent_request_returns_that_interaction(
    post, write_key, bank_a, book, call, monkeypatch
):
    """The other request commits between our check and the service's: the service
    refuses the duplicate and the answer is the interaction it logged."""
    from contact_plans import api as contact_plans_api

    theirs = InteractionFactory(
        tenant=bank_a.tenant, client=book["clients"]["C1"], staff=bank_a.rm, external_id="CALL-1001"
    )
    checked = contact_plans_api._logged_before
    calls = []

    def not_yet_the_first_time(**kwargs):
        calls.append(kwargs)
        return None if len(calls) == 1 else checked(**kwargs)

    monkeypatch.setattr(contact_plans_api, "_logged_before", not_yet_the_first_time)
    response = post(call, write_key)
    assert response.status_code == 200
    assert response.json()["id"] == theirs.pk
    with tenant_context(bank_a.tenant):
        assert Interaction.objects.filter(external_id="CALL-1001").count() == 1
        assert PlannedContact.objects.get(pk=book["planned"]["C1"].pk).is_open


def test_the_same_external_id_for_another_client_is_a_conflict(post, write_key, bank_a, book, call):
    post(call, write_key)
    before = snapshot(bank_a, book)
    response = post({**call, "client_external_id": "C2", "planned_contact_id": None}, write_key)
    assert response.status_code == 409
    assert set(response.json()) == {"external_id"}
    assert snapshot(bank_a, book) == before


def test_an_idempotent_replay_returns_the_first_response_and_logs_once(
    post, write_key, bank_a, book, call
):
    del call["external_id"]
    first = post(call, write_key, idempotency_key="log-1")
    again = post(call, write_key, idempotency_key="log-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    with tenant_context(bank_a.tenant):
        assert Interaction.objects.filter(summary=call["summary"]).count() == 1
        assert IdempotencyRecord.objects.filter(key="log-1").count() == 1


def test_the_same_idempotency_key_with_another_body_is_a_conflict(
    post, write_key, bank_a, book, call
):
    del call["external_id"]
    post(call, write_key, idempotency_key="log-2")
    response = post({**call, "summary": "另一次"}, write_key, idempotency_key="log-2")
    assert response.status_code == 409
    assert "Idempotency-Key" in response.json()["detail"]
    with tenant_context(bank_a.tenant):
        assert not Interaction.objects.filter(summary="另一次").exists()


def test_a_refused_request_does_not_use_up_its_idempotency_key(post, write_key, book, call):
    assert post({**call, "channel": "fax"}, write_key, idempotency_key="log-3").status_code == 400
    assert post(call, write_key, idempotency_key="log-3").status_code == 201


def test_a_colleague_cannot_replay_a_staff_members_key(login, post, bank_a, book, call):
    call.update(client_external_id="C3", planned_contact_id=None, external_id="")
    del call["rm_code"]
    login(bank_a.rm)
    assert post(call, idempotency_key="mine").status_code == 201
    login(bank_a.advisor)  # C3 is on the advisor's team too
    assert post(call, idempotency_key="mine").status_code == 409


def test_messages_are_chinese_unless_the_caller_asks_otherwise(post, write_key, book, call):
    del call["channel"]
    assert post(call, write_key, language=None).json()["channel"] == ["该字段是必填项。"]
    assert post(call, write_key).json()["channel"] == ["This field is required."]


@pytest.mark.parametrize("key", ["", " padded ", "x" * 256, "换行"])
def test_a_malformed_idempotency_key_is_refused(post, write_key, book, call, key):
    response = post(call, write_key, idempotency_key=key)
    assert response.status_code == 400
    assert set(response.json()) == {"detail"}
