"""``manage.py seed_demo`` and the generators in ``vipcrm.demo``."""

from __future__ import annotations

import datetime
import random
import re
from collections import Counter
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import F
from django.utils import timezone

from contact_plans.models import Interaction
from customers import demo as money_demo
from customers.models import (
    RISK_VALIDITY_DAYS,
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
from customers.validators import id_number_error
from sales_pipeline.models import Opportunity
from sales_pipeline.services import PROSPECT_PREFIX
from vipcrm import demo
from vipcrm.management.commands import seed_demo
from vipcrm.models import Branch, StaffProfile, Tenant, User
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context, tenant_models

SLUGS = ("demo-a", "demo-b")
MOBILE = re.compile(r"^1(3\d|5[0-35-9]|8\d|9[135-9])\d{8}$")


def seed(clients: int = 40) -> str:
    out = StringIO()
    call_command("seed_demo", clients=clients, quiet=True, stdout=out)
    return out.getvalue()


def generated_clients():
    """The demo's generated core-banking clients: not the prospects its sales pipeline
    adds through a referral (numbered ``PROSPECT-…``, with no money of their own)."""
    return Client.objects.exclude(external_id__startswith=PROSPECT_PREFIX)


def generated_ties():
    """The demo's generated relationships: not a prospect's tie to its referrer."""
    return Relationship.objects.exclude(related__external_id__startswith=PROSPECT_PREFIX).exclude(
        client__external_id__startswith=PROSPECT_PREFIX
    )


def tenant(slug: str) -> Tenant:
    return Tenant.objects.get(slug=slug)


def counts() -> dict[str, int]:
    """Rows of every table the demo may write: each tenant-owned model, found by
    enumeration, so a table added later is counted too."""
    found = {"tenants": Tenant.objects.count(), "users": User.objects.count()}
    for slug in SLUGS:
        with tenant_context(tenant(slug)):
            for model in tenant_models():
                found[f"{slug}.{model.__name__}"] = model.objects.count()
    return found


def today(slug: str = "demo-a") -> datetime.date:
    return timezone.localdate(timezone=ZoneInfo(tenant(slug).time_zone))


def money_rows(slug: str) -> dict[str, list[tuple]]:
    """Everything the demo generates about the clients' money, in a stable order."""
    with tenant_context(tenant(slug)):
        return {
            "clients": list(
                generated_clients()
                .order_by("external_id")
                .values_list(
                    "external_id",
                    "aum_cny",
                    "tier__code",
                    "risk_level",
                    "risk_assessed_on",
                    "referrer__external_id",
                    "preferred_channel",
                    "preferred_contact_time",
                )
            ),
            "holdings": list(
                Holding.objects.order_by("external_id").values_list(
                    "external_id",
                    "client__external_id",
                    "product__code",
                    "balance",
                    "currency",
                    "opened_on",
                    "matures_on",
                    "status",
                )
            ),
            "risk": sorted(
                RiskAssessment.objects.values_list("client__external_id", "level", "assessed_on")
            ),
            "needs": sorted(
                Need.objects.values_list("client__external_id", "kind", "note", "identified_on")
            ),
            "events": sorted(
                LifeEvent.objects.values_list("client__external_id", "kind", "occurs_on", "note")
            ),
            "away": sorted(
                HeldAwayAsset.objects.values_list(
                    "client__external_id", "kind", "description", "amount_cny", "as_of"
                )
            ),
            "ties": sorted(
                generated_ties().values_list("client__external_id", "related__external_id", "kind")
            ),
        }


def client_rows(slug: str) -> list[tuple]:
    with tenant_context(tenant(slug)):
        return list(
            generated_clients()
            .order_by("external_id")
            .values_list(
                "pk", "external_id", "name", "gender", "birth_date", "mobile", "branch__code"
            )
        )


def is_valid_national_id(value: str) -> bool:
    """ISO 7064 MOD 11-2, derived independently of ``vipcrm.demo``'s weight table.

    The weight of the digit at position i (counted from the right, the check digit being
    position 1) is 2^(i-1) mod 11; the check value makes the weighted sum ≡ 1 (mod 11).
    """
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    digits = [10 if char == "X" else int(char) for char in value]
    total = sum(digit * pow(2, 17 - position, 11) for position, digit in enumerate(digits))
    return total % 11 == 1


# --- The command ----------------------------------------------------------------------


@pytest.mark.django_db
def test_creates_both_tenants_with_branch_trees_and_every_role():
    output = seed()

    for spec in demo.DEMO_TENANTS:
        bank = tenant(spec.slug)
        assert (bank.name, bank.time_zone) == (spec.name, "Asia/Shanghai")
        with tenant_context(bank):
            head = Branch.objects.get(parent=None)
            regionals = list(Branch.objects.filter(parent=head))
            assert len(regionals) == 2
            for regional in regionals:
                assert 2 <= regional.children.count() <= 3
            assert Branch.objects.count() == 1 + 2 + sum(r.children.count() for r in regionals)

            staff = list(StaffProfile.objects.select_related("user", "branch"))
            assert {s.role for s in staff} == set(Role.values)
            for member in staff:
                assert member.user.tenant_id == bank.pk
                assert member.user.check_password(demo.DEMO_PASSWORD)
                assert member.user.username.startswith(f"{spec.login_prefix}.")
                assert f"  {member.user.username} " in output
            roles_at = {(s.role, s.branch.parent_id) for s in staff}
            assert (Role.HEAD_OFFICE, None) in roles_at
            assert (Role.SUPERVISOR, head.pk) in roles_at  # a supervisor sits at a 分行
            # Every 支行 has an RM, so every client can have an owner there.
            for sub in Branch.objects.filter(parent__parent=head):
                assert sub.staff.filter(role=Role.RM).exists()

    assert "http://127.0.0.1:8000/" in output
    assert demo.DEMO_PASSWORD in output


@pytest.mark.django_db
def test_both_banks_reuse_branch_and_staff_codes():
    # Same codes in both tenants: the keys are per tenant, not global.
    seed(clients=0)
    codes = {}
    for slug in SLUGS:
        with tenant_context(tenant(slug)):
            codes[slug] = (
                set(Branch.objects.values_list("code", flat=True)),
                set(StaffProfile.objects.values_list("code", flat=True)),
            )
    (branches_a, staff_a), (branches_b, staff_b) = codes["demo-a"], codes["demo-b"]
    assert {"A000", "A100", "A101", "A200", "A201"} <= branches_a & branches_b
    assert {"800001", "801001", "801101"} <= staff_a & staff_b


@pytest.mark.django_db
def test_rerun_creates_nothing_and_changes_nothing():
    seed()
    before = counts()
    rows = client_rows("demo-a")

    output = seed()

    assert counts() == before
    assert client_rows("demo-a") == rows
    assert "+0 branches, +0 staff, +0 clients, +0 team members" in output


@pytest.mark.django_db
def test_more_clients_adds_only_the_missing(monkeypatch):
    # Small blocks, so growth crosses several blocks and a partly loaded one.
    monkeypatch.setattr(demo, "CLIENT_BLOCK", 16)
    seed(clients=20)
    first = client_rows("demo-b")

    first_money = money_rows("demo-b")

    seed(clients=50)

    grown = client_rows("demo-b")
    for slug in SLUGS:
        with tenant_context(tenant(slug)):
            assert generated_clients().count() == 50
    assert grown[:20] == first  # the first twenty untouched
    grown_money = money_rows("demo-b")
    first_twenty = {demo.external_id(i) for i in range(1, 21)}
    assert [h for h in grown_money["holdings"] if h[1] in first_twenty] == first_money["holdings"]
    assert {h[1] for h in grown_money["holdings"]} == {row[1] for row in grown}
    assert [row[1] for row in grown] == [demo.external_id(i) for i in range(1, 51)]


@pytest.mark.django_db
def test_a_missing_client_is_refilled_identically(monkeypatch):
    monkeypatch.setattr(demo, "CLIENT_BLOCK", 16)
    seed(clients=40)
    bank = tenant("demo-a")
    with tenant_context(bank):
        gone = generated_clients().get(external_id=demo.external_id(23))
        gone_data = (gone.name, gone.birth_date, gone.mobile, gone.branch_id, gone.owner_rm_id)
        gone.team_members.all().delete()
        gone.delete()

    seed(clients=40)

    with tenant_context(bank):
        back = generated_clients().get(external_id=demo.external_id(23))
        assert (back.name, back.birth_date, back.mobile, back.branch_id, back.owner_rm_id) == (
            gone_data
        )
        assert generated_clients().count() == 40


@pytest.mark.django_db
def test_clients_only_reference_their_own_tenants_branches_and_staff():
    seed(clients=300)

    for slug in SLUGS:
        bank = tenant(slug)
        with tenant_context(bank):
            clients = generated_clients().all()
            assert clients.count() == 300
            assert not clients.exclude(branch__tenant_id=bank.pk).exists()
            owned = clients.filter(owner_rm__isnull=False)
            assert not owned.exclude(owner_rm__tenant_id=bank.pk).exists()
            assert not owned.exclude(owner_rm__role=Role.RM).exists()
            assert not owned.exclude(owner_rm__branch=F("branch")).exists()
            # Clients are booked at 支行, never at head office or a 分行.
            assert not clients.filter(branch__parent__parent__isnull=True).exists()

            team = ClientTeamMember.objects.all()
            assert team.exists()
            assert not team.exclude(staff__tenant_id=bank.pk).exists()
            assert not team.exclude(client__tenant_id=bank.pk).exists()
            assert not team.filter(staff=F("client__owner_rm")).exists()
            shares = set(team.values_list("role", "credit_share").distinct())
            assert {(role, int(share)) for role, share in shares} <= {
                (ClientTeamMember.TeamRole.SECONDARY_RM, 30),
                (ClientTeamMember.TeamRole.ADVISOR, 0),
            }


@pytest.mark.django_db
def test_seeded_clients_look_real():
    seed(clients=300)

    with tenant_context(tenant("demo-a")):
        clients = list(generated_clients().all())
        for c in clients[:50]:
            c.full_clean()  # the model's own validators (ID number, mobile, email) accept it
    assert all(MOBILE.match(c.mobile) for c in clients)
    for c in clients:
        assert is_valid_national_id(c.id_number), c.id_number
        assert c.id_number[6:14] == c.birth_date.strftime("%Y%m%d")
        assert int(c.id_number[16]) % 2 == (1 if c.gender == "M" else 0)
    assert len({c.id_number for c in clients}) == len(clients)
    assert all(c.gender in ("M", "F") for c in clients)
    assert all(
        datetime.date(1950, 1, 1) <= c.birth_date <= datetime.date(2000, 12, 31) for c in clients
    )
    assert all(2 <= len(c.name) <= 4 for c in clients)
    assert all(c.occupation for c in clients)
    assert all(c.email == "" or re.fullmatch(r"[a-z]+\.[a-z]+\d\d@example\.(com|net|org)", c.email)
               for c in clients)  # fmt: skip
    assert 0.55 < sum(c.is_entrepreneur for c in clients) / len(clients) < 0.83


@pytest.mark.django_db
def test_refuses_to_take_over_a_login_of_another_tenant():
    other = Tenant.objects.create(slug="other", name="Other bank")
    User.objects.create(username="a.rm1", tenant=other)

    with pytest.raises(CommandError, match=r"a\.rm1"):
        seed()


def test_negative_client_count_is_refused():
    with pytest.raises(CommandError):
        call_command("seed_demo", clients=-1, stdout=StringIO())


# --- Money: tiers, products, FX rates, holdings… -------------------------------------


@pytest.mark.django_db
def test_creates_the_four_demo_tiers_in_each_bank():
    seed(clients=0)

    for slug in SLUGS:
        with tenant_context(tenant(slug)):
            tiers = list(
                Tier.objects.order_by("rank").values_list("code", "name", "rank", "aum_floor")
            )
        assert tiers == [
            ("potential", "潜力客户", 1, Decimal("200000")),
            ("gold", "金卡", 2, Decimal("500000")),
            ("diamond", "钻石", 3, Decimal("5000000")),
            ("private", "私人银行", 4, Decimal("10000000")),
        ]


@pytest.mark.django_db
def test_a_banks_own_tier_is_kept():
    seed(clients=0)
    bank = tenant("demo-a")
    with tenant_context(bank):
        Tier.objects.filter(code="gold").update(name="白金卡", aum_floor=Decimal("600000"))
        Tier.objects.filter(code="private").delete()
        Tier.objects.create(code="wealth", name="财富客户", rank=4, aum_floor=Decimal("8000000"))

    seed(clients=0)

    with tenant_context(bank):
        assert dict(Tier.objects.values_list("code", "name")) == {
            "potential": "潜力客户",
            "gold": "白金卡",
            "diamond": "钻石",
            "wealth": "财富客户",  # its rank 4 is taken: no demo 私人银行 forced in
        }


@pytest.mark.django_db
def test_product_catalogue_and_fx_rates():
    seed(clients=0)

    with tenant_context(tenant("demo-b")):
        products = list(Product.objects.all())
        rates = list(FxRate.objects.all())
    assert 20 <= len(products) <= 30
    assert all(re.fullmatch(r"P-[A-Z0-9-]+", p.code) for p in products)
    assert all(re.search(r"[\u4e00-\u9fff]", p.name) for p in products)  # Chinese names
    risks: dict[str, set[str]] = {}
    for p in products:
        risks.setdefault(p.category, set()).add(p.risk_level)
    C = Product.Category
    assert risks[C.DEPOSIT] == risks[C.TIME_DEPOSIT] == {"R1"}
    assert risks[C.WEALTH_MANAGEMENT] <= {"R2", "R3", "R4"}
    assert len(risks[C.WEALTH_MANAGEMENT]) >= 2
    assert risks[C.FUND] <= {"R3", "R4", "R5"}
    assert risks[C.INSURANCE] == risks[C.BOND] == {"R2"}
    assert risks[C.TRUST] == {"R4"}
    assert risks[C.PRECIOUS_METAL] == {"R3"}
    usd = {(p.category, p.currency) for p in products if p.currency != "CNY"}
    assert usd == {(C.TIME_DEPOSIT, "USD"), (C.WEALTH_MANAGEMENT, "USD")}

    on = today("demo-b")
    days = [on - datetime.timedelta(days=n) for n in range(30)]
    assert sorted((r.currency, r.date) for r in rates) == sorted(
        (currency, day) for currency in ("EUR", "HKD", "USD") for day in days
    )
    bands = {"USD": (6.5, 7.8), "HKD": (0.85, 1.0), "EUR": (7.0, 8.6)}
    for r in rates:
        low, high = bands[r.currency]
        assert low < r.rate_to_cny < high


@pytest.mark.django_db
def test_every_client_has_money_spread_over_the_tiers():
    seed(clients=300)

    with tenant_context(tenant("demo-a")):
        holdings = list(Holding.objects.select_related("client"))
        clients = list(generated_clients().all())
    per_client = Counter(h.client_id for h in holdings)
    assert set(per_client) == {c.pk for c in clients}  # every client holds something
    assert all(1 <= n <= 5 for n in per_client.values())
    active = {h.client_id for h in holdings if h.status == Holding.Status.ACTIVE}
    assert active == set(per_client)  # the current account stays open
    assert any(h.status == Holding.Status.CLOSED for h in holdings)
    for h in holdings:
        n = int(h.external_id.rsplit("-", 1)[1])
        assert h.external_id == money_demo.holding_external_id(h.client.external_id, n)
    # Loosely the demo mix: 55% below 200,000 CNY, a few above 5 million.
    below = sum(c.aum_cny < 200_000 for c in clients) / len(clients)
    assert 0.4 < below < 0.7
    assert sum(c.aum_cny >= 500_000 for c in clients) >= 0.1 * len(clients)
    assert any(c.aum_cny >= 5_000_000 for c in clients)


@pytest.mark.django_db
def test_aum_is_the_sum_of_active_holdings_at_the_latest_fx_rates():
    seed(clients=300)

    with tenant_context(tenant("demo-b")):
        on = today("demo-b")
        latest = {r.currency: r.rate_to_cny for r in FxRate.objects.filter(date=on)}
        latest["CNY"] = Decimal(1)
        expected: dict[int, Decimal] = Counter()
        for h in Holding.objects.filter(status=Holding.Status.ACTIVE):
            expected[h.client_id] += h.balance * latest[h.currency]
        clients = list(generated_clients().all())
    assert any(c.aum_cny != 0 for c in clients)
    for c in clients:
        assert c.aum_cny == expected[c.pk].quantize(Decimal("0.01")), c.external_id
    with tenant_context(tenant("demo-b")):
        with_usd = Holding.objects.filter(currency="USD", status=Holding.Status.ACTIVE).count()
    assert with_usd  # the FX conversion is exercised


@pytest.mark.django_db
def test_each_client_is_in_the_tier_the_re_tiering_decided():
    # The demo replays the nightly re-tiering (segmentation.demo): a client's tier is
    # the highest its average AUM reaches, unless pinned or still within the grace.
    from segmentation.models import ClientSegment, TierOverride

    seed(clients=300)

    for slug in SLUGS:
        with tenant_context(tenant(slug)):
            floors = sorted(Tier.objects.values_list("aum_floor", "pk"), reverse=True)
            ranks = dict(Tier.objects.values_list("pk", "rank"))
            segments = {s.client_id: s for s in ClientSegment.objects.all()}
            pinned = dict(
                TierOverride.objects.filter(revoked_at__isnull=True).values_list(
                    "client_id", "tier_id"
                )
            )
            clients = list(generated_clients().all())
        for c in clients:
            segment = segments[c.pk]
            reached = [pk for floor, pk in floors if segment.average_aum_cny >= floor]
            assert segment.rule_tier_id == (reached[0] if reached else None), c.external_id
            if c.pk in pinned:
                assert c.tier_id == pinned[c.pk]
            elif ranks.get(segment.rule_tier_id, 0) < ranks.get(c.tier_id, 0):
                assert segment.months_below_floor < 3, c.external_id  # within the grace
            else:
                assert c.tier_id == segment.rule_tier_id, c.external_id
        assert Counter(c.tier_id is None for c in clients)[False] > 50


@pytest.mark.django_db
def test_maturities_risk_profiles_and_suitability():
    seed(clients=300)
    on = today("demo-a")

    with tenant_context(tenant("demo-a")):
        holdings = list(Holding.objects.select_related("client", "product"))
        clients = {c.pk: c for c in generated_clients().all()}
        assessments = list(RiskAssessment.objects.all())
    live_term = [h for h in holdings if h.status == "active" and h.matures_on]
    assert live_term
    assert all(on < h.matures_on <= on + datetime.timedelta(days=180) for h in live_term)
    assert all(h.opened_on < h.matures_on for h in holdings if h.matures_on)
    soon = [h for h in live_term if h.matures_on <= on + datetime.timedelta(days=30)]
    assert soon  # the maturity lead times have something to find
    assert {h.product.category for h in live_term} >= {"time_deposit", "wealth_management"}
    closed = [h for h in holdings if h.status == "closed" and h.matures_on]
    assert all(h.matures_on < on for h in closed)
    for h in holdings:  # bought only what the client's risk profile allows
        assert h.currency == h.product.currency
        level = clients[h.client_id].risk_level
        assert int(h.product.risk_level[1]) <= (int(level[1]) if level else 1)

    assessed = [c for c in clients.values() if c.risk_level]
    assert len(assessed) > 0.9 * len(clients)
    expired = [c for c in assessed if not c.risk_is_valid(on)]
    assert 0.08 < len(expired) / len(assessed) < 0.35
    oldest = on - datetime.timedelta(days=RISK_VALIDITY_DAYS + 100)
    assert all(oldest <= c.risk_assessed_on <= on for c in assessed)
    latest: dict[int, RiskAssessment] = {}
    for a in assessments:
        if a.client_id not in latest or a.assessed_on > latest[a.client_id].assessed_on:
            latest[a.client_id] = a
    assert set(latest) == {c.pk for c in assessed}
    for c in assessed:  # the client shows its latest assessment
        assert (latest[c.pk].level, latest[c.pk].assessed_on) == (c.risk_level, c.risk_assessed_on)
    assert len(assessments) > len(assessed)  # some keep an older one as history


@pytest.mark.django_db
def test_needs_events_held_away_ties_and_preferences():
    seed(clients=600)

    on = today("demo-a")
    with tenant_context(tenant("demo-a")):
        clients = {c.pk: c for c in generated_clients().all()}
        needs = list(Need.objects.all())
        events = list(LifeEvent.objects.all())
        away = list(HeldAwayAsset.objects.all())
        ties = list(generated_ties())
    n = len(clients)
    assert 0.04 < len({x.client_id for x in needs}) / n < 0.18
    assert 0.01 < len({x.client_id for x in events}) / n < 0.1
    assert all(abs((e.occurs_on - on).days) <= 90 for e in events)  # recent or upcoming
    assert 0.01 < len({x.client_id for x in away}) / n < 0.1
    assert all(a.amount_cny > 0 for a in away)
    assert ties
    for tie in ties:  # between consecutive clients, a couple of opposite sexes
        one, other = clients[tie.client_id], clients[tie.related_id]
        assert int(one.external_id[1:]) == int(other.external_id[1:]) + 1
        if tie.kind == Relationship.Kind.SPOUSE:
            assert one.gender != other.gender
    referred = [c for c in clients.values() if c.referrer_id]
    assert referred
    for c in referred:
        assert c.referrer_id in clients and clients[c.referrer_id].external_id < c.external_id
    assert 0.25 < sum(bool(c.preferred_channel) for c in clients.values()) / n < 0.55
    assert any(c.preferred_contact_time for c in clients.values())


@pytest.mark.django_db
def test_money_only_references_its_own_tenant():
    seed(clients=300)

    for slug in SLUGS:
        bank = tenant(slug)
        with tenant_context(bank):
            holdings = Holding.objects.all()
            assert holdings.exists()
            assert not holdings.exclude(client__tenant_id=bank.pk).exists()
            assert not holdings.exclude(product__tenant_id=bank.pk).exists()
            for model in (RiskAssessment, Need, LifeEvent, HeldAwayAsset, Relationship):
                rows = model.objects.all()
                assert rows.exists(), model
                assert not rows.exclude(client__tenant_id=bank.pk).exists(), model
            assert not Relationship.objects.exclude(related__tenant_id=bank.pk).exists()
            clients = generated_clients().all()
            assert not clients.filter(tier__isnull=False).exclude(tier__tenant_id=bank.pk).exists()
            referred = clients.filter(referrer__isnull=False)
            assert referred.exists()
            assert not referred.exclude(referrer__tenant_id=bank.pk).exists()


@pytest.mark.django_db
def test_clients_loaded_without_money_get_the_same_money(monkeypatch):
    # What a database seeded before the demo had money looks like, plus a few things a
    # user did since: both must survive, and nothing be added twice.
    monkeypatch.setattr(demo, "CLIENT_BLOCK", 16)
    seed(clients=40)
    full = money_rows("demo-a")
    bank = tenant("demo-a")
    with tenant_context(bank):
        # Needs the sales pipeline's demo opened by logging contacts are the users' own
        # from then on: wiped here, nothing brings them back.
        found_in_contacts = {
            (external_id, kind)
            for external_id, kinds in Interaction.objects.values_list(
                "client__external_id", "needs_found"
            )
            for kind in kinds
        }
        for model in (Holding, RiskAssessment, Need, LifeEvent, HeldAwayAsset, Relationship):
            model.objects.all().delete()
        generated_clients().update(
            risk_level="", risk_assessed_on=None, referrer=None, tier=None, aum_cny=0,
            preferred_channel="", preferred_contact_time="",
        )  # fmt: skip
        kept = generated_clients().get(external_id=demo.external_id(5))
        kept.risk_level, kept.risk_assessed_on = "C5", today() - datetime.timedelta(days=3)
        kept.preferred_channel = "visit"
        kept.save()
        Need.objects.create(client=kept, kind=Need.Kind.STATUS, note="用户自己记录的")

    seed(clients=40)

    again = money_rows("demo-a")
    assert again["holdings"] == full["holdings"]
    assert again["away"] == full["away"]
    assert again["ties"] == full["ties"]
    assert again["needs"] == sorted(
        [
            n
            for n in full["needs"]
            if n[0] != kept.external_id and (n[0], n[1]) not in found_in_contacts
        ]
        + [(kept.external_id, "status", "用户自己记录的", today())]
    )
    assert again["risk"] == [r for r in full["risk"] if r[0] != kept.external_id]
    by_id = {row[0]: row for row in again["clients"]}
    assert by_id[kept.external_id][3:5] == ("C5", today() - datetime.timedelta(days=3))
    assert by_id[kept.external_id][6] == "visit"
    # Not the tier: the wiped tiers come back from the re-tiering (segmentation.demo),
    # whose hysteresis starts from the tiers the refilled money gives.
    for row in full["clients"]:
        if row[0] != kept.external_id:
            # AUM, risk, referrer, preferences
            assert by_id[row[0]][:2] + by_id[row[0]][3:] == row[:2] + row[3:]
    assert by_id[kept.external_id][1] == next(
        row[1] for row in full["clients"] if row[0] == kept.external_id
    )


@pytest.mark.django_db
def test_queries_do_not_grow_with_the_clients(monkeypatch):
    seed(clients=0)
    statements: list[str] = []
    pipeline_statements: list[str] = []
    in_pipeline = []

    def count(execute, sql, params, many, context):
        if in_kpi:
            kpi_statements.append(sql)
        else:
            (pipeline_statements if in_pipeline else statements).append(sql)
        return execute(sql, params, many, context)

    # The sales pipeline's demo is built through the services, opportunity by
    # opportunity: a fixed set per bank whatever the number of clients, counted apart.
    pipeline_seed = seed_demo.sales_pipeline_demo.sales_pipeline_seed

    def counted_pipeline_seed(**kwargs):
        in_pipeline.append(True)
        try:
            return pipeline_seed(**kwargs)
        finally:
            in_pipeline.pop()

    monkeypatch.setattr(seed_demo.sales_pipeline_demo, "sales_pipeline_seed", counted_pipeline_seed)
    # The KPI demo ends with the bank's snapshot runs (a fixed number of set-based
    # statements each): counted apart too.
    kpi_statements: list[str] = []
    in_kpi: list[bool] = []
    kpi_seed = seed_demo.kpi_demo.kpi_seed

    def counted_kpi_seed(**kwargs):
        in_kpi.append(True)
        try:
            return kpi_seed(**kwargs)
        finally:
            in_kpi.pop()

    monkeypatch.setattr(seed_demo.kpi_demo, "kpi_seed", counted_kpi_seed)
    # (Not CaptureQueriesContext: the command empties the query log after each block.)
    with connection.execute_wrapper(count):
        seed(clients=400)

    # Per tenant: its setup, one block of a fixed number of statements, the
    # segmentation demo (a few replayed nightly runs, each a fixed number too) and the
    # contact plans' (a history of interactions in bulk, then one nightly planning).
    # Two tenants × 400 clients: anything per client would be far above this.
    assert len(statements) < 400
    assert pipeline_statements, "the pipeline demo ran"
    with tenant_context(tenant("demo-a")):
        opportunities = Opportunity.objects.exclude(source=Opportunity.Source.MATURITY).count()
    # Its cost follows the (fixed) opportunities it builds, not the 400 clients.
    assert len(pipeline_statements) < 2 * 400 * opportunities
    # Per bank: four inserts of inputs and five snapshot runs of about thirty statements.
    assert 0 < len(kpi_statements) < 2 * 250


def test_insert_rows_refuses_to_leave_out_a_required_column():
    # Model defaults do not apply to the one-statement insert: a NOT NULL column added to
    # a model later must be given, not silently fail (or worse) on one backend only.
    with pytest.raises(ValueError, match="is_confidential"):
        seed_demo.insert_rows(Client, ("external_id", "name", "branch_id"), [("C1", "张三", 1)])


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the SQLite side")
def test_analyze_does_nothing_on_sqlite():
    # No database access allowed here: a query would fail the test.
    assert seed_demo.analyze_tables(["customers_holding"]) == []


@pytest.mark.django_db
@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="ANALYZE rights are PostgreSQL's")
def test_analyze_skips_only_what_the_role_may_not_analyse():
    tables = ["customers_client", "customers_holding"]
    # Inside the test's transaction the owner's connection cannot be used.
    skipped = seed_demo.analyze_tables(tables)
    assert set(skipped) == set(tables) - seed_demo.analysable(tables)


# --- Generators -----------------------------------------------------------------------


def test_check_character_matches_the_standards_example():
    # The worked example of GB 11643: also proves the test's own validator right.
    assert is_valid_national_id("11010519491231002X")
    assert not is_valid_national_id("110105194912310021")
    assert demo.id_check_char("11010519491231002") == "X"


def test_national_ids_are_valid_and_consistent_with_the_person():
    rng = random.Random(7)
    for _ in range(2_000):
        region = rng.choice(("110105", "310115", "320106", "330106"))
        born = demo.birth_date(rng)
        gender = rng.choice("MF")

        number = demo.national_id(rng, region, born, gender)

        assert is_valid_national_id(number), number
        assert id_number_error(number) is None  # what the Client form and API accept
        assert number[:6] == region
        assert number[6:14] == born.strftime("%Y%m%d")
        assert number[14:17] != "000"
        assert int(number[16]) % 2 == (1 if gender == "M" else 0)


def test_national_id_rejects_a_bad_region():
    with pytest.raises(ValueError):
        demo.national_id(random.Random(1), "11010", datetime.date(1980, 1, 1), "M")


def test_id_numbers_never_repeat_across_blocks():
    numbers = [
        seed.id_number
        for block in range(3)
        for seed in demo.client_block(1, block, (block + 1) * demo.CLIENT_BLOCK, placements())
    ]
    assert len(numbers) == 3 * demo.CLIENT_BLOCK
    assert len(set(numbers)) == len(numbers)
    assert all(is_valid_national_id(number) for number in numbers)


def test_mobile_numbers_have_eleven_digits_and_a_real_prefix():
    rng = random.Random(3)
    numbers = [demo.mobile_number(rng) for _ in range(5_000)]
    assert all(MOBILE.match(n) for n in numbers)
    assert len({n[:2] for n in numbers}) == 4  # 13x, 15x, 18x and 19x all occur


def placements() -> list[demo.Placement]:
    peers = ("r1", "r2", "r3")
    return [
        demo.Placement("A101", rms=("r1", "r2"), peer_rms=peers, advisors=("x",), region="110105"),
        demo.Placement("A102", rms=("r3",), peer_rms=peers, advisors=("x",), region="110108"),
    ]


def test_client_blocks_are_deterministic_and_independent_of_the_limit():
    whole = list(demo.client_block(1, 0, demo.CLIENT_BLOCK, placements()))
    assert list(demo.client_block(1, 0, demo.CLIENT_BLOCK, placements())) == whole
    # Asking for fewer clients yields a prefix of the same clients.
    assert list(demo.client_block(1, 0, 100, placements())) == whole[:100]
    assert list(demo.client_block(2, 0, 100, placements())) != whole[:100]


def test_generated_clients_follow_the_demo_mix():
    seeds = list(demo.client_block(1, 0, demo.CLIENT_BLOCK, placements()))
    share = sum(s.is_entrepreneur for s in seeds) / len(seeds)
    assert abs(share - demo.ENTREPRENEUR_SHARE) < 0.02
    unassigned = sum(s.owner_rm is None for s in seeds) / len(seeds)
    assert 0.01 < unassigned < 0.03
    with_team = sum(s.secondary_rm is not None or s.advisor is not None for s in seeds)
    assert 0.08 < with_team / len(seeds) < 0.12
    for s in seeds:
        assert s.owner_rm is None or s.owner_rm in next(
            p.rms for p in placements() if p.branch == s.branch
        )
        assert s.secondary_rm != s.owner_rm or s.secondary_rm is None
        given = s.name[-1]
        pool = demo.MALE_GIVEN if s.gender == "M" else demo.FEMALE_GIVEN
        assert given in {char for char, _ in pool}
    assert [s.external_id for s in seeds[:2]] == ["C0000000001", "C0000000002"]


# --- Money generators -------------------------------------------------------------------


@pytest.fixture(scope="module")
def money_block() -> list[money_demo.MoneySeed]:
    seeds = list(demo.client_block(1, 0, demo.CLIENT_BLOCK, placements()))
    return list(money_demo.money_block(1, 0, seeds, ON))


ON = datetime.date(2026, 3, 1)


def test_money_is_deterministic_and_independent_of_the_limit(money_block):
    first = list(demo.client_block(1, 0, 100, placements()))
    assert list(money_demo.money_block(1, 0, first, ON)) == money_block[:100]
    assert list(money_demo.money_block(2, 0, first, ON)) != money_block[:100]


def test_aum_bands_follow_the_demo_mix(money_block):
    floors = (200_000, 500_000, 5_000_000, 10_000_000)
    bands = Counter(sum(m.aum_cny >= f for f in floors) for m in money_block)
    shares = [bands[b] / len(money_block) for b in range(5)]
    for share, target in zip(shares, (0.55, 0.25, 0.14, 0.05, 0.01), strict=True):
        assert abs(share - target) < max(0.015, target * 0.25), shares
    assert max(m.aum_cny for m in money_block) > 50_000_000  # a heavy tail


def test_generated_holdings_are_consistent(money_block):
    rates = {c: money_demo.fx_rate(c, ON) for c in money_demo.FX_BASE}
    products = money_demo.PRODUCTS_BY_CODE
    for m in money_block:
        assert 1 <= len(m.holdings) <= 5
        assert m.holdings[0].product == money_demo.CURRENT_ACCOUNT and m.holdings[0].is_active
        assert len({h.product for h in m.holdings}) == len(m.holdings)
        assert m.aum_cny == money_demo.aum_of(m.holdings, rates)
        for h in m.holdings:
            spec = products[h.product]
            assert h.currency == spec.currency
            assert h.balance > 0
            assert spec.min_aum <= m.aum_cny + 1  # open to the client's wealth (± FX cents)
            if spec.term_days and h.is_active:
                assert ON < h.matures_on <= ON + datetime.timedelta(days=180)
                assert h.matures_on - h.opened_on == datetime.timedelta(days=spec.term_days)
            if not h.is_active and h.matures_on:
                assert h.matures_on < ON
    expired = sum(
        1 for m in money_block if m.risk_assessed_on and (ON - m.risk_assessed_on).days >= 365
    )
    assert 0.15 < expired / len(money_block) < 0.25
    for share, field in ((0.10, "needs"), (0.05, "life_events"), (0.05, "held_away")):
        found = sum(bool(getattr(m, field)) for m in money_block) / len(money_block)
        assert abs(found - share) < 0.015, field


def test_fx_rates_depend_on_the_date_only():
    day = datetime.date(2026, 1, 15)
    assert money_demo.fx_rate("USD", day) == money_demo.fx_rate("USD", day)
    for currency, base in money_demo.FX_BASE.items():
        rates = [money_demo.fx_rate(currency, day + datetime.timedelta(days=n)) for n in range(90)]
        assert all(abs(rate / base - 1) < Decimal("0.02") for rate in rates)
        assert len(set(rates)) > 30  # they move
    rates = money_demo.fx_rates(day)
    assert len(rates) == 90 and max(r[1] for r in rates) == day
