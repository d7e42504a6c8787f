"""``manage.py seed_demo`` and the generators in ``vipcrm.demo``."""

from __future__ import annotations

import datetime
import random
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from customers.models import Client, ClientTeamMember
from customers.validators import id_number_error
from vipcrm import demo
from vipcrm.models import Branch, StaffProfile, Tenant, User
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context

SLUGS = ("demo-a", "demo-b")
MOBILE = re.compile(r"^1(3\d|5[0-35-9]|8\d|9[135-9])\d{8}$")


def seed(clients: int = 40) -> str:
    out = StringIO()
    call_command("seed_demo", clients=clients, quiet=True, stdout=out)
    return out.getvalue()


def tenant(slug: str) -> Tenant:
    return Tenant.objects.get(slug=slug)


def counts() -> dict[str, int]:
    found = {"tenants": Tenant.objects.count(), "users": User.objects.count()}
    for slug in SLUGS:
        with tenant_context(tenant(slug)):
            for model in (Branch, StaffProfile, Client, ClientTeamMember):
                found[f"{slug}.{model.__name__}"] = model.objects.count()
    return found


def client_rows(slug: str) -> list[tuple]:
    with tenant_context(tenant(slug)):
        return list(
            Client.objects.order_by("external_id").values_list(
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

    seed(clients=50)

    grown = client_rows("demo-b")
    assert counts()["demo-a.Client"] == counts()["demo-b.Client"] == 50
    assert grown[:20] == first  # the first twenty untouched
    assert [row[1] for row in grown] == [demo.external_id(i) for i in range(1, 51)]


@pytest.mark.django_db
def test_a_missing_client_is_refilled_identically(monkeypatch):
    monkeypatch.setattr(demo, "CLIENT_BLOCK", 16)
    seed(clients=40)
    bank = tenant("demo-a")
    with tenant_context(bank):
        gone = Client.objects.get(external_id=demo.external_id(23))
        gone_data = (gone.name, gone.birth_date, gone.mobile, gone.branch_id, gone.owner_rm_id)
        gone.team_members.all().delete()
        gone.delete()

    seed(clients=40)

    with tenant_context(bank):
        back = Client.objects.get(external_id=demo.external_id(23))
        assert (back.name, back.birth_date, back.mobile, back.branch_id, back.owner_rm_id) == (
            gone_data
        )
        assert Client.objects.count() == 40


@pytest.mark.django_db
def test_clients_only_reference_their_own_tenants_branches_and_staff():
    seed(clients=300)

    for slug in SLUGS:
        bank = tenant(slug)
        with tenant_context(bank):
            clients = Client.objects.all()
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
        clients = list(Client.objects.all())
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
