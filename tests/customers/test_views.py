"""The client pages: list, 360, and the edits on it — scope, masking, queries, forms."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import HeldAwayAsset, LifeEvent, Need, Product, Relationship
from customers.validators import id_check_char
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    FxRateFactory,
    HeldAwayAssetFactory,
    HoldingFactory,
    LifeEventFactory,
    NeedFactory,
    ProductFactory,
    RelationshipFactory,
    RiskAssessmentFactory,
    TierFactory,
)
from vipcrm.models import AuditEntry

pytestmark = pytest.mark.django_db

LIST = reverse("customers:client-list")
MOBILE = "13812345678"
ID_NUMBER = "11010519900307123" + id_check_char("11010519900307123")
HTMX = {"HTTP_HX_REQUEST": "true"}


def detail_url(client):
    return reverse("customers:client-detail", args=[client.external_id])


def action_url(name, client):
    return reverse(f"customers:client-{name}", args=[client.external_id])


@pytest.fixture
def book(bank_a):
    """A client of the RM, with identity data, at the RM's sub-branch."""
    return ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        name="王俊磊",
        mobile=MOBILE,
        id_number=ID_NUMBER,
        aum_cny=Decimal("1234567.89"),
    )


def text(response) -> str:
    return response.content.decode()


# --- The list -------------------------------------------------------------------------


def test_the_list_shows_the_clients_in_scope(login, bank_a, book):
    ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm, name="别人的客户"
    )
    page = text(login(bank_a.rm).get(LIST))
    assert book.name in page and "别人的客户" not in page
    assert detail_url(book) in page
    assert "1,234,567.89" in page  # AUM with thousands separators, whatever the language


@pytest.mark.parametrize("query", ["王俊", "C-BOOK-1", "5678"])
def test_list_search_by_name_customer_number_or_mobile_suffix(login, bank_a, query):
    ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        name="王俊磊",
        external_id="C-BOOK-1",
        mobile=MOBILE,
    )
    ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        name="李四",
        external_id="C-BOOK-2",
        mobile="13900000000",
    )
    response = login(bank_a.rm).get(LIST, {"q": query})
    assert [c.external_id for c in response.context["clients"]] == ["C-BOOK-1"]


def test_list_filters_apply(login, bank_a):
    gold = TierFactory(tenant=bank_a.tenant, name="金卡")
    today = timezone.localdate()
    wanted = ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.sub,
        owner_rm=bank_a.rm,
        tier=gold,
        risk_level="C3",
        is_entrepreneur=True,
    )
    HoldingFactory(
        tenant=bank_a.tenant, client=wanted, matures_on=today + datetime.timedelta(days=5)
    )
    assessed = {"risk_level": "C2", "risk_assessed_on": today}
    ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, tier=gold, **assessed
    )
    ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm, **assessed
    )
    client = login(bank_a.head)
    filters = {
        "branch": bank_a.city.pk,
        "owner_rm": bank_a.rm.pk,
        "tier": gold.pk,
        "risk_level": "C3",
        "risk": "expired",
        "entrepreneur": "yes",
        "maturing": "30",
    }
    response = client.get(LIST, filters)
    assert [c.pk for c in response.context["clients"]] == [wanted.pk]
    assert response.context["active_filters"] == 7
    for name in filters:  # each filter alone narrows too
        response = client.get(LIST, {name: filters[name]})
        assert wanted.pk in [c.pk for c in response.context["clients"]], name
        assert len(response.context["clients"]) < 3, name


def test_list_sorting(login, bank_a):
    for name, aum in (("甲", 300), ("乙", 100), ("丙", 200)):
        ClientFactory(
            tenant=bank_a.tenant,
            branch=bank_a.sub,
            owner_rm=bank_a.rm,
            name=name,
            aum_cny=Decimal(aum),
        )
    client = login(bank_a.rm)
    by_aum = client.get(LIST, {"sort": "-aum"}).context["clients"]
    assert [c.aum_cny for c in by_aum] == [300, 200, 100]
    by_aum_up = client.get(LIST, {"sort": "aum"}).context["clients"]
    assert [c.aum_cny for c in by_aum_up] == [100, 200, 300]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"maturing": "abc"}, "maturing"),
        ({"maturing": "0"}, "maturing"),
        ({"maturing": "99999999999999999999"}, "maturing"),
        ({"branch": "999999"}, "branch"),
        ({"branch": "x"}, "branch"),
        ({"owner_rm": "-1"}, "owner_rm"),
        ({"risk_level": "C9"}, "risk_level"),
        ({"sort": "password"}, "sort"),
        ({"q": "x" * 101}, "q"),
        ({"entrepreneur": "maybe"}, "entrepreneur"),
    ],
)
def test_invalid_filters_show_form_errors_never_a_500(login, bank_a, book, params, field):
    response = login(bank_a.rm).get(LIST, params)
    assert response.status_code == 200
    assert field in response.context["filter_form"].errors
    assert 'class="field__error"' in text(response)
    # The valid rest still applies: the client is still listed.
    assert book in response.context["clients"]


def test_another_tenants_branch_or_tier_is_an_invalid_choice(login, bank_a, bank_b, book):
    their_tier = TierFactory(tenant=bank_b.tenant)
    response = login(bank_a.head).get(LIST, {"branch": bank_b.sub.pk, "tier": their_tier.pk})
    assert set(response.context["filter_form"].errors) == {"branch", "tier"}


def test_a_bad_page_number_is_a_404_not_a_500(login, bank_a, book):
    client = login(bank_a.rm)
    assert client.get(LIST, {"page": "abc"}).status_code == 404
    assert client.get(LIST, {"page": "last"}).status_code == 404
    assert client.get(LIST, {"page": "2"}).status_code == 404
    assert client.get(LIST, {"page": "100000"}).status_code == 404


def test_pagination_needs_no_count_and_keeps_the_filters(login, bank_a):
    ClientFactory.create_batch(55, tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    client = login(bank_a.rm)
    first = client.get(LIST, {"sort": "-aum", "risk": "expired"})
    assert len(first.context["clients"]) == 50
    assert first.context["page_obj"].has_next()
    assert "sort=-aum&amp;risk=expired&amp;page=2" in text(first)
    second = client.get(LIST, {"sort": "-aum", "risk": "expired", "page": 2})
    assert len(second.context["clients"]) == 5
    assert not second.context["page_obj"].has_next()
    assert second.context["match_count"] == 55


def list_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST, {"sort": "-aum"})
    assert response.status_code == 200
    return [q["sql"] for q in queries.captured_queries]


@pytest.mark.parametrize("role", ["rm", "supervisor", "head"])
def test_the_list_makes_the_same_queries_for_5_and_50_clients(
    login, bank_a, role, django_assert_num_queries
):
    tier = TierFactory(tenant=bank_a.tenant)

    def add(n):
        for client in ClientFactory.create_batch(
            n, tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, tier=tier, mobile=MOBILE
        ):
            ClientTeamMemberFactory(tenant=bank_a.tenant, client=client, staff=bank_a.advisor)

    client = login(getattr(bank_a, role))
    add(5)
    few = list_queries(client)
    add(45)
    with django_assert_num_queries(len(few)):
        response = client.get(LIST, {"sort": "-aum"})
    assert len(response.context["clients"]) == 50
    # No COUNT(*) over the whole scope: the only count is capped with a LIMIT.
    counts = [q for q in few if "COUNT(" in q.upper()]
    assert len(counts) == 1 and "LIMIT" in counts[0].upper()


def test_the_list_query_count_is_pinned(login, bank_a, book, django_assert_num_queries):
    # The page's own: the rows, the capped count, the filters' branches, RMs and tiers (5).
    # The shell's: session, user, staff, the tenant's name, two savepoints and their
    # releases (8), and on PostgreSQL the two set_config of the tenant for Row-Level
    # Security (bind on entry, restore on exit).
    expected = 13 + (2 if connection.vendor == "postgresql" else 0)
    client = login(bank_a.rm)
    with django_assert_num_queries(expected):
        client.get(LIST)


@pytest.mark.parametrize(
    ("who", "clear"),
    [("rm", True), ("secondary", True), ("supervisor", False), ("head", False)],
)
def test_identity_is_masked_per_role_on_the_list_and_the_360(login, bank_a, book, who, clear):
    ClientTeamMemberFactory(
        tenant=bank_a.tenant, client=book, staff=bank_a.other_rm, role="secondary_rm"
    )
    staff = bank_a.other_rm if who == "secondary" else getattr(bank_a, who)
    client = login(staff)
    for url in (LIST, detail_url(book)):
        page = text(client.get(url))
        assert (MOBILE in page) is clear, url
        assert ("138****5678" in page) is not clear, url
    page = text(client.get(detail_url(book)))
    assert (ID_NUMBER in page) is clear
    assert ("1101**********" + ID_NUMBER[-4:] in page) is not clear


# --- The 360 page ---------------------------------------------------------------------


def test_the_360_page_shows_every_section_with_real_data(login, english, bank_a, book):
    today = timezone.localdate()
    fund = ProductFactory(
        tenant=bank_a.tenant,
        name="全球科技基金",
        category=Product.Category.FUND,
        risk_level="R4",
        currency="USD",
    )
    FxRateFactory(tenant=bank_a.tenant, currency="USD", date=today, rate_to_cny=Decimal("7"))
    HoldingFactory(
        tenant=bank_a.tenant,
        client=book,
        product=fund,
        currency="USD",
        balance=Decimal("1000"),
        matures_on=today + datetime.timedelta(days=9),
    )
    HoldingFactory(
        tenant=bank_a.tenant,
        client=book,
        balance=Decimal("5"),
        status="closed",
        external_id="CLOSED-1",
    )
    HeldAwayAssetFactory(tenant=bank_a.tenant, client=book, amount_cny=Decimal("3703703.67"))
    NeedFactory(
        tenant=bank_a.tenant, client=book, kind=Need.Kind.GLOBAL_INVESTMENT, note="海外配置"
    )
    LifeEventFactory(
        tenant=bank_a.tenant,
        client=book,
        occurs_on=today + datetime.timedelta(days=40),
        note="女儿留学",
    )
    RiskAssessmentFactory(
        tenant=bank_a.tenant,
        client=book,
        level="C4",
        assessed_on=today - datetime.timedelta(days=400),
    )
    spouse = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, name="蒋华")
    RelationshipFactory(tenant=bank_a.tenant, client=book, related=spouse, kind="spouse")
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=book, staff=bank_a.advisor)

    response = login(bank_a.rm).get(detail_url(book))
    page = text(response)
    assert response.status_code == 200
    for fragment in (
        "王俊磊",
        book.external_id,
        "1,234,567.89",
        "全球科技基金",
        "7,000.00",  # 1,000 USD at 7
        "matures in 9 days",
        "CLOSED-1",  # listed separately, behind a toggle
        "<svg",  # the allocation chart, inline
        "25.0%",  # share of wallet: 1,234,567.89 / (1,234,567.89 + 3,703,703.67)
        "海外配置",
        "女儿留学",
        "C4 Growth",
        detail_url(spouse),
        bank_a.advisor.name,
        bank_a.rm.name,
    ):
        assert fragment in page, fragment
    assert "<script" not in page.split("<body", 1)[1]  # no chart library


def test_the_360_page_of_a_new_client_says_what_is_missing(login, english, bank_a, book):
    page = text(login(bank_a.rm).get(detail_url(book)))
    for fragment in (
        "No active holdings",
        "No needs recorded yet",
        "No life events recorded yet",
        "No held-away assets declared",
        "No household members or relationships",
        "No valid risk assessment",
        "nothing to chart",
        "Add need",
        "Add event",
        "Add asset",
    ):
        assert fragment in page, fragment
    assert "trend" not in page.lower() and "snapshot" not in page.lower()


def test_related_clients_outside_the_scope_are_named_not_linked(login, bank_a, book):
    stranger = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm, name="陌生人"
    )
    RelationshipFactory(
        tenant=bank_a.tenant, client=stranger, related=book, kind="business_partner"
    )
    page = text(login(bank_a.rm).get(detail_url(book)))
    assert "陌生人" in page
    assert detail_url(stranger) not in page


@pytest.mark.parametrize("who", ["other_rm", "advisor"])
def test_a_client_out_of_scope_is_a_404(login, bank_a, book, who):
    assert login(getattr(bank_a, who)).get(detail_url(book)).status_code == 404


def test_another_tenants_client_is_a_404(login, bank_a, bank_b):
    theirs = ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub, name="乙行客户")
    response = login(bank_a.head).get(detail_url(theirs))
    assert response.status_code == 404
    assert "乙行客户" not in text(response)


def test_each_view_of_the_360_page_is_audited(login, bank_a, book, in_tenant):
    client = login(bank_a.supervisor)
    client.get(detail_url(book))
    client.get(detail_url(book))
    with in_tenant(bank_a.tenant):
        views = list(AuditEntry.objects.filter(action="view"))
    assert len(views) == 2
    assert {(v.object_type, v.object_id, v.actor_id) for v in views} == {
        ("customers.client", str(book.pk), bank_a.supervisor.user_id)
    }


def detail_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries.captured_queries)


def test_the_360_page_makes_the_same_queries_for_few_and_many_rows(
    login, bank_a, book, in_tenant, django_assert_num_queries
):
    today = timezone.localdate()
    FxRateFactory(tenant=bank_a.tenant, currency="USD", date=today, rate_to_cny=Decimal("7"))
    usd = ProductFactory(tenant=bank_a.tenant, currency="USD", category=Product.Category.FUND)
    referrer = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    with in_tenant(bank_a.tenant):
        book.referrer = referrer
        book.save()

    def add(n):
        for i in range(n):
            HoldingFactory(
                tenant=bank_a.tenant,
                client=book,
                product=usd if i % 2 else ProductFactory(tenant=bank_a.tenant),
                currency="USD" if i % 2 else "CNY",
            )
            HeldAwayAssetFactory(tenant=bank_a.tenant, client=book)
            LifeEventFactory(tenant=bank_a.tenant, client=book)
            RiskAssessmentFactory(
                tenant=bank_a.tenant,
                client=book,
                assessed_on=today - datetime.timedelta(days=i + 1 + n * 10),
            )
            other = ClientFactory(
                tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, referrer=book
            )
            RelationshipFactory(tenant=bank_a.tenant, client=book, related=other, kind="other")
            ClientTeamMemberFactory(tenant=bank_a.tenant, client=book)
        for kind in kinds[:n]:
            NeedFactory(tenant=bank_a.tenant, client=book, kind=kind)
        del kinds[:n]

    kinds = list(Need.Kind)
    client = login(bank_a.rm)
    add(2)
    few = detail_queries(client, detail_url(book))
    add(7)
    with django_assert_num_queries(few):
        client.get(detail_url(book))


# --- Edits: needs ---------------------------------------------------------------------


def test_adding_a_need_without_js_redirects_to_the_360_page(login, bank_a, book, in_tenant):
    response = login(bank_a.rm).post(
        action_url("need-add", book), {"kind": "growth", "note": "稳健增值"}
    )
    assert response.status_code == 302
    assert response.url == detail_url(book) + "#needs"
    with in_tenant(bank_a.tenant):
        need = Need.objects.get()
        assert AuditEntry.objects.filter(action="create", object_id=str(need.pk)).exists()
    assert (need.client_id, need.kind, need.note) == (book.pk, "growth", "稳健增值")


def test_adding_a_need_with_htmx_answers_the_section_alone(login, bank_a, book):
    response = login(bank_a.rm).post(action_url("need-add", book), {"kind": "growth"}, **HTMX)
    page = text(response)
    assert response.status_code == 200
    assert page.lstrip().startswith('<section class="card c360__section" id="needs"')
    assert "<html" not in page
    assert str(Need.Kind.GROWTH.label) in page


def test_an_invalid_need_shows_chinese_messages_and_writes_nothing(login, bank_a, book, in_tenant):
    client = login(bank_a.rm)
    response = client.post(action_url("need-add", book), {"kind": ""}, **HTMX)
    assert response.status_code == 200
    assert "该字段是必填项。" in text(response)
    without_js = client.post(action_url("need-add", book), {"kind": "lottery"})
    assert without_js.status_code == 200
    assert "<html" in text(without_js) and "field__error" in text(without_js)
    with in_tenant(bank_a.tenant):
        assert not Need.objects.exists()


def test_a_duplicate_need_is_a_form_error(login, english, bank_a, book):
    NeedFactory(tenant=bank_a.tenant, client=book, kind="growth")
    response = login(bank_a.rm).post(action_url("need-add", book), {"kind": "growth"}, **HTMX)
    assert "already recorded" in text(response)


def test_mark_addressed_and_remove_a_need(login, bank_a, book, in_tenant):
    need = NeedFactory(tenant=bank_a.tenant, client=book)
    client = login(bank_a.rm)
    assert (
        client.post(action_url("need-address", book), {"need": need.pk}, **HTMX).status_code == 200
    )
    with in_tenant(bank_a.tenant):
        need.refresh_from_db()
        assert not need.is_open
    assert client.post(action_url("need-remove", book), {"need": need.pk}).status_code == 302
    with in_tenant(bank_a.tenant):
        assert not Need.objects.exists()


@pytest.mark.parametrize("need_id", ["", "abc", "999999"])
def test_removing_an_unknown_need_is_a_404(login, bank_a, book, need_id):
    response = login(bank_a.rm).post(action_url("need-remove", book), {"need": need_id})
    assert response.status_code == 404


def test_a_need_of_another_client_cannot_be_removed_through_this_one(
    login, bank_a, book, in_tenant
):
    other = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    need = NeedFactory(tenant=bank_a.tenant, client=other)
    assert (
        login(bank_a.rm).post(action_url("need-remove", book), {"need": need.pk}).status_code == 404
    )
    with in_tenant(bank_a.tenant):
        assert Need.objects.filter(pk=need.pk).exists()


def test_an_advisor_on_the_team_adds_needs_but_may_not_edit_held_away_assets(
    login, bank_a, book, in_tenant
):
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=book, staff=bank_a.advisor)
    client = login(bank_a.advisor)
    assert client.post(action_url("need-add", book), {"kind": "growth"}).status_code == 302
    response = client.post(
        action_url("held-away-add", book), {"kind": "real_estate", "amount_cny": "1"}
    )
    assert response.status_code == 403
    page = text(client.get(detail_url(book)))
    assert action_url("held-away-add", book) not in page  # no form offered either
    assert action_url("need-add", book) in page
    with in_tenant(bank_a.tenant):
        assert not HeldAwayAsset.objects.exists()


@pytest.mark.parametrize(
    "name",
    [
        "need-add",
        "need-address",
        "need-remove",
        "life-event-add",
        "life-event-edit",
        "life-event-remove",
        "held-away-add",
        "held-away-edit",
        "held-away-remove",
        "relationship-add",
        "relationship-remove",
        "preferences",
    ],
)
def test_edits_of_a_client_out_of_scope_or_of_another_tenant_are_404(
    login, bank_a, bank_b, book, name
):
    theirs = ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub)
    assert login(bank_a.other_rm).post(action_url(name, book), {}).status_code == 404
    assert login(bank_a.head).post(action_url(name, theirs), {}).status_code == 404
    assert login(bank_a.head).get(action_url(name, theirs)).status_code == 404


def test_writes_need_the_csrf_token(bank_a, book):
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(bank_a.rm.user)
    assert browser.post(action_url("need-add", book), {"kind": "growth"}).status_code == 403


def test_without_js_a_write_url_shows_its_section_page(login, bank_a, book):
    response = login(bank_a.rm).get(action_url("need-add", book))
    assert response.status_code == 200
    assert 'id="needs"' in text(response) and "<html" in text(response)


# --- Edits: life events ---------------------------------------------------------------


def test_life_events_need_a_date(login, bank_a, book, in_tenant):
    response = login(bank_a.rm).post(
        action_url("life-event-add", book), {"kind": "marriage"}, **HTMX
    )
    assert "该字段是必填项。" in text(response)
    with in_tenant(bank_a.tenant):
        assert not LifeEvent.objects.exists()


def test_add_edit_and_remove_a_life_event(login, bank_a, book, in_tenant):
    client = login(bank_a.rm)
    client.post(
        action_url("life-event-add", book), {"kind": "marriage", "occurs_on": "2027-05-20"}, **HTMX
    )
    with in_tenant(bank_a.tenant):
        event = LifeEvent.objects.get()
    editing = client.get(action_url("life-event-edit", book), {"event": event.pk}, **HTMX)
    assert 'value="2027-05-20"' in text(editing) and 'name="event"' in text(editing)
    client.post(
        action_url("life-event-edit", book),
        {"event": event.pk, "kind": "marriage", "occurs_on": "2027-06-01", "note": "婚礼"},
        **HTMX,
    )
    with in_tenant(bank_a.tenant):
        event.refresh_from_db()
    assert (event.occurs_on, event.note) == (datetime.date(2027, 6, 1), "婚礼")
    client.post(action_url("life-event-remove", book), {"event": event.pk}, **HTMX)
    with in_tenant(bank_a.tenant):
        assert not LifeEvent.objects.exists()


def test_an_invalid_life_event_edit_keeps_the_edit_form(login, bank_a, book):
    event = LifeEventFactory(tenant=bank_a.tenant, client=book)
    response = login(bank_a.rm).post(
        action_url("life-event-edit", book),
        {"event": event.pk, "kind": "marriage", "occurs_on": "2027-02-30"},
        **HTMX,
    )
    assert response.context["editing_event"] == event.pk
    assert "occurs_on" in response.context["life_event_edit_form"].errors


# --- Edits: held-away assets ----------------------------------------------------------


@pytest.mark.parametrize("amount", ["-1", "abc", "1.234", "1e400", ""])
def test_held_away_amounts_are_validated(login, bank_a, book, in_tenant, amount):
    response = login(bank_a.rm).post(
        action_url("held-away-add", book), {"kind": "real_estate", "amount_cny": amount}, **HTMX
    )
    assert response.status_code == 200
    assert "amount_cny" in response.context["held_away_form"].errors
    with in_tenant(bank_a.tenant):
        assert not HeldAwayAsset.objects.exists()


def test_adding_a_held_away_asset_updates_the_share_of_wallet(login, bank_a, book, in_tenant):
    response = login(bank_a.rm).post(
        action_url("held-away-add", book),
        {"kind": "real_estate", "amount_cny": "3703703.67", "description": "上海住宅"},
        **HTMX,
    )
    page = text(response)
    assert 'id="held-away"' in page
    assert 'id="allocation" aria-labelledby="allocation-title" hx-swap-oob="true"' in page
    assert "25.0%" in page
    with in_tenant(bank_a.tenant):
        assert HeldAwayAsset.objects.get().amount_cny == Decimal("3703703.67")


def test_edit_and_remove_a_held_away_asset(login, bank_a, book, in_tenant):
    asset = HeldAwayAssetFactory(tenant=bank_a.tenant, client=book)
    client = login(bank_a.rm)
    client.post(
        action_url("held-away-edit", book),
        {"asset": asset.pk, "kind": "business_equity", "amount_cny": "100.50"},
    )
    with in_tenant(bank_a.tenant):
        asset.refresh_from_db()
    assert (asset.kind, asset.amount_cny) == ("business_equity", Decimal("100.50"))
    client.post(action_url("held-away-remove", book), {"asset": asset.pk})
    with in_tenant(bank_a.tenant):
        assert not HeldAwayAsset.objects.exists()


# --- Edits: relationships -------------------------------------------------------------


def test_link_a_relationship_by_customer_number(login, bank_a, book, in_tenant):
    spouse = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, external_id="C-SPOUSE"
    )
    response = login(bank_a.rm).post(
        action_url("relationship-add", book), {"related": " C-SPOUSE ", "kind": "spouse"}, **HTMX
    )
    assert detail_url(spouse) in text(response)
    with in_tenant(bank_a.tenant):
        tie = Relationship.objects.get()
    assert (tie.client_id, tie.related_id, tie.kind) == (book.pk, spouse.pk, "spouse")


def test_a_customer_number_of_another_tenant_is_not_found(
    login, english, bank_a, bank_b, book, in_tenant
):
    ClientFactory(tenant=bank_b.tenant, branch=bank_b.sub, external_id="C-B-ONLY")
    response = login(bank_a.head).post(
        action_url("relationship-add", book), {"related": "C-B-ONLY", "kind": "spouse"}, **HTMX
    )
    assert "No client with this customer number in your view." in text(response)
    with in_tenant(bank_a.tenant):
        assert not Relationship.objects.exists()


def test_a_customer_number_outside_the_scope_is_not_found(login, english, bank_a, book):
    ClientFactory(
        tenant=bank_a.tenant,
        branch=bank_a.other_sub,
        owner_rm=bank_a.other_rm,
        external_id="C-OTHER",
    )
    response = login(bank_a.rm).post(
        action_url("relationship-add", book), {"related": "C-OTHER", "kind": "spouse"}, **HTMX
    )
    assert "No client with this customer number in your view." in text(response)


def test_self_and_duplicate_relationships_are_form_errors(login, english, bank_a, book):
    spouse = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    RelationshipFactory(tenant=bank_a.tenant, client=book, related=spouse, kind="spouse")
    client = login(bank_a.rm)
    itself = client.post(
        action_url("relationship-add", book), {"related": book.external_id, "kind": "other"}, **HTMX
    )
    assert "cannot be related to themself" in text(itself)
    twice = client.post(
        action_url("relationship-add", book),
        {"related": spouse.external_id, "kind": "spouse"},
        **HTMX,
    )
    assert "already related" in text(twice)


def test_remove_a_relationship_recorded_on_the_other_client(login, bank_a, book, in_tenant):
    parent = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    tie = RelationshipFactory(tenant=bank_a.tenant, client=parent, related=book, kind="child")
    login(bank_a.rm).post(action_url("relationship-remove", book), {"relationship": tie.pk}, **HTMX)
    with in_tenant(bank_a.tenant):
        assert not Relationship.objects.exists()


# --- Edits: preferences ---------------------------------------------------------------


def test_save_contact_preferences(login, bank_a, book, in_tenant):
    response = login(bank_a.supervisor).post(
        action_url("preferences", book),
        {
            "preferred_channel": "wechat",
            "preferred_contact_time": "evening",
            "is_confidential": "on",
        },
        **HTMX,
    )
    assert response.status_code == 200
    with in_tenant(bank_a.tenant):
        book.refresh_from_db()
    assert (book.preferred_channel, book.preferred_contact_time, book.is_confidential) == (
        "wechat",
        "evening",
        True,
    )


def test_the_preferences_form_shows_the_saved_lunar_birthday(login, bank_a, book, in_tenant):
    with in_tenant(bank_a.tenant):
        type(book).objects.filter(pk=book.pk).update(lunar_birthday=True)
    response = login(bank_a.rm).get(reverse("customers:client-detail", args=[book.external_id]))
    assert response.context["preferences_form"]["lunar_birthday"].value() is True


def test_an_unknown_preference_is_a_form_error(login, bank_a, book):
    response = login(bank_a.rm).post(
        action_url("preferences", book), {"preferred_channel": "pigeon"}, **HTMX
    )
    assert "preferred_channel" in response.context["preferences_form"].errors


# --- Navigation and "My day" ----------------------------------------------------------


@pytest.mark.parametrize("role", ["rm", "advisor", "supervisor", "head"])
def test_every_role_has_the_clients_item_in_the_navigation(login, bank_a, role):
    page = text(login(getattr(bank_a, role)).get(reverse("home")))
    assert f'href="{LIST}"' in page


def test_the_clients_item_is_current_on_a_client_page(login, bank_a, book):
    page = text(login(bank_a.rm).get(detail_url(book)))
    assert f'<a href="{LIST}" aria-current="page">' in page


def test_my_day_links_the_largest_clients_to_their_360_page(login, bank_a, book, in_tenant):
    tier = TierFactory(tenant=bank_a.tenant, name="私人银行")
    with in_tenant(bank_a.tenant):
        book.tier = tier
        book.save()
    response = login(bank_a.rm).get(reverse("home"))
    panel = next(p for p in response.context["panels"] if "panel-book" in p)
    assert detail_url(book) in panel
    assert "1,234,568" in panel and "私人银行" in panel


@pytest.mark.parametrize(
    ("number", "has_next", "page_count", "expected"),
    [
        (1, False, 1, [1]),
        (1, True, 6, [1, 2, 3, None, 6]),
        (5, True, 9, [1, None, 3, 4, 5, 6, 7, None, 9]),
        (4, True, None, [1, 2, 3, 4, 5, None]),  # more than the cap: the total is unknown
        (4, False, None, [1, 2, 3, 4]),
    ],
)
def test_page_links(number, has_next, page_count, expected):
    from vipcrm.pagination import page_window

    assert page_window(number, has_next, page_count) == expected


@pytest.mark.parametrize(
    ("name", "data", "allowed"),
    [
        ("need-add", {"kind": "growth"}, True),
        ("life-event-add", {"kind": "marriage", "occurs_on": "2027-05-20"}, True),
        ("held-away-add", {"kind": "real_estate", "amount_cny": "1"}, False),
        ("relationship-add", {"related": "C-ANY", "kind": "spouse"}, False),
        ("preferences", {"preferred_channel": "phone"}, False),
    ],
)
def test_what_an_advisor_on_the_team_may_edit(login, bank_a, book, name, data, allowed):
    ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, external_id="C-ANY")
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=book, staff=bank_a.advisor)
    response = login(bank_a.advisor).post(action_url(name, book), data)
    assert response.status_code == (302 if allowed else 403)
