"""AUM (管理资产): the sum of a client's active holdings at the bank, in CNY.

Kept on ``Client.aum_cny`` set-based, whatever the number of clients: each active
holding counts ``balance × rate``, where the rate is the tenant's latest FX rate on or
before the day for the holding's currency (CNY is 1). A currency without any rate
counts 0 and is logged, so a missing rate feed is noticed rather than silently
inflating or failing the sync.

A refresh is two queries (five for a sync batch on PostgreSQL, which first checks its
transaction's foreign keys and locks its clients, see ``_clients_lock``): one reads the
latest rate of every currency the bank quotes together with the currencies in scope
that have none (for the warning); then one ``UPDATE … FROM`` computes each client's new
AUM once — its holdings converted with the rates inlined as a ``CASE`` — and writes only
the clients whose AUM changed. For a sync batch the statement is driven from its clients
(one JSON parameter), each sum read through the (tenant, client) index; for a whole bank
(the nightly refresh) or the holders of a currency it is one grouped pass over the
holdings joined to the clients, not a subquery per client. Plain SQL that PostgreSQL and
SQLite (3.33+) both run.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
from collections.abc import Iterable
from decimal import Decimal

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from customers.models import Client, FxRate, Holding
from vipcrm.tenancy import current_tenant_id, tenant_context

logger = logging.getLogger(__name__)

BASE_CURRENCY = "CNY"


def client_aum_refresh(
    *,
    client_ids: Iterable[int] | None = None,
    currencies: Iterable[str] | None = None,
    on: datetime.date | None = None,
    busy_after_commit: bool = False,
) -> int:
    """Recompute ``aum_cny`` of the given clients (all when None); returns rows changed.

    ``currencies`` limits the refresh to clients holding one of them (an FX-rate sync).
    Only clients whose AUM actually changes are written, so ``updated_at`` moves only
    for them and incremental readers (``updated_since``) see real changes only.

    ``busy_after_commit`` (a sync batch): the given clients that another transaction is
    writing are not waited for; they are refreshed right after this transaction commits
    (see ``_clients_lock``).
    """
    on = on or timezone.localdate()
    if client_ids is not None:
        client_ids = list(client_ids)
        if not client_ids:
            return 0
    if currencies is not None:
        currencies = list(currencies)
        if not currencies:
            return 0
    scope = _Scope(client_ids=client_ids, currencies=currencies)
    if client_ids is not None:
        locked = _clients_lock(scope, skip_busy=busy_after_commit)
        if busy := sorted(set(client_ids).difference(locked)):
            transaction.on_commit(
                functools.partial(_busy_clients_refresh, current_tenant_id(), busy, on),
                robust=True,
            )
            if not locked:
                return 0
            scope = _Scope(client_ids=locked, currencies=None)
    rates, missing = _rates_and_missing(scope, on=on)
    if missing:
        logger.warning(
            "No FX rate on or before %s for %s: those holdings count 0 in AUM.",
            on,
            ", ".join(missing),
        )
    return _aum_update(scope, rates=rates)


def ids_sql(ids: Iterable[int]) -> tuple[str, list]:
    """SELECT of row ids (column ``id``), sent as ONE JSON parameter."""
    payload = json.dumps(sorted({int(i) for i in ids}), separators=(",", ":"))
    if connection.vendor == "postgresql":
        return "SELECT (json_array_elements_text(%s::json))::bigint AS id", [payload]
    return "SELECT value AS id FROM json_each(%s)", [payload]


class _Scope:
    """Which clients a refresh covers, as SQL on a client id column (with its params)."""

    def __init__(self, *, client_ids: list[int] | None, currencies: list[str] | None) -> None:
        self.client_ids, self.currencies = client_ids, currencies
        self.tenant = current_tenant_id()

    def ids_sql(self) -> tuple[str, list]:
        return ids_sql(self.client_ids)

    def on(self, column: str) -> tuple[str, list]:
        """`` AND <column> IN (…)`` limiting ``column`` to the scope ("" for all)."""
        if self.client_ids is not None:
            sql, params = self.ids_sql()
            return f" AND {column} IN ({sql})", params
        if self.currencies is not None:
            holdings = connection.ops.quote_name(Holding._meta.db_table)
            marks = ", ".join(["%s"] * len(self.currencies))
            return (
                f" AND {column} IN (SELECT client_id FROM {holdings} "  # noqa: S608
                f"WHERE tenant_id = %s AND currency IN ({marks}))",
                [self.tenant, *self.currencies],
            )
        return "", []


def _clients_lock(scope: _Scope, *, skip_busy: bool = False) -> list[int]:
    """Lock the batch's client rows (in id order) before their AUM is computed; returns
    the ids locked (all of them, unless ``skip_busy``).

    Two concurrent sync batches may each add holdings of the same client (its holdings
    straddle two batches). Under READ COMMITTED an UPDATE computes from the snapshot
    its statement started with, so without this lock the batch that commits last could
    write an AUM that misses the other batch's holdings (seen on 36 of a million
    clients in bench/sync.py). Waiting here for the other batch to commit means that
    the UPDATE that follows starts after it, and sees its holdings. ``FOR NO KEY
    UPDATE`` is the lock that UPDATE takes anyway: it does not conflict with the
    key-share locks that inserting holdings takes on their client, and taking them all
    in id order means two batches never deadlock on each other. SQLite has one writer
    at a time; the whole-bank refresh does not lock a million rows first.

    But waiting makes the batches that share a client run their AUM one after the
    other, however many arrive together (on sync's benchmark, every batch shares one
    client with the batch before it, and this stretch bounded the rate of the holdings
    load). With ``skip_busy`` a client locked by another transaction is skipped instead
    (``SKIP LOCKED``: nothing waits, so nothing can deadlock either) and refreshed right
    after this transaction commits, in a transaction of its own that holds no other
    lock: it waits for the other batch there, and computes from a snapshot that holds
    both batches' holdings. The other batch, for its part, computed before this one
    committed. Should that refresh fail, the night's whole-bank refresh corrects it.

    The transaction's deferred foreign-key checks (Django's are checked at commit:
    5,000 holdings point at clients and products) run first, so that they are not done
    while the locks are held — ``check_constraints`` sets them immediate and back.
    """
    if not connection.features.has_select_for_update:
        return list(scope.client_ids)
    connection.check_constraints()
    ids_sql, ids_params = scope.ids_sql()
    locked = (
        Client.objects.filter(pk__in=RawSQL(ids_sql, ids_params))  # noqa: S611
        .order_by("pk")
        .select_for_update(no_key=True, skip_locked=skip_busy)
        .values_list("pk", flat=True)
    )
    return list(locked)


def _busy_clients_refresh(tenant_id: int, client_ids: list[int], on: datetime.date) -> None:
    """After a sync batch commits: the AUM of its clients another batch was writing."""
    with tenant_context(tenant_id):
        client_aum_refresh(client_ids=client_ids, on=on)


def _rates_and_missing(scope: _Scope, *, on: datetime.date) -> tuple[dict[str, Decimal], list]:
    """The latest rate on or before ``on`` of each currency, and the currencies of the
    scope's holdings that have none (closed holdings included: a missing rate for them
    is worth a warning too), in one query."""
    qn = connection.ops.quote_name
    rates, holdings = qn(FxRate._meta.db_table), qn(Holding._meta.db_table)
    tenant = scope.tenant
    unrated = (
        f"h.tenant_id = %s AND h.currency <> %s AND h.currency NOT IN "  # noqa: S608
        f"(SELECT currency FROM {rates} WHERE tenant_id = %s AND date <= %s)"
    )
    unrated_params = [tenant, BASE_CURRENCY, tenant, on]
    if scope.client_ids is not None:
        # Driven from the batch's clients, each one's holdings read through the index
        # (whatever the planner believes about the tables: see _aum_update).
        ids_sql, ids_params = scope.ids_sql()
        listed = "string_agg" if connection.vendor == "postgresql" else "group_concat"
        separator = ", ','" if connection.vendor == "postgresql" else ""
        missing_sql = (
            f"SELECT x.found, CAST(NULL AS NUMERIC) FROM (SELECT DISTINCT ("  # noqa: S608
            f"SELECT {listed}(DISTINCT h.currency{separator}) FROM {holdings} h "
            f"WHERE h.client_id = i.id AND {unrated}) AS found FROM ({ids_sql}) i) x "
            "WHERE x.found IS NOT NULL"
        )
        missing_params = [*unrated_params, *ids_params]
    else:
        in_scope = ""
        missing_params = list(unrated_params)
        if scope.currencies is not None:
            in_scope = f" AND h.currency IN ({', '.join(['%s'] * len(scope.currencies))})"
            missing_params += scope.currencies
        missing_sql = (
            f"SELECT DISTINCT h.currency, CAST(NULL AS NUMERIC) FROM {holdings} h "  # noqa: S608
            f"WHERE {unrated}{in_scope}"
        )
    # Only quoted identifiers from the models' meta are interpolated; values are parameters.
    sql = (
        f"SELECT f.currency, f.rate_to_cny FROM {rates} f "  # noqa: S608
        f"JOIN (SELECT currency, MAX(date) AS latest FROM {rates} "
        "WHERE tenant_id = %s AND date <= %s GROUP BY currency) m "
        f"ON m.currency = f.currency AND m.latest = f.date WHERE f.tenant_id = %s "
        f"UNION ALL {missing_sql}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant, on, tenant, *missing_params])
        found = cursor.fetchall()
    latest = {c: Decimal(str(rate)) for c, rate in found if rate is not None}
    latest.pop(BASE_CURRENCY, None)  # CNY is 1, whatever a feed may say
    missing = {c for listed, rate in found if rate is None for c in listed.split(",")}
    return latest, sorted(missing)


def _numeric(value: Decimal) -> tuple[str, list]:
    if connection.vendor == "postgresql":
        return "%s::numeric", [str(value)]
    return "CAST(%s AS NUMERIC)", [str(value)]


def _aum_update(scope: _Scope, *, rates: dict[str, Decimal]) -> int:
    qn = connection.ops.quote_name
    clients, holdings = qn(Client._meta.db_table), qn(Holding._meta.db_table)
    tenant = scope.tenant

    # Each holding in CNY, its currency's rate inlined: no join, no subquery per holding.
    # "Active" is a CASE inside the sum, not a WHERE: a client whose holdings are all
    # closed still counts 0, and the planner never picks the partial index on active
    # holdings (which looks empty to it until a bank's first ANALYZE).
    rate_sql, rate_params = f"WHEN '{BASE_CURRENCY}' THEN 1 ", []
    for currency, rate in sorted(rates.items()):
        value_sql, value_params = _numeric(rate)
        rate_sql += f"WHEN %s THEN {value_sql} "
        rate_params += [currency, *value_params]
    converted = f"h.balance * (CASE h.currency {rate_sql}ELSE 0 END)"
    total = f"SUM(CASE WHEN h.status = %s THEN {converted} ELSE 0 END)"
    total_params = [Holding.Status.ACTIVE.value, *rate_params]

    if scope.client_ids is not None:
        # A batch: driven from its clients, each one's sum read through the (tenant,
        # client) index. This shape stays right when the planner's statistics are stale
        # or missing — a bank's first bulk load, before any ANALYZE — where a join would
        # be planned as a scan of every client and holding of the bank, per batch.
        # OFFSET 0 keeps PostgreSQL from inlining the subquery into both the SET and
        # the WHERE (which would compute each sum twice).
        ids_sql, ids_params = scope.ids_sql()
        fence = " OFFSET 0" if connection.vendor == "postgresql" else ""
        new = (
            f"SELECT i.id AS id, ROUND(COALESCE((SELECT {total} FROM {holdings} h "  # noqa: S608
            f"WHERE h.tenant_id = %s AND h.client_id = i.id), 0), 2) AS aum "
            f"FROM ({ids_sql}) i{fence}"
        )
        new_params = [*total_params, tenant, *ids_params]
    else:
        # The whole bank, or the holders of some currencies (an FX-rate sync): one
        # grouped pass over the holdings, joined to the clients (those without any
        # holding come from the LEFT JOIN, with 0).
        held_sql, held_params = scope.on("h.client_id")
        client_sql, client_params = scope.on("c.id")
        new = (
            f"SELECT c.id AS id, ROUND(COALESCE(a.total, 0), 2) AS aum FROM {clients} c "  # noqa: S608
            f"LEFT JOIN (SELECT h.client_id AS client_id, {total} AS total FROM {holdings} h "
            f"WHERE h.tenant_id = %s{held_sql} GROUP BY h.client_id) a "
            f"ON a.client_id = c.id WHERE c.tenant_id = %s{client_sql}"
        )
        new_params = [*total_params, tenant, *held_params, tenant, *client_params]

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # Only quoted identifiers from the models' meta are interpolated; values are parameters.
    sql = (
        f"UPDATE {clients} SET aum_cny = n.aum, updated_at = %s FROM ({new}) n "  # noqa: S608
        f"WHERE {clients}.id = n.id AND {clients}.tenant_id = %s AND {clients}.aum_cny <> n.aum"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, *new_params, tenant])
        return cursor.rowcount
