"""Demo data: two fictitious banks, their branches and staff, and realistic clients.

Everything here is pure data and generators (no database access), so the shapes can be
tested on their own and ``manage.py seed_demo`` only has to write them.

Determinism: clients are generated in fixed blocks of ``CLIENT_BLOCK`` customer numbers,
each block from its own ``random.Random`` seeded with the tenant's seed and the block
number. Client ``C0000000042`` therefore always comes out the same, whatever ``--clients``
was asked for and whichever blocks already exist, and a block that is fully loaded can be
skipped without generating it.
"""

from __future__ import annotations

import datetime
import itertools
import random
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass

from customers.validators import id_check_char
from vipcrm.roles import Role

# One password for every demo login (documented in the command's output). Never used
# outside demo databases: the command is the only writer.
DEMO_PASSWORD = "VipDemo#2026"

# Customer numbers per generation block; also the unit the command commits in.
CLIENT_BLOCK = 20_000
EXTERNAL_ID_PREFIX = "C"
EXTERNAL_ID_DIGITS = 10

ENTREPRENEUR_SHARE = 0.69  # the source article: ~69% of VIPs are entrepreneurs
UNASSIGNED_SHARE = 0.02  # clients not (yet) in any RM's book
TEAM_SHARE = 0.10  # clients served by a team beyond the owner RM
EMAIL_BLANK_SHARE = 0.45


# --- Banks, branches and staff -------------------------------------------------------


@dataclass(frozen=True)
class BranchSpec:
    code: str
    name: str
    parent: str | None = None
    # 6-digit administrative division code (GB/T 2260) of the branch's district: the
    # first six digits of a local client's national ID number.
    region: str = ""


@dataclass(frozen=True)
class StaffSpec:
    handle: str  # login is "<tenant prefix>.<handle>", e.g. a.rm1
    code: str  # 工号, unique per tenant
    name: str
    role: Role
    branch: str  # branch code


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    login_prefix: str
    seed: int
    branches: tuple[BranchSpec, ...]
    staff: tuple[StaffSpec, ...]
    time_zone: str = "Asia/Shanghai"

    def username(self, staff: StaffSpec) -> str:
        return f"{self.login_prefix}.{staff.handle}"

    def email(self, staff: StaffSpec) -> str:
        # example.com is reserved (RFC 2606): demo mail can never reach a real inbox.
        return f"{self.username(staff)}@{self.slug}.example.com"

    def sub_branches(self) -> list[BranchSpec]:
        """The 支行: branches two levels below head office, where clients are booked."""
        parents = {b.code: b.parent for b in self.branches}
        return [b for b in self.branches if b.parent and parents[b.parent] is not None]


HEAD_OFFICE = "A000"

# Both banks use the same branch and staff codes on purpose: codes are unique per
# tenant, not globally, and the demo data proves it.
DEMO_TENANTS: tuple[TenantSpec, ...] = (
    TenantSpec(
        slug="demo-a",
        name="华夏示范银行",
        login_prefix="a",
        seed=20260001,
        branches=(
            BranchSpec(HEAD_OFFICE, "总行"),
            BranchSpec("A100", "北京分行", HEAD_OFFICE),
            BranchSpec("A101", "朝阳支行", "A100", "110105"),
            BranchSpec("A102", "海淀支行", "A100", "110108"),
            BranchSpec("A103", "西城支行", "A100", "110102"),
            BranchSpec("A200", "上海分行", HEAD_OFFICE),
            BranchSpec("A201", "浦东支行", "A200", "310115"),
            BranchSpec("A202", "徐汇支行", "A200", "310104"),
        ),
        staff=(
            StaffSpec("head", "800001", "周文华", Role.HEAD_OFFICE, HEAD_OFFICE),
            StaffSpec("supervisor1", "801001", "李建国", Role.SUPERVISOR, "A100"),
            StaffSpec("supervisor2", "802001", "陈晓梅", Role.SUPERVISOR, "A200"),
            StaffSpec("advisor1", "801002", "王思远", Role.ADVISOR, "A100"),
            StaffSpec("advisor2", "802002", "林婉清", Role.ADVISOR, "A200"),
            StaffSpec("rm1", "801101", "张伟", Role.RM, "A101"),
            StaffSpec("rm2", "801102", "刘洋", Role.RM, "A101"),
            StaffSpec("rm3", "801201", "赵敏", Role.RM, "A102"),
            StaffSpec("rm4", "801301", "孙浩然", Role.RM, "A103"),
            StaffSpec("rm5", "802101", "吴佳怡", Role.RM, "A201"),
            StaffSpec("rm6", "802102", "郑磊", Role.RM, "A201"),
            StaffSpec("rm7", "802201", "黄丽娜", Role.RM, "A202"),
        ),
    ),
    TenantSpec(
        slug="demo-b",
        name="江南示范银行",
        login_prefix="b",
        seed=20260002,
        branches=(
            BranchSpec(HEAD_OFFICE, "总行"),
            BranchSpec("A100", "南京分行", HEAD_OFFICE),
            BranchSpec("A101", "鼓楼支行", "A100", "320106"),
            BranchSpec("A102", "玄武支行", "A100", "320102"),
            BranchSpec("A200", "杭州分行", HEAD_OFFICE),
            BranchSpec("A201", "西湖支行", "A200", "330106"),
            BranchSpec("A202", "滨江支行", "A200", "330108"),
            BranchSpec("A203", "上城支行", "A200", "330102"),
        ),
        staff=(
            StaffSpec("head", "800001", "沈志远", Role.HEAD_OFFICE, HEAD_OFFICE),
            StaffSpec("supervisor1", "801001", "钱国强", Role.SUPERVISOR, "A100"),
            StaffSpec("supervisor2", "802001", "顾雅琴", Role.SUPERVISOR, "A200"),
            StaffSpec("advisor1", "801002", "徐子涵", Role.ADVISOR, "A100"),
            StaffSpec("advisor2", "802002", "蒋雨桐", Role.ADVISOR, "A200"),
            StaffSpec("rm1", "801101", "朱明辉", Role.RM, "A101"),
            StaffSpec("rm2", "801102", "许静", Role.RM, "A101"),
            StaffSpec("rm3", "801201", "何俊杰", Role.RM, "A102"),
            StaffSpec("rm4", "802101", "吕欣怡", Role.RM, "A201"),
            StaffSpec("rm5", "802102", "施晨", Role.RM, "A201"),
            StaffSpec("rm6", "802201", "曹宇航", Role.RM, "A202"),
            StaffSpec("rm7", "802301", "陆佳琪", Role.RM, "A203"),
        ),
    ),
)


# --- Names, phones, jobs -------------------------------------------------------------

# (surname, pinyin, relative frequency): the most common surnames, roughly weighted
# like the population so 王/李/张 dominate as they do in a real client list.
SURNAMES: tuple[tuple[str, str, int], ...] = (
    ("王", "wang", 72), ("李", "li", 71), ("张", "zhang", 68), ("刘", "liu", 52),
    ("陈", "chen", 46), ("杨", "yang", 32), ("黄", "huang", 25), ("赵", "zhao", 20),
    ("吴", "wu", 20), ("周", "zhou", 19), ("徐", "xu", 15), ("孙", "sun", 15),
    ("马", "ma", 14), ("朱", "zhu", 13), ("胡", "hu", 12), ("郭", "guo", 11),
    ("何", "he", 10), ("林", "lin", 10), ("高", "gao", 10), ("罗", "luo", 9),
    ("郑", "zheng", 9), ("梁", "liang", 8), ("谢", "xie", 7), ("宋", "song", 7),
    ("唐", "tang", 6), ("许", "xu", 6), ("韩", "han", 6), ("冯", "feng", 5),
    ("邓", "deng", 5), ("曹", "cao", 5), ("彭", "peng", 5), ("曾", "zeng", 5),
    ("肖", "xiao", 5), ("田", "tian", 4), ("董", "dong", 4), ("袁", "yuan", 4),
    ("潘", "pan", 4), ("蒋", "jiang", 4), ("蔡", "cai", 4), ("余", "yu", 4),
    ("杜", "du", 4), ("叶", "ye", 4), ("程", "cheng", 3), ("苏", "su", 3),
    ("魏", "wei", 3), ("吕", "lv", 3), ("丁", "ding", 3), ("任", "ren", 3),
    ("沈", "shen", 3), ("姚", "yao", 3), ("卢", "lu", 3), ("钟", "zhong", 3),
    ("陆", "lu", 2), ("汪", "wang", 2), ("范", "fan", 2), ("金", "jin", 2),
    ("石", "shi", 2), ("贾", "jia", 2), ("夏", "xia", 2), ("方", "fang", 2),
    ("顾", "gu", 2), ("钱", "qian", 1), ("严", "yan", 1), ("欧阳", "ouyang", 1),
    ("司马", "sima", 1), ("诸葛", "zhuge", 1),
)  # fmt: skip
_SURNAME_CUM_WEIGHTS = tuple(itertools.accumulate(weight for _, _, weight in SURNAMES))

# Characters for given names, with pinyin; gendered pools that share a few neutral ones.
_NEUTRAL = (("文", "wen"), ("明", "ming"), ("晨", "chen"), ("宇", "yu"), ("子", "zi"),
            ("嘉", "jia"), ("思", "si"), ("安", "an"), ("欣", "xin"), ("一", "yi"))  # fmt: skip
MALE_GIVEN: tuple[tuple[str, str], ...] = (
    ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("勇", "yong"),
    ("杰", "jie"), ("涛", "tao"), ("斌", "bin"), ("超", "chao"), ("鹏", "peng"),
    ("建", "jian"), ("国", "guo"), ("华", "hua"), ("志", "zhi"), ("海", "hai"),
    ("峰", "feng"), ("辉", "hui"), ("浩", "hao"), ("俊", "jun"), ("博", "bo"),
    ("刚", "gang"), ("平", "ping"), ("东", "dong"), ("林", "lin"), ("龙", "long"),
    ("飞", "fei"), ("成", "cheng"), ("荣", "rong"), ("新", "xin"), ("德", "de"),
    *_NEUTRAL,
)  # fmt: skip
FEMALE_GIVEN: tuple[tuple[str, str], ...] = (
    ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("艳", "yan"), ("娟", "juan"), ("霞", "xia"), ("燕", "yan"), ("玲", "ling"),
    ("婷", "ting"), ("雪", "xue"), ("慧", "hui"), ("颖", "ying"), ("琳", "lin"),
    ("梅", "mei"), ("丹", "dan"), ("倩", "qian"), ("佳", "jia"), ("雯", "wen"),
    ("淑", "shu"), ("秀", "xiu"), ("兰", "lan"), ("萍", "ping"), ("红", "hong"),
    ("洁", "jie"), ("琴", "qin"), ("瑶", "yao"), ("怡", "yi"), ("莉", "li"),
    *_NEUTRAL,
)  # fmt: skip

ENTREPRENEUR_OCCUPATIONS: tuple[str, ...] = (
    "企业主", "企业主", "企业主", "民营企业家", "公司董事长", "公司总经理",
    "个体工商户", "外贸公司老板", "制造企业主", "餐饮连锁老板", "房地产开发商",
    "科技公司创始人",
)  # fmt: skip
WORKING_OCCUPATIONS: tuple[str, ...] = (
    "企业高管", "企业高管", "医生", "医生", "教师", "大学教授", "律师", "会计师",
    "公务员", "事业单位干部", "工程师", "金融从业者", "自由职业", "演艺人员",
    "建筑设计师",
)  # fmt: skip
# Only clients old enough to have retired (born before 1965) draw from this pool.
SENIOR_OCCUPATIONS: tuple[str, ...] = (*WORKING_OCCUPATIONS, "退休干部", "退休教师", "退休医生")

# Mobile number prefixes in use in mainland China (China Mobile, Unicom, Telecom).
MOBILE_PREFIXES: tuple[str, ...] = (
    *(f"13{d}" for d in range(10)),
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    *(f"18{d}" for d in range(10)),
    "191", "193", "195", "196", "197", "198", "199",
)  # fmt: skip

# Reserved domains (RFC 2606): realistic-looking, and no demo mail ever leaves.
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org")

BIRTH_FIRST = datetime.date(1950, 1, 1)
BIRTH_LAST = datetime.date(2000, 12, 31)
_BIRTH_SPAN_DAYS = (BIRTH_LAST - BIRTH_FIRST).days + 1


def chinese_name(rng: random.Random, gender: str) -> tuple[str, str, str]:
    """A name fitting ``gender`` ("M"/"F"): (name, surname pinyin, given-name pinyin)."""
    surname, surname_py, _ = rng.choices(SURNAMES, cum_weights=_SURNAME_CUM_WEIGHTS)[0]
    pool = MALE_GIVEN if gender == "M" else FEMALE_GIVEN
    # About a third of given names are one character (张伟), the rest two (张建国).
    chars = (rng.choice(pool),) if rng.random() < 0.3 else (rng.choice(pool), rng.choice(pool))
    given = "".join(c for c, _ in chars)
    given_py = "".join(p for _, p in chars)
    return surname + given, surname_py, given_py


def mobile_number(rng: random.Random) -> str:
    """An 11-digit mainland mobile number with a real carrier prefix."""
    return f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(100_000_000):08d}"


def birth_date(rng: random.Random) -> datetime.date:
    return BIRTH_FIRST + datetime.timedelta(days=rng.randrange(_BIRTH_SPAN_DAYS))


# --- National ID numbers (GB 11643-1999) ---------------------------------------------

# The 3-digit sequence code is odd for men and even for women. A "slot" s gives 2s+1 or
# 2s, so slots 1..499 cover 003..999 and 002..998 and never the invalid 000.
ID_SLOTS = range(1, 500)
ID_SLOTS_PER_BLOCK = 9
_ID_SLOT_GROUPS = len(ID_SLOTS) // ID_SLOTS_PER_BLOCK

# Districts elsewhere in China: not every client was born where they bank.
OTHER_REGIONS: tuple[str, ...] = (
    "120101", "130102", "210203", "330203", "350203", "370202", "420106", "430104",
    "440106", "440305", "500103", "510107", "610113",
)  # fmt: skip
LOCAL_BORN_SHARE = 0.75


def national_id(
    rng: random.Random,
    region: str,
    born: datetime.date,
    gender: str,
    slots: range = ID_SLOTS,
) -> str:
    """An 18-character resident ID number consistent with region, birth date and gender.

    The check character is GB 11643's ISO 7064 MOD 11-2 (weights 7,9,10,5,8,4,2,1,6,3,
    7,9,10,5,8,4,2; characters "10X98765432"), computed by the same function that
    validates the ``Client.id_number`` field, so generated and accepted numbers agree.
    """
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"Region must be a 6-digit division code, got {region!r}.")
    slot = rng.choice(slots)
    sequence = 2 * slot + 1 if gender == "M" else 2 * slot
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + id_check_char(first17)


def id_slots(block: int) -> range:
    """The sequence-code slots of one client block.

    Each block has its own slice, so numbers never repeat across blocks for the first
    ``_ID_SLOT_GROUPS`` blocks (1.1 million clients); repeats inside a block are redrawn.
    """
    first = ID_SLOTS.start + (block % _ID_SLOT_GROUPS) * ID_SLOTS_PER_BLOCK
    return range(first, first + ID_SLOTS_PER_BLOCK)


# --- Clients -------------------------------------------------------------------------


def external_id(index: int) -> str:
    """Customer number of the ``index``-th demo client (1-based): C0000000001, …"""
    return f"{EXTERNAL_ID_PREFIX}{index:0{EXTERNAL_ID_DIGITS}d}"


@dataclass(frozen=True)
class Placement:
    """Where a client may be booked: a 支行, its RMs, and who may join the team.

    Keys are opaque (the command passes primary keys); only their order matters for
    determinism, so callers must pass them in a stable order (by code).
    """

    branch: Hashable
    rms: tuple[Hashable, ...]
    peer_rms: tuple[Hashable, ...]  # RMs of the same 分行 who may be secondary RM
    advisors: tuple[Hashable, ...]  # wealth advisors of the same 分行
    region: str  # division code of the 支行's district, for local clients' ID numbers


@dataclass(frozen=True, slots=True)
class ClientSeed:
    index: int
    external_id: str
    name: str
    gender: str
    birth_date: datetime.date
    id_number: str
    mobile: str
    email: str
    occupation: str
    is_entrepreneur: bool
    branch: Hashable
    owner_rm: Hashable | None
    secondary_rm: Hashable | None
    advisor: Hashable | None


def _team(
    rng: random.Random, place: Placement, owner: Hashable | None
) -> tuple[Hashable | None, Hashable | None]:
    """(secondary RM, advisor) for the ~10% of owned clients served by a team."""
    # Always four draws: retuning TEAM_SHARE then changes who has a team, not every
    # later client's name and number.
    team_draw, kind_draw, secondary_draw, advisor_draw = (rng.random() for _ in range(4))
    if owner is None or team_draw >= TEAM_SHARE:
        return None, None
    peers = [rm for rm in place.peer_rms if rm != owner]
    secondary = advisor = None
    # 40% secondary RM and advisor, 30% each alone (a secondary RM needs a peer).
    if kind_draw < 0.7 and peers:
        secondary = peers[int(secondary_draw * len(peers))]
    if kind_draw >= 0.3 and place.advisors:
        advisor = place.advisors[int(advisor_draw * len(place.advisors))]
    return secondary, advisor


def _client(
    rng: random.Random,
    index: int,
    placements: Sequence[Placement],
    slots: range,
    used_ids: set[str],
) -> ClientSeed:
    # Callers always generate a block from its first client, dropping the ones that
    # exist afterwards, so each client's draws never depend on what is already loaded.
    gender = "M" if rng.random() < 0.52 else "F"
    name, surname_py, given_py = chinese_name(rng, gender)
    born = birth_date(rng)
    mobile = mobile_number(rng)
    is_entrepreneur = rng.random() < ENTREPRENEUR_SHARE
    if is_entrepreneur:
        occupation = rng.choice(ENTREPRENEUR_OCCUPATIONS)
    else:
        occupation = rng.choice(SENIOR_OCCUPATIONS if born.year < 1965 else WORKING_OCCUPATIONS)
    email_domain = rng.choice(EMAIL_DOMAINS)
    email = (
        ""
        if rng.random() < EMAIL_BLANK_SHARE
        else f"{given_py}.{surname_py}{born.year % 100:02d}@{email_domain}"
    )
    place = rng.choice(placements)
    owner = rng.choice(place.rms)
    if rng.random() < UNASSIGNED_SHARE:
        owner = None
    secondary, advisor = _team(rng, place, owner)
    region = place.region if rng.random() < LOCAL_BORN_SHARE else rng.choice(OTHER_REGIONS)
    id_number = national_id(rng, region, born, gender, slots)
    while id_number in used_ids:  # two people never share an ID number
        id_number = national_id(rng, region, born, gender, slots)
    used_ids.add(id_number)
    return ClientSeed(
        index=index,
        external_id=external_id(index),
        name=name,
        gender=gender,
        birth_date=born,
        id_number=id_number,
        mobile=mobile,
        email=email,
        occupation=occupation,
        is_entrepreneur=is_entrepreneur,
        branch=place.branch,
        owner_rm=owner,
        secondary_rm=secondary,
        advisor=advisor,
    )


def block_range(block: int, limit: int) -> range:
    """Client indices of ``block`` (0-based), capped at ``limit`` clients in all."""
    first = block * CLIENT_BLOCK + 1
    return range(first, min(limit, first + CLIENT_BLOCK - 1) + 1)


def block_count(limit: int) -> int:
    return -(-limit // CLIENT_BLOCK)


def client_block(
    seed: int, block: int, limit: int, placements: Sequence[Placement]
) -> Iterator[ClientSeed]:
    """The clients of one block, the same on every run for the same seed and block."""
    if not placements or any(not p.rms for p in placements):
        raise ValueError("Every placement needs at least one RM.")
    # Reproducible demo data, not secrets: a seeded PRNG is exactly what is wanted.
    rng = random.Random(f"vipcrm-demo:{seed}:{block}")  # noqa: S311
    slots, used_ids = id_slots(block), set()
    for index in block_range(block, limit):
        yield _client(rng, index, placements, slots, used_ids)
