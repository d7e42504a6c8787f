"""The results KPIs of the snapshots (``kpi.services``) against a hand-computed book:
VIP count and growth from the tier history, book AUM and its growth, new money, sales
won and credited, tier upgrades, maturities and their retention — per RM, per branch
with its sub-branches, and for the bank.

October 2026 (the figures' date is its last day, the day before the period 30 September),
in Asia/Shanghai. Tiers: POT (rank 1), GOLD (2), DIA (3).

rm (R1, sub-branch BJ01), their book:

====  ====================  =======================  ==============  ==============  =======
      tier now              tier changes             AUM 30 Sep      AUM 31 Oct      homed
====  ====================  =======================  ==============  ==============  =======
c1    GOLD                  POT→GOLD on 30 Sep       600,000.00      650,000.50      BJ01
c2    DIA                   GOLD→DIA on 15 Oct ↑     4,000,000.00*   5,200,000.00*   BJ01
c3    none                  GOLD→none on 10 Nov      520,000.00      480,000.00      BJ01
c4    POT                   none→POT on 5 Oct ↑      —               210,000.00      BJ01
c5    none                  —                        10,000.00       12,000.00       SH01
c6    GOLD                  DIA→GOLD on 20 Oct ↓     —               —               BJ01
====  ====================  =======================  ==============  ==============  =======

(* the latest snapshots before: 28 September and 20 October.) VIP on 31 October: c1, c2,
c3 (GOLD until 10 November), c4, c6 = 5; on 30 September: c1, c2, c3, c6 = 4. Book AUM
6,552,000.50 against 5,130,000.00: growth 27.7%; new money 50,000.50 + 1,200,000 + 0 +
210,000 + 2,000 = 1,462,000.50. Upgrades: c2 and c4 (c1's was on 30 September).

other_rm (R2, SH01) owns c7 (GOLD, 1,000,000.00 on both days, homed SH01); c8 (GOLD,
300,000.00 on 31 October, nothing before) is in BJ01's pool, owned by nobody.
"""

import datetime
from decimal import Decimal

import pytest

from contact_plans.models import PlannedContact
from kpi.models import KpiSnapshot
from kpi.services import kpi_snapshot_take
from sales_pipeline.models import Opportunity, SaleCredit
from tests.factories import (
    AumSnapshotFactory,
    ClientFactory,
    HoldingFactory,
    OpportunityFactory,
    PlannedContactFactory,
    SaleCreditFactory,
    TierChangeFactory,
    TierFactory,
)
from tests.kpi.builders import shanghai
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

OCTOBER = datetime.date(2026, 10, 1)
D = datetime.date


@pytest.fixture
def tiers(bank_a):
    t = bank_a.tenant
    return {
        "POT": TierFactory(tenant=t, code="POT", rank=1, aum_floor=Decimal("200000")),
        "GOLD": TierFactory(tenant=t, code="GOLD", rank=2, aum_floor=Decimal("500000")),
        "DIA": TierFactory(tenant=t, code="DIA", rank=3, aum_floor=Decimal("5000000")),
    }


@pytest.fixture
def book(bank_a, tiers):
    t, rm = bank_a.tenant, bank_a.rm
    pot, gold, dia = tiers["POT"], tiers["GOLD"], tiers["DIA"]

    def client(tier, branch=bank_a.sub, owner=rm, aum=()):
        made = ClientFactory(tenant=t, branch=branch, owner_rm=owner, tier=tier)
        for day, amount in aum:
            AumSnapshotFactory(tenant=t, client=made, date=day, aum_cny=Decimal(amount))
        return made

    c = {
        "c1": client(gold, aum=[(D(2026, 9, 30), "600000.00"), (D(2026, 10, 31), "650000.50")]),
        "c2": client(dia, aum=[(D(2026, 9, 28), "4000000.00"), (D(2026, 10, 20), "5200000.00")]),
        "c3": client(None, aum=[(D(2026, 9, 30), "520000.00"), (D(2026, 10, 31), "480000.00")]),
        "c4": client(pot, aum=[(D(2026, 10, 31), "210000.00")]),
        "c5": client(
            None,
            branch=bank_a.other_sub,
            aum=[(D(2026, 9, 30), "10000.00"), (D(2026, 10, 31), "12000.00")],
        ),
        "c6": client(gold),
        "c7": client(
            gold,
            branch=bank_a.other_sub,
            owner=bank_a.other_rm,
            aum=[(D(2026, 9, 30), "1000000.00"), (D(2026, 10, 31), "1000000.00")],
        ),
        "c8": client(gold, owner=None, aum=[(D(2026, 10, 31), "300000.00")]),
    }
    # Snapshots after the figures' date are not read.
    AumSnapshotFactory(tenant=t, client=c["c1"], date=D(2026, 11, 1), aum_cny=Decimal("1"))

    def change(client_, from_tier, to_tier, on):
        TierChangeFactory(
            tenant=t, client=client_, from_tier=from_tier, to_tier=to_tier, effective_on=on
        )

    change(c["c1"], pot, gold, D(2026, 9, 30))
    change(c["c2"], gold, dia, D(2026, 10, 15))
    change(c["c3"], gold, None, D(2026, 11, 10))
    change(c["c4"], None, pot, D(2026, 10, 5))
    change(c["c6"], dia, gold, D(2026, 10, 20))
    return c


def take(bank, period="month", start=OCTOBER, **kwargs) -> dict[str, KpiSnapshot]:
    """Take the period's snapshots; its rows by scope key."""
    with tenant_context(bank.tenant):
        kpi_snapshot_take(period=period, start=start, **kwargs)
        rows = KpiSnapshot.objects.filter(period=period, period_start=start)
        return {row.scope_key: row for row in rows}


def values(rows, key) -> dict:
    return rows[key].values


def test_vip_count_and_growth_follow_the_tier_history(bank_a, book):
    rows = take(bank_a)
    rm = values(rows, f"rm:{bank_a.rm.pk}")
    assert (rm["vip_count"], rm["vip_growth"]) == (5, 1)
    other = values(rows, f"rm:{bank_a.other_rm.pk}")
    assert (other["vip_count"], other["vip_growth"]) == (1, 0)
    # BJ01: the rm's clients homed there (not c5) and the pool's c8 (GOLD all along).
    sub = values(rows, f"branch:{bank_a.sub.pk}")
    assert (sub["vip_count"], sub["vip_growth"]) == (6, 1)
    # The city branch has no client of its own: its sub-branch's figures.
    assert values(rows, f"branch:{bank_a.city.pk}")["vip_count"] == 6
    assert values(rows, f"branch:{bank_a.other_sub.pk}")["vip_count"] == 1
    assert values(rows, f"branch:{bank_a.head_office.pk}")["vip_count"] == 7
    tenant = values(rows, "tenant")
    assert (tenant["vip_count"], tenant["vip_growth"]) == (7, 1)


def test_book_aum_growth_and_new_money(bank_a, book):
    rows = take(bank_a)
    rm = values(rows, f"rm:{bank_a.rm.pk}")
    assert rm["book_aum_cny"] == "6552000.50"
    assert rm["aum_growth_pct"] == 27.7  # 1,422,000.50 / 5,130,000.00
    assert rm["new_money_cny"] == "1462000.50"
    other = values(rows, f"rm:{bank_a.other_rm.pk}")
    assert (other["book_aum_cny"], other["aum_growth_pct"], other["new_money_cny"]) == (
        "1000000.00",
        0.0,
        "0.00",
    )
    sub = values(rows, f"branch:{bank_a.sub.pk}")
    # c1 c2 c3 c4 c6 and c8: 6,840,000.50 against 5,120,000.00; new money + c8's 300,000.
    assert sub["book_aum_cny"] == "6840000.50"
    assert sub["aum_growth_pct"] == 33.6  # 1,720,000.50 / 5,120,000.00 = 33.59…
    assert sub["new_money_cny"] == "1760000.50"
    tenant = values(rows, "tenant")
    assert tenant["book_aum_cny"] == "7852000.50"
    assert tenant["new_money_cny"] == "1762000.50"


def test_aum_growth_is_undefined_without_aum_before_the_period(bank_a, tiers):
    ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm)
    rows = take(bank_a)
    rm = values(rows, f"rm:{bank_a.rm.pk}")
    assert rm["aum_growth_pct"] is None
    assert rm["book_aum_cny"] == "0.00"


def test_tier_upgrades_count_moves_up_effective_in_the_period(bank_a, book):
    rows = take(bank_a)
    assert values(rows, f"rm:{bank_a.rm.pk}")["tier_upgrades"] == 2
    assert values(rows, f"branch:{bank_a.sub.pk}")["tier_upgrades"] == 2
    assert values(rows, f"rm:{bank_a.other_rm.pk}")["tier_upgrades"] == 0
    november = take(bank_a, start=D(2026, 11, 1), as_of=D(2026, 11, 28))
    assert values(november, f"rm:{bank_a.rm.pk}")["tier_upgrades"] == 0  # c3 went down


@pytest.fixture
def sales(bank_a, book):
    """o1 won 31 Oct 23:30 in Shanghai (15:30 UTC), credited 70/30 to rm and other_rm; o2
    won 1 Nov 00:10 (still 31 Oct in UTC); o3 won at the first instant of October; o4 won
    in October but cancelled (lost, credits withdrawn)."""
    t, rm, other = bank_a.tenant, bank_a.rm, bank_a.other_rm

    def won(client, at, amount, status=Opportunity.Status.WON):
        return OpportunityFactory(
            tenant=t,
            client=client,
            status=status,
            step=4,
            won_at=at,
            won_amount_cny=Decimal(amount),
        )

    o1 = won(book["c1"], shanghai(2026, 10, 31, 23, 30), "100000.00")
    o2 = won(book["c2"], shanghai(2026, 11, 1, 0, 10), "200000.00")
    o3 = won(book["c1"], shanghai(2026, 10, 1, 0, 0), "300000.01")
    won(book["c2"], shanghai(2026, 10, 10, 12), "50000.00", status=Opportunity.Status.LOST)

    def credit(opportunity, staff, role, share, amount, on):
        SaleCreditFactory(
            tenant=t,
            opportunity=opportunity,
            staff=staff,
            role=role,
            share_percent=Decimal(share),
            amount_cny=Decimal(amount),
            credited_on=on,
        )

    credit(o1, rm, SaleCredit.Role.OWNER, "70", "70000.00", D(2026, 10, 31))
    credit(o1, other, SaleCredit.Role.SECONDARY, "30", "30000.00", D(2026, 10, 31))
    credit(o2, rm, SaleCredit.Role.OWNER, "100", "200000.00", D(2026, 11, 1))
    credit(o3, rm, SaleCredit.Role.OWNER, "100", "300000.01", D(2026, 10, 1))
    return {"o1": o1, "o2": o2, "o3": o3}


def test_sales_won_by_the_won_day_in_shanghai(bank_a, sales):
    rows = take(bank_a)
    rm = values(rows, f"rm:{bank_a.rm.pk}")
    assert (rm["sales_won_count"], rm["sales_won_cny"]) == (2, "400000.01")
    sub = values(rows, f"branch:{bank_a.sub.pk}")
    assert (sub["sales_won_count"], sub["sales_won_cny"]) == (2, "400000.01")
    november = take(bank_a, start=D(2026, 11, 1), as_of=D(2026, 11, 28))
    rm_november = values(november, f"rm:{bank_a.rm.pk}")
    assert (rm_november["sales_won_count"], rm_november["sales_won_cny"]) == (1, "200000.00")


def test_sales_credited_follow_the_credited_staff_and_their_branch(bank_a, sales):
    rows = take(bank_a)
    assert values(rows, f"rm:{bank_a.rm.pk}")["sales_credited_cny"] == "370000.01"
    assert values(rows, f"rm:{bank_a.other_rm.pk}")["sales_credited_cny"] == "30000.00"
    # Credits are the staff's: the secondary RM's share counts for their own branch.
    assert values(rows, f"branch:{bank_a.sub.pk}")["sales_credited_cny"] == "370000.01"
    assert values(rows, f"branch:{bank_a.other_sub.pk}")["sales_credited_cny"] == "30000.00"
    assert values(rows, "tenant")["sales_credited_cny"] == "400000.01"


@pytest.fixture
def maturities(bank_a, book):
    """Maturity alerts of the book: a1 (c1, 1 Oct, 100,000: fully retained), a2 (c3,
    1 Oct, 100,000: 60,000 retained), a3 (2 Oct: its 30 days end after the figures'
    date), a4 (30 Sep: before the period), a5 (1 Oct, but the holding now matures on
    1 Dec), a6 (1 Oct, no amount in CNY)."""
    t = bank_a.tenant

    def alert(client, matures_on, amount, holding_matures_on=None):
        holding = HoldingFactory(
            tenant=t, client=client, matures_on=holding_matures_on or matures_on
        )
        return PlannedContactFactory(
            tenant=t,
            client=client,
            assigned_to=client.owner_rm,
            reason=PlannedContact.Reason.MATURITY,
            source_key=f"maturity:{holding.pk}:{matures_on}",
            holding=holding,
            source_date=matures_on,
            due_on=matures_on - datetime.timedelta(days=14),
            amount_cny=None if amount is None else Decimal(amount),
            status=PlannedContact.Status.DONE,
        )

    alert(book["c1"], D(2026, 10, 1), "100000.00")
    alert(book["c3"], D(2026, 10, 1), "100000.00")
    alert(book["c1"], D(2026, 10, 2), "999.00")
    alert(book["c3"], D(2026, 9, 30), "999.00")
    alert(book["c1"], D(2026, 10, 1), "999.00", holding_matures_on=D(2026, 12, 1))
    alert(book["c1"], D(2026, 10, 1), None)


def test_maturity_retention_per_holding_30_days_after(bank_a, maturities):
    rows = take(bank_a)
    rm = values(rows, f"rm:{bank_a.rm.pk}")
    # a1: min(100,000, 650,000.50 − (600,000 − 100,000)) = 100,000;
    # a2: min(100,000, 480,000 − (520,000 − 100,000)) = 60,000.
    assert rm["maturity_matured_cny"] == "200000.00"
    assert rm["maturity_retention_pct"] == 80.0
    assert values(rows, f"branch:{bank_a.sub.pk}")["maturity_retention_pct"] == 80.0
    other = values(rows, f"rm:{bank_a.other_rm.pk}")
    assert (other["maturity_matured_cny"], other["maturity_retention_pct"]) == ("0.00", None)


def test_a_maturity_whose_money_left_retains_nothing(bank_a, book):
    """c3 has 800,000 the day before a 100,000 maturity on 2 August and 400,000 thirty
    days after: retention is floored at 0. (In the third quarter, figures to 30
    September, a maturity after 31 August is not 30 days old yet.)"""
    t = bank_a.tenant
    AumSnapshotFactory(tenant=t, client=book["c3"], date=D(2026, 8, 1), aum_cny=Decimal("800000"))
    AumSnapshotFactory(tenant=t, client=book["c3"], date=D(2026, 9, 1), aum_cny=Decimal("400000"))
    for matures_on in (D(2026, 8, 2), D(2026, 9, 1)):
        holding = HoldingFactory(tenant=t, client=book["c3"], matures_on=matures_on)
        PlannedContactFactory(
            tenant=t,
            client=book["c3"],
            reason=PlannedContact.Reason.MATURITY,
            holding=holding,
            source_date=matures_on,
            due_on=matures_on - datetime.timedelta(days=14),
            amount_cny=Decimal("100000.00"),
        )
    rows = take(bank_a, period="quarter", start=D(2026, 7, 1))
    rm = values(rows, f"rm:{bank_a.rm.pk}")
    assert (rm["maturity_matured_cny"], rm["maturity_retention_pct"]) == ("100000.00", 0.0)
