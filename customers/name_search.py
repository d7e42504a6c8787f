""" "Name contains" search that an index can serve under Row-Level Security.

Tenant tables force Row-Level Security, and PostgreSQL then lets an index serve a
condition ahead of the tenant policy only if its operator is leakproof: ``=``, ``<`` and
``>=`` on text are, ``LIKE`` is not. A prefix is a range, so prefix search is fast; but
"contains" read every client of the scope (300 ms for head office's million clients,
the trigram index standing unused).

So each client's name is also kept as its **bigrams** — every two consecutive
characters, ASCII letters folded to lower case, leaving out pairs with a digit or a
space (a search term with a digit is a customer number or a mobile, never a name) — in
``ClientNameGram``. A search of three characters or more finds the clients that have
every bigram of its term through the (tenant, gram, client) index, by equality, and
then checks the name itself on those few. The bigrams are written set-based: at most
two statements for a sync batch, whatever its size; one pass for a whole bank.

``name_grams`` (in Python: a search term's bigrams, and the names a writer has at hand:
the sync, ``Client.save``, the demo) and ``client_name_grams_refresh`` (in SQL, from the
stored names of a whole bank) follow the same rule; a test holds them to it.
"""

from __future__ import annotations

import json
import re
import string

from django.db import connection
from django.utils import timezone

from customers.aum import ids_sql
from customers.models import Client, ClientNameGram
from vipcrm.tenancy import current_tenant_id

ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
LEFT_OUT = re.compile(r"[0-9 ]")


def name_grams(text: str) -> set[str]:
    """The bigrams of ``text`` under the rule of the module docstring."""
    folded = text.translate(ASCII_LOWER)
    pairs = (folded[i : i + 2] for i in range(len(folded) - 1))
    return {pair for pair in pairs if not LEFT_OUT.search(pair)}


def candidates_sql(term: str) -> tuple[str, list] | None:
    """SELECT of the ids (column ``client_id``) of the tenant's clients whose names hold
    every bigram of ``term``; None for a term without any (one character, or digits and
    spaces). The caller still checks the name itself."""
    grams = sorted(name_grams(term))
    if not grams:
        return None
    table = connection.ops.quote_name(ClientNameGram._meta.db_table)
    marks = ", ".join(["%s"] * len(grams))
    # Only the model's quoted table name is interpolated; the bigrams are parameters.
    sql = (
        f"SELECT client_id FROM {table} WHERE tenant_id = %s AND gram IN ({marks}) "  # noqa: S608
        "GROUP BY client_id HAVING COUNT(*) = %s"
    )
    return sql, [current_tenant_id(), *grams, len(grams)]


def client_name_grams_write(names: dict[int, str], *, replace: bool = True) -> None:
    """Write the bigrams of clients whose names are at hand (client id → name): one
    INSERT of the pairs computed here, after one DELETE of the old ones unless
    ``replace`` is False (clients just created have none)."""
    if not names:
        return
    tenant = current_tenant_id()
    grams = connection.ops.quote_name(ClientNameGram._meta.db_table)
    pairs = [[pk, gram] for pk, name in names.items() for gram in sorted(name_grams(name))]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        if replace:
            ids, ids_params = ids_sql(names)
            cursor.execute(
                f"DELETE FROM {grams} WHERE tenant_id = %s AND client_id IN ({ids})",  # noqa: S608
                [tenant, *ids_params],
            )
        if not pairs:
            return
        payload = json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))
        if connection.vendor == "postgresql":
            source = "SELECT (r.v->>0)::bigint, r.v->>1 FROM jsonb_array_elements(%s::jsonb) r(v)"
        else:
            source = (
                "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(%s)"
            )
        # Only the model's quoted table name is interpolated; values are parameters.
        cursor.execute(
            f"INSERT INTO {grams} (tenant_id, created_at, updated_at, client_id, gram) "  # noqa: S608
            f"SELECT %s, %s, %s, p.* FROM ({source}) p",
            [tenant, now, now, payload],
        )


def client_name_grams_refresh() -> None:
    """Rebuild the bigrams of every client of the tenant from the stored names, in SQL
    (a migration's backfill, a bank loaded by SQL): one DELETE, one INSERT."""
    tenant = current_tenant_id()
    qn = connection.ops.quote_name
    grams, clients = qn(ClientNameGram._meta.db_table), qn(Client._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    if connection.vendor == "postgresql":
        pairs = (
            "SELECT DISTINCT c.id AS client_id, substr(translate(c.name, %s, %s), n.i, 2) "  # noqa: S608
            f"AS gram FROM {clients} c CROSS JOIN LATERAL "
            "generate_series(1, char_length(c.name) - 1) AS n(i) WHERE c.tenant_id = %s"
        )
        kept = "p.gram !~ '[0-9 ]'"
        params = [string.ascii_uppercase, string.ascii_lowercase, tenant]
    else:
        # SQLite's lower() folds ASCII letters only: the same rule as translate().
        pairs = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "  # noqa: S608
            f"WHERE i < {Client._meta.get_field('name').max_length}) "
            "SELECT DISTINCT c.id AS client_id, substr(lower(c.name), n.i, 2) AS gram "
            f"FROM {clients} c JOIN n ON n.i < length(c.name) WHERE c.tenant_id = %s"
        )
        kept = "p.gram NOT GLOB '*[0-9 ]*'"
        params = [tenant]
    # Only quoted identifiers from the models' meta are interpolated; values are parameters.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {grams} WHERE tenant_id = %s", [tenant])  # noqa: S608
        cursor.execute(
            f"INSERT INTO {grams} (tenant_id, client_id, gram, created_at, updated_at) "  # noqa: S608
            f"SELECT %s, p.client_id, p.gram, %s, %s FROM ({pairs}) p WHERE {kept}",
            [tenant, now, now, *params],
        )
