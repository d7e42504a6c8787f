"""Benchmark of the nightly contact planning (``contact_plans.plan``).

    .venv/bin/python bench/plan.py [--clients 1000000] [--keep-db]

On PostgreSQL, in the database ``vipcrm_plan_bench`` (recreated by the owner role for
every run unless ``--keep-db``; the server and roles come from ``DATABASE_URL`` and
``DATABASE_OWNER_URL``, default ``vipcrm_app`` and ``vipcrm_owner`` on 127.0.0.1), this

1. migrates, then creates one bank through the application's ORM: the demo tiers and
   service standards (cadence 30/45/90/180 days, maturity lead 30/30/14/7, festival
   care for 私人银行 and 钻石), 10 branches, 100 RMs, products and a USD rate;
2. generates, as the owner role in set-based SQL (``generate_series``): N clients
   (45 % in a tier, birth dates from 1940 to 2000, one in five celebrating the lunar
   birthday, risk assessments over the last 400 days, three in five contacted in the
   last 120 days), 3 × N holdings — a demand deposit, a time deposit and a
   wealth-management product (one in ten in USD) per client, the last two maturing
   evenly over a year, so about 8 % of them within the next 30 days — and life events
   for one client in fifty; then ``VACUUM ANALYZE``;
3. times the first nightly planning for today — ``contact_plans_refresh`` as the
   application role, under Row-Level Security, in one transaction as the nightly
   pipeline runs it — and prints the rows written per kind;
4. times a second run the same day and prints what it wrote: it must be nothing.

Not a test: ``make test`` never runs it. Exits non-zero when the second run writes
anything. The database is dropped at the end unless ``--keep-db``; a later ``--keep-db``
run reuses the bank (same ``--clients``) and plans ``--date`` (default today), e.g. the
next day on the same data.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from decimal import Decimal

from _common import (
    ROOT,
    Owner,
    database_prepare,
    django_env,
    migrate,
    pg_connect,
    with_database,
)

DATABASE = "vipcrm_plan_bench"
DEFAULT_APP_URL = f"postgres://vipcrm_app@127.0.0.1:5432/{DATABASE}"
DEFAULT_OWNER_URL = f"postgres://vipcrm_owner@127.0.0.1:5432/{DATABASE}"
TENANT_SLUG = "plan-bench"
BRANCHES = 10
RMS = 100
USD_RATE = Decimal("7.20000000")
TIERS = (  # code, name, rank, floor, cadence, lead, book weight, festival care
    ("potential", "潜力客户", 1, "200000", 180, 7, "0.5", False),
    ("gold", "金卡", 2, "500000", 90, 14, "1", False),
    ("diamond", "钻石", 3, "5000000", 45, 30, "4", True),
    ("private", "私人银行", 4, "10000000", 30, 30, "8", True),
)
KINDS = (
    "plans_created",
    "plans_updated",
    "cadence",
    "maturity",
    "birthday",
    "festival",
    "risk_reassessment",
    "life_event",
    "cancelled",
    "reassigned",
    "reminders",
    "notifications",
    "overdue",
    "lunar_days",
)
TABLES = (
    "customers_client",
    "customers_holding",
    "customers_lifeevent",
    "customers_fxrate",
    "segmentation_clientsegment",
    "segmentation_servicestandard",
)


def database_drop(owner_url: str) -> None:
    from django.db import connections

    connections.close_all()
    conn = pg_connect(owner_url, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    conn.close()


def django_setup(app_url: str, owner_url: str) -> None:
    os.environ.update(django_env(app_url, owner_url, DJANGO_DEBUG="false"))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- Setup -------------------------------------------------------------------------------


def bank_find() -> tuple[int | None, int]:
    """(tenant id, clients) of an existing bench bank, if any."""
    from customers.models import Client
    from vipcrm.models import Tenant
    from vipcrm.tenancy import tenant_context

    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first()
    if tenant is None:
        return None, 0
    with tenant_context(tenant):
        return tenant.pk, Client.objects.count()


def bank_create(today: datetime.date) -> int:
    """The bench bank's configuration, through the application's ORM."""
    from customers.models import FxRate, Product, Tier
    from segmentation.models import ServiceStandard, TieringPolicy
    from vipcrm.models import Branch, StaffProfile, Tenant
    from vipcrm.roles import Role
    from vipcrm.tenancy import tenant_context

    tenant = Tenant.objects.create(name="Contact-planning bench bank", slug=TENANT_SLUG)
    with tenant_context(tenant):
        TieringPolicy.objects.create()
        for code, name, rank, floor, cadence, lead, weight, festival in TIERS:
            tier = Tier.objects.create(code=code, name=name, rank=rank, aum_floor=Decimal(floor))
            ServiceStandard.objects.create(
                tier=tier,
                contact_cadence_days=cadence,
                maturity_lead_days=lead,
                book_weight=Decimal(weight),
                festival_care=festival,
            )
        head = Branch.objects.create(code="HQ", name="总行")
        branches = [
            Branch.objects.create(code=f"BR{i:02d}", name=f"第{i}支行", parent=head)
            for i in range(1, BRANCHES + 1)
        ]
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
                Product(code="CUR", name="活期存款", category="deposit", risk_level="R1"),
                Product(code="TD1Y", name="一年定期", category="time_deposit", risk_level="R1"),
                Product(
                    code="WM",
                    name="稳健理财",
                    category="wealth_management",
                    risk_level="R2",
                ),
                Product(
                    code="USDWM",
                    name="美元理财",
                    category="wealth_management",
                    risk_level="R2",
                    currency="USD",
                ),
            ]
        )
        FxRate.objects.create(currency="USD", date=today - datetime.timedelta(days=1),
                              rate_to_cny=USD_RATE)  # fmt: skip
    return tenant.pk


def ids(owner: Owner, sql: str) -> list[int]:
    return [row[0] for row in owner.run(sql)]


def bank_fill(owner: Owner, *, clients: int, today: datetime.date) -> None:
    """Clients, holdings, segments and life events, generated set-based by the owner."""
    branches = ids(owner, "SELECT id FROM vipcrm_branch WHERE parent_id IS NOT NULL ORDER BY id")
    rms = ids(owner, "SELECT id FROM vipcrm_staffprofile WHERE role = 'rm' ORDER BY id")
    products = dict(owner.run("SELECT code, id FROM customers_product"))
    tiers = dict(owner.run("SELECT code, id FROM customers_tier"))
    started = time.monotonic()
    # A reproducible spread from a multiplicative hash of the client's number: 55 %
    # below the tiers, then Potential, Gold, Diamond, Private (like the demo's).
    owner.run(
        """
        INSERT INTO customers_client (tenant_id, created_at, updated_at, external_id, name,
            gender, birth_date, id_number, mobile, email, occupation, is_entrepreneur,
            risk_level, risk_assessed_on, preferred_channel, preferred_contact_time,
            lunar_birthday, is_confidential, aum_cny, branch_id, owner_rm_id, tier_id)
        SELECT %(tenant)s, now() - interval '2 years', now() - interval '2 years',
            'PB' || lpad(g::text, 10, '0'), '客户' || g,
            CASE WHEN g %% 2 = 0 THEN 'M' ELSE 'F' END,
            DATE '1940-01-01' + ((g * 7919) %% 21900)::int, '', '', '', '', g %% 10 < 7,
            'C3', %(today)s::date - ((g * 104729) %% 400)::int, '', '', g %% 5 = 0, false,
            0, (%(branches)s::bigint[])[1 + g %% %(nb)s], (%(rms)s::bigint[])[1 + g %% %(nr)s],
            CASE WHEN u < 0.55 THEN NULL WHEN u < 0.80 THEN %(potential)s
                 WHEN u < 0.95 THEN %(gold)s WHEN u < 0.98 THEN %(diamond)s
                 ELSE %(private)s END
        FROM (SELECT g, ((g * 2654435761) %% 1000003)::numeric / 1000003 AS u
              FROM generate_series(1, %(clients)s::bigint) AS g) AS hashed
        """,
        {
            "branches": branches,
            "rms": rms,
            "nb": len(branches),
            "nr": len(rms),
            "clients": clients,
            "today": today,
            **tiers,
        },
    )
    # Three holdings per client; the time deposit and the wealth-management product
    # mature evenly over [today - 30, today + 335) (the wealth product in USD for one
    # client in ten).
    owner.run(
        """
        INSERT INTO customers_holding (tenant_id, created_at, updated_at, external_id,
            balance, currency, opened_on, matures_on, status, client_id, product_id)
        SELECT %(tenant)s, now(), now(), 'HC' || c.id, 50000 + (c.id %% 97) * 1000, 'CNY',
            DATE '2020-01-01' + (c.id %% 1500)::int, NULL, 'active', c.id, %(cur)s
        FROM customers_client c WHERE c.tenant_id = %(tenant)s
        UNION ALL
        SELECT %(tenant)s, now(), now(), 'HT' || c.id, 100000 + (c.id %% 89) * 10000, 'CNY',
            %(today)s::date - 335 + ((c.id * 31) %% 365)::int,
            %(today)s::date - 30 + ((c.id * 31) %% 365)::int, 'active', c.id, %(td)s
        FROM customers_client c WHERE c.tenant_id = %(tenant)s
        UNION ALL
        SELECT %(tenant)s, now(), now(), 'HW' || c.id,
            CASE WHEN c.id %% 10 = 0 THEN 20000 + (c.id %% 83) * 1000
                 ELSE 200000 + (c.id %% 83) * 10000 END,
            CASE WHEN c.id %% 10 = 0 THEN 'USD' ELSE 'CNY' END,
            %(today)s::date - 200 + ((c.id * 53) %% 365)::int,
            %(today)s::date - 30 + ((c.id * 53 + 180) %% 365)::int, 'active', c.id,
            CASE WHEN c.id %% 10 = 0 THEN %(usdwm)s ELSE %(wm)s END
        FROM customers_client c WHERE c.tenant_id = %(tenant)s
        """,
        {
            "today": today,
            "cur": products["CUR"],
            "td": products["TD1Y"],
            "wm": products["WM"],
            "usdwm": products["USDWM"],
        },
    )
    # Segments (segmentation's nightly makes them): three clients in five contacted in
    # the last 120 days.
    owner.run(
        """
        INSERT INTO segmentation_clientsegment (tenant_id, created_at, updated_at, client_id,
            average_aum_cny, months_below_floor, lifecycle, product_preference,
            last_contact_on)
        SELECT %(tenant)s, now(), now(), c.id, 0, 0, 'stable', '',
            CASE WHEN c.id %% 5 < 3 THEN %(today)s::date - 1 - ((c.id * 13) %% 120)::int END
        FROM customers_client c WHERE c.tenant_id = %(tenant)s
        """,
        {"today": today},
    )
    owner.run(
        """
        INSERT INTO customers_lifeevent (tenant_id, created_at, updated_at, client_id, kind,
            occurs_on, note)
        SELECT %(tenant)s, now(), now(), c.id,
            (ARRAY['marriage','child','study_abroad','retirement','property'])[1 + c.id %% 5],
            %(today)s::date - 60 + ((c.id * 17) %% 120)::int, ''
        FROM customers_client c WHERE c.tenant_id = %(tenant)s AND c.id %% 50 = 7
        """,
        {"today": today},
    )
    print(f"  {clients:,} clients, {3 * clients:,} holdings, their segments and life events "
          f"in {time.monotonic() - started:.0f} s")  # fmt: skip


def vacuum_analyze(owner: Owner) -> float:
    started = time.monotonic()
    for table in TABLES:
        owner.run(f"VACUUM (ANALYZE) {table}")
    return time.monotonic() - started


def maturing_share(owner: Owner, today: datetime.date) -> tuple[int, int]:
    """(holdings maturing in the next 30 days, of which held by VIP clients)."""
    return owner.run(
        """
        SELECT count(*), count(*) FILTER (WHERE c.tier_id IS NOT NULL)
        FROM customers_holding h JOIN customers_client c ON c.id = h.client_id
        WHERE h.tenant_id = %(tenant)s AND h.status = 'active'
          AND h.matures_on >= %(today)s AND h.matures_on < %(today)s::date + 30
        """,
        {"today": today},
    )[0]


def planning(tenant_id: int, day: datetime.date) -> tuple[dict[str, int], float]:
    """One nightly planning as the application: its role, the tenant's transaction, RLS."""
    from contact_plans.services import contact_plans_refresh
    from vipcrm.tenancy import tenant_context

    started = time.monotonic()
    with tenant_context(tenant_id):
        summary = contact_plans_refresh(on=day)
    return summary, time.monotonic() - started


def show(summary: dict[str, int]) -> str:
    return ", ".join(f"{kind} {summary.get(kind, 0):,}" for kind in KINDS)


# --- The run -----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--keep-db", action="store_true", help="reuse and keep the database")
    parser.add_argument(
        "--date",
        type=datetime.date.fromisoformat,
        help="the business date to plan (default the bank's today; with --keep-db, e.g. "
        "the next day)",
    )
    args = parser.parse_args()
    if args.clients < 1:
        sys.exit("--clients must be at least 1.")
    app_url = with_database(os.environ.get("DATABASE_URL", DEFAULT_APP_URL), DATABASE)
    owner_url = with_database(os.environ.get("DATABASE_OWNER_URL", DEFAULT_OWNER_URL), DATABASE)
    if not app_url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/plan.py needs PostgreSQL: set DATABASE_URL and DATABASE_OWNER_URL.")

    print(f"Contact-planning benchmark: {args.clients:,} clients, {3 * args.clients:,} "
          f"holdings, database {DATABASE}")  # fmt: skip
    wall = time.monotonic()
    database_prepare(owner_url, recreate=not args.keep_db)
    migrate(django_env(app_url, owner_url))
    django_setup(app_url, owner_url)

    tenant_id, found = bank_find()
    if tenant_id is not None and found != args.clients:
        sys.exit(
            f"{DATABASE} holds a bench bank of {found:,} clients; run without --keep-db "
            "to rebuild it for this size."
        )
    from django.utils import timezone

    day = args.date or timezone.localdate()  # the bank's time zone (Asia/Shanghai)
    if tenant_id is None:
        print("Setup (set-based SQL as the owner):")
        started = time.monotonic()
        tenant_id = bank_create(day)
        owner = Owner(owner_url, tenant_id)
        bank_fill(owner, clients=args.clients, today=day)
        print(f"  VACUUM ANALYZE in {vacuum_analyze(owner):.0f} s")
        print(f"  setup done in {time.monotonic() - started:.0f} s")
    else:
        owner = Owner(owner_url, tenant_id)
        print(f"Reusing the bench bank (--keep-db): planning {day}")
    try:
        maturing, of_vips = maturing_share(owner, day)
        print(f"  holdings maturing in the next 30 days: {maturing:,} ({of_vips:,} of VIPs)")
        first, first_s = planning(tenant_id, day)
        second, second_s = planning(tenant_id, day)
    finally:
        owner.close()

    written = sum(second.values())
    print(f"Nightly planning of {day}, {args.clients:,} clients (app role + RLS):")
    print(f"  first run   {first_s:8.1f} s   {show(first)}")
    print(f"  second run  {second_s:8.1f} s   {show(second)}")
    print(f"  second run wrote {written:,} rows (must be 0): {'ok' if written == 0 else 'NO'}")
    if not args.keep_db:
        database_drop(owner_url)
        print(f"Database {DATABASE} dropped (--keep-db keeps it).")
    print(f"Total wall time {time.monotonic() - wall:.0f} s")
    return 0 if written == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
