"""What the benchmarks share: where things are, PostgreSQL connections, the bench
database, the environment of the Django processes they start, gunicorn, the standard
bench bank (branches, staff and a million clients in set-based SQL), timing."""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
DEFAULT_APP_URL = "postgres://vipcrm_app@127.0.0.1:5432/vipcrm_bench"
DEFAULT_OWNER_URL = "postgres://vipcrm_owner@127.0.0.1:5432/vipcrm_bench"


def database_urls(script: str) -> tuple[str, str]:
    """``DATABASE_URL`` and ``DATABASE_OWNER_URL`` (default: the ``vipcrm_bench`` database);
    exits when they are not PostgreSQL."""
    app_url = os.environ.get("DATABASE_URL", DEFAULT_APP_URL)
    owner_url = os.environ.get("DATABASE_OWNER_URL", DEFAULT_OWNER_URL)
    if not app_url.startswith(("postgres://", "postgresql://")):
        sys.exit(f"{script} needs PostgreSQL: set DATABASE_URL and DATABASE_OWNER_URL.")
    return app_url, owner_url


def with_database(url: str, name: str) -> str:
    """``url`` pointing at the database ``name`` (same server and role)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def parse_url(url: str) -> dict:
    parts = urllib.parse.urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": urllib.parse.unquote(parts.username or ""),
        "password": urllib.parse.unquote(parts.password or "") or None,
        "dbname": parts.path.lstrip("/"),
    }


def pg_connect(url: str, dbname: str | None = None):
    import psycopg2

    params = parse_url(url)
    if dbname:
        params["dbname"] = dbname
    return psycopg2.connect(**{k: v for k, v in params.items() if v is not None})


def database_prepare(owner_url: str, *, recreate: bool) -> None:
    """Create the bench database as the owner role (dropped first when ``recreate``)."""
    name = parse_url(owner_url)["dbname"]
    conn = pg_connect(owner_url, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        if recreate:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def django_env(app_url: str, owner_url: str, **extra: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": app_url,
        "DATABASE_OWNER_URL": owner_url,
        "DJANGO_SETTINGS_MODULE": "vipcrm.settings.local",
        **extra,
    }


def migrate(env: dict) -> None:
    """``manage.py migrate`` (it reconnects as the owner role for the DDL)."""
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )


def autovacuum_is_on(owner_url: str) -> bool:
    conn = pg_connect(owner_url)
    with conn.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        on = cursor.fetchone()[0] == "on"
    conn.close()
    return on


def neutral_columns(cursor, table: str, covered: set[str]) -> dict[str, str]:
    """SQL literals for ``table``'s NOT NULL columns without a database default that a
    hand-written INSERT does not list (``covered``): false, '', 0 or now().

    Django keeps defaults in Python, so a field added to a model later (say, a flag)
    is a NOT NULL column that a raw INSERT must fill; the benches fill it like the
    application does for a row that does not mention it.
    """
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s AND is_nullable = 'NO' "
        "AND column_default IS NULL AND is_generated = 'NEVER' AND is_identity = 'NO'",
        [table],
    )
    neutral = {
        "boolean": "false",
        "character varying": "''",
        "text": "''",
        "numeric": "0",
        "integer": "0",
        "bigint": "0",
        "smallint": "0",
        "date": "current_date",
        "timestamp with time zone": "now()",
        "jsonb": "'{}'",
    }
    return {
        column: neutral[kind]
        for column, kind in cursor.fetchall()
        if column not in covered and kind in neutral
    }


class Owner:
    """One owner connection bound to the bench tenant (Row-Level Security is forced on
    the owner too), autocommit so each statement stands alone."""

    def __init__(self, url: str, tenant_id: int) -> None:
        self.conn = pg_connect(url)
        self.conn.autocommit = True
        self.tenant_id = tenant_id
        self.run("SELECT set_config('app.tenant_id', %(tenant)s::text, false)")

    def run(self, sql: str, params: dict | None = None) -> list[tuple]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, {"tenant": self.tenant_id, **(params or {})})
            return cursor.fetchall() if cursor.description else []

    def timed(self, sql: str, params: dict | None = None) -> float:
        started = time.monotonic()
        self.run(sql, params)
        return time.monotonic() - started

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def bulk_load(owner: Owner, table: str):
    """Load ``table`` without its secondary indexes, unique and foreign-key constraints,
    then rebuild exactly those (same names and definitions): one sort per index instead
    of 90 million insertions, one join per foreign key instead of a trigger per row."""
    constraints = owner.run(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %(table)s::regclass AND contype IN ('u', 'f') ORDER BY contype DESC",
        {"table": table},
    )
    indexes = owner.run(
        """
        SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = %(table)s::regclass AND NOT x.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        """,
        {"table": table},
    )
    for name, _ in constraints:
        owner.run(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        owner.run(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        owner.run("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            owner.run(definition)
        for name, definition in reversed(constraints):
            owner.run(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        owner.run("RESET maintenance_work_mem")


def vacuum_analyze(owner: Owner, tables: tuple[str, ...]) -> float:
    """What autovacuum would have done by the next night (it may be off on this server)."""
    started = time.monotonic()
    for table in tables:
        owner.run(f"VACUUM (ANALYZE) {table}")
    return time.monotonic() - started


# --- gunicorn -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(
    env: dict, *, workers: int, port: int, log: Path, threads: int = 1, connections: int = 1000
) -> Iterator[None]:
    """gunicorn on ``127.0.0.1:port`` under production settings (a throwaway secret key,
    no TLS redirect): ``workers`` gthread workers of ``threads`` threads, keep-alive 30 s,
    at most ``connections`` connections a worker (gunicorn's default 1,000; fewer spreads
    a few keep-alive clients over the workers instead of letting the first worker to
    accept take them all); its output goes to ``log``."""
    env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "vipcrm.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
    }
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                GUNICORN,
                "vipcrm.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--worker-connections",
                str(connections),
                "--keep-alive",
                "30",
                "--timeout",
                "300",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield
        finally:
            server.terminate()
            server.wait(timeout=30)


# --- Timing ---------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (``share`` 0.95: the 95th)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- Django, in this process ---------------------------------------------------------------


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


# --- The standard bench bank ---------------------------------------------------------------

CITIES = 10
SUBS_PER_CITY = 3
RMS_PER_BRANCH = 38  # 40 branches × 38 = 1,520 RMs, ~658 clients each for a million
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


def client_count(tenant_id: int) -> int:
    from customers.models import Client
    from vipcrm.tenancy import tenant_context

    with tenant_context(tenant_id):
        return Client.objects.count()


def bank_create(slug: str, name: str, logins: dict[str, str]) -> tuple[int, dict]:
    """The standard bench bank's tenant, branches, staff and tiers, through the ORM: a
    head office over ``CITIES`` city branches with ``SUBS_PER_CITY`` sub-branches each,
    ``RMS_PER_BRANCH`` RMs in every branch (codes ``RM<branch><n>``), an advisor and a
    supervisor per city (``AD<city>``, ``SV<city>``, the first city ``00``), head office
    (``HO01``), the demo tiers; ``logins`` (username → staff code) get a user each,
    without a password.

    A bank of that ``slug`` already there (another size, a partial seed) is set aside,
    not deleted: its slug and usernames get an ``old`` suffix.
    """
    from customers.models import Tier
    from vipcrm.models import Branch, StaffProfile, Tenant, User
    from vipcrm.roles import Role
    from vipcrm.tenancy import tenant_context

    old = Tenant.objects.filter(slug=slug).first()
    if old is not None:  # another size, or a partial seed: set it aside (not deleted)
        old.slug = f"{slug}-old-{old.pk}"
        old.save(update_fields=["slug"])
        for user in User.objects.filter(tenant=old):
            user.username = f"{user.username}.old{old.pk}"
            user.save(update_fields=["username"])
    tenant = Tenant.objects.create(name=name, slug=slug)
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


def sql_text_array(items) -> str:
    return "(ARRAY[" + ", ".join(f"'{item}'" for item in items) + "])"


def clients_insert(owner_url: str, tenant_id: int, clients: int, refs: dict) -> None:
    """N clients of the bank ``bank_create`` made (``refs``: what it returned) and their
    teams, in set-based SQL as the schema owner (bench/README.md, ``client_list.py``);
    then their names' search bigrams, as the application role."""
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
        surnames = sql_text_array(SURNAMES)
        given = sql_text_array(GIVEN)
        occupations = sql_text_array(OCCUPATIONS)
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
        uniform = f"({sql_hash('i', 5)} / 2147483648.0)"
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
                {occupations}[1 + {sql_hash("i", 6)} % {len(OCCUPATIONS)}],
                {sql_hash("i", 7)} % 4 = 0,
                CASE WHEN {sql_hash("i", 8)} % 10 = 0 THEN '' ELSE 'C' || (1 + i % 5) END,
                CASE WHEN {sql_hash("i", 8)} % 10 = 0 THEN NULL
                     ELSE current_date - ({sql_hash("i", 9)} % 730)::int END,
                '', '', {sql_hash("i", 10)} % 50 = 0, a.aum, m.branch_id, m.staff_id, {tier}
                {extra_values}
            FROM (
                SELECT i, 'C' || lpad(i::text, 10, '0') AS external_id,
                    {surnames}[1 + {sql_hash("i", 1)} % {len(SURNAMES)}]
                        || {given}[1 + {sql_hash("i", 2)} % {len(GIVEN)}]
                        || CASE WHEN {sql_hash("i", 3)} % 3 > 0
                           THEN {given}[1 + {sql_hash("i", 4)} % {len(GIVEN)}] ELSE '' END AS name,
                    CASE WHEN i % 2 = 0 THEN 'M' ELSE 'F' END AS gender,
                    DATE '1950-01-01' + ({sql_hash("i", 11)} % 18000)::int AS birth,
                    '1' || (3 + {sql_hash("i", 12)} % 7)::text
                        || lpad(({sql_hash("i", 13)} % 1000000000)::text, 9, '0') AS mobile,
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
            WHERE c.tenant_id = {tenant_id} AND {sql_hash("c.id", 14)} % 10 = 0
            """
        )
        rms_per_city = RMS_PER_BRANCH * (SUBS_PER_CITY + 1)
        cursor.execute(
            f"""
            INSERT INTO customers_clientteammember (
                tenant_id, created_at, updated_at, client_id, staff_id, role, credit_share)
            SELECT {tenant_id}, now(), now(), c.id,
                ({sql_bigint_array(advisors)})[1 + (m.idx / {rms_per_city})], 'advisor', 0
            FROM customers_client c JOIN rm_map m ON m.staff_id = c.owner_rm_id
            WHERE c.tenant_id = {tenant_id} AND {sql_hash("c.id", 15)} % 20 = 0
            """
        )
    conn.close()
    # The names' search bigrams, by the application's own set-based refresh.
    from customers.name_search import client_name_grams_refresh
    from vipcrm.tenancy import tenant_context

    with tenant_context(tenant_id):
        client_name_grams_refresh()


def sql_hash(column: str, salt: int) -> str:
    """SQL for a repeatable pseudo-random integer in 0 … 2³¹ of ``column`` and ``salt``."""
    return f"(hashint8({column} * 16 + {salt})::bigint & 2147483647)"


def sql_bigint_array(values) -> str:
    return "ARRAY[" + ", ".join(str(int(v)) for v in values) + "]::bigint[]"
