"""The client 360's contact-plan section: the plan, open planned contacts with their
talking points, the history, and logging, planning, rescheduling and cancelling."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contact_plans.models import ContactPlan, Interaction, PlannedContact
from tests.factories import (
    ClientFactory,
    ContactPlanFactory,
    HoldingFactory,
    InteractionFactory,
    PlannedContactFactory,
    ProductFactory,
    TierFactory,
)
from vipcrm.tenancy import tenant_context

HTMX = {"HTTP_HX_REQUEST": "true"}
Status = PlannedContact.Status
Reason = PlannedContact.Reason


def day(offset: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=offset)


def url(name, client):
    return reverse(f"contact_plans:{name}", args=[client.external_id])


def detail(http, client):
    return http.get(reverse("customers:client-detail", args=[client.external_id]))


@pytest.fixture
def vip(bank_a):
    client = ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        tier=TierFactory(tenant=bank_a.tenant),
        name="孙丽华",
        risk_level="C4",
        risk_assessed_on=day(-30),
    )
    ContactPlanFactory(
        tenant=bank_a.tenant,
        client=client,
        cadence_days=45,
        last_contact_on=day(-50),
        next_due_on=day(-5),
    )
    return client


@pytest.fixture
def due(bank_a, vip):
    holding = HoldingFactory(
        tenant=bank_a.tenant,
        client=vip,
        product=ProductFactory(tenant=bank_a.tenant, name="鑫享定期"),
        balance=Decimal("800000.00"),
        matures_on=day(20),
    )
    return PlannedContactFactory(
        tenant=bank_a.tenant,
        client=vip,
        assigned_to=bank_a.rm,
        reason=Reason.MATURITY,
        holding=holding,
        source_date=day(20),
        amount_cny=Decimal("800000.00"),
        due_on=day(-1),
        status=Status.OVERDUE,
    )


def test_the_360_page_shows_the_plan_open_contacts_with_talking_points_and_history(
    login, english, bank_a, vip, due
):
    InteractionFactory(
        tenant=bank_a.tenant, client=vip, staff=bank_a.rm, summary="上次电话沟通了保险需求"
    )
    PlannedContactFactory(tenant=bank_a.tenant, client=vip, due_on=day(-9), status=Status.DONE)
    page = detail(login(bank_a.rm), vip).content.decode()
    assert 'id="contacts"' in page
    assert "every 45 days" in page
    assert day(-5).isoformat() in page and "overdue" in page
    assert "鑫享定期 matures on" in page and "800,000.00 CNY" in page
    assert "上次电话沟通了保险需求" in page
    assert page.count('class="item') >= 1
    assert 'id="contact-log-form"' in page


def test_the_section_alone_and_without_js(login, bank_a, vip, due):
    http = login(bank_a.rm)
    alone = http.get(url("client-contacts", vip), **HTMX).content.decode()
    assert alone.lstrip().startswith("<section") and "<html" not in alone
    page = http.get(url("client-contacts", vip)).content.decode()
    assert "<html" in page and 'id="contacts"' in page


def test_logging_from_the_section_answers_the_chosen_contact_and_moves_the_plan(
    login, english, bank_a, vip, due
):
    http = login(bank_a.rm)
    form = http.get(url("client-contacts", vip), {"log": due.pk}, **HTMX).content.decode()
    assert f'<option value="{due.pk}" selected>' in form
    response = http.post(
        url("client-log", vip),
        {
            "channel": "visit",
            "occurred_at": (timezone.localtime() - datetime.timedelta(hours=1)).strftime(
                "%Y-%m-%dT%H:%M"
            ),
            "summary": "上门拜访，确认到期后转入大额存单",
            "planned_contact": str(due.pk),
        },
        **HTMX,
    )
    assert response.status_code == 200
    assert "Contact logged. The next contact is due on" in response.content.decode()
    assert response["HX-Trigger"] == "contacts-changed"
    with tenant_context(bank_a.tenant):
        due.refresh_from_db()
        plan = ContactPlan.objects.get(client=vip)
    assert due.status == Status.DONE
    assert plan.next_due_on == plan.last_contact_on + datetime.timedelta(days=45)


def test_a_contact_in_the_future_is_refused_and_nothing_is_saved(login, english, bank_a, vip):
    response = login(bank_a.rm).post(
        url("client-log", vip),
        {
            "channel": "phone",
            "occurred_at": (timezone.localtime() + datetime.timedelta(days=2)).strftime(
                "%Y-%m-%dT%H:%M"
            ),
            "summary": "预约",
        },
        **HTMX,
    )
    assert response.status_code == 200
    assert 'id="contact-log-occurred_at_error"' in response.content.decode()
    with tenant_context(bank_a.tenant):
        assert not Interaction.objects.exists()


def test_without_javascript_an_invalid_log_is_a_400_page_with_the_errors(
    login, english, bank_a, vip
):
    response = login(bank_a.rm).post(url("client-log", vip), {"channel": "", "summary": ""})
    assert response.status_code == 400
    assert "<html" in response.content.decode()
    assert 'id="contact-log-channel_error"' in response.content.decode()


def test_a_contact_that_is_not_one_of_the_clients_open_ones_is_refused(
    login, english, bank_a, vip, due
):
    other = PlannedContactFactory(tenant=bank_a.tenant, due_on=day(1))
    response = login(bank_a.rm).post(
        url("client-log", vip),
        {"channel": "phone", "summary": "电话", "planned_contact": str(other.pk)},
        **HTMX,
    )
    assert "not open for this client any more" in response.content.decode()


def test_planning_a_contact_by_hand(login, english, bank_a, vip):
    http = login(bank_a.rm)
    response = http.post(
        url("client-plan", vip),
        {"reason": "follow_up", "due_on": day(7).isoformat(), "note": "送生日礼物"},
        **HTMX,
    )
    assert f"Contact planned for {day(7).isoformat()}." in response.content.decode()
    with tenant_context(bank_a.tenant):
        planned = PlannedContact.objects.get(client=vip, reason=Reason.FOLLOW_UP)
    assert (planned.due_on, planned.note, planned.assigned_to_id) == (
        day(7),
        "送生日礼物",
        bank_a.rm.pk,
    )
    past = http.post(
        url("client-plan", vip), {"reason": "campaign", "due_on": day(-1).isoformat()}, **HTMX
    )
    assert 'id="contact-plan-due_on_error"' in past.content.decode()


def test_rescheduling_and_cancelling_from_the_section_need_a_reason(
    login, english, bank_a, vip, due
):
    http = login(bank_a.rm)
    form = http.get(url("client-contacts", vip), {"reschedule": due.pk}, **HTMX).content.decode()
    assert f'id="contact-reschedule-{due.pk}-due_on"' in form
    refused = http.post(
        url("client-reschedule", vip),
        {"contact": due.pk, "due_on": day(3).isoformat(), "reason": ""},
        **HTMX,
    )
    assert f'id="contact-reschedule-{due.pk}-reason_error"' in refused.content.decode()
    moved = http.post(
        url("client-reschedule", vip),
        {"contact": due.pk, "due_on": day(3).isoformat(), "reason": "客户在外地"},
        **HTMX,
    )
    assert f"Contact moved to {day(3).isoformat()}." in moved.content.decode()
    assert "Moved from" in moved.content.decode()

    refused = http.post(url("client-cancel", vip), {"contact": due.pk, "reason": " "}, **HTMX)
    assert f'id="contact-cancel-{due.pk}-reason_error"' in refused.content.decode()
    http.post(url("client-cancel", vip), {"contact": due.pk, "reason": "客户已赎回"}, **HTMX)
    with tenant_context(bank_a.tenant):
        due.refresh_from_db()
    assert (due.status, due.cancel_reason, due.due_on) == (Status.CANCELLED, "客户已赎回", day(3))


def test_a_contact_of_another_client_cannot_be_changed_through_this_client(login, bank_a, vip, due):
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    theirs = PlannedContactFactory(tenant=bank_a.tenant, client=other, due_on=day(2))
    response = login(bank_a.rm).post(
        url("client-cancel", vip), {"contact": theirs.pk, "reason": "x"}, **HTMX
    )
    assert response.status_code == 404
    assert login(bank_a.rm).get(url("client-contacts", vip), {"log": "abc"}).status_code == 404


@pytest.mark.parametrize("name", ["client-contacts", "client-log", "client-plan", "client-cancel"])
def test_a_client_outside_the_users_scope_is_a_404(name, login, bank_a, bank_b):
    elsewhere = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm
    )
    assert login(bank_a.rm).get(url(name, elsewhere)).status_code in (404, 405)
    assert login(bank_a.supervisor).post(url(name, elsewhere), {"reason": "x"}).status_code == 404
    theirs = ClientFactory(tenant=bank_b.tenant)
    assert login(bank_a.head).post(url(name, theirs), {"reason": "x"}).status_code == 404


def test_the_section_keeps_the_360_page_query_count_flat(
    login, bank_a, vip, due, django_assert_max_num_queries
):
    http = login(bank_a.rm)
    with CaptureQueriesContext(connection) as few:
        detail(http, vip)
    for n in range(8):
        PlannedContactFactory(tenant=bank_a.tenant, client=vip, due_on=day(n))
        InteractionFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.rm)
    with django_assert_max_num_queries(len(few)):
        detail(http, vip)


def test_the_preferences_form_keeps_the_lunar_birthday(login, english, bank_a, vip):
    http = login(bank_a.rm)
    page = detail(http, vip).content.decode()
    assert 'name="lunar_birthday"' in page
    http.post(
        reverse("customers:client-preferences", args=[vip.external_id]),
        {"preferred_channel": "phone", "lunar_birthday": "on"},
        **HTMX,
    )
    with tenant_context(bank_a.tenant):
        vip.refresh_from_db()
    assert vip.lunar_birthday is True
    page = detail(http, vip).content.decode()
    assert re.search(r'<input type="checkbox" name="lunar_birthday"[^>]* checked>', page)
    http.post(
        reverse("customers:client-preferences", args=[vip.external_id]),
        {"preferred_channel": "phone"},
        **HTMX,
    )
    with tenant_context(bank_a.tenant):
        vip.refresh_from_db()
    assert vip.lunar_birthday is False
