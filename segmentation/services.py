"""Segmentation writes: AUM snapshots, re-tiering, overrides and the lifecycle dimension.

Everything here runs inside the current tenant (``vipcrm.tenancy.tenant_context``): the
nightly pipeline binds it per bank, and every statement is limited to
``current_tenant_id()`` *and*, on PostgreSQL, by Row-Level Security. The nightly work is
set-based SQL — a fixed number of statements per run, whatever the number of clients,
never a Python loop over clients — written once for SQLite and PostgreSQL.

Nightly order (registered in ``segmentation.apps``; later apps run after, e.g. contact
plans at order 30):

1. ``segmentation.snapshot`` (order 10) → ``aum_snapshot_take``;
2. ``segmentation.retier`` (order 20) → ``clients_retier`` then ``client_segments_refresh``.

Each job runs in its own savepoint and is recorded per bank and business date
(``vipcrm.nightly``), so a run that dies after the snapshot resumes at the re-tiering
and ends exactly as an uninterrupted run; every service is also idempotent on its own
(a second call for the same date writes nothing).

AUM snapshots
-------------
``aum_snapshot_take(on=D)`` first brings every client's ``Client.aum_cny`` up to date
(active holdings × the latest FX rate on or before D, ``customers.aum``), then stores
one ``AumSnapshot`` per client for D with one ``INSERT … SELECT … ON CONFLICT (tenant,
client, date) DO UPDATE``: re-running a day replaces that day's amounts, never adds
rows (inserted in client order, so the ``(tenant, client, date)`` index takes the day
leaf by leaf). ``ClientSegment.last_aum_change_on`` becomes D for every client whose
snapshot differs from its snapshot of the bank's previous snapshot day (a client with
no earlier snapshot has no known movement yet; a re-run never moves the date back).

Re-tiering (``clients_retier(on=D)``)
-------------------------------------
*Tiering basis.* The average of the client's snapshots dated in (D − window, D], window
= ``TieringPolicy.window_days`` (default 90), rounded to the cent. It is the average
over the snapshot days that exist: a client newer than the window is averaged over its
own days, and a day without a snapshot (a missed nightly run) is left out rather than
counted as zero. A client without any snapshot in the window has a basis of 0.

*Rule tier.* The highest-ranked tier whose ``aum_floor`` is ≤ the basis. Floors are
inclusive: a basis exactly at the floor reaches the tier, one cent below does not.
Below the lowest floor the client has no tier (not a VIP).

*Upgrades* (rule rank above the current rank, or no current tier) take effect at once,
reason ``upgrade``.

*Downgrades* wait for the grace period (``TieringPolicy.downgrade_grace`` = M, default
3). The first run in a calendar month is that client's *monthly evaluation*
(``ClientSegment.last_monthly_evaluation`` keeps the first day of the month last
evaluated, so re-runs within a month never count twice). At a monthly evaluation a
client whose rule rank is below their current tier's rank gets
``months_below_floor`` + 1; any other client is reset to 0 (recovery resets the count).
When the count reaches M the client moves to the rule tier — possibly several tiers
down, or out of the tiers — with reason ``downgrade``, and the count restarts at 0.
After M − 1 low evaluations nothing moves. Raising M later takes effect at the next
run; lowering it may downgrade at the next (even mid-month) run a client already
counted that far.

*Overrides.* A standing ``TierOverride`` (not revoked) whose ``expires_on`` ≥ D pins the
client's tier: if the current tier differs, the run moves it to the pinned tier (reason
``override``); the hysteresis count stays at 0 while pinned. An override whose
``expires_on`` < D has ended: the run marks it revoked (``revoked_at`` set,
``revoked_by`` empty = "expired") and the client falls back to the rule tier *at once*,
up or down, without any grace (reason ``override_ended`` when the tier changes).
``tier_override_set`` applies the pinned tier immediately; ``tier_override_revoke``
also falls back immediately (see their docstrings).

*Records.* Every change writes a ``TierChange`` (from, to, reason, the basis,
``effective_on`` = D, the override involved) and sets ``Client.tier`` with a new
``updated_at`` (so API readers polling ``updated_since`` see it). Each client's
``ClientSegment`` holds the basis, the rule tier, the count and ``evaluated_on``.
Finally each owner RM with changes in the run gets one ``Notification`` of kind
``tier_changes`` with params ``{"date", "upgrades", "downgrades", "other"}`` (other =
override set or ended) and a link to the day's tier changes. A second run for the same
date finds nothing to change and writes nothing.

The statements of a run, in order: create the missing segment rows; decide every
client once into a temporary table (``CREATE TEMPORARY TABLE … AS SELECT``: the window
aggregate over the snapshots joined to segments, clients and standing overrides — a
plain SELECT, which PostgreSQL may run with parallel workers, as it may not an
UPDATE); write the segments from it (only rows that differ); insert the changes; set
the changed clients' tiers; drop the table; end expired overrides; notify the RMs
(``INSERT … SELECT … GROUP BY owner_rm`` over the changes, found again by their
``effective_on`` and ``created_at``, the run's single timestamp). Since the basis moves
every day, the segment rewrite touches every client; it is the run's second cost after
the aggregate (``bench/retier.py``).

Lifecycle and product preference (``client_segments_refresh(on=D)``)
--------------------------------------------------------------------
First match wins (precedence dormant > new > declining > growing > stable):

- **dormant** — no contact and no transaction in the 180 days up to D: the latest of
  ``last_contact_on`` (kept by contact plans), ``last_aum_change_on`` and the latest
  holding's ``opened_on`` (for a client without holdings, the date it was created) is
  on or before D − 180;
- **new** — the relationship started less than 6 months before D (the earliest
  holding's ``opened_on``, else the date the client was created);
- **declining** — AUM down by more than 20 % over 90 days: the latest snapshot on or
  before D is below 80 % of the snapshot 90 days earlier (or, when that day is
  missing, the earliest snapshot within those 90 days);
- **growing** — up by more than 20 % (latest above 120 % of that earlier snapshot, or
  above 0 when it was 0) — the same threshold as declining, mirrored;
- **stable** — everything else, including clients without snapshots to compare.

Product preference: the product category with the largest CNY value (latest FX rate on
or before D) among the client's active holdings; blank without any.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.db.models import Avg
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.aum import client_aum_refresh
from customers.models import Client, FxRate, Holding, Product, Tier
from segmentation.models import (
    AumSnapshot,
    ClientSegment,
    TierChange,
    TierOverride,
)
from segmentation.selectors import tiering_policy
from vipcrm.audit import audit_record
from vipcrm.models import Notification, Tenant
from vipcrm.roles import Actor, Role, branch_subtree_ids
from vipcrm.tenancy import current_tenant_id

NOTIFICATION_KIND = "tier_changes"
TIER_CHANGES_LINK = "/segmentation/tier-changes/?effective_on={date}"
TREND_DAYS = 90
TREND_THRESHOLD = Decimal("0.20")  # "more than 20 %" up (growing) or down (declining)
DORMANT_DAYS = 180
NEW_MONTHS = 6
OVERRIDE_MAX_DAYS = 366  # an override may run for at most a year
_EPOCH = datetime.date(1, 1, 1)
OVERRIDE_REFUSED = _("Only a supervisor of the client's branch or head office may pin a tier.")


# --- SQL plumbing ----------------------------------------------------------------------


def _tables() -> dict[str, str]:
    """Quoted table names for the statements below (from the models, never user input)."""
    qn = connection.ops.quote_name
    models_by_key: dict[str, type[models.Model]] = {
        "client": Client,
        "fx": FxRate,
        "holding": Holding,
        "product": Product,
        "snapshot": AumSnapshot,
        "segment": ClientSegment,
        "override": TierOverride,
        "change": TierChange,
        "notification": Notification,
    }
    return {key: qn(model._meta.db_table) for key, model in models_by_key.items()}


def _dialect() -> dict[str, str]:
    """The few spellings that differ between PostgreSQL and SQLite."""
    if connection.vendor == "postgresql":
        return {
            "distinct": "IS DISTINCT FROM",
            "greatest": "GREATEST",
            "created_date": "CAST(c.created_at AS DATE)",
            "json_object": "jsonb_build_object",
        }
    return {
        "distinct": "IS NOT",
        "greatest": "MAX",
        "created_date": "DATE(c.created_at)",
        "json_object": "json_object",
    }


def _execute(sql: str, params: dict[str, Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _fetchall(sql: str, params: dict[str, Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _now() -> Any:
    """The run's single timestamp, as the database driver wants it."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


@dataclass(frozen=True)
class _TierSql:
    """The tenant's tiers turned into SQL: ``rank(column)`` and ``rule_tier(amount)``.

    Tiers are a handful of configuration rows, read once per run; inlining them as a
    CASE saves joining them to every one of a million clients.
    """

    tiers: tuple[tuple[int, int, Decimal], ...]  # (pk, rank, floor), best rank first

    @classmethod
    def load(cls) -> _TierSql:
        return cls(tuple(Tier.objects.order_by("-rank").values_list("pk", "rank", "aum_floor")))

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for i, (pk, rank, floor) in enumerate(self.tiers):
            params.update({f"tier_{i}": pk, f"rank_{i}": rank, f"floor_{i}": floor})
        return params

    def rank(self, column: str) -> str:
        """The rank of the tier in ``column`` (0 for no tier)."""
        if not self.tiers:
            return "0"
        whens = " ".join(f"WHEN %(tier_{i})s THEN %(rank_{i})s" for i in range(len(self.tiers)))
        return f"(CASE {column} {whens} ELSE 0 END)"

    def rule_tier(self, amount: str) -> str:
        """The highest-ranked tier whose floor ``amount`` reaches (NULL below them all)."""
        if not self.tiers:
            return "CAST(NULL AS BIGINT)"
        # CAST: SQLite receives decimals as text, which would compare as text.
        whens = " ".join(
            f"WHEN {amount} >= CAST(%(floor_{i})s AS NUMERIC) THEN %(tier_{i})s"
            for i in range(len(self.tiers))
        )
        return f"(CASE {whens} ELSE NULL END)"

    def rule_rank(self, amount: str) -> str:
        if not self.tiers:
            return "0"
        whens = " ".join(
            f"WHEN {amount} >= CAST(%(floor_{i})s AS NUMERIC) THEN %(rank_{i})s"
            for i in range(len(self.tiers))
        )
        return f"(CASE {whens} ELSE 0 END)"


def _segments_ensure(now: Any) -> int:
    """Create the missing ``ClientSegment`` rows (one per client); returns how many."""
    t = _tables()
    sql = f"""
        INSERT INTO {t["segment"]} (tenant_id, client_id, average_aum_cny, months_below_floor,
            lifecycle, product_preference, created_at, updated_at)
        SELECT c.tenant_id, c.id, 0, 0, '', '', %(now)s, %(now)s
        FROM {t["client"]} c
        WHERE c.tenant_id = %(tenant)s AND NOT EXISTS (
            SELECT 1 FROM {t["segment"]} s
            WHERE s.tenant_id = %(tenant)s AND s.client_id = c.id)
        ON CONFLICT (tenant_id, client_id) DO NOTHING
    """  # noqa: S608  (table names from the models; values are parameters)
    return _execute(sql, {"tenant": current_tenant_id(), "now": now})


# --- AUM snapshots ---------------------------------------------------------------------


def aum_snapshot_take(*, on: datetime.date) -> int:
    """Refresh every client's AUM at ``on``'s FX rates and store the day's snapshot.

    One ``AumSnapshot`` per client for ``on`` (in CNY); re-running a day replaces its
    amounts instead of adding rows. Also moves ``ClientSegment.last_aum_change_on`` to
    ``on`` for the clients whose AUM differs from the previous snapshot day. Returns the
    number of snapshots inserted or changed. A fixed number of statements.
    """
    client_aum_refresh(on=on)
    t, d = _tables(), _dialect()
    tenant, now = current_tenant_id(), _now()
    # In client order: the (tenant, client, date) index gets the day's entries leaf by
    # leaf instead of all over it (a third of the WAL, half the time, at a million).
    written = _execute(
        f"""
        INSERT INTO {t["snapshot"]} (tenant_id, client_id, "date", aum_cny, created_at, updated_at)
        SELECT c.tenant_id, c.id, %(on)s, c.aum_cny, %(now)s, %(now)s
        FROM {t["client"]} c
        WHERE c.tenant_id = %(tenant)s
        ORDER BY c.id
        ON CONFLICT (tenant_id, client_id, "date") DO UPDATE
        SET aum_cny = EXCLUDED.aum_cny, updated_at = EXCLUDED.updated_at
        WHERE {t["snapshot"]}.aum_cny {d["distinct"]} EXCLUDED.aum_cny
        """,  # noqa: S608  (table names from the models; values are parameters)
        {"tenant": tenant, "on": on, "now": now},
    )
    previous = (
        AumSnapshot.objects.filter(date__lt=on).order_by("-date").values_list("date", flat=True)
    ).first()
    if previous is not None:
        # Driven by the clients (whose AUM is now the day's snapshot): the planner's
        # statistics never know a day just written, and a plan built on "one row" for
        # that day would compare every snapshot with every other. Only the clients that
        # moved are written (their segment created if they have none yet).
        _execute(
            f"""
            INSERT INTO {t["segment"]} (tenant_id, client_id, average_aum_cny,
                months_below_floor, lifecycle, product_preference, last_aum_change_on,
                created_at, updated_at)
            SELECT c.tenant_id, c.id, 0, 0, '', '', %(on)s, %(now)s, %(now)s
            FROM {t["client"]} c
            JOIN {t["snapshot"]} prev ON prev.tenant_id = %(tenant)s
                AND prev.client_id = c.id AND prev."date" = %(previous)s
            WHERE c.tenant_id = %(tenant)s AND c.aum_cny <> prev.aum_cny
            ON CONFLICT (tenant_id, client_id) DO UPDATE
            SET last_aum_change_on = EXCLUDED.last_aum_change_on, updated_at = EXCLUDED.updated_at
            WHERE {t["segment"]}.last_aum_change_on IS NULL
               OR {t["segment"]}.last_aum_change_on < EXCLUDED.last_aum_change_on
            """,  # noqa: S608  (as above)
            {"tenant": tenant, "on": on, "now": now, "previous": previous},
        )
    return written


# --- Re-tiering ------------------------------------------------------------------------


RUN_TABLE = "segmentation_retier_run"  # the run's decisions (a temporary table)


def clients_retier(*, on: datetime.date) -> dict[str, int]:
    """Re-tier every client of the current tenant for business date ``on``.

    Implements the rules in this module's docstring in a fixed number of statements.
    Returns counts: ``changes`` and their split ``upgrades``, ``downgrades``,
    ``overrides``, ``overrides_ended``; ``overrides_expired`` (overrides ended by this
    run); ``notifications``. Idempotent: a second run for ``on`` writes nothing.
    """
    policy, tiers = tiering_policy(), _TierSql.load()
    t, d = _tables(), _dialect()
    run = connection.ops.quote_name(RUN_TABLE)
    now = _now()
    params: dict[str, Any] = {
        **tiers.params(),
        "tenant": current_tenant_id(),
        "on": on,
        "start": on - datetime.timedelta(days=policy.window_days),
        "month": on.replace(day=1),
        "grace": policy.downgrade_grace,
        "now": now,
    }
    _segments_ensure(now)

    # 1. Every client's decision, computed once into a temporary table: the basis
    # (a SELECT, which PostgreSQL may run in parallel, unlike an UPDATE), the rule tier,
    # the hysteresis count and the new tier. Later statements only read it.
    _execute(f"DROP TABLE IF EXISTS {run}", {})
    _execute(
        f"""
        CREATE TEMPORARY TABLE {run} AS
        SELECT n.*,
            CASE WHEN n.new_tier {d["distinct"]} n.current_tier THEN 0 ELSE n.months END
                AS final_months
        FROM (
            SELECT m.*,
                CASE
                    WHEN m.override_id IS NOT NULL AND m.expires_on >= %(on)s
                        THEN m.pinned_tier
                    WHEN m.override_id IS NOT NULL THEN m.rule_tier
                    WHEN m.rule_rank > m.current_rank THEN m.rule_tier
                    WHEN m.rule_rank < m.current_rank AND m.months >= %(grace)s
                        THEN m.rule_tier
                    ELSE m.current_tier
                END AS new_tier,
                CASE
                    WHEN m.override_id IS NOT NULL AND m.expires_on >= %(on)s THEN 'override'
                    WHEN m.override_id IS NOT NULL THEN 'override_ended'
                    WHEN m.rule_rank > m.current_rank THEN 'upgrade'
                    ELSE 'downgrade'
                END AS reason
            FROM (
                SELECT r.*,
                    CASE
                        WHEN r.override_id IS NOT NULL OR r.rule_rank > r.current_rank THEN 0
                        WHEN r.monthly AND r.rule_rank < r.current_rank THEN r.old_months + 1
                        WHEN r.monthly THEN 0
                        ELSE r.old_months
                    END AS months,
                    CASE WHEN r.monthly THEN %(month)s ELSE r.old_monthly END AS last_monthly
                FROM (
                    SELECT b.*, {tiers.rule_tier("b.average")} AS rule_tier,
                        {tiers.rule_rank("b.average")} AS rule_rank
                    FROM (
                        SELECT s.id AS segment_id, s.client_id, c.tier_id AS current_tier,
                            {tiers.rank("c.tier_id")} AS current_rank,
                            COALESCE(a.average, 0) AS average,
                            s.months_below_floor AS old_months,
                            s.last_monthly_evaluation AS old_monthly,
                            (s.last_monthly_evaluation IS NULL
                                OR s.last_monthly_evaluation < %(month)s) AS monthly,
                            o.id AS override_id, o.tier_id AS pinned_tier, o.expires_on
                        FROM {t["segment"]} s
                        JOIN {t["client"]} c ON c.id = s.client_id AND c.tenant_id = %(tenant)s
                        LEFT JOIN (
                            SELECT client_id, ROUND(AVG(aum_cny), 2) AS average
                            FROM {t["snapshot"]}
                            WHERE tenant_id = %(tenant)s
                              AND "date" > %(start)s AND "date" <= %(on)s
                            GROUP BY client_id
                        ) a ON a.client_id = s.client_id
                        LEFT JOIN {t["override"]} o ON o.tenant_id = %(tenant)s
                            AND o.client_id = s.client_id AND o.revoked_at IS NULL
                        WHERE s.tenant_id = %(tenant)s
                    ) b
                ) r
            ) m
        ) n
        """,  # noqa: S608  (table names from the models, tiers as parameters)
        params,
    )
    changed = f"{run}.new_tier {d['distinct']} {run}.current_tier"

    # 2. The segments: basis, rule tier, count (0 after a change), evaluation dates.
    _execute(
        f"""
        UPDATE {t["segment"]} SET
            average_aum_cny = {run}.average,
            rule_tier_id = {run}.rule_tier,
            months_below_floor = {run}.final_months,
            last_monthly_evaluation = {run}.last_monthly,
            evaluated_on = %(on)s,
            updated_at = %(now)s
        FROM {run}
        WHERE {t["segment"]}.id = {run}.segment_id AND (
            {t["segment"]}.average_aum_cny {d["distinct"]} {run}.average
            OR {t["segment"]}.rule_tier_id {d["distinct"]} {run}.rule_tier
            OR {t["segment"]}.months_below_floor {d["distinct"]} {run}.final_months
            OR {t["segment"]}.last_monthly_evaluation {d["distinct"]} {run}.last_monthly
            OR {t["segment"]}.evaluated_on {d["distinct"]} %(on)s)
        """,  # noqa: S608  (as above)
        params,
    )
    # 3. The changes, from, to and why.
    changes = _execute(
        f"""
        INSERT INTO {t["change"]} (tenant_id, client_id, from_tier_id, to_tier_id, reason,
            average_aum_cny, effective_on, override_id, created_at, updated_at)
        SELECT %(tenant)s, client_id, current_tier, new_tier, reason, average, %(on)s,
            override_id, %(now)s, %(now)s
        FROM {run} WHERE {changed}
        """,  # noqa: S608  (as above)
        params,
    )
    # 4. The clients' tiers (with updated_at, for incremental API readers).
    if changes:
        _execute(
            f"""
            UPDATE {t["client"]} SET tier_id = {run}.new_tier, updated_at = %(now)s
            FROM {run}
            WHERE {t["client"]}.id = {run}.client_id AND {t["client"]}.tenant_id = %(tenant)s
              AND {changed}
            """,  # noqa: S608  (as above)
            params,
        )
    _execute(f"DROP TABLE {run}", {})
    # 5. Overrides past their expiry end (the fallback above already happened).
    expired = _execute(
        f"""
        UPDATE {t["override"]} SET revoked_at = %(now)s, updated_at = %(now)s
        WHERE tenant_id = %(tenant)s AND revoked_at IS NULL AND expires_on < %(on)s
        """,  # noqa: S608  (as above)
        params,
    )
    summary = {
        "changes": changes,
        "upgrades": 0,
        "downgrades": 0,
        "overrides": 0,
        "overrides_ended": 0,
        "overrides_expired": expired,
        "notifications": 0,
    }
    if not changes:
        return summary
    # 6. One notification per owner RM with changes in this run (found again by the
    # run's effective date and timestamp).
    summary["notifications"] = _execute(
        f"""
        INSERT INTO {t["notification"]} (tenant_id, recipient_id, kind, params, link,
            created_at, updated_at)
        SELECT %(tenant)s, c.owner_rm_id, %(kind)s,
            {d["json_object"]}(
                'date', CAST(%(date)s AS TEXT),
                'upgrades', SUM(CASE WHEN ch.reason = 'upgrade' THEN 1 ELSE 0 END),
                'downgrades', SUM(CASE WHEN ch.reason = 'downgrade' THEN 1 ELSE 0 END),
                'other', SUM(CASE WHEN ch.reason IN ('override', 'override_ended')
                    THEN 1 ELSE 0 END)),
            %(link)s, %(now)s, %(now)s
        FROM {t["change"]} ch
        JOIN {t["client"]} c ON c.id = ch.client_id AND c.tenant_id = %(tenant)s
        WHERE ch.tenant_id = %(tenant)s AND ch.effective_on = %(on)s
          AND ch.created_at = %(now)s AND c.owner_rm_id IS NOT NULL
        GROUP BY c.owner_rm_id
        """,  # noqa: S608  (as above)
        {
            **params,
            "kind": NOTIFICATION_KIND,
            "date": on.isoformat(),
            "link": TIER_CHANGES_LINK.format(date=on.isoformat()),
        },
    )
    by_reason = dict(
        _fetchall(
            f"SELECT reason, COUNT(*) FROM {t['change']} WHERE tenant_id = %(tenant)s "  # noqa: S608
            "AND effective_on = %(on)s AND created_at = %(now)s GROUP BY reason",
            params,
        )
    )
    summary.update(
        upgrades=by_reason.get(TierChange.Reason.UPGRADE, 0),
        downgrades=by_reason.get(TierChange.Reason.DOWNGRADE, 0),
        overrides=by_reason.get(TierChange.Reason.OVERRIDE, 0),
        overrides_ended=by_reason.get(TierChange.Reason.OVERRIDE_ENDED, 0),
    )
    return summary


# --- Lifecycle and product preference ----------------------------------------------------


def _months_before(day: datetime.date, months: int) -> datetime.date:
    """``day`` minus whole calendar months (the 31st becomes the month's last day)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def client_segments_refresh(*, on: datetime.date) -> int:
    """Set every client's lifecycle and product preference as of ``on`` (see the module
    docstring for the rules); returns the number of segments changed. A fixed number of
    statements; only segments whose values change are written."""
    t, d = _tables(), _dialect()
    now = _now()
    trend_start = on - datetime.timedelta(days=TREND_DAYS)
    days = AumSnapshot.objects.filter(date__gte=trend_start, date__lte=on).order_by("date")
    base_day = days.values_list("date", flat=True).first()
    latest_day = days.values_list("date", flat=True).last()
    _segments_ensure(now)
    params = {
        "tenant": current_tenant_id(),
        "on": on,
        "now": now,
        "epoch": _EPOCH,
        "trend_start": trend_start,
        "base_day": base_day,
        "latest_day": latest_day,
        "dormant_cut": on - datetime.timedelta(days=DORMANT_DAYS),
        "new_cut": _months_before(on, NEW_MONTHS),
        "down": 1 - TREND_THRESHOLD,
        "up": 1 + TREND_THRESHOLD,
        "cny": "CNY",
        "active": Holding.Status.ACTIVE.value,
    }
    # A client with no snapshot on the bank's snapshot days (added since) is compared on
    # its own nearest snapshots instead; COALESCE evaluates those lookups only for them.
    own_snapshot = (
        f"(SELECT z.aum_cny FROM {t['snapshot']} z WHERE z.tenant_id = %(tenant)s "  # noqa: S608
        'AND z.client_id = s.client_id AND z."date" >= %(trend_start)s '
        'AND z."date" <= %(on)s ORDER BY z."date" {order} LIMIT 1)'
    )
    own_latest, own_base = own_snapshot.format(order="DESC"), own_snapshot.format(order="ASC")
    return _execute(
        f"""
        UPDATE {t["segment"]} SET
            lifecycle = x.lifecycle, product_preference = x.preference, updated_at = %(now)s
        FROM (
            WITH rates AS (
                SELECT f.currency, f.rate_to_cny
                FROM {t["fx"]} f
                JOIN (
                    SELECT currency, MAX("date") AS latest FROM {t["fx"]}
                    WHERE tenant_id = %(tenant)s AND "date" <= %(on)s
                    GROUP BY currency
                ) m ON m.currency = f.currency AND m.latest = f."date"
                WHERE f.tenant_id = %(tenant)s
            ),
            categories AS (
                SELECT h.client_id, p.category,
                    SUM(h.balance * CASE WHEN h.currency = %(cny)s THEN 1
                        ELSE COALESCE(r.rate_to_cny, 0) END) AS total
                FROM {t["holding"]} h
                JOIN {t["product"]} p ON p.id = h.product_id
                LEFT JOIN rates r ON r.currency = h.currency
                WHERE h.tenant_id = %(tenant)s AND h.status = %(active)s
                GROUP BY h.client_id, p.category
            ),
            preferred AS (
                SELECT client_id, category FROM (
                    SELECT client_id, category, total, ROW_NUMBER() OVER (
                        PARTITION BY client_id ORDER BY total DESC, category) AS n
                    FROM categories
                ) ranked
                WHERE n = 1 AND total > 0
            ),
            opened AS (
                SELECT client_id, MIN(opened_on) AS first_opened, MAX(opened_on) AS last_opened
                FROM {t["holding"]} WHERE tenant_id = %(tenant)s
                GROUP BY client_id
            )
            SELECT y.segment_id, y.preference,
                CASE
                    WHEN y.last_activity <= %(dormant_cut)s THEN 'dormant'
                    WHEN y.started > %(new_cut)s THEN 'new'
                    WHEN y.base > 0 AND y.latest < y.base * CAST(%(down)s AS NUMERIC)
                        THEN 'declining'
                    WHEN y.latest > y.base * CAST(%(up)s AS NUMERIC) THEN 'growing'
                    ELSE 'stable'
                END AS lifecycle
            FROM (
                SELECT s.id AS segment_id,
                    COALESCE(p.category, '') AS preference,
                    COALESCE(o.first_opened, {d["created_date"]}) AS started,
                    {d["greatest"]}(
                        COALESCE(s.last_contact_on, %(epoch)s),
                        COALESCE(s.last_aum_change_on, %(epoch)s),
                        COALESCE(o.last_opened, {d["created_date"]})) AS last_activity,
                    COALESCE(latest.aum_cny, {own_latest}) AS latest,
                    COALESCE(base.aum_cny, {own_base}) AS base
                FROM {t["segment"]} s
                JOIN {t["client"]} c ON c.id = s.client_id AND c.tenant_id = %(tenant)s
                LEFT JOIN opened o ON o.client_id = s.client_id
                LEFT JOIN preferred p ON p.client_id = s.client_id
                LEFT JOIN {t["snapshot"]} latest ON latest.tenant_id = %(tenant)s
                    AND latest.client_id = s.client_id AND latest."date" = %(latest_day)s
                LEFT JOIN {t["snapshot"]} base ON base.tenant_id = %(tenant)s
                    AND base.client_id = s.client_id AND base."date" = %(base_day)s
                WHERE s.tenant_id = %(tenant)s
            ) y
        ) x
        WHERE {t["segment"]}.id = x.segment_id AND (
            {t["segment"]}.lifecycle <> x.lifecycle
            OR {t["segment"]}.product_preference <> x.preference)
        """,  # noqa: S608  (table names from the models; values are parameters)
        params,
    )


# --- Nightly jobs (registered in segmentation.apps) ------------------------------------


def aum_snapshot_job(*, run_date: datetime.date) -> dict[str, int]:
    """Nightly job ``segmentation.snapshot``: the day's AUM snapshot."""
    return {"snapshots": aum_snapshot_take(on=run_date)}


def clients_retier_job(*, run_date: datetime.date) -> dict[str, int]:
    """Nightly job ``segmentation.retier``: re-tiering, then lifecycle and preference."""
    detail = clients_retier(on=run_date)
    detail["segments_refreshed"] = client_segments_refresh(on=run_date)
    return detail


# --- Overrides -------------------------------------------------------------------------


def _tenant_today(tenant_id: int) -> datetime.date:
    from zoneinfo import ZoneInfo

    zone = Tenant.objects.filter(pk=tenant_id).values_list("time_zone", flat=True).first()
    return timezone.localdate(timezone=ZoneInfo(zone) if zone else None)


def _override_check(*, actor: Actor | None, client: Client) -> None:
    """Only head office, or a supervisor of the client's branch or a branch above it."""
    staff = getattr(actor, "staff", None)
    if staff is None or actor is None or client.tenant_id != actor.tenant_id:
        raise PermissionDenied(OVERRIDE_REFUSED)
    if actor.role == Role.HEAD_OFFICE:
        return
    if actor.role == Role.SUPERVISOR and client.branch_id in branch_subtree_ids(staff.branch_id):
        return
    raise PermissionDenied(OVERRIDE_REFUSED)


def _rule_tier_now(*, client: Client, on: datetime.date) -> tuple[Tier | None, Decimal]:
    """The client's rule tier and tiering basis at ``on``, computed now (one client)."""
    policy = tiering_policy()
    start = on - datetime.timedelta(days=policy.window_days)
    average = AumSnapshot.objects.filter(client=client, date__gt=start, date__lte=on).aggregate(
        average=Avg("aum_cny")
    )["average"]
    basis = Decimal(average or 0).quantize(Decimal("0.01"))
    tier = Tier.objects.filter(aum_floor__lte=basis).order_by("-rank").first()
    return tier, basis


def _tier_apply(
    *,
    client: Client,
    tier: Tier | None,
    reason: str,
    basis: Decimal,
    on: datetime.date,
    override: TierOverride,
    actor: Actor,
) -> TierChange | None:
    """Move ``client`` to ``tier`` now: a TierChange, the client's tier, the RM told."""
    tier_id = tier.pk if tier else None
    if client.tier_id == tier_id:
        return None
    change = TierChange.objects.create(
        client=client,
        from_tier_id=client.tier_id,
        to_tier=tier,
        reason=reason,
        average_aum_cny=basis,
        effective_on=on,
        override=override,
    )
    Client.objects.filter(pk=client.pk).update(tier=tier, updated_at=timezone.now())
    client.tier = tier
    ClientSegment.objects.filter(client=client).update(months_below_floor=0)
    if client.owner_rm_id and client.owner_rm_id != getattr(actor.staff, "pk", None):
        Notification.objects.create(
            recipient_id=client.owner_rm_id,
            kind=NOTIFICATION_KIND,
            params={"date": on.isoformat(), "upgrades": 0, "downgrades": 0, "other": 1},
            link=TIER_CHANGES_LINK.format(date=on.isoformat()),
        )
    return change


def _audit(action: str, *, actor: Actor, obj: models.Model, request, detail: dict) -> None:
    user = None if request is not None else getattr(actor.staff, "user", None)
    audit_record(action=action, request=request, user=user, obj=obj, detail=detail)


@transaction.atomic
def tier_override_set(
    *,
    actor: Actor,
    client: Client,
    tier: Tier,
    reason: str,
    expires_on: datetime.date,
    request: HttpRequest | None = None,
) -> TierOverride:
    """Pin ``client`` to ``tier`` until ``expires_on`` (inclusive), for ``reason``.

    Who: head office, or a supervisor of the client's branch or of a branch above it;
    anyone else gets ``PermissionDenied``. Checks (``ValidationError`` keyed by field):
    ``reason`` not blank; ``tier`` one of the client's bank's tiers; ``expires_on``
    after today (the bank's local date) and at most a year ahead. A standing override
    of the client is revoked first (by the actor). The pinned tier applies at once: a
    ``TierChange`` (reason ``override``, effective today) when the tier changes, the
    client's tier, and a ``tier_changes`` notification to the owner RM. The nightly
    re-tiering keeps the pin until it expires, then falls back to the rules. Audited
    (``create``, and ``update`` for a replaced override). Returns the new override.
    """
    _override_check(actor=actor, client=client)
    today = _tenant_today(client.tenant_id)
    errors: dict[str, Any] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = _("Give the reason for pinning this client's tier.")
    if tier is None or tier.tenant_id != client.tenant_id:
        errors["tier"] = _("Choose one of the bank's tiers.")
    if expires_on is None or expires_on <= today:
        errors["expires_on"] = _("The expiry date must be in the future.")
    elif expires_on > today + datetime.timedelta(days=OVERRIDE_MAX_DAYS):
        errors["expires_on"] = _("An override may last at most one year.")
    if errors:
        raise ValidationError(errors)
    # Serialise overrides of one client: the second waits, then replaces the first.
    locked = Client.objects.select_for_update().get(pk=client.pk)
    for standing in TierOverride.objects.select_for_update().filter(
        client=locked, revoked_at__isnull=True
    ):
        standing.revoked_at, standing.revoked_by = timezone.now(), actor.staff
        standing.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
        _audit(
            "update",
            actor=actor,
            obj=standing,
            request=request,
            detail={"client": client.external_id, "revoked": True, "replaced": True},
        )
    override = TierOverride.objects.create(
        client=locked,
        tier=tier,
        reason=reason,
        expires_on=expires_on,
        created_by=actor.staff,
    )
    segment = ClientSegment.objects.filter(client=locked).first()
    basis = segment.average_aum_cny if segment and segment.evaluated_on else locked.aum_cny
    _tier_apply(
        client=locked,
        tier=tier,
        reason=TierChange.Reason.OVERRIDE,
        basis=basis,
        on=today,
        override=override,
        actor=actor,
    )
    client.tier = locked.tier
    _audit(
        "create",
        actor=actor,
        obj=override,
        request=request,
        detail={
            "client": client.external_id,
            "tier": tier.code,
            "expires_on": expires_on.isoformat(),
            "reason": reason,
        },
    )
    return override


@transaction.atomic
def tier_override_revoke(
    *, actor: Actor, override: TierOverride, request: HttpRequest | None = None
) -> TierOverride:
    """End a standing override now; the client goes back to the rules **at once**.

    Who: as for ``tier_override_set`` (``PermissionDenied`` otherwise). An override
    already ended (revoked or expired by a nightly run) is a ``ValidationError``.
    The client's rule tier is computed now from its snapshots (average over the
    policy's window up to today) and applied without any grace, as when an override
    expires: a ``TierChange`` (reason ``override_ended``) when the tier changes, the
    client's tier, a notification to the owner RM. Audited (``update``). Returns the
    revoked override.
    """
    client = Client.objects.select_for_update().get(pk=override.client_id)
    _override_check(actor=actor, client=client)
    override = TierOverride.objects.select_for_update().get(pk=override.pk)
    if override.revoked_at is not None:
        raise ValidationError(_("This override has already ended."))
    override.revoked_at, override.revoked_by = timezone.now(), actor.staff
    override.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
    today = _tenant_today(client.tenant_id)
    tier, basis = _rule_tier_now(client=client, on=today)
    _tier_apply(
        client=client,
        tier=tier,
        reason=TierChange.Reason.OVERRIDE_ENDED,
        basis=basis,
        on=today,
        override=override,
        actor=actor,
    )
    _audit(
        "update",
        actor=actor,
        obj=override,
        request=request,
        detail={
            "client": client.external_id,
            "revoked": True,
            "tier_now": tier.code if tier else None,
        },
    )
    return override
