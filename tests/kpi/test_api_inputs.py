"""The KPI inputs' API: /api/v1/surveys/ and /api/v1/complaints/ — reading (formats,
filters, cursor, scope) and batches of records (per-record errors by index, upsert by
external_id, Idempotency-Key, refusals, tenants, audit and constant query counts)."""

from __future__ import annotations

import datetime
import json

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from kpi.models import Complaint, SatisfactionSurvey
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    ComplaintFactory,
    SatisfactionSurveyFactory,
    StaffFactory,
)
from vipcrm.models import AuditEntry
from vipcrm.roles import Role
from vipcrm.services import api_token_create
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

SURVEYS = "/api/v1/surveys/"
COMPLAINTS = "/api/v1/complaints/"
DAY = datetime.timedelta(days=1)
# On PostgreSQL the request binds its transaction for Row-Level Security: no tenant on
# entry, the token's tenant once authenticated, none again on exit.
PG_RLS_QUERIES = 3 if connection.vendor == "postgresql" else 0
# A batch, whatever its size: the token, the request's savepoints, the bank's day, the
# clients, the staff, the stored rows of its keys, the new rows, the changed rows, the
# audit entry (in its own savepoint, where PostgreSQL binds and restores the tenant).
BATCH_QUERIES = 15 + (2 if connection.vendor == "postgresql" else 0)


def today() -> datetime.date:
    return timezone.localdate()


@pytest.fixture(autouse=True)
def english_messages():
    with translation.override("en"):
        yield


@pytest.fixture
def write_key(bank_a):
    return api_token_create(tenant=bank_a.tenant, name="survey-system", scopes=["read", "write"])[1]


@pytest.fixture
def clients(bank_a):
    return {
        "mine": ClientFactory(
            tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, external_id="C1"
        ),
        "theirs": ClientFactory(
            tenant=bank_a.tenant,
            branch=bank_a.other_sub,
            owner_rm=bank_a.other_rm,
            external_id="C2",
        ),
    }


@pytest.fixture
def post(client, english):
    def _post(path, body, key=None, **headers):
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        if key:
            extra["HTTP_AUTHORIZATION"] = f"Token {key}"
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return client.post(path, data, content_type="application/json", **extra)

    return _post


def survey(n: int, **fields) -> dict:
    return {
        "external_id": f"SV-{n}",
        "client_external_id": "C1",
        "rm_code": "R1",
        "score": 5,
        "surveyed_on": (today() - DAY).isoformat(),
        "comment": "满意",
        "channel": "phone",
        **fields,
    }


def complaint(n: int, **fields) -> dict:
    return {
        "external_id": f"CP-{n}",
        "client_external_id": "C1",
        "rm_code": "R1",
        "received_on": (today() - DAY).isoformat(),
        "category": "fees",
        "description": "手续费未提前告知",
        **fields,
    }


def stored_surveys(bank) -> dict:
    with tenant_context(bank.tenant):
        return {
            s.external_id: s
            for s in SatisfactionSurvey.objects.select_related("client", "staff").order_by("id")
        }


def stored_complaints(bank) -> dict:
    with tenant_context(bank.tenant):
        return {
            c.external_id: c
            for c in Complaint.objects.select_related("client", "staff").order_by("id")
        }


# --- Batches: applying ---------------------------------------------------------------------


def test_a_batch_of_surveys_is_created(post, write_key, bank_a, clients):
    response = post(SURVEYS, {"records": [survey(1), survey(2, score=3, comment=None)]}, write_key)
    assert response.status_code == 200
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0, "errors": []}
    rows = stored_surveys(bank_a)
    first, second = rows["SV-1"], rows["SV-2"]
    assert (first.client.external_id, first.staff.code, first.score, first.comment) == (
        "C1",
        "R1",
        5,
        "满意",
    )
    assert (first.surveyed_on, first.channel) == (today() - DAY, "phone")
    assert (second.score, second.comment) == (3, "")


def test_sending_the_same_batch_twice_changes_nothing(post, write_key, bank_a, clients):
    batch = {"records": [survey(1), survey(2)]}
    post(SURVEYS, batch, write_key)
    stamps = {k: s.updated_at for k, s in stored_surveys(bank_a).items()}
    again = post(SURVEYS, batch, write_key)
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 2, "errors": []}
    assert {k: s.updated_at for k, s in stored_surveys(bank_a).items()} == stamps


def test_a_known_external_id_is_updated_and_its_timestamp_moves(post, write_key, bank_a, clients):
    post(SURVEYS, {"records": [survey(1), survey(2)]}, write_key)
    before = stored_surveys(bank_a)["SV-1"]
    response = post(
        SURVEYS,
        {"records": [survey(1, score=2, client_external_id="C2", rm_code="R2"), survey(2)]},
        write_key,
    )
    assert response.json() == {"created": 0, "updated": 1, "unchanged": 1, "errors": []}
    after = stored_surveys(bank_a)["SV-1"]
    assert (after.pk, after.score, after.client.external_id, after.staff.code) == (
        before.pk,
        2,
        "C2",
        "R2",
    )
    assert after.updated_at > before.updated_at and after.created_at == before.created_at


def test_an_omitted_optional_field_keeps_its_value_and_null_clears_it(
    post, write_key, bank_a, clients
):
    post(SURVEYS, {"records": [survey(1)]}, write_key)
    partial = {k: v for k, v in survey(1).items() if k not in ("comment", "channel")}
    assert post(SURVEYS, {"records": [partial]}, write_key).json()["unchanged"] == 1
    cleared = post(SURVEYS, {"records": [survey(1, comment=None, channel=None)]}, write_key)
    assert cleared.json()["updated"] == 1
    row = stored_surveys(bank_a)["SV-1"]
    assert (row.comment, row.channel) == ("", "")


def test_the_same_external_id_twice_in_a_batch_applies_in_order(post, write_key, bank_a, clients):
    response = post(SURVEYS, {"records": [survey(1, score=1), survey(1, score=4)]}, write_key)
    assert response.json() == {"created": 1, "updated": 1, "unchanged": 0, "errors": []}
    assert stored_surveys(bank_a)["SV-1"].score == 4


def test_valid_records_apply_and_invalid_ones_are_reported_by_index(
    post, write_key, bank_a, bank_b, clients
):
    ClientFactory(tenant=bank_b.tenant, external_id="B-ONLY")
    records = [
        survey(0),
        survey(1, client_external_id="NOBODY"),
        survey(2, rm_code="A1"),  # an advisor is not rated
        survey(3, score=6),
        survey(4, score="5"),
        survey(5, surveyed_on=(today() + DAY).isoformat()),
        survey(6, surveyed_on="2026-02-30"),
        survey(7, channel="pigeon"),
        {k: v for k, v in survey(8).items() if k != "external_id"},
        "not a record",
        survey(10, client_external_id="B-ONLY"),
        survey(11, score=None),
        survey(12, comment="很" * 2001),
        survey(13, external_id=""),
        survey(14),
    ]
    response = post(SURVEYS, {"records": records}, write_key)
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 0, 0)
    errors = {e["index"]: (e["key"], e["errors"]) for e in body["errors"]}
    assert errors == {
        1: ("SV-1", {"client_external_id": ['Unknown client "NOBODY".']}),
        2: ("SV-2", {"rm_code": ['No relationship manager with staff code "A1".']}),
        3: ("SV-3", {"score": ["Must be a whole number from 1 (poor) to 5 (excellent)."]}),
        4: ("SV-4", {"score": ["Must be a whole number from 1 (poor) to 5 (excellent)."]}),
        5: ("SV-5", {"surveyed_on": ["May not be in the future."]}),
        6: ("SV-6", {"surveyed_on": ["Must be a real date as YYYY-MM-DD."]}),
        7: ("SV-7", {"channel": [errors[7][1]["channel"][0]]}),
        8: (None, {"external_id": ["This field is required."]}),
        9: (None, {"non_field_errors": ["A record must be a JSON object."]}),
        10: ("SV-10", {"client_external_id": ['Unknown client "B-ONLY".']}),
        11: ("SV-11", {"score": ["This field is required and may not be null."]}),
        12: ("SV-12", {"comment": ["At most 2000 characters."]}),
        13: ("", {"external_id": ["May not be blank."]}),
    }
    assert errors[7][1]["channel"][0].startswith("Must be one of: ")
    assert set(stored_surveys(bank_a)) == {"SV-0", "SV-14"}


def test_a_batch_of_complaints_opens_them_and_never_touches_their_resolution(
    post, write_key, bank_a, clients
):
    response = post(
        COMPLAINTS,
        {"records": [complaint(1), complaint(2, rm_code="A1", category="waiting")]},
        write_key,
    )
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0, "errors": []}
    rows = stored_complaints(bank_a)
    assert (rows["CP-1"].status, rows["CP-2"].staff.code, rows["CP-2"].category) == (
        "open",
        "A1",
        "waiting",
    )
    with tenant_context(bank_a.tenant):
        Complaint.objects.filter(external_id="CP-1").update(
            status="resolved", resolved_on=today(), resolution="已退费"
        )
    again = post(COMPLAINTS, {"records": [complaint(1, description="新的描述")]}, write_key)
    assert again.json()["updated"] == 1
    row = stored_complaints(bank_a)["CP-1"]
    assert (row.description, row.status, row.resolution) == ("新的描述", "resolved", "已退费")


def test_a_resolved_complaint_cannot_be_received_after_its_resolution(
    post, write_key, bank_a, clients
):
    ComplaintFactory(
        tenant=bank_a.tenant,
        client=clients["mine"],
        staff=bank_a.rm,
        external_id="CP-1",
        received_on=today() - DAY * 9,
        status="resolved",
        resolved_on=today() - DAY * 5,
        resolution="已处理",
    )
    response = post(
        COMPLAINTS, {"records": [complaint(1, received_on=today().isoformat())]}, write_key
    )
    assert response.json()["errors"] == [
        {
            "index": 0,
            "key": "CP-1",
            "errors": {
                "received_on": [
                    "May not be after the day the complaint was resolved "
                    f"({(today() - DAY * 5).isoformat()})."
                ]
            },
        }
    ]
    assert stored_complaints(bank_a)["CP-1"].received_on == today() - DAY * 9


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"category": "weather"}, "category", "Must be one of: "),
        ({"description": ""}, "description", "May not be blank."),
        ({"rm_code": "S1"}, "rm_code", 'No RM or advisor with staff code "S1".'),
        ({"received_on": 20261101}, "received_on", "Must be a real date as YYYY-MM-DD."),
    ],
)
def test_a_bad_complaint_field_is_reported_with_its_name(
    post, write_key, bank_a, clients, fields, field, message
):
    body = post(COMPLAINTS, {"records": [complaint(1, **fields)]}, write_key).json()
    assert body["created"] == 0
    (error,) = body["errors"]
    assert list(error["errors"]) == [field]
    assert error["errors"][field][0].startswith(message)
    assert stored_complaints(bank_a) == {}


def test_an_empty_batch_is_fine(post, write_key, bank_a):
    response = post(SURVEYS, {"records": []}, write_key)
    assert response.json() == {"created": 0, "updated": 0, "unchanged": 0, "errors": []}
    with tenant_context(bank_a.tenant):
        assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "The request body is not valid JSON."),
        ("[]", 'The body must be a JSON object with a "records" list.'),
        ({"survey": {}}, 'The body must be a JSON object with a "records" list.'),
        ({"records": {"a": 1}}, '"records" must be a list.'),
    ],
)
def test_a_body_that_is_not_a_batch_is_a_400(post, write_key, body, message):
    for path in (SURVEYS, COMPLAINTS):
        response = post(path, body, write_key)
        assert response.status_code == 400
        assert response.json() == {"detail": message}


def test_more_than_5000_records_are_refused_whole(post, write_key, bank_a, clients):
    response = post(SURVEYS, {"records": [survey(n) for n in range(5001)]}, write_key)
    assert response.status_code == 400
    assert "at most 5,000 records; this one has 5,001" in response.json()["detail"]
    assert stored_surveys(bank_a) == {}


# --- Batches: who, tenants, idempotency, audit, queries ------------------------------------


def test_a_read_only_token_staff_and_strangers_cannot_send_batches(
    post, client, read_key, bank_a, clients
):
    refused = post(SURVEYS, {"records": [survey(1)]}, read_key)
    assert refused.status_code == 403
    assert post(COMPLAINTS, {"records": [complaint(1)]}).status_code == 401
    client.force_login(bank_a.head.user)
    staff = post(SURVEYS, {"records": [survey(1)]})
    assert staff.status_code == 403
    assert "staff record surveys and complaints in the CRM's pages" in staff.json()["detail"]
    assert stored_surveys(bank_a) == {}


def test_a_record_never_lands_in_another_tenant(post, write_key, bank_a, bank_b, clients):
    ClientFactory(tenant=bank_b.tenant, external_id="C1", owner_rm=bank_b.rm)
    post(SURVEYS, {"records": [survey(1)]}, write_key)
    assert set(stored_surveys(bank_a)) == {"SV-1"}
    assert stored_surveys(bank_b) == {}


def test_an_idempotency_key_replays_the_first_response_and_applies_nothing(
    post, write_key, bank_a, clients
):
    batch = {"records": [survey(1)]}
    first = post(SURVEYS, batch, write_key, **{"Idempotency-Key": "batch-1"})
    with tenant_context(bank_a.tenant):
        SatisfactionSurvey.objects.all().delete()
    again = post(SURVEYS, batch, write_key, **{"Idempotency-Key": "batch-1"})
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert stored_surveys(bank_a) == {}
    conflict = post(SURVEYS, {"records": [survey(2)]}, write_key, **{"Idempotency-Key": "batch-1"})
    assert conflict.status_code == 409
    bad_key = post(SURVEYS, batch, write_key, **{"Idempotency-Key": " spaced "})
    assert bad_key.status_code == 400


def test_a_batch_that_collides_with_a_concurrent_one_is_a_409_and_applies_nothing(
    post, write_key, bank_a, clients, monkeypatch
):
    from kpi import inputs

    real = inputs.rows_upsert

    def collide(**kwargs):
        if kwargs["rows"] and "id" in kwargs["rows"][0]:
            raise IntegrityError("duplicate key value violates unique constraint")
        return real(**kwargs)

    post(SURVEYS, {"records": [survey(1)]}, write_key)
    monkeypatch.setattr(inputs, "rows_upsert", collide)
    response = post(SURVEYS, {"records": [survey(1, score=1), survey(2)]}, write_key)
    assert response.status_code == 409
    assert "send it again" in response.json()["detail"]
    assert {k: s.score for k, s in stored_surveys(bank_a).items()} == {"SV-1": 5}


def test_a_batch_is_audited_once_with_what_it_wrote(post, write_key, bank_a, clients):
    post(SURVEYS, {"records": [survey(1), survey(2), survey(3, score=9)]}, write_key)
    post(SURVEYS, {"records": [survey(1), survey(2)]}, write_key)  # unchanged: no entry
    with tenant_context(bank_a.tenant):
        (entry,) = AuditEntry.objects.all()
    assert (entry.action, entry.actor_label) == ("create", "token:survey-system")
    assert entry.detail == {
        "what": "surveys",
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "external_ids": ["SV-1", "SV-2"],
    }


@pytest.mark.parametrize(("path", "record"), [(SURVEYS, survey), (COMPLAINTS, complaint)])
def test_a_batch_costs_the_same_queries_for_10_or_1000_records(
    post, write_key, bank_a, path, record, django_assert_max_num_queries
):
    for n in range(10):
        ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, external_id=f"K{n}")
    batch = {"records": [record(n, client_external_id=f"K{n % 10}") for n in range(1000)]}
    small = {"records": [record(n + 5000, client_external_id=f"K{n}") for n in range(10)]}
    post(path, {"records": []}, write_key)  # the token's first use is recorded once
    with django_assert_max_num_queries(BATCH_QUERIES + PG_RLS_QUERIES) as ten:
        assert post(path, small, write_key).json()["created"] == 10
    with django_assert_max_num_queries(BATCH_QUERIES + PG_RLS_QUERIES) as thousand:
        assert post(path, batch, write_key).json()["created"] == 1000
    assert len(ten.captured_queries) == len(thousand.captured_queries)
    change = {"score": 1} if path == SURVEYS else {"description": "改"}
    changed = {"records": [{**r, **change} for r in batch["records"]]}
    with django_assert_max_num_queries(len(thousand.captured_queries)):
        assert post(path, changed, write_key).json()["updated"] == 1000


# --- Reading ---------------------------------------------------------------------------------


@pytest.fixture
def feedback(bank_a, clients):
    team = ClientFactory(tenant=bank_a.tenant, branch=bank_a.city, external_id="C3")
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=team, staff=bank_a.advisor)
    return {
        "s1": SatisfactionSurveyFactory(
            tenant=bank_a.tenant,
            client=clients["mine"],
            staff=bank_a.rm,
            score=5,
            surveyed_on=datetime.date(2026, 11, 3),
            external_id="EXT-1",
        ),
        "s2": SatisfactionSurveyFactory(
            tenant=bank_a.tenant,
            client=clients["theirs"],
            staff=bank_a.other_rm,
            score=2,
            surveyed_on=datetime.date(2026, 9, 30),
        ),
        "c1": ComplaintFactory(
            tenant=bank_a.tenant,
            client=team,
            staff=bank_a.advisor,
            received_on=datetime.date(2026, 11, 12),
        ),
    }


def test_surveys_read_with_the_codes_that_join_them(api, read_key, feedback):
    response = api(SURVEYS, read_key)
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()["results"]}
    first = rows[feedback["s1"].pk]
    assert first == {
        "id": feedback["s1"].pk,
        "external_id": "EXT-1",
        "client_external_id": "C1",
        "rm_code": "R1",
        "branch_code": "BJ01",
        "score": 5,
        "surveyed_on": "2026-11-03",
        "channel": "",
        "comment": "",
        "created_at": first["created_at"],
        "updated_at": first["updated_at"],
    }
    assert rows[feedback["s2"].pk]["external_id"] is None


def test_complaints_read_with_their_status(api, read_key, feedback):
    (row,) = api(COMPLAINTS, read_key).json()["results"]
    assert (row["client_external_id"], row["rm_code"], row["status"], row["resolved_on"]) == (
        "C3",
        "A1",
        "open",
        None,
    )
    detail = api(f"{COMPLAINTS}{feedback['c1'].pk}/", read_key)
    assert detail.status_code == 200 and detail.json()["category"] == "waiting"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"rm_code": "R2"}, {"s2"}),
        ({"branch_code": "BJ01"}, {"s1"}),
        ({"client": "C2"}, {"s2"}),
        ({"period": "2026-11"}, {"s1"}),
        ({"period": "2026-Q3"}, {"s2"}),
        ({"period": "2026"}, {"s1", "s2"}),
        ({"score": "2"}, {"s2"}),
        ({"external_id": "EXT-1"}, {"s1"}),
        ({"updated_since": "2000-01-01T00:00:00+08:00"}, {"s1", "s2"}),
        ({"updated_since": "2999-01-01T00:00:00+08:00"}, set()),
    ],
)
def test_the_survey_filters(api, read_key, feedback, params, expected):
    response = api(SURVEYS, read_key, **params)
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {feedback[name].pk for name in expected}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "2026-13"}, "period"),
        ({"period": "Q4"}, "period"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"score": "many"}, "score"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, read_key, feedback, params, field):
    response = api(SURVEYS, read_key, **params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_the_complaint_filters(api, read_key, feedback):
    assert len(api(COMPLAINTS, read_key, status="open").json()["results"]) == 1
    assert api(COMPLAINTS, read_key, status="resolved").json()["results"] == []
    assert api(COMPLAINTS, read_key, period="2026-10").json()["results"] == []
    assert api(COMPLAINTS, read_key, status="closed").status_code == 400


def test_staff_read_the_surveys_of_the_clients_they_see(client, bank_a, feedback):
    client.force_login(bank_a.rm.user)
    ids = {row["id"] for row in client.get(SURVEYS).json()["results"]}
    assert ids == {feedback["s1"].pk}
    assert client.get(f"{SURVEYS}{feedback['s2'].pk}/").status_code == 404
    client.force_login(bank_a.advisor.user)
    assert [row["id"] for row in client.get(COMPLAINTS).json()["results"]] == [feedback["c1"].pk]


def test_another_banks_rows_are_not_found(api, bank_a, bank_b):
    elsewhere = SatisfactionSurveyFactory(tenant=bank_b.tenant)
    key = api_token_create(tenant=bank_a.tenant, name="probe", scopes=["read"])[1]
    assert api(f"{SURVEYS}{elsewhere.pk}/", key).status_code == 404
    assert api(SURVEYS, key).json()["results"] == []


def test_the_cursor_pages_through_the_surveys(api, read_key, bank_a, clients):
    for n in range(5):
        SatisfactionSurveyFactory(
            tenant=bank_a.tenant, client=clients["mine"], staff=bank_a.rm, score=n + 1
        )
    first = api(SURVEYS, read_key, page_size=3).json()
    assert len(first["results"]) == 3 and first["next"]
    second = api(first["next"].split("testserver")[1], read_key).json()
    assert len(second["results"]) == 2 and second["next"] is None


def test_a_page_costs_the_same_queries_for_few_or_many_rows(
    api, read_key, bank_a, clients, django_assert_max_num_queries
):
    SatisfactionSurveyFactory(tenant=bank_a.tenant, client=clients["mine"], staff=bank_a.rm)
    ComplaintFactory(tenant=bank_a.tenant, client=clients["theirs"], staff=bank_a.rm)
    api(SURVEYS, read_key)  # the token's first use is recorded once
    few = {}
    for path in (SURVEYS, COMPLAINTS):
        with CaptureQueriesContext(connection) as queries:
            api(path, read_key)
        few[path] = len(queries)
    for _n in range(30):
        staff = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM)
        SatisfactionSurveyFactory(tenant=bank_a.tenant, client=clients["mine"], staff=staff)
        ComplaintFactory(tenant=bank_a.tenant, client=clients["theirs"], staff=staff)
    for path in (SURVEYS, COMPLAINTS):
        with django_assert_max_num_queries(few[path]):
            assert len(api(path, read_key).json()["results"]) == 31


def test_the_schema_documents_both_endpoints_and_their_batches(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    document = json.loads(schema.content)
    for path in (SURVEYS, COMPLAINTS):
        assert {"get", "post"} <= set(document["paths"][path])
    components = document["components"]["schemas"]
    assert {"SurveyRecord", "ComplaintRecord", "Survey", "Complaint"} <= set(components)
