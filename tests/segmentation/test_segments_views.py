"""Saved-segment pages: the list, the builder and its preview, save, edit and delete by
the owner only, who sees which segment, each viewer's own clients, and query counts."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from segmentation.models import SavedSegment
from tests.factories import (
    ClientFactory,
    ClientSegmentFactory,
    SavedSegmentFactory,
    StaffFactory,
    TierFactory,
)
from vipcrm.models import AuditEntry
from vipcrm.roles import Role

pytestmark = pytest.mark.django_db

LIST = reverse("segmentation:segment-list")
CREATE = reverse("segmentation:segment-create")
PREVIEW = reverse("segmentation:segment-preview")
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, segment):
    return reverse(f"segmentation:segment-{name}", args=[segment.pk])


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def book(bank_a):
    """Gold clients of the RM (sub-branch), of a colleague in the same sub-branch, and of
    the other RM (another sub-branch); and one non-VIP client of the RM."""
    t = bank_a.tenant
    gold = TierFactory(tenant=t, code="GOLD", name="金卡", rank=2)
    colleague = StaffFactory(
        tenant=t, branch=bank_a.sub, role=Role.RM, code="R3", user__username="banka.rm3"
    )
    made = {
        "rm_gold": ClientFactory(
            tenant=t, name="王金卡", tier=gold, branch=bank_a.sub, owner_rm=bank_a.rm
        ),
        "rm_plain": ClientFactory(tenant=t, name="王普通", branch=bank_a.sub, owner_rm=bank_a.rm),
        "colleague_gold": ClientFactory(
            tenant=t, name="李金卡", tier=gold, branch=bank_a.sub, owner_rm=colleague
        ),
        "other_gold": ClientFactory(
            tenant=t, name="赵金卡", tier=gold, branch=bank_a.other_sub, owner_rm=bank_a.other_rm
        ),
    }
    return {"colleague": colleague, "gold": gold, **made}


def gold_segment(bank, owner, **kwargs):
    return SavedSegmentFactory(
        tenant=bank.tenant,
        owner=owner,
        name=kwargs.pop("name", "金卡客户"),
        criteria={"version": 1, "tiers": ["GOLD"]},
        **kwargs,
    )


# --- Building and saving --------------------------------------------------------------


def test_the_builder_shows_every_dimension_and_a_preview(login, english, bank_a, book):
    response = login(bank_a.supervisor).get(CREATE)
    assert response.status_code == 200
    body = text(response)
    for name in (
        "tiers",
        "aum_min",
        "average_aum_max",
        "lifecycles",
        "open_needs",
        "entrepreneur",
        "risk_levels",
        "risk_expired",
        "product_preferences",
        "holds_categories",
        "branches",
        "owner_rms",
        "maturing_within_days",
        "age_min",
        "birth_months",
        "genders",
        "preferred_channels",
        "life_events",
        "life_event_within_days",
    ):
        assert f'name="{name}"' in body, name
    # Nothing ticked: the whole view (the clients of BJ and BJ01).
    assert 'id="preview-count" data-count="3"' in body
    assert "王金卡" in body


def test_the_builder_offers_an_rm_only_their_branch_and_themself(login, bank_a, book):
    body = text(login(bank_a.rm).get(CREATE))
    assert 'value="BJ01"' in body and 'value="SH01"' not in body and 'value="BJ"' not in body
    assert 'value="R1"' in body and 'value="R2"' not in body


def test_the_preview_counts_and_lists_without_saving(login, bank_a, book, in_tenant):
    client = login(bank_a.supervisor)
    response = client.get(PREVIEW, {"tiers": ["GOLD"], "aum_min": ""}, **HTMX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body  # the fragment alone
    assert 'data-count="2"' in body  # the supervisor's branch: the RM's and the colleague's
    assert "王金卡" in body and "李金卡" in body and "赵金卡" not in body
    with in_tenant(bank_a.tenant):
        assert not SavedSegment.objects.exists()
        assert not AuditEntry.objects.filter(action="create").exists()


def test_the_preview_shows_what_to_correct(login, english, bank_a, book):
    response = login(bank_a.supervisor).get(
        PREVIEW, {"aum_min": "900", "aum_max": "100", "lifecycles": ["sleepy"]}, **HTMX
    )
    assert response.status_code == 200
    body = text(response)
    assert 'id="preview-errors"' in body
    assert "AUM up to (CNY): This is below the lower bound." in body
    assert "Lifecycle: Select a valid choice." in body


def test_the_preview_without_htmx_goes_to_the_builder(login, bank_a):
    response = login(bank_a.rm).get(PREVIEW)
    assert response.status_code == 302 and response["Location"] == CREATE


def test_save_a_segment_from_the_builder(login, bank_a, book, in_tenant):
    response = login(bank_a.supervisor).post(
        CREATE,
        {
            "name": "  金卡目标  ",
            "description": "季度营销",
            "is_shared": "on",
            "tiers": ["GOLD", "-"],
            "aum_min": "100000",
            "lifecycles": ["stable", "new"],
            "entrepreneur": "no",
            "risk_expired": "expired",
            "birth_months": ["3", "12"],
            "age_min": "",
        },
    )
    with in_tenant(bank_a.tenant):
        segment = SavedSegment.objects.get()
        entry = AuditEntry.objects.get(action="create")
    assert response.status_code == 302
    assert response["Location"] == url("detail", segment)
    assert (segment.name, segment.description, segment.is_shared) == ("金卡目标", "季度营销", True)
    assert segment.owner_id == bank_a.supervisor.pk
    assert segment.criteria == {
        "version": 1,
        "tiers": ["-", "GOLD"],
        "aum_min": "100000.00",
        "lifecycles": ["new", "stable"],
        "entrepreneur": False,
        "risk_expired": True,
        "birth_months": [3, 12],
    }
    assert entry.object_id == str(segment.pk) and entry.detail["criteria"] == segment.criteria


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "seg-name"),
        ({"name": "x", "aum_min": "-5"}, "crit-aum_min"),
        ({"name": "x", "age_min": "50", "age_max": "30"}, "crit-age_max"),
        ({"name": "x", "tiers": ["PLATINUM"]}, "group-tiers"),
        ({"name": "x", "branches": ["SH01"]}, "group-branches"),  # outside an RM's choices
        ({"name": "x", "maturing_within_days": "soon"}, "crit-maturing_within_days"),
        ({"name": "x", "entrepreneur": "maybe"}, "crit-entrepreneur"),
    ],
)
def test_invalid_input_is_a_form_error_and_saves_nothing(
    login, bank_a, book, in_tenant, data, field
):
    response = login(bank_a.rm).post(CREATE, data)
    assert response.status_code == 200
    body = text(response)
    assert 'class="field__error"' in body
    assert field in body
    with in_tenant(bank_a.tenant):
        assert not SavedSegment.objects.exists()
        assert not AuditEntry.objects.filter(action="create").exists()


def test_a_name_is_unique_per_owner(login, english, bank_a, book, in_tenant):
    gold_segment(bank_a, bank_a.rm, name="我的名单")
    gold_segment(bank_a, book["colleague"], name="同事名单")
    client = login(bank_a.rm)
    response = client.post(CREATE, {"name": "我的名单"})
    assert "You already have a segment with this name." in text(response)
    assert client.post(CREATE, {"name": "同事名单"}).status_code == 302  # another owner's name
    with in_tenant(bank_a.tenant):
        assert SavedSegment.objects.count() == 3


def test_the_no_js_preview_button_shows_the_preview_without_saving(login, bank_a, book, in_tenant):
    response = login(bank_a.rm).post(CREATE, {"preview": "1", "name": "", "tiers": ["GOLD"]})
    assert response.status_code == 200
    body = text(response)
    assert 'data-count="1"' in body and "王金卡" in body
    assert 'class="field__error"' not in body  # no "name required" while previewing
    with in_tenant(bank_a.tenant):
        assert not SavedSegment.objects.exists()


def test_the_owner_edits_a_segment_and_the_change_is_audited(login, bank_a, book, in_tenant):
    segment = gold_segment(bank_a, bank_a.rm)
    client = login(bank_a.rm)
    page = text(client.get(url("update", segment)))
    assert 'value="GOLD" id="crit-tiers_0" checked' in page
    response = client.post(
        url("update", segment), {"name": "非贵宾", "tiers": ["-"], "is_shared": "on"}
    )
    assert response.status_code == 302
    with in_tenant(bank_a.tenant):
        segment.refresh_from_db()
        entry = AuditEntry.objects.get(action="update")
    assert segment.name == "非贵宾" and segment.is_shared
    assert segment.criteria == {"version": 1, "tiers": ["-"]}
    assert set(entry.detail["changes"]) == {"name", "criteria", "is_shared"}


def test_saving_an_unchanged_segment_writes_no_audit_entry(login, bank_a, book, in_tenant):
    segment = gold_segment(bank_a, bank_a.rm)
    login(bank_a.rm).post(url("update", segment), {"name": segment.name, "tiers": ["GOLD"]})
    with in_tenant(bank_a.tenant):
        assert not AuditEntry.objects.filter(action="update").exists()


def test_the_owner_deletes_a_segment(login, bank_a, book, in_tenant):
    segment = gold_segment(bank_a, bank_a.rm)
    client = login(bank_a.rm)
    assert client.get(url("delete", segment)).status_code == 200
    response = client.post(url("delete", segment))
    assert response.status_code == 302 and response["Location"] == LIST
    with in_tenant(bank_a.tenant):
        assert not SavedSegment.objects.exists()
        assert AuditEntry.objects.get(action="delete").object_repr == "金卡客户"


# --- Who sees what --------------------------------------------------------------------


def test_the_list_shows_own_and_shared_segments_with_lazy_counts(login, bank_a, book):
    mine = gold_segment(bank_a, bank_a.rm, name="我的")
    shared = gold_segment(bank_a, book["colleague"], name="同事共享", is_shared=True)
    gold_segment(bank_a, book["colleague"], name="同事私有")
    gold_segment(bank_a, bank_a.other_rm, name="别的支行共享", is_shared=True)
    body = text(login(bank_a.rm).get(LIST))
    assert "我的" in body and "同事共享" in body
    assert "同事私有" not in body and "别的支行共享" not in body
    assert f'hx-get="{url("count", mine)}"' in body
    assert f'hx-get="{url("count", shared)}"' in body


def test_a_supervisor_sees_the_shared_segments_of_the_branches_below(login, bank_a, book):
    gold_segment(bank_a, book["colleague"], name="同事共享", is_shared=True)
    gold_segment(bank_a, book["colleague"], name="同事私有")
    gold_segment(bank_a, bank_a.other_rm, name="浦东共享", is_shared=True)
    body = text(login(bank_a.supervisor).get(LIST))
    assert "同事共享" in body and "同事私有" not in body and "浦东共享" not in body
    body = text(login(bank_a.head).get(LIST))
    assert "同事共享" in body and "浦东共享" in body and "同事私有" not in body


def test_the_count_is_the_viewers_own_clients(login, bank_a, book):
    shared = gold_segment(bank_a, bank_a.rm, is_shared=True)
    assert text(login(bank_a.rm).get(url("count", shared), **HTMX)).strip() == "1"
    assert text(login(book["colleague"]).get(url("count", shared), **HTMX)).strip() == "1"
    assert text(login(bank_a.supervisor).get(url("count", shared), **HTMX)).strip() == "2"
    assert text(login(bank_a.head).get(url("count", shared), **HTMX)).strip() == "3"


def test_a_shared_segment_run_by_a_colleague_shows_only_their_clients(login, bank_a, book):
    shared = gold_segment(bank_a, bank_a.rm, is_shared=True)
    body = text(login(book["colleague"]).get(url("detail", shared)))
    assert "李金卡" in body
    assert "王金卡" not in body and "赵金卡" not in body
    assert url("update", shared) not in body and url("delete", shared) not in body


def test_a_colleague_may_not_edit_or_delete_a_shared_segment(login, bank_a, book, in_tenant):
    shared = gold_segment(bank_a, bank_a.rm, is_shared=True)
    client = login(book["colleague"])
    assert client.get(url("update", shared)).status_code == 403
    assert client.post(url("update", shared), {"name": "改名"}).status_code == 403
    assert client.post(url("delete", shared)).status_code == 403
    with in_tenant(bank_a.tenant):
        shared.refresh_from_db()
    assert shared.name == "金卡客户"


@pytest.mark.parametrize("who", ["colleague", "supervisor", "head", "other_rm"])
def test_a_colleagues_unshared_segment_is_a_404(login, bank_a, book, who):
    private = gold_segment(bank_a, bank_a.rm)
    staff = book["colleague"] if who == "colleague" else getattr(bank_a, who)
    client = login(staff)
    for name in ("detail", "update", "delete", "count", "export-csv", "export-xlsx"):
        assert client.get(url(name, private), **HTMX).status_code == 404, name


def test_another_tenants_segment_is_a_404(login, bank_a, bank_b):
    theirs = SavedSegmentFactory(tenant=bank_b.tenant, owner=bank_b.rm, is_shared=True)
    client = login(bank_a.head)
    for name in ("detail", "update", "delete", "count", "export-csv", "export-xlsx"):
        assert client.get(url(name, theirs), **HTMX).status_code == 404, name


@pytest.mark.parametrize(
    ("who", "names"),
    [
        ("rm", {"王金卡"}),
        ("advisor", set()),
        ("supervisor", {"王金卡", "李金卡"}),
        ("head", {"王金卡", "李金卡", "赵金卡"}),
    ],
)
def test_each_role_runs_its_own_segment_over_its_own_scope(login, bank_a, book, who, names):
    staff = getattr(bank_a, who)
    segment = gold_segment(bank_a, staff)
    body = text(login(staff).get(url("detail", segment)))
    assert {n for n in ("王金卡", "李金卡", "赵金卡") if n in body} == names


# --- The segment page -----------------------------------------------------------------


def test_the_segment_page_lists_clients_with_links_and_describes_the_criteria(
    login, english, bank_a, book, in_tenant
):
    ClientSegmentFactory(
        tenant=bank_a.tenant,
        client=book["rm_gold"],
        average_aum_cny=Decimal("654321.00"),
        lifecycle="stable",
    )
    segment = gold_segment(bank_a, bank_a.rm, description="季度营销名单")
    body = text(login(bank_a.rm).get(url("detail", segment)))
    detail = reverse("customers:client-detail", args=[book["rm_gold"].external_id])
    assert f'href="{detail}"' in body
    assert "654,321.00" in body and "Stable" in body
    assert "季度营销名单" in body
    assert "<dt>Tier</dt><dd>金卡</dd>" in body
    assert url("export-csv", segment) in body and url("export-xlsx", segment) in body


def test_the_segment_page_paginates(login, bank_a, book):
    for number in range(55):
        ClientFactory(
            tenant=bank_a.tenant,
            name=f"客户{number:02d}",
            tier=book["gold"],
            branch=bank_a.sub,
            owner_rm=bank_a.rm,
        )
    segment = gold_segment(bank_a, bank_a.rm)
    client = login(bank_a.rm)
    first = text(client.get(url("detail", segment)))
    assert 'rel="next"' in first and "56" in first
    second = client.get(url("detail", segment), {"page": 2})
    assert second.status_code == 200 and 'rel="prev"' in text(second)
    assert second.content.decode().count("/clients/C") == 6
    assert client.get(url("detail", segment), {"page": 9}).status_code == 404
    assert client.get(url("detail", segment), {"page": "x"}).status_code == 404


def page_queries(client, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries.captured_queries)


def test_the_segment_page_makes_the_same_queries_for_few_and_many_clients(login, bank_a, book):
    segment = gold_segment(bank_a, bank_a.supervisor)
    client = login(bank_a.supervisor)
    few = page_queries(client, url("detail", segment))
    for number in range(40):
        row = ClientFactory(
            tenant=bank_a.tenant, tier=book["gold"], branch=bank_a.sub, owner_rm=bank_a.rm
        )
        ClientSegmentFactory(tenant=bank_a.tenant, client=row, lifecycle="growing")
    assert page_queries(client, url("detail", segment)) == few
    # The page's own: the staff's branch tree once (read once a request, for the
    # segment's reach and the clients' scope), the segment, one page of clients, the
    # capped count, the tier names (5). The shell's: session, user, staff, the tenant's
    # name, two savepoints and their releases (8), and on PostgreSQL the two set_config
    # of the tenant (bind, restore).
    expected = 13 + (2 if connection.vendor == "postgresql" else 0)
    with CaptureQueriesContext(connection) as queries:
        client.get(url("detail", segment))
    assert len(queries.captured_queries) == expected
    # No COUNT(*) over the whole scope: the only count is capped with a LIMIT.
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT" in counts[0].upper()


def test_the_list_makes_the_same_queries_for_few_and_many_segments(login, bank_a, book):
    client = login(bank_a.rm)
    gold_segment(bank_a, bank_a.rm, name="一")
    few = page_queries(client, LIST)
    for number in range(20):
        gold_segment(bank_a, bank_a.rm, name=f"名单{number}")
    assert page_queries(client, LIST) == few


def test_the_builder_and_preview_make_a_fixed_number_of_queries(login, bank_a, book):
    client = login(bank_a.supervisor)
    query = {"tiers": ["GOLD"], "branches": ["BJ01"], "open_needs": ["growth"]}
    with CaptureQueriesContext(connection) as few:
        client.get(PREVIEW, query, **HTMX)
    for number in range(30):
        ClientFactory(tenant=bank_a.tenant, tier=book["gold"], branch=bank_a.sub)
    with CaptureQueriesContext(connection) as many:
        client.get(PREVIEW, query, **HTMX)
    # The form's choices (tiers; branches and RMs), the criteria's code checks, the branch
    # tree (read once a request, for the choices, the criteria and the client scope), the
    # first rows and the capped count: a fixed number (16 with the shell's, +2 on
    # PostgreSQL), however many clients match.
    expected = 16 + (2 if connection.vendor == "postgresql" else 0)
    assert len(many.captured_queries) == len(few.captured_queries) == expected
