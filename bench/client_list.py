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
import re
import statistics
import sys
import time
from dataclasses import dataclass

from _common import (
    ROOT,
    bank_create,
    client_count,
    clients_insert,
    collectstatic,
    database_prepare,
    database_urls,
    django_env,
    django_setup,
    migrate,
    percentile,
    pg_connect,
    production_env,
)

SLUG = "bench-list"
LOGINS = {"list.rm": "RM0000", "list.supervisor": "SV00", "list.head": "HO01"}
TARGET_MS = 100


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
    if len(users) < 3 or client_count(tenant.pk) != clients:
        return None
    return Bank(tenant.pk, users["list.rm"], users["list.supervisor"], users["list.head"], clients)


def analyze(owner_url: str) -> None:
    conn = pg_connect(owner_url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        for table in (
            "customers_client",
            "customers_clientnamegram",
            "customers_clientteammember",
            "vipcrm_staffprofile",
            "vipcrm_branch",
            "customers_tier",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    conn.close()


def bank_seed(owner_url: str, clients: int) -> Bank:
    started = time.monotonic()
    tenant_id, refs = bank_create(SLUG, "列表基准银行", LOGINS)
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
    return {
        "rows": len(ROW.findall(response.content)),
        "queries": len(queries),
        "median": statistics.median(times),
        "p95": percentile(times, 0.95),
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
