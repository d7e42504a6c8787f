"""The pipeline on other pages: the client 360's opportunities section (and its route
/pipeline/clients/<customer number>/), and the "My day" panel."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contact_plans.models import PlannedContact
from sales_pipeline.models import Opportunity
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    OpportunityFactory,
    PlannedContactFactory,
)
from tests.sales_pipeline.builders import vip_client
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
DAY = datetime.timedelta(days=1)


def section_url(client) -> str:
    return reverse("sales_pipeline:client-opportunities", args=[client.external_id])


def detail_url(client) -> str:
    return reverse("customers:client-detail", args=[client.external_id])


@pytest.fixture
def vip(bank_a):
    return vip_client(bank_a, name="林晓")


@pytest.fixture
def opportunities(bank_a, vip):
    now = timezone.now()
    return {
        "open": OpportunityFactory(
            tenant=bank_a.tenant,
            client=vip,
            title="教育金规划",
            step=2,
            step_entered_at=now - DAY * 6,
            expected_amount_cny=Decimal("400000"),
        ),
        "following": OpportunityFactory(
            tenant=bank_a.tenant,
            client=vip,
            title="稳健理财",
            step=4,
            status=Opportunity.Status.WON,
            won_amount_cny=Decimal("300000"),
            step_entered_at=now - DAY,
        ),
        "lost": OpportunityFactory(
            tenant=bank_a.tenant,
            client=vip,
            title="保险配置",
            status=Opportunity.Status.LOST,
            lost_at=now,
            lost_reason="declined",
        ),
        "celebrated": OpportunityFactory(
            tenant=bank_a.tenant,
            client=vip,
            title="大额存单",
            step=5,
            status=Opportunity.Status.WON,
            won_amount_cny=Decimal("1000000"),
            completed_at=now,
        ),
    }


def test_the_360_page_shows_the_clients_opportunities(login, english, bank_a, vip, opportunities):
    page = login(bank_a.rm).get(detail_url(vip)).content.decode()
    assert 'id="opportunities"' in page
    assert "教育金规划" in page and "Step 2: Contact &amp; assess needs" in page
    assert "400,000.00" in page and "6 days in this step" in page
    assert "稳健理财" in page  # won, following up: still on the board
    assert "Recently closed" in page and "保险配置" in page and "大额存单" in page
    assert f"{reverse('sales_pipeline:create')}?client={vip.external_id}" in page


def test_the_section_alone_with_htmx_and_on_a_page_without_js(login, bank_a, vip, opportunities):
    http = login(bank_a.rm)
    alone = http.get(section_url(vip), **HTMX).content.decode()
    assert alone.lstrip().startswith("<section") and "<html" not in alone
    page = http.get(section_url(vip)).content.decode()
    assert "<html" in page and "教育金规划" in page


@pytest.mark.parametrize("role", ["supervisor", "head"])
def test_supervisors_read_the_section_without_the_new_opportunity_link(
    login, bank_a, vip, opportunities, role
):
    page = login(getattr(bank_a, role)).get(section_url(vip)).content.decode()
    assert "教育金规划" in page
    assert reverse("sales_pipeline:create") not in page


def test_an_advisor_on_the_team_sees_the_section_and_may_open_one(
    login, bank_a, vip, opportunities
):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.advisor)
    page = login(bank_a.advisor).get(section_url(vip)).content.decode()
    assert "教育金规划" in page and reverse("sales_pipeline:create") in page


def test_a_client_out_of_view_or_of_another_bank_is_not_found(login, bank_a, bank_b, vip):
    foreign = ClientFactory(tenant=bank_b.tenant)
    assert login(bank_a.other_rm).get(section_url(vip)).status_code == 404
    assert login(bank_a.head).get(section_url(foreign)).status_code == 404


def test_the_section_costs_the_same_queries_for_few_or_many_opportunities(
    login, bank_a, vip, opportunities, django_assert_max_num_queries
):
    http = login(bank_a.rm)
    with CaptureQueriesContext(connection) as few:
        http.get(section_url(vip), **HTMX)
    for n in range(12):
        OpportunityFactory(tenant=bank_a.tenant, client=vip, step=n % 5 + 1)
    with django_assert_max_num_queries(len(few)):
        response = http.get(section_url(vip), **HTMX)
    assert len(response.context["pipeline"].open) == 14


# --- "My day" -----------------------------------------------------------------------------


def test_my_day_shows_the_rms_pipeline_ready_and_waiting(
    login, english, bank_a, vip, opportunities
):
    contact = PlannedContactFactory(
        tenant=bank_a.tenant,
        client=vip,
        reason=PlannedContact.Reason.FOLLOW_UP,
        due_on=timezone.localdate() + DAY,
    )
    ready = OpportunityFactory(
        tenant=bank_a.tenant,
        client=vip,
        title="房贷置换",
        planned_contact=contact,
        step_entered_at=timezone.now() - DAY * 2,
    )
    response = login(bank_a.rm).get(reverse("home"))
    page = response.content.decode()
    assert "My pipeline" in page
    assert "Ready to move on (1)" in page and "Waiting on their step (2)" in page
    assert reverse("sales_pipeline:opportunity", args=[ready.pk]) in page
    assert "Log the contact with the needs found" in page  # what 教育金规划 waits for


@pytest.mark.parametrize("role", ["supervisor", "head"])
def test_my_day_has_no_pipeline_panel_for_supervisors(login, english, bank_a, opportunities, role):
    assert "My pipeline" not in login(getattr(bank_a, role)).get(reverse("home")).content.decode()


def test_the_panel_costs_the_same_queries_for_few_or_many_opportunities(
    login, english, bank_a, vip, django_assert_max_num_queries
):
    http = login(bank_a.rm)
    OpportunityFactory(tenant=bank_a.tenant, client=vip)
    with CaptureQueriesContext(connection) as few:
        http.get(reverse("home"))
    for n in range(20):
        other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
        OpportunityFactory(tenant=bank_a.tenant, client=other, step=n % 4 + 1)
    with django_assert_max_num_queries(len(few)):
        response = http.get(reverse("home"))
    with tenant_context(bank_a.tenant):
        assert Opportunity.objects.count() == 21
    assert "Waiting on their step (21)" in response.content.decode()
