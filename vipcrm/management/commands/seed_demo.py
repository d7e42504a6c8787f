"""``seed_demo``: two demo banks with branch trees, a login per role, many clients and
their money (tiers, products, FX rates, holdings, risk profiles, needs, life events,
held-away assets, relationships and referrals).

Idempotent: tenants are found by slug, branches and staff by code, logins by username,
clients by customer number, tiers and products by code, FX rates by currency and date;
only what is missing is created, so re-running adds nothing and ``--clients 1000`` after
a 200-client run adds the other 800. A client's money is all-or-nothing, keyed by its
holdings' contract numbers (``H`` + the client's digits + ``-n``): a client without any
demo holding gets the whole lot, including clients loaded before the demo had money.
The data itself comes from ``vipcrm.demo`` and ``customers.demo`` and is the same on
every run (dates are offsets from the tenant's today).

Clients are written a block of ``demo.CLIENT_BLOCK`` at a time with ``bulk_create``, each
block in its own ``tenant_context`` transaction: progress is durable, memory stays flat,
and a million clients per tenant load in minutes. Each block costs a fixed number of
queries, whatever its size. On PostgreSQL the loaded tables are analysed at the end.
"""

from __future__ import annotations

import datetime
import json
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, reset_queries
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from contact_plans import demo as contact_plans_demo
from contact_plans.models import ContactPlan, Interaction, PlannedContact
from customers import demo as money_demo
from customers.aum import client_aum_refresh
from customers.models import (
    Client,
    ClientTeamMember,
    FxRate,
    HeldAwayAsset,
    Holding,
    LifeEvent,
    Need,
    Product,
    Relationship,
    RiskAssessment,
    Tier,
)
from customers.name_search import client_name_grams_write
from kpi import demo as kpi_demo
from kpi.models import CoachingNote, Complaint, KpiSnapshot, SatisfactionSurvey, TimeLog
from sales_pipeline import demo as sales_pipeline_demo
from sales_pipeline.models import Opportunity
from segmentation import demo as segmentation_demo
from segmentation.models import (
    AumSnapshot,
    RmCapacity,
    ServiceStandard,
    TierChange,
    TieringPolicy,
    TierOverride,
)
from vipcrm import demo
from vipcrm.dbroles import as_schema_owner
from vipcrm.models import Branch, StaffProfile, Tenant, User
from vipcrm.roles import Role
from vipcrm.tenancy import current_tenant_id, tenant_context

PROGRESS_EVERY = 100_000
SECONDARY_RM_SHARE = Decimal("30")
ADVISOR_SHARE = Decimal("0")
APP_URL = "http://127.0.0.1:8000/"


@dataclass(frozen=True)
class Book:
    """What the client blocks of one tenant are generated and written with."""

    tenant: Tenant
    spec: demo.TenantSpec
    placements: Sequence[demo.Placement]
    products: dict[str, int]  # product code → pk
    today: datetime.date


class Command(BaseCommand):
    help = "Create (or complete) the two demo banks, their staff logins, clients and money."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--clients", type=int, default=200, help="Clients per tenant (default: 200)."
        )
        parser.add_argument("--quiet", action="store_true", help="Do not print progress.")

    def handle(self, *args, clients: int, quiet: bool, verbosity: int = 1, **options) -> None:
        if clients < 0:
            raise CommandError("--clients cannot be negative.")
        self.verbosity = verbosity
        self.show_progress = verbosity > 0 and not quiet
        self.loaded: set[type[models.Model]] = set()
        # Hashing is deliberately slow; one hash shared by every demo login is enough.
        password_hash = make_password(demo.DEMO_PASSWORD)
        for spec in demo.DEMO_TENANTS:
            self._seed_tenant(spec, clients, password_hash)
        self._analyze()
        self._print_logins()

    def _say(self, line: str = "") -> None:
        if self.verbosity > 0:
            self.stdout.write(line)

    def _seed_tenant(self, spec: demo.TenantSpec, clients: int, password_hash: str) -> None:
        started = time.monotonic()
        tenant, tenant_created = Tenant.objects.get_or_create(
            slug=spec.slug, defaults={"name": spec.name, "time_zone": spec.time_zone}
        )
        made: Counter[type[models.Model]] = Counter()
        # Maturities, risk assessments and FX rates are dated from the bank's own today.
        today = timezone.localdate(timezone=ZoneInfo(tenant.time_zone))
        with tenant_context(tenant):
            branches, made[Branch] = ensure_branches(spec)
            staff, made[StaffProfile] = ensure_staff(tenant, spec, branches, password_hash)
            made[Tier] = ensure_tiers()
            products, made[Product] = ensure_products()
            made[FxRate] = ensure_fx_rates(today)
        book = Book(tenant, spec, client_placements(spec, branches, staff), products, today)
        made += self._seed_clients(book, clients)
        # After the money: history, re-tiering, overrides and capacities need it.
        with tenant_context(tenant):
            segmented = segmentation_demo.segmentation_seed(spec=spec, staff=staff, today=today)
        made += segmented
        # After segmentation: the plans follow the tiers of today's re-tiering.
        with tenant_context(tenant):
            planned = contact_plans_demo.contact_plans_seed(spec=spec, staff=staff, today=today)
        made += planned
        # After the contact plans: the night's maturity alerts become opportunities.
        with tenant_context(tenant):
            pipeline = sales_pipeline_demo.sales_pipeline_seed(spec=spec, staff=staff, today=today)
        made += pipeline
        # After the pipeline: the KPI inputs, then the snapshots that read all of the above.
        with tenant_context(tenant):
            kpis = kpi_demo.kpi_seed(spec=spec, staff=staff, today=today)
        made += kpis
        self.loaded.update(model for model, count in made.items() if count)
        self._say(
            f"{spec.slug} {spec.name}: tenant {'created' if tenant_created else 'exists'}, "
            f"+{made[Branch]} branches, +{made[StaffProfile]} staff, "
            f"+{made[Client]:,} clients, +{made[ClientTeamMember]:,} team members "
            f"({time.monotonic() - started:.1f} s)"
        )
        self._say(
            f"  +{made[Tier]} tiers, +{made[Product]} products, +{made[FxRate]} FX rates, "
            f"+{made[Holding]:,} holdings, +{made[RiskAssessment]:,} risk assessments, "
            f"+{made[Need]:,} needs, +{made[LifeEvent]:,} life events, "
            f"+{made[HeldAwayAsset]:,} held-away assets, +{made[Relationship]:,} relationships"
        )
        self._say(
            f"  +{segmented[TieringPolicy]} tiering policy, +{segmented[ServiceStandard]} service "
            f"standards, +{segmented[AumSnapshot]:,} AUM snapshots, "
            f"+{segmented[TierChange]:,} tier changes, +{segmented[TierOverride]} overrides, "
            f"+{segmented[RmCapacity]} RM capacities"
        )
        self._say(
            f"  +{planned[ContactPlan]:,} contact plans, +{planned[PlannedContact]:,} planned "
            f"contacts, +{planned[Interaction]:,} interactions"
        )
        self._say(f"  +{pipeline[Opportunity]:,} opportunities in the sales pipeline")
        self._say(
            f"  +{kpis[TimeLog]:,} time logs, +{kpis[SatisfactionSurvey]} surveys, "
            f"+{kpis[Complaint]} complaints, +{kpis[CoachingNote]} coaching notes, "
            f"+{kpis[KpiSnapshot]:,} KPI snapshots"
        )
        with tenant_context(tenant):
            self._say(f"  clients by tier: {tier_summary()}")

    def _seed_clients(self, book: Book, limit: int) -> Counter[type[models.Model]]:
        started = time.monotonic()
        made: Counter[type[models.Model]] = Counter()
        for block in range(demo.block_count(limit)):
            # One transaction per block: a crash keeps every finished block, and the
            # re-run skips them with two indexed range queries each.
            with tenant_context(book.tenant):
                made += seed_block(book, block, limit)
            # Under DEBUG every query's SQL is kept (up to 9,000 of them); multi-megabyte
            # INSERTs would pile up to gigabytes, so drop them block by block.
            reset_queries()
            done = demo.block_range(block, limit)[-1]
            if self.show_progress and done % PROGRESS_EVERY == 0:
                self._say(
                    f"  {book.spec.slug}: {done:,}/{limit:,} clients checked, "
                    f"{made[Client]:,} new ({time.monotonic() - started:.1f} s)"
                )
        return made

    def _analyze(self) -> None:
        tables = sorted(model._meta.db_table for model in self.loaded)
        if connection.vendor != "postgresql" or not tables:
            return
        started = time.monotonic()
        skipped = analyze_tables(tables)
        done = len(tables) - len(skipped)
        if done:
            self._say(f"ANALYZE: {done} tables ({time.monotonic() - started:.1f} s)")
        if skipped:
            self._say(
                f"ANALYZE skipped for {', '.join(skipped)}: only their owner may analyse them "
                "(set DATABASE_OWNER_URL, or leave it to autovacuum)."
            )

    def _print_logins(self) -> None:
        rows = [("username", "role", "branch", "tenant", "password")]
        for spec in demo.DEMO_TENANTS:
            names = {b.code: b.name for b in spec.branches}
            rows.extend(
                (
                    spec.username(staff),
                    str(staff.role.label),
                    names[staff.branch],
                    spec.name,
                    demo.DEMO_PASSWORD,
                )
                for staff in spec.staff
            )
        self._say()
        self._say("Demo logins (all share one password):")
        for line in format_table(rows):
            self._say(f"  {line}")
        self._say()
        self._say(f"Run `python manage.py runserver` and sign in at {APP_URL}")


def ensure_branches(spec: demo.TenantSpec) -> tuple[dict[str, Branch], int]:
    """The tenant's branches by code, creating missing ones (parents come first)."""
    branches = {branch.code: branch for branch in Branch.objects.all()}
    created = 0
    for branch_spec in spec.branches:
        if branch_spec.code in branches:
            continue
        parent = branches[branch_spec.parent] if branch_spec.parent else None
        branches[branch_spec.code] = Branch.objects.create(
            code=branch_spec.code, name=branch_spec.name, parent=parent
        )
        created += 1
    return branches, created


def ensure_staff(
    tenant: Tenant,
    spec: demo.TenantSpec,
    branches: dict[str, Branch],
    password_hash: str,
) -> tuple[dict[str, StaffProfile], int]:
    """The tenant's demo staff by code, creating missing logins and profiles."""
    by_username = {spec.username(staff): staff for staff in spec.staff}
    users = {user.username: user for user in User.objects.filter(username__in=by_username)}
    for user in users.values():
        # Usernames are global: never hand another bank's login to this one.
        if user.tenant_id != tenant.pk:
            raise CommandError(f"Login {user.username!r} exists outside {spec.slug}; not reused.")
    for username, staff_spec in by_username.items():
        if username not in users:
            users[username] = User.objects.create(
                username=username,
                password=password_hash,
                tenant=tenant,
                last_name=staff_spec.name[:1],
                first_name=staff_spec.name[1:],
                email=spec.email(staff_spec),
            )
    profiles = {profile.code: profile for profile in StaffProfile.objects.all()}
    created = 0
    for staff_spec in spec.staff:
        if staff_spec.code in profiles:
            continue
        profiles[staff_spec.code] = StaffProfile.objects.create(
            user=users[spec.username(staff_spec)],
            code=staff_spec.code,
            name=staff_spec.name,
            branch=branches[staff_spec.branch],
            role=staff_spec.role,
            email=spec.email(staff_spec),
        )
        created += 1
    return profiles, created


def client_placements(
    spec: demo.TenantSpec,
    branches: dict[str, Branch],
    staff: dict[str, StaffProfile],
) -> list[demo.Placement]:
    """Each 支行 with its RMs, the RMs of its 分行 and the 分行's wealth advisors.

    Built from the spec (not from whatever the demo users changed since), in the spec's
    order, so the generated book is the same on every run.
    """

    def staff_pks(role: Role, branch_codes: set[str]) -> tuple[int, ...]:
        return tuple(
            staff[s.code].pk for s in spec.staff if s.role == role and s.branch in branch_codes
        )

    placements = []
    for sub in spec.sub_branches():
        siblings = {b.code for b in spec.branches if b.parent == sub.parent}
        placements.append(
            demo.Placement(
                branch=branches[sub.code].pk,
                rms=staff_pks(Role.RM, {sub.code}),
                peer_rms=staff_pks(Role.RM, siblings),
                advisors=staff_pks(Role.ADVISOR, {sub.parent} if sub.parent else set()),
                region=sub.region,
            )
        )
    return placements


# --- Tiers, products, FX rates --------------------------------------------------------


def ensure_tiers() -> int:
    """The four demo tiers, created when their code is missing; returns how many.

    A bank that configured its own tier on a demo tier's rank keeps it: that demo tier
    is left out rather than fail the rank's uniqueness.
    """
    existing = list(Tier.objects.values_list("code", "rank"))
    codes, ranks = {code for code, _ in existing}, {rank for _, rank in existing}
    missing = [
        Tier(code=spec.code, name=spec.name, rank=spec.rank, aum_floor=spec.aum_floor)
        for spec in money_demo.TIERS
        if spec.code not in codes and spec.rank not in ranks
    ]
    Tier.objects.bulk_create(missing)
    return len(missing)


def ensure_products() -> tuple[dict[str, int], int]:
    """The demo catalogue by code (code → pk), creating missing products."""
    existing = set(Product.objects.values_list("code", flat=True))
    missing = [
        Product(
            code=spec.code,
            name=spec.name,
            category=spec.category,
            risk_level=spec.risk_level,
            currency=spec.currency,
        )
        for spec in money_demo.PRODUCTS
        if spec.code not in existing
    ]
    Product.objects.bulk_create(missing)
    codes = [spec.code for spec in money_demo.PRODUCTS]
    return dict(Product.objects.filter(code__in=codes).values_list("code", "pk")), len(missing)


def ensure_fx_rates(today: datetime.date) -> int:
    """USD, HKD and EUR to CNY for the last ``FX_DAYS`` days, creating missing ones."""
    rates = money_demo.fx_rates(today)
    existing = set(
        FxRate.objects.filter(
            currency__in=money_demo.FX_BASE, date__gte=min(day for _, day, _ in rates)
        ).values_list("currency", "date")
    )
    missing = [
        FxRate(currency=currency, date=day, rate_to_cny=rate)
        for currency, day, rate in rates
        if (currency, day) not in existing
    ]
    FxRate.objects.bulk_create(missing)
    return len(missing)


# --- Client blocks ---------------------------------------------------------------------


class KnownClient(NamedTuple):
    pk: int
    risk_level: str
    risk_assessed_on: datetime.date | None
    preferred_channel: str
    preferred_contact_time: str
    referrer_id: int | None


def seed_block(book: Book, block: int, limit: int) -> Counter[type[models.Model]]:
    """Complete one block of customer numbers: missing clients, then missing money.

    Two range queries find what exists; a block with nothing missing stops there.
    """
    indices = demo.block_range(block, limit)
    known = known_clients(indices)
    with_money = clients_with_money(indices)
    unfunded = [
        index
        for index in indices
        if (row := known.get(demo.external_id(index))) is None or row.pk not in with_money
    ]
    made: Counter[type[models.Model]] = Counter()
    if not unfunded:
        return made
    # Always the whole block from its first client, keeping only what is missing, so
    # each client's draws never depend on what is already loaded.
    seeds = list(demo.client_block(book.spec.seed, block, limit, book.placements))
    money = {m.index: m for m in money_demo.money_block(book.spec.seed, block, seeds, book.today)}
    pks = {external_id: row.pk for external_id, row in known.items()}
    new = [seed for seed in seeds if seed.external_id not in known]
    if new:
        new_pks, made[Client], made[ClientTeamMember] = insert_clients(book.tenant, new, money)
        pks.update(new_pks)
    made += insert_money(book, [money[index] for index in unfunded], pks, known)
    funded = [pks[money[index].external_id] for index in unfunded]
    # 20,000 ids per block stay below SQLite's 32,766 host parameters (its default
    # since 3.32); PostgreSQL has no such limit.
    client_aum_refresh(client_ids=funded, on=book.today)
    assign_initial_tiers(funded)
    return made


def known_clients(indices: range) -> dict[str, KnownClient]:
    """The clients of ``indices`` already in the current tenant (one range query)."""
    rows = Client.objects.filter(
        external_id__gte=demo.external_id(indices[0]),
        external_id__lte=demo.external_id(indices[-1]),
    ).values_list(
        "external_id",
        "pk",
        "risk_level",
        "risk_assessed_on",
        "preferred_channel",
        "preferred_contact_time",
        "referrer_id",
    )
    return {external_id: KnownClient(*rest) for external_id, *rest in rows}


def clients_with_money(indices: range) -> set[int]:
    """Pks of the clients of ``indices`` holding any demo holding (one range query)."""
    first = money_demo.holding_external_id(demo.external_id(indices[0]), 1)
    last = money_demo.holding_external_id(demo.external_id(indices[-1]), 9)
    return set(
        Holding.objects.filter(external_id__gte=first, external_id__lte=last)
        .order_by()  # else the model's ordering columns join the DISTINCT
        .values_list("client_id", flat=True)
        .distinct()
    )


def insert_clients(
    tenant: Tenant,
    seeds: Sequence[demo.ClientSeed],
    money: dict[int, money_demo.MoneySeed] | None = None,
) -> tuple[dict[str, int], int, int]:
    """Insert clients (with their risk profile and contact preferences from ``money``)
    and their team members; returns the new pks by customer number and how many clients
    and team members were created."""
    money = money or {}
    rows = []
    for seed in seeds:
        m = money.get(seed.index)
        rows.append(
            (
                seed.external_id,
                seed.name,
                seed.gender,
                seed.birth_date,
                seed.id_number,
                seed.mobile,
                seed.email,
                seed.occupation,
                seed.is_entrepreneur,
                seed.branch,
                seed.owner_rm,
                m.risk_level if m else "",
                m.risk_assessed_on if m else None,
                m.preferred_channel if m else "",
                m.preferred_contact_time if m else "",
                False,
                False,  # lunar_birthday: contact_plans.demo picks who celebrates it
                # What the holdings inserted next come to: client_aum_refresh, the
                # authority, then rewrites only the clients it disagrees with (none, so
                # far). Rewriting a fresh client row costs as much as inserting it (ten
                # indexes): a fifth of a block's time on PostgreSQL.
                m.aum_cny if m else Decimal("0"),
            )
        )
    inserted = insert_rows(
        Client,
        (
            "external_id",
            "name",
            "gender",
            "birth_date",
            "id_number",
            "mobile",
            "email",
            "occupation",
            "is_entrepreneur",
            "branch_id",
            "owner_rm_id",
            "risk_level",
            "risk_assessed_on",
            "preferred_channel",
            "preferred_contact_time",
            "is_confidential",
            "lunar_birthday",
            "aum_cny",
        ),
        rows,
        returning=("external_id", "id"),
    )
    pks = dict(inserted)
    client_name_grams_write({pks[s.external_id]: s.name for s in seeds}, replace=False)
    team = []
    for seed in seeds:
        if seed.secondary_rm is not None:
            team.append(
                (
                    pks[seed.external_id],
                    seed.secondary_rm,
                    ClientTeamMember.TeamRole.SECONDARY_RM.value,
                    SECONDARY_RM_SHARE,
                )
            )
        if seed.advisor is not None:
            team.append(
                (
                    pks[seed.external_id],
                    seed.advisor,
                    ClientTeamMember.TeamRole.ADVISOR.value,
                    ADVISOR_SHARE,
                )
            )
    insert_rows(ClientTeamMember, ("client_id", "staff_id", "role", "credit_share"), team)
    return pks, len(rows), len(team)


def insert_money(
    book: Book,
    funded: Sequence[money_demo.MoneySeed],
    pks: dict[str, int],
    known: dict[str, KnownClient],
) -> Counter[type[models.Model]]:
    """Insert the holdings, risk history, needs, life events, held-away assets and ties
    of clients without demo money (one statement per table); returns how many rows of
    each model.

    New clients got their risk profile and preferences on insert. A client that existed
    without money (loaded by an older demo, or whose holdings were removed) keeps what
    it has: only its blank profile fields are filled, and a kind of row it already has
    (needs, life events…) is not added again. That costs a few more queries per block,
    and only in blocks with such clients.
    """
    old = [m for m in funded if m.external_id in known]
    has = rows_of_clients([pks[m.external_id] for m in old])
    profiles = fill_profiles([(m, known[m.external_id]) for m in old])
    active, closed = Holding.Status.ACTIVE.value, Holding.Status.CLOSED.value
    holdings, assessments, needs, events, away, ties, referred = [], [], [], [], [], [], []
    for m in funded:
        client_id = pks[m.external_id]
        row = known.get(m.external_id)
        holdings.extend(
            (
                h.external_id,
                client_id,
                book.products[h.product],
                h.balance,
                h.currency,
                h.opened_on,
                h.matures_on,
                active if h.is_active else closed,
            )
            for h in m.holdings
        )
        if row is None or client_id in profiles:
            assessments.extend((client_id, level, on) for level, on in m.risk_history)
        if client_id not in has[Need]:
            needs.extend((client_id, n.kind, n.note, n.identified_on, n.is_open) for n in m.needs)
        if client_id not in has[LifeEvent]:
            events.extend((client_id, e.kind, e.occurs_on, e.note) for e in m.life_events)
        if client_id not in has[HeldAwayAsset]:
            away.extend(
                (client_id, a.kind, a.description, a.amount_cny, a.as_of) for a in m.held_away
            )
        related = pks.get(demo.external_id(m.related)) if m.related else None
        if related and client_id not in has[Relationship] and related not in has[Relationship]:
            ties.append((client_id, related, m.relationship))
        referrer = pks.get(demo.external_id(m.referrer)) if m.referrer else None
        if referrer and (row is None or row.referrer_id is None):
            referred.append((client_id, referrer))
    tables = (
        (Holding, holdings, ("external_id", "client_id", "product_id", "balance", "currency",
                             "opened_on", "matures_on", "status")),
        (RiskAssessment, assessments, ("client_id", "level", "assessed_on")),
        (Need, needs, ("client_id", "kind", "note", "identified_on", "is_open")),
        (LifeEvent, events, ("client_id", "kind", "occurs_on", "note")),
        (HeldAwayAsset, away, ("client_id", "kind", "description", "amount_cny", "as_of")),
        (Relationship, ties, ("client_id", "related_id", "kind")),
    )  # fmt: skip
    made: Counter[type[models.Model]] = Counter()
    for model, rows, columns in tables:
        insert_rows(model, columns, rows)
        made[model] = len(rows)
    # Referrers are earlier clients of the block: their pks exist only now.
    update_rows(Client, ("id", "referrer_id"), referred)
    return made


def insert_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    returning: Sequence[str] = (),
) -> list[tuple]:
    """INSERT ``rows`` (values in ``columns`` order) into the current tenant in ONE
    statement; returns the ``returning`` columns of the new rows.

    The rows travel as a single JSON parameter, as in ``customers.sync.rows_upsert``:
    ``bulk_create`` spends most of its time preparing every value of every model
    instance and, on SQLite, splits a block into hundreds of 999-parameter statements;
    this loads a block several times faster. ``tenant_id`` is always the current tenant,
    ``created_at``/``updated_at`` now. Every NOT NULL column without a database default
    must be given (checked), since model defaults do not apply here.
    """
    if not rows:
        return []
    stamped = ("tenant_id", "created_at", "updated_at")
    required = {
        f.column
        for f in model._meta.concrete_fields
        if not f.null and not f.primary_key and not f.generated and f.column not in stamped
    }
    if missing := required.difference(columns):
        raise ValueError(f"insert_rows({model.__name__}) lacks {', '.join(sorted(missing))}.")
    qn = connection.ops.quote_name
    select, source = _json_source(model, columns)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # Only quoted identifiers from the model's meta are interpolated; values are parameters.
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} "  # noqa: S608
        f"({', '.join(qn(c) for c in (*columns, *stamped))}) "
        f"SELECT {', '.join(select)}, %s, %s, %s FROM {source}"
    )
    if returning:
        sql += f" RETURNING {', '.join(qn(c) for c in returning)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [current_tenant_id(), now, now, _json_payload(rows)])
        return cursor.fetchall() if returning else []


def update_rows(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    """UPDATE ``columns[1:]`` (and ``updated_at``) of the current tenant's rows whose pk
    is each row's first value, in ONE statement (``UPDATE … FROM`` the JSON rows).

    ``bulk_update`` builds a CASE per field over every pk in Python, slower than the
    whole insert of the block; this does not.
    """
    if not rows:
        return
    qn = connection.ops.quote_name
    table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
    select, source = _json_source(model, columns)
    named = ", ".join(f"{expr} AS {qn(c)}" for expr, c in zip(select, columns, strict=True))
    sets = ", ".join(f"{qn(c)} = j.{qn(c)}" for c in columns[1:])
    # SQLite would drive the join from the tenant index and read all the JSON rows for
    # every client of the tenant (minutes for a block); a unary plus keeps that index
    # out, so it looks each JSON row's client up by pk instead.
    tenant = f"{'+' if connection.vendor == 'sqlite' else ''}{table}.{qn('tenant_id')}"
    sql = (
        f"UPDATE {table} SET {sets}, {qn('updated_at')} = %s "  # noqa: S608  (as above)
        f"FROM (SELECT {named} FROM {source}) AS j "
        f"WHERE {table}.{pk} = j.{qn(columns[0])} AND {tenant} = %s"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, _json_payload(rows), current_tenant_id()])


def _json_source(model: type[models.Model], columns: Sequence[str]) -> tuple[list[str], str]:
    """The SELECT list and FROM clause that read ``columns`` out of one JSON parameter
    (an array of arrays), typed as the model's columns on PostgreSQL."""
    if connection.vendor == "postgresql":
        fields = {f.column: f for f in model._meta.concrete_fields}
        select = [
            f"(r.v->>{i})::{fields[column].cast_db_type(connection)}"
            for i, column in enumerate(columns)
        ]
        return select, "json_array_elements(%s::json) AS r(v)"
    return [f"json_extract(r.value, '$[{i}]')" for i in range(len(columns))], "json_each(%s) AS r"


def _json_payload(rows: Sequence[Sequence[object]]) -> str:
    return json.dumps(rows, default=_json_value, ensure_ascii=False, separators=(",", ":"))


def _json_value(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be written as demo data")


def rows_of_clients(client_ids: Sequence[int]) -> dict[type[models.Model], set[int]]:
    """Which of ``client_ids`` already have needs, life events, held-away assets or ties
    (one query per kind; none when there are no such clients)."""
    has: dict[type[models.Model], set[int]] = {
        model: set() for model in (Need, LifeEvent, HeldAwayAsset, Relationship)
    }
    if not client_ids:
        return has
    for model in (Need, LifeEvent, HeldAwayAsset):
        has[model] = set(
            model.objects.filter(client_id__in=client_ids)
            .order_by()
            .values_list("client_id", flat=True)
            .distinct()
        )
    ties = Relationship.objects.filter(
        models.Q(client_id__in=client_ids) | models.Q(related_id__in=client_ids)
    ).values_list("client_id", "related_id")
    has[Relationship] = {pk for pair in ties for pk in pair}
    return has


def fill_profiles(old: Iterable[tuple[money_demo.MoneySeed, KnownClient]]) -> set[int]:
    """Fill the blank risk profile and contact preferences of existing clients (one
    UPDATE); returns the pks whose risk profile came from the demo."""
    updates, risk_from_demo = [], set()
    for m, row in old:
        takes_risk = not row.risk_level and m.risk_level != ""
        if takes_risk:
            risk_from_demo.add(row.pk)
        updates.append(
            (
                row.pk,
                m.risk_level if takes_risk else row.risk_level,
                m.risk_assessed_on if takes_risk else row.risk_assessed_on,
                row.preferred_channel or m.preferred_channel,
                row.preferred_contact_time or m.preferred_contact_time,
            )
        )
    update_rows(
        Client,
        ("id", "risk_level", "risk_assessed_on", "preferred_channel", "preferred_contact_time"),
        updates,
    )
    return risk_from_demo


def assign_initial_tiers(client_ids: Sequence[int]) -> int:
    """Set the tier of ``client_ids`` from their ``aum_cny`` and the tenant's floors.

    Demo initial state only: one UPDATE giving each client the highest tier whose floor
    its current AUM reaches (none below the lowest). The real re-tiering (average daily
    AUM over N days, hysteresis, overrides, history) is the nightly job's, coming later.
    """
    highest = Subquery(
        Tier.objects.filter(aum_floor__lte=OuterRef("aum_cny"))
        .order_by("-aum_floor", "-rank")
        .values("pk")[:1]
    )
    # Only clients whose tier changes are written (0 stands for "no tier"; pks are > 0).
    return (
        Client.objects.filter(pk__in=client_ids)
        .alias(old_tier=Coalesce("tier_id", 0), new_tier=Coalesce(highest, 0))
        .exclude(old_tier=F("new_tier"))
        .update(tier=highest, updated_at=timezone.now())
    )


def tier_summary() -> str:
    """How the tenant's clients spread over its tiers, best first (one query)."""
    counts = dict(
        Client.objects.order_by()
        .values("tier_id")
        .annotate(n=Count("id"))
        .values_list("tier_id", "n")
    )
    parts = [f"{tier.name} {counts.get(tier.pk, 0):,}" for tier in Tier.objects.order_by("-rank")]
    parts.append(f"below the tiers {counts.get(None, 0):,}")
    return ", ".join(parts)


# --- Planner statistics ----------------------------------------------------------------


def analyze_tables(tables: Sequence[str]) -> list[str]:
    """ANALYZE ``tables`` on PostgreSQL; returns those that could not be analysed.

    A freshly bulk-loaded table has no statistics, and the planner then picks terrible
    plans until autovacuum gets to it. Only a table's owner (or the database's owner, a
    superuser, or from PostgreSQL 17 a role with MAINTAIN) may analyse it; anyone else
    gets a WARNING and the table is silently skipped. The application role owns nothing
    (``vipcrm.dbroles``), so what it may not analyse is analysed as the schema owner
    when ``DATABASE_OWNER_URL`` is set. That reconnects, so not inside a transaction
    (a test's): then those tables are reported skipped.
    """
    if connection.vendor != "postgresql":
        return []
    mine = analysable(tables)
    _analyze(mine)
    rest = [table for table in tables if table not in mine]
    if not rest or not getattr(settings, "DATABASE_OWNER", None) or connection.in_atomic_block:
        return rest
    with as_schema_owner():
        _analyze(rest)
    return []


def analysable(tables: Sequence[str]) -> set[str]:
    """Those of ``tables`` the current role may ANALYZE (one catalogue query)."""
    maintain = (
        " OR has_table_privilege(c.oid, 'MAINTAIN')" if connection.pg_version >= 170000 else ""
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT t.name FROM unnest(%s::text[]) AS t(name)
            JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name))
            JOIN pg_database d ON d.datname = current_database()
            WHERE pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE'){maintain}
            """,  # noqa: S608  (no user input: a fixed clause by server version)
            [list(tables)],
        )
        return {name for (name,) in cursor.fetchall()}


def _analyze(tables: Iterable[str]) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


# --- Output ----------------------------------------------------------------------------


def _display_width(text: str) -> int:
    # Chinese characters take two terminal columns; plain len() would misalign the table.
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def format_table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(_display_width(row[col]) for row in rows) for col in range(len(rows[0]))]
    return [
        "  ".join(
            cell + " " * (width - _display_width(cell))
            for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    ]
