"""The sales pipeline's talking points in a planned contact: the client's open
opportunities, and the sale an after-sales check-in follows — for a whole list of
contacts in one query."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from contact_plans.models import PlannedContact
from contact_plans.talking_points import talking_point_sources, talking_points_for
from sales_pipeline.talking_points import opportunity_talking_points
from tests.factories import ClientFactory, OpportunityFactory, PlannedContactFactory
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

ON = datetime.date(2026, 11, 28)


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def test_the_source_is_registered():
    assert opportunity_talking_points in talking_point_sources()


def test_a_contact_mentions_the_clients_open_opportunities(bank_a, vip):
    OpportunityFactory(
        tenant=bank_a.tenant,
        client=vip,
        step=2,
        title="到期理财续作",
        expected_amount_cny="1500000",
    )
    OpportunityFactory(
        tenant=bank_a.tenant, client=vip, step=1, title="子女教育金", expected_amount_cny=None
    )
    OpportunityFactory(tenant=bank_a.tenant, client=vip, step=3, status="lost", title="基金定投")
    OpportunityFactory(tenant=bank_a.tenant, client=vip, step=4, status="won", title="大额存单")
    contact = PlannedContactFactory(tenant=bank_a.tenant, client=vip, note="")
    with tenant_context(bank_a.tenant):
        points = talking_points_for(contact, on=ON)
    assert points[-2:] == [
        "Open opportunity at step 2 (Contact & assess needs): 到期理财续作, "
        "expected ¥1,500,000.00.",
        "Open opportunity at step 1 (Plan): 子女教育金.",
    ]


def test_a_check_in_says_which_sale_it_follows(bank_a, vip):
    sale = OpportunityFactory(
        tenant=bank_a.tenant,
        client=vip,
        step=4,
        status="won",
        title="大额存单",
        won_amount_cny=Decimal("3000000"),
    )
    check_in = PlannedContactFactory(
        tenant=bank_a.tenant,
        client=vip,
        reason=PlannedContact.Reason.FOLLOW_UP,
        source_key=f"opportunity:{sale.pk}:check_in:7",
        source_date=ON - datetime.timedelta(days=7),
        note="",
    )
    with tenant_context(bank_a.tenant):
        points = opportunity_talking_points([check_in], on=ON)
    assert points == {
        check_in.pk: [
            "After-sales check-in, 7 days after the sale of 大额存单 (won on 2026-11-21, "
            "¥3,000,000.00): ask how it suits the client, and about other needs and referrals."
        ]
    }


def test_nothing_to_say_without_opportunities(bank_a, vip):
    contact = PlannedContactFactory(tenant=bank_a.tenant, client=vip)
    with tenant_context(bank_a.tenant):
        assert opportunity_talking_points([contact], on=ON) == {}
        assert opportunity_talking_points([], on=ON) == {}


def test_one_query_for_the_whole_list(bank_a):
    contacts = []
    for i in range(12):
        client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
        sale = OpportunityFactory(tenant=bank_a.tenant, client=client, step=1 + i % 4)
        contacts.append(
            PlannedContactFactory(
                tenant=bank_a.tenant,
                client=client,
                reason=PlannedContact.Reason.FOLLOW_UP,
                source_key=f"opportunity:{sale.pk}:check_in:30",
            )
        )
    with tenant_context(bank_a.tenant), CaptureQueriesContext(connection) as queries:
        points = opportunity_talking_points(contacts, on=ON)
    assert len(queries) == 1
    assert set(points) == {contact.pk for contact in contacts}
