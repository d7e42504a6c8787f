"""Benchmark of the core-banking sync API against raw PostgreSQL.

    .venv/bin/python bench/sync.py [--clients 1000000] [--workers 3] [--threads 3]

On PostgreSQL (``DATABASE_URL``/``DATABASE_OWNER_URL``, default the ``vipcrm_bench``
database, recreated for every run unless ``--keep-db``), this

1. migrates, creates a bench tenant and a write token;
2. starts gunicorn (production settings) on a free loopback port;
3. pushes N clients and 3×N holdings through ``POST /api/v1/sync/…`` in batches of
   5,000 from several client threads, then sends the same data again (all unchanged);
4. does the same upserts in raw SQL into a scratch table pair (COPY into a staging
   table + ``INSERT … ON CONFLICT … DO UPDATE … WHERE … IS DISTINCT FROM …``) with the
   same number of threads, as the baseline;
5. prints records/s of each, and the ratio API / baseline (target ≥ 0.5).

Only loopback traffic. Not a test: ``make test`` never runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import (
    PYTHON,
    ROOT,
    autovacuum_is_on,
    database_prepare,
    database_urls,
    django_env,
    free_port,
    gunicorn,
    migrate,
    neutral_columns,
    pg_connect,
)

BATCH = 5000
HOLDINGS_PER_CLIENT = 3
BRANCHES = [f"BR{i:02d}" for i in range(1, 11)]
RMS = [f"RM{i:03d}" for i in range(1, 101)]
PRODUCTS = [f"PR{i:03d}" for i in range(1, 21)]
CATEGORIES = ["deposit", "time_deposit", "wealth_management", "fund", "insurance"]
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


# --- The data: a pure function of the record's index, so a re-send is identical -------


def id_number(birth: datetime.date, serial: int) -> str:
    first17 = f"110105{birth:%Y%m%d}{serial % 1000:03d}"
    check = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11
    return first17 + "10X98765432"[check]


def client_record(i: int) -> dict:
    birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=(i * 37) % 18000)
    return {
        "external_id": f"BC{i:010d}",
        "name": f"客户{i}",
        "branch_code": BRANCHES[i % len(BRANCHES)],
        "rm_code": RMS[i % len(RMS)],
        "gender": "MF"[i % 2],
        "birth_date": birth.isoformat(),
        "id_number": id_number(birth, i),
        "mobile": f"13{i % 10**9:09d}",
        "email": f"c{i}@mail.example.cn",
        "occupation": "企业主" if i % 10 < 7 else "职员",
        "is_entrepreneur": i % 10 < 7,
        "risk_level": f"C{1 + i % 5}",
        "risk_assessed_on": (datetime.date(2026, 1, 1) + datetime.timedelta(i % 300)).isoformat(),
    }


def holding_record(j: int) -> dict:
    opened = datetime.date(2024, 1, 1) + datetime.timedelta(days=j % 700)
    return {
        "external_id": f"BH{j:010d}",
        "client_external_id": f"BC{j // HOLDINGS_PER_CLIENT:010d}",
        "product_code": PRODUCTS[j % len(PRODUCTS)],
        "balance": f"{(j * 7919) % 10_000_000}.{j % 100:02d}",
        "currency": "USD" if j % 10 == 0 else "CNY",
        "opened_on": opened.isoformat(),
        "matures_on": (opened + datetime.timedelta(days=365)).isoformat(),
        "status": "closed" if j % 20 == 0 else "active",
    }


def batches(total: int) -> list[range]:
    return [range(start, min(start + BATCH, total)) for start in range(0, total, BATCH)]


# --- Setup -----------------------------------------------------------------------------


def tenant_and_token_create(env: dict) -> tuple[int, str]:
    """A fresh bench tenant and a write token, made by the application's own services."""
    script = (
        "import secrets\n"
        "from vipcrm.models import Tenant\n"
        "from vipcrm.services import api_token_create\n"
        "slug = 'bench-' + secrets.token_hex(4)\n"
        "tenant = Tenant.objects.create(name='Bench bank ' + slug, slug=slug)\n"
        "_, key = api_token_create(tenant=tenant, name='bench', scopes=['read', 'write'])\n"
        "print(tenant.pk, key)\n"
    )
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[-2]), out[-1]


class StatisticsKeeper(threading.Thread):
    """What autovacuum does on an ordinary server: ANALYZE a table once more than 10 % of
    it changed since it was last analysed (checked every 15 s).

    Needed where autovacuum is off (as on some test machines): a planner that still
    believes a table holding millions of rows to be empty picks plans that scan a whole
    tenant per batch, for the API and the baseline alike.
    """

    def __init__(self, owner_url: str) -> None:
        super().__init__(daemon=True)
        self.owner_url = owner_url
        self.stopped = threading.Event()

    def run(self) -> None:
        conn = pg_connect(self.owner_url)
        conn.autocommit = True
        with conn.cursor() as cursor:
            while not self.stopped.wait(15):
                # The schema's own tables only: other sessions' staging tables are temporary.
                cursor.execute(
                    "SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'public' "
                    "AND n_mod_since_analyze > 50 + 0.1 * greatest(n_live_tup, 0)"
                )
                for (table,) in cursor.fetchall():
                    cursor.execute(f'ANALYZE "{table}"')
        conn.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join()


# --- The API side ------------------------------------------------------------------------


class ApiClient:
    """One keep-alive connection per thread."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.local = threading.local()

    def post(self, kind: str, records: list[dict]) -> dict:
        body = json.dumps({"records": records}, ensure_ascii=False).encode()
        for attempt in range(3):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port)
            try:
                conn.request(
                    "POST",
                    f"/api/v1/sync/{kind}/",
                    body,
                    {"Authorization": f"Token {self.key}", "Content-Type": "application/json"},
                )
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
                continue
            if response.status != 200:
                raise RuntimeError(f"{kind}: HTTP {response.status}: {data[:500]!r}")
            result = json.loads(data)
            if result["errors"]:
                raise RuntimeError(f"{kind}: record errors, e.g. {result['errors'][:2]}")
            return result
        raise AssertionError("unreachable")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request(
                    "GET", "/api/v1/branches/", headers={"Authorization": f"Token {self.key}"}
                )
                if conn.getresponse().status == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError("gunicorn did not come up (see its log)")


def run_parallel(jobs: list[Callable[[], dict]], threads: int) -> dict:
    totals = {"created": 0, "updated": 0, "unchanged": 0}
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for result in pool.map(lambda job: job(), jobs):
            for name in totals:
                totals[name] += result.get(name, 0)
    return totals


def api_load(api: ApiClient, clients: int, threads: int) -> list[tuple[str, int, float, dict]]:
    """Clients first (holdings refer to them), then holdings; (kind, n, seconds, totals)."""
    timings = []
    for kind, total, make in (
        ("clients", clients, client_record),
        ("holdings", clients * HOLDINGS_PER_CLIENT, holding_record),
    ):
        jobs = [
            (lambda part=part, kind=kind, make=make: api.post(kind, [make(i) for i in part]))
            for part in batches(total)
        ]
        started = time.monotonic()
        totals = run_parallel(jobs, threads)
        timings.append((kind, total, time.monotonic() - started, totals))
    return timings


def reference_data_sync(api: ApiClient) -> None:
    api.post("branches", [{"code": "HQ", "name": "总行"}])
    api.post("branches", [{"code": c, "name": f"{c}分行", "parent_code": "HQ"} for c in BRANCHES])
    api.post(
        "staff",
        [
            {
                "code": c,
                "name": f"经理{c}",
                "branch_code": BRANCHES[i % len(BRANCHES)],
                "role": "rm",
            }
            for i, c in enumerate(RMS)
        ],
    )
    api.post(
        "products",
        [
            {
                "code": c,
                "name": f"产品{c}",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "risk_level": f"R{1 + i % 5}",
            }
            for i, c in enumerate(PRODUCTS)
        ],
    )
    yesterday = datetime.date.today() - datetime.timedelta(days=1)
    api.post("fx-rates", [{"currency": "USD", "date": yesterday.isoformat(), "rate_to_cny": "7.1"}])


# --- The raw PostgreSQL baseline --------------------------------------------------------

CLIENT_COLUMNS = [
    ("external_id", "text"),
    ("name", "text"),
    ("branch_code", "text"),
    ("rm_code", "text"),
    ("gender", "text"),
    ("birth_date", "date"),
    ("id_number", "text"),
    ("mobile", "text"),
    ("email", "text"),
    ("occupation", "text"),
    ("is_entrepreneur", "boolean"),
    ("risk_level", "text"),
    ("risk_assessed_on", "date"),
]
HOLDING_COLUMNS = [
    ("external_id", "text"),
    ("client_external_id", "text"),
    ("product_code", "text"),
    ("balance", "numeric"),
    ("currency", "text"),
    ("opened_on", "date"),
    ("matures_on", "date"),
    ("status", "text"),
]
CLIENT_UPDATED = [
    "name", "gender", "birth_date", "id_number", "mobile", "email", "occupation",
    "is_entrepreneur", "branch_id", "owner_rm_id", "risk_level", "risk_assessed_on",
]  # fmt: skip
HOLDING_UPDATED = [
    "client_id", "product_id", "balance", "currency", "opened_on", "matures_on", "status",
]  # fmt: skip


def _set_and_where(table: str, columns: list[str]) -> str:
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in [*columns, "updated_at"])
    mine = ", ".join(f"{table}.{c}" for c in columns)
    theirs = ", ".join(f"EXCLUDED.{c}" for c in columns)
    return f"DO UPDATE SET {sets} WHERE ({mine}) IS DISTINCT FROM ({theirs})"


CLIENT_UPSERT = f"""
INSERT INTO bench_client (tenant_id, created_at, updated_at, external_id, name, gender,
    birth_date, id_number, mobile, email, occupation, is_entrepreneur, branch_id,
    owner_rm_id, risk_level, risk_assessed_on, is_confidential, preferred_channel,
    preferred_contact_time, aum_cny)
SELECT %(tenant)s, now(), now(), s.external_id, s.name, s.gender, s.birth_date, s.id_number,
    s.mobile, s.email, s.occupation, s.is_entrepreneur, b.id, r.id, s.risk_level,
    s.risk_assessed_on, false, '', '', 0
FROM stage_client s
JOIN vipcrm_branch b ON b.tenant_id = %(tenant)s AND b.code = s.branch_code
LEFT JOIN vipcrm_staffprofile r ON r.tenant_id = %(tenant)s AND r.code = s.rm_code
ON CONFLICT (tenant_id, external_id) {_set_and_where("bench_client", CLIENT_UPDATED)}
"""
HOLDING_UPSERT = f"""
INSERT INTO bench_holding (tenant_id, created_at, updated_at, external_id, client_id,
    product_id, balance, currency, opened_on, matures_on, status)
SELECT %(tenant)s, now(), now(), s.external_id, c.id, p.id, s.balance, s.currency,
    s.opened_on, s.matures_on, s.status
FROM stage_holding s
JOIN bench_client c ON c.tenant_id = %(tenant)s AND c.external_id = s.client_external_id
JOIN customers_product p ON p.tenant_id = %(tenant)s AND p.code = s.product_code
ON CONFLICT (tenant_id, external_id) {_set_and_where("bench_holding", HOLDING_UPDATED)}
"""


def baseline_tables(owner_url: str) -> None:
    conn = pg_connect(owner_url)
    with conn, conn.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_holding, bench_client")
        # Same columns, defaults, constraints and indexes as the real tables (not their
        # foreign keys, nor Row-Level Security: the baseline is the cheapest honest upsert).
        cursor.execute("CREATE TABLE bench_client (LIKE customers_client INCLUDING ALL)")
        cursor.execute("CREATE TABLE bench_holding (LIKE customers_holding INCLUDING ALL)")
        # A NOT NULL column that the upserts below do not list (a field added to a model
        # since) gets a neutral default (false, '', 0), as Django keeps its own in Python.
        for table in ("bench_client", "bench_holding"):
            for column, value in neutral_columns(cursor, table, covered=set()).items():
                cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {value}")
    conn.close()


def _copy_text(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class Baseline:
    """One owner connection per thread, bound to the bench tenant (RLS is forced)."""

    def __init__(self, owner_url: str, tenant_id: int) -> None:
        self.owner_url, self.tenant_id = owner_url, tenant_id
        self.local = threading.local()
        self.connections = []

    def _conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = pg_connect(self.owner_url)
            self.connections.append(conn)
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('app.tenant_id', %s, false)", [str(self.tenant_id)]
                )
                for stage, columns in (
                    ("stage_client", CLIENT_COLUMNS),
                    ("stage_holding", HOLDING_COLUMNS),
                ):
                    spec = ", ".join(f"{name} {kind}" for name, kind in columns)
                    cursor.execute(f"CREATE TEMP TABLE {stage} ({spec}) ON COMMIT DELETE ROWS")
            conn.commit()
        return conn

    def upsert(self, kind: str, records: list[dict]) -> dict:
        stage, columns, sql = {
            "clients": ("stage_client", CLIENT_COLUMNS, CLIENT_UPSERT),
            "holdings": ("stage_holding", HOLDING_COLUMNS, HOLDING_UPSERT),
        }[kind]
        names = [name for name, _ in columns]
        text = "".join(
            "\t".join(_copy_text(record[name]) for name in names) + "\n" for record in records
        )
        conn = self._conn()
        with conn.cursor() as cursor:
            cursor.copy_expert(f"COPY {stage} ({', '.join(names)}) FROM STDIN", io.StringIO(text))
            cursor.execute(sql, {"tenant": self.tenant_id})
            written = cursor.rowcount
        conn.commit()
        return {"written": written}

    def close(self) -> None:
        for conn in self.connections:
            conn.close()


def baseline_load(base: Baseline, clients: int, threads: int) -> list[tuple[str, int, float]]:
    timings = []
    for kind, total, make in (
        ("clients", clients, client_record),
        ("holdings", clients * HOLDINGS_PER_CLIENT, holding_record),
    ):
        jobs = [
            (lambda part=part, kind=kind, make=make: base.upsert(kind, [make(i) for i in part]))
            for part in batches(total)
        ]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            written = sum(result["written"] for result in pool.map(lambda job: job(), jobs))
        timings.append((kind, total, time.monotonic() - started, {"written": written}))
    return timings


# --- Report ------------------------------------------------------------------------------


def report(label: str, timings: list) -> float:
    records = sum(n for _, n, _, _ in timings)
    seconds = sum(s for _, _, s, _ in timings)
    for kind, n, s, totals in timings:
        counts = ", ".join(f"{k} {v:,}" for k, v in totals.items())
        print(f"  {label:<28} {kind:<9} {n:>10,} in {s:8.1f} s = {n / s:>9,.0f} rec/s  ({counts})")
    rate = records / seconds
    print(f"  {label:<28} {'total':<9} {records:>10,} in {seconds:8.1f} s = {rate:>9,.0f} rec/s")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=3, help="concurrent client threads")
    parser.add_argument("--keep-db", action="store_true", help="do not recreate the database")
    args = parser.parse_args()

    app_url, owner_url = database_urls("bench/sync.py")
    env = django_env(app_url, owner_url)

    print(
        f"Sync benchmark: {args.clients:,} clients + {args.clients * 3:,} holdings, batches "
        f"of {BATCH:,}, {args.workers} gunicorn workers, {args.threads} client threads"
    )
    started = time.monotonic()
    database_prepare(owner_url, recreate=not args.keep_db)
    migrate(env)
    tenant_id, key = tenant_and_token_create(env)
    keeper = None
    if not autovacuum_is_on(owner_url):
        print("autovacuum is off on this server: the bench analyses changed tables itself")
        keeper = StatisticsKeeper(owner_url)
        keeper.start()
    port = free_port()
    log = Path(os.environ.get("VIPCRM_VAR_DIR", ROOT / "var")) / "bench-gunicorn.log"
    log.parent.mkdir(parents=True, exist_ok=True)

    with gunicorn(env, workers=args.workers, port=port, log=log):
        api = ApiClient(port, key)
        api.wait_ready()
        reference_data_sync(api)
        print(f"Setup done in {time.monotonic() - started:.1f} s (gunicorn log: {log})")
        api_first = report("API first load", api_load(api, args.clients, args.threads))
        api_again = report("API re-send (unchanged)", api_load(api, args.clients, args.threads))

    baseline_tables(owner_url)
    base = Baseline(owner_url, tenant_id)
    try:
        raw_first = report(
            "SQL baseline first load", baseline_load(base, args.clients, args.threads)
        )
        raw_again = report("SQL baseline re-send", baseline_load(base, args.clients, args.threads))
    finally:
        base.close()
        if keeper is not None:
            keeper.stop()

    print(f"Ratio API / baseline: first load {api_first / raw_first:.2f}, "
          f"re-send {api_again / raw_again:.2f} (target >= 0.5)")  # fmt: skip
    print(f"Total wall time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
