"""Segmentation demo data for ``manage.py seed_demo``, written after the clients' money.

What a demo bank gets, in its own tenant (``segmentation_seed``):

- the spec's tiering policy (90-day window, 3 monthly evaluations of grace) and a
  service standard per demo tier: contact cadence (私人银行 30, 钻石 45, 金卡 90, 潜力
  180 days), maturity lead (30/30/14/7 days), face-to-face meetings a year (12/6/4/2),
  a service package and the book weight (8/4/1/0.5);
- 90 days of AUM snapshots per client, ending yesterday, generated in one statement
  around each client's current AUM: most wobble by ±2 %, some rise or fall by a third,
  some brought money 40 days ago, one in twenty left the bank's tier before the
  window (and is downgraded after the grace), one had a one-day deposit spike;
- the nightly re-tiering replayed on the first runs of the last three months and then
  today (after today's snapshot), so upgrades, downgrades after the grace, clients
  part-way through the grace and an override that ran out all exist — with the tier
  changes and the RMs' notifications they produce; a supervisor's standing override;
- capacities for three RMs, set against their weighted books so that one is
  overloaded, one at capacity and one has room (the others use the policy default).

Idempotent like the rest of the demo: a client gets history only if it has none, the
starting tiers only apply to clients never evaluated, the past evaluations replay only
on a bank not evaluated since, overrides and capacities are created once; a re-run the
same day changes nothing. Every step is a fixed number of statements, whatever the
number of clients.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, models
from django.db.models import Max, Sum
from django.utils import timezone

from customers.models import Client, Tier
from segmentation import services
from segmentation.models import (
    AumSnapshot,
    ClientSegment,
    RmCapacity,
    ServiceStandard,
    TierChange,
    TieringPolicy,
    TierOverride,
)
from vipcrm import demo
from vipcrm.models import Notification, StaffProfile
from vipcrm.roles import Actor, branch_subtree_ids
from vipcrm.tenancy import current_tenant_id

HISTORY_DAYS = 90
DAY = datetime.timedelta(days=1)
ONE = Decimal("1")


@dataclass(frozen=True)
class StandardSpec:
    contact_cadence_days: int
    maturity_lead_days: int
    meetings_per_year: int
    book_weight: Decimal
    service_package: str


STANDARDS: dict[str, StandardSpec] = {
    "private": StandardSpec(
        30,
        30,
        12,
        Decimal("8"),
        "专属私人银行家一对一服务；家族信托与财富传承规划；全球资产配置、税务与法律咨询；"
        "机场贵宾厅与高端医疗绿色通道；私人银行专属活动与艺术品鉴赏",
    ),
    "diamond": StandardSpec(
        45,
        30,
        6,
        Decimal("4"),
        "专属客户经理与理财顾问团队服务；理财专家优先预约；贵宾厅专属服务与业务优先办理；"
        "跨境金融与子女留学服务；年度财富健康检查",
    ),
    "gold": StandardSpec(
        90,
        14,
        4,
        Decimal("1"),
        "贵宾窗口优先办理；专属客户经理定期回访；新发理财产品优先认购；"
        "转账汇款手续费减免；生日与节日关怀",
    ),
    "potential": StandardSpec(
        180,
        7,
        2,
        Decimal("0.5"),
        "客户经理电话与企业微信服务；理财知识讲座与投资者教育活动；"
        "升级金卡专属礼遇；手机银行专属理财通道",
    ),
}

# Capacity of three RMs (by login handle) as a share of their weighted book at seeding.
CAPACITY_SHARES: dict[str, Decimal] = {
    "rm1": Decimal("0.80"),  # 125 % loaded: overloaded
    "rm3": Decimal("1.60"),  # 63 %: room for more
    "rm5": Decimal("1.00"),  # exactly at capacity
}
STANDING_OVERRIDE_REASON = "集团核心企业主客户，分行行长特批维持钻石服务，待年度复核"
ENDED_OVERRIDE_REASON = "大额资金临时转出用于企业并购，承诺三个月内回流，暂保留原等级"

# A client's AUM ``back`` days before today, as a multiple of today's (by pk mod 20;
# ``back`` is the history day's offset). Kept in SQL so the history is one statement
# (``%%``: the statements take named parameters).
_FACTOR = """
    CASE c.id %% 20
        WHEN 1 THEN CASE WHEN {back} >= 45 THEN 1.6 ELSE 1.0 END
        WHEN 2 THEN 1 + 0.40 * {back} / 90.0
        WHEN 3 THEN 1 - 0.35 * {back} / 90.0
        WHEN 4 THEN 1 - 0.35 * {back} / 90.0
        WHEN 5 THEN CASE WHEN {back} >= 40 THEN 0.4 ELSE 1.0 END
        WHEN 6 THEN CASE WHEN {back} = 20 THEN 6.0 ELSE 1.0 END
        WHEN 7 THEN 1.0
        ELSE 1 + ((c.id * 7 + {back} * 13) %% 9 - 4) / 200.0
    END
"""
# Clients of class 0 held a tier above today's before the window began (money left
# more than 90 days ago): they start there and are downgraded after the grace.
_LEFT_BEFORE_THE_WINDOW = Decimal("2.5")


def segmentation_seed(
    *, spec: demo.TenantSpec, staff: dict[str, StaffProfile], today: datetime.date
) -> Counter[type[models.Model]]:
    """Seed the current tenant's segmentation (see the module docstring); returns the
    rows created per model."""
    made: Counter[type[models.Model]] = Counter()
    by_handle = {s.handle: staff[s.code] for s in spec.staff if s.code in staff}
    changes_before = TierChange.objects.count()
    notifications_before = Notification.objects.count()
    made[TieringPolicy] = policy_ensure()
    made[ServiceStandard] = standards_ensure()
    made[AumSnapshot] = history_insert(today)
    starting_tiers_set(today)
    first_overrides = not TierOverride.objects.exists()
    evaluations = evaluation_days(today)
    if first_overrides and evaluations:
        made[TierOverride] += ended_override_create(by_handle, evaluations)
    for day in evaluations:
        if day < today:
            services.clients_retier(on=day)
    movements_mark()
    made[AumSnapshot] += services.aum_snapshot_take(on=today)
    services.clients_retier(on=today)
    services.client_segments_refresh(on=today)
    if first_overrides:
        made[TierOverride] += standing_override_create(by_handle, today)
    made[RmCapacity] = capacities_ensure(by_handle)
    made[TierChange] = TierChange.objects.count() - changes_before
    made[Notification] = Notification.objects.count() - notifications_before
    return made


def policy_ensure() -> int:
    """The spec's defaults (window 90 days, grace 3 evaluations), if the bank has none."""
    _, created = TieringPolicy.objects.get_or_create(tenant_id=current_tenant_id())
    return int(created)


def standards_ensure() -> int:
    """A service standard for each demo tier without one; returns how many."""
    tiers = Tier.objects.filter(code__in=STANDARDS).exclude(
        pk__in=ServiceStandard.objects.values("tier_id")
    )
    missing = [
        ServiceStandard(
            tier=tier,
            contact_cadence_days=STANDARDS[tier.code].contact_cadence_days,
            maturity_lead_days=STANDARDS[tier.code].maturity_lead_days,
            meetings_per_year=STANDARDS[tier.code].meetings_per_year,
            book_weight=STANDARDS[tier.code].book_weight,
            service_package=STANDARDS[tier.code].service_package,
        )
        for tier in tiers
    ]
    ServiceStandard.objects.bulk_create(missing)
    return len(missing)


def _days_source() -> str:
    """FROM item of the history days, one JSON parameter: [[back, "YYYY-MM-DD"], …]."""
    if connection.vendor == "postgresql":
        return (
            "(SELECT (r.v->>0)::int AS back, (r.v->>1)::date AS day "
            "FROM json_array_elements(%(days)s::json) AS r(v)) d"
        )
    return (
        "(SELECT json_extract(r.value, '$[0]') AS back, json_extract(r.value, '$[1]') AS day "
        "FROM json_each(%(days)s) AS r) d"
    )


def history_insert(today: datetime.date) -> int:
    """90 days of snapshots ending yesterday for every client without any (one INSERT)."""
    qn = connection.ops.quote_name
    snapshot, client = qn(AumSnapshot._meta.db_table), qn(Client._meta.db_table)
    days = json.dumps(
        [[back, (today - DAY * back).isoformat()] for back in range(1, HISTORY_DAYS + 1)]
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    sql = f"""
        INSERT INTO {snapshot} (tenant_id, client_id, "date", aum_cny, created_at, updated_at)
        SELECT c.tenant_id, c.id, d.day, ROUND(c.aum_cny * {_FACTOR.format(back="d.back")}, 2),
            %(now)s, %(now)s
        FROM {client} c CROSS JOIN {_days_source()}
        WHERE c.tenant_id = %(tenant)s AND NOT EXISTS (
            SELECT 1 FROM {snapshot} s WHERE s.tenant_id = %(tenant)s AND s.client_id = c.id)
        ON CONFLICT (tenant_id, client_id, "date") DO NOTHING
    """  # noqa: S608  (table names from the models; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"tenant": current_tenant_id(), "now": now, "days": days})
        return max(cursor.rowcount, 0)


def starting_tiers_set(today: datetime.date) -> int:
    """Clients never evaluated start in the tier their AUM reached when the history
    began (one UPDATE; no tier change is recorded: it is where the story starts)."""
    tiers = list(Tier.objects.order_by("-rank").values_list("pk", "aum_floor"))
    qn = connection.ops.quote_name
    client, segment = qn(Client._meta.db_table), qn(ClientSegment._meta.db_table)
    amount = (
        f"c.aum_cny * {_FACTOR.format(back=HISTORY_DAYS)}"
        f" * (CASE WHEN c.id %% 20 = 0 THEN {_LEFT_BEFORE_THE_WINDOW} ELSE 1 END)"
    )
    params: dict = {"tenant": current_tenant_id()}
    whens = []
    for i, (pk, floor) in enumerate(tiers):
        whens.append(f"WHEN {amount} >= CAST(%(floor_{i})s AS NUMERIC) THEN %(tier_{i})s")
        params.update({f"floor_{i}": floor, f"tier_{i}": pk})
    tier = f"CASE {' '.join(whens)} ELSE NULL END" if whens else "NULL"
    sql = f"""
        UPDATE {client} SET tier_id = (
            SELECT {tier} FROM {client} c WHERE c.id = {client}.id)
        WHERE tenant_id = %(tenant)s AND NOT EXISTS (
            SELECT 1 FROM {segment} s WHERE s.tenant_id = %(tenant)s
              AND s.client_id = {client}.id AND s.evaluated_on IS NOT NULL)
    """  # noqa: S608  (as above)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _first_of_month(day: datetime.date, months_back: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 - months_back
    return datetime.date(index // 12, index % 12 + 1, 1)


def evaluation_days(today: datetime.date) -> list[datetime.date]:
    """The nightly runs to replay: the first run of each of the last three months
    (the oldest no earlier than a week into the history) and today; only those on or
    after the bank's latest evaluation, so a re-seed never rewinds the hysteresis."""
    days = {
        max(_first_of_month(today, 2), today - DAY * (HISTORY_DAYS - 7)),
        _first_of_month(today, 1),
        _first_of_month(today, 0),
        today,
    }
    latest = ClientSegment.objects.aggregate(latest=Max("evaluated_on"))["latest"]
    return sorted(day for day in days if latest is None or day >= latest)


def ended_override_create(by_handle: dict[str, StaffProfile], days: list[datetime.date]) -> int:
    """An override a supervisor set at the oldest replayed run to keep a client whose
    money left in their tier; it ran out before the last monthly run, which then ends
    it and puts the client back on the rules (a lower tier, at once)."""
    supervisor = by_handle.get("supervisor1")
    if supervisor is None or len(days) < 3:
        return 0
    # A client of the supervisor's branches who left before the window (class 0) and
    # whose AUM today is well below the floor of the tier they start in.
    client = (
        Client.objects.alias(cls=models.F("id") % 20)
        .filter(
            cls=0,
            branch_id__in=branch_subtree_ids(supervisor.branch_id),
            owner_rm__isnull=False,
            tier__isnull=False,
            aum_cny__lt=models.F("tier__aum_floor") * Decimal("0.9"),
        )
        .select_related("tier")
        .order_by("external_id")
        .first()
    )
    if client is None:
        return 0
    override = TierOverride.objects.create(
        client=client,
        tier=client.tier,
        reason=ENDED_OVERRIDE_REASON,
        expires_on=days[-2] - DAY * 5,
        created_by=supervisor,
    )
    set_at = datetime.datetime.combine(days[0], datetime.time(10), tzinfo=datetime.UTC)
    TierOverride.objects.filter(pk=override.pk).update(created_at=set_at, updated_at=set_at)
    return 1


def movements_mark() -> int:
    """``last_aum_change_on`` from the history, for segments without one (one UPDATE:
    the latest day whose snapshot differs from the day before)."""
    qn = connection.ops.quote_name
    snapshot, segment = qn(AumSnapshot._meta.db_table), qn(ClientSegment._meta.db_table)
    sql = f"""
        UPDATE {segment} SET last_aum_change_on = moved.day
        FROM (
            SELECT client_id, MAX("date") AS day FROM (
                SELECT client_id, "date", aum_cny,
                    LAG(aum_cny) OVER (PARTITION BY client_id ORDER BY "date") AS previous
                FROM {snapshot}
                WHERE tenant_id = %(tenant)s AND client_id IN (
                    SELECT client_id FROM {segment}
                    WHERE tenant_id = %(tenant)s AND last_aum_change_on IS NULL)
            ) days
            WHERE previous IS NOT NULL AND aum_cny <> previous
            GROUP BY client_id
        ) moved
        WHERE {segment}.tenant_id = %(tenant)s AND {segment}.client_id = moved.client_id
          AND {segment}.last_aum_change_on IS NULL
    """  # noqa: S608  (as above)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"tenant": current_tenant_id()})
        return max(cursor.rowcount, 0)


def standing_override_create(by_handle: dict[str, StaffProfile], today: datetime.date) -> int:
    """A supervisor pins a Gold client of rm2 to Diamond for half a year (the service)."""
    rm, supervisor = by_handle.get("rm2"), by_handle.get("supervisor1")
    diamond = Tier.objects.filter(code="diamond").first()
    client = (
        Client.objects.filter(owner_rm=rm, tier__code="gold").order_by("external_id").first()
        if rm is not None
        else None
    )
    if supervisor is None or diamond is None or client is None:
        return 0
    services.tier_override_set(
        actor=Actor.for_staff(supervisor),
        client=client,
        tier=diamond,
        reason=STANDING_OVERRIDE_REASON,
        expires_on=today + DAY * 180,
    )
    return 1


def capacities_ensure(by_handle: dict[str, StaffProfile]) -> int:
    """Capacities of the RMs in ``CAPACITY_SHARES`` without one, from their weighted
    book now (sum of their clients' tier book weights); RMs with an empty book wait."""
    rms = {handle: by_handle[handle] for handle in CAPACITY_SHARES if handle in by_handle}
    have = set(RmCapacity.objects.filter(staff__in=rms.values()).values_list("staff_id", flat=True))
    weights = dict(
        Client.objects.filter(owner_rm__in=rms.values(), tier__isnull=False)
        .order_by()
        .values("owner_rm")
        .annotate(weight=Sum("tier__service_standards__book_weight"))
        .values_list("owner_rm", "weight")
    )
    missing = [
        RmCapacity(staff=rm, capacity=max(Decimal("1"), (weights[rm.pk] * share).quantize(ONE)))
        for handle, share in CAPACITY_SHARES.items()
        if (rm := rms.get(handle)) and rm.pk not in have and weights.get(rm.pk)
    ]
    RmCapacity.objects.bulk_create(missing)
    return len(missing)
