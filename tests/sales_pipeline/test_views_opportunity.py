"""An opportunity's page (/pipeline/<id>/) for every role, a new opportunity
(/pipeline/new/), editing one and losing one: scope first (404), then the role (403),
then the input (400, nothing written)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contact_plans.models import PlannedContact
from sales_pipeline.models import Opportunity, OpportunityAdvisor, StepEntry
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    HeldAwayAssetFactory,
    HoldingFactory,
    LifeEventFactory,
    OpportunityAdvisorFactory,
    OpportunityFactory,
    OpportunityProductFactory,
    PlannedContactFactory,
    ProductFactory,
    ProposalFactory,
    ProposalLineFactory,
    SaleCreditFactory,
    StepEntryFactory,
    TierFactory,
)
from tests.sales_pipeline.builders import opportunity_at, vip_client
from vipcrm.models import AuditEntry
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
ACTIONS = [
    "edit",
    "move",
    "plan",
    "contact",
    "proposal",
    "win",
    "lose",
    "check-in",
    "cross-sell",
    "referral",
    "celebrate",
]
CREATE = reverse("sales_pipeline:create")


def url(name: str, opportunity) -> str:
    return reverse(f"sales_pipeline:{name}", args=[opportunity.pk])


def page_of(opportunity) -> str:
    return url("opportunity", opportunity)


@pytest.fixture
def vip(bank_a):
    return vip_client(
        bank_a,
        name="李海燕",
        tier=TierFactory(tenant=bank_a.tenant, name="私人银行"),
        risk_assessed_on=timezone.localdate() - DAY * 40,
    )


@pytest.fixture
def opportunity(bank_a, vip):
    created = opportunity_at(
        bank_a,
        vip,
        entered_ago=DAY * 3,
        title="大额存单到期转理财",
        source=Opportunity.Source.MATURITY,
        expected_amount_cny=Decimal("1200000"),
        holding=HoldingFactory(
            tenant=bank_a.tenant,
            client=vip,
            product__name="三年期大额存单",
            matures_on=timezone.localdate() + DAY * 20,
        ),
    )
    OpportunityProductFactory(
        tenant=bank_a.tenant, opportunity=created, product__name="稳健增利180天"
    )
    return created


def forms_on(page: str) -> list[str]:
    """The actions of the POST forms of the page's content (not the header's)."""
    main = page.split('id="main"', 1)[1]
    return [chunk.split('"', 1)[0] for chunk in main.split('method="post" action="')[1:]]


# --- The page, per role -------------------------------------------------------------------


def test_the_rm_sees_the_header_the_checklist_and_the_work_of_step_1(
    login, english, bank_a, vip, opportunity
):
    response = login(bank_a.rm).get(page_of(opportunity))
    assert response.status_code == 200
    page = response.content.decode()
    assert "大额存单到期转理财" in page
    assert reverse("customers:client-detail", args=[vip.external_id]) in page
    assert "私人银行" in page and "Product maturity" in page and "三年期大额存单" in page
    assert "1,200,000.00" in page and "稳健增利180天" in page
    checklist = response.context["checklist"]
    assert [s.status for s in checklist] == ["current", "todo", "todo", "todo", "todo"]
    assert checklist[0].days_in_step == 3
    assert 'aria-current="step"' in page and "Not met yet" in page
    assert set(forms_on(page)) == {
        url("plan", opportunity),
        url("move", opportunity),
        url("edit", opportunity),
        url("lose", opportunity),
    }


def test_an_advisor_on_the_team_works_on_the_opportunity(login, bank_a, vip, opportunity):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.advisor)
    response = login(bank_a.advisor).get(page_of(opportunity))
    assert response.status_code == 200
    assert url("plan", opportunity) in forms_on(response.content.decode())


@pytest.mark.parametrize("role", ["supervisor", "head"])
def test_supervisors_and_head_office_read_the_page_and_may_not_post(
    login, english, bank_a, opportunity, role
):
    http = login(getattr(bank_a, role))
    response = http.get(page_of(opportunity))
    assert response.status_code == 200
    page = response.content.decode()
    assert forms_on(page) == []
    assert "Supervisors and head office follow the pipeline" in page
    for action in ACTIONS:
        refused = http.post(url(action, opportunity), {"due_on": "2030-01-01", "to_step": 2})
        assert refused.status_code == 403, action
    with tenant_context(bank_a.tenant):
        assert not PlannedContact.objects.exists()
        assert Opportunity.objects.get(pk=opportunity.pk).step == 1


def test_a_supervisor_of_another_branch_does_not_see_it(login, bank_a, opportunity):
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm)
    elsewhere = OpportunityFactory(tenant=bank_a.tenant, client=other)
    http = login(bank_a.supervisor)
    assert http.get(page_of(elsewhere)).status_code == 404
    assert http.post(url("lose", elsewhere), {"reason": "declined"}).status_code == 404


@pytest.mark.parametrize("action", ["opportunity", *ACTIONS])
def test_another_rms_opportunity_is_not_found_on_every_route(login, bank_a, opportunity, action):
    http = login(bank_a.other_rm)
    assert http.get(url(action, opportunity)).status_code == 404
    posted = http.post(url(action, opportunity), {"reason": "declined"})
    assert posted.status_code == (405 if action == "opportunity" else 404)  # the page: GET only


@pytest.mark.parametrize("action", ["opportunity", *ACTIONS])
def test_another_banks_opportunity_is_not_found_on_every_route(login, bank_a, bank_b, action):
    foreign = OpportunityFactory(tenant=bank_b.tenant, title="乙行机密")
    http = login(bank_a.head)
    shown, posted = http.get(url(action, foreign)), http.post(url(action, foreign))
    assert shown.status_code == 404
    assert posted.status_code == (405 if action == "opportunity" else 404)
    assert "乙行机密" not in shown.content.decode() + posted.content.decode()


@pytest.mark.parametrize("action", ACTIONS)
def test_a_get_on_an_action_shows_the_page(login, bank_a, opportunity, action):
    response = login(bank_a.rm).get(url(action, opportunity))
    assert response.status_code == 302
    assert response["Location"].startswith(page_of(opportunity))


def test_the_page_costs_the_same_queries_however_long_its_history(
    login, bank_a, vip, django_assert_max_num_queries
):
    """A won opportunity following up: the page with one proposal and credit, then with
    many proposals, lines, credits, advisors and products."""
    won = OpportunityFactory(
        tenant=bank_a.tenant,
        client=vip,
        step=4,
        status=Opportunity.Status.WON,
        won_amount_cny=Decimal("500000"),
        won_at=timezone.now(),
    )
    for step in range(1, 5):
        StepEntryFactory(tenant=bank_a.tenant, opportunity=won, step=step)

    def add(n):
        for _ in range(n):
            proposal = ProposalFactory(tenant=bank_a.tenant, opportunity=won)
            for _ in range(3):
                ProposalLineFactory(tenant=bank_a.tenant, proposal=proposal)
            SaleCreditFactory(tenant=bank_a.tenant, opportunity=won)
            OpportunityProductFactory(tenant=bank_a.tenant, opportunity=won)
            advisor = OpportunityAdvisorFactory(tenant=bank_a.tenant, opportunity=won)
            ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=advisor.staff)
            HeldAwayAssetFactory(tenant=bank_a.tenant, client=vip)
            PlannedContactFactory(
                tenant=bank_a.tenant,
                client=vip,
                reason=PlannedContact.Reason.FOLLOW_UP,
                source_key=f"opportunity:{won.pk}:check_in:{proposal.pk}",
            )

    http = login(bank_a.rm)
    add(1)
    with CaptureQueriesContext(connection) as few:
        assert http.get(page_of(won)).status_code == 200
    add(8)
    with django_assert_max_num_queries(len(few)):
        response = http.get(page_of(won))
    assert len(response.context["proposals"]) == 9


def test_the_page_of_step_3_costs_the_same_queries_however_many_products_and_holdings(
    login, bank_a, vip, django_assert_max_num_queries
):
    at_3 = OpportunityFactory(tenant=bank_a.tenant, client=vip, step=3)
    http = login(bank_a.rm)

    def add(n):
        for _ in range(n):
            HoldingFactory(tenant=bank_a.tenant, client=vip)
            proposal = ProposalFactory(tenant=bank_a.tenant, opportunity=at_3)
            ProposalLineFactory(tenant=bank_a.tenant, proposal=proposal)

    add(1)
    with CaptureQueriesContext(connection) as few:
        http.get(page_of(at_3))
    add(10)
    with django_assert_max_num_queries(len(few)):
        response = http.get(page_of(at_3))
    assert len(response.context["sale_forms"]) == 11


# --- A new opportunity -------------------------------------------------------------------


def test_an_rm_opens_an_opportunity_for_a_client_of_their_book(login, english, bank_a, vip):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.advisor)
    event = LifeEventFactory(tenant=bank_a.tenant, client=vip)
    product = ProductFactory(tenant=bank_a.tenant, name="养老目标基金", category="fund")
    http = login(bank_a.rm)
    form_page = http.get(CREATE, {"client": vip.external_id})
    assert form_page.status_code == 200
    assert "养老目标基金 · R2" in form_page.content.decode()
    response = http.post(
        f"{CREATE}?client={vip.external_id}",
        {
            "title": "退休规划",
            "source": "life_event",
            "life_event": event.pk,
            "expected_amount_cny": "2000000",
            "products": [product.pk],
            "advisors": [bank_a.advisor.pk],
        },
    )
    with tenant_context(bank_a.tenant):
        created = Opportunity.objects.get(title="退休规划")
        advisors = list(OpportunityAdvisor.objects.filter(opportunity=created))
    assert response.status_code == 302 and response["Location"] == page_of(created)
    assert (created.step, created.owner_rm_id, created.life_event_id) == (1, bank_a.rm.pk, event.pk)
    assert created.expected_amount_cny == Decimal("2000000.00")
    assert [a.staff_id for a in advisors] == [bank_a.advisor.pk]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": "", "source": "walk_in"}, "title"),
        ({"title": "退休规划", "source": "maturity"}, "source"),
        (
            {"title": "退休规划", "source": "walk_in", "expected_amount_cny": "0"},
            "expected_amount_cny",
        ),
        (
            {"title": "退休规划", "source": "walk_in", "expected_amount_cny": "-5"},
            "expected_amount_cny",
        ),
        ({"title": "退休规划", "source": "walk_in", "products": ["999999"]}, "products"),
        ({"title": "退休规划", "source": "walk_in", "advisors": ["999999"]}, "advisors"),
    ],
)
def test_a_new_opportunity_with_bad_input_shows_the_errors_and_writes_nothing(
    login, bank_a, vip, data, field
):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.advisor)
    response = login(bank_a.rm).post(f"{CREATE}?client={vip.external_id}", data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    with tenant_context(bank_a.tenant):
        assert not Opportunity.objects.exists()


def test_a_new_opportunity_for_a_client_out_of_view_is_not_found(login, english, bank_a, bank_b):
    others = ClientFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm)
    foreign = ClientFactory(tenant=bank_b.tenant, external_id="B-0001")
    http = login(bank_a.rm)
    for number in (others.external_id, foreign.external_id):
        shown = http.get(CREATE, {"client": number})
        assert shown.status_code == 404
        assert "No client with this customer number in your view." in shown.content.decode()
        posted = http.post(f"{CREATE}?client={number}", {"title": "x", "source": "walk_in"})
        assert posted.status_code == 404
    picker = http.get(CREATE)
    assert picker.status_code == 200 and 'name="client"' in picker.content.decode()
    with tenant_context(bank_a.tenant):
        assert not Opportunity.objects.exists()


@pytest.mark.parametrize("role", ["supervisor", "head"])
def test_supervisors_and_head_office_do_not_open_opportunities(login, bank_a, vip, role):
    http = login(getattr(bank_a, role))
    assert http.get(CREATE, {"client": vip.external_id}).status_code == 403
    posted = http.post(f"{CREATE}?client={vip.external_id}", {"title": "x", "source": "walk_in"})
    assert posted.status_code == 403
    with tenant_context(bank_a.tenant):
        assert not Opportunity.objects.exists()


# --- Editing and losing ---------------------------------------------------------------------


def test_the_rm_edits_the_title_amount_products_and_advisors(login, bank_a, vip, opportunity):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.advisor)
    product = ProductFactory(tenant=bank_a.tenant)
    response = login(bank_a.rm).post(
        url("edit", opportunity),
        {
            "title": "大额存单到期转基金",
            "expected_amount_cny": "900000.50",
            "products": [product.pk],
            "advisors": [bank_a.advisor.pk],
        },
    )
    assert response.status_code == 302
    with tenant_context(bank_a.tenant):
        opportunity.refresh_from_db()
        assert [p.pk for p in opportunity.products_of_interest.all()] == [product.pk]
        assert [s.pk for s in opportunity.advisors.all()] == [bank_a.advisor.pk]
    assert opportunity.title == "大额存单到期转基金"
    assert opportunity.expected_amount_cny == Decimal("900000.50")


def test_an_edit_with_bad_input_shows_the_page_with_the_errors(login, english, bank_a, opportunity):
    response = login(bank_a.rm).post(
        url("edit", opportunity), {"title": "", "expected_amount_cny": "abc"}
    )
    assert response.status_code == 400
    errors = response.context["edit_form"].errors
    assert {"title", "expected_amount_cny"} <= set(errors)
    assert "<details open>" in response.content.decode()
    with tenant_context(bank_a.tenant):
        assert Opportunity.objects.get(pk=opportunity.pk).title == "大额存单到期转理财"


def test_losing_needs_a_reason_and_a_note_for_other(login, english, bank_a, opportunity):
    http = login(bank_a.rm)
    no_reason = http.post(url("lose", opportunity), {"reason": ""})
    assert no_reason.status_code == 400 and "reason" in no_reason.context["lose_form"].errors
    other = http.post(url("lose", opportunity), {"reason": "other"})
    assert other.status_code == 400
    assert "Say in a note why the opportunity was lost." in other.content.decode()
    with tenant_context(bank_a.tenant):
        assert Opportunity.objects.get(pk=opportunity.pk).status == Opportunity.Status.OPEN

    lost = http.post(url("lose", opportunity), {"reason": "competitor", "note": "他行利率更高"})
    assert lost.status_code == 302
    page = http.get(page_of(opportunity)).content.decode()
    assert "Went to another bank" in page and "他行利率更高" in page
    assert forms_on(page) == []  # closed: nothing left to do
    edited = http.post(url("edit", opportunity), {"title": "改个标题"})
    assert edited.status_code == 400
    assert "This opportunity is lost: it is closed." in edited.content.decode()
    with tenant_context(bank_a.tenant):
        lost_one = Opportunity.objects.get(pk=opportunity.pk)
        entry = StepEntry.objects.get(opportunity=opportunity, step=1)
        assert AuditEntry.objects.filter(object_id=str(opportunity.pk)).exists()
    assert (lost_one.status, lost_one.lost_reason) == ("lost", "competitor")
    assert entry.left_at is not None
