"""Benchmark of the client list page (``/clients/``) on a bank of a million clients.

    .venv/bin/python bench/client_list.py [--clients 1000000] [--requests 30] [--keep-db]

On PostgreSQL (``DATABASE_URL``/``DATABASE_OWNER_URL``, default the ``vipcrm_bench``
database that bench/sync.py uses, recreated unless ``--keep-db``), this

1. migrates and collects the static files (production settings need their manifest);
2. seeds one bank, unless ``--keep-db`` finds it already seeded at that size: a head
   office over 10 city branches with 3 sub-branches each, 1,520 RMs (38 per branch),
   advisors, supervisors, the demo tiers — through the ORM — and then, as the schema
   owner in set-based SQL (``INSERT … SELECT … FROM generate_series``), N clients (each
   RM owns ~N/1,520, with realistic Chinese names, mobiles, AUM spread over the tiers,
   risk assessments, entrepreneurs) and a secondary RM or an advisor on the team of
   15 % of them; then ``ANALYZE``;
3. requests the page in-process with Django's test client, under production settings
   (``DEBUG`` off, ``vipcrm.settings.production``) and as the application role, so
   PostgreSQL's forced Row-Level Security applies as in production — as an RM, as a
   supervisor (a city branch and its sub-branches) and as head office (the whole
   bank): the default page, a deep page (page 50, or an RM's last), sorted by AUM
   (largest first), filtered by tier (diamond) and by branch, searched by name (a
   two-character prefix, and three characters "contains"), by the last four digits of
   a mobile and by customer number — the search terms taken from the role's own clients;
4. prints, for each, the rows shown, the SQL queries of one page view, the median and
   95th percentile of R page views, and the median CPU time of this process (the
   application's share, useful on a busy machine); target: under 100 ms, and the same
   number of queries for every page, filter and search of a role.

Not a test: ``make test`` never runs it.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from _common import (
    PYTHON,
    ROOT,
    database_prepare,
    database_urls,
    django_env,
    migrate,
    neutral_columns,
    pg_connect,
)

SLUG = "bench-list"
CITIES = 10
SUBS_PER_CITY = 3
RMS_PER_BRANCH = 38  # 40 branches × 38 = 1,520 RMs, ~658 clients each for a million
TARGET_MS = 100
TIERS = (  # as the demo's (customers/demo.py): code, name, rank, AUM floor
    ("potential", "潜力客户", 1, 200_000),
    ("gold", "金卡", 2, 500_000),
    ("diamond", "钻石", 3, 5_000_000),
    ("private", "私人银行", 4, 10_000_000),
)
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红建国志晓东海鹏斌辉飞宇浩凯婷雪琳晨"
    "欣怡佳慧颖倩婧梅莉燕玲丹阳博文鑫彬俊帆昊然轩睿泽宁婉瑶琪悦诗雨梓涵子思梦瑞嘉家天宏振德成"
)
OCCUPATIONS = ("企业主", "企业高管", "医生", "教师", "律师", "公务员", "自由职业", "退休")


# --- Django, in this process ------------------------------------------------------------


def production_env(var_dir: str) -> dict:
    """Production settings (``DEBUG`` off), without TLS in front (loopback only)."""
    return {
        "DJANGO_SETTINGS_MODULE": "vipcrm.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "VIPCRM_VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
    }


def collectstatic(env: dict) -> None:
    """Production settings serve static files through their manifest: build it."""
    subprocess.run(
        [PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )


def django_setup(env: dict) -> None:
    """Django in this process, as the application role (Row-Level Security forced)."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- Seeding ----------------------------------------------------------------------------


@dataclass
class Bank:
    tenant_id: int
    rm_user: object
    supervisor_user: object
    head_user: object
    clients: int


def bank_find(clients: int) -> Bank | None:
    from vipcrm.models import Tenant, User

    tenant = Tenant.objects.filter(slug=SLUG).first()
    if tenant is None:
        return None
    users = {u.username: u for u in User.objects.filter(tenant=tenant)}
    if len(users) < 3 or _client_count(tenant.pk) != clients:
        return None
    return Bank(tenant.pk, users["list.rm"], users["list.supervisor"], users["list.head"], clients)


def _client_count(tenant_id: int) -> int:
    from customers.models import Client
    from vipcrm.tenancy import tenant_context

    with tenant_context(tenant_id):
        return Client.objects.count()


def bank_create() -> tuple[int, dict]:
    """The bank's tenant, branches, staff, logins and tiers, through the ORM."""
    from customers.models import Tier
    from vipcrm.models import Branch, StaffProfile, Tenant, User
    from vipcrm.roles import Role
    from vipcrm.tenancy import tenant_context

    old = Tenant.objects.filter(slug=SLUG).first()
    if old is not None:  # another size, or a partial seed: set it aside (not deleted)
        old.slug = f"{SLUG}-old-{old.pk}"
        old.save(update_fields=["slug"])
        for user in User.objects.filter(tenant=old):
            user.username = f"{user.username}.old{old.pk}"
            user.save(update_fields=["username"])
    tenant = Tenant.objects.create(name="列表基准银行", slug=SLUG)
    with tenant_context(tenant):
        head_office = Branch.objects.create(code="HQ", name="总行")
        cities, branches = [], []
        for c in range(1, CITIES + 1):
            city = Branch.objects.create(code=f"C{c:02d}", name=f"第{c}分行", parent=head_office)
            cities.append(city)
            branches.append(city)
            for s in range(1, SUBS_PER_CITY + 1):
                branches.append(
                    Branch.objects.create(
                        code=f"C{c:02d}S{s}", name=f"第{c}分行第{s}支行", parent=city
                    )
                )
        staff = []
        for b, branch in enumerate(branches):
            for r in range(RMS_PER_BRANCH):
                staff.append(
                    StaffProfile(
                        code=f"RM{b:02d}{r:02d}",
                        name=SURNAMES[(b * 7 + r) % len(SURNAMES)]
                        + GIVEN[(b + r * 3) % len(GIVEN)],
                        branch=branch,
                        role=Role.RM,
                    )
                )
        for c, city in enumerate(cities):
            staff.append(
                StaffProfile(code=f"AD{c:02d}", name=f"顾问{c}", branch=city, role=Role.ADVISOR)
            )
            staff.append(
                StaffProfile(code=f"SV{c:02d}", name=f"主管{c}", branch=city, role=Role.SUPERVISOR)
            )
        staff.append(
            StaffProfile(code="HO01", name="总行管理员", branch=head_office, role=Role.HEAD_OFFICE)
        )
        StaffProfile.objects.bulk_create(staff)
        for code, name, rank, floor in TIERS:
            Tier.objects.create(code=code, name=name, rank=rank, aum_floor=floor)
        logins = {"list.rm": "RM0000", "list.supervisor": "SV00", "list.head": "HO01"}
        for username, code in logins.items():
            user = User.objects.create_user(username=username, tenant=tenant)
            StaffProfile.objects.filter(code=code).update(user=user)
        rms = list(
            StaffProfile.objects.filter(role=Role.RM)
            .order_by("code")
            .values_list("pk", "branch_id")
        )
        advisors = list(
            StaffProfile.objects.filter(role=Role.ADVISOR)
            .order_by("code")
            .values_list("pk", flat=True)
        )
        tiers = dict(Tier.objects.values_list("code", "pk"))
    return tenant.pk, {"rms": rms, "advisors": advisors, "tiers": tiers}


def _sql_text_array(items) -> str:
    return "(ARRAY[" + ", ".join(f"'{item}'" for item in items) + "])"


def clients_insert(owner_url: str, tenant_id: int, clients: int, refs: dict) -> None:
    """N clients and their teams in set-based SQL, as the schema owner."""
    rms, advisors, tiers = refs["rms"], refs["advisors"], refs["tiers"]
    tenant_id = int(tenant_id)  # interpolated: the SQL's % are modulo, not parameters
    conn = pg_connect(owner_url)
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT set_config('app.tenant_id', %s, false)", [str(tenant_id)])
        cursor.execute(
            "CREATE TEMP TABLE rm_map (idx int PRIMARY KEY, staff_id bigint, branch_id bigint)"
        )
        cursor.execute(
            "INSERT INTO rm_map SELECT (ordinality - 1)::int, s, b FROM "
            "unnest(%s::bigint[], %s::bigint[]) WITH ORDINALITY AS t(s, b)",
            [[pk for pk, _ in rms], [branch for _, branch in rms]],
        )
        surnames = _sql_text_array(SURNAMES)
        given = _sql_text_array(GIVEN)
        occupations = _sql_text_array(OCCUPATIONS)
        n_rms = len(rms)
        # NOT NULL columns added to the model since (Django keeps defaults in Python).
        listed = {
            "tenant_id", "created_at", "updated_at", "external_id", "name", "gender",
            "birth_date", "id_number", "mobile", "email", "occupation", "is_entrepreneur",
            "risk_level", "risk_assessed_on", "preferred_channel", "preferred_contact_time",
            "is_confidential", "aum_cny", "branch_id", "owner_rm_id", "tier_id",
        }  # fmt: skip
        extra = neutral_columns(cursor, "customers_client", listed)
        extra_columns = "".join(f", {column}" for column in extra)
        extra_values = "".join(f", {value}" for value in extra.values())
        # AUM: a Pareto tail from 30,000 CNY (P(AUM > x) = 30,000 / x), capped at 800
        # million: ~85 % below the first tier's floor, then ~9 % potential, ~5.4 % gold,
        # ~0.3 % diamond, ~0.3 % private banking.
        uniform = f"({_h('i', 5)} / 2147483648.0)"
        aum = f"round(least(30000 / (1 - {uniform}), 800000000)::numeric, 2)"
        tier = (
            f"CASE WHEN a.aum >= 10000000 THEN {tiers['private']} "
            f"WHEN a.aum >= 5000000 THEN {tiers['diamond']} "
            f"WHEN a.aum >= 500000 THEN {tiers['gold']} "
            f"WHEN a.aum >= 200000 THEN {tiers['potential']} END"
        )
        cursor.execute(
            f"""
            INSERT INTO customers_client (
                tenant_id, created_at, updated_at, external_id, name, gender, birth_date,
                id_number, mobile, email, occupation, is_entrepreneur, risk_level,
                risk_assessed_on, preferred_channel, preferred_contact_time, is_confidential,
                aum_cny, branch_id, owner_rm_id, tier_id{extra_columns})
            SELECT {tenant_id}, now(), now(), a.external_id, a.name, a.gender, a.birth,
                '110105' || to_char(a.birth, 'YYYYMMDD') || lpad((i % 1000)::text, 3, '0')
                    || (i % 10)::text,
                a.mobile, 'c' || i || '@mail.example.cn',
                {occupations}[1 + {_h("i", 6)} % {len(OCCUPATIONS)}],
                {_h("i", 7)} % 4 = 0,
                CASE WHEN {_h("i", 8)} % 10 = 0 THEN '' ELSE 'C' || (1 + i % 5) END,
                CASE WHEN {_h("i", 8)} % 10 = 0 THEN NULL
                     ELSE current_date - ({_h("i", 9)} % 730)::int END,
                '', '', {_h("i", 10)} % 50 = 0, a.aum, m.branch_id, m.staff_id, {tier}
                {extra_values}
            FROM (
                SELECT i, 'C' || lpad(i::text, 10, '0') AS external_id,
                    {surnames}[1 + {_h("i", 1)} % {len(SURNAMES)}]
                        || {given}[1 + {_h("i", 2)} % {len(GIVEN)}]
                        || CASE WHEN {_h("i", 3)} % 3 > 0
                           THEN {given}[1 + {_h("i", 4)} % {len(GIVEN)}] ELSE '' END AS name,
                    CASE WHEN i % 2 = 0 THEN 'M' ELSE 'F' END AS gender,
                    DATE '1950-01-01' + ({_h("i", 11)} % 18000)::int AS birth,
                    '1' || (3 + {_h("i", 12)} % 7)::text
                        || lpad(({_h("i", 13)} % 1000000000)::text, 9, '0') AS mobile,
                    {aum} AS aum
                FROM generate_series(1, {int(clients)}) AS i
            ) a
            JOIN rm_map m ON m.idx = a.i % {n_rms}
            """
        )
        # The team: a secondary RM of the same branch on 10 % of the clients, an advisor
        # of the city on 5 %.
        cursor.execute(
            f"""
            INSERT INTO customers_clientteammember (
                tenant_id, created_at, updated_at, client_id, staff_id, role, credit_share)
            SELECT {tenant_id}, now(), now(), c.id, m2.staff_id, 'secondary_rm', 30
            FROM customers_client c
            JOIN rm_map m ON m.staff_id = c.owner_rm_id
            JOIN rm_map m2 ON m2.idx = (m.idx / {RMS_PER_BRANCH}) * {RMS_PER_BRANCH}
                + (m.idx % {RMS_PER_BRANCH} + 1) % {RMS_PER_BRANCH}
            WHERE c.tenant_id = {tenant_id} AND {_h("c.id", 14)} % 10 = 0
            """
        )
        cursor.execute(
            f"""
            INSERT INTO customers_clientteammember (
                tenant_id, created_at, updated_at, client_id, staff_id, role, credit_share)
            SELECT {tenant_id}, now(), now(), c.id,
                ({_bigint_array(advisors)})[1 + (m.idx / {RMS_PER_BRANCH * (SUBS_PER_CITY + 1)})],
                'advisor', 0
            FROM customers_client c JOIN rm_map m ON m.staff_id = c.owner_rm_id
            WHERE c.tenant_id = {tenant_id} AND {_h("c.id", 15)} % 20 = 0
            """
        )
    conn.close()


def _h(column: str, salt: int) -> str:
    """SQL for a repeatable pseudo-random integer in 0 … 2³¹ of ``column`` and ``salt``."""
    return f"(hashint8({column} * 16 + {salt})::bigint & 2147483647)"


def _bigint_array(values) -> str:
    return "ARRAY[" + ", ".join(str(int(v)) for v in values) + "]::bigint[]"


def analyze(owner_url: str) -> None:
    conn = pg_connect(owner_url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        for table in (
            "customers_client",
            "customers_clientteammember",
            "vipcrm_staffprofile",
            "vipcrm_branch",
            "customers_tier",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    conn.close()


def bank_seed(owner_url: str, clients: int) -> Bank:
    started = time.monotonic()
    tenant_id, refs = bank_create()
    clients_insert(owner_url, tenant_id, clients, refs)
    analyze(owner_url)
    bank = bank_find(clients)
    print(f"Seeded {clients:,} clients in {time.monotonic() - started:.0f} s")
    return bank


# --- Measuring --------------------------------------------------------------------------


@dataclass
class Case:
    label: str
    query: dict


def cases_for(bank: Bank, user) -> tuple[str, list[Case]]:
    """The role's label and its cases, with search terms taken from its own clients."""
    from customers import selectors
    from customers.models import Tier
    from vipcrm.selectors import actor_for_user
    from vipcrm.tenancy import tenant_context

    with tenant_context(bank.tenant_id):
        actor = actor_for_user(user)
        visible = selectors.client_list(actor=actor)
        count = visible.count()
        # A client of the middle of the book: its name, mobile and number are searched.
        sample = visible.order_by("name", "pk")[count // 2]
        three = next(
            c.name for c in visible.order_by("pk")[count // 3 : count // 3 + 50] if len(c.name) >= 3
        )
        diamond = Tier.objects.get(code="diamond").pk
        # A sub-branch of the role's scope (an RM: their own branch).
        branch = sample.branch
    pages = math.ceil(count / 50)
    deep = min(50, pages)
    label = f"{actor.role.replace('_', ' ')} ({count:,} clients)"
    return label, [
        Case("default page", {}),
        Case(f"page {deep}" + (" (last)" if deep < 50 else ""), {"page": deep}),
        Case("sorted by AUM", {"sort": "-aum"}),
        Case("filter: tier", {"tier": diamond}),
        Case(f"filter: branch {branch.code}", {"branch": branch.pk}),
        Case(f"name prefix '{sample.name[:2]}'", {"q": sample.name[:2]}),
        Case(f"name contains '{three}'", {"q": three}),
        Case(f"mobile last 4 '{sample.mobile[-4:]}'", {"q": sample.mobile[-4:]}),
        Case(f"customer no. {sample.external_id}", {"q": sample.external_id}),
    ]


ROW = re.compile(rb'<td class="mono">C\d{10}</td>')


def measure(user, case: Case, requests: int) -> dict:
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(user)

    def get():
        response = client.get("/clients/", case.query, secure=True)
        if response.status_code != 200:
            raise RuntimeError(f"{case.label}: HTTP {response.status_code}")
        return response

    response = get()  # warm-up
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = get()
    times, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        get()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    return {
        "rows": len(ROW.findall(response.content)),
        "queries": len(queries),
        "median": statistics.median(times),
        "p95": times[max(0, math.ceil(0.95 * len(times)) - 1)],
        "cpu": statistics.median(cpu),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30, help="page views per case")
    parser.add_argument(
        "--keep-db", action="store_true", help="reuse the database (and the bank if seeded)"
    )
    args = parser.parse_args()

    app_url, owner_url = database_urls("bench/client_list.py")
    env = django_env(app_url, owner_url, **production_env(str(ROOT / "var" / "bench")))
    print(
        f"Client list benchmark: {args.clients:,} clients, {args.requests} page views per "
        "case, in-process Django test client, production settings, PostgreSQL as the "
        "application role (Row-Level Security forced)"
    )
    started = time.monotonic()
    database_prepare(owner_url, recreate=not args.keep_db)
    migrate(env)
    collectstatic(env)
    django_setup(env)
    bank = (bank_find(args.clients) if args.keep_db else None) or bank_seed(owner_url, args.clients)
    print(f"Setup done in {time.monotonic() - started:.0f} s")

    misses, counts = [], []
    header = f"  {'case':<34} {'rows':>5} {'queries':>8} {'median':>10} {'p95':>10} {'app CPU':>10}"
    for user in (bank.rm_user, bank.supervisor_user, bank.head_user):
        label, cases = cases_for(bank, user)
        print(f"{label}\n{header}")
        queries_seen = set()
        for case in cases:
            result = measure(user, case, args.requests)
            queries_seen.add(result["queries"])
            slow = result["p95"] >= TARGET_MS
            if slow:
                misses.append(f"{label}: {case.label}")
            print(
                f"  {case.label:<34} {result['rows']:>5} {result['queries']:>8} "
                f"{result['median']:>7.1f} ms {result['p95']:>7.1f} ms {result['cpu']:>7.1f} ms"
                + ("  > target" if slow else "")
            )
        counts.append(f"{label.split(' (')[0]} {', '.join(map(str, sorted(queries_seen)))}")
        if len(queries_seen) > 1:
            misses.append(f"{label}: the number of queries varies")
    print(f"Queries per page view, by role: {'; '.join(counts)}")
    if misses:
        print(f"Missed (p95 at or above {TARGET_MS} ms, or queries varying): " + "; ".join(misses))
    else:
        print(f"Every case under {TARGET_MS} ms at the 95th percentile, queries constant per role")
    print(f"Total wall time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
