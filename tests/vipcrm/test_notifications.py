"""In-app notifications: rendered in the reader's language, seen by their recipient only,
the bell's unread count, marking read one by one or all at once."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from tests.factories import NotificationFactory, StaffFactory
from vipcrm import notifications
from vipcrm.models import Notification
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

LIST = reverse("notifications")
BELL = reverse("notification-bell")
READ_ALL = reverse("notifications-read-all")
HTMX = {"HTTP_HX_REQUEST": "true"}


def text(kind, **params):
    return notifications.notification_text(Notification(kind=kind, params=params))


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    return client


def notify(bank, staff, **kwargs):
    kwargs.setdefault("params", {"date": "2026-11-27", "upgrades": 3, "downgrades": 1, "other": 0})
    return NotificationFactory(tenant=bank.tenant, recipient=staff, **kwargs)


# --- What each kind says ---------------------------------------------------------------


def test_tier_changes_read_as_counts_for_the_day():
    with translation.override("en"):
        assert (
            text("tier_changes", date="2026-11-27", upgrades=3, downgrades=1, other=0)
            == "November 27: 3 clients upgraded, 1 downgraded"
        )
        assert (
            text("tier_changes", date="2026-11-27", upgrades=1, downgrades=0, other=2)
            == "November 27: 1 client upgraded, 2 other tier changes"
        )


def test_tier_changes_follow_the_readers_language():
    with translation.override("zh-hans"):
        chinese = text("tier_changes", date="2026-11-27", upgrades=3, downgrades=1)
    assert "11月27日" in chinese and "3" in chinese and "1" in chinese


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"count": 5, "direction": "in", "other_rm": "李娜", "by": "张经理"},
            "张经理 moved 5 clients from 李娜 to you",
        ),
        (
            {"count": 1, "direction": "in", "other_rm": "李娜", "by": "张经理"},
            "张经理 moved 1 client from 李娜 to you",
        ),
        (
            {"count": 5, "direction": "out", "other_rm": "李娜", "by": "张经理"},
            "张经理 moved 5 of your clients to 李娜",
        ),
        (
            {"count": 2, "direction": "out", "other_rm": "", "by": "张经理"},
            "张经理 moved 2 of your clients to the branch pool",
        ),
    ],
)
def test_a_reassignment_says_who_moved_how_many_and_which_way(params, expected):
    with translation.override("en"):
        assert text("clients_reassigned", **params) == expected


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("unknown_kind", {}),
        ("tier_changes", {"date": "not a date", "upgrades": 1}),
        ("tier_changes", {"upgrades": "many"}),
        ("clients_reassigned", {"count": None}),
    ],
)
def test_an_unknown_kind_or_odd_params_never_break_the_page(kind, params):
    with translation.override("en"):
        assert text(kind, **params)


# --- Recipient only --------------------------------------------------------------------


def test_the_list_shows_only_my_notifications_newest_first(login, english, bank_a):
    older = notify(bank_a, bank_a.rm, params={"date": "2026-11-26", "upgrades": 2})
    newer = notify(bank_a, bank_a.rm, params={"date": "2026-11-27", "upgrades": 3})
    notify(bank_a, bank_a.other_rm, params={"date": "2026-11-27", "upgrades": 9})
    with tenant_context(bank_a.tenant):
        Notification.objects.filter(pk=older.pk).update(
            created_at=timezone.now() - datetime.timedelta(days=1)
        )
    html = login(bank_a.rm).get(LIST).content.decode()
    assert html.index("3 clients upgraded") < html.index("2 clients upgraded")
    assert "9 clients upgraded" not in html
    assert reverse("notification-open", args=[newer.pk]) in html


@pytest.mark.parametrize("who", ["head", "supervisor", "other_rm"])
def test_nobody_but_the_recipient_opens_or_marks_a_notification(login, bank_a, who):
    mine = notify(bank_a, bank_a.rm)
    client = login(getattr(bank_a, who))
    assert client.get(reverse("notification-open", args=[mine.pk])).status_code == 404
    assert client.post(reverse("notification-read", args=[mine.pk])).status_code == 404
    client.post(READ_ALL)
    with tenant_context(bank_a.tenant):
        assert Notification.objects.get(pk=mine.pk).read_at is None


def test_another_banks_notification_is_a_404(login, bank_a, bank_b):
    theirs = notify(bank_b, bank_b.rm)
    client = login(bank_a.rm)
    assert client.get(reverse("notification-open", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("notification-read", args=[theirs.pk])).status_code == 404


def test_the_mark_read_service_refuses_someone_elses_notification(bank_a):
    mine = notify(bank_a, bank_a.rm)
    with tenant_context(bank_a.tenant), pytest.raises(Notification.DoesNotExist):
        notifications.notification_mark_read(staff=bank_a.other_rm, notification=mine)


# --- Unread count and the bell ---------------------------------------------------------


def test_the_unread_count_is_one_query(bank_a, django_assert_num_queries):
    notify(bank_a, bank_a.rm)
    notify(bank_a, bank_a.rm, read_at=timezone.now())
    notify(bank_a, bank_a.other_rm)
    with tenant_context(bank_a.tenant), django_assert_num_queries(1):
        count = notifications.notifications_unread_count(staff=bank_a.rm)
    assert count == 1


def test_the_bell_shows_the_unread_count(login, bank_a):
    for _ in range(3):
        notify(bank_a, bank_a.rm)
    bell = login(bank_a.rm).get(BELL, **HTMX).content.decode()
    assert 'class="bell__count"' in bell and ">3<" in bell
    assert f'href="{LIST}"' in bell


def test_a_bell_past_99_says_99_plus(login, bank_a):
    with tenant_context(bank_a.tenant):
        Notification.objects.bulk_create(
            [Notification(recipient=bank_a.rm, kind="tier_changes") for _ in range(120)]
        )
    assert "99+" in login(bank_a.rm).get(BELL).content.decode()


def test_every_page_carries_the_bell_but_spends_no_query_on_it(login, bank_a):
    notify(bank_a, bank_a.rm)
    client = login(bank_a.rm)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("home")).content.decode()
    assert 'id="notification-bell"' in html and f'hx-get="{BELL}"' in html
    assert not any("vipcrm_notification" in q["sql"] for q in queries.captured_queries)


def test_logged_out_visitors_get_no_bell(client):
    html = client.get(reverse("login")).content.decode()
    assert "notification-bell" not in html
    response = client.get(BELL)
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- Marking read ----------------------------------------------------------------------


def test_marking_one_read_with_htmx_returns_the_row_and_the_new_count(login, bank_a):
    first = notify(bank_a, bank_a.rm)
    notify(bank_a, bank_a.rm)
    response = login(bank_a.rm).post(reverse("notification-read", args=[first.pk]), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="notification-{first.pk}"' in html
    assert 'hx-swap-oob="true"' in html and ">1<" in html  # the bell, out of band
    with tenant_context(bank_a.tenant):
        assert Notification.objects.get(pk=first.pk).read_at is not None


def test_marking_read_twice_keeps_the_first_reading_time(login, bank_a):
    mine = notify(bank_a, bank_a.rm)
    client = login(bank_a.rm)
    client.post(reverse("notification-read", args=[mine.pk]))
    with tenant_context(bank_a.tenant):
        first = Notification.objects.get(pk=mine.pk).read_at
    response = client.post(reverse("notification-read", args=[mine.pk]))
    assert response.status_code == 302 and response["Location"] == LIST
    with tenant_context(bank_a.tenant):
        assert Notification.objects.get(pk=mine.pk).read_at == first


def test_marking_read_takes_a_post(login, bank_a):
    mine = notify(bank_a, bank_a.rm)
    assert login(bank_a.rm).get(reverse("notification-read", args=[mine.pk])).status_code == 405


def test_mark_all_read_is_one_update_of_my_notifications_only(
    login, bank_a, django_assert_max_num_queries
):
    for _ in range(5):
        notify(bank_a, bank_a.rm)
    theirs = notify(bank_a, bank_a.other_rm)
    with tenant_context(bank_a.tenant), django_assert_max_num_queries(1):
        assert notifications.notifications_mark_all_read(staff=bank_a.rm) == 5
    with tenant_context(bank_a.tenant):
        assert not Notification.objects.filter(recipient=bank_a.rm, read_at=None).exists()
        assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_mark_all_read_from_the_page(login, bank_a):
    notify(bank_a, bank_a.rm)
    client = login(bank_a.rm)
    assert client.post(READ_ALL).status_code == 302
    assert client.post(READ_ALL, **HTMX)["HX-Refresh"] == "true"
    with tenant_context(bank_a.tenant):
        assert notifications.notifications_unread_count(staff=bank_a.rm) == 0


def test_opening_a_notification_marks_it_read_and_follows_its_link(login, bank_a):
    mine = notify(bank_a, bank_a.rm, link="/segmentation/tier-changes/?effective_on=2026-11-27")
    response = login(bank_a.rm).get(reverse("notification-open", args=[mine.pk]))
    assert response.status_code == 302
    assert response["Location"] == "/segmentation/tier-changes/?effective_on=2026-11-27"
    with tenant_context(bank_a.tenant):
        assert Notification.objects.get(pk=mine.pk).read_at is not None


@pytest.mark.parametrize("link", ["https://evil.example/", "//evil.example/", ""])
def test_a_link_off_the_site_leads_to_the_list_instead(login, bank_a, link):
    mine = notify(bank_a, bank_a.rm, link=link)
    response = login(bank_a.rm).get(reverse("notification-open", args=[mine.pk]))
    assert response["Location"] == LIST


def test_the_list_is_paginated(login, bank_a):
    with tenant_context(bank_a.tenant):
        Notification.objects.bulk_create(
            [
                Notification(recipient=bank_a.rm, kind="tier_changes", params={"upgrades": 1})
                for _ in range(45)
            ]
        )
    client = login(bank_a.rm)
    first = client.get(LIST)
    assert len(first.context["notifications"]) == 20
    assert first.context["page_obj"].has_next()
    assert len(client.get(LIST, {"page": 3}).context["notifications"]) == 5


def test_a_login_without_a_staff_profile_has_no_inbox(client, bank_a):
    staff = StaffFactory(tenant=bank_a.tenant, is_active=False)
    client.force_login(staff.user)
    assert client.get(LIST).status_code == 403
