"""Demo money: tiers, a product catalogue, FX rates and each demo client's finances.

The client-side counterpart of ``vipcrm.demo`` (which makes the banks, staff and the
clients themselves). Pure data and generators, no database access: ``seed_demo`` writes
what these return.

Determinism: a client's money comes from the same fixed blocks of customer numbers as
the client, each block from its own ``random.Random`` seeded with the tenant's seed and
the block number (a stream separate from the clients', so adding money changed no
client). Whatever ``--clients`` was asked for, client ``C0000000042`` gets the same
holdings, risk profile, needs and ties. Dates are offsets from the ``today`` passed in:
maturities fall in the coming months whenever the demo is loaded.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from customers.models import (
    Channel,
    Client,
    HeldAwayAsset,
    LifeEvent,
    Need,
    Product,
    Relationship,
    RiskLevel,
)
from vipcrm import demo as vipcrm_demo

CNY = "CNY"
CENT = Decimal("0.01")


# --- Tiers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TierSpec:
    code: str
    name: str
    rank: int
    aum_floor: Decimal


# The demo defaults of the spec (domain.md, 客户分层), like a Chinese retail bank's.
TIERS: tuple[TierSpec, ...] = (
    TierSpec("potential", "潜力客户", 1, Decimal("200000")),
    TierSpec("gold", "金卡", 2, Decimal("500000")),
    TierSpec("diamond", "钻石", 3, Decimal("5000000")),
    TierSpec("private", "私人银行", 4, Decimal("10000000")),
)


# --- Products --------------------------------------------------------------------------

Cat = Product.Category


@dataclass(frozen=True)
class ProductSpec:
    code: str
    name: str
    category: str
    risk_level: str  # R1…R5
    currency: str = CNY
    term_days: int | None = None  # fixed-term products mature; the others never do
    min_aum: int = 0  # offered only to clients with at least this AUM (CNY)
    weight: int = 0  # how often it is bought; 0: never drawn (the current account)


CURRENT_ACCOUNT = "P-CA-CNY"

PRODUCTS: tuple[ProductSpec, ...] = (
    # 存款 (R1)
    ProductSpec(CURRENT_ACCOUNT, "人民币活期储蓄", Cat.DEPOSIT, "R1"),
    ProductSpec("P-TD-3M", "整存整取定期存款（3个月）", Cat.TIME_DEPOSIT, "R1",
                term_days=91, weight=8),
    ProductSpec("P-TD-6M", "整存整取定期存款（6个月）", Cat.TIME_DEPOSIT, "R1",
                term_days=182, weight=8),
    ProductSpec("P-TD-1Y", "整存整取定期存款（1年）", Cat.TIME_DEPOSIT, "R1",
                term_days=365, weight=12),
    ProductSpec("P-TD-3Y", "整存整取定期存款（3年）", Cat.TIME_DEPOSIT, "R1",
                term_days=1095, weight=10),
    ProductSpec("P-CD-3Y", "个人大额存单（3年期）", Cat.TIME_DEPOSIT, "R1",
                term_days=1095, min_aum=200_000, weight=10),
    ProductSpec("P-TD-USD-1Y", "美元整存整取定期存款（1年）", Cat.TIME_DEPOSIT, "R1", "USD",
                term_days=365, min_aum=500_000, weight=4),
    # 理财 (R2–R4)
    ProductSpec("P-WM-CASH", "朝朝盈现金管理类理财产品", Cat.WEALTH_MANAGEMENT, "R2", weight=12),
    ProductSpec("P-WM-90D", "稳享固收90天持有期理财", Cat.WEALTH_MANAGEMENT, "R2",
                term_days=90, weight=10),
    ProductSpec("P-WM-6M", "安鑫6个月封闭式净值型理财", Cat.WEALTH_MANAGEMENT, "R2",
                term_days=182, weight=10),
    ProductSpec("P-WM-1Y", "盈丰一年定开固收+理财", Cat.WEALTH_MANAGEMENT, "R3",
                term_days=365, weight=8),
    ProductSpec("P-WM-EQ", "睿选权益精选开放式理财", Cat.WEALTH_MANAGEMENT, "R4",
                min_aum=500_000, weight=4),
    ProductSpec("P-WM-USD", "美元稳利6个月理财", Cat.WEALTH_MANAGEMENT, "R2", "USD",
                term_days=182, min_aum=500_000, weight=4),
    # 基金 (R3–R5)
    ProductSpec("P-FD-MIX", "均衡成长混合型证券投资基金", Cat.FUND, "R3", weight=6),
    ProductSpec("P-FD-300", "沪深300指数增强型证券投资基金", Cat.FUND, "R4", weight=5),
    ProductSpec("P-FD-TECH", "科技创新股票型证券投资基金", Cat.FUND, "R5", weight=3),
    ProductSpec("P-FD-QDII", "全球精选股票型基金（QDII）", Cat.FUND, "R4",
                min_aum=500_000, weight=2),
    # 保险 (R2)
    ProductSpec("P-IN-ANN", "鑫享年年年金保险", Cat.INSURANCE, "R2", weight=5),
    ProductSpec("P-IN-WL", "传世增额终身寿险", Cat.INSURANCE, "R2", min_aum=500_000, weight=5),
    # 债券 (R2)
    ProductSpec("P-BD-3Y", "储蓄国债（电子式）3年期", Cat.BOND, "R2", term_days=1095, weight=5),
    ProductSpec("P-BD-5Y", "储蓄国债（凭证式）5年期", Cat.BOND, "R2", term_days=1826, weight=3),
    # 信托 (R4): qualified investors only, hence the high entry points
    ProductSpec("P-TR-CF", "稳盈1号集合资金信托计划（24个月）", Cat.TRUST, "R4",
                term_days=730, min_aum=3_000_000, weight=3),
    ProductSpec("P-TR-FAM", "家族信托（传承系列）", Cat.TRUST, "R4",
                min_aum=10_000_000, weight=4),
    # 贵金属 (R3)
    ProductSpec("P-PM-GOLD", "积存金（黄金积存）", Cat.PRECIOUS_METAL, "R3", weight=4),
    ProductSpec("P-PM-BAR", "如意投资金条", Cat.PRECIOUS_METAL, "R3", weight=2),
)  # fmt: skip
PRODUCTS_BY_CODE = {product.code: product for product in PRODUCTS}


# --- FX rates --------------------------------------------------------------------------

FX_DAYS = 30
# Mid rates to CNY around which the demo rates move.
FX_BASE: dict[str, Decimal] = {
    "USD": Decimal("7.1800"),
    "HKD": Decimal("0.9200"),
    "EUR": Decimal("7.8000"),
}
_FX_PLACES = Decimal("0.0001")


def fx_rate(currency: str, day: datetime.date) -> Decimal:
    """The demo rate of ``currency`` to CNY on ``day``: the same for a date on every run.

    A slow swing of ±1.5% over about three months plus a small daily wobble, both
    functions of the date alone, so a rate never changes once loaded.
    """
    base = FX_BASE[currency]
    days = day.toordinal()
    # Reproducible demo data, not secrets: a seeded PRNG is exactly what is wanted.
    wobble = random.Random(f"vipcrm-demo-fx:{currency}:{days}").uniform(-0.002, 0.002)  # noqa: S311
    swing = 0.015 * math.sin(2 * math.pi * days / 90)
    return (base * Decimal(str(1 + swing + wobble))).quantize(_FX_PLACES)


def fx_rates(today: datetime.date) -> list[tuple[str, datetime.date, Decimal]]:
    """(currency, date, rate) for every demo currency over the ``FX_DAYS`` up to today."""
    return [
        (currency, day, fx_rate(currency, day))
        for currency in FX_BASE
        for day in (today - datetime.timedelta(days=back) for back in range(FX_DAYS))
    ]


# --- A client's money ------------------------------------------------------------------

# AUM bands (CNY) and their shares of clients: 55% below the first tier, then Potential,
# Gold, Diamond and Private, as in a Chinese bank's retail book. Within a band AUM is
# log-uniform (density ∝ 1/x); above 10 million it has a Pareto tail (alpha 1.2): a few
# clients hold fortunes, as in any real private bank.
AUM_BANDS: tuple[tuple[float, int, int | None], ...] = (
    (0.55, 5_000, 200_000),
    (0.25, 200_000, 500_000),
    (0.14, 500_000, 5_000_000),
    (0.05, 5_000_000, 10_000_000),
    (0.01, 10_000_000, None),
)
_BAND_CUM_WEIGHTS = tuple(itertools.accumulate(share for share, _, _ in AUM_BANDS))
PARETO_ALPHA = 1.2
AUM_CAP = 500_000_000
# How many holdings a client of each band has (1–5), as relative weights.
HOLDING_COUNTS: tuple[tuple[int, ...], ...] = (
    (45, 35, 20, 0, 0),
    (20, 35, 30, 15, 0),
    (0, 20, 35, 30, 15),
    (0, 0, 30, 40, 30),
    (0, 0, 20, 40, 40),
)
CLOSED_SHARE = 0.12  # of holdings after the current account: matured or redeemed
MATURITY_HORIZON_DAYS = 180  # live fixed-term holdings mature within this many days

UNASSESSED_SHARE = 0.03
RISK_WEIGHTS = (10, 25, 35, 20, 10)  # C1…C5
SENIOR_RISK_WEIGHTS = (25, 35, 30, 8, 2)  # 60 and over
# Assessed up to ~15 months ago: the 3 months past the 12-month validity make ~20% stale.
RISK_AGE_DAYS = 455
RISK_HISTORY_SHARE = 0.3  # also an older assessment on record
_RISK_LEVELS = tuple(RiskLevel.values)
_CONTACT_TIMES = tuple(Client.ContactTime.values)

NEED_SHARE = 0.10
LIFE_EVENT_SHARE = 0.05
HELD_AWAY_SHARE = 0.05
SPOUSE_SHARE = 0.5  # of consecutive clients who could be a couple
PARTNER_SHARE = 0.04  # of consecutive entrepreneurs otherwise
REFERRED_SHARE = 0.03
REFERRER_MIN_AUM = 500_000  # referrers are Gold clients and above
CHANNEL_SHARE = 0.40
CONTACT_TIME_SHARE = 0.30


@dataclass(frozen=True, slots=True)
class HoldingSeed:
    external_id: str
    product: str  # product code
    balance: Decimal
    currency: str
    opened_on: datetime.date
    matures_on: datetime.date | None
    is_active: bool


@dataclass(frozen=True, slots=True)
class NeedSeed:
    kind: str
    note: str
    identified_on: datetime.date
    is_open: bool


@dataclass(frozen=True, slots=True)
class LifeEventSeed:
    kind: str
    occurs_on: datetime.date
    note: str


@dataclass(frozen=True, slots=True)
class HeldAwaySeed:
    kind: str
    description: str
    amount_cny: Decimal
    as_of: datetime.date


@dataclass(frozen=True, slots=True)
class MoneySeed:
    """Everything the demo knows about one client's finances and circle."""

    index: int
    external_id: str  # the client's
    aum_cny: Decimal  # the active holdings at today's FX rates: what the AUM comes to
    holdings: tuple[HoldingSeed, ...]
    risk_level: str  # "" when never assessed
    risk_assessed_on: datetime.date | None
    risk_history: tuple[tuple[str, datetime.date], ...]  # (level, date), newest first
    needs: tuple[NeedSeed, ...]
    life_events: tuple[LifeEventSeed, ...]
    held_away: tuple[HeldAwaySeed, ...]
    related: int | None  # index of the previous client, when the two are tied
    relationship: str  # Relationship.Kind of that tie, "" without one
    referrer: int | None  # index of an earlier client who introduced this one
    preferred_channel: str
    preferred_contact_time: str


def holding_external_id(client_external_id: str, n: int) -> str:
    """Contract number of a demo client's ``n``-th holding: C0000000042 → H0000000042-1."""
    return f"H{client_external_id.removeprefix(vipcrm_demo.EXTERNAL_ID_PREFIX)}-{n}"


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _draw_aum(rng: random.Random) -> tuple[int, int]:
    """(band, AUM in CNY cents) of one client."""
    band = rng.choices(range(len(AUM_BANDS)), cum_weights=_BAND_CUM_WEIGHTS)[0]
    _, low, high = AUM_BANDS[band]
    if high is None:  # Pareto: P(X > x) = (low / x) ** alpha
        amount = min(low / (1 - rng.random()) ** (1 / PARETO_ALPHA), AUM_CAP)
    else:
        amount = _log_uniform(rng, low, high)
    return band, int(amount * 100)


def _risk_rank(level: str) -> int:
    return int(level[1]) if level else 1  # never assessed: deposits (R1) only


def _age(born: datetime.date, today: datetime.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _risk(
    rng: random.Random, age: int, today: datetime.date
) -> tuple[str, datetime.date | None, tuple[tuple[str, datetime.date], ...]]:
    if rng.random() < UNASSESSED_SHARE:
        return "", None, ()
    weights = SENIOR_RISK_WEIGHTS if age >= 60 else RISK_WEIGHTS
    level = rng.choices(_RISK_LEVELS, weights=weights)[0]
    assessed_on = today - datetime.timedelta(days=rng.randrange(RISK_AGE_DAYS))
    history = [(level, assessed_on)]
    if rng.random() < RISK_HISTORY_SHARE:
        # The previous assessment, a year or two before, often one level apart.
        rank = min(5, max(1, _risk_rank(level) + rng.choice((-1, 0, 0, 1))))
        history.append((f"C{rank}", assessed_on - datetime.timedelta(days=rng.randint(330, 760))))
    return level, assessed_on, tuple(history)


_ENTRY_POINTS = tuple(sorted({p.min_aum for p in PRODUCTS}))


@functools.cache
def _product_pool(rank: int, entry: int) -> tuple[tuple[ProductSpec, ...], tuple[int, ...]]:
    """Products (and their cumulative weights) for a client of risk ``rank`` whose AUM
    reaches ``entry``."""
    pool = tuple(
        p for p in PRODUCTS if p.weight and int(p.risk_level[1]) <= rank and p.min_aum <= entry
    )
    return pool, tuple(itertools.accumulate(p.weight for p in pool))


def _pick_products(rng: random.Random, count: int, risk_level: str, aum: int) -> list[ProductSpec]:
    """``count`` distinct products the client may hold: suitable for their risk level
    and open to their wealth (``aum`` in CNY), the current account first."""
    entry = max(e for e in _ENTRY_POINTS if e <= aum)
    pool, cum_weights = _product_pool(_risk_rank(risk_level), entry)
    chosen = [PRODUCTS_BY_CODE[CURRENT_ACCOUNT]]
    count = min(count, len(pool) + 1)
    while len(chosen) < count:
        product = rng.choices(pool, cum_weights=cum_weights)[0]
        if product not in chosen:  # distinct products: draw again
            chosen.append(product)
    return chosen


def aum_of(holdings: Sequence[HoldingSeed], rates: dict[str, Decimal]) -> Decimal:
    """The AUM of ``holdings`` in CNY, to the cent: active balances times ``rates``.

    The rule of ``customers.aum`` (which stays the authority in the database), so the
    seed can insert each client with the AUM it will have.
    """
    total = sum(
        h.balance * (1 if h.currency == CNY else rates[h.currency]) for h in holdings if h.is_active
    )
    return Decimal(total).quantize(CENT, rounding=ROUND_HALF_UP)


def _split(total_cents: int, weights: Sequence[float]) -> list[int]:
    """``total_cents`` in parts proportional to ``weights``, adding up exactly."""
    whole = sum(weights)
    parts = [int(total_cents * w / whole) for w in weights[:-1]]
    return [*parts, total_cents - sum(parts)]


def _holdings(
    rng: random.Random,
    client_external_id: str,
    band: int,
    aum_cents: int,
    risk_level: str,
    today: datetime.date,
    rate_today: dict[str, Decimal],
) -> tuple[HoldingSeed, ...]:
    count = rng.choices(range(1, 6), weights=HOLDING_COUNTS[band])[0]
    products = _pick_products(rng, count, risk_level, aum_cents // 100)
    # The current account stays open; any other may have matured or been redeemed.
    active = [True] + [rng.random() >= CLOSED_SHARE for _ in products[1:]]
    weights = [
        rng.uniform(0.03, 0.3) if n == 0 else rng.uniform(0.2, 1.0)
        for n, is_active in enumerate(active)
        if is_active
    ]
    live_cents = iter(_split(aum_cents, weights))
    holdings = []
    for n, (product, is_active) in enumerate(zip(products, active, strict=True), start=1):
        # A closed holding keeps the balance it had when it closed (what matured).
        cents = next(live_cents) if is_active else int(aum_cents * rng.uniform(0.1, 0.6))
        balance = Decimal(cents).scaleb(-2)
        if product.currency != CNY:
            balance = (balance / rate_today[product.currency]).quantize(CENT)
        if product.term_days is None:
            opened = today - datetime.timedelta(days=rng.randint(30, 2900))
            matures = None
        elif is_active:
            left = rng.randint(1, min(product.term_days, MATURITY_HORIZON_DAYS))
            matures = today + datetime.timedelta(days=left)
            opened = matures - datetime.timedelta(days=product.term_days)
        else:
            matures = today - datetime.timedelta(days=rng.randint(1, 365))
            opened = matures - datetime.timedelta(days=product.term_days)
        holdings.append(
            HoldingSeed(
                external_id=holding_external_id(client_external_id, n),
                product=product.code,
                balance=balance,
                currency=product.currency,
                opened_on=opened,
                matures_on=matures,
                is_active=is_active,
            )
        )
    return tuple(holdings)


NeedKind = Need.Kind
NEED_NOTES: dict[str, tuple[str, ...]] = {
    NeedKind.PRESERVATION: ("担心经济下行，希望本金安全，偏好保本稳健型产品",
                            "定期存款陆续到期，想继续稳妥配置"),
    NeedKind.GROWTH: ("闲置资金较多，希望收益跑赢通胀", "对权益类资产感兴趣，愿意承担一定波动"),
    NeedKind.TAX_ADVICE: ("关注个人所得税汇算及股权转让税务筹划",),
    NeedKind.LEGAL_ADVICE: ("咨询婚前财产与家庭资产隔离安排",),
    NeedKind.FINANCIAL_ADVICE: ("希望做一次全面的家庭资产配置检视", "子女教育金与养老金规划"),
    NeedKind.GLOBAL_INVESTMENT: ("子女计划出国留学，需要美元资产配置", "希望分散配置海外资产"),
    NeedKind.RISK_MANAGEMENT: ("家庭保障不足，考虑重疾险与终身寿险",
                               "关注企业经营风险与家庭资产隔离"),
    NeedKind.CORPORATE_BANKING: ("公司需要流动资金贷款，希望对公对私一体化服务",
                                 "企业代发工资与结算账户迁移"),
    NeedKind.STATUS: ("看重专属服务与贵宾权益，如机场贵宾厅、健康管理",),
}  # fmt: skip

EventKind = LifeEvent.Kind
LIFE_EVENT_NOTES: dict[str, tuple[str, ...]] = {
    EventKind.MARRIAGE: ("计划年内结婚，关注婚房与家庭理财",),
    EventKind.CHILD: ("家中添丁，可介绍教育金保险",),
    EventKind.STUDY_ABROAD: ("孩子申请英国读研，需购汇及境外汇款",
                             "孩子明年赴美读本科，关注留学金融服务"),
    EventKind.RETIREMENT: ("即将退休，关注养老金领取和稳健理财",),
    EventKind.BUSINESS_SALE: ("公司筹备上市，关注股权激励及资金安排",
                              "拟出售部分公司股权，将有大额资金到账"),
    EventKind.PROPERTY: ("计划购置改善型住房，可能需要房贷",),
    EventKind.INHERITANCE: ("继承父母房产及存款，咨询财富传承",),
    EventKind.ILLNESS: ("家人住院治疗，暂缓投资，注意关怀",),
    EventKind.OTHER: ("乔迁新居",),
}  # fmt: skip

AwayKind = HeldAwayAsset.Kind
HELD_AWAY_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    AwayKind.REAL_ESTATE: ("北京朝阳区住宅一套", "上海浦东新区住宅一套", "杭州西湖区别墅",
                           "南京鼓楼区商铺", "三亚海棠湾度假公寓", "深圳南山区写字楼"),
    AwayKind.OTHER_BANK: ("他行定期存款", "他行理财产品", "证券账户股票及基金"),
    AwayKind.BUSINESS_EQUITY: ("自有企业股权", "合伙企业份额", "非上市公司股权"),
    AwayKind.OTHER: ("艺术品收藏", "私募股权基金份额"),
}  # fmt: skip


def _needs(rng: random.Random, is_entrepreneur: bool, aum: int, today: datetime.date):
    if rng.random() >= NEED_SHARE:
        return ()
    rich = aum >= 5_000_000
    weights = {
        NeedKind.PRESERVATION: 25,
        NeedKind.GROWTH: 20,
        NeedKind.TAX_ADVICE: 8,
        NeedKind.LEGAL_ADVICE: 5,
        NeedKind.FINANCIAL_ADVICE: 10,
        NeedKind.GLOBAL_INVESTMENT: 12 if rich else 5,
        NeedKind.RISK_MANAGEMENT: 10,
        NeedKind.CORPORATE_BANKING: 15 if is_entrepreneur else 0,
        NeedKind.STATUS: 8 if rich else 2,
    }
    kinds = list(weights)
    first = rng.choices(kinds, weights=list(weights.values()))[0]
    chosen = [first]
    if rng.random() < 0.3:
        del weights[first]
        chosen.append(rng.choices(list(weights), weights=list(weights.values()))[0])
    return tuple(
        NeedSeed(
            kind=str(kind),
            note=rng.choice(NEED_NOTES[kind]),
            identified_on=today - datetime.timedelta(days=rng.randrange(180)),
            is_open=rng.random() < 0.8,
        )
        for kind in chosen
    )


def _life_events(rng: random.Random, age: int, is_entrepreneur: bool, today: datetime.date):
    if rng.random() >= LIFE_EVENT_SHARE:
        return ()
    weights = {
        EventKind.MARRIAGE: 20 if age < 40 else 0,
        EventKind.CHILD: 15 if age < 45 else 0,
        EventKind.STUDY_ABROAD: 20 if 38 <= age <= 58 else 0,
        EventKind.RETIREMENT: 30 if 55 <= age <= 63 else 0,
        EventKind.BUSINESS_SALE: 15 if is_entrepreneur else 0,
        EventKind.PROPERTY: 15,
        EventKind.INHERITANCE: 8 if age >= 40 else 0,
        EventKind.ILLNESS: 5 if age >= 50 else 0,
        EventKind.OTHER: 3,
    }
    kind = rng.choices(list(weights), weights=list(weights.values()))[0]
    # Recent (up to two months ago) or coming (within three months): a reason to call.
    occurs_on = today + datetime.timedelta(days=rng.randint(-60, 90))
    return (LifeEventSeed(str(kind), occurs_on, rng.choice(LIFE_EVENT_NOTES[kind])),)


def _held_away(rng: random.Random, is_entrepreneur: bool, aum: int, today: datetime.date):
    if rng.random() >= HELD_AWAY_SHARE:
        return ()
    weights = {
        AwayKind.REAL_ESTATE: 50,
        AwayKind.OTHER_BANK: 30,
        AwayKind.BUSINESS_EQUITY: 30 if is_entrepreneur else 0,
        AwayKind.OTHER: 5,
    }
    ranges = {
        AwayKind.REAL_ESTATE: (1_500_000, 40_000_000),
        AwayKind.OTHER_BANK: (100_000, max(200_000, 3 * aum)),
        AwayKind.BUSINESS_EQUITY: (1_000_000, 100_000_000),
        AwayKind.OTHER: (200_000, 5_000_000),
    }
    kinds = [rng.choices(list(weights), weights=list(weights.values()))[0]]
    if rng.random() < 0.4:
        del weights[kinds[0]]
        kinds.append(rng.choices(list(weights), weights=list(weights.values()))[0])
    assets = []
    for kind in kinds:
        # Declared values are estimates: round to ten thousand yuan (万元).
        amount = round(_log_uniform(rng, *ranges[kind]), -4)
        assets.append(
            HeldAwaySeed(
                kind=str(kind),
                description=rng.choice(HELD_AWAY_DESCRIPTIONS[kind]),
                amount_cny=Decimal(int(amount)),
                as_of=today - datetime.timedelta(days=rng.randrange(300)),
            )
        )
    return tuple(assets)


def _tie(
    rng: random.Random,
    client: vipcrm_demo.ClientSeed,
    previous: vipcrm_demo.ClientSeed | None,
    today: datetime.date,
) -> str:
    """The relationship of ``client`` to the client before it ("" for none).

    Couples are consecutive pairs (1–2, 3–4…) so nobody gets two spouses.
    """
    draw = rng.random()
    if previous is None or client.index % 2:
        return ""
    could_marry = (
        client.gender != previous.gender
        and abs((client.birth_date - previous.birth_date).days) <= 10 * 365
        and min(_age(client.birth_date, today), _age(previous.birth_date, today)) >= 23
    )
    if could_marry and draw < SPOUSE_SHARE:
        return str(Relationship.Kind.SPOUSE)
    if client.is_entrepreneur and previous.is_entrepreneur and draw < PARTNER_SHARE:
        return str(Relationship.Kind.BUSINESS_PARTNER)
    return ""


def money_block(
    seed: int,
    block: int,
    clients: Sequence[vipcrm_demo.ClientSeed],
    today: datetime.date,
) -> Iterator[MoneySeed]:
    """The money of one block's ``clients`` (from ``vipcrm.demo.client_block``, in order).

    Each client's draws depend only on the clients before it in the block, so a prefix
    of the block gets the same money whatever the limit.
    """
    # Reproducible demo data, not secrets: a seeded PRNG is exactly what is wanted.
    rng = random.Random(f"vipcrm-demo-money:{seed}:{block}")  # noqa: S311
    rate_today = {currency: fx_rate(currency, today) for currency in FX_BASE}
    referrers: list[int] = []
    previous = None
    for client in clients:
        age = _age(client.birth_date, today)
        band, aum_cents = _draw_aum(rng)
        aum = aum_cents // 100
        level, assessed_on, history = _risk(rng, age, today)
        holdings = _holdings(rng, client.external_id, band, aum_cents, level, today, rate_today)
        needs = _needs(rng, client.is_entrepreneur, aum, today)
        events = _life_events(rng, age, client.is_entrepreneur, today)
        away = _held_away(rng, client.is_entrepreneur, aum, today)
        tie = _tie(rng, client, previous, today)
        referred = rng.random() < REFERRED_SHARE
        referrer = rng.choice(referrers) if referred and referrers else None
        channel = (
            rng.choices(
                (Channel.WECHAT, Channel.PHONE, Channel.VISIT, Channel.BRANCH),
                weights=(40, 35, 15, 10),
            )[0]
            if rng.random() < CHANNEL_SHARE
            else ""
        )
        contact_time = rng.choice(_CONTACT_TIMES) if rng.random() < CONTACT_TIME_SHARE else ""
        yield MoneySeed(
            index=client.index,
            external_id=client.external_id,
            aum_cny=aum_of(holdings, rate_today),
            holdings=holdings,
            risk_level=level,
            risk_assessed_on=assessed_on,
            risk_history=history,
            needs=needs,
            life_events=events,
            held_away=away,
            related=previous.index if tie else None,
            relationship=tie,
            referrer=referrer,
            preferred_channel=str(channel),
            preferred_contact_time=contact_time,
        )
        if aum >= REFERRER_MIN_AUM:
            referrers.append(client.index)
        previous = client
