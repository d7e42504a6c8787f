"""The calendar feed: RFC 5545 text (escaping, folding, all-day events) and the secret
URL that alone authenticates it."""

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contact_plans import ics
from contact_plans.models import CalendarFeed, PlannedContact
from contact_plans.services import calendar_feed_create
from tests.factories import ClientFactory, HoldingFactory, PlannedContactFactory, ProductFactory
from vipcrm.tenancy import tenant_context

Status = PlannedContact.Status


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


# --- The text ----------------------------------------------------------------------


def test_text_values_escape_backslashes_semicolons_commas_and_newlines():
    assert ics.escape_text("a\\b;c,d\ne\r\nf") == "a\\\\b\\;c\\,d\\ne\\nf"


def test_long_lines_fold_at_75_octets_without_splitting_a_chinese_character():
    line = "SUMMARY:" + "到期提醒" * 30
    folded = ics.fold(line)
    parts = folded.split("\r\n")
    assert all(len(part.encode("utf-8")) <= 75 for part in parts)
    assert all(part.startswith(" ") for part in parts[1:])
    assert "".join([parts[0], *(p[1:] for p in parts[1:])]) == line
    for part in parts:
        part.encode("utf-8").decode("utf-8")  # each piece is whole characters


def test_an_all_day_event_has_a_date_start_and_the_next_day_as_its_end():
    event = ics.CalendarEvent(
        uid="planned-contact-1@bank-a.vipcrm",
        day=datetime.date(2026, 12, 31),
        summary="到期; 续作, 张三",
        description="第一行\n第二行",
    )
    text = ics.calendar_text(
        [event],
        name="日历",
        time_zone="Asia/Shanghai",
        now=datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.UTC),
    )
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = unfold(text)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines and "DTSTAMP:20261201T080000Z" in lines
    assert "DTSTART;VALUE=DATE:20261231" in lines
    assert "DTEND;VALUE=DATE:20270101" in lines
    assert "SUMMARY:到期\\; 续作\\, 张三" in lines
    assert "DESCRIPTION:第一行\\n第二行" in lines


# --- The feed ----------------------------------------------------------------------


@pytest.fixture
def feed_url(bank_a, client):
    """The RM's secret URL, made as the weekly page's button does."""
    with tenant_context(bank_a.tenant):
        _, secret = calendar_feed_create(staff=bank_a.rm)
    return reverse("contact_plans:calendar-feed", args=[f"{bank_a.tenant.slug}.{secret}"])


@pytest.fixture
def contacts(bank_a, bank_b):
    today = timezone.localdate()
    mine = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, name="李,雷;先生"
    )
    product = ProductFactory(tenant=bank_a.tenant, name="季季盈理财")
    holding = HoldingFactory(tenant=bank_a.tenant, client=mine, product=product)
    due = PlannedContactFactory(
        tenant=bank_a.tenant,
        client=mine,
        assigned_to=bank_a.rm,
        reason=PlannedContact.Reason.MATURITY,
        holding=holding,
        source_date=today + datetime.timedelta(days=7),
        amount_cny=Decimal("320000.00"),
        due_on=today + datetime.timedelta(days=2),
    )
    done = PlannedContactFactory(
        tenant=bank_a.tenant, client=mine, assigned_to=bank_a.rm, due_on=today, status=Status.DONE
    )
    theirs_client = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.other_rm, name="同行别人"
    )
    theirs = PlannedContactFactory(
        tenant=bank_a.tenant, client=theirs_client, assigned_to=bank_a.other_rm, due_on=today
    )
    other_bank = PlannedContactFactory(
        tenant=bank_b.tenant,
        client__name="乙行客户",
        assigned_to=bank_b.rm,
        due_on=today,
    )
    return {"due": due, "done": done, "theirs": theirs, "other_bank": other_bank}


def test_the_feed_lists_the_owners_open_contacts_as_all_day_events(
    client, bank_a, contacts, feed_url
):
    response = client.get(feed_url)  # no login: the secret is the credential
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    lines = unfold(response.content.decode())
    events = [line for line in lines if line == "BEGIN:VEVENT"]
    assert len(events) == 1  # not the done one, not another RM's, not another bank's
    due = contacts["due"]
    assert f"UID:planned-contact-{due.pk}@bank-a.vipcrm" in lines
    assert f"DTSTART;VALUE=DATE:{due.due_on:%Y%m%d}" in lines
    summary = next(line for line in lines if line.startswith("SUMMARY:"))
    assert "李\\,雷\\;先生" in summary  # escaped
    description = next(line for line in lines if line.startswith("DESCRIPTION:"))
    assert "季季盈理财" in description and "320\\,000.00" in description
    body = response.content.decode()
    assert "同行别人" not in body and "乙行客户" not in body


def test_fetching_the_feed_records_when_it_was_used(client, bank_a, contacts, feed_url):
    client.get(feed_url)
    with tenant_context(bank_a.tenant):
        assert CalendarFeed.objects.get(staff=bank_a.rm).last_used_at is not None


@pytest.mark.parametrize(
    "token",
    [
        "bank-a.wrong-secret",
        "bank-a",
        "nosuchbank.{secret}",
        "bank-b.{secret}",
        ".{secret}",
        "bank-a.",
    ],
)
def test_a_wrong_secret_or_bank_is_a_404(token, client, bank_a, bank_b, contacts, feed_url):
    secret = feed_url.rsplit(".", 1)[0].split(".", 1)[1]
    url = reverse("contact_plans:calendar-feed", args=[token.format(secret=secret)])
    response = client.get(url)
    assert response.status_code == 404
    assert "VCALENDAR" not in response.content.decode()


def test_a_replaced_secret_stops_working(client, bank_a, contacts, feed_url):
    with tenant_context(bank_a.tenant):
        calendar_feed_create(staff=bank_a.rm)
    assert client.get(feed_url).status_code == 404


def test_another_banks_rm_with_their_own_secret_sees_only_their_contacts(client, bank_b, contacts):
    with tenant_context(bank_b.tenant):
        _, secret = calendar_feed_create(staff=bank_b.rm)
    url = reverse("contact_plans:calendar-feed", args=[f"bank-b.{secret}"])
    body = client.get(url).content.decode()
    assert "乙行客户" in body and "李" not in body


def test_the_weekly_page_makes_a_link_and_shows_it_once(login, english, bank_a, contacts):
    http = login(bank_a.rm)
    page = http.get(reverse("contact_plans:week")).content.decode()
    assert "Make my calendar link" in page
    response = http.post(reverse("contact_plans:calendar-create"), HTTP_HX_REQUEST="true")
    box = response.content.decode()
    assert box.lstrip().startswith('<section class="card card--narrow calendarbox')
    assert "shown only this once" in box
    url = box.split('value="', 1)[1].split('"', 1)[0]
    assert url.startswith("http://testserver/contacts/calendar/bank-a.") and url.endswith(".ics")
    assert Client().get(url.removeprefix("http://testserver")).status_code == 200  # no login
    assert http.get(reverse("contact_plans:calendar-create")).status_code == 405  # POST only
    page = http.get(reverse("contact_plans:week")).content.decode()
    assert url not in page and "Your calendar link was made on" in page


def test_making_a_link_without_javascript_shows_a_page(login, english, bank_a):
    response = login(bank_a.rm).post(reverse("contact_plans:calendar-create"))
    assert response.status_code == 200
    assert "<html" in response.content.decode()
    assert "/contacts/calendar/bank-a." in response.content.decode()
