"""Benchmark of the KPIs: the nightly snapshot and the dashboard pages, on a million clients.

    .venv/bin/python bench/kpi.py [--clients 1000000] [--requests 400] [--keep-db] [--quick]

On PostgreSQL, in the database ``vipcrm_kpi_bench`` (recreated by the owner role for
every run unless ``--keep-db``; the server and roles come from ``DATABASE_URL`` and
``DATABASE_OWNER_URL``, default ``vipcrm_app`` and ``vipcrm_owner`` on 127.0.0.1), this

1. migrates and collects the static files, then makes the standard bench bank
   (bench/_common.py: a head office over 10 city branches with 3 sub-branches each,
   1,520 RMs, advisors, supervisors, the demo tiers) with the demo service standards,
   the tiering policy, products, a login for every RM, and N clients in set-based SQL;
2. loads, as the owner role in set-based SQL (``INSERT … SELECT … generate_series``),
   90 days of activity ending yesterday: interactions (each audited), planned contacts
   done, overdue, planned and cancelled (some rescheduled or cancelled by hand,
   audited), maturing time deposits with their maturity alerts, opportunities at every
   step with their step entries, proposals, won sales with credits (secondary RMs,
   advisors), referrals, satisfaction surveys, complaints, the RMs' time logs, tier
   changes, every client's segment and contact plan — and AUM snapshots on the days
   the KPIs read (the day before each period taken, the figures' date, and each
   maturity's eve and 30th day after) rather than on 90 full days; ``VACUUM ANALYZE``;
3. times the nightly KPI snapshot, ``kpi.services.kpi_snapshot_take`` for the month,
   quarter and year containing today, as the application role under Row-Level
   Security, with its slowest statements; then takes the two months and the quarter
   before (the dashboards' trends);
4. starts gunicorn (production settings, gthread workers with keep-alive) and, from 8
   client threads with one keep-alive connection and one session each (logged in
   through the login form), requests each dashboard page back to back: an RM's own
   scorecard (eight RMs of eight branches), a city branch's dashboard (its supervisor),
   the bank dashboard (head office) and a drill-down (the supervisor's: the branch's
   overdue contacts); prints per page its SQL queries and the time of one view alone
   (in this process, before the server starts), then the median, 95th percentile and
   maximum latency under the 8 clients and the throughput. Target: every page's p95
   under 300 ms.

Not a test: ``make test`` never runs it. Exits non-zero when a page answers anything but
200 (a page over the target is reported, not failed). The database is dropped at the end
unless ``--keep-db``; a later ``--keep-db`` run reuses the bank of that size (it takes
the snapshots again, over the rows of the first run, and measures the pages again).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import math
import os
import re
import statistics
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from _common import (
    CITIES,
    RMS_PER_BRANCH,
    ROOT,
    SUBS_PER_CITY,
    Owner,
    bank_create,
    bulk_load,
    client_count,
    clients_insert,
    collectstatic,
    database_prepare,
    django_env,
    django_setup,
    free_port,
    gunicorn,
    migrate,
    neutral_columns,
    percentile,
    pg_connect,
    production_env,
    sql_hash,
    vacuum_analyze,
    with_database,
)

DATABASE = "vipcrm_kpi_bench"
DEFAULT_APP_URL = f"postgres://vipcrm_app@127.0.0.1:5432/{DATABASE}"
DEFAULT_OWNER_URL = f"postgres://vipcrm_owner@127.0.0.1:5432/{DATABASE}"
SLUG = "kpi-bench"
ACTIVITY_DAYS = 90
CONCURRENCY = 8
TARGET_MS = 300
QUICK_CLIENTS = 20_000
QUICK_REQUESTS = 80
PASSWORD = "Bench-kpi-2026!"  # the bench's own throwaway bank, on loopback only
STANDARDS = {  # tier code: contact cadence (days), maturity lead (days), book weight
    "potential": (180, 7, "0.5"),
    "gold": (90, 14, "1"),
    "diamond": (45, 30, "4"),
    "private": (30, 30, "8"),
}
# Earlier periods taken for the dashboards' trends (those the 90 days of activity reach).
EARLIER = {"month": 2, "quarter": 1}
SCORECARD_RMS = 8  # RMs of eight branches look at their own scorecards
TABLES = (
    "customers_client",
    "customers_clientnamegram",
    "customers_clientteammember",
    "vipcrm_staffprofile",
    "vipcrm_user",
    "vipcrm_branch",
    "customers_holding",
    "vipcrm_auditentry",
    "segmentation_aumsnapshot",
    "segmentation_clientsegment",
    "segmentation_tierchange",
    "contact_plans_contactplan",
    "contact_plans_plannedcontact",
    "contact_plans_interaction",
    "sales_pipeline_opportunity",
    "sales_pipeline_opportunityadvisor",
    "sales_pipeline_stepentry",
    "sales_pipeline_proposal",
    "sales_pipeline_proposalline",
    "sales_pipeline_salecredit",
    "sales_pipeline_referral",
    "kpi_timelog",
    "kpi_satisfactionsurvey",
    "kpi_complaint",
    "kpi_kpisnapshot",
)


def h(column: str, salt: int) -> str:
    """SQL of a repeatable pseudo-random ``int`` 0 … 2³¹ − 1 of ``column`` and ``salt``."""
    return f"{sql_hash(column, salt)}::int"


# --- The bank ------------------------------------------------------------------------------


def rm_code(branch_index: int, n: int) -> str:
    return f"RM{branch_index:02d}{n:02d}"  # as bank_create names them


BRANCH_COUNT = CITIES * (SUBS_PER_CITY + 1)
RM_CODES = [rm_code(b, n) for b in range(BRANCH_COUNT) for n in range(RMS_PER_BRANCH)]
# Eight RMs of eight branches (spread over the cities), the first city's supervisor, and
# head office log in; every RM has a user, as the audit log names users.
SCORECARD_CODES = [rm_code(b * BRANCH_COUNT // SCORECARD_RMS, 1) for b in range(SCORECARD_RMS)]
LOGINS = {
    **{f"kpi.{code.lower()}": code for code in RM_CODES},
    "kpi.supervisor": "SV00",
    "kpi.head": "HO01",
}
PAGE_LOGINS = [f"kpi.{code.lower()}" for code in SCORECARD_CODES] + ["kpi.supervisor", "kpi.head"]


@dataclass
class Bank:
    tenant_id: int
    clients: int
    staff: dict[str, int]  # login → staff id
    supervisor_branch: int  # the first city branch (the supervisor's)


def bank_find(clients: int) -> Bank | None:
    """The bench bank of that many clients, if a complete seed of it is there."""
    from segmentation.models import AumSnapshot
    from vipcrm.models import Branch, StaffProfile, Tenant
    from vipcrm.tenancy import tenant_context

    tenant = Tenant.objects.filter(slug=SLUG).first()
    if tenant is None or client_count(tenant.pk) != clients:
        return None
    with tenant_context(tenant):
        if not AumSnapshot.objects.exists():  # the seed stopped before its last step
            return None
        staff = dict(
            StaffProfile.objects.filter(user__username__in=PAGE_LOGINS).values_list(
                "user__username", "pk"
            )
        )
        branch = Branch.objects.get(code="C01").pk
    return Bank(tenant.pk, clients, staff, branch)


def bank_configure(tenant_id: int) -> None:
    """What the KPIs read besides the clients: service standards, tiering policy,
    products, passwords for the logins the pages use."""
    from django.contrib.auth.hashers import make_password

    from customers.models import Product, Tier
    from segmentation.models import ServiceStandard, TieringPolicy
    from vipcrm.models import User
    from vipcrm.tenancy import tenant_context

    with tenant_context(tenant_id):
        TieringPolicy.objects.create()
        for tier in Tier.objects.all():
            cadence, lead, weight = STANDARDS[tier.code]
            ServiceStandard.objects.create(
                tier=tier,
                contact_cadence_days=cadence,
                maturity_lead_days=lead,
                book_weight=Decimal(weight),
                festival_care=tier.rank >= 3,
            )
        Product.objects.bulk_create(
            [
                Product(code="TD1Y", name="一年定期", category="time_deposit", risk_level="R1"),
                Product(code="WM", name="稳健理财", category="wealth_management", risk_level="R2"),
                Product(code="FUND", name="平衡基金", category="fund", risk_level="R3"),
            ]
        )
    # One hash for every login the pages use (hashing is the slow part of a password).
    User.objects.filter(username__in=PAGE_LOGINS).update(password=make_password(PASSWORD))


def bank_seed(owner_url: str, clients: int) -> Bank:
    """The bank, its clients and their 90 days of activity up to the bank's today."""
    from contact_plans.services import tenant_today, tenant_zone

    started = time.monotonic()
    tenant_id, refs = bank_create(SLUG, "考核基准银行", LOGINS)
    bank_configure(tenant_id)
    clients_insert(owner_url, tenant_id, clients, refs)
    owner = Owner(owner_url, tenant_id)
    try:
        for table in TABLES[:5]:  # the clients, their teams, the staff and their users
            owner.run(f"ANALYZE {table}")
        print(f"  bank and {clients:,} clients in {time.monotonic() - started:.0f} s", flush=True)
        activity_load(owner, tenant_today(tenant_id), zone=tenant_zone(tenant_id).key)
        print(f"  VACUUM ANALYZE in {vacuum_analyze(owner, TABLES):.0f} s", flush=True)
    finally:
        owner.close()
    bank = bank_find(clients)
    assert bank is not None
    return bank


# --- 90 days of activity, set-based --------------------------------------------------------


class Loader:
    """``INSERT … SELECT`` as the owner, bound to the bench tenant: the listed columns,
    ``tenant_id``, ``created_at``/``updated_at`` (now, unless listed) and a neutral value
    for any other NOT NULL column a model gained since (``neutral_columns``).

    Each insert is followed by an ``ANALYZE`` of its table: the next statements join
    what was just loaded, and a planner that still believes the table empty (or as a
    smaller bank left it) nests loops over a million rows."""

    def __init__(self, owner: Owner, day: datetime.date, zone: str) -> None:
        self.owner = owner
        self.params = {
            "day": day,
            "first": day - datetime.timedelta(days=ACTIVITY_DAYS),
            "zone": zone,
            "days": ACTIVITY_DAYS,
        }

    def insert(self, table: str, columns: dict[str, str], source: str, **params) -> int:
        columns = {
            "tenant_id": "%(tenant)s",
            "created_at": "now()",
            "updated_at": "now()",
            **columns,
        }
        with self.owner.conn.cursor() as cursor:
            extra = neutral_columns(cursor, table, set(columns))
            names = ", ".join([*columns, *extra])
            values = ",\n    ".join([*columns.values(), *extra.values()])
            cursor.execute(
                f"INSERT INTO {table} ({names})\nSELECT {values}\n{source}",
                {"tenant": self.owner.tenant_id, **self.params, **params},
            )
            rows = cursor.rowcount
            cursor.execute(f"ANALYZE {table}")
            return rows

    def run(self, sql: str, **params) -> None:
        self.owner.run(sql, {**self.params, **params})


def local_time(day_sql: str, hour_sql: str) -> str:
    """SQL of a timestamp: the local day ``day_sql`` at ``hour_sql`` hours, in the bank's zone."""
    return f"(({day_sql})::timestamp + ({hour_sql}) * interval '1 hour') AT TIME ZONE %(zone)s"


def activity_load(owner: Owner, day: datetime.date, zone: str) -> None:
    """Every table the KPIs read, 90 days of it ending yesterday (see the module doc)."""
    load = Loader(owner, day, zone)
    steps = (
        ("segments and contact plans", segments_load),
        ("interactions", interactions_load),
        ("planned contacts", planned_contacts_load),
        ("maturing holdings and alerts", maturities_load),
        ("tier changes", tier_changes_load),
        ("opportunities", opportunities_load),
        ("referrals, surveys, complaints", feedback_load),
        ("time logs", time_logs_load),
        ("audit log", audit_load),
        ("AUM snapshots", snapshots_load),
    )
    for label, step in steps:
        started = time.monotonic()
        rows = step(load)
        print(f"  {label:<32} {rows:>12,} rows in {time.monotonic() - started:5.0f} s", flush=True)


VIPS = """
FROM customers_client c
JOIN customers_tier t ON t.id = c.tier_id
JOIN segmentation_servicestandard s ON s.tier_id = c.tier_id
WHERE c.tenant_id = %(tenant)s AND c.owner_rm_id IS NOT NULL
"""


def segments_load(load: Loader) -> int:
    """Every client's segment: the tiering basis (the AUM ±10 %: some VIPs fall below
    their floor, some clients come near the next one) and its rule tier; every VIP's
    contact plan."""
    rows = load.insert(
        "segmentation_clientsegment",
        {
            "client_id": "c.id",
            "average_aum_cny": "b.basis",
            "rule_tier_id": "(SELECT t.id FROM customers_tier t WHERE t.tenant_id = "
            "%(tenant)s AND t.aum_floor <= b.basis ORDER BY t.rank DESC LIMIT 1)",
            "months_below_floor": "0",
            "last_monthly_evaluation": "date_trunc('month', %(day)s::date)::date",
            "evaluated_on": "%(day)s::date - 1",
            "lifecycle": "'stable'",
            "product_preference": "''",
        },
        f"""
        FROM (SELECT c.id, round(c.aum_cny * (0.9 + mod({h("c.id", 30)}, 20) / 100.0), 2)
                  AS basis
              FROM customers_client c WHERE c.tenant_id = %(tenant)s) b
        JOIN customers_client c ON c.id = b.id
        """,
    )
    return rows + load.insert(
        "contact_plans_contactplan",
        {
            "client_id": "c.id",
            "cadence_days": "s.contact_cadence_days",
            "next_due_on": f"%(day)s::date + mod({h('c.id', 31)}, s.contact_cadence_days)",
        },
        VIPS,
    )


def interactions_load(load: Loader) -> int:
    """VIPs contacted about as often as their cadence asks over the 90 days: one in
    seven once less (a Potential or Gold client then not at all), one in three once
    more; one non-VIP in twenty contacted once. Then the segments' and plans' last
    contact."""
    # VIP: n = ceil(90 / cadence) ± 1 contacts, spread evenly over the window.
    rows = load.insert(
        "contact_plans_interaction",
        {
            "client_id": "v.id",
            "staff_id": "v.owner_rm_id",
            "channel": "(ARRAY['phone','wechat','meeting','visit'])[1 + mod(v.hash, 4)]",
            "occurred_at": local_time(
                "%(day)s::date - 1 - mod(v.hash + k * (%(days)s / v.n), %(days)s)",
                "9 + mod(v.hash + k, 9) + 0.25 * mod(v.hash, 4)",
            ),
            "duration_minutes": "5 + mod(v.hash + k * 7, 55)",
            "summary": "'例行联系：了解近况，介绍产品'",
            "needs_found": "'[]'::jsonb",
            "next_step": "''",
        },
        f"""
        FROM (SELECT c.id, c.owner_rm_id, {h("c.id", 32)} AS hash,
                  greatest(0, ceil(%(days)s::numeric / s.contact_cadence_days)::int
                      + CASE WHEN mod({h("c.id", 33)}, 3) = 0 THEN 1 ELSE 0 END
                      - CASE WHEN mod({h("c.id", 34)}, 7) = 0 THEN 1 ELSE 0 END) AS n
              {VIPS}) v
        CROSS JOIN generate_series(0, 4) AS k
        WHERE k < v.n
        """,
    )
    rows += load.insert(
        "contact_plans_interaction",
        {
            "client_id": "c.id",
            "staff_id": "c.owner_rm_id",
            "channel": "'phone'",
            "occurred_at": local_time(f"%(day)s::date - 1 - mod({h('c.id', 35)}, %(days)s)", "10"),
            "duration_minutes": "10",
            "summary": "'客户来电咨询'",
            "needs_found": "'[]'::jsonb",
            "next_step": "''",
        },
        f"""
        FROM customers_client c
        WHERE c.tenant_id = %(tenant)s AND c.tier_id IS NULL AND c.owner_rm_id IS NOT NULL
          AND mod({h("c.id", 36)}, 20) = 0
        """,
    )
    last = """
        FROM (SELECT client_id, max((occurred_at AT TIME ZONE %(zone)s)::date) AS last
              FROM contact_plans_interaction WHERE tenant_id = %(tenant)s
              GROUP BY client_id) i
        WHERE {alias}.tenant_id = %(tenant)s AND {alias}.client_id = i.client_id
    """
    load.run(
        "UPDATE segmentation_clientsegment s SET last_contact_on = i.last" + last.format(alias="s")
    )
    load.run(
        "UPDATE contact_plans_contactplan p SET last_contact_on = i.last" + last.format(alias="p")
    )
    return rows


def planned_contacts_load(load: Loader) -> int:
    """Per VIP: the cadence contact each interaction answered (done, one in five a few
    days late), one in eight an overdue one, one in twenty-five one cancelled by hand,
    and the next one planned (one in fifteen of them rescheduled by hand)."""
    rows = load.insert(
        "contact_plans_plannedcontact",
        {
            "client_id": "i.client_id",
            "assigned_to_id": "i.staff_id",
            "reason": "'cadence'",
            "due_on": "d.due",
            "channel": "''",
            "status": "'done'",
            "source_key": "'cadence:' || d.due",
            "completed_at": "i.occurred_at",
            "note": "''",
            "reminders_sent": "0",
            "reschedule_reason": "''",
            "cancel_reason": "''",
        },
        f"""
        FROM contact_plans_interaction i
        JOIN customers_client c ON c.id = i.client_id AND c.tier_id IS NOT NULL
        CROSS JOIN LATERAL (SELECT (i.occurred_at AT TIME ZONE %(zone)s)::date
            + CASE WHEN mod({h("i.id", 40)}, 5) = 0 THEN -1 - mod({h("i.id", 41)}, 5)
                   ELSE mod({h("i.id", 41)}, 4) END AS due) d
        WHERE i.tenant_id = %(tenant)s
        """,
    )
    common = {
        "client_id": "c.id",
        "assigned_to_id": "c.owner_rm_id",
        "reason": "'cadence'",
        "channel": "''",
        "note": "''",
        "reminders_sent": "0",
    }
    rows += load.insert(
        "contact_plans_plannedcontact",
        {
            **common,
            "due_on": f"%(day)s::date - 1 - mod({h('c.id', 42)}, 40)",
            "status": "'overdue'",
            "source_key": f"'cadence:' || (%(day)s::date - 1 - mod({h('c.id', 42)}, 40))",
            "reschedule_reason": "''",
            "cancel_reason": "''",
        },
        VIPS + f" AND mod({h('c.id', 43)}, 8) = 0 ON CONFLICT DO NOTHING",
    )
    rows += load.insert(
        "contact_plans_plannedcontact",
        {
            **common,
            "due_on": f"%(day)s::date - 45 + mod({h('c.id', 44)}, 40)",
            "status": "'cancelled'",
            "source_key": "'manual:' || c.id",
            "reschedule_reason": "''",
            "cancel_reason": "'客户出国，暂停联系'",
        },
        VIPS + f" AND mod({h('c.id', 45)}, 25) = 0",
    )
    return rows + load.insert(
        "contact_plans_plannedcontact",
        {
            **common,
            "due_on": f"%(day)s::date + mod({h('c.id', 31)}, s.contact_cadence_days)",
            "status": "'planned'",
            "source_key": f"'cadence:' || (%(day)s::date + mod({h('c.id', 31)}, "
            "s.contact_cadence_days))",
            "rescheduled_from": f"CASE WHEN mod({h('c.id', 46)}, 15) = 0 THEN %(day)s::date "
            f"+ mod({h('c.id', 31)}, s.contact_cadence_days) - 3 END",
            "reschedule_reason": f"CASE WHEN mod({h('c.id', 46)}, 15) = 0 "
            "THEN '客户时间冲突' ELSE '' END",
            "cancel_reason": "''",
        },
        VIPS + " ON CONFLICT DO NOTHING",
    )


def maturities_load(load: Loader) -> int:
    """One client in ten holds a time deposit maturing over [today − 120, today + 30)
    (20–49 % of their AUM); a VIP's gets its maturity alert, due at the tier's lead
    time: done (four in five) or overdue when the maturity passed, planned otherwise."""
    product = "(SELECT id FROM customers_product WHERE tenant_id = %(tenant)s AND code = 'TD1Y')"
    matures = f"%(day)s::date - 120 + mod({h('c.id', 50)}, 150)"
    rows = load.insert(
        "customers_holding",
        {
            "external_id": "'TD' || c.id",
            "client_id": "c.id",
            "product_id": product,
            "balance": f"round(c.aum_cny * (20 + mod({h('c.id', 51)}, 30)) / 100, 2)",
            "currency": "'CNY'",
            "opened_on": f"{matures} - 365",
            "matures_on": matures,
            "status": f"CASE WHEN {matures} < %(day)s THEN 'closed' ELSE 'active' END",
        },
        f"""
        FROM customers_client c
        WHERE c.tenant_id = %(tenant)s AND mod({h("c.id", 52)}, 10) = 0 AND c.aum_cny > 0
        """,
    )
    return rows + load.insert(
        "contact_plans_plannedcontact",
        {
            "client_id": "c.id",
            "assigned_to_id": "c.owner_rm_id",
            "reason": "'maturity'",
            "due_on": "x.matures_on - s.maturity_lead_days",
            "channel": "''",
            "status": "CASE WHEN x.matures_on >= %(day)s THEN 'planned' "
            "WHEN mod(x.id, 5) = 0 THEN 'overdue' ELSE 'done' END",
            "source_key": "'maturity:' || x.id || ':' || x.matures_on",
            "holding_id": "x.id",
            "source_date": "x.matures_on",
            "amount_cny": "x.balance",
            "completed_at": "CASE WHEN x.matures_on < %(day)s AND mod(x.id, 5) > 0 THEN "
            + local_time("x.matures_on - s.maturity_lead_days + mod(x.id, 5)::int", "15")
            + " END",
            "note": "''",
            "reminders_sent": "CASE WHEN x.matures_on < %(day)s THEN 3 ELSE 1 END",
            "reschedule_reason": "''",
            "cancel_reason": "''",
        },
        """
        FROM customers_holding x
        JOIN customers_client c ON c.id = x.client_id
        JOIN segmentation_servicestandard s ON s.tier_id = c.tier_id
        WHERE x.tenant_id = %(tenant)s AND x.external_id LIKE 'TD%%'
          AND c.owner_rm_id IS NOT NULL
        """,
    )


def tier_changes_load(load: Loader) -> int:
    """One client in forty changed tier in the window: VIPs mostly up from the rank
    below (three in ten down from the rank above), non-VIPs down from the first tier."""
    return load.insert(
        "segmentation_tierchange",
        {
            "client_id": "c.id",
            "from_tier_id": "f.id",
            "to_tier_id": "c.tier_id",
            "reason": "CASE WHEN coalesce(f.rank, 0) < coalesce(t.rank, 0) THEN 'upgrade' "
            "ELSE 'downgrade' END",
            "average_aum_cny": "c.aum_cny",
            "effective_on": f"%(day)s::date - 1 - mod({h('c.id', 60)}, %(days)s)",
        },
        f"""
        FROM customers_client c
        LEFT JOIN customers_tier t ON t.id = c.tier_id
        LEFT JOIN customers_tier f ON f.tenant_id = %(tenant)s AND f.rank = CASE
            WHEN t.id IS NULL THEN 1
            WHEN mod({h("c.id", 61)}, 10) < 7 THEN t.rank - 1
            ELSE t.rank + 1 END
        WHERE c.tenant_id = %(tenant)s AND mod({h("c.id", 62)}, 40) = 0
          AND (t.id IS NOT NULL OR f.id IS NOT NULL)
          AND f.id IS DISTINCT FROM c.tier_id
        """,
    )


# An opportunity per client of the sample, its final step and status by its hash (of
# 20: 5 open at step 1, 3 at step 2, 2 at step 3, 3 lost at step 1–3, 3 won and following
# up at step 4, 2 won at step 5, 2 won and celebrated), entered at t0, each step `span`
# later (at most 10 days, all before now).
OPPORTUNITY_PLAN = """
SELECT c.id AS client_id, c.owner_rm_id, o.hash, o.t0, o.final, o.status, o.celebrated,
    least(interval '10 days',
          (now() - o.t0) / (o.final + 1) * (0.2 + mod(o.hash, 80) / 100.0)) AS span,
    (50000 + mod(o.hash, 200) * 5000)::numeric(18, 2) AS amount
FROM customers_client c
CROSS JOIN LATERAL (SELECT {hash} AS hash,
    ((%(day)s::date - 1 - mod({hash}, %(days)s))::timestamp + interval '10 hours')
        AT TIME ZONE %(zone)s AS t0) AS base
CROSS JOIN LATERAL (SELECT base.hash, base.t0,
    CASE WHEN mod(base.hash, 20) < 5 THEN 1 WHEN mod(base.hash, 20) < 8 THEN 2
         WHEN mod(base.hash, 20) < 10 THEN 3 WHEN mod(base.hash, 20) < 13
         THEN 1 + mod(base.hash / 20, 3) WHEN mod(base.hash, 20) < 16 THEN 4
         ELSE 5 END AS final,
    CASE WHEN mod(base.hash, 20) < 10 THEN 'open' WHEN mod(base.hash, 20) < 13 THEN 'lost'
         ELSE 'won' END AS status,
    mod(base.hash, 20) >= 18 AS celebrated) AS o
WHERE c.tenant_id = %(tenant)s AND c.owner_rm_id IS NOT NULL
  AND ((c.tier_id IS NOT NULL AND mod({sample}, 4) = 0) OR mod({sample}, 100) = 1)
"""


def opportunities_load(load: Loader) -> int:
    """One VIP in four and one other client in a hundred have an opportunity from the
    window (OPPORTUNITY_PLAN), with its step entries; a proposal from step 3 (accepted
    for a win, declined for a loss at 3, a draft while open); the won sales credited to
    the owner RM and the secondary RM of the client's team (70/30), an advisor of the
    team on one won sale in five."""
    plan = OPPORTUNITY_PLAN.format(hash=h("c.id", 70), sample=h("c.id", 71))
    entered = "p.t0 + (p.final - 1) * p.span"
    closed = f"{entered} + p.span"
    rows = load.insert(
        "sales_pipeline_opportunity",
        {
            "client_id": "p.client_id",
            "owner_rm_id": "p.owner_rm_id",
            "created_by_id": "p.owner_rm_id",
            "created_at": "p.t0",
            "title": "(ARRAY['到期资金再配置','理财产品配置','保险保障规划','基金定投'])"
            "[1 + mod(p.hash, 4)]",
            "source": "(ARRAY['maturity','cadence_review','life_event','campaign','walk_in'])"
            "[1 + mod(p.hash / 7, 5)]",
            "source_key": "''",
            "expected_amount_cny": "p.amount",
            "step": "p.final",
            "step_entered_at": entered,
            "status": "p.status",
            "won_amount_cny": "CASE WHEN p.status = 'won' THEN p.amount END",
            "won_at": "CASE WHEN p.status = 'won' THEN p.t0 + 3 * p.span END",
            "lost_reason": "CASE WHEN p.status = 'lost' THEN 'declined' ELSE '' END",
            "lost_note": "''",
            "lost_at": f"CASE WHEN p.status = 'lost' THEN {closed} END",
            "completed_at": f"CASE WHEN p.celebrated THEN {closed} END",
        },
        f"FROM ({plan}) p",
    )
    # The plan is a pure function of the client: rebuilt, joined to its opportunity.
    of_plan = f"""
        FROM ({plan}) p
        JOIN sales_pipeline_opportunity o
          ON o.tenant_id = %(tenant)s AND o.client_id = p.client_id
    """
    rows += load.insert(
        "sales_pipeline_stepentry",
        {
            "opportunity_id": "o.id",
            "step": "k",
            "entered_at": "p.t0 + (k - 1) * p.span",
            "left_at": "CASE WHEN k < p.final OR p.status = 'lost' OR p.celebrated "
            "THEN p.t0 + k * p.span END",
            "entered_by_id": "p.owner_rm_id",
        },
        of_plan + " CROSS JOIN generate_series(1, 5) AS k WHERE k <= p.final",
    )
    rows += load.insert(
        "sales_pipeline_proposal",
        {
            "opportunity_id": "o.id",
            "created_at": "p.t0 + 2.5 * p.span",
            "status": "CASE WHEN p.status = 'won' THEN 'accepted' "
            "WHEN p.status = 'lost' THEN 'declined' ELSE 'draft' END",
            "note": "''",
            "risk_level": "'C3'",
            "risk_assessed_on": "%(day)s::date - 200",
            "created_by_id": "p.owner_rm_id",
            "accepted_at": "CASE WHEN p.status = 'won' THEN p.t0 + 3 * p.span END",
        },
        of_plan + " WHERE p.final >= 3",
    )
    rows += load.insert(
        "sales_pipeline_proposalline",
        {
            "proposal_id": "x.id",
            "product_id": "(SELECT id FROM customers_product WHERE tenant_id = %(tenant)s "
            "AND code = 'WM')",
            "amount_cny": "o.expected_amount_cny",
            "recording_ref": "CASE WHEN x.status = 'accepted' THEN 'SL' || x.id ELSE '' END",
        },
        """
        FROM sales_pipeline_proposal x
        JOIN sales_pipeline_opportunity o ON o.id = x.opportunity_id
        WHERE x.tenant_id = %(tenant)s
        """,
    )
    won = """
        FROM sales_pipeline_opportunity o
        LEFT JOIN customers_clientteammember m ON m.tenant_id = %(tenant)s
            AND m.client_id = o.client_id AND m.role = {role!r}
        WHERE o.tenant_id = %(tenant)s AND o.status = 'won'
    """
    credited_on = "(o.won_at AT TIME ZONE %(zone)s)::date"
    rows += load.insert(
        "sales_pipeline_salecredit",
        {
            "opportunity_id": "o.id",
            "staff_id": "o.owner_rm_id",
            "role": "'owner'",
            "share_percent": "CASE WHEN m.id IS NULL THEN 100 ELSE 70 END",
            "amount_cny": "CASE WHEN m.id IS NULL THEN o.won_amount_cny "
            "ELSE round(o.won_amount_cny * 0.7, 2) END",
            "credited_on": credited_on,
        },
        won.format(role="secondary_rm"),
    )
    rows += load.insert(
        "sales_pipeline_salecredit",
        {
            "opportunity_id": "o.id",
            "staff_id": "m.staff_id",
            "role": "'secondary'",
            "share_percent": "30",
            "amount_cny": "o.won_amount_cny - round(o.won_amount_cny * 0.7, 2)",
            "credited_on": credited_on,
        },
        won.format(role="secondary_rm") + " AND m.id IS NOT NULL AND m.staff_id <> o.owner_rm_id",
    )
    return rows + load.insert(
        "sales_pipeline_opportunityadvisor",
        {"opportunity_id": "o.id", "staff_id": "m.staff_id"},
        won.format(role="advisor") + " AND m.id IS NOT NULL AND mod(o.id, 5) = 0",
    )


def feedback_load(load: Loader) -> int:
    """Referrals (one client in 250 was referred by the client numbered before them),
    satisfaction surveys of one client in fifty (mostly 4 and 5), complaints of one in
    a thousand (seven in ten resolved)."""
    rows = load.insert(
        "sales_pipeline_referral",
        {
            "referrer_id": "r.id",
            "prospect_id": "c.id",
            "credited_to_id": "r.owner_rm_id",
            "received_by_id": "c.owner_rm_id",
            "note": "''",
            "created_at": local_time(f"%(day)s::date - 1 - mod({h('c.id', 80)}, %(days)s)", "14"),
        },
        f"""
        FROM customers_client c
        JOIN customers_client r ON r.tenant_id = %(tenant)s AND r.id = c.id - 1
        WHERE c.tenant_id = %(tenant)s AND mod({h("c.id", 81)}, 250) = 0
          AND c.owner_rm_id IS NOT NULL AND r.owner_rm_id IS NOT NULL
        """,
    )
    rows += load.insert(
        "kpi_satisfactionsurvey",
        {
            "client_id": "c.id",
            "staff_id": "c.owner_rm_id",
            "score": f"(ARRAY[1,2,3,3,4,4,4,4,4,4,5,5,5,5,5,5,5,5,5,5])"
            f"[1 + mod({h('c.id', 82)}, 20)]",
            "comment": "''",
            "surveyed_on": f"%(day)s::date - 1 - mod({h('c.id', 83)}, %(days)s)",
            "channel": "'phone'",
            "external_id": "'SV' || c.id",
        },
        f"""
        FROM customers_client c
        WHERE c.tenant_id = %(tenant)s AND c.owner_rm_id IS NOT NULL
          AND mod({h("c.id", 84)}, 50) = 0
        """,
    )
    received = f"%(day)s::date - 1 - mod({h('c.id', 85)}, %(days)s)"
    resolved = f"mod({h('c.id', 86)}, 10) < 7 AND {received} + mod(c.id, 10)::int < %(day)s"
    return rows + load.insert(
        "kpi_complaint",
        {
            "client_id": "c.id",
            "staff_id": "c.owner_rm_id",
            "received_on": received,
            "category": "(ARRAY['service_attitude','waiting','fees','error','other'])"
            "[1 + mod(c.id, 5)]",
            "description": "'客户反映等候时间过长'",
            "status": f"CASE WHEN {resolved} THEN 'resolved' ELSE 'open' END",
            "resolved_on": f"CASE WHEN {resolved} THEN {received} + mod(c.id, 10)::int END",
            "resolution": f"CASE WHEN {resolved} THEN '已致电客户致歉并说明' ELSE '' END",
            "external_id": "''",
        },
        f"""
        FROM customers_client c
        WHERE c.tenant_id = %(tenant)s AND c.owner_rm_id IS NOT NULL
          AND mod({h("c.id", 87)}, 1000) = 0
        """,
    )


def time_logs_load(load: Loader) -> int:
    """Every RM's working days of the window (one day in twenty off), three kinds a day:
    VIP service 4.5–6.5 h, other clients 0.5–2 h, administration 0.5–1.5 h."""
    return load.insert(
        "kpi_timelog",
        {
            "staff_id": "s.id",
            "date": "d::date",
            "kind": "k.kind",
            "hours": "k.low + mod(s.id * 7 + (d::date - %(first)s) * 3 + k.salt, k.steps) * 0.5",
        },
        f"""
        FROM vipcrm_staffprofile s
        CROSS JOIN generate_series(%(first)s::date, %(day)s::date - 1, interval '1 day') AS d
        CROSS JOIN (VALUES ('vip_service', 4.5, 5, 0), ('non_vip_service', 0.5, 4, 1),
                           ('admin', 0.5, 3, 2)) AS k(kind, low, steps, salt)
        WHERE s.tenant_id = %(tenant)s AND s.role = 'rm' AND extract(isodow FROM d) < 6
          AND mod({h("s.id * 1000 + (d::date - %(first)s)", 88)}, 20) > 0
        """,
    )


def audit_load(load: Loader) -> int:
    """The audit entries the services write: one per interaction logged, one per
    planned contact rescheduled or cancelled by hand — by the RM's user."""
    audit = {
        "actor_id": "u.id",
        "actor_label": "u.username",
        "ip_address": "'10.0.0.1'::inet",
    }
    rows = load.insert(
        "vipcrm_auditentry",
        {
            **audit,
            "at": "i.occurred_at",
            "action": "'create'",
            "object_type": "'contact_plans.interaction'",
            "object_id": "i.id::text",
            "object_repr": "i.client_id || ' ' || i.channel",
            "detail": "jsonb_build_object('channel', i.channel)",
        },
        """
        FROM contact_plans_interaction i
        JOIN vipcrm_staffprofile s ON s.id = i.staff_id
        JOIN vipcrm_user u ON u.id = s.user_id
        WHERE i.tenant_id = %(tenant)s
        """,
    )
    return rows + load.insert(
        "vipcrm_auditentry",
        {
            **audit,
            "at": local_time("p.due_on - 5", "17"),
            "action": "'update'",
            "object_type": "'contact_plans.plannedcontact'",
            "object_id": "p.id::text",
            "object_repr": "p.client_id || ' ' || p.reason || ' ' || p.due_on",
            "detail": "CASE WHEN p.status = 'cancelled' THEN jsonb_build_object('status', "
            "jsonb_build_array('planned', 'cancelled'), 'reason', p.cancel_reason) "
            "ELSE jsonb_build_object('reason', p.reschedule_reason) END",
        },
        """
        FROM contact_plans_plannedcontact p
        JOIN vipcrm_staffprofile s ON s.id = p.assigned_to_id
        JOIN vipcrm_user u ON u.id = s.user_id
        WHERE p.tenant_id = %(tenant)s
          AND (p.cancel_reason <> '' OR p.rescheduled_from IS NOT NULL)
        """,
    )


def snapshot_days(day: datetime.date) -> list[datetime.date]:
    """The days the KPIs of the periods taken read AUM on: the day before each period
    (its opening book), its last day (the closing book) and the figures' date."""
    days = {day}
    for period, start in periods_taken(day):
        end = period_end(period, start)
        days.add(start - datetime.timedelta(days=1))
        if end < day:
            days.add(end)
    return sorted(days)


def snapshots_load(load: Loader) -> int:
    """AUM snapshots on the days the KPIs read, not on 90 full days: per client the
    period boundaries (``snapshot_days``: a yearly drift of −30 … +30 % back from
    today's AUM; a client in 33 joined within the window and has none before), and per
    maturity alert that passed the eve of the maturity and its 30th day after (when
    reached), where the client kept all, half or none of the matured amount. Loaded
    without the table's indexes and constraints, rebuilt after (``bulk_load``)."""
    aum_on = (
        "round(greatest(0, c.aum_cny * (1 - ({drift}) / 100.0 * (%(day)s::date - {on}) / 365.0))"
        ", 2)"
    )
    drift = f"mod({h('c.id', 90)}, 61) - 30"
    joined = f"%(day)s::date - mod({h('c.id', 91)}, %(days)s)"
    with bulk_load(load.owner, "segmentation_aumsnapshot"):
        rows = load.insert(
            "segmentation_aumsnapshot",
            {"client_id": "c.id", "date": "d", "aum_cny": aum_on.format(drift=drift, on="d")},
            f"""
            FROM customers_client c CROSS JOIN unnest(%(boundaries)s::date[]) AS d
            WHERE c.tenant_id = %(tenant)s
              AND (mod({h("c.id", 92)}, 33) > 0 OR d >= {joined})
            """,
            boundaries=snapshot_days(load.params["day"]),
        )
        # Maturity days: the same drift, minus what left the bank after the maturity.
        # A day that is also a boundary keeps the boundary's row (DISTINCT … NOT EXISTS).
        kept = "(ARRAY[0, 0.5, 1, 1])[1 + mod(x.id, 4)]"
        rows += load.insert(
            "segmentation_aumsnapshot",
            {"client_id": "m.client_id", "date": "m.on_day", "aum_cny": "m.aum"},
            f"""
            FROM (
                SELECT DISTINCT ON (c.id, e.on_day) c.id AS client_id, e.on_day,
                    greatest(0, {aum_on.format(drift=drift, on="e.on_day")}
                        - CASE WHEN e.after THEN round(x.balance * (1 - {kept}), 2)
                          ELSE 0 END) AS aum
                FROM contact_plans_plannedcontact p
                JOIN customers_holding x ON x.id = p.holding_id
                JOIN customers_client c ON c.id = p.client_id
                CROSS JOIN LATERAL (VALUES (p.source_date - 1, false),
                                           (p.source_date + 30, true)) AS e(on_day, after)
                WHERE p.tenant_id = %(tenant)s AND p.reason = 'maturity'
                  AND p.source_date < %(day)s AND e.on_day <= %(day)s
                ORDER BY c.id, e.on_day, e.after DESC
            ) m
            WHERE m.on_day <> ALL(%(boundaries)s::date[])
            """,
            boundaries=snapshot_days(load.params["day"]),
        )
    return rows


# --- The nightly snapshot ------------------------------------------------------------------


def period_end(period: str, start: datetime.date) -> datetime.date:
    from kpi.periods import period_bounds

    return period_bounds(period, start)[1]


def periods_taken(day: datetime.date) -> list[tuple[str, datetime.date]]:
    """The month, quarter and year containing ``day`` (the timed night), then the
    earlier ones of the trends (``EARLIER``), oldest first."""
    from kpi.periods import PERIODS, period_starts_back

    current = [(period, period_starts_back(period, day, 1)[0]) for period in PERIODS]
    earlier = [
        (period, start)
        for period, count in EARLIER.items()
        for start in period_starts_back(period, day, count + 1)[:-1]
    ]
    return current + earlier


@dataclass
class Take:
    period: str
    start: datetime.date
    as_of: datetime.date
    seconds: float
    written: dict
    slowest: list[tuple[str, float]] = field(default_factory=list)


def snapshot_take(
    tenant_id: int,
    period: str,
    start: datetime.date,
    as_of: datetime.date,
    shared: dict | None = None,
) -> Take:
    """One ``kpi_snapshot_take`` as the application (its role, RLS, the tenant's
    context), with each statement's time; ``shared`` as the nightly job keeps it across
    the night's periods."""
    from django.db import connection

    from kpi.services import kpi_snapshot_take
    from vipcrm.tenancy import tenant_context

    statements: list[tuple[str, float]] = []

    def timed(execute, sql, params, many, context):
        started = time.monotonic()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((" ".join(sql.split())[:90], time.monotonic() - started))

    started = time.monotonic()
    with connection.execute_wrapper(timed), tenant_context(tenant_id):
        written = kpi_snapshot_take(period=period, start=start, as_of=as_of, shared=shared)
    seconds = time.monotonic() - started
    slowest = sorted(statements, key=lambda statement: -statement[1])[:3]
    return Take(period, start, as_of, seconds, written, slowest)


def snapshots_time(tenant_id: int, day: datetime.date) -> list[Take]:
    takes = []
    shared: dict = {}  # as kpi_snapshot_job: one night's periods share what is the same
    for period, start in periods_taken(day):
        as_of = min(day, period_end(period, start))
        take = snapshot_take(tenant_id, period, start, as_of, shared)
        takes.append(take)
        print(
            f"  {period:<8} {start}  as of {as_of}  {take.seconds:7.1f} s   {take.written}",
            flush=True,
        )
        for sql, seconds in take.slowest:
            print(f"      {seconds:6.2f} s  {sql}")
    return takes


# --- The pages, through gunicorn -----------------------------------------------------------


@dataclass
class Page:
    label: str
    logins: list[str]  # one per client thread (cycled)
    path: str


def pages_for(bank: Bank, day: datetime.date) -> list[Page]:
    from kpi.periods import period_starts_back

    month = period_starts_back("month", day, 1)[0]
    drill = urllib.parse.urlencode(
        {"scope": f"branch:{bank.supervisor_branch}", "period": "month", "start": month}
    )
    rms = [f"kpi.{code.lower()}" for code in SCORECARD_CODES]
    return [
        Page("RM scorecard (own, 8 RMs)", rms, "/kpi/rm/{staff}/"),
        Page(
            "branch dashboard (city, supervisor)",
            ["kpi.supervisor"],
            f"/kpi/branches/{bank.supervisor_branch}/",
        ),
        Page("bank dashboard (head office)", ["kpi.head"], "/kpi/bank/"),
        Page(
            "drill-down: branch overdue contacts",
            ["kpi.supervisor"],
            f"/kpi/drill/overdue_contacts/?{drill}",
        ),
    ]


COOKIE = re.compile(r"^([^=;\s]+)=([^;]*)")
CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


class Browser:
    """One logged-in user on one keep-alive connection, with its cookies."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"Accept-Language": "zh-hans"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body, headers)
        response = self.conn.getresponse()
        content = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            match = COOKIE.match(header)
            if match:
                self.cookies[match[1]] = match[2]
        return response.status, content

    def login(self, username: str) -> None:
        """Through the login form, as a person would: its CSRF token, then the POST."""
        status, content = self.request("GET", "/login/")
        token = CSRF_FIELD.search(content)
        if status != 200 or token is None:
            raise RuntimeError(f"login page: HTTP {status}")
        form = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token[1].decode(),
                "username": username,
                "password": PASSWORD,
                "next": "/kpi/",
            }
        )
        status, content = self.request("POST", "/login/", form)
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login of {username} refused: HTTP {status}")

    def close(self) -> None:
        self.conn.close()


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/login/")
            if conn.getresponse().status == 200:
                conn.close()
                return
        time.sleep(0.5)
    raise RuntimeError("gunicorn did not come up (see its log)")


def page_measure(port: int, page: Page, staff: dict[str, int], requests: int) -> dict:
    """``CONCURRENCY`` threads, each logged in (its own session) on its own keep-alive
    connection, request the page back to back after one warm-up each; every answer
    must be a 200. Returns latencies (ms), the page size and the throughput."""
    per_thread = max(1, requests // CONCURRENCY)
    times: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(CONCURRENCY + 1)
    go = threading.Event()

    def client(index: int) -> None:
        username = page.logins[index % len(page.logins)]
        path = page.path.format(staff=staff[username])
        browser = Browser(port)
        mine: list[float] = []
        try:
            browser.login(username)
            status, content = browser.request("GET", path)  # warm-up
            if status != 200:
                raise RuntimeError(f"{path}: HTTP {status}")
            ready.wait()
            go.wait()
            for _ in range(per_thread):
                started = time.perf_counter()
                status, content = browser.request("GET", path)
                mine.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise RuntimeError(f"{path}: HTTP {status}")
            with lock:
                times.extend(mine)
                sizes.append(len(content))
        except Exception as error:  # reported in the table, the other threads go on
            with lock:
                errors.append(f"{username}: {error}")
            with contextlib.suppress(threading.BrokenBarrierError):
                ready.abort()
        finally:
            browser.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()
    started = time.perf_counter()
    go.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors or not times:
        return {"errors": errors}
    return {
        "errors": [],
        "requests": len(times),
        "median": statistics.median(times),
        "p95": percentile(times, 0.95),
        "max": max(times),
        "per_second": len(times) / elapsed,
        "kb": statistics.median(sizes) / 1024,
    }


def page_alone(page: Page, staff: dict[str, int], views: int = 5) -> tuple[int, float]:
    """The page's SQL queries and its median time over ``views`` views one at a time, in
    this process (Django's test client, the same production settings and role): the
    cost of one view, without the queueing of the concurrent run."""
    from django.db import connection
    from django.test import Client

    from vipcrm.models import User

    username = page.logins[0]
    client = Client()
    client.force_login(User.objects.get(username=username))
    path = page.path.format(staff=staff[username])
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    client.get(path, secure=True)  # warm-up
    times = []
    for _ in range(views):
        queries.clear()
        started = time.perf_counter()
        with connection.execute_wrapper(count):
            response = client.get(path, secure=True)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {response.status_code}")
    return len(queries), statistics.median(times)


def pages_time(bank: Bank, env: dict, day: datetime.date, args) -> tuple[list[str], list[str]]:
    """Every page under gunicorn; returns the pages that missed the target and those
    that failed (an answer other than 200)."""
    port = free_port()
    log = Path(env["VIPCRM_VAR_DIR"]) / "bench-kpi-gunicorn.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    misses, failures = [], []
    # At most ceil(clients / workers) connections a worker, so the keep-alive clients
    # spread over the workers (3, 3, 2) instead of piling on the first one to accept
    # (measured: the branch dashboard's throughput halved, one worker doing all the work).
    # gthread closes a connection after a response when (connections − threads) others
    # sit idle: with one thread, the worker's other two stay open.
    connections = math.ceil(CONCURRENCY / args.workers)
    print(
        f"Dashboard pages: gunicorn {args.workers} workers × {args.worker_threads} threads "
        f"(gthread, keep-alive, at most {connections} connections a "
        f"worker), {CONCURRENCY} client threads with a session and a "
        f"keep-alive connection each, {args.requests} requests per page after a warm-up "
        f"(log: {log})"
    )
    print(
        f"  {'page':<38} {'queries':>7} {'alone':>9} {'requests':>8} {'KB':>5} {'median':>10}"
        f" {'p95':>10} {'max':>10} {'req/s':>6}"
    )
    pages = pages_for(bank, day)
    alone = {page.label: page_alone(page, bank.staff) for page in pages}
    with gunicorn(
        env,
        workers=args.workers,
        threads=args.worker_threads,
        connections=connections,
        port=port,
        log=log,
    ):
        wait_ready(port)
        for page in pages:
            queries, single = alone[page.label]
            result = page_measure(port, page, bank.staff, args.requests)
            if result["errors"]:
                failures.append(f"{page.label}: {result['errors'][0]}")
                print(f"  {page.label:<38} FAILED: {'; '.join(result['errors'][:2])}")
                continue
            slow = result["p95"] >= TARGET_MS
            if slow:
                misses.append(page.label)
            print(
                f"  {page.label:<38} {queries:>7} {single:>6.1f} ms {result['requests']:>8} "
                f"{result['kb']:>5.0f} {result['median']:>7.1f} ms {result['p95']:>7.1f} ms "
                f"{result['max']:>7.1f} ms {result['per_second']:>6.1f}"
                + ("  > target" if slow else ""),
                flush=True,
            )
    return misses, failures


# --- The run -------------------------------------------------------------------------------


def database_drop(owner_url: str) -> None:
    from django.db import connections

    connections.close_all()
    conn = pg_connect(owner_url, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, help="clients of the bank (default 1,000,000)")
    parser.add_argument("--requests", type=int, help="requests per page (default 400)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--worker-threads", type=int, default=1, help="threads per worker")
    parser.add_argument("--keep-db", action="store_true", help="reuse and keep the database")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"development: {QUICK_CLIENTS:,} clients, {QUICK_REQUESTS} requests per page",
    )
    args = parser.parse_args()
    args.clients = args.clients or (QUICK_CLIENTS if args.quick else 1_000_000)
    args.requests = args.requests or (QUICK_REQUESTS if args.quick else 400)
    if args.clients < 1_000 or args.requests < CONCURRENCY:
        sys.exit(f"--clients must be at least 1,000 and --requests at least {CONCURRENCY}.")

    app_url = with_database(os.environ.get("DATABASE_URL", DEFAULT_APP_URL), DATABASE)
    owner_url = with_database(os.environ.get("DATABASE_OWNER_URL", DEFAULT_OWNER_URL), DATABASE)
    if not app_url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/kpi.py needs PostgreSQL: set DATABASE_URL and DATABASE_OWNER_URL.")
    env = django_env(app_url, owner_url, **production_env(str(ROOT / "var" / "bench")))

    print(
        f"KPI benchmark: {args.clients:,} clients, {ACTIVITY_DAYS} days of activity, "
        f"database {DATABASE}"
    )
    wall = time.monotonic()
    database_prepare(owner_url, recreate=not args.keep_db)
    migrate(env)
    collectstatic(env)
    django_setup(env)
    from contact_plans.services import tenant_today

    bank = bank_find(args.clients) if args.keep_db else None
    if bank is None:
        print("Setup (the bank through the ORM, then set-based SQL as the owner):")
        started = time.monotonic()
        bank = bank_seed(owner_url, args.clients)
        print(f"  setup done in {time.monotonic() - started:.0f} s")
    else:
        print(f"Reusing the bench bank (--keep-db) of {args.clients:,} clients")
    day = tenant_today(bank.tenant_id)

    print(f"Nightly KPI snapshot of {day} (kpi_snapshot_take, app role + RLS):")
    takes = snapshots_time(bank.tenant_id, day)
    tonight = takes[:3]
    print(f"  the night's three periods: {sum(take.seconds for take in tonight):.1f} s")
    owner = Owner(owner_url, bank.tenant_id)
    try:  # what autovacuum would do before the morning (it may be off on this server)
        vacuum_analyze(owner, ("kpi_kpisnapshot",))
    finally:
        owner.close()

    misses, failures = pages_time(bank, env, day, args)
    if failures:
        print("Failed: " + "; ".join(failures))
    if misses:
        print(f"Missed (p95 at or above {TARGET_MS} ms): " + "; ".join(misses))
    elif not failures:
        print(f"Every dashboard page under {TARGET_MS} ms at the 95th percentile")
    if not args.keep_db:
        database_drop(owner_url)
        print(f"Database {DATABASE} dropped (--keep-db keeps it).")
    print(f"Total wall time {time.monotonic() - wall:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
