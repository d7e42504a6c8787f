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

``name_grams`` (in Python: a search term's bigrams, and the names the sync has at hand)
and ``client_name_grams_refresh`` (in SQL, from the stored names) follow the same rule;
a test holds them to it.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from customers.models import Client, ClientNameGram
from vipcrm.tenancy import current_tenant_id

ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
LEFT_OUT = re.compile(r"[0-9 ]")


def name_grams(text: str) -> set[str]:
    """The bigrams of ``text`` under the rule of the module docstring."""
    folded = text.translate(ASCII_LOWER)
    pairs = (folded[i : i + 2] for i in range(len(folded) - 1))
    return {pair for pair in pairs if not LEFT_OUT.search(pair)}


def name_contains(term: str, *, column: str = "pk") -> Q:
    """Clients whose name contains ``term`` (ASCII letters in any case), found through
    the bigrams; a term without any bigram (one character, or digits and spaces) falls
    back to reading the names."""
    grams = sorted(name_grams(term))
    matches = Q(name__icontains=term)
    if not grams:
        return matches
    table = connection.ops.quote_name(ClientNameGram._meta.db_table)
    marks = ", ".join(["%s"] * len(grams))
    # Only the model's quoted table name is interpolated; the bigrams are parameters.
    having_all = (
        f"SELECT client_id FROM {table} WHERE tenant_id = %s AND gram IN ({marks}) "  # noqa: S608
        "GROUP BY client_id HAVING COUNT(*) = %s"
    )
    params = [current_tenant_id(), *grams, len(grams)]
    if connection.vendor == "postgresql":
        # ``= ANY(ARRAY(…))``: the candidates computed once, each client then fetched
        # through the primary key (see customers.selectors._equals_any).
        from customers.selectors import _equals_any

        found = Q(_equals_any(column, RawSQL(f"ARRAY({having_all})", params)))  # noqa: S611
    else:
        found = Q(**{f"{column}__in": RawSQL(having_all, params)})  # noqa: S611
    return found & matches


def _ids_sql(client_ids: list[int]) -> tuple[str, list]:
    payload = json.dumps(sorted({int(i) for i in client_ids}), separators=(",", ":"))
    if connection.vendor == "postgresql":
        return "SELECT (json_array_elements_text(%s::json))::bigint", [payload]
    return "SELECT value FROM json_each(%s)", [payload]


def client_name_grams_write(names: dict[int, str], *, replace: bool = True) -> None:
    """Write the bigrams of clients whose names are at hand (client id → name), as the
    sync has them: one INSERT of the pairs computed here (and one DELETE of the old ones
    unless ``replace`` is False), without reading the clients again."""
    if not names:
        return
    tenant = current_tenant_id()
    grams = connection.ops.quote_name(ClientNameGram._meta.db_table)
    pairs = [[pk, gram] for pk, name in names.items() for gram in sorted(name_grams(name))]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        if replace:
            ids_sql, ids_params = _ids_sql(list(names))
            cursor.execute(
                f"DELETE FROM {grams} WHERE tenant_id = %s AND client_id IN ({ids_sql})",  # noqa: S608
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


def client_name_grams_refresh(
    client_ids: Iterable[int] | None = None, *, replace: bool = True
) -> None:
    """Rewrite the bigrams of these clients' names (every client of the tenant when
    None) in two statements. ``replace=False`` only adds: for clients just created,
    which have none to remove."""
    tenant = current_tenant_id()
    qn = connection.ops.quote_name
    grams, clients = qn(ClientNameGram._meta.db_table), qn(Client._meta.db_table)
    scope, scope_params = "", []
    if client_ids is not None:
        client_ids = list(client_ids)
        if not client_ids:
            return
        ids_sql, scope_params = _ids_sql(client_ids)
        scope = f" AND {{column}} IN ({ids_sql})"
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    if connection.vendor == "postgresql":
        folded = "translate(c.name, %s, %s)"
        pairs = (
            f"SELECT DISTINCT c.id AS client_id, substr({folded}, n.i, 2) AS gram "  # noqa: S608
            f"FROM {clients} c CROSS JOIN LATERAL "
            "generate_series(1, char_length(c.name) - 1) AS n(i) "
            "WHERE c.tenant_id = %s{scope}"
        )
        kept = "p.gram !~ '[0-9 ]'"
        fold_params = [string.ascii_uppercase, string.ascii_lowercase]
    else:
        # SQLite's lower() folds ASCII letters only: the same rule as translate().
        pairs = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "  # noqa: S608
            f"WHERE i < {Client._meta.get_field('name').max_length}) "
            "SELECT DISTINCT c.id AS client_id, substr(lower(c.name), n.i, 2) AS gram "
            f"FROM {clients} c JOIN n ON n.i < length(c.name) WHERE c.tenant_id = %s{{scope}}"
        )
        kept = "p.gram NOT GLOB '*[0-9 ]*'"
        fold_params = []
    pairs = pairs.replace("{scope}", scope.format(column="c.id"))
    # Only quoted identifiers from the models' meta are interpolated; values are parameters.
    insert = (
        f"INSERT INTO {grams} (tenant_id, client_id, gram, created_at, updated_at) "  # noqa: S608
        f"SELECT %s, p.client_id, p.gram, %s, %s FROM ({pairs}) p WHERE {kept}"
    )
    with connection.cursor() as cursor:
        if replace:
            cursor.execute(
                f"DELETE FROM {grams} WHERE tenant_id = %s"  # noqa: S608
                + scope.format(column="client_id"),
                [tenant, *scope_params],
            )
        cursor.execute(insert, [tenant, now, now, *fold_params, tenant, *scope_params])
