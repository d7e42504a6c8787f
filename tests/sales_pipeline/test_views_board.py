"""The pipeline board (/pipeline/): five columns with counts and sums per role, the
filters, the capped columns and their own pages, and moving a card with htmx or
without JS."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contact_plans.models import PlannedContact
from sales_pipeline.models import Opportunity, StepEntry
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    InteractionFactory,
    PlannedContactFactory,
    TierFactory,
)
from tests.sales_pipeline.builders import opportunity_at
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

BOARD = reverse("sales_pipeline:board")
HTMX = {"HTTP_HX_REQUEST": "true"}
DAY = datetime.timedelta(days=1)


def move_url(opportunity) -> str:
    return reverse("sales_pipeline:move", args=[opportunity.pk])


def client_of(bank, *, owner=None, branch=None, **kwargs):
    return ClientFactory(
        tenant=bank.tenant,
        branch=branch or bank.sub,
        owner_rm=owner if owner is not None else bank.rm,
        **kwargs,
    )


def opportunity(bank, client, *, step=1, days=2, **kwargs) -> Opportunity:
    """An opportunity at ``step``, in it for ``days`` days, with its step entry."""
    return opportunity_at(bank, client, step, entered_ago=DAY * days, **kwargs)


def planned(bank, opportunity) -> PlannedContact:
    """Step 1 done: a contact planned for the opportunity."""
    contact = PlannedContactFactory(
        tenant=bank.tenant,
        client=opportunity.client,
        reason=PlannedContact.Reason.FOLLOW_UP,
        due_on=timezone.localdate() + DAY,
    )
    with tenant_context(bank.tenant):
        Opportunity.objects.filter(pk=opportunity.pk).update(planned_contact=contact)
    return contact


def columns(response) -> dict[int, object]:
    return {column.step: column for column in response.context["board"].columns}


@pytest.fixture
def book(bank_a):
    """The RM's clients with opportunities at steps 1, 2 and 4, another RM's, a lost one
    and a celebrated one."""
    vip = client_of(bank_a, name="王建国", tier=TierFactory(tenant=bank_a.tenant, name="钻石"))
    other = client_of(bank_a, owner=bank_a.other_rm, branch=bank_a.other_sub, name="赵敏")
    return {
        "vip": vip,
        "plan": opportunity(
            bank_a, vip, title="到期理财续作", expected_amount_cny=Decimal("800000")
        ),
        "contact": opportunity(
            bank_a, vip, step=2, title="子女留学资金规划", expected_amount_cny=Decimal("300000")
        ),
        "follow": opportunity(
            bank_a,
            vip,
            step=4,
            status=Opportunity.Status.WON,
            won_amount_cny=Decimal("250000"),
            expected_amount_cny=Decimal("200000"),
            title="年金险",
        ),
        "others": opportunity(bank_a, other, title="另一位客户经理的机会"),
        "lost": opportunity(
            bank_a,
            vip,
            status=Opportunity.Status.LOST,
            lost_at=timezone.now(),
            lost_reason="declined",
            title="已流失的机会",
        ),
        "celebrated": opportunity(
            bank_a,
            vip,
            step=5,
            status=Opportunity.Status.WON,
            won_amount_cny=Decimal("1000000"),
            completed_at=timezone.now(),
            title="已庆祝的机会",
        ),
    }


def test_an_rm_sees_their_opportunities_by_step_with_counts_and_amounts(
    login, english, bank_a, book
):
    response = login(bank_a.rm).get(BOARD)
    assert response.status_code == 200
    board = columns(response)
    assert [board[step].count for step in range(1, 6)] == [1, 1, 0, 1, 0]
    assert board[1].amount_cny == Decimal("800000.00")
    assert board[4].amount_cny == Decimal("250000.00")  # won: the amount won, not expected
    page = response.content.decode()
    assert "到期理财续作" in page and "年金险" in page and "王建国" in page and "钻石" in page
    assert "另一位客户经理的机会" not in page
    assert "已流失的机会" not in page and "已庆祝的机会" not in page
    assert "3 opportunities on the board, 1,350,000.00 CNY." in page
    assert "1 celebrated (1,000,000.00 CNY), 1 lost." in page


def test_an_advisor_sees_the_opportunities_of_their_team_clients(login, bank_a, book):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=book["vip"], staff=bank_a.advisor)
    response = login(bank_a.advisor).get(BOARD)
    assert sum(column.count for column in columns(response).values()) == 3
    assert "另一位客户经理的机会" not in response.content.decode()
    assert "owner_rm" not in response.context["filter_form"].fields


def test_a_supervisor_sees_the_branch_subtree_filters_by_rm_and_moves_nothing(login, bank_a, book):
    http = login(bank_a.supervisor)
    response = http.get(BOARD)
    assert sum(column.count for column in columns(response).values()) == 3  # not 浦东's
    assert 'hx-post="' not in response.content.decode()
    filtered = http.get(BOARD, {"owner_rm": bank_a.other_rm.pk})
    assert "owner_rm" in filtered.context["filter_form"].errors  # not among theirs
    only_mine = http.get(BOARD, {"owner_rm": bank_a.rm.pk})
    assert sum(column.count for column in columns(only_mine).values()) == 3


def test_head_office_sees_the_bank_and_filters_by_branch(login, bank_a, book):
    http = login(bank_a.head)
    everything = http.get(BOARD)
    assert sum(column.count for column in columns(everything).values()) == 4
    pudong = http.get(BOARD, {"branch": bank_a.other_sub.pk})
    assert [column.count for column in columns(pudong).values()] == [1, 0, 0, 0, 0]
    assert "另一位客户经理的机会" in pudong.content.decode()


def test_the_filters_narrow_the_board(login, english, bank_a, book):
    http = login(bank_a.rm)
    other_tier = TierFactory(tenant=bank_a.tenant, name="金卡")
    gold = client_of(bank_a, name="钱小红", tier=other_tier)
    opportunity(bank_a, gold, source=Opportunity.Source.CAMPAIGN, days=30, title="活动邀约")

    def titles(**params):
        response = http.get(BOARD, params)
        return sorted(c.title for column in columns(response).values() for c in column.cards)

    assert titles(source="campaign") == ["活动邀约"]
    assert titles(tier=other_tier.pk) == ["活动邀约"]
    assert titles(min_days=10) == ["活动邀约"]
    assert titles(q="王建") == ["到期理财续作", "子女留学资金规划", "年金险"]
    assert titles(q=gold.external_id) == ["活动邀约"]
    response = http.get(BOARD, {"min_days": "abc", "source": "campaign"})
    assert response.status_code == 200
    assert "min_days" in response.context["filter_form"].errors
    assert "Please correct the filter below." in response.content.decode()
    assert titles(min_days="abc", source="campaign") == ["活动邀约"]  # the valid one applies


def test_a_card_says_what_its_step_needs_and_whether_it_is_met(login, english, bank_a, book):
    planned(bank_a, book["plan"])
    InteractionFactory(
        tenant=bank_a.tenant, client=book["vip"], staff=bank_a.rm, needs_found=["growth"]
    )
    board = columns(login(bank_a.rm).get(BOARD))
    plan, contact, follow = board[1].cards[0], board[2].cards[0], board[4].cards[0]
    assert plan.requirement_met and contact.requirement_met
    assert not follow.requirement_met  # no check-in planned, none done
    assert plan.days_in_step == 2


def test_each_column_shows_at_most_50_cards_the_longest_in_the_step_first(login, english, bank_a):
    vip = client_of(bank_a)
    for days in range(53):
        opportunity(bank_a, vip, days=days + 1, title=f"机会{days + 1}")
    http = login(bank_a.rm)
    response = http.get(BOARD)
    plan = columns(response)[1]
    assert (plan.count, len(plan.cards), plan.more) == (53, 50, 3)
    assert plan.cards[0].title == "机会53" and plan.cards[-1].title == "机会4"
    assert "3 more at this step" in response.content.decode()

    column = http.get(BOARD, {"step": 1})
    assert column.status_code == 200
    assert [c.title for c in column.context["cards"]][:2] == ["机会53", "机会52"]
    assert column.context["page_obj"].has_next()
    rest = http.get(BOARD, {"step": 1, "page": 2})
    assert [c.title for c in rest.context["cards"]] == ["机会3", "机会2", "机会1"]
    assert http.get(BOARD, {"step": 1, "page": 9}).status_code == 404


@pytest.mark.parametrize("count", [5, 50])
def test_the_board_costs_the_same_queries_for_5_or_50_opportunities(
    login, bank_a, count, django_assert_max_num_queries
):
    http = login(bank_a.rm)
    vip = client_of(bank_a, tier=TierFactory(tenant=bank_a.tenant))
    for n in range(1, 6):
        planned(bank_a, opportunity(bank_a, vip, step=n if n != 5 else 4))
    with CaptureQueriesContext(connection) as few:
        http.get(BOARD)
    for n in range(count):
        other = client_of(bank_a)
        planned(bank_a, opportunity(bank_a, other, step=n % 4 + 1, days=n))
    with django_assert_max_num_queries(len(few)):
        response = http.get(BOARD)
    assert sum(column.count for column in columns(response).values()) == 5 + count


@pytest.mark.parametrize("role", ["rm", "advisor", "supervisor", "head"])
def test_every_pipeline_page_answers_every_role(login, bank_a, book, role):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=book["vip"], staff=bank_a.advisor)
    http = login(getattr(bank_a, role))
    writer = role in ("rm", "advisor")
    pages = {
        BOARD: 200,
        f"{BOARD}?step=2": 200,
        reverse("sales_pipeline:honours"): 200,
        reverse("sales_pipeline:create"): 200 if writer else 403,
        f"{reverse('sales_pipeline:create')}?client={book['vip'].external_id}": (
            200 if writer else 403
        ),
        reverse("sales_pipeline:opportunity", args=[book["plan"].pk]): 200,
        reverse("sales_pipeline:client-opportunities", args=[book["vip"].external_id]): 200,
        reverse("home"): 200,
    }
    for path, status in pages.items():
        assert http.get(path).status_code == status, path


# --- Moves ------------------------------------------------------------------------------


def test_an_htmx_move_answers_the_board_with_the_card_moved_and_the_counts_updated(
    login, english, bank_a, book
):
    planned(bank_a, book["plan"])
    response = login(bank_a.rm).post(
        move_url(book["plan"]),
        {"to_step": 2, "from_step": 1, "next": f"{BOARD}?source=walk_in"},
        **HTMX,
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#board" and response["HX-Reswap"] == "outerHTML"
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="board"') and "<html" not in page
    assert "moved to step 2: Contact &amp; assess needs." in page
    board = columns(response)
    assert (board[1].count, board[2].count) == (0, 2)
    assert response.context["filter_form"].data["source"] == "walk_in"
    with tenant_context(bank_a.tenant):
        moved = Opportunity.objects.get(pk=book["plan"].pk)
        entries = list(StepEntry.objects.filter(opportunity=moved).order_by("step"))
    assert moved.step == 2
    assert [(e.step, e.left_at is not None) for e in entries] == [(1, True), (2, False)]


def test_a_refused_htmx_move_shows_the_reason_on_the_card_and_writes_nothing(
    login, english, bank_a, book
):
    response = login(bank_a.rm).post(
        move_url(book["plan"]), {"to_step": 2, "from_step": 1, "next": BOARD}, **HTMX
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert page.lstrip().startswith(f'<article class="oppcard" id="card-{book["plan"].pk}"')
    assert "Plan the contact with the client first (step 1)." in page
    assert "HX-Retarget" not in response
    with tenant_context(bank_a.tenant):
        assert Opportunity.objects.get(pk=book["plan"].pk).step == 1
        assert StepEntry.objects.filter(opportunity=book["plan"]).count() == 1


def test_an_htmx_move_of_a_card_someone_moved_meanwhile_says_so(login, english, bank_a, book):
    response = login(bank_a.rm).post(
        move_url(book["contact"]), {"to_step": 2, "from_step": 1}, **HTMX
    )
    assert "moved meanwhile: it is at step 2 (Contact &amp; assess needs) now." in (
        response.content.decode()
    )


def test_without_js_a_move_redirects_back_and_a_refusal_is_the_page_with_its_reason(
    login, english, bank_a, book
):
    http = login(bank_a.rm)
    planned(bank_a, book["plan"])
    moved = http.post(
        move_url(book["plan"]), {"to_step": 2, "from_step": 1, "next": f"{BOARD}?source=walk_in"}
    )
    assert moved.status_code == 302 and moved["Location"] == f"{BOARD}?source=walk_in"
    assert "moved to step 2" in http.get(BOARD).content.decode()

    refused = http.post(move_url(book["contact"]), {"to_step": 3, "from_step": 2})
    assert refused.status_code == 400
    assert "Log the contact with the client, with the needs found, first (step 2)." in (
        refused.content.decode()
    )
    skipped = http.post(move_url(book["contact"]), {"to_step": 4, "from_step": 2})
    assert skipped.status_code == 400
    assert "A step cannot be skipped" in skipped.content.decode()
    stale = http.post(move_url(book["contact"]), {"to_step": 2, "from_step": 1})
    assert stale.status_code == 409
    garbage = http.post(move_url(book["contact"]), {"to_step": "nine"})
    assert garbage.status_code == 400
    with tenant_context(bank_a.tenant):
        assert Opportunity.objects.get(pk=book["contact"].pk).step == 2


def test_a_move_never_leaves_for_an_outside_address(login, bank_a, book):
    planned(bank_a, book["plan"])
    response = login(bank_a.rm).post(
        move_url(book["plan"]), {"to_step": 2, "from_step": 1, "next": "https://evil.example/"}
    )
    assert response["Location"].startswith(
        reverse("sales_pipeline:opportunity", args=[book["plan"].pk])
    )


@pytest.mark.parametrize("role", ["supervisor", "head"])
def test_supervisors_and_head_office_cannot_move_a_card(login, bank_a, book, role):
    planned(bank_a, book["plan"])
    http = login(getattr(bank_a, role))
    assert http.post(move_url(book["plan"]), {"to_step": 2}).status_code == 403
    assert http.post(move_url(book["plan"]), {"to_step": 2}, **HTMX).status_code == 403
    with tenant_context(bank_a.tenant):
        assert Opportunity.objects.get(pk=book["plan"].pk).step == 1


def test_another_rms_or_another_banks_opportunity_is_not_found(login, bank_a, bank_b, book):
    foreign = opportunity(bank_b, client_of(bank_b))
    http = login(bank_a.rm)
    for target in (book["others"], foreign):
        assert http.post(move_url(target), {"to_step": 2}, **HTMX).status_code == 404
        assert http.get(move_url(target)).status_code == 404
