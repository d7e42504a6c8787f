"""The honours board (/pipeline/honours/): a branch's month of celebrated sales, the
ranking of credited amounts, referrals per RM and thanks to the departments — per role,
per branch and per month (the bank's time zone)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sales_pipeline.models import Opportunity, Referral
from tests.factories import (
    CelebrationFactory,
    ClientFactory,
    OpportunityAdvisorFactory,
    OpportunityFactory,
    ReferralFactory,
    SaleCreditFactory,
    StaffFactory,
)
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

HONOURS = reverse("sales_pipeline:honours")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def this_month() -> datetime.date:
    return timezone.localtime(timezone.now(), SHANGHAI).date().replace(day=1)


def celebrated(bank, client, *, owner, amount, title, when=None, **celebration):
    """A won opportunity of ``client`` celebrated at ``when`` (default now), credited in
    full to ``owner`` on the same day."""
    when = when or timezone.now()
    opportunity = OpportunityFactory(
        tenant=bank.tenant,
        client=client,
        owner_rm=owner,
        title=title,
        step=5,
        status=Opportunity.Status.WON,
        won_amount_cny=Decimal(amount),
        won_at=when,
        completed_at=when,
    )
    SaleCreditFactory(
        tenant=bank.tenant,
        opportunity=opportunity,
        staff=owner,
        amount_cny=Decimal(amount),
        credited_on=timezone.localtime(when, SHANGHAI).date(),
    )
    CelebrationFactory(tenant=bank.tenant, opportunity=opportunity, **celebration)
    return opportunity


@pytest.fixture
def month(bank_a):
    """The 朝阳支行 RM's two sales and a referral this month, a colleague's sale there,
    浦东's sale (another branch), and a sale of last month."""
    own = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, name="吴芳")
    colleague = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, name="孙磊")
    theirs = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=colleague, name="郑伟")
    pudong = ClientFactory(
        tenant=bank_a.tenant, branch=bank_a.other_sub, owner_rm=bank_a.other_rm, name="冯雪"
    )
    first = celebrated(
        bank_a,
        own,
        owner=bank_a.rm,
        amount="800000",
        title="养老规划",
        team_recognition="团队协作完成养老规划",
        departments="个金部",
        department_thanks="感谢个金部的产品支持",
    )
    OpportunityAdvisorFactory(tenant=bank_a.tenant, opportunity=first, staff=bank_a.advisor)
    celebrated(bank_a, own, owner=bank_a.rm, amount="200000", title="定投基金")
    celebrated(bank_a, theirs, owner=colleague, amount="1500000", title="家族信托")
    celebrated(bank_a, pudong, owner=bank_a.other_rm, amount="999000", title="浦东的理财")
    last_month = datetime.datetime.combine(
        this_month() - datetime.timedelta(days=1), datetime.time(12), tzinfo=SHANGHAI
    )
    celebrated(bank_a, own, owner=bank_a.rm, amount="5000000", title="上月的大单", when=last_month)
    ReferralFactory(tenant=bank_a.tenant, referrer=own, credited_to=bank_a.rm)
    ReferralFactory(tenant=bank_a.tenant, referrer=pudong, credited_to=bank_a.other_rm)
    return {"own": own, "colleague": colleague, "theirs": theirs}


def test_an_rm_sees_their_branchs_month(login, english, bank_a, month):
    response = login(bank_a.rm).get(HONOURS)
    assert response.status_code == 200
    honours = response.context["honours"]
    assert (honours.celebrated_count, honours.celebrated_amount_cny) == (3, Decimal("2500000.00"))
    assert [(row.name, row.amount_cny, row.sales) for row in honours.credits] == [
        ("孙磊", Decimal("1500000.00"), 1),
        (bank_a.rm.name, Decimal("1000000.00"), 2),
    ]
    assert [(row.name, row.referrals) for row in honours.referrals] == [(bank_a.rm.name, 1)]
    assert honours.referral_count == 1
    page = response.content.decode()
    assert "团队协作完成养老规划" in page and bank_a.advisor.name in page
    assert "个金部" in page and "感谢个金部的产品支持" in page
    assert "浦东的理财" not in page and "上月的大单" not in page


def test_a_colleagues_client_stays_anonymous_on_the_board(login, english, bank_a, month):
    page = login(bank_a.rm).get(HONOURS).content.decode()
    assert "养老规划" in page and "吴芳" in page  # their own client
    assert "家族信托" not in page and "郑伟" not in page  # the colleague's client
    assert "A sale (Walk-in)" in page and "孙磊" in page  # the sale and its team still show


def test_a_supervisor_sees_the_subtree_and_picks_a_branch_of_it(login, bank_a, month):
    http = login(bank_a.supervisor)
    subtree = http.get(HONOURS).context["honours"]
    assert subtree.celebrated_count == 3  # 北京分行 and 朝阳支行, not 浦东
    outside = http.get(HONOURS, {"branch": bank_a.other_sub.pk})
    assert "branch" in outside.context["filter_form"].errors
    assert outside.context["honours"].celebrated_count == 3


def test_head_office_sees_the_bank_or_one_branch(login, bank_a, month):
    http = login(bank_a.head)
    assert http.get(HONOURS).context["honours"].celebrated_count == 4
    pudong = http.get(HONOURS, {"branch": bank_a.other_sub.pk}).context["honours"]
    assert pudong.celebrated_count == 1 and pudong.referral_count == 1


def test_another_month_and_a_bad_month(login, english, bank_a, month):
    http = login(bank_a.rm)
    previous = this_month() - datetime.timedelta(days=1)
    response = http.get(HONOURS, {"month": f"{previous:%Y-%m}"})
    honours = response.context["honours"]
    assert [c.opportunity.title for c in honours.celebrations] == ["上月的大单"]
    assert honours.start == previous.replace(day=1) and honours.end == previous
    assert response.context["next_query"].endswith(f"month={this_month():%Y-%m}")
    bad = http.get(HONOURS, {"month": "2026-13"})
    assert bad.status_code == 200
    assert "Give a month as YYYY-MM." in bad.content.decode()
    assert bad.context["honours"].start == this_month()


def test_a_sale_cancelled_after_the_win_leaves_the_ranking(login, bank_a, month):
    with tenant_context(bank_a.tenant):
        Opportunity.objects.filter(title="定投基金").update(status=Opportunity.Status.LOST)
    credits = login(bank_a.rm).get(HONOURS).context["honours"].credits
    assert [(row.name, row.sales) for row in credits] == [("孙磊", 1), (bank_a.rm.name, 1)]


def test_the_honours_board_costs_the_same_queries_for_a_few_or_many_sales(
    login, bank_a, month, django_assert_max_num_queries
):
    http = login(bank_a.rm)
    with CaptureQueriesContext(connection) as few:
        http.get(HONOURS)
    for n in range(15):
        person = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub)
        client = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=person)
        sale = celebrated(bank_a, client, owner=person, amount=str(10000 + n), title=f"销售{n}")
        OpportunityAdvisorFactory(tenant=bank_a.tenant, opportunity=sale)
        ReferralFactory(tenant=bank_a.tenant, referrer=client, credited_to=person)
    with django_assert_max_num_queries(len(few)):
        response = http.get(HONOURS)
    assert response.context["honours"].celebrated_count == 18


def test_another_banks_sales_never_show(login, bank_a, bank_b, month):
    foreign = ClientFactory(tenant=bank_b.tenant, name="乙行机密客户")
    celebrated(
        bank_b, foreign, owner=bank_b.rm, amount="1", title="乙行机密", team_recognition="乙行机密"
    )
    with tenant_context(bank_b.tenant):
        assert Referral.objects.count() == 0
    page = login(bank_a.head).get(HONOURS).content.decode()
    assert "乙行机密" not in page
