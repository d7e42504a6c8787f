"""'My day' for RMs: their contacts overdue, due today and this week, maturities and
birthdays; one-click logging and rescheduling inline (htmx); supervisors' overview."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contact_plans.models import ContactPlan, Interaction, PlannedContact
from customers.models import Product
from tests.factories import (
    ClientFactory,
    ContactPlanFactory,
    HoldingFactory,
    PlannedContactFactory,
    ProductFactory,
    TierFactory,
)
from vipcrm.tenancy import tenant_context

HTMX = {"HTTP_HX_REQUEST": "true"}
Reason = PlannedContact.Reason
Status = PlannedContact.Status


def today() -> datetime.date:
    return timezone.localdate()


def day(offset: int) -> datetime.date:
    return today() + datetime.timedelta(days=offset)


def week_end() -> datetime.date:
    return today() + datetime.timedelta(days=6 - today().weekday())


@pytest.fixture
def vip(bank_a):
    tier = TierFactory(tenant=bank_a.tenant, name="金卡")
    client = ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        tier=tier,
        name="王俊磊",
        risk_level="C3",
        risk_assessed_on=day(-100),
    )
    ContactPlanFactory(
        tenant=bank_a.tenant,
        client=client,
        cadence_days=90,
        last_contact_on=day(-95),
        next_due_on=day(-5),
    )
    return client


def contact(bank, client, due, **kwargs):
    kwargs.setdefault("assigned_to", bank.rm)
    return PlannedContactFactory(tenant=bank.tenant, client=client, due_on=due, **kwargs)


@pytest.fixture
def maturity(bank_a, vip):
    product = ProductFactory(
        tenant=bank_a.tenant, name="添利90天理财", category=Product.Category.WEALTH_MANAGEMENT
    )
    holding = HoldingFactory(
        tenant=bank_a.tenant,
        client=vip,
        product=product,
        balance=Decimal("1500000.00"),
        matures_on=day(10),
    )
    return contact(
        bank_a,
        vip,
        today(),
        reason=Reason.MATURITY,
        holding=holding,
        source_date=day(10),
        amount_cny=Decimal("1500000.00"),
        source_key=f"maturity:{holding.pk}:{day(10)}",
    )


def test_an_rms_day_lists_overdue_today_and_this_weeks_contacts(
    login, english, bank_a, vip, maturity
):
    overdue = contact(bank_a, vip, day(-3), status=Status.OVERDUE)
    later = contact(bank_a, vip, week_end()) if week_end() > today() else None
    contact(bank_a, vip, week_end() + datetime.timedelta(days=1))  # next week: not today's
    contact(bank_a, vip, day(-1), status=Status.DONE)  # done: gone from the day
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm)
    contact(bank_a, other, today(), assigned_to=bank_a.other_rm)  # another RM's

    response = login(bank_a.rm).get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="contact-{overdue.pk}"' in page
    assert f'id="contact-{maturity.pk}"' in page
    if later is not None:
        assert f'id="contact-{later.pk}"' in page
    assert page.count('<tbody class="contactrow') == (3 if later else 2)
    # The maturity row carries its product, amount and talking points.
    assert "添利90天理财" in page
    assert "1,500,000.00" in page
    assert "matures on" in page


def test_the_day_shows_maturities_of_the_next_30_days_with_their_total(
    login, english, bank_a, vip, maturity
):
    HoldingFactory(
        tenant=bank_a.tenant, client=vip, balance=Decimal("250000.00"), matures_on=day(29)
    )
    HoldingFactory(tenant=bank_a.tenant, client=vip, balance=Decimal("999.00"), matures_on=day(31))
    page = login(bank_a.rm).get("/").content.decode()
    assert "Maturities in the next 30 days" in page
    assert "1,750,000" in page  # 1,500,000 + 250,000; the one in 31 days is not counted


def test_the_day_shows_upcoming_birthdays(login, english, bank_a, vip):
    vip.lunar_birthday = True
    with tenant_context(bank_a.tenant):
        vip.save()
    contact(
        bank_a, vip, day(2), reason=Reason.BIRTHDAY, source_date=day(2), source_key="birthday:2026"
    )
    page = login(bank_a.rm).get("/").content.decode()
    assert "Birthdays in the next 7 days" in page
    assert "lunar birthday" in page


def test_my_day_costs_the_same_queries_for_few_or_many_contacts(
    login, bank_a, vip, maturity, django_assert_max_num_queries
):
    http = login(bank_a.rm)
    contact(bank_a, vip, day(-2))
    with CaptureQueriesContext(connection) as few:
        http.get("/")
    for n in range(12):
        other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
        holding = HoldingFactory(tenant=bank_a.tenant, client=other, matures_on=day(n + 1))
        contact(bank_a, other, day(-n - 1))
        contact(
            bank_a,
            other,
            today(),
            reason=Reason.MATURITY,
            holding=holding,
            source_date=holding.matures_on,
            amount_cny=holding.balance,
        )
    with django_assert_max_num_queries(len(few)):
        response = http.get("/")
    assert response.content.decode().count('<tbody class="contactrow') >= 25


def test_logging_a_call_inline_removes_the_row_and_moves_the_next_due_date(
    login, english, bank_a, vip, maturity
):
    http = login(bank_a.rm)
    url = reverse("contact_plans:contact-log", args=[maturity.pk])
    form = http.get(url, **HTMX).content.decode()
    assert form.lstrip().startswith("<tbody") and "<html" not in form
    assert f'id="log-{maturity.pk}-channel"' in form

    response = http.post(
        url,
        {
            "channel": "phone",
            "summary": "客户同意续作，转购稳健理财",
            "duration_minutes": "15",
            "needs_found": ["preservation"],
            "next_step": "发送产品说明书",
            "next_step_on": day(3).isoformat(),
        },
        **HTMX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<tbody" not in body  # the row goes
    assert 'hx-swap-oob="true"' in body and "is due on" in body
    assert response["HX-Trigger"] == "contacts-changed"
    with tenant_context(bank_a.tenant):
        maturity.refresh_from_db()
        plan = ContactPlan.objects.get(client=vip)
        interaction = Interaction.objects.get(client=vip)
    assert maturity.status == Status.DONE
    assert plan.last_contact_on == today()
    assert plan.next_due_on == today() + datetime.timedelta(days=90)
    assert plan.next_due_on.isoformat() in body
    assert (interaction.planned_contact_id, interaction.staff_id) == (maturity.pk, bank_a.rm.pk)
    assert interaction.needs_found == ["preservation"]


def test_a_log_without_channel_or_summary_shows_the_errors_in_the_form(
    login, english, bank_a, vip, maturity
):
    response = login(bank_a.rm).post(
        reverse("contact_plans:contact-log", args=[maturity.pk]),
        {"channel": "", "summary": "", "duration_minutes": "5000"},
        **HTMX,
    )
    assert response.status_code == 200  # htmx swaps only 2xx: the form comes back
    body = response.content.decode()
    assert body.lstrip().startswith("<tbody")
    assert body.count('class="field__error"') >= 3
    with tenant_context(bank_a.tenant):
        assert not Interaction.objects.exists()
        maturity.refresh_from_db()
    assert maturity.status == Status.PLANNED


def test_a_next_step_date_in_the_past_is_refused_by_the_service_in_the_form(
    login, english, bank_a, vip, maturity
):
    response = login(bank_a.rm).post(
        reverse("contact_plans:contact-log", args=[maturity.pk]),
        {
            "channel": "phone",
            "summary": "已沟通",
            "next_step": "回访",
            "next_step_on": day(-2).isoformat(),
        },
        **HTMX,
    )
    body = response.content.decode()
    assert f'id="log-{maturity.pk}-next_step_on_error"' in body
    with tenant_context(bank_a.tenant):
        assert not Interaction.objects.exists()


def test_logging_without_javascript_redirects_back_with_a_message(
    login, english, bank_a, vip, maturity
):
    http = login(bank_a.rm)
    url = reverse("contact_plans:contact-log", args=[maturity.pk])
    page = http.get(url).content.decode()
    assert "<html" in page and "Log the contact" in page
    response = http.post(
        url, {"channel": "visit", "summary": "上门拜访", "next": "/contacts/week/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/contacts/week/"
    assert "Contact logged" in http.get("/contacts/week/").content.decode()
    # Logged already: the form is not offered again.
    assert "no longer open (Done)" in http.get(url).content.decode()


def test_an_unsafe_next_address_is_ignored(login, bank_a, vip, maturity):
    response = login(bank_a.rm).post(
        reverse("contact_plans:contact-log", args=[maturity.pk]),
        {"channel": "visit", "summary": "上门拜访", "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_rescheduling_requires_a_reason(login, english, bank_a, vip, maturity):
    http = login(bank_a.rm)
    url = reverse("contact_plans:contact-reschedule", args=[maturity.pk])
    response = http.post(url, {"due_on": day(4).isoformat(), "reason": ""}, **HTMX)
    body = response.content.decode()
    assert f'id="reschedule-{maturity.pk}-reason_error"' in body
    with tenant_context(bank_a.tenant):
        maturity.refresh_from_db()
    assert maturity.due_on == today()

    response = http.post(url, {"due_on": day(4).isoformat(), "reason": "客户出差"}, **HTMX)
    assert "<tbody" not in response.content.decode()
    assert day(4).isoformat() in response.content.decode()
    with tenant_context(bank_a.tenant):
        maturity.refresh_from_db()
    assert (maturity.due_on, maturity.rescheduled_from, maturity.reschedule_reason) == (
        day(4),
        today(),
        "客户出差",
    )


def test_rescheduling_into_the_past_is_refused_on_the_date(login, english, bank_a, vip, maturity):
    response = login(bank_a.rm).post(
        reverse("contact_plans:contact-reschedule", args=[maturity.pk]),
        {"due_on": day(-1).isoformat(), "reason": "补录"},
        **HTMX,
    )
    assert f'id="reschedule-{maturity.pk}-due_on_error"' in response.content.decode()


def test_the_counts_refresh_on_their_own(login, bank_a, vip, maturity):
    response = login(bank_a.rm).get(reverse("contact_plans:my-day-stats"), **HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith('<dl class="stats" id="contact-stats"')
    assert 'hx-trigger="contacts-changed from:body"' in body


def test_the_row_alone_closes_an_inline_form(login, bank_a, vip, maturity):
    http = login(bank_a.rm)
    row = http.get(reverse("contact_plans:contact-row", args=[maturity.pk]), **HTMX)
    assert row.content.decode().lstrip().startswith("<tbody")
    page = http.get(reverse("contact_plans:contact-row", args=[maturity.pk]))
    assert page.status_code == 302 and page["Location"].endswith(
        f"/clients/{vip.external_id}/#contacts"
    )


@pytest.mark.parametrize("route", ["contact-row", "contact-log", "contact-reschedule"])
def test_a_contact_outside_the_users_scope_is_a_404(route, login, bank_a, vip, maturity):
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm)
    foreign = contact(bank_a, other, today(), assigned_to=bank_a.other_rm)
    url = reverse(f"contact_plans:{route}", args=[foreign.pk])
    assert login(bank_a.rm).get(url, **HTMX).status_code == 404
    assert login(bank_a.supervisor).get(url, **HTMX).status_code == 404  # other_sub: not theirs
    assert login(bank_a.head).get(url, **HTMX).status_code == 200
    if route != "contact-row":
        response = login(bank_a.rm).post(url, {"channel": "phone", "summary": "x", "reason": "x"})
        assert response.status_code == 404
    with tenant_context(bank_a.tenant):
        foreign.refresh_from_db()
    assert foreign.status == Status.PLANNED


def test_another_banks_contact_is_a_404(login, bank_a, bank_b):
    theirs = PlannedContactFactory(tenant=bank_b.tenant, due_on=today())
    for route in ("contact-row", "contact-log", "contact-reschedule"):
        url = reverse(f"contact_plans:{route}", args=[theirs.pk])
        assert login(bank_a.head).get(url).status_code == 404


def test_a_supervisors_day_shows_the_branchs_overdue_contacts_and_coverage(
    login, english, bank_a, vip
):
    contact(bank_a, vip, day(-3), status=Status.OVERDUE)
    page = login(bank_a.supervisor).get("/").content.decode()
    assert "Contact plans of my branch" in page
    assert reverse("contact_plans:overdue") in page
    assert '<tbody class="contactrow' not in page  # no RM rows for a supervisor
    head = login(bank_a.head).get("/").content.decode()
    assert "Contact plans of the bank" in head
