"""Pages of the shell: My day by role, the language switch, error pages."""

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from tests.factories import ClientFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_anonymous_users_are_sent_to_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("role", ["rm", "advisor", "supervisor", "head"])
def test_my_day_renders_for_every_role(client, bank_a, role):
    staff = getattr(bank_a, role)
    client.force_login(staff.user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert staff.name in response.content.decode()


def test_my_day_is_in_chinese_by_default_whatever_the_browser_says(client, bank_a):
    client.force_login(bank_a.rm.user)
    response = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response["Content-Language"] == "zh-hans"
    assert "我的一天" in response.content.decode()


def test_language_switch_to_english_and_back(client, bank_a):
    client.force_login(bank_a.rm.user)
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    page = client.get(reverse("home")).content.decode()
    assert "My day" in page and "我的一天" not in page
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert "我的一天" in client.get(reverse("home")).content.decode()


def test_unknown_url_is_a_404_page_in_the_users_language(client, bank_a):
    client.force_login(bank_a.rm.user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "页面不存在" in response.content.decode()
    client.cookies["django_language"] = "en"
    assert "Page not found" in client.get("/no-such-page/").content.decode()


def test_unknown_api_url_is_a_404(client, bank_a):
    client.force_login(bank_a.rm.user)
    assert client.get("/api/v1/nothing-here/").status_code == 404


def test_navigation_follows_the_role(client, bank_a):
    client.force_login(bank_a.rm.user)
    rm_page = client.get(reverse("home")).content.decode()
    client.force_login(bank_a.head.user)
    head_page = client.get(reverse("home")).content.decode()
    assert reverse("audit-log") not in rm_page
    assert reverse("audit-log") in head_page


def test_my_day_counts_the_rms_book(client, bank_a):
    for _ in range(3):
        ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    ClientFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm)
    client.force_login(bank_a.rm.user)
    response = client.get(reverse("home"))
    book = next(p for p in response.context["panels"] if "panel-book" in p)
    assert ">3<" in book.replace(" ", "")


def test_a_login_without_a_staff_profile_is_refused_politely(client, bank_a):
    loner = UserFactory(tenant=bank_a.tenant)
    client.force_login(loner)
    response = client.get(reverse("home"))
    assert response.status_code == 403


def test_staff_list_filters_and_rejects_nothing_badly(client, bank_a):
    client.force_login(bank_a.head.user)
    response = client.get(reverse("staff-list"), {"role": "rm"})
    assert sorted(m.code for m in response.context["staff_members"]) == ["R1", "R2"]
    assert client.get(reverse("staff-list"), {"role": "bogus", "page": "999"}).status_code == 404


def test_api_docs_and_schema_are_served_offline(client, bank_a):
    client.force_login(bank_a.rm.user)
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/branches/" in schema.content
    docs = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "//cdn" not in docs and "unpkg" not in docs and "jsdelivr" not in docs


def test_rms_and_advisors_do_not_get_the_supervisor_lists(client, bank_a):
    for staff in (bank_a.rm, bank_a.advisor):
        client.force_login(staff.user)
        assert client.get(reverse("staff-list")).status_code == 404
        assert client.get(reverse("branch-list")).status_code == 404
    client.force_login(bank_a.supervisor.user)
    assert client.get(reverse("branch-list")).status_code == 200


def test_pagination_keeps_the_filters(client, bank_a, settings):
    from tests.factories import StaffFactory

    for _ in range(55):
        StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role="rm")
    client.force_login(bank_a.head.user)
    page = client.get(reverse("staff-list"), {"role": "rm"}).content.decode()
    assert "role=rm&amp;page=2" in page


def test_an_expired_form_gets_a_translated_page_not_djangos(bank_a):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(bank_a.rm.user)
    response = csrf_client.post(reverse("logout"))
    assert response.status_code == 403
    assert "表单已过期" in response.content.decode()


def test_the_500_page_needs_no_database(rf):
    from vipcrm.views import server_error

    # Rendered in the language the request had activated (here the bank's default).
    with translation.override(settings.LANGUAGE_CODE):
        response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert "出错了" in response.content.decode()


def test_the_api_speaks_the_language_its_client_asks_for(client, bank_a):
    english = client.get("/api/v1/branches/", HTTP_ACCEPT_LANGUAGE="en")
    chinese = client.get("/api/v1/branches/")
    assert english.status_code == chinese.status_code == 401
    assert english["Content-Language"] == "en"
    assert chinese["Content-Language"] == "zh-hans"
    # Pages stay Chinese whatever the browser says.
    assert client.get("/login/", HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "zh-hans"
