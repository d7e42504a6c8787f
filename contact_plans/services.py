"""Contact-plan writes: the nightly planning, interactions, rescheduling, calendar feeds.

Everything runs inside the current tenant (``vipcrm.tenancy.tenant_context``): every
statement is limited to ``current_tenant_id()`` *and*, on PostgreSQL, by Row-Level
Security, so one bank's run never reads or touches another's rows. The nightly work is
set-based SQL — a fixed number of statements per run, whatever the number of clients
or holdings, never a Python loop over them — written once for SQLite and PostgreSQL.

Who is planned
--------------
A **VIP client** is a client whose tier has a ``ServiceStandard``
(``segmentation.models``). Every planned contact is assigned to the client's owner RM
(``Client.owner_rm``; none for a client in the branch pool); the client's team sees
them through the client's row scope.

The nightly planning (``contact_plans_refresh(on=D)``, job ``contact_plans.plan``)
---------------------------------------------------------------------------------
Registered with ``vipcrm.nightly`` at order 30, after ``segmentation.snapshot`` (10)
and ``segmentation.retier`` (20), so it plans with the tiers of the night. First the
``LunarDay`` years the run joins to are filled if missing (``contact_plans.lunar``:
the birthday and festival windows, the birth years of lunar-birthday clients). Then:

1. **Plans.** Each VIP client without a ``ContactPlan`` gets one: ``cadence_days``
   from the tier's standard, ``last_contact_on`` from segmentation's
   ``ClientSegment.last_contact_on`` (kept by every interaction), and ``next_due_on`` =
   last contact + cadence. A client never contacted gets a first due date *spread over
   its cadence*: D + (client id mod cadence) days — so a new bank's million clients
   come due a few each day over the first cycle instead of all on day one, and the same
   client always gets the same day. Then every plan is brought in line with the
   client's tier: a new cadence when the tier changed (next due = last contact + the new
   cadence; a never-contacted client's due date moves *earlier* to D + (id mod new
   cadence) when that is sooner); a client who lost the VIP tier keeps the plan with no
   cadence and no due date. Only rows that differ are written.

2. **Cancellations** (status ``cancelled``, one UPDATE) of open contacts the night
   made whose reason is gone: a cadence contact whose due date is no longer the plan's
   (the tier changed) or whose client is no longer VIP; a festival greeting when the
   client's tier no longer has festival care (or no tier); a maturity alert whose
   holding closed, disappeared or now matures on another date (a new alert for the new
   date follows in step 4); a life-event contact whose event was deleted or moved.
   Contacts that RMs created by hand (``manual:…``) are never cancelled by the night.

3. **Owners.** Open contacts whose client's owner RM changed follow the new owner.

4. **New planned contacts**, each made *exactly once*: every row carries a
   ``source_key`` and the table's unique constraint (tenant, client, reason,
   source_key) with ``INSERT … ON CONFLICT DO NOTHING`` makes a second run — or two
   transactions racing — unable to add a duplicate. Keys and rules:

   - *cadence* ``cadence:<next due date>`` — one open cadence contact per client, when
     the plan's next due date is on or before D + 14 days, due on that date (already
     ``overdue`` when the date has passed);
   - *maturity* ``maturity:<holding id>:<maturity date>`` — each active holding whose
     ``matures_on`` is within [D, D + the tier's ``maturity_lead_days``]: the holding,
     the maturity date, the amount in CNY (balance × the bank's latest FX rate on or
     before D; empty when the currency has no rate), due on max(D, maturity − lead);
   - *birthday* ``birthday:<year>`` — the client's next birthday falls within
     [D, D + 7], due on the day. Solar birthdays: same month and day (29 February is
     celebrated on 28 February in other years); the key's year is the solar year.
     Lunar birthdays (``Client.lunar_birthday``): the birth date's lunar month and day
     (from ``LunarDay``) recur on the day of this lunar year with that month and day;
     the key's year is the lunar year (one greeting per lunar year). A birthday on the
     30th of a month that has only 29 days this year is celebrated on the 29th; a birth
     in a leap month (闰月) is celebrated in the ordinary month of the same number, so
     once a year. A lunar birthday of a client born outside 1901–2099 falls back to the
     solar date;
   - *festival* ``festival:spring:<year>`` / ``festival:mid_autumn:<year>`` — clients
     of tiers whose standard has ``festival_care``, when the Spring Festival (lunar
     1/1) or the Mid-Autumn Festival (lunar 8/15) is within [D, D + 14], due three days
     before (or D, when closer);
   - *risk re-assessment* ``risk:<assessed on>`` — the assessment
     (``Client.risk_assessed_on`` + 365 days) expires within 30 days of D or has
     expired: one contact per assessment, due 30 days before the expiry (or D);
   - *life event* ``life_event:<event id>:<date>`` — a ``LifeEvent`` within
     [D − 7, D + 14]: upcoming or recent, due a week before (or D).

5. **Maturity reminders.** An open maturity alert is reminded at the lead time (when it
   is made), 7 days and 1 day before the maturity: ``reminders_sent`` is the stage
   reached — 1 at the lead time, 2 from maturity − 7, 3 from maturity − 1 — set by one
   UPDATE, only upwards, so a stage is never sent twice, and stages skipped (a
   lead time of 7 days, or a missed night) are sent once, as one reminder. Just before
   that UPDATE, each RM with reminders due gets ONE ``Notification`` for the run (kind
   ``maturity_reminders``, params ``{"date", "count", "amount_cny"}``, link to "My
   day"), computed with the same condition.

6. **Overdue.** Planned contacts due before D become ``overdue``.

The run returns the rows written per kind (``plans_created``, ``plans_updated``,
``cadence``, ``maturity``, ``birthday``, ``festival``, ``risk_reassessment``,
``life_event``, ``cancelled``, ``reassigned``, ``reminders``, ``notifications``,
``overdue``, ``lunar_days``). A second run for the same date finds nothing to do and
writes nothing (all zeros). Two runs of one bank are serialised by
``vipcrm.nightly``'s row lock on the tenant; even without it, the unique constraint
keeps every contact single.

Interactions and contacts by hand
---------------------------------
``interaction_log`` records a real contact and moves the plan (see its docstring):
the contact it answers is done, the client's open cadence contact too, the last
contact and next due date move, and a next step becomes a follow-up contact.
``planned_contact_create`` / ``_reschedule`` / ``_cancel`` are the RM's own changes
(a contact made by hand has the key ``manual:<uuid>`` and any reason but cadence and
maturity, which are the night's alone: one per cycle, one per holding and date);
``calendar_feed_create`` / ``_resolve`` the per-user secret calendar URL. Staff may
act only on clients they may see (``vipcrm.roles.visible_to``: RM book and team,
advisor's team, supervisor's branch subtree, head office); anything else is refused as
not found. Every one of them is audited.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from contact_plans.lunar import FIRST_YEAR, LAST_YEAR, lunar_days_ensure_for_births
from contact_plans.models import CalendarFeed, ContactPlan, Interaction, LunarDay, PlannedContact
from customers.models import (
    RISK_VALIDITY_DAYS,
    Channel,
    Client,
    FxRate,
    Holding,
    LifeEvent,
    Need,
)
from customers.selectors import client_list
from customers.services import Section, client_editable_sections, need_create
from segmentation.models import ClientSegment, ServiceStandard
from vipcrm.audit import audit_action, audit_record
from vipcrm.models import Notification, StaffProfile, Tenant
from vipcrm.roles import Actor, token_write_check
from vipcrm.tenancy import activate_tenant, current_tenant_id

NOTIFICATION_KIND = "maturity_reminders"
MY_DAY_LINK = "/"
CADENCE_HORIZON_DAYS = 14  # a cadence contact is planned two weeks ahead
BIRTHDAY_WINDOW_DAYS = 7
FESTIVAL_WINDOW_DAYS = 14
FESTIVAL_LEAD_DAYS = 3
RISK_NOTICE_DAYS = 30
LIFE_EVENT_AHEAD_DAYS = 14
LIFE_EVENT_BEHIND_DAYS = 7
LIFE_EVENT_LEAD_DAYS = 7
REMINDER_DAYS = (7, 1)  # maturity reminders after the lead time's
CLOCK_TOLERANCE = datetime.timedelta(minutes=5)
FESTIVALS = {(1, 1): "spring", (8, 15): "mid_autumn"}  # lunar (month, day) → key
MANUAL_REASONS = frozenset(
    {
        PlannedContact.Reason.CAMPAIGN,
        PlannedContact.Reason.FOLLOW_UP,
        PlannedContact.Reason.LIFE_EVENT,
        PlannedContact.Reason.BIRTHDAY,
        PlannedContact.Reason.FESTIVAL,
        PlannedContact.Reason.RISK_REASSESSMENT,
    }
)  # cadence and maturity contacts are the night's alone: one per cycle, one per holding
OPEN = tuple(status.value for status in PlannedContact.OPEN)
DAY = datetime.timedelta(days=1)


# --- SQL plumbing ----------------------------------------------------------------------


def _tables() -> dict[str, str]:
    """Quoted table names for the statements below (from the models, never user input)."""
    qn = connection.ops.quote_name
    models_by_key: dict[str, type[models.Model]] = {
        "client": Client,
        "fx": FxRate,
        "holding": Holding,
        "event": LifeEvent,
        "standard": ServiceStandard,
        "segment": ClientSegment,
        "plan": ContactPlan,
        "contact": PlannedContact,
        "lunar": LunarDay,
        "notification": Notification,
    }
    return {key: qn(model._meta.db_table) for key, model in models_by_key.items()}


class _Dialect:
    """The few spellings that differ between PostgreSQL and SQLite."""

    def __init__(self) -> None:
        self.pg = connection.vendor == "postgresql"
        self.distinct = "IS DISTINCT FROM" if self.pg else "IS NOT"
        self.greatest = "GREATEST" if self.pg else "MAX"
        self.least = "LEAST" if self.pg else "MIN"
        self.json_object = "jsonb_build_object" if self.pg else "json_object"

    def add_days(self, day: str, days: str) -> str:
        """``day`` + ``days`` (an SQL integer expression, may be negative)."""
        if self.pg:
            return f"({day} + CAST({days} AS INTEGER))"
        return f"date({day}, CAST({days} AS TEXT) || ' days')"

    def date_text(self, day: str) -> str:
        """A date as ``YYYY-MM-DD`` text (for source keys)."""
        return f"TO_CHAR({day}, 'YYYY-MM-DD')" if self.pg else f"CAST({day} AS TEXT)"

    def month_day(self, day: str) -> str:
        """A date's ``MM-DD`` (``%%``: the statements take named parameters)."""
        return f"TO_CHAR({day}, 'MM-DD')" if self.pg else f"strftime('%%m-%%d', {day})"

    def money_text(self, amount: str) -> str:
        """An amount as text with two decimals, the same on both databases."""
        if self.pg:
            return f"CAST(ROUND({amount}, 2) AS TEXT)"
        return f"printf('%%.2f', {amount})"

    def json_rows(self, param: str, columns: Sequence[tuple[str, str]]) -> str:
        """A derived table read from one JSON parameter (an array of arrays), with
        ``columns`` as (name, PostgreSQL type)."""
        if self.pg:
            select = ", ".join(
                f"(r.v->>{i})::{kind} AS {name}" for i, (name, kind) in enumerate(columns)
            )
            return f"(SELECT {select} FROM json_array_elements(%({param})s::json) AS r(v))"  # noqa: S608
        select = ", ".join(
            f"json_extract(r.value, '$[{i}]') AS {name}" for i, (name, _kind) in enumerate(columns)
        )
        return f"(SELECT {select} FROM json_each(%({param})s) AS r)"  # noqa: S608


def _execute(sql: str, params: dict[str, Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _now() -> Any:
    """The run's single timestamp, as the database driver wants it."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


# Columns of a planned contact the night writes, and what they are unless a rule says.
_CONTACT_DEFAULTS: dict[str, str] = {
    "tenant_id": "%(tenant)s",
    "client_id": "c.id",
    "assigned_to_id": "c.owner_rm_id",
    "reason": "",
    "due_on": "",
    "channel": "''",
    "status": f"'{PlannedContact.Status.PLANNED.value}'",
    "source_key": "",
    "holding_id": "CAST(NULL AS BIGINT)",  # typed: the rules may be a UNION
    "life_event_id": "CAST(NULL AS BIGINT)",
    "source_date": "CAST(NULL AS DATE)",
    "amount_cny": "CAST(NULL AS NUMERIC)",
    "note": "''",
    "reminders_sent": "0",
    "reschedule_reason": "''",
    "cancel_reason": "''",
    "created_at": "%(now)s",
    "updated_at": "%(now)s",
}


def _contacts_insert(
    values: dict[str, str], source: str, params: dict[str, Any], *more: tuple[dict, str]
) -> int:
    """``INSERT … SELECT <values> <source> ON CONFLICT DO NOTHING`` into planned
    contacts; ``source`` is the FROM … WHERE … of the rule (its WHERE is required:
    SQLite reads ``ON`` after a bare FROM as a join). Further ``(values, source)``
    rules join the same statement with UNION ALL. Returns the rows inserted."""
    selects = []
    for rule_values, rule_source in ((values, source), *more):
        exprs = {**_CONTACT_DEFAULTS, **rule_values}
        missing = [column for column, expr in exprs.items() if not expr]
        if missing:
            raise ValueError(f"planned contact rule lacks {', '.join(missing)}")
        selects.append(f"SELECT {', '.join(exprs.values())} {rule_source}")
    t = _tables()
    sql = (
        f"INSERT INTO {t['contact']} ({', '.join(_CONTACT_DEFAULTS)}) "
        f"{' UNION ALL '.join(selects)} "
        "ON CONFLICT (tenant_id, client_id, reason, source_key) DO NOTHING"
    )
    return _execute(sql, params)


# --- The nightly planning ----------------------------------------------------------------


def contact_plans_refresh(*, on: datetime.date) -> dict[str, int]:
    """Plan the current tenant's contacts for business date ``on``.

    Implements the rules of this module's docstring in a fixed number of statements;
    returns the rows written per kind. Idempotent: a second run for ``on`` writes
    nothing.
    """
    t, d = _tables(), _Dialect()
    tenant, now = current_tenant_id(), _now()
    summary: dict[str, int] = {}
    summary["lunar_days"] = _lunar_days_for_run(on)
    params: dict[str, Any] = {
        "tenant": tenant,
        "now": now,
        "on": on,
        "cadence_horizon": on + DAY * CADENCE_HORIZON_DAYS,
        "birthday_end": on + DAY * BIRTHDAY_WINDOW_DAYS,
        "festival_end": on + DAY * FESTIVAL_WINDOW_DAYS,
        "risk_cut": on + DAY * (RISK_NOTICE_DAYS - RISK_VALIDITY_DAYS),
        "event_from": on - DAY * LIFE_EVENT_BEHIND_DAYS,
        "event_to": on + DAY * LIFE_EVENT_AHEAD_DAYS,
        "remind_7": on + DAY * REMINDER_DAYS[0],
        "remind_1": on + DAY * REMINDER_DAYS[1],
        "lunar_first": datetime.date(FIRST_YEAR, 1, 1),
        "lunar_last": datetime.date(LAST_YEAR, 12, 31),
        "cny": "CNY",
        "active": Holding.Status.ACTIVE.value,
        "manual": "manual:%",
    }
    vip = f"JOIN {t['standard']} s ON s.tenant_id = %(tenant)s AND s.tier_id = c.tier_id"
    summary["plans_created"] = _plans_create(t, d, vip, params)
    summary["plans_updated"] = _plans_update(t, d, params)
    summary["cancelled"] = _contacts_cancel(t, d, params)
    summary["reassigned"] = _contacts_reassign(t, d, params)
    summary["cadence"] = _cadence_plan(t, d, params)
    summary["maturity"] = _maturities_plan(t, d, vip, params)
    summary["birthday"] = _birthdays_plan(t, d, vip, params)
    summary["festival"] = _festivals_plan(t, d, params)
    summary["risk_reassessment"] = _risk_plan(t, d, vip, params)
    summary["life_event"] = _life_events_plan(t, d, vip, params)
    summary["notifications"], summary["reminders"] = _reminders_send(t, d, on, params)
    summary["overdue"] = _execute(
        f"""
        UPDATE {t["contact"]} SET status = '{PlannedContact.Status.OVERDUE.value}',
            updated_at = %(now)s
        WHERE tenant_id = %(tenant)s AND status = '{PlannedContact.Status.PLANNED.value}'
          AND due_on < %(on)s
        """,  # noqa: S608  (table names from the models; values are parameters)
        params,
    )
    return summary


def contact_plans_refresh_job(*, run_date: datetime.date) -> dict[str, int]:
    """Nightly job ``contact_plans.plan`` (order 30, after re-tiering)."""
    return contact_plans_refresh(on=run_date)


def _lunar_days_for_run(on: datetime.date) -> int:
    """The ``LunarDay`` years the run joins to: the birthday and festival windows, and
    the birth years of the bank's clients who celebrate the lunar birthday."""
    horizon = on + DAY * max(BIRTHDAY_WINDOW_DAYS, FESTIVAL_WINDOW_DAYS)
    return lunar_days_ensure_for_births(years={on.year, horizon.year})


def _plans_create(t: dict, d: _Dialect, vip: str, params: dict) -> int:
    cadence = "s.contact_cadence_days"
    return _execute(
        f"""
        INSERT INTO {t["plan"]} (tenant_id, client_id, cadence_days, last_contact_on,
            next_due_on, created_at, updated_at)
        SELECT c.tenant_id, c.id, {cadence}, g.last_contact_on,
            CASE WHEN g.last_contact_on IS NOT NULL
                THEN {d.add_days("g.last_contact_on", cadence)}
                ELSE {d.add_days("%(on)s", f"c.id %% {cadence}")} END,
            %(now)s, %(now)s
        FROM {t["client"]} c
        {vip}
        LEFT JOIN {t["segment"]} g ON g.tenant_id = %(tenant)s AND g.client_id = c.id
        WHERE c.tenant_id = %(tenant)s AND NOT EXISTS (
            SELECT 1 FROM {t["plan"]} p WHERE p.tenant_id = %(tenant)s AND p.client_id = c.id)
        ON CONFLICT (tenant_id, client_id) DO NOTHING
        """,  # noqa: S608  (table names from the models; values are parameters)
        params,
    )


def _plans_update(t: dict, d: _Dialect, params: dict) -> int:
    """Cadence and next due date of every plan from the client's tier (rows that differ)."""
    cadence = "s.contact_cadence_days"
    spread = d.add_days("%(on)s", f"c.id %% {cadence}")
    return _execute(
        f"""
        UPDATE {t["plan"]} SET cadence_days = x.cadence, next_due_on = x.next_due,
            updated_at = %(now)s
        FROM (
            SELECT p.id AS plan_id, {cadence} AS cadence,
                CASE
                    WHEN s.id IS NULL THEN NULL
                    WHEN p.last_contact_on IS NOT NULL
                        THEN {d.add_days("p.last_contact_on", cadence)}
                    WHEN p.next_due_on IS NULL THEN {spread}
                    WHEN p.cadence_days {d.distinct} {cadence}
                        THEN {d.least}(p.next_due_on, {spread})
                    ELSE p.next_due_on
                END AS next_due
            FROM {t["plan"]} p
            JOIN {t["client"]} c ON c.id = p.client_id AND c.tenant_id = %(tenant)s
            LEFT JOIN {t["standard"]} s ON s.tenant_id = %(tenant)s AND s.tier_id = c.tier_id
            WHERE p.tenant_id = %(tenant)s
        ) x
        WHERE {t["plan"]}.id = x.plan_id AND {t["plan"]}.tenant_id = %(tenant)s AND (
            {t["plan"]}.cadence_days {d.distinct} x.cadence
            OR {t["plan"]}.next_due_on {d.distinct} x.next_due)
        """,  # noqa: S608  (as above)
        params,
    )


def _contacts_cancel(t: dict, d: _Dialect, params: dict) -> int:
    """Open contacts of the night whose reason is gone (see the module docstring)."""
    r = PlannedContact.Reason
    return _execute(
        f"""
        UPDATE {t["contact"]} SET status = '{PlannedContact.Status.CANCELLED.value}',
            updated_at = %(now)s
        WHERE tenant_id = %(tenant)s AND id IN (
            SELECT p.id
            FROM {t["contact"]} p
            JOIN {t["client"]} c ON c.id = p.client_id AND c.tenant_id = %(tenant)s
            LEFT JOIN {t["standard"]} s ON s.tenant_id = %(tenant)s AND s.tier_id = c.tier_id
            LEFT JOIN {t["plan"]} pl ON pl.tenant_id = %(tenant)s AND pl.client_id = p.client_id
            LEFT JOIN {t["holding"]} h ON h.tenant_id = %(tenant)s AND h.id = p.holding_id
            LEFT JOIN {t["event"]} e ON e.tenant_id = %(tenant)s AND e.id = p.life_event_id
            WHERE p.tenant_id = %(tenant)s AND p.status IN ('{OPEN[0]}', '{OPEN[1]}')
              AND p.source_key NOT LIKE %(manual)s AND (
                (p.reason = '{r.CADENCE.value}' AND (
                    s.id IS NULL OR pl.next_due_on {d.distinct} p.source_date))
                OR (p.reason = '{r.FESTIVAL.value}' AND (s.id IS NULL OR NOT s.festival_care))
                OR (p.reason = '{r.MATURITY.value}' AND (
                    h.id IS NULL OR h.status <> %(active)s
                    OR h.matures_on {d.distinct} p.source_date))
                OR (p.reason = '{r.LIFE_EVENT.value}' AND (
                    e.id IS NULL OR e.occurs_on {d.distinct} p.source_date))))
        """,  # noqa: S608  (as above)
        params,
    )


def _contacts_reassign(t: dict, d: _Dialect, params: dict) -> int:
    """Open contacts follow their client's owner RM (one UPDATE, rows that differ)."""
    contact = t["contact"]
    return _execute(
        f"""
        UPDATE {contact} SET assigned_to_id = c.owner_rm_id, updated_at = %(now)s
        FROM {t["client"]} c
        WHERE {contact}.tenant_id = %(tenant)s AND c.tenant_id = %(tenant)s
          AND c.id = {contact}.client_id
          AND {contact}.status IN ('{OPEN[0]}', '{OPEN[1]}')
          AND {contact}.assigned_to_id {d.distinct} c.owner_rm_id
        """,  # noqa: S608  (as above)
        params,
    )


def _cadence_plan(t: dict, d: _Dialect, params: dict) -> int:
    """One open cadence contact per client: the cancellations before this statement
    leave open only the cadence contact of the plan's current due date, whose key this
    statement would make again, so the unique key alone keeps it single (no anti-join,
    whose cost would hang on the statistics of a table the same run just filled)."""
    status = PlannedContact.Status
    return _contacts_insert(
        {
            "reason": f"'{PlannedContact.Reason.CADENCE.value}'",
            "due_on": "p.next_due_on",
            "status": f"CASE WHEN p.next_due_on < %(on)s THEN '{status.OVERDUE.value}' "
            f"ELSE '{status.PLANNED.value}' END",
            "source_key": f"'cadence:' || {d.date_text('p.next_due_on')}",
            "source_date": "p.next_due_on",
        },
        f"""
        FROM {t["plan"]} p
        JOIN {t["client"]} c ON c.id = p.client_id AND c.tenant_id = %(tenant)s
        WHERE p.tenant_id = %(tenant)s AND p.next_due_on <= %(cadence_horizon)s
        """,
        params,
    )


def _maturities_plan(t: dict, d: _Dialect, vip: str, params: dict) -> int:
    lead = "s.maturity_lead_days"
    # The bank's longest lead time bounds the range read from the maturity index (the
    # scalar subquery is evaluated once).
    longest = (
        f"(SELECT MAX(x.maturity_lead_days) FROM {t['standard']} x "  # noqa: S608
        "WHERE x.tenant_id = %(tenant)s)"
    )
    return _contacts_insert(
        {
            "client_id": "h.client_id",
            "reason": f"'{PlannedContact.Reason.MATURITY.value}'",
            "due_on": f"{d.greatest}(%(on)s, {d.add_days('h.matures_on', f'-{lead}')})",
            "source_key": "'maturity:' || CAST(h.id AS TEXT) || ':' || "
            f"{d.date_text('h.matures_on')}",
            "holding_id": "h.id",
            "source_date": "h.matures_on",
            "amount_cny": "ROUND(h.balance * CASE WHEN h.currency = %(cny)s THEN 1 "
            "ELSE r.rate_to_cny END, 2)",
        },
        f"""
        FROM {t["holding"]} h
        JOIN {t["client"]} c ON c.id = h.client_id AND c.tenant_id = %(tenant)s
        {vip}
        LEFT JOIN (
            SELECT f.currency, f.rate_to_cny
            FROM {t["fx"]} f
            JOIN (
                SELECT currency, MAX("date") AS latest FROM {t["fx"]}
                WHERE tenant_id = %(tenant)s AND "date" <= %(on)s
                GROUP BY currency
            ) m ON m.currency = f.currency AND m.latest = f."date"
            WHERE f.tenant_id = %(tenant)s
        ) r ON r.currency = h.currency
        WHERE h.tenant_id = %(tenant)s AND h.status = %(active)s
          AND h.matures_on >= %(on)s AND h.matures_on <= {d.add_days("%(on)s", longest)}
          AND h.matures_on <= {d.add_days("%(on)s", lead)}
        """,  # noqa: S608  (as above)
        params,
    )


def _birthdays_plan(t: dict, d: _Dialect, vip: str, params: dict) -> int:
    """Solar and lunar birthdays within [D, D + 7], in one statement (a client follows
    one calendar or the other)."""
    on, end = params["on"], params["birthday_end"]
    window = []
    day = on
    while day <= end:
        window.append([day.strftime("%m-%d"), day.isoformat(), str(day.year)])
        if day.month == 2 and day.day == 28 and (day + DAY).month == 3:
            window.append(["02-29", day.isoformat(), str(day.year)])  # not a leap year
        day += DAY
    reason = f"'{PlannedContact.Reason.BIRTHDAY.value}'"
    solar = {
        "reason": reason,
        "due_on": "w.day",
        "source_key": "'birthday:' || w.year",
        "source_date": "w.day",
    }
    lunar = {
        "reason": reason,
        "due_on": "w.solar_date",
        "source_key": "'birthday:' || CAST(w.lunar_year AS TEXT)",
        "source_date": "w.solar_date",
    }
    return _contacts_insert(
        solar,
        f"""
        FROM {t["client"]} c
        {vip}
        JOIN {d.json_rows("window", (("md", "text"), ("day", "date"), ("year", "text")))} w
            ON w.md = {d.month_day("c.birth_date")}
        WHERE c.tenant_id = %(tenant)s AND c.birth_date IS NOT NULL AND (
            NOT c.lunar_birthday
            OR c.birth_date < %(lunar_first)s OR c.birth_date > %(lunar_last)s)
        """,
        {**params, "window": json.dumps(window)},
        (
            lunar,
            f"""
            FROM {t["client"]} c
            {vip}
            JOIN {t["lunar"]} b ON b.solar_date = c.birth_date
            JOIN {t["lunar"]} w ON w.solar_date >= %(on)s AND w.solar_date <= %(birthday_end)s
                AND NOT w.is_leap_month AND w.lunar_month = b.lunar_month
                AND (w.lunar_day = b.lunar_day
                     OR (b.lunar_day = 30 AND w.month_days = 29 AND w.lunar_day = 29))
            WHERE c.tenant_id = %(tenant)s AND c.lunar_birthday AND c.birth_date IS NOT NULL
            """,
        ),
    )


def _festivals_plan(t: dict, d: _Dialect, params: dict) -> int:
    """Spring Festival and Mid-Autumn greetings for tiers with festival care: the
    festival days of the window come from ``LunarDay`` in the same statement."""
    days = " OR ".join(
        f"(w.lunar_month = {month} AND w.lunar_day = {day})" for month, day in FESTIVALS
    )
    names = " ".join(
        f"WHEN w.lunar_month = {month} THEN '{name}'" for (month, _day), name in FESTIVALS.items()
    )
    return _contacts_insert(
        {
            "reason": f"'{PlannedContact.Reason.FESTIVAL.value}'",
            "due_on": f"{d.greatest}(%(on)s, "
            f"{d.add_days('w.solar_date', str(-FESTIVAL_LEAD_DAYS))})",
            "source_key": f"'festival:' || CASE {names} END || ':' || CAST(w.lunar_year AS TEXT)",
            "source_date": "w.solar_date",
        },
        f"""
        FROM {t["client"]} c
        JOIN {t["standard"]} s ON s.tenant_id = %(tenant)s AND s.tier_id = c.tier_id
            AND s.festival_care
        JOIN {t["lunar"]} w ON w.solar_date >= %(on)s AND w.solar_date <= %(festival_end)s
            AND NOT w.is_leap_month AND ({days})
        WHERE c.tenant_id = %(tenant)s
        """,
        params,
    )


def _risk_plan(t: dict, d: _Dialect, vip: str, params: dict) -> int:
    expiry = d.add_days("c.risk_assessed_on", str(RISK_VALIDITY_DAYS))
    notice = d.add_days("c.risk_assessed_on", str(RISK_VALIDITY_DAYS - RISK_NOTICE_DAYS))
    return _contacts_insert(
        {
            "reason": f"'{PlannedContact.Reason.RISK_REASSESSMENT.value}'",
            "due_on": f"{d.greatest}(%(on)s, {notice})",
            "source_key": f"'risk:' || {d.date_text('c.risk_assessed_on')}",
            "source_date": expiry,
        },
        f"""
        FROM {t["client"]} c
        {vip}
        WHERE c.tenant_id = %(tenant)s AND c.risk_assessed_on <= %(risk_cut)s
        """,
        params,
    )


def _life_events_plan(t: dict, d: _Dialect, vip: str, params: dict) -> int:
    return _contacts_insert(
        {
            "reason": f"'{PlannedContact.Reason.LIFE_EVENT.value}'",
            "due_on": f"{d.greatest}(%(on)s, "
            f"{d.add_days('e.occurs_on', str(-LIFE_EVENT_LEAD_DAYS))})",
            "source_key": "'life_event:' || CAST(e.id AS TEXT) || ':' || "
            f"{d.date_text('e.occurs_on')}",
            "life_event_id": "e.id",
            "source_date": "e.occurs_on",
        },
        f"""
        FROM {t["event"]} e
        JOIN {t["client"]} c ON c.id = e.client_id AND c.tenant_id = %(tenant)s
        {vip}
        WHERE e.tenant_id = %(tenant)s
          AND e.occurs_on >= %(event_from)s AND e.occurs_on <= %(event_to)s
        """,
        params,
    )


def _reminders_send(t: dict, d: _Dialect, on: datetime.date, params: dict) -> tuple[int, int]:
    """One notification per RM with maturity reminders due, then the stages reached.

    Both statements select the same rows: open maturity alerts, not yet matured, whose
    stage (1 lead time, 2 seven days before, 3 one day before) is above the reminders
    already sent. Returns (notifications, reminders).
    """
    stage = (
        "(CASE WHEN p.source_date <= %(remind_1)s THEN 3 "
        "WHEN p.source_date <= %(remind_7)s THEN 2 ELSE 1 END)"
    )
    due = (
        f"p.tenant_id = %(tenant)s AND p.reason = '{PlannedContact.Reason.MATURITY.value}' "
        f"AND p.status IN ('{OPEN[0]}', '{OPEN[1]}') AND p.source_date >= %(on)s "
        f"AND p.reminders_sent < {stage}"
    )
    notifications = _execute(
        f"""
        INSERT INTO {t["notification"]} (tenant_id, recipient_id, kind, params, link,
            created_at, updated_at)
        SELECT %(tenant)s, p.assigned_to_id, %(kind)s,
            {d.json_object}('date', CAST(%(date)s AS TEXT), 'count', COUNT(*),
                'amount_cny', {d.money_text("COALESCE(SUM(p.amount_cny), 0)")}),
            %(link)s, %(now)s, %(now)s
        FROM {t["contact"]} p
        WHERE {due} AND p.assigned_to_id IS NOT NULL
        GROUP BY p.assigned_to_id
        """,  # noqa: S608  (as above)
        {**params, "kind": NOTIFICATION_KIND, "date": on.isoformat(), "link": MY_DAY_LINK},
    )
    contact = t["contact"]
    reminders = _execute(
        f"""
        UPDATE {contact} SET reminders_sent = x.stage, updated_at = %(now)s
        FROM (SELECT p.id AS contact_id, {stage} AS stage FROM {contact} p WHERE {due}) x
        WHERE {contact}.id = x.contact_id AND {contact}.tenant_id = %(tenant)s
        """,  # noqa: S608  (as above)
        params,
    )
    return notifications, reminders


# --- Shared checks -------------------------------------------------------------------------


def tenant_zone(tenant_id: int) -> ZoneInfo:
    """The bank's time zone (``Tenant.time_zone``, Asia/Shanghai when unset)."""
    zone = Tenant.objects.filter(pk=tenant_id).values_list("time_zone", flat=True).first()
    return ZoneInfo(zone or "Asia/Shanghai")


def tenant_today(tenant_id: int) -> datetime.date:
    """Today in the bank's time zone."""
    return timezone.localdate(timezone=tenant_zone(tenant_id))


def client_access(*, actor: Actor | None, client: Client | None) -> None:
    """Raise ``Client.DoesNotExist`` unless ``actor`` may see ``client``: the same
    answer as for a client that does not exist (callers turn it into a 404).

    Integration tokens see their whole bank; staff see what ``visible_to`` gives them
    on the client list (RM book and team, advisor's team, supervisor's branch
    subtree, head office).
    """
    if (
        actor is None
        or client is None
        or client.pk is None
        or client.tenant_id != actor.tenant_id
        or client.tenant_id != current_tenant_id()
    ):
        raise Client.DoesNotExist("No such client.")
    if actor.is_integration:
        return
    if actor.staff is None or not client_list(actor=actor).filter(pk=client.pk).exists():
        raise Client.DoesNotExist("No such client.")


def _contact_access(*, actor: Actor | None, planned_contact: PlannedContact) -> PlannedContact:
    """The planned contact, locked for the change, if ``actor`` may see its client;
    ``PlannedContact.DoesNotExist`` otherwise."""
    if planned_contact is None or planned_contact.tenant_id != current_tenant_id():
        raise PlannedContact.DoesNotExist("No such planned contact.")
    locked = (
        PlannedContact.objects.select_for_update()
        .select_related("client")
        .filter(pk=planned_contact.pk)
        .first()
    )
    if locked is None:
        raise PlannedContact.DoesNotExist("No such planned contact.")
    try:
        client_access(actor=actor, client=locked.client)
    except Client.DoesNotExist as error:
        raise PlannedContact.DoesNotExist("No such planned contact.") from error
    return locked


# --- Interactions --------------------------------------------------------------------------


def client_segment_last_contact_set(*, client: Client, on: datetime.date) -> None:
    """Segmentation's ``ClientSegment.last_contact_on`` becomes ``on`` when later (the
    row is created when the client has none yet). Written here, through the
    segmentation model, because contact plans are what know about contacts."""
    moved = (
        ClientSegment.objects.filter(client=client)
        .filter(Q(last_contact_on__isnull=True) | Q(last_contact_on__lt=on))
        .update(last_contact_on=on, updated_at=timezone.now())
    )
    if moved or ClientSegment.objects.filter(client=client).exists():
        return
    try:
        with transaction.atomic():
            ClientSegment.objects.create(client=client, last_contact_on=on)
    except IntegrityError:
        # The nightly job created the row meanwhile: set the date on it.
        ClientSegment.objects.filter(client=client).filter(
            Q(last_contact_on__isnull=True) | Q(last_contact_on__lt=on)
        ).update(last_contact_on=on, updated_at=timezone.now())


def _plan_locked(client: Client) -> ContactPlan:
    """The client's plan, locked (made now if the night has not made it yet)."""
    plan = ContactPlan.objects.select_for_update().filter(client=client).first()
    if plan is not None:
        return plan
    cadence = (
        ServiceStandard.objects.filter(tier_id=client.tier_id)
        .values_list("contact_cadence_days", flat=True)
        .first()
        if client.tier_id
        else None
    )
    try:
        with transaction.atomic():
            return ContactPlan.objects.create(client=client, cadence_days=cadence)
    except IntegrityError:
        return ContactPlan.objects.select_for_update().get(client=client)


def _interaction_errors(
    *,
    client: Client,
    channel: str,
    occurred_at: datetime.datetime | None,
    summary: str,
    duration_minutes: int | None,
    needs_found: Sequence[str],
    next_step: str,
    next_step_on: datetime.date | None,
    planned_contact: PlannedContact | None,
    external_id: str,
    today: datetime.date,
) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    if not channel:
        errors["channel"] = _("Choose how you were in touch with the client.")
    elif channel not in Channel.values:
        errors["channel"] = _("Unknown channel.")
    if not summary:
        errors["summary"] = _("Write a short summary of the conversation.")
    if occurred_at is None:
        errors["occurred_at"] = _("Give the date and time of the contact.")
    elif occurred_at > timezone.now() + CLOCK_TOLERANCE:
        errors["occurred_at"] = _("A contact cannot be logged in the future.")
    if duration_minutes is not None and not 1 <= duration_minutes <= 24 * 60:
        errors["duration_minutes"] = _("The duration must be between 1 minute and 24 hours.")
    unknown = [kind for kind in needs_found if kind not in Need.Kind.values]
    if unknown:
        errors["needs_found"] = _("Unknown needs: %(kinds)s.") % {"kinds": ", ".join(unknown)}
    if len(next_step) > Interaction._meta.get_field("next_step").max_length:
        errors["next_step"] = _("The next step is too long (300 characters at most).")
    if next_step_on is not None and next_step_on < today:
        errors["next_step_on"] = _("The next step cannot be planned in the past.")
    if planned_contact is not None:
        if planned_contact.client_id != client.pk or planned_contact.tenant_id != client.tenant_id:
            errors["planned_contact"] = _("This planned contact is for another client.")
        elif not planned_contact.is_open:
            errors["planned_contact"] = _("This planned contact is already closed.")
    if len(external_id) > Interaction._meta.get_field("external_id").max_length:
        errors["external_id"] = _("The external reference is too long (64 characters at most).")
    elif external_id and Interaction.objects.filter(external_id=external_id).exists():
        errors["external_id"] = _("An interaction with this external reference already exists.")
    return errors


def _staff_of(*, actor: Actor, staff: StaffProfile | None) -> StaffProfile:
    """Who made the contact: the staff actor themselves, or the staff member an
    integration names (``ValidationError`` on ``staff`` otherwise)."""
    if not actor.is_integration:
        if staff is not None and staff.pk != actor.staff.pk:
            raise ValidationError({"staff": _("You can only log your own contacts.")})
        return actor.staff
    if staff is None:
        raise ValidationError({"staff": _("Name the staff member who made the contact.")})
    if staff.tenant_id != actor.tenant_id or not staff.is_active:
        raise ValidationError({"staff": _("Unknown or inactive staff member.")})
    return staff


@transaction.atomic
def interaction_log(
    *,
    actor: Actor,
    client: Client,
    channel: str,
    occurred_at: datetime.datetime,
    summary: str,
    duration_minutes: int | None = None,
    needs_found: Iterable[str] = (),
    next_step: str = "",
    next_step_on: datetime.date | None = None,
    planned_contact: PlannedContact | None = None,
    external_id: str = "",
    staff: StaffProfile | None = None,
    request: HttpRequest | None = None,
) -> Interaction:
    """Record a real contact with ``client`` and move the client's plan on.

    Who: staff who may see the client (``Client.DoesNotExist`` otherwise, as for a
    client that does not exist); integration tokens with the ``write`` scope, for any
    client of their bank, naming the ``staff`` member who made the contact (for staff,
    it is themselves). Refused with ``ValidationError`` (messages by field, nothing
    written): no channel or an unknown one, no summary, no time or a time in the future
    (beyond a few minutes of clock difference), a duration outside 1 minute–24 hours,
    unknown need kinds, a next step dated before today, a planned contact of another
    client or already done or cancelled, an external reference already logged.

    Effects, all in one transaction: the ``Interaction``; the planned contact it
    answers is done (``completed_at`` now); the client's open cadence contact is done
    too, unless the contact is older than the last one on the plan; the plan's
    ``last_contact_on`` becomes the contact's date (in the bank's time zone) if later,
    and ``next_due_on`` = last contact + the cadence; segmentation's
    ``ClientSegment.last_contact_on`` likewise; a ``next_step_on`` makes a follow-up
    planned contact (``follow_up:<interaction id>``, the next step as its note) for the
    owner RM; needs found are opened on the client when not already open. Audited.
    """
    client_access(actor=actor, client=client)
    token_write_check(actor)
    by = _staff_of(actor=actor, staff=staff)
    zone = tenant_zone(client.tenant_id)
    today = timezone.localdate(timezone=zone)
    if occurred_at is not None and timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at, zone)
    summary, next_step, external_id = (
        (summary or "").strip(),
        (next_step or "").strip(),
        (external_id or "").strip(),
    )
    needs = list(dict.fromkeys(str(kind) for kind in needs_found or ()))
    if planned_contact is not None:
        planned_contact = (
            PlannedContact.objects.select_for_update().filter(pk=planned_contact.pk).first()
            or planned_contact
        )
    errors = _interaction_errors(
        client=client,
        channel=channel or "",
        occurred_at=occurred_at,
        summary=summary,
        duration_minutes=duration_minutes,
        needs_found=needs,
        next_step=next_step,
        next_step_on=next_step_on,
        planned_contact=planned_contact,
        external_id=external_id,
        today=today,
    )
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            interaction = Interaction.objects.create(
                client=client,
                staff=by,
                channel=channel,
                occurred_at=occurred_at,
                duration_minutes=duration_minutes,
                summary=summary,
                needs_found=needs,
                next_step=next_step,
                next_step_on=next_step_on,
                planned_contact=planned_contact,
                external_id=external_id,
            )
    except IntegrityError as error:  # the same external reference, raced past the check
        raise ValidationError(
            {"external_id": _("An interaction with this external reference already exists.")}
        ) from error

    now = timezone.now()
    contact_day = occurred_at.astimezone(zone).date()
    plan = _plan_locked(client)
    is_latest = plan.last_contact_on is None or contact_day >= plan.last_contact_on
    done = PlannedContact.Status.DONE
    if planned_contact is not None:
        PlannedContact.objects.filter(pk=planned_contact.pk).update(
            status=done, completed_at=now, updated_at=now
        )
    if is_latest:
        PlannedContact.objects.filter(
            client=client, reason=PlannedContact.Reason.CADENCE, status__in=PlannedContact.OPEN
        ).update(status=done, completed_at=now, updated_at=now)
        plan.last_contact_on = contact_day
        if plan.cadence_days:
            plan.next_due_on = contact_day + DAY * plan.cadence_days
        plan.save(update_fields=["last_contact_on", "next_due_on", "updated_at"])
    client_segment_last_contact_set(client=client, on=contact_day)
    if next_step_on is not None:
        PlannedContact.objects.create(
            client=client,
            assigned_to_id=client.owner_rm_id,
            reason=PlannedContact.Reason.FOLLOW_UP,
            due_on=next_step_on,
            channel=channel,
            source_key=f"follow_up:{interaction.pk}",
            source_date=next_step_on,
            note=next_step[:200],
        )
    _needs_open(actor=actor, by=by, client=client, kinds=needs, today=today, request=request)
    audit_action(
        "create",
        actor=actor,
        obj=interaction,
        request=request,
        detail={
            "client": client.external_id,
            "channel": channel,
            "occurred_at": occurred_at.isoformat(),
            "staff": by.code,
            "planned_contact": planned_contact.pk if planned_contact else None,
            "needs_found": needs,
            "next_step_on": next_step_on.isoformat() if next_step_on else None,
        },
    )
    return interaction


def _needs_open(
    *,
    actor: Actor,
    by: StaffProfile,
    client: Client,
    kinds: Sequence[str],
    today: datetime.date,
    request: HttpRequest | None,
) -> None:
    """Open the needs found that the client has not open yet.

    A kind never recorded is created through ``customers.services.need_create`` as the
    staff member who found it, when their role lets them record needs; otherwise (an
    integration naming someone outside the client's team) it is created here, on the
    integration's authority, and audited the same way. A kind recorded earlier and
    marked addressed is opened again.
    """
    if not kinds:
        return
    existing = dict(Need.objects.filter(client=client, kind__in=kinds).values_list("kind", "pk"))
    reopened = Need.objects.filter(pk__in=existing.values(), is_open=False)
    for need in reopened:
        audit_action(
            "update",
            actor=actor,
            obj=need,
            request=request,
            detail={"client": client.external_id, "is_open": [False, True]},
        )
    reopened.update(is_open=True, identified_on=today, updated_at=timezone.now())
    finder = actor if not actor.is_integration else Actor.for_staff(by)
    may_record = Section.NEEDS in client_editable_sections(actor=finder, client=client)
    for kind in kinds:
        if kind in existing:
            continue
        if may_record:
            need_create(actor=finder, client=client, kind=kind, request=request)
            continue
        need = Need.objects.create(client=client, kind=kind, identified_on=today)
        audit_action(
            "create", actor=actor, obj=need, request=request, detail={"client": client.external_id}
        )


# --- Planned contacts by hand -----------------------------------------------------------------


@transaction.atomic
def planned_contact_create(
    *,
    actor: Actor,
    client: Client,
    reason: str,
    due_on: datetime.date,
    channel: str = "",
    note: str = "",
    request: HttpRequest | None = None,
) -> PlannedContact:
    """Plan a contact by hand (a campaign call, a follow-up…) for the client's owner RM.

    Who: as for ``interaction_log`` (``Client.DoesNotExist`` outside the actor's
    scope). Refused with ``ValidationError`` by field: a reason the night owns
    (cadence, maturity) or an unknown one, no due date or one in the past, an unknown
    channel, a note over 200 characters. Source ``manual:<uuid>``. Audited.
    """
    client_access(actor=actor, client=client)
    token_write_check(actor)
    note = (note or "").strip()
    errors: dict[str, Any] = {}
    if reason not in MANUAL_REASONS:
        errors["reason"] = _("Choose the reason for the contact.")
    if due_on is None:
        errors["due_on"] = _("Give the date the contact is due.")
    elif due_on < tenant_today(client.tenant_id):
        errors["due_on"] = _("The due date cannot be in the past.")
    if channel and channel not in Channel.values:
        errors["channel"] = _("Unknown channel.")
    if len(note) > 200:
        errors["note"] = _("The note is too long (200 characters at most).")
    if errors:
        raise ValidationError(errors)
    contact = PlannedContact.objects.create(
        client=client,
        assigned_to_id=client.owner_rm_id,
        reason=reason,
        due_on=due_on,
        channel=channel or "",
        source_key=f"manual:{uuid.uuid4().hex}",
        note=note,
    )
    audit_action(
        "create",
        actor=actor,
        obj=contact,
        request=request,
        detail={"client": client.external_id, "reason": reason, "due_on": due_on.isoformat()},
    )
    return contact


@transaction.atomic
def planned_contact_reschedule(
    *,
    actor: Actor,
    planned_contact: PlannedContact,
    due_on: datetime.date,
    reason: str,
    request: HttpRequest | None = None,
) -> PlannedContact:
    """Move an open planned contact to ``due_on``, for ``reason``.

    Who: anyone who may see the client (``PlannedContact.DoesNotExist`` otherwise).
    Refused with ``ValidationError``: a contact already done or cancelled, no reason
    (or one over 200 characters), no date or a date in the past. ``rescheduled_from``
    keeps the *first* original date however often it moves; an overdue contact moved
    to today or later is planned again. Audited (before → after).
    """
    contact = _contact_access(actor=actor, planned_contact=planned_contact)
    token_write_check(actor)
    reason = (reason or "").strip()
    if not contact.is_open:
        raise ValidationError(_("Only an open planned contact can be rescheduled."))
    errors: dict[str, Any] = {}
    if not reason:
        errors["reason"] = _("Give the reason for rescheduling.")
    elif len(reason) > 200:
        errors["reason"] = _("The reason is too long (200 characters at most).")
    if due_on is None:
        errors["due_on"] = _("Give the new due date.")
    elif due_on < tenant_today(contact.tenant_id):
        errors["due_on"] = _("The new due date cannot be in the past.")
    if errors:
        raise ValidationError(errors)
    before = contact.due_on
    if contact.rescheduled_from is None:
        contact.rescheduled_from = before
    contact.due_on = due_on
    contact.reschedule_reason = reason
    contact.status = PlannedContact.Status.PLANNED
    contact.save(
        update_fields=["due_on", "rescheduled_from", "reschedule_reason", "status", "updated_at"]
    )
    audit_action(
        "update",
        actor=actor,
        obj=contact,
        request=request,
        detail={
            "client": contact.client.external_id,
            "due_on": [before.isoformat(), due_on.isoformat()],
            "reason": reason,
        },
    )
    planned_contact.__dict__.update(
        {
            key: getattr(contact, key)
            for key in ("due_on", "rescheduled_from", "reschedule_reason", "status", "updated_at")
        }
    )
    return contact


@transaction.atomic
def planned_contact_cancel(
    *,
    actor: Actor,
    planned_contact: PlannedContact,
    reason: str,
    request: HttpRequest | None = None,
) -> PlannedContact:
    """Cancel an open planned contact, for ``reason`` (kept in ``cancel_reason``).

    Who and refusals as for ``planned_contact_reschedule``. The night never recreates a
    cancelled contact: its source stays taken. Audited.
    """
    contact = _contact_access(actor=actor, planned_contact=planned_contact)
    token_write_check(actor)
    reason = (reason or "").strip()
    if not contact.is_open:
        raise ValidationError(_("Only an open planned contact can be cancelled."))
    if not reason:
        raise ValidationError({"reason": _("Give the reason for cancelling.")})
    if len(reason) > 200:
        raise ValidationError({"reason": _("The reason is too long (200 characters at most).")})
    before = contact.status
    contact.status = PlannedContact.Status.CANCELLED
    contact.cancel_reason = reason
    contact.save(update_fields=["status", "cancel_reason", "updated_at"])
    audit_action(
        "update",
        actor=actor,
        obj=contact,
        request=request,
        detail={
            "client": contact.client.external_id,
            "status": [before, contact.status],
            "reason": reason,
        },
    )
    planned_contact.status, planned_contact.cancel_reason = contact.status, reason
    return contact


# --- Calendar feeds --------------------------------------------------------------------------


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def calendar_feed_create(*, staff: StaffProfile) -> tuple[CalendarFeed, str]:
    """A new secret calendar URL for ``staff``; returns the feed and the secret, which
    is shown once and never stored (only its SHA-256). The old secret stops working.
    Audited."""
    if staff is None or staff.tenant_id != current_tenant_id():
        raise StaffProfile.DoesNotExist("No such staff member.")
    secret = secrets.token_urlsafe(32)
    feed, created = CalendarFeed.objects.select_for_update().update_or_create(
        staff=staff, defaults={"secret_hash": _secret_hash(secret), "last_used_at": None}
    )
    audit_record(
        action="create" if created else "update",
        user=staff.user,
        obj=feed,
        detail={"staff": staff.code, "replaced": not created},
    )
    return feed, secret


def calendar_feed_resolve(*, tenant_slug: str, secret: str) -> CalendarFeed | None:
    """The calendar feed of a secret URL ``/…/<tenant_slug>/<secret>``, or None.

    For an anonymous request (a calendar app): called inside the request's transaction
    (``TenantMiddleware``), it binds the request to the bank named by the slug
    (``vipcrm.tenancy.activate_tenant``, as token authentication does) and looks the
    feed up by the secret's hash, compared again in constant time. A wrong slug, a
    wrong or replaced secret, an inactive bank or staff member: None, the same for all.
    ``last_used_at`` is updated (at most once a minute).
    """
    if not tenant_slug or not secret:
        return None
    tenant = Tenant.objects.filter(slug=tenant_slug, is_active=True).first()
    if tenant is None:
        return None
    activate_tenant(tenant.pk)
    wanted = _secret_hash(secret)
    feed = (
        CalendarFeed.objects.select_related("staff")
        .filter(secret_hash=wanted, staff__is_active=True)
        .first()
    )
    if feed is None or not hmac.compare_digest(feed.secret_hash, wanted):
        return None
    now = timezone.now()
    if feed.last_used_at is None or (now - feed.last_used_at).total_seconds() > 60:
        CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)
        feed.last_used_at = now
    return feed
