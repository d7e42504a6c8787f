"""``seed_demo``: two demo banks with branch trees, a login per role, and many clients.

Idempotent: tenants are found by slug, branches and staff by code, logins by username,
clients by customer number; only what is missing is created, so re-running adds nothing
and ``--clients 1000`` after a 200-client run adds the other 800. The data itself comes
from ``vipcrm.demo`` and is the same on every run.

Clients are written a block of ``demo.CLIENT_BLOCK`` at a time with ``bulk_create``, each
block in its own ``tenant_context`` transaction: progress is durable, memory stays flat,
and a million clients per tenant load in minutes.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Sequence
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import reset_queries

from customers.models import Client, ClientTeamMember
from vipcrm import demo
from vipcrm.models import Branch, StaffProfile, Tenant, User
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context

BATCH_SIZE = 5_000
PROGRESS_EVERY = 100_000
SECONDARY_RM_SHARE = Decimal("30")
ADVISOR_SHARE = Decimal("0")
APP_URL = "http://127.0.0.1:8000/"


class Command(BaseCommand):
    help = "Create (or complete) the two demo banks, their staff logins and clients."

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
        # Hashing is deliberately slow; one hash shared by every demo login is enough.
        password_hash = make_password(demo.DEMO_PASSWORD)
        for spec in demo.DEMO_TENANTS:
            self._seed_tenant(spec, clients, password_hash)
        self._print_logins()

    def _say(self, line: str = "") -> None:
        if self.verbosity > 0:
            self.stdout.write(line)

    def _seed_tenant(self, spec: demo.TenantSpec, clients: int, password_hash: str) -> None:
        started = time.monotonic()
        tenant, tenant_created = Tenant.objects.get_or_create(
            slug=spec.slug, defaults={"name": spec.name, "time_zone": spec.time_zone}
        )
        with tenant_context(tenant):
            branches, new_branches = ensure_branches(spec)
            staff, new_staff = ensure_staff(tenant, spec, branches, password_hash)
        placements = client_placements(spec, branches, staff)
        new_clients, new_team = self._seed_clients(tenant, spec, placements, clients)
        self._say(
            f"{spec.slug} {spec.name}: tenant {'created' if tenant_created else 'exists'}, "
            f"+{new_branches} branches, +{new_staff} staff, +{new_clients:,} clients, "
            f"+{new_team:,} team members ({time.monotonic() - started:.1f} s)"
        )

    def _seed_clients(
        self,
        tenant: Tenant,
        spec: demo.TenantSpec,
        placements: Sequence[demo.Placement],
        limit: int,
    ) -> tuple[int, int]:
        started = time.monotonic()
        new_clients = new_team = 0
        for block in range(demo.block_count(limit)):
            indices = demo.block_range(block, limit)
            # One transaction per block: a crash keeps every finished block, and the
            # re-run skips them with one indexed range query each.
            with tenant_context(tenant):
                missing = missing_external_ids(indices)
                if missing:
                    seeds = [
                        seed
                        for seed in demo.client_block(spec.seed, block, limit, placements)
                        if seed.external_id in missing
                    ]
                    created, team = insert_clients(tenant, seeds)
                    new_clients += created
                    new_team += team
            # Under DEBUG every query's SQL is kept (up to 9,000 of them); multi-megabyte
            # INSERTs would pile up to gigabytes, so drop them block by block.
            reset_queries()
            done = indices[-1]
            if self.show_progress and done % PROGRESS_EVERY == 0:
                self._say(
                    f"  {spec.slug}: {done:,}/{limit:,} clients checked, {new_clients:,} new "
                    f"({time.monotonic() - started:.1f} s)"
                )
        return new_clients, new_team

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


def missing_external_ids(indices: range) -> set[str]:
    """Customer numbers of ``indices`` not in the current tenant yet (one range query)."""
    wanted = {demo.external_id(index) for index in indices}
    existing = Client.objects.filter(
        external_id__gte=demo.external_id(indices[0]),
        external_id__lte=demo.external_id(indices[-1]),
    ).values_list("external_id", flat=True)
    return wanted.difference(existing)


def insert_clients(tenant: Tenant, seeds: Sequence[demo.ClientSeed]) -> tuple[int, int]:
    """Bulk-insert clients and their team members; returns how many of each."""
    clients = [
        Client(
            tenant_id=tenant.pk,
            external_id=seed.external_id,
            name=seed.name,
            gender=seed.gender,
            birth_date=seed.birth_date,
            id_number=seed.id_number,
            mobile=seed.mobile,
            email=seed.email,
            occupation=seed.occupation,
            is_entrepreneur=seed.is_entrepreneur,
            branch_id=seed.branch,
            owner_rm_id=seed.owner_rm,
        )
        for seed in seeds
    ]
    Client.objects.bulk_create(clients, batch_size=BATCH_SIZE)
    pks = client_pks(clients)
    team = []
    for seed in seeds:
        if seed.secondary_rm is not None:
            team.append(
                ClientTeamMember(
                    tenant_id=tenant.pk,
                    client_id=pks[seed.external_id],
                    staff_id=seed.secondary_rm,
                    role=ClientTeamMember.TeamRole.SECONDARY_RM,
                    credit_share=SECONDARY_RM_SHARE,
                )
            )
        if seed.advisor is not None:
            team.append(
                ClientTeamMember(
                    tenant_id=tenant.pk,
                    client_id=pks[seed.external_id],
                    staff_id=seed.advisor,
                    role=ClientTeamMember.TeamRole.ADVISOR,
                    credit_share=ADVISOR_SHARE,
                )
            )
    ClientTeamMember.objects.bulk_create(team, batch_size=BATCH_SIZE)
    return len(clients), len(team)


def client_pks(clients: Sequence[Client]) -> dict[str, int]:
    """Primary keys of just-inserted clients by customer number.

    SQLite and PostgreSQL return them from the bulk insert; any other backend costs one
    range query for the block.
    """
    if all(client.pk is not None for client in clients):
        return {client.external_id: client.pk for client in clients}
    numbers = sorted(client.external_id for client in clients)
    return dict(
        Client.objects.filter(
            external_id__gte=numbers[0], external_id__lte=numbers[-1]
        ).values_list("external_id", "pk")
    )


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
