"""Contact-plan demo data for ``manage.py seed_demo``, written after segmentation's.

What a demo bank gets, in its own tenant (``contact_plans_seed``):

- festival care (Spring Festival, Mid-Autumn greetings) in the 私人银行 and 钻石 service
  standards, the first time the bank is planned;
- clients who celebrate the lunar birthday (农历生日): one in five, and every client whose
  lunar birthday comes in the next week, so "My day" shows some;
- contact history: two clients in three with an owner RM get one past interaction
  (phone, WeCom, visit or branch meeting, with a summary an RM would write), between
  1 and 120 days ago at 10:30 local time, answering a cadence contact that is marked
  done — some on time, some late — so coverage and adherence have something to
  measure, and segmentation's last contact date follows;
- then the night's planning for today (``contact_plans_refresh``): plans, cadence
  contacts (some overdue), maturity alerts with their reminders and the RMs'
  notifications, birthdays, festivals, risk re-assessments, life events (the
  segments' lifecycle sees the contacts at the next nightly run).

Idempotent like the rest of the demo: only clients without a plan and without any
interaction get a lunar flag or history, and the planning of a day is exactly-once, so
a re-run the same day adds nothing. Every step is a fixed number of statements,
whatever the number of clients.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from zoneinfo import ZoneInfo

from django.db import connection, models
from django.db.models import Exists
from django.utils import timezone

from contact_plans.lunar import lunar_of, solar_of
from contact_plans.models import ContactPlan, Interaction, PlannedContact
from contact_plans.services import contact_plans_refresh
from customers.models import Client
from segmentation.models import ClientSegment, ServiceStandard
from vipcrm import demo
from vipcrm.models import Notification, StaffProfile
from vipcrm.tenancy import current_tenant_id

HISTORY_DAYS = 120
PLANNED_KINDS = ("cadence", "maturity", "birthday", "festival", "risk_reassessment", "life_event")
FESTIVAL_TIERS = ("private", "diamond")
LUNAR_SHARE = 5  # one client in five celebrates the lunar birthday
DAY = datetime.timedelta(days=1)
CHANNELS = ("phone", "wechat", "visit", "branch", "phone")
SUMMARIES = (
    "电话回访：客户关注定期存款到期后的续作方案，倾向稳健型产品，约下周面谈。",
    "企业微信沟通近期市场波动，客户对权益类基金持观望态度，已发送资产配置月报。",
    "上门拜访：客户企业经营正常，计划明年扩产，有流动资金贷款和个人理财需求。",
    "网点面谈：完成资产检视，建议将部分活期资金配置为一年期理财，客户考虑中。",
    "电话沟通子女出国留学安排，客户需要跨境汇款与外币理财方案。",
    "企业微信问候并提醒风险测评即将到期，客户同意下次来网点时重新测评。",
    "上门拜访：客户关注家族财富传承，约理财顾问与法律顾问共同交流家族信托。",
    "网点面谈：介绍新发行的稳健型理财产品，客户认购意向较强，待资金到账。",
)


def contact_plans_seed(
    *, spec: demo.TenantSpec, staff: dict[str, StaffProfile], today: datetime.date
) -> Counter[type[models.Model]]:
    """Seed the current tenant's contact plans (see the module docstring); returns the
    rows created per model."""
    made: Counter[type[models.Model]] = Counter()
    festival_care_enable()
    lunar_birthdays_mark(today)
    made[Interaction] = history_insert(today, ZoneInfo(spec.time_zone))
    last_contacts_copy()
    summary = contact_plans_refresh(on=today)
    made[ContactPlan] = summary["plans_created"]
    made[PlannedContact] = made[Interaction] + sum(summary[kind] for kind in PLANNED_KINDS)
    made[Notification] = summary["notifications"]
    return made


def festival_care_enable() -> int:
    """Festival care in the top tiers' standards, before the bank's first planning only
    (the bank may switch it off later): one UPDATE."""
    return (
        ServiceStandard.objects.filter(tier__code__in=FESTIVAL_TIERS, festival_care=False)
        .filter(~Exists(ContactPlan.objects.all()))
        .update(festival_care=True)
    )


def _new_clients_sql(t: dict[str, str], alias: str = "c") -> str:
    """Clients the demo has not planned nor given history yet."""
    return (
        f"NOT EXISTS (SELECT 1 FROM {t['plan']} p WHERE p.tenant_id = %(tenant)s "  # noqa: S608
        f"AND p.client_id = {alias}.id) AND NOT EXISTS (SELECT 1 FROM {t['interaction']} i "
        f"WHERE i.tenant_id = %(tenant)s AND i.client_id = {alias}.id)"
    )


def _tables() -> dict[str, str]:
    qn = connection.ops.quote_name
    return {
        key: qn(model._meta.db_table)
        for key, model in {
            "client": Client,
            "plan": ContactPlan,
            "interaction": Interaction,
            "contact": PlannedContact,
            "segment": ClientSegment,
            "standard": ServiceStandard,
        }.items()
    }


def _lunar_birth_dates_soon(today: datetime.date) -> list[str]:
    """Solar birth dates (1920–2010) whose lunar month and day come within a week."""
    soon = {lunar_of(today + DAY * offset)[1:3] for offset in range(8)}
    dates = []
    for year in range(1920, 2011):
        for month, day in soon:
            try:
                dates.append(solar_of(year, month, day).isoformat())
            except Exception:  # noqa: S112  (a 30th the month lacks that year)
                continue
    return dates


def lunar_birthdays_mark(today: datetime.date) -> int:
    """One new client in five, and every new client whose lunar birthday comes within
    a week, celebrate the lunar birthday (one UPDATE)."""
    t = _tables()
    client = t["client"]
    if connection.vendor == "postgresql":
        soon = "SELECT (r.v #>> '{}')::date FROM json_array_elements(%(soon)s::json) AS r(v)"
    else:
        soon = "SELECT r.value FROM json_each(%(soon)s) AS r"
    sql = f"""
        UPDATE {client} SET lunar_birthday = %(true)s, updated_at = %(now)s
        WHERE tenant_id = %(tenant)s AND birth_date IS NOT NULL AND NOT lunar_birthday
          AND {_new_clients_sql(t, client)}
          AND (id %% {LUNAR_SHARE} = 2 OR birth_date IN ({soon}))
    """  # noqa: S608  (table names from the models; values are parameters)
    params = {
        "tenant": current_tenant_id(),
        "true": True,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "soon": json.dumps(_lunar_birth_dates_soon(today)),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _days_source() -> str:
    """The history days as one JSON parameter: [[back, day, occurred at, due], …]."""
    if connection.vendor == "postgresql":
        return (
            "(SELECT (r.v->>0)::int AS back, (r.v->>1)::date AS day, "
            "(r.v->>2)::timestamptz AS at, (r.v->>3)::date AS due, r.v->>4 AS due_text "
            "FROM json_array_elements(%(days)s::json) AS r(v)) d"
        )
    return (
        "(SELECT json_extract(r.value, '$[0]') AS back, json_extract(r.value, '$[1]') AS day, "
        "json_extract(r.value, '$[2]') AS at, json_extract(r.value, '$[3]') AS due, "
        "json_extract(r.value, '$[4]') AS due_text FROM json_each(%(days)s) AS r) d"
    )


def _history_days(today: datetime.date, zone: ZoneInfo) -> str:
    rows = []
    for back in range(1, HISTORY_DAYS + 1):
        day = today - DAY * back
        at = datetime.datetime.combine(day, datetime.time(10, 30), tzinfo=zone)
        stamp = (
            at.isoformat()
            if connection.vendor == "postgresql"
            else str(connection.ops.adapt_datetimefield_value(at))
        )
        # Due a few days before the contact (late) or after it (early), by day.
        due = day + DAY * (back % 7 - 4)
        rows.append([back, day.isoformat(), stamp, due.isoformat(), due.isoformat()])
    return json.dumps(rows)


def history_insert(today: datetime.date, zone: ZoneInfo) -> int:
    """One past interaction, answering a done cadence contact, for two new clients in
    three with an owner RM (three statements); returns the interactions made."""
    t = _tables()
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = {
        "tenant": current_tenant_id(),
        "now": now,
        "days": _history_days(today, zone),
        "done": PlannedContact.Status.DONE.value,
        "cadence": PlannedContact.Reason.CADENCE.value,
    }
    channel = "CASE c.id %% 5 " + " ".join(
        f"WHEN {i} THEN '{name}'" for i, name in enumerate(CHANNELS)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {t["contact"]} (tenant_id, client_id, assigned_to_id, reason, due_on,
                channel, status, source_key, source_date, note, reminders_sent,
                reschedule_reason, cancel_reason, completed_at, created_at, updated_at)
            SELECT c.tenant_id, c.id, c.owner_rm_id, %(cadence)s, d.due, {channel} END,
                %(done)s, 'cadence:' || d.due_text, d.day, '', 0, '', '', d.at, %(now)s, %(now)s
            FROM {t["client"]} c
            JOIN {t["standard"]} s ON s.tenant_id = %(tenant)s AND s.tier_id = c.tier_id
            JOIN {_days_source()} ON d.back = 1 + (c.id * 37) %% {HISTORY_DAYS}
            WHERE c.tenant_id = %(tenant)s AND c.owner_rm_id IS NOT NULL AND c.id %% 3 <> 0
              AND {_new_clients_sql(t)}
            ON CONFLICT (tenant_id, client_id, reason, source_key) DO NOTHING
            """,  # noqa: S608  (table names from the models; values are parameters)
            params,
        )
        summaries = "CASE p.client_id %% 8 " + " ".join(
            f"WHEN {i} THEN %(summary_{i})s" for i in range(len(SUMMARIES))
        )
        cursor.execute(
            f"""
            INSERT INTO {t["interaction"]} (tenant_id, client_id, staff_id, channel,
                occurred_at, duration_minutes, summary, needs_found, next_step,
                planned_contact_id, external_id, created_at, updated_at)
            SELECT p.tenant_id, p.client_id, p.assigned_to_id, p.channel, p.completed_at,
                10 + (p.client_id %% 6) * 5, {summaries} END, '[]', '', p.id, '',
                %(now)s, %(now)s
            FROM {t["contact"]} p
            WHERE p.tenant_id = %(tenant)s AND p.created_at = %(now)s AND p.status = %(done)s
            """,  # noqa: S608  (as above)
            {**params, **{f"summary_{i}": text for i, text in enumerate(SUMMARIES)}},
        )
        return max(cursor.rowcount, 0)


def last_contacts_copy() -> int:
    """Segmentation's last contact date from the demo history (one UPDATE)."""
    t = _tables()
    segment = t["segment"]
    sql = f"""
        UPDATE {segment} SET last_contact_on = x.day, updated_at = %(now)s
        FROM (
            SELECT client_id, MAX(source_date) AS day FROM {t["contact"]}
            WHERE tenant_id = %(tenant)s AND status = %(done)s AND reason = %(cadence)s
            GROUP BY client_id
        ) x
        WHERE {segment}.tenant_id = %(tenant)s AND {segment}.client_id = x.client_id
          AND ({segment}.last_contact_on IS NULL OR {segment}.last_contact_on < x.day)
    """  # noqa: S608  (as above)
    params = {
        "tenant": current_tenant_id(),
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "done": PlannedContact.Status.DONE.value,
        "cadence": PlannedContact.Reason.CADENCE.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)
