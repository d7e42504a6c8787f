"""The sales-pipeline API: /api/v1/opportunities/ (shared/spec/sync-api.md) — formats,
filters, cursor, scope, query counts, the checklist, and moving and losing an opportunity
with every refusal."""

import datetime
import json
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from sales_pipeline import services
from sales_pipeline.models import Opportunity, SaleCredit, Step, StepEntry
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    InteractionFactory,
    OpportunityAdvisorFactory,
    OpportunityFactory,
    OpportunityProductFactory,
    PlannedContactFactory,
    ProductFactory,
    ProposalFactory,
    ProposalLineFactory,
    ReferralFactory,
    SaleCreditFactory,
    StepEntryFactory,
    TierFactory,
)
from vipcrm.models import AuditEntry
from vipcrm.services import api_token_create
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

OPPORTUNITIES = "/api/v1/opportunities/"
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
# On PostgreSQL the request binds its transaction for Row-Level Security: no tenant on
# entry, the token's tenant once authenticated, none again on exit.
PG_RLS_QUERIES = 3 if connection.vendor == "postgresql" else 0


def at(day: int, hour: int = 10, minute: int = 0, month: int = 11) -> datetime.datetime:
    return datetime.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def write_key(bank_a):
    return api_token_create(tenant=bank_a.tenant, name="crm-bridge", scopes=["read", "write"])[1]


@pytest.fixture
def pipeline(bank_a):
    """Three opportunities of bank A, one per client.

    O1: C1 (RM R1's Gold client in BJ01), a maturity opportunity at step 2, created on
        1 November.
    O2: C2 (RM R2's Potential client in SH01), a referral won at 23:30 on 20 November
        (the 20th in Shanghai, the 20th in UTC too), now at step 4, with its history,
        proposals, credits and a referral.
    O3: C3 (no owner, in the city branch BJ; R1 and advisor A1 are its team), a walk-in
        lost at step 1 with advisor A1 on it, created on 25 November at 23:30 (the 25th
        in Shanghai, the 25th at 15:30 in UTC).
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
    wealth = ProductFactory(tenant=tenant, code="WM-01", risk_level="R2")
    fund = ProductFactory(tenant=tenant, code="FD-07", category="fund", risk_level="R3")

    o1 = OpportunityFactory(
        tenant=tenant,
        client=c1,
        title="理财到期续作",
        source=Opportunity.Source.MATURITY,
        step=Step.CONTACT,
        step_entered_at=at(3),
        expected_amount_cny=Decimal("800000.00"),
    )
    OpportunityProductFactory(tenant=tenant, opportunity=o1, product=wealth)
    OpportunityProductFactory(tenant=tenant, opportunity=o1, product=fund)
    StepEntryFactory(tenant=tenant, opportunity=o1, step=1, entered_at=at(1), left_at=at(3))
    StepEntryFactory(tenant=tenant, opportunity=o1, step=2, entered_at=at(3))

    o2 = OpportunityFactory(
        tenant=tenant,
        client=c2,
        title="转介绍配置",
        source=Opportunity.Source.REFERRAL,
        step=Step.FOLLOW_UP,
        step_entered_at=at(20, 23, 30),
        status=Opportunity.Status.WON,
        expected_amount_cny=Decimal("250000.00"),
        won_amount_cny=Decimal("300000.00"),
        won_at=at(20, 23, 30),
    )
    for step, entered, left in [
        (1, at(5), at(8)),
        (2, at(8), at(12)),
        (3, at(12), at(20, 23, 30)),
        (4, at(20, 23, 30), None),
    ]:
        StepEntryFactory(
            tenant=tenant,
            opportunity=o2,
            step=step,
            entered_at=entered,
            left_at=left,
            entered_by=bank_a.other_rm,
        )
    ProposalFactory(
        tenant=tenant, opportunity=o2, status="superseded", risk_level="C3", note="初版"
    )
    accepted = ProposalFactory(
        tenant=tenant,
        opportunity=o2,
        status="accepted",
        risk_level="C4",
        risk_assessed_on=datetime.date(2026, 6, 1),
        created_by=bank_a.other_rm,
        accepted_at=at(20, 23, 30),
    )
    ProposalLineFactory(
        tenant=tenant,
        proposal=accepted,
        product=fund,
        amount_cny=Decimal("200000.00"),
        recording_ref="SR-2026-001",
    )
    ProposalLineFactory(
        tenant=tenant, proposal=accepted, product=wealth, amount_cny=Decimal("100000.00")
    )
    SaleCreditFactory(
        tenant=tenant,
        opportunity=o2,
        staff=bank_a.other_rm,
        share_percent=Decimal("70.00"),
        amount_cny=Decimal("210000.00"),
    )
    SaleCreditFactory(
        tenant=tenant,
        opportunity=o2,
        staff=bank_a.rm,
        role="secondary",
        share_percent=Decimal("30.00"),
        amount_cny=Decimal("90000.00"),
    )
    prospect = ClientFactory(
        tenant=tenant,
        external_id="PROSPECT-0a1b2c3d",
        branch=c2.branch,
        owner_rm=bank_a.other_rm,
        referrer=c2,
    )
    prospect_opportunity = OpportunityFactory(
        tenant=tenant, client=prospect, source=Opportunity.Source.REFERRAL
    )
    ReferralFactory(
        tenant=tenant,
        referrer=c2,
        prospect=prospect,
        opportunity=o2,
        prospect_opportunity=prospect_opportunity,
        credited_to=bank_a.other_rm,
        note="客户的大学同学",
    )

    o3 = OpportunityFactory(
        tenant=tenant,
        client=c3,
        title="到店咨询",
        source=Opportunity.Source.WALK_IN,
        step=Step.PLAN,
        status=Opportunity.Status.LOST,
        lost_reason=Opportunity.LostReason.DECLINED,
        lost_note="暂无资金",
        lost_at=at(27),
        expected_amount_cny=None,
    )
    OpportunityAdvisorFactory(tenant=tenant, opportunity=o3, staff=bank_a.advisor)
    with tenant_context(tenant):
        Opportunity.objects.filter(pk=o1.pk).update(created_at=at(1))
        Opportunity.objects.filter(pk=o2.pk).update(created_at=at(5))
        Opportunity.objects.filter(pk=o3.pk).update(created_at=at(25, 23, 30))
        # The prospect's opportunity is no part of the three: it lies outside every filter.
        Opportunity.objects.filter(pk=prospect_opportunity.pk).update(
            created_at=at(1, month=10), updated_at=at(1, month=10)
        )
    return {"O1": o1, "O2": o2, "O3": o3, "prospect": prospect_opportunity}


def named(pipeline, response) -> set[str]:
    """The fixture's names of the opportunities listed (the prospect's is "prospect")."""
    assert response.status_code == 200, response.content
    names = {opportunity.pk: name for name, opportunity in pipeline.items()}
    return {names[row["id"]] for row in response.json()["results"]}


def the_three(pipeline, response) -> set[str]:
    return named(pipeline, response) - {"prospect"}


# --- Reading --------------------------------------------------------------------------


def test_an_opportunity_carries_joinable_codes_and_contract_formats(api, read_key, pipeline):
    (row,) = api(OPPORTUNITIES, read_key, client="C2").json()["results"]
    assert row["id"] == pipeline["O2"].pk
    assert (row["client_external_id"], row["rm_code"], row["title"]) == ("C2", "R2", "转介绍配置")
    assert (row["step"], row["status"], row["source"]) == (4, "won", "referral")
    assert (row["expected_amount_cny"], row["won_amount_cny"]) == ("250000.00", "300000.00")
    assert datetime.datetime.fromisoformat(row["won_at"]) == at(20, 23, 30)
    assert datetime.datetime.fromisoformat(row["step_entered_at"]) == at(20, 23, 30)
    assert (row["lost_reason"], row["lost_note"], row["lost_at"]) == ("", "", None)
    assert (row["completed_at"], row["parent_id"]) == (None, None)
    assert (row["advisor_codes"], row["product_codes"]) == ([], [])
    for stamp in ("created_at", "updated_at"):
        assert datetime.datetime.fromisoformat(row[stamp]).utcoffset() is not None


def test_an_opportunity_lists_its_advisors_and_products_by_code(api, read_key, pipeline):
    rows = {
        row["client_external_id"]: row for row in api(OPPORTUNITIES, read_key).json()["results"]
    }
    assert rows["C1"]["product_codes"] == ["FD-07", "WM-01"]
    assert rows["C3"]["advisor_codes"] == ["A1"]
    assert rows["C3"]["rm_code"] is None and rows["C3"]["expected_amount_cny"] is None
    assert (rows["C3"]["status"], rows["C3"]["lost_reason"], rows["C3"]["lost_note"]) == (
        "lost",
        "declined",
        "暂无资金",
    )
    assert datetime.datetime.fromisoformat(rows["C3"]["lost_at"]) == at(27)


def test_the_step_label_is_in_the_language_asked_for(client, read_key, pipeline):
    auth = {"HTTP_AUTHORIZATION": f"Token {read_key}"}
    url = f"{OPPORTUNITIES}{pipeline['O1'].pk}/"
    with translation.override("zh-hans"):
        chinese = str(Step.CONTACT.label)  # 联系客户和评估需求 once translated
    assert client.get(url, **auth).json()["step_label"] == chinese
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en", **auth).json()
    assert english["step_label"] == "Contact & assess needs"


def test_the_detail_adds_history_proposals_credits_and_referrals(api, read_key, pipeline):
    o2 = pipeline["O2"]
    detail = api(f"{OPPORTUNITIES}{o2.pk}/", read_key).json()
    assert detail["id"] == o2.pk and detail["client_external_id"] == "C2"
    history = detail["step_history"]
    assert [entry["step"] for entry in history] == [1, 2, 3, 4]
    assert {entry["entered_by_code"] for entry in history} == {"R2"}
    assert datetime.datetime.fromisoformat(history[2]["entered_at"]) == at(12)
    assert datetime.datetime.fromisoformat(history[2]["left_at"]) == at(20, 23, 30)
    assert history[3]["left_at"] is None

    accepted, superseded = detail["proposals"]  # newest first
    assert (accepted["status"], superseded["status"]) == ("accepted", "superseded")
    assert (accepted["risk_level"], accepted["risk_assessed_on"]) == ("C4", "2026-06-01")
    assert accepted["proposed_by_code"] == "R2" and superseded["proposed_by_code"] is None
    assert accepted["lines"] == [
        {"product_code": "FD-07", "amount_cny": "200000.00", "recording_ref": "SR-2026-001"},
        {"product_code": "WM-01", "amount_cny": "100000.00", "recording_ref": ""},
    ]
    assert (superseded["note"], superseded["lines"]) == ("初版", [])

    assert detail["credits"] == [
        {
            "staff_code": "R2",
            "role": "owner",
            "share_percent": "70.00",
            "amount_cny": "210000.00",
            "credited_on": "2026-11-20",
        },
        {
            "staff_code": "R1",
            "role": "secondary",
            "share_percent": "30.00",
            "amount_cny": "90000.00",
            "credited_on": "2026-11-20",
        },
    ]
    (referral,) = detail["referrals"]
    assert referral["prospect_external_id"] == "PROSPECT-0a1b2c3d"
    assert referral["prospect_opportunity_id"] == pipeline["prospect"].pk
    assert (referral["credited_to_code"], referral["received_by_code"]) == ("R2", "R2")
    assert referral["note"] == "客户的大学同学"
    assert (detail["planned_contact_id"], detail["interaction_id"]) == (None, None)
    assert detail["holding_external_id"] is None


def test_the_detail_of_a_fresh_opportunity_has_empty_collections(api, read_key, pipeline):
    detail = api(f"{OPPORTUNITIES}{pipeline['O3'].pk}/", read_key).json()
    assert (detail["proposals"], detail["credits"], detail["referrals"]) == ([], [], [])
    assert detail["step_history"] == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"branch_code": "BJ01"}, {"O1"}),
        ({"branch_code": "BJ"}, {"O3"}),
        ({"rm_code": "R2"}, {"O2"}),
        ({"rm_code": "R1"}, {"O1"}),  # the owner, not the credited secondary RM
        ({"tier": "GOLD"}, {"O1"}),
        ({"tier": "POT"}, {"O2"}),
        ({"tier": "NOPE"}, set()),
        ({"client": "C3"}, {"O3"}),
        ({"status": "open"}, {"O1"}),
        ({"status": "won"}, {"O2"}),
        ({"status": "lost"}, {"O3"}),
        ({"step": "2"}, {"O1"}),
        ({"step": "4"}, {"O2"}),
        ({"step": "5"}, set()),
        ({"source": "maturity"}, {"O1"}),
        ({"source": "walk_in"}, {"O3"}),
        # Days are the bank's (Asia/Shanghai): 23:30 on the 25th is on the 25th.
        ({"created_from": "2026-11-25"}, {"O3"}),
        ({"created_to": "2026-11-24"}, {"O1", "O2"}),
        ({"created_to": "2026-11-25"}, {"O1", "O2", "O3"}),
        ({"created_from": "2026-11-02", "created_to": "2026-11-05"}, {"O2"}),
        ({"created_from": "0001-01-01", "created_to": "9999-12-31"}, {"O1", "O2", "O3"}),
        ({"won_from": "2026-11-20"}, {"O2"}),
        ({"won_from": "2026-11-21"}, set()),
        ({"won_to": "2026-11-20"}, {"O2"}),
        ({"won_to": "2026-11-19"}, set()),
        ({"rm_code": "R2", "status": "won", "step": "4"}, {"O2"}),
        ({"rm_code": "R2", "status": "open"}, set()),
    ],
)
def test_opportunities_filter(api, read_key, pipeline, filters, expected):
    assert the_three(pipeline, api(OPPORTUNITIES, read_key, **filters)) == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "maybe"},
        {"step": "6"},
        {"step": "two"},
        {"source": "lottery"},
        {"created_from": "27/11/2026"},
        {"created_to": "tomorrow"},
        {"won_from": "2026-13-01"},
        {"won_to": "2026-02-30"},
        {"updated_since": "yesterday"},
        {"updated_since": "2026-11-31T00:00:00Z"},
        {"updated_since": "0001-01-01T00:00:00+08:00"},
        {"client": "C1\x00"},
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, read_key, pipeline, bad):
    response = api(OPPORTUNITIES, read_key, **bad)
    assert response.status_code == 400
    assert set(response.json()) == set(bad)


def test_updated_since_returns_only_later_changes(api, read_key, bank_a, pipeline):
    later = timezone.now() + datetime.timedelta(seconds=5)
    with tenant_context(bank_a.tenant):
        Opportunity.objects.filter(pk=pipeline["O3"].pk).update(updated_at=later)
    assert named(pipeline, api(OPPORTUNITIES, read_key, updated_since=later.isoformat())) == {"O3"}


def test_opportunities_are_cursor_paginated(api, read_key, pipeline):
    first = api(OPPORTUNITIES, read_key, page_size=3).json()
    assert len(first["results"]) == 3 and "cursor=" in first["next"]
    second = api(first["next"], read_key).json()
    assert len(second["results"]) == 1 and second["next"] is None
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 4


@pytest.mark.parametrize("path", ["abc", "99999999999999999999999", "0", "-1"])
def test_an_impossible_id_is_a_json_404(api, read_key, pipeline, path):
    for suffix in ("", "move/", "lose/"):
        response = api(f"{OPPORTUNITIES}{path}/{suffix}", read_key)
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}


# --- Query counts ------------------------------------------------------------------------


def _fill(bank, count: int) -> None:
    """``count`` opportunities of R1's clients, each with an advisor and two products."""
    for _ in range(count):
        client = ClientFactory(tenant=bank.tenant, branch=bank.sub, owner_rm=bank.rm)
        ClientTeamMemberFactory(tenant=bank.tenant, client=client, staff=bank.advisor)
        opportunity = OpportunityFactory(tenant=bank.tenant, client=client)
        OpportunityAdvisorFactory(tenant=bank.tenant, opportunity=opportunity, staff=bank.advisor)
        OpportunityProductFactory(tenant=bank.tenant, opportunity=opportunity)
        OpportunityProductFactory(tenant=bank.tenant, opportunity=opportunity)


@pytest.mark.parametrize("rows", [5, 50])
def test_a_page_costs_the_same_queries_for_5_and_50_rows(
    api, read_key, bank_a, rows, django_assert_max_num_queries
):
    _fill(bank_a, rows)
    # The page (client, owner joined) + advisors + products, and the token (lookup, last
    # use) and the request's transaction (savepoints): 9.
    with django_assert_max_num_queries(9 + PG_RLS_QUERIES):
        response = api(OPPORTUNITIES, read_key, page_size=100)
    rows_read = response.json()["results"]
    assert len(rows_read) == rows
    assert all(
        len(row["product_codes"]) == 2 and row["advisor_codes"] == ["A1"] for row in rows_read
    )


def test_a_staff_members_page_does_not_grow_with_rows(login, bank_a):
    _fill(bank_a, 5)
    session = login(bank_a.rm)
    with CaptureQueriesContext(connection) as small:
        assert len(session.get(OPPORTUNITIES).json()["results"]) == 5
    _fill(bank_a, 45)
    with CaptureQueriesContext(connection) as large:
        assert len(session.get(OPPORTUNITIES).json()["results"]) == 50
    assert len(large) == len(small)


def test_the_detail_costs_the_same_queries_however_much_it_holds(
    read_key, client, bank_a, pipeline
):
    o2 = pipeline["O2"]
    url = f"{OPPORTUNITIES}{o2.pk}/"
    auth = {"HTTP_AUTHORIZATION": f"Token {read_key}"}
    client.get(url, **auth)  # the token's first use is recorded once, not measured
    with CaptureQueriesContext(connection) as before:
        client.get(url, **auth)
    for _ in range(3):
        proposal = ProposalFactory(tenant=bank_a.tenant, opportunity=o2, created_by=bank_a.rm)
        ProposalLineFactory.create_batch(2, tenant=bank_a.tenant, proposal=proposal)
        SaleCreditFactory(tenant=bank_a.tenant, opportunity=o2)
        ReferralFactory(tenant=bank_a.tenant, referrer=o2.client, opportunity=o2)
        OpportunityAdvisorFactory(tenant=bank_a.tenant, opportunity=o2)
        OpportunityProductFactory(tenant=bank_a.tenant, opportunity=o2)
    with CaptureQueriesContext(connection) as after:
        detail = client.get(url, **auth).json()
    assert (len(detail["proposals"]), len(detail["referrals"])) == (5, 4)
    assert len(after) == len(before)


# --- Scope -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("rm", {"O1", "O3"}),  # own clients + the team they are on
        ("advisor", {"O3"}),  # the team only
        ("supervisor", {"O1", "O3"}),  # the city branch and its sub-branch
        ("other_rm", {"O2", "prospect"}),  # the prospect's opportunity is theirs too
        ("head", {"O1", "O2", "O3", "prospect"}),
    ],
)
def test_staff_read_the_opportunities_they_may_see(login, bank_a, pipeline, role, expected):
    assert named(pipeline, login(getattr(bank_a, role)).get(OPPORTUNITIES)) == expected


@pytest.mark.parametrize("suffix", ["", "move/", "lose/"])
def test_an_opportunity_outside_the_role_scope_is_a_404(login, bank_a, pipeline, suffix):
    url = f"{OPPORTUNITIES}{pipeline['O2'].pk}/{suffix}"
    for staff in (bank_a.rm, bank_a.advisor, bank_a.supervisor):
        session = login(staff)
        responses = [session.get(url)]
        if suffix:  # the detail takes no POST (405)
            responses.append(session.post(url, {"to_step": 5}, "application/json"))
        for response in responses:
            assert response.status_code == 404 and set(response.json()) == {"detail"}
    assert login(bank_a.head).get(url).json()["id"] == pipeline["O2"].pk


def test_another_banks_opportunities_are_never_listed_or_found(
    api, read_key, write_key, client, login, bank_a, bank_b, pipeline
):
    theirs = OpportunityFactory(tenant=bank_b.tenant, client__external_id="B1")
    assert "B1" not in {
        row["client_external_id"] for row in api(OPPORTUNITIES, read_key).json()["results"]
    }
    assert api(OPPORTUNITIES, read_key, client="B1").json()["results"] == []
    for suffix, body in [("", None), ("move/", {"to_step": 2}), ("lose/", {"reason": "declined"})]:
        url = f"{OPPORTUNITIES}{theirs.pk}/{suffix}"
        responses = [api(url, read_key), login(bank_a.head).get(url)]
        if body is not None:
            # 404 whatever the token's scopes and the body: its existence is not told.
            for key in (write_key, read_key):
                responses.append(
                    client.post(
                        url,
                        json.dumps(body),
                        "application/json",
                        HTTP_AUTHORIZATION=f"Token {key}",
                    )
                )
            responses.append(
                client.post(
                    url, "{not json", "application/json", HTTP_AUTHORIZATION=f"Token {write_key}"
                )
            )
        for response in responses:
            assert response.status_code == 404, (url, response.content)
            assert set(response.json()) == {"detail"}
    with tenant_context(bank_b.tenant):
        theirs.refresh_from_db()
        assert (theirs.step, theirs.status) == (Step.PLAN, Opportunity.Status.OPEN)


# --- Tokens and methods --------------------------------------------------------------


def test_no_token_is_a_401_and_a_bad_one_too(api, client, pipeline):
    assert api(OPPORTUNITIES).status_code == 401
    assert api(OPPORTUNITIES, "not-a-key").status_code == 401
    url = f"{OPPORTUNITIES}{pipeline['O1'].pk}/move/"
    assert api(url).status_code == 401
    assert client.post(url, {"to_step": 3}, "application/json").status_code == 401


def test_a_token_without_the_read_scope_cannot_read(api, bank_a, pipeline):
    _, write_only = api_token_create(tenant=bank_a.tenant, name="writer", scopes=["write"])
    assert api(OPPORTUNITIES, write_only).status_code == 403
    assert api(f"{OPPORTUNITIES}{pipeline['O1'].pk}/", write_only).status_code == 403


def test_opportunities_are_not_created_changed_or_deleted_here(client, write_key, pipeline):
    headers = {"HTTP_AUTHORIZATION": f"Token {write_key}"}
    url = f"{OPPORTUNITIES}{pipeline['O1'].pk}/"
    assert client.post(OPPORTUNITIES, {}, **headers).status_code == 405
    assert client.put(url, {}, **headers).status_code == 405
    assert client.patch(url, {}, **headers).status_code == 405
    assert client.delete(url, **headers).status_code == 405
    assert client.delete(f"{url}move/", **headers).status_code == 405


def test_the_schema_documents_the_list_the_detail_and_the_actions(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    listed = {p["name"] for p in paths["/api/v1/opportunities/"]["get"]["parameters"]}
    assert {
        "cursor",
        "updated_since",
        "client",
        "branch_code",
        "rm_code",
        "tier",
        "status",
        "step",
        "source",
        "created_from",
        "created_to",
        "won_from",
        "won_to",
    } <= listed
    assert "/api/v1/opportunities/{id}/" in paths
    for action in ("move", "lose"):
        operations = paths[f"/api/v1/opportunities/{{id}}/{action}/"]
        assert {"get", "post"} <= set(operations)
        assert {"200", "400", "403", "404", "409"} <= set(operations["post"]["responses"])


# --- The checklist ---------------------------------------------------------------------


@pytest.mark.parametrize("action", ["move", "lose"])
def test_get_on_an_action_answers_the_checklist(api, read_key, pipeline, action):
    o1 = pipeline["O1"]
    response = api(f"{OPPORTUNITIES}{o1.pk}/{action}/", read_key)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["id"], answer["step"], answer["status"]) == (o1.pk, 2, "open")
    checklist = answer["checklist"]
    assert [item["step"] for item in checklist] == [1, 2, 3, 4, 5]
    assert [item["status"] for item in checklist] == ["done", "current", "todo", "todo", "todo"]
    plan, contact = checklist[0], checklist[1]
    assert datetime.datetime.fromisoformat(plan["entered_at"]) == at(1)
    assert datetime.datetime.fromisoformat(plan["left_at"]) == at(3)
    assert plan["days_in_step"] == 2
    assert datetime.datetime.fromisoformat(contact["entered_at"]) == at(3)
    assert contact["left_at"] is None and contact["days_in_step"] >= 0
    assert contact["met"] is False  # no contact with the needs found yet
    assert all(item["requirement"] and item["label"] for item in checklist)
    assert checklist[4]["entered_at"] is None and checklist[4]["days_in_step"] is None


def test_the_checklist_says_when_the_current_step_is_done(api, read_key, bank_a, pipeline):
    _needs_found(bank_a, pipeline)
    checklist = api(f"{OPPORTUNITIES}{pipeline['O1'].pk}/move/", read_key).json()["checklist"]
    assert checklist[1]["status"] == "current" and checklist[1]["met"] is True


# --- Moving and losing -----------------------------------------------------------------


@pytest.fixture
def post(client):
    """POST a JSON body (a dict, or raw text/bytes sent as is) with a token, or as the
    staff member logged in with ``login``; messages in English."""

    def _post(path, body, key=None, language="en"):
        extra = {"HTTP_AUTHORIZATION": f"Token {key}"} if key else {}
        if language:
            extra["HTTP_ACCEPT_LANGUAGE"] = language
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return client.post(path, data, content_type="application/json", **extra)

    return _post


def move_url(opportunity) -> str:
    return f"{OPPORTUNITIES}{opportunity.pk}/move/"


def lose_url(opportunity) -> str:
    return f"{OPPORTUNITIES}{opportunity.pk}/lose/"


def _needs_found(bank, pipeline):
    """C1's RM logs a contact in which needs were found: O1's step 2 is done."""
    return InteractionFactory(
        tenant=bank.tenant,
        client=pipeline["O1"].client,
        staff=bank.rm,
        occurred_at=timezone.now() - datetime.timedelta(hours=1),
        needs_found=["growth"],
    )


def snapshot(bank) -> tuple:
    """What a refused request must leave unchanged."""
    with tenant_context(bank.tenant):
        return (
            sorted(
                Opportunity.objects.values_list(
                    "pk",
                    "step",
                    "status",
                    "step_entered_at",
                    "interaction_id",
                    "lost_reason",
                    "lost_at",
                    "updated_at",
                )
            ),
            sorted(StepEntry.objects.values_list("pk", "step", "left_at")),
            sorted(SaleCredit.objects.values_list("pk", "amount_cny")),
            AuditEntry.objects.filter(action="update").count(),
        )


def test_a_token_moves_an_opportunity_whose_step_is_done(post, write_key, bank_a, pipeline):
    o1 = pipeline["O1"]
    interaction = _needs_found(bank_a, pipeline)
    response = post(move_url(o1), {"to_step": 3, "from_step": 2}, write_key)
    assert response.status_code == 200, response.content
    moved = response.json()
    assert (moved["id"], moved["step"], moved["status"]) == (o1.pk, 3, "open")
    assert moved["step_label"] == "Execute"
    assert moved["interaction_id"] == interaction.pk  # the contact that found the needs
    history = moved["step_history"]
    assert [entry["step"] for entry in history] == [1, 2, 3]
    assert history[1]["left_at"] == history[2]["entered_at"] == moved["step_entered_at"]
    assert history[2]["left_at"] is None and history[2]["entered_by_code"] is None
    with tenant_context(bank_a.tenant):
        audit = AuditEntry.objects.get(action="update", object_id=str(o1.pk))
        assert audit.actor_label == "token:crm-bridge"
        assert audit.detail["step"] == [2, 3]


def test_an_rm_moves_an_opportunity_of_their_client(login, post, bank_a, pipeline):
    _needs_found(bank_a, pipeline)
    login(bank_a.rm)
    response = post(move_url(pipeline["O1"]), {"to_step": 3})
    assert response.status_code == 200, response.content
    assert response.json()["step_history"][-1]["entered_by_code"] == "R1"
    with tenant_context(bank_a.tenant):
        audit = AuditEntry.objects.get(action="update", object_id=str(pipeline["O1"].pk))
        assert audit.actor_id == bank_a.rm.user_id


def test_an_advisor_moves_an_opportunity_of_their_teams_client(login, post, bank_a, pipeline):
    c3 = pipeline["O3"].client
    opportunity = OpportunityFactory(tenant=bank_a.tenant, client=c3, step=Step.PLAN)
    StepEntryFactory(tenant=bank_a.tenant, opportunity=opportunity, step=1)
    contact = PlannedContactFactory(tenant=bank_a.tenant, client=c3, assigned_to=bank_a.rm)
    with tenant_context(bank_a.tenant):
        Opportunity.objects.filter(pk=opportunity.pk).update(planned_contact=contact)
    login(bank_a.advisor)
    response = post(move_url(opportunity), {"to_step": 2, "from_step": 1})
    assert response.status_code == 200, response.content
    assert response.json()["step"] == 2


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("not-done", {"to_step": 3}, "Log the contact"),
        ("skip", {"to_step": 4}, "cannot be skipped"),
        ("back", {"to_step": 1}, "never moves back"),
        ("same", {"to_step": 2, "from_step": 2}, "never moves back"),
    ],
)
def test_a_move_the_rules_refuse_is_a_400_on_to_step_and_writes_nothing(
    post, write_key, bank_a, pipeline, name, body, message
):
    before = snapshot(bank_a)
    response = post(move_url(pipeline["O1"]), body, write_key)
    assert response.status_code == 400, response.content
    assert set(response.json()) == {"to_step"}
    assert message in " ".join(response.json()["to_step"])
    assert snapshot(bank_a) == before


def test_a_skip_is_refused_even_when_the_step_is_done(post, write_key, bank_a, pipeline):
    _needs_found(bank_a, pipeline)
    before = snapshot(bank_a)
    response = post(move_url(pipeline["O1"]), {"to_step": 4}, write_key)
    assert response.status_code == 400
    assert "skipped" in " ".join(response.json()["to_step"])
    assert snapshot(bank_a) == before


def test_a_lost_opportunity_does_not_move(post, write_key, bank_a, pipeline):
    before = snapshot(bank_a)
    response = post(move_url(pipeline["O3"]), {"to_step": 2}, write_key)
    assert response.status_code == 400
    assert "lost" in " ".join(response.json()["to_step"])
    assert snapshot(bank_a) == before


def test_a_stale_from_step_is_a_409_and_nothing_moves(post, write_key, bank_a, pipeline):
    _needs_found(bank_a, pipeline)
    before = snapshot(bank_a)
    response = post(move_url(pipeline["O1"]), {"to_step": 2, "from_step": 1}, write_key)
    assert response.status_code == 409, response.content
    assert set(response.json()) == {"detail"}
    assert "step 2" in response.json()["detail"]
    assert snapshot(bank_a) == before


def test_the_same_move_sent_twice_moves_once(post, write_key, bank_a, pipeline):
    _needs_found(bank_a, pipeline)
    body = {"to_step": 3, "from_step": 2}
    assert post(move_url(pipeline["O1"]), body, write_key).status_code == 200
    assert post(move_url(pipeline["O1"]), body, write_key).status_code == 409
    with tenant_context(bank_a.tenant):
        assert StepEntry.objects.filter(opportunity=pipeline["O1"], step=3).count() == 1


@pytest.mark.parametrize("action", ["move", "lose"])
def test_a_read_only_token_cannot_move_or_lose(post, read_key, bank_a, pipeline, action):
    _needs_found(bank_a, pipeline)
    before = snapshot(bank_a)
    body = {"to_step": 3} if action == "move" else {"reason": "declined"}
    response = post(f"{OPPORTUNITIES}{pipeline['O1'].pk}/{action}/", body, read_key)
    assert response.status_code == 403
    assert set(response.json()) == {"detail"}
    assert snapshot(bank_a) == before


@pytest.mark.parametrize("role", ["supervisor", "head"])
@pytest.mark.parametrize("action", ["move", "lose"])
def test_supervisors_and_head_office_read_but_do_not_move(
    login, post, bank_a, pipeline, role, action
):
    _needs_found(bank_a, pipeline)
    before = snapshot(bank_a)
    login(getattr(bank_a, role))
    url = f"{OPPORTUNITIES}{pipeline['O1'].pk}/{action}/"
    assert login(getattr(bank_a, role)).get(url).status_code == 200  # the checklist
    body = {"to_step": 3} if action == "move" else {"reason": "declined"}
    response = post(url, body)
    assert response.status_code == 403
    assert "follow the pipeline" in response.json()["detail"]
    assert snapshot(bank_a) == before


def test_a_token_closes_an_opportunity_as_lost(post, write_key, bank_a, pipeline):
    o1 = pipeline["O1"]
    response = post(lose_url(o1), {"reason": "competitor", "note": "他行利率更高"}, write_key)
    assert response.status_code == 200, response.content
    lost = response.json()
    assert (lost["status"], lost["lost_reason"], lost["lost_note"]) == (
        "lost",
        "competitor",
        "他行利率更高",
    )
    assert lost["lost_at"] is not None and lost["step"] == 2
    assert lost["step_history"][-1]["left_at"] is not None  # the step it was lost at is left
    with tenant_context(bank_a.tenant):
        audit = AuditEntry.objects.get(action="update", object_id=str(o1.pk))
        assert audit.actor_label == "token:crm-bridge"
        assert audit.detail["status"] == ["open", "lost"]


def test_an_rm_closes_their_opportunity_as_lost_without_a_note(login, post, bank_a, pipeline):
    login(bank_a.rm)
    response = post(lose_url(pipeline["O1"]), {"reason": "no_funds"})
    assert response.status_code == 200, response.content
    assert (response.json()["lost_reason"], response.json()["lost_note"]) == ("no_funds", "")


def test_losing_a_won_sale_withdraws_its_credits(post, write_key, bank_a, pipeline):
    response = post(
        lose_url(pipeline["O2"]), {"reason": "declined", "note": "犹豫期内撤单"}, write_key
    )
    assert response.status_code == 200, response.content
    cancelled = response.json()
    assert (cancelled["status"], cancelled["credits"]) == ("lost", [])
    assert cancelled["won_amount_cny"] == "300000.00"  # the record of what was cancelled


@pytest.mark.parametrize(
    ("name", "opportunity", "body", "field", "message"),
    [
        ("other-without-note", "O1", {"reason": "other"}, "note", "note"),
        ("other-blank-note", "O1", {"reason": "other", "note": "   "}, "note", "note"),
        ("already-lost", "O3", {"reason": "declined"}, "non_field_errors", "lost"),
    ],
)
def test_a_loss_the_rules_refuse_is_a_400_and_writes_nothing(
    post, write_key, bank_a, pipeline, name, opportunity, body, field, message
):
    before = snapshot(bank_a)
    response = post(lose_url(pipeline[opportunity]), body, write_key)
    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    assert message in " ".join(response.json()[field])
    assert snapshot(bank_a) == before


def test_a_celebrated_opportunity_cannot_be_lost(post, write_key, bank_a, pipeline):
    celebrated = OpportunityFactory(
        tenant=bank_a.tenant,
        client=pipeline["O2"].client,
        step=Step.CELEBRATE,
        status=Opportunity.Status.WON,
        completed_at=at(28),
    )
    before = snapshot(bank_a)
    response = post(lose_url(celebrated), {"reason": "declined"}, write_key)
    assert response.status_code == 400
    assert set(response.json()) == {"non_field_errors"}
    assert snapshot(bank_a) == before


# (id, action, body, field named in the 400).
BAD_BODIES = [
    ("no-to-step", "move", {}, "to_step"),
    ("null-to-step", "move", {"to_step": None}, "to_step"),
    ("text-to-step", "move", {"to_step": "three"}, "to_step"),
    ("bool-to-step", "move", {"to_step": True}, "to_step"),
    ("fraction-to-step", "move", {"to_step": 2.5}, "to_step"),
    ("list-to-step", "move", {"to_step": [3]}, "to_step"),
    ("step-six", "move", {"to_step": 6}, "to_step"),
    ("step-zero", "move", {"to_step": 0}, "to_step"),
    ("huge-step", "move", {"to_step": 2**70}, "to_step"),
    ("text-from-step", "move", {"to_step": 3, "from_step": "two"}, "from_step"),
    ("from-step-nine", "move", {"to_step": 3, "from_step": 9}, "from_step"),
    ("no-reason", "lose", {"note": "x"}, "reason"),
    ("unknown-reason", "lose", {"reason": "lottery"}, "reason"),
    ("list-reason", "lose", {"reason": ["declined"]}, "reason"),
    ("null-reason", "lose", {"reason": None}, "reason"),
    ("long-note", "lose", {"reason": "other", "note": "长" * 301}, "note"),
    ("null-note", "lose", {"reason": "declined", "note": None}, "note"),
    ("nul-note", "lose", {"reason": "declined", "note": "a\x00b"}, "note"),
    ("object-note", "lose", {"reason": "declined", "note": {"text": "x"}}, "note"),
]


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [bad[1:] for bad in BAD_BODIES],
    ids=[bad[0] for bad in BAD_BODIES],
)
def test_a_body_of_the_wrong_shape_is_a_400_naming_the_field(
    post, write_key, bank_a, pipeline, action, body, field
):
    _needs_found(bank_a, pipeline)
    before = snapshot(bank_a)
    response = post(f"{OPPORTUNITIES}{pipeline['O1'].pk}/{action}/", body, write_key)
    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    assert snapshot(bank_a) == before


@pytest.mark.parametrize(
    "body",
    ["{not json", b"\xff\xfe\x00", "", '{"to_step": NaN}', "[" * 5_000 + "]" * 5_000],
    ids=["broken", "not-utf8", "empty", "nan", "deeply-nested"],
)
@pytest.mark.parametrize("action", ["move", "lose"])
def test_a_body_that_is_not_json_is_a_400(post, write_key, bank_a, pipeline, action, body):
    before = snapshot(bank_a)
    response = post(f"{OPPORTUNITIES}{pipeline['O1'].pk}/{action}/", body, write_key)
    assert response.status_code == 400
    assert set(response.json()) == {"detail"}
    assert snapshot(bank_a) == before


@pytest.mark.parametrize("body", ["[]", "null", "3", '"to_step"'])
def test_json_that_is_not_an_object_is_a_400(post, write_key, pipeline, body):
    response = post(move_url(pipeline["O1"]), body, write_key)
    assert response.status_code == 400
    assert set(response.json()) == {"non_field_errors"}


def test_a_body_too_large_is_a_413(post, write_key, bank_a, pipeline):
    before = snapshot(bank_a)
    response = post(lose_url(pipeline["O1"]), {"reason": "other", "note": "长" * 10_000}, write_key)
    assert response.status_code == 413
    assert set(response.json()) == {"detail"}
    assert snapshot(bank_a) == before


def test_messages_are_chinese_unless_english_is_asked_for(post, write_key, pipeline):
    response = post(move_url(pipeline["O1"]), {"to_step": 4}, write_key, language=None)
    assert response.status_code == 400
    with translation.override("zh-hans"):
        expected = translation.gettext(
            "A step cannot be skipped: finish step %(step)s (%(label)s), then move "
            "to step %(next)s."
        ) % {"step": 2, "label": Step.CONTACT.label, "next": 3}
    assert response.json()["to_step"] == [expected]


def test_a_move_that_collides_with_a_concurrent_change_is_a_409(
    post, write_key, bank_a, pipeline, monkeypatch
):
    """Another request wrote the same rows first: the savepoint undoes ours whole."""
    _needs_found(bank_a, pipeline)
    move = services.opportunity_move

    def move_then_collide(**kwargs):
        move(**kwargs)
        raise IntegrityError("stepentry_once_per_step")

    monkeypatch.setattr(services, "opportunity_move", move_then_collide)
    before = snapshot(bank_a)
    response = post(move_url(pipeline["O1"]), {"to_step": 3}, write_key)
    assert response.status_code == 409
    assert set(response.json()) == {"detail"}
    assert snapshot(bank_a) == before


def test_an_opportunity_gone_from_the_callers_scope_meanwhile_is_a_404(
    post, write_key, bank_a, pipeline, monkeypatch
):
    """The service looks it up again, locked: what it cannot find is not found."""

    def gone(**kwargs):
        raise Opportunity.DoesNotExist("No such opportunity.")

    monkeypatch.setattr(services, "opportunity_lose", gone)
    response = post(lose_url(pipeline["O1"]), {"reason": "declined"}, write_key)
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}
