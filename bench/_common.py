"""What the benchmarks share: where things are, PostgreSQL connections, the bench
database, the environment of the Django processes they start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
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
