"""Benchmark of the nightly AUM snapshot and re-tiering against a hand-written SQL baseline.

    .venv/bin/python bench/retier.py [--clients 1000000] [--days 90] [--keep-db]

On PostgreSQL, in the database ``vipcrm_retier_bench`` (recreated by the owner role for
every run unless ``--keep-db``; the roles and server come from ``DATABASE_URL`` and
``DATABASE_OWNER_URL``, default ``vipcrm_app`` and ``vipcrm_owner`` on 127.0.0.1), this

1. migrates, then creates one bank with the demo tiers, service standards, 10 branches,
   100 RMs, products and USD rates through the application's ORM;
2. generates, as the owner role in set-based SQL (``generate_series``): N clients with
   holdings in CNY and USD (AUM bands like the demo's), ``D`` days of AUM snapshots per
   client (N × D rows: rising, falling, stepping and wobbling clients) and a few
   hundred overrides; then ``VACUUM ANALYZE``;
3. runs "the previous night" through the application (re-tiering for day D−1), so the
   timed night starts from a steady state, and moves some balances and the USD rate;
4. times, in one run:
   (a) the snapshot job for the new day: ``aum_snapshot_take`` as the application role,
       under Row-Level Security;
   (b) the re-tiering: ``clients_retier`` as the application role;
   (c) the baseline: one hand-written statement, as the owner, computing the same new
       tiers (``CREATE TEMP TABLE … AS SELECT`` window average, rule tier, override,
       hysteresis) from the same state (taken before (b) runs);
5. prints the three times, the ratio (b)/(c) (target ≤ 1.5) and checks that the
   baseline's new tiers equal the application's, client by client.

Not a test: ``make test`` never runs it. The database is dropped at the end unless
``--keep-db`` (a later ``--keep-db`` run then times the next day on the same data).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import subprocess
import sys
import time
import urllib.parse
from decimal import Decimal
from pathlib import Path

from _common import Owner, bulk_load, vacuum_analyze, with_database

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
DATABASE = "vipcrm_retier_bench"
DEFAULT_APP_URL = f"postgres://vipcrm_app@127.0.0.1:5432/{DATABASE}"
DEFAULT_OWNER_URL = f"postgres://vipcrm_owner@127.0.0.1:5432/{DATABASE}"
TENANT_SLUG = "retier-bench"
BRANCHES = 10
RMS = 100
USD_RATE = Decimal("7.20000000")
USD_RATE_NEW = Decimal("7.21000000")
TIERS = (  # the spec's demo defaults
    ("potential", "潜力客户", 1, "200000", 180, 7, 2, "0.5"),
    ("gold", "金卡", 2, "500000", 90, 14, 4, "1"),
    ("diamond", "钻石", 3, "5000000", 45, 30, 6, "4"),
    ("private", "私人银行", 4, "10000000", 30, 30, 12, "8"),
)


def pg_connect(url: str, dbname: str | None = None):
    import psycopg2

    parts = urllib.parse.urlsplit(url)
    params = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": urllib.parse.unquote(parts.username or ""),
        "password": urllib.parse.unquote(parts.password or "") or None,
        "dbname": dbname or parts.path.lstrip("/"),
    }
    return psycopg2.connect(**{k: v for k, v in params.items() if v is not None})


def database_prepare(owner_url: str, *, recreate: bool) -> bool:
    """Create the bench database (dropping it first if ``recreate``); True if new."""
    conn = pg_connect(owner_url, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        if recreate:
            cursor.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE])
        created = cursor.fetchone() is None
        if created:
            cursor.execute(f'CREATE DATABASE "{DATABASE}"')
    conn.close()
    return created


def database_drop(owner_url: str) -> None:
    from django.db import connections

    connections.close_all()
    conn = pg_connect(owner_url, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    conn.close()


def django_setup(app_url: str, owner_url: str) -> None:
    os.environ.update(
        DATABASE_URL=app_url,
        DATABASE_OWNER_URL=owner_url,
        DJANGO_SETTINGS_MODULE="vipcrm.settings.local",
        DJANGO_DEBUG="false",  # no query log kept in memory
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- Setup -------------------------------------------------------------------------------


def bank_find() -> tuple[int | None, int, datetime.date | None]:
    """(tenant id, clients, latest snapshot day) of an existing bench bank, if any."""
    from django.db.models import Max

    from customers.models import Client
    from segmentation.models import AumSnapshot
    from vipcrm.models import Tenant
    from vipcrm.tenancy import tenant_context

    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first()
    if tenant is None:
        return None, 0, None
    with tenant_context(tenant):
        latest = AumSnapshot.objects.aggregate(latest=Max("date"))["latest"]
        return tenant.pk, Client.objects.count(), latest


def bank_create(first_day: datetime.date, days: int) -> int:
    """The bench bank's configuration, through the application's ORM."""
    from customers.models import FxRate, Product, Tier
    from segmentation.models import ServiceStandard, TieringPolicy
    from vipcrm.models import Branch, StaffProfile, Tenant
    from vipcrm.roles import Role
    from vipcrm.tenancy import tenant_context

    tenant = Tenant.objects.create(name="Re-tiering bench bank", slug=TENANT_SLUG)
    with tenant_context(tenant):
        TieringPolicy.objects.create()
        for code, name, rank, floor, cadence, lead, meetings, weight in TIERS:
            tier = Tier.objects.create(code=code, name=name, rank=rank, aum_floor=Decimal(floor))
            ServiceStandard.objects.create(
                tier=tier,
                contact_cadence_days=cadence,
                maturity_lead_days=lead,
                meetings_per_year=meetings,
                book_weight=Decimal(weight),
            )
        head = Branch.objects.create(code="HQ", name="总行")
        branches = [
            Branch.objects.create(code=f"BR{i:02d}", name=f"第{i}支行", parent=head)
            for i in range(1, BRANCHES + 1)
        ]
        StaffProfile.objects.create(code="SUP", name="主管", branch=head, role=Role.SUPERVISOR)
        StaffProfile.objects.bulk_create(
            [
                StaffProfile(
                    code=f"RM{i:03d}",
                    name=f"客户经理{i}",
                    branch=branches[i % BRANCHES],
                    role=Role.RM,
                )
                for i in range(RMS)
            ]
        )
        Product.objects.bulk_create(
            [
                Product(code="DEP", name="定期存款", category="time_deposit", risk_level="R1"),
                Product(
                    code="USDWM",
                    name="美元理财",
                    category="wealth_management",
                    risk_level="R2",
                    currency="USD",
                ),
            ]
        )
        FxRate.objects.bulk_create(
            [
                FxRate(currency="USD", date=first_day + datetime.timedelta(d), rate_to_cny=USD_RATE)
                for d in range(days)
            ]
        )
    return tenant.pk


def ids(owner: Owner, sql: str) -> list[int]:
    return [row[0] for row in owner.run(sql)]


def other_columns(label: str, given: str) -> tuple[str, str, dict]:
    """The NOT NULL columns of model ``label`` that an INSERT naming ``given`` leaves
    out, with the model's defaults: (", col…", ", %(default_col)s…", params). Keeps the
    generated rows valid when the models gain a column."""
    from django.apps import apps
    from django.db import connection

    named = {column.strip() for column in given.split(",")}
    columns, values, params = [], [], {}
    for field in apps.get_model(label)._meta.concrete_fields:
        if field.primary_key or field.generated or field.null or field.column in named:
            continue
        key = f"default_{field.column}"
        columns.append(f", {field.column}")
        values.append(f", %({key})s")
        params[key] = field.get_db_prep_save(field.get_default(), connection)
    return "".join(columns), "".join(values), params


def bank_fill(owner: Owner, *, clients: int, first_day: datetime.date, days: int) -> None:
    """Clients, holdings, snapshots and overrides, generated set-based by the owner."""
    branches = ids(owner, "SELECT id FROM vipcrm_branch WHERE parent_id IS NOT NULL ORDER BY id")
    rms = ids(owner, "SELECT id FROM vipcrm_staffprofile WHERE role = 'rm' ORDER BY id")
    products = dict(owner.run("SELECT code, id FROM customers_product"))
    tiers = dict(owner.run("SELECT code, id FROM customers_tier"))
    supervisor = ids(owner, "SELECT id FROM vipcrm_staffprofile WHERE role = 'supervisor'")[0]
    started = time.monotonic()
    # A reproducible spread of AUM (bands and shares like the demo's: 55 % below the
    # tiers, then Potential, Gold, Diamond, Private), from a multiplicative hash of g.
    named = (
        "tenant_id, created_at, updated_at, external_id, name, gender, id_number, mobile, "
        "email, occupation, is_entrepreneur, risk_level, preferred_channel, "
        "preferred_contact_time, is_confidential, aum_cny, branch_id, owner_rm_id"
    )
    more, more_values, defaults = other_columns("customers.Client", named)
    owner.run(
        f"""
        INSERT INTO customers_client ({named}{more})
        SELECT %(tenant)s, now() - interval '2 years', now() - interval '2 years',
            'RB' || lpad(g::text, 10, '0'), '客户' || g, CASE WHEN g %% 2 = 0 THEN 'M' ELSE 'F' END,
            '', '', '', '', g %% 10 < 7, 'C3', '', '', false, 0,
            (%(branches)s::bigint[])[1 + g %% %(nb)s], (%(rms)s::bigint[])[1 + g %% %(nr)s]
            {more_values}
        FROM generate_series(1, %(clients)s) AS g
        """,
        {
            "branches": branches,
            "rms": rms,
            "nb": len(branches),
            "nr": len(rms),
            "clients": clients,
            **defaults,
        },
    )
    named = (
        "tenant_id, created_at, updated_at, external_id, balance, currency, opened_on, "
        "status, client_id, product_id"
    )
    more, more_values, defaults = other_columns("customers.Holding", named)
    owner.run(
        f"""
        WITH base AS (
            SELECT id, (id %% 10 = 0) AS has_usd, round(CASE
                WHEN u < 0.55 THEN 10000 + u / 0.55 * 189000
                WHEN u < 0.80 THEN 200000 + (u - 0.55) / 0.25 * 300000
                WHEN u < 0.95 THEN 500000 + (u - 0.80) / 0.15 * 4500000
                WHEN u < 0.98 THEN 5000000 + (u - 0.95) / 0.03 * 5000000
                ELSE 10000000 + (u - 0.98) / 0.02 * 40000000 END, 2) AS aum
            FROM (SELECT id, ((id * 2654435761) %% 1000003)::numeric / 1000003 AS u
                  FROM customers_client WHERE tenant_id = %(tenant)s) AS hashed
        )
        INSERT INTO customers_holding ({named}{more})
        SELECT %(tenant)s, now(), now(), 'HB' || id, CASE WHEN has_usd THEN round(aum * 0.7, 2)
            ELSE aum END, 'CNY', DATE '2022-01-01' + (id %% 1000)::int, 'active', id, %(dep)s
            {more_values}
        FROM base
        UNION ALL
        SELECT %(tenant)s, now(), now(), 'HU' || id, round(aum * 0.3 / %(rate)s, 2), 'USD',
            DATE '2023-01-01' + (id %% 700)::int, 'active', id, %(usd)s {more_values}
        FROM base WHERE has_usd
        """,
        {"dep": products["DEP"], "usd": products["USDWM"], "rate": USD_RATE, **defaults},
    )
    # AUM as customers.aum computes it (balance × rate, rounded to the cent), and the
    # tier those amounts reach: the bank's state before the history below.
    owner.run(
        """
        UPDATE customers_client c SET aum_cny = h.total
        FROM (SELECT client_id, round(sum(balance * CASE WHEN currency = 'CNY' THEN 1
                  ELSE %(rate)s END), 2) AS total
              FROM customers_holding WHERE tenant_id = %(tenant)s GROUP BY client_id) h
        WHERE c.id = h.client_id AND c.tenant_id = %(tenant)s
        """,
        {"rate": USD_RATE},
    )
    owner.run(
        """
        UPDATE customers_client c SET tier_id = (
            SELECT t.id FROM customers_tier t
            WHERE t.tenant_id = %(tenant)s AND t.aum_floor <= c.aum_cny
            ORDER BY t.rank DESC LIMIT 1)
        WHERE c.tenant_id = %(tenant)s
        """
    )
    print(f"  {clients:,} clients and their holdings in {time.monotonic() - started:.0f} s")
    # D days of history ending the day before the first timed night, oldest first. Per
    # client (by id mod 20): falling, rising, money moved out ~60 days ago, a one-day
    # spike, otherwise ±1 % wobble; the last day is the client's current AUM ± wobble.
    started = time.monotonic()
    with bulk_load(owner, "segmentation_aumsnapshot"):
        snapshots_generate(owner, clients=clients, first_day=first_day, days=days)
    seconds = time.monotonic() - started
    print(f"  snapshots loaded, indexes and foreign keys rebuilt in {seconds:.0f} s")
    # Overrides: one client in 2,000 pinned to Diamond, half of them ending the night
    # before the timed one (so the timed run falls back to the rules for those).
    named = (
        "tenant_id, created_at, updated_at, client_id, tier_id, reason, expires_on, created_by_id"
    )
    more, more_values, defaults = other_columns("segmentation.TierOverride", named)
    owner.run(
        f"""
        INSERT INTO segmentation_tieroverride ({named}{more})
        SELECT %(tenant)s, now(), now(), id, %(diamond)s, '集团核心客户，分行特批',
            CASE WHEN id %% 4000 = 7 THEN %(ends)s::date ELSE %(ends)s::date + 60 END,
            %(supervisor)s {more_values}
        FROM customers_client WHERE tenant_id = %(tenant)s AND id %% 2000 = 7
        """,
        {
            "diamond": tiers["diamond"],
            "ends": first_day + datetime.timedelta(days=days - 1),
            "supervisor": supervisor,
            **defaults,
        },
    )


def snapshots_generate(owner: Owner, *, clients: int, first_day: datetime.date, days: int) -> None:
    """``days`` days of history per client, one statement per day, oldest first (the
    table grows a day at a time, as the nightly job grows it)."""
    started = time.monotonic()
    for d in range(days):
        owner.run(
            """
            INSERT INTO segmentation_aumsnapshot (tenant_id, client_id, date, aum_cny,
                created_at, updated_at)
            SELECT %(tenant)s, c.id, %(first)s::date + %(d)s, round(c.aum_cny * CASE c.id %% 20
                    WHEN 0 THEN 1 + 0.30 * (%(days)s - %(d)s) / %(days)s
                    WHEN 1 THEN 1 - 0.25 * (%(days)s - %(d)s) / %(days)s
                    WHEN 2 THEN CASE WHEN %(days)s - %(d)s > 60 THEN 1.6 ELSE 1 END
                    WHEN 3 THEN CASE WHEN %(days)s - %(d)s = 20 THEN 5 ELSE 1 END
                    ELSE 1 + ((c.id * 7 + %(d)s * 13) %% 11 - 5) / 500.0 END, 2),
                now(), now()
            FROM customers_client c
            WHERE c.tenant_id = %(tenant)s
            """,
            {"first": first_day, "days": days, "d": d},
        )
        if (d + 1) % 10 == 0 or d + 1 == days:
            print(
                f"  snapshots: {d + 1}/{days} days × {clients:,} clients "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )


TABLES = (
    "customers_client",
    "customers_holding",
    "customers_fxrate",
    "segmentation_aumsnapshot",
    "segmentation_clientsegment",
    "segmentation_tieroverride",
    "segmentation_tierchange",
)


def app(tenant_id: int, work, statements: list | None = None):
    """Run ``work()`` as the application: its role, the tenant's transaction, RLS.
    With ``statements``, collect each statement's (first words, seconds) there."""
    from django.db import connection

    from vipcrm.tenancy import tenant_context

    def timed(execute, sql, params, many, context):
        started = time.monotonic()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((" ".join(sql.split()[:4]), time.monotonic() - started))

    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if statements is not None:
            stack.enter_context(connection.execute_wrapper(timed))
        with tenant_context(tenant_id):
            result = work()
    return result, time.monotonic() - started


def day_moves(owner: Owner, day: datetime.date) -> None:
    """The new day's news: a USD rate, and 2 % of clients' deposits changed."""
    owner.run(
        """
        INSERT INTO customers_fxrate (tenant_id, created_at, updated_at, currency, date,
            rate_to_cny)
        VALUES (%(tenant)s, now(), now(), 'USD', %(day)s, %(rate)s)
        ON CONFLICT DO NOTHING
        """,
        {"day": day, "rate": USD_RATE_NEW},
    )
    owner.run(
        """
        UPDATE customers_holding SET balance = round(balance * 1.35, 2), updated_at = now()
        WHERE tenant_id = %(tenant)s AND currency = 'CNY' AND client_id %% 50 = %(mod)s
        """,
        {"mod": day.toordinal() % 50},
    )


# --- The baseline --------------------------------------------------------------------------

BASELINE = """
CREATE TEMP TABLE bench_new_tiers AS
WITH policy AS (
    SELECT window_days, downgrade_grace FROM segmentation_tieringpolicy
    WHERE tenant_id = %(tenant)s
),
bands AS (
    SELECT id, rank, aum_floor AS low,
        lead(aum_floor) OVER (ORDER BY aum_floor) AS high
    FROM customers_tier WHERE tenant_id = %(tenant)s
),
basis AS (
    SELECT client_id, round(avg(aum_cny), 2) AS average
    FROM segmentation_aumsnapshot
    WHERE tenant_id = %(tenant)s
      AND date > %(day)s::date - (SELECT window_days FROM policy) AND date <= %(day)s
    GROUP BY client_id
),
judged AS (
    SELECT c.id AS client_id, c.tier_id AS current_tier, coalesce(ct.rank, 0) AS current_rank,
        b.id AS rule_tier, coalesce(b.rank, 0) AS rule_rank, o.tier_id AS pinned_tier,
        o.expires_on, o.id AS override_id,
        CASE WHEN s.last_monthly_evaluation IS NULL
                  OR s.last_monthly_evaluation < date_trunc('month', %(day)s::date)
             THEN coalesce(s.months_below_floor, 0) + 1
             ELSE coalesce(s.months_below_floor, 0) END AS months_if_low
    FROM customers_client c
    LEFT JOIN customers_tier ct ON ct.id = c.tier_id
    LEFT JOIN segmentation_clientsegment s ON s.tenant_id = %(tenant)s AND s.client_id = c.id
    LEFT JOIN basis a ON a.client_id = c.id
    LEFT JOIN bands b ON coalesce(a.average, 0) >= b.low
        AND (b.high IS NULL OR coalesce(a.average, 0) < b.high)
    LEFT JOIN segmentation_tieroverride o ON o.tenant_id = %(tenant)s AND o.client_id = c.id
        AND o.revoked_at IS NULL
    WHERE c.tenant_id = %(tenant)s
)
SELECT client_id, current_tier, CASE
    WHEN override_id IS NOT NULL AND expires_on >= %(day)s THEN pinned_tier
    WHEN override_id IS NOT NULL THEN rule_tier
    WHEN rule_rank > current_rank THEN rule_tier
    WHEN rule_rank < current_rank
         AND months_if_low >= (SELECT downgrade_grace FROM policy) THEN rule_tier
    ELSE current_tier END AS new_tier
FROM judged
"""

CHECK = """
SELECT count(*) FILTER (WHERE b.new_tier IS DISTINCT FROM c.tier_id),
    count(*) FILTER (WHERE b.new_tier IS DISTINCT FROM b.current_tier), count(*)
FROM bench_new_tiers b JOIN customers_client c ON c.id = b.client_id
"""


# --- The run -----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90, help="days of snapshot history")
    parser.add_argument("--keep-db", action="store_true", help="reuse and keep the database")
    args = parser.parse_args()
    if args.clients < 1 or args.days < 2:
        sys.exit("--clients must be at least 1 and --days at least 2.")

    app_url = with_database(os.environ.get("DATABASE_URL", DEFAULT_APP_URL), DATABASE)
    owner_url = with_database(os.environ.get("DATABASE_OWNER_URL", DEFAULT_OWNER_URL), DATABASE)
    if not app_url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/retier.py needs PostgreSQL: set DATABASE_URL and DATABASE_OWNER_URL.")

    print(
        f"Re-tiering benchmark: {args.clients:,} clients, {args.days} days of AUM snapshots "
        f"({args.clients * args.days:,} rows), database {DATABASE}"
    )
    wall = time.monotonic()
    database_prepare(owner_url, recreate=not args.keep_db)
    env = {**os.environ, "DATABASE_URL": app_url, "DATABASE_OWNER_URL": owner_url}
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    django_setup(app_url, owner_url)
    from segmentation import services

    tenant_id, found, latest = bank_find()
    if tenant_id is not None and (found != args.clients or latest is None):
        sys.exit(
            f"{DATABASE} holds a bench bank of {found:,} clients; run without --keep-db "
            "to rebuild it for this size."
        )
    if tenant_id is None:
        print("Setup (set-based SQL as the owner, then the previous night as the app):")
        started = time.monotonic()
        day = datetime.date.today()
        first_day = day - datetime.timedelta(days=args.days)
        tenant_id = bank_create(first_day, args.days)
        owner = Owner(owner_url, tenant_id)
        bank_fill(owner, clients=args.clients, first_day=first_day, days=args.days)
        print(f"  VACUUM ANALYZE in {vacuum_analyze(owner, TABLES):.0f} s")
        previous = day - datetime.timedelta(days=1)
        summary, seconds = app(tenant_id, lambda: services.clients_retier(on=previous))
        print(f"  previous night ({previous}): re-tiered in {seconds:.0f} s, {summary}")
        vacuum_analyze(owner, ("customers_client", "segmentation_clientsegment"))
        print(f"  setup done in {time.monotonic() - started:.0f} s")
    else:
        owner = Owner(owner_url, tenant_id)
        day = latest + datetime.timedelta(days=1)
        print(f"Reusing the bench bank (--keep-db): timing the next day, {day}")

    try:
        day_moves(owner, day)
        # Warm the cache for both sides alike: read the whole snapshot table once.
        owner.run("SELECT count(*), sum(aum_cny) FROM segmentation_aumsnapshot")

        written, snapshot_s = app(tenant_id, lambda: services.aum_snapshot_take(on=day))
        owner.run("DROP TABLE IF EXISTS bench_new_tiers")
        baseline_s = owner.timed(BASELINE, {"day": day})
        statements: list[tuple[str, float]] = []
        summary, retier_s = app(tenant_id, lambda: services.clients_retier(on=day), statements)
        refreshed, lifecycle_s = app(tenant_id, lambda: services.client_segments_refresh(on=day))
        differences, baseline_changes, judged = owner.run(CHECK)[0]
    finally:
        owner.close()

    print(f"Night of {day}, {args.clients:,} clients:")
    print(f"  (a) snapshot job (aum_snapshot_take, app role + RLS)  {snapshot_s:8.1f} s"
          f"   {written:,} snapshots written")  # fmt: skip
    print(f"  (b) re-tier (clients_retier, app role + RLS)         {retier_s:8.1f} s"
          f"   {summary['changes']:,} changes: {summary['upgrades']:,} up, "
          f"{summary['downgrades']:,} down, {summary['overrides']:,} pinned, "
          f"{summary['overrides_ended']:,} overrides ended; "
          f"{summary['notifications']:,} RMs notified")  # fmt: skip
    slowest = sorted(statements, key=lambda statement: -statement[1])[:3]
    print(f"      slowest statements: {'; '.join(f'{sql} … {s:.1f} s' for sql, s in slowest)}")
    print(f"  (c) baseline SQL (one CREATE TEMP TABLE AS, owner)   {baseline_s:8.1f} s"
          f"   {baseline_changes:,} new tiers differ from the current")  # fmt: skip
    print(f"  ratio re-tier / baseline: {retier_s / baseline_s:.2f} (target <= 1.5)")
    same = "yes" if differences == 0 else f"NO: {differences:,} clients differ"
    print(f"  check: the baseline's new tiers equal the app's for all {judged:,} clients: {same}")
    print(f"  (not in the ratio: lifecycle refresh {lifecycle_s:.1f} s, {refreshed:,} changed)")

    if not args.keep_db:
        database_drop(owner_url)
        print(f"Database {DATABASE} dropped (--keep-db keeps it).")
    print(f"Total wall time {time.monotonic() - wall:.0f} s")
    return 0 if differences == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
