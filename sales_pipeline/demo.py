"""Sales-pipeline demo data for ``manage.py seed_demo``, written after the contact plans'.

What a demo bank gets, in its own tenant (``sales_pipeline_seed``):

- the night's maturity opportunities for today (``maturity_opportunities_create``): one
  per maturity alert the contact planning just made;
- for each demo RM, a pipeline built through the services — so every rule holds —
  with VIP clients of their own book whose risk assessment is recent:

  ======================  =================================================================
  at step 1               a walk-in opened two days ago, its contact planned
  at step 2               a life-event opportunity, contacted, the needs not yet assessed
  at step 3               the needs assessed, a suitable proposal made
  at step 4               won four days ago (credited to the team), check-ins planned
  at step 5               won five weeks ago, both check-ins done
  celebrated              (two RMs) won seven weeks ago, celebrated
  lost                    lost at step 3 to another bank
  ======================  =================================================================

  the sales won going to clients with a team (an advisor on it, a secondary RM credited),
  the celebrations to RMs who have such clients; plus a referral (a prospect with its
  own opportunity) and a cross-sell captured while following up one RM's sales.

The services stamp every step with the moment they run; the demo then dates each
opportunity's history over the past weeks (``SCENARIOS``: days ago for each step), so
time-in-step and the honours board have something to show. Interactions, sales and
check-ins are dated inside that history when they are made.

The demo then leaves the bank as tonight's run would: the prospect gets its AUM snapshot
and segment, and the night's planning follows the contacts the pipeline logged (they
moved the clients' contact plans).

Idempotent like the rest of the demo: the pipeline is built only in a bank without any
opportunity but the night's maturity ones, and those are made once per alert. Its cost
is bounded — a pipeline per demo RM, then three set-based nightly steps — whatever the
number of clients.
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import F, OuterRef, Subquery, Window
from django.db.models.functions import RowNumber

from contact_plans.demo import PLANNED_KINDS
from contact_plans.models import Interaction, PlannedContact
from contact_plans.services import contact_plans_refresh
from customers.models import Client, ClientTeamMember, Product
from sales_pipeline import services
from sales_pipeline.models import (
    Celebration,
    Opportunity,
    Proposal,
    Referral,
    SaleCredit,
    StepEntry,
)
from segmentation import services as segmentation_services
from vipcrm import demo
from vipcrm.models import StaffProfile
from vipcrm.roles import Actor, Role

DAY = datetime.timedelta(days=1)
RISK_MARGIN_DAYS = 300  # assessed within this: valid for every sale of the demo history
CELEBRATING_RMS = 2
CLIENTS_PER_RM = 7  # one per scenario
HOUR_OF_WORK = datetime.time(10, 30)


@dataclass(frozen=True)
class Scenario:
    """One demo opportunity: how far it got, and when (days ago) each step began."""

    name: str
    title: str
    source: str
    entered: tuple[int, ...]  # days ago each step was entered, step 1 first
    lost_ago: int | None = None
    celebrated_ago: int | None = None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("plan", "活期资金配置建议", Opportunity.Source.WALK_IN, (2,)),
    Scenario("contact", "家庭资产规划面谈", Opportunity.Source.LIFE_EVENT, (9, 4)),
    Scenario("execute", "稳健理财组合配置", Opportunity.Source.CADENCE_REVIEW, (20, 14, 6)),
    Scenario("follow_up", "定期到期资金承接", Opportunity.Source.CAMPAIGN, (30, 24, 15, 4)),
    Scenario("celebrate", "年度资产配置方案", Opportunity.Source.WALK_IN, (60, 52, 45, 38, 6)),
    Scenario(
        "celebrated",
        "养老金规划与保障",
        Opportunity.Source.CADENCE_REVIEW,
        (80, 72, 62, 50, 16),
        celebrated_ago=14,
    ),
    Scenario("lost", "基金定投计划", Opportunity.Source.CAMPAIGN, (25, 18, 10), lost_ago=3),
)
# Which of an RM's clients, largest first, each scenario goes to: the largest sales won.
SCENARIOS_BY_CLIENT = tuple(
    next(scenario for scenario in SCENARIOS if scenario.name == name)
    for name in ("celebrated", "follow_up", "celebrate", "execute", "plan", "contact", "lost")
)
NEEDS = {
    "plan": (),
    "contact": ("preservation", "financial_advice"),
    "execute": ("growth", "preservation"),
    "follow_up": ("preservation",),
    "celebrate": ("growth", "global_investment"),
    "celebrated": ("risk_management", "preservation"),
    "lost": ("growth",),
}
SUMMARIES = {
    "contact": "电话沟通：客户近期家庭有重要安排，约定下周到网点面谈资产规划。",
    "execute": "网点面谈：梳理客户资产结构，客户希望在保本基础上适度增值，已介绍稳健型组合。",
    "follow_up": "电话回访：客户定期存款即将到期，倾向继续稳健配置，同意办理续作。",
    "celebrate": "上门拜访：完成年度资产检视，客户关注全球配置与长期增值。",
    "celebrated": "网点面谈：客户关注养老规划，理财顾问介绍年金保险与稳健理财组合。",
    "lost": "企业微信沟通：客户对权益类基金兴趣一般，更关注他行的高息存款。",
}
CHECK_IN_SUMMARY = "售后回访：客户对配置方案满意，资金到账正常，约定下次资产检视时间。"
# The mix proposed by the client's risk level: (product code, share of the amount).
MIXES: dict[int, tuple[tuple[str, Decimal], ...]] = {
    1: (("P-TD-1Y", Decimal("0.6")), ("P-CD-3Y", Decimal("0.4"))),
    2: (("P-TD-1Y", Decimal("0.5")), ("P-WM-90D", Decimal("0.3")), ("P-IN-ANN", Decimal("0.2"))),
    3: (("P-WM-1Y", Decimal("0.5")), ("P-FD-MIX", Decimal("0.3")), ("P-TD-1Y", Decimal("0.2"))),
}
LOST_NOTE = "他行大额存单利率更高，客户选择他行"


def sales_pipeline_seed(
    *, spec: demo.TenantSpec, staff: dict[str, StaffProfile], today: datetime.date
) -> Counter[type[models.Model]]:
    """Seed the current tenant's pipeline (see the module docstring); returns the rows
    created per model."""
    made: Counter[type[models.Model]] = Counter()
    made[Opportunity] = services.maturity_opportunities_create(on=today)["opportunities"]
    if Opportunity.objects.exclude(source=Opportunity.Source.MATURITY).exists():
        return made  # built by an earlier run
    rms = [staff[s.code] for s in spec.staff if s.role == Role.RM and s.code in staff]
    books = _books(rms, today)
    products = {p.code: p for p in Product.objects.filter(code__in=_codes())}
    if not books or not products:
        return made
    advisors, teamed = _teams([client.pk for book in books.values() for client in book])
    builder = _Builder(
        zone=ZoneInfo(spec.time_zone), today=today, products=products, advisors=advisors
    )
    celebrating, followed_on = 0, False
    for rm, clients in _by_teamwork(rms, books, advisors, teamed):
        wanted = [
            scenario
            for scenario in SCENARIOS_BY_CLIENT
            if scenario.celebrated_ago is None or celebrating < CELEBRATING_RMS
        ]
        built = {
            scenario.name: builder.build(Actor.for_staff(rm), client, scenario)
            for client, scenario in zip(clients, wanted, strict=False)
        }
        celebrating += "celebrated" in built
        if not followed_on and {"follow_up", "celebrate"} <= set(built):
            builder.follow_on(Actor.for_staff(rm), built)
            followed_on = True
    builder.date_histories()
    # The demo leaves the bank as tonight's run would: the prospect referred gets its
    # snapshot and segment, and the contacts logged move the clients' plans (so a re-run
    # of the demo the same day finds nothing to do).
    segmentation_services.aum_snapshot_take(on=today)
    segmentation_services.client_segments_refresh(on=today)
    replanned = contact_plans_refresh(on=today)
    made[PlannedContact] = sum(replanned[kind] for kind in PLANNED_KINDS)
    made[Opportunity] += builder.count(Opportunity)
    for model in (StepEntry, Proposal, SaleCredit, Referral, Celebration, Interaction):
        made[model] = builder.count(model)
    made[Client] = builder.count(Referral)  # one prospect per referral
    return made


def _codes() -> set[str]:
    return {code for mix in MIXES.values() for code, _share in mix}


def _books(rms: list[StaffProfile], today: datetime.date) -> dict[int, list[Client]]:
    """Each RM's largest VIP clients (with a tier) whose risk assessment is recent enough
    (one query)."""
    ranked = (
        Client.objects.filter(
            owner_rm__in=rms,
            tier__isnull=False,
            risk_assessed_on__gt=today - DAY * RISK_MARGIN_DAYS,
        )
        .exclude(risk_level="")
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("owner_rm_id")],
                order_by=[F("aum_cny").desc(), F("external_id").asc()],
            )
        )
        .filter(rank__lte=CLIENTS_PER_RM)
        .order_by("owner_rm_id", "rank")
    )
    books: dict[int, list[Client]] = {}
    for client in ranked:
        books.setdefault(client.owner_rm_id, []).append(client)
    return books


def _by_teamwork(
    rms: list[StaffProfile],
    books: dict[int, list[Client]],
    advisors: dict[int, list[StaffProfile]],
    teamed: set[int],
) -> list[tuple[StaffProfile, list[Client]]]:
    """The RMs with their clients, those with a team first (an advisor's first), largest
    first among them — and the RMs who have such clients first: the sales won are joint
    sales, credited to the secondary RM, and the celebrations have a team to tell."""

    def teamwork(client: Client) -> tuple[bool, bool]:
        return client.pk not in advisors, client.pk not in teamed

    ordered = [(rm, sorted(books.get(rm.pk, []), key=teamwork)) for rm in rms]
    return sorted(ordered, key=lambda item: teamwork(item[1][0]) if item[1] else (True, True))


def _teams(client_ids: list[int]) -> tuple[dict[int, list[StaffProfile]], set[int]]:
    """The wealth advisors on each client's team, and the clients with any team (a
    secondary RM or an advisor): one query."""
    advisors: dict[int, list[StaffProfile]] = {}
    teamed: set[int] = set()
    members = ClientTeamMember.objects.filter(
        client_id__in=client_ids, staff__is_active=True
    ).select_related("staff")
    for member in members.order_by("client_id", "staff__code"):
        teamed.add(member.client_id)
        if member.role == ClientTeamMember.TeamRole.ADVISOR:
            advisors.setdefault(member.client_id, []).append(member.staff)
    return advisors, teamed


def _free_mobile() -> str:
    """A mobile number for the demo prospect that no client of the bank has (one query)."""
    candidates = [f"1380013{n:04d}" for n in range(8000, 8100)]
    taken = set(Client.objects.filter(mobile__in=candidates).values_list("mobile", flat=True))
    return next(mobile for mobile in candidates if mobile not in taken)


class _Builder:
    """Takes demo opportunities through the steps with the services, and keeps their
    schedule to date them afterwards."""

    def __init__(
        self,
        *,
        zone: ZoneInfo,
        today: datetime.date,
        products: dict[str, Product],
        advisors: dict[int, list[StaffProfile]],
    ) -> None:
        self.zone, self.today, self.products, self.advisors = zone, today, products, advisors
        self.schedules: dict[int, Scenario] = {}
        self.made: Counter[type[models.Model]] = Counter()

    def count(self, model: type[models.Model]) -> int:
        return self.made[model]

    def moment(self, days_ago: int, hours: int = 0) -> datetime.datetime:
        day = self.today - DAY * days_ago
        start = datetime.datetime.combine(day, HOUR_OF_WORK, tzinfo=self.zone)
        return start + datetime.timedelta(hours=hours)

    def build(self, actor: Actor, client: Client, scenario: Scenario) -> Opportunity:
        amount = _amount_for(client)
        steps = len(scenario.entered)
        # An advisor on the client's team joins the sales that get to a proposal.
        opportunity = services.opportunity_create(
            actor=actor,
            client=client,
            title=scenario.title,
            source=scenario.source,
            expected_amount_cny=amount,
            products=[self.products[code] for code, _share in _mix(client)],
            advisors=self.advisors.get(client.pk, [])[:1] if steps >= 3 else (),
        )
        self.made[Opportunity] += 1
        self.made[StepEntry] += 1
        self.schedules[opportunity.pk] = scenario
        services.opportunity_plan_contact(
            actor=actor, opportunity=opportunity, due_on=self.today + DAY * 2, channel="phone"
        )
        if steps >= 2:
            self._move(actor, opportunity, 2)
        if steps >= 3 or scenario.name == "contact":
            services.opportunity_log_contact(
                actor=actor,
                opportunity=opportunity,
                channel="branch" if steps >= 3 else "phone",
                occurred_at=self.moment(scenario.entered[1], hours=2),
                summary=SUMMARIES[scenario.name],
                needs_found=NEEDS[scenario.name] if steps >= 3 else (),
                duration_minutes=30,
            )
            self.made[Interaction] += 1
        if steps >= 3:
            self._move(actor, opportunity, 3)
            proposal = services.proposal_create(
                actor=actor,
                opportunity=opportunity,
                lines=[
                    (self.products[code], (amount * share).quantize(Decimal("1")))
                    for code, share in _mix(client)
                ],
                note="对比客户现有配置：增加稳健类资产占比，保持流动性。",
            )
            self.made[Proposal] += 1
        if steps >= 4:
            self._win(actor, opportunity, proposal, scenario)
        if steps >= 5:
            for check_in in range(len(services.FOLLOW_UP_DAYS)):
                self._check_in(actor, opportunity, scenario, check_in)
            self._move(actor, opportunity, 5)
        if scenario.celebrated_ago is not None:
            self._celebrate(actor, opportunity)
        if scenario.lost_ago is not None:
            services.opportunity_lose(
                actor=actor, opportunity=opportunity, reason="competitor", note=LOST_NOTE
            )
        return opportunity

    def _move(self, actor: Actor, opportunity: Opportunity, to_step: int) -> None:
        services.opportunity_move(
            actor=actor, opportunity=opportunity, to_step=to_step, from_step=to_step - 1
        )
        self.made[StepEntry] += 1

    def _win(
        self, actor: Actor, opportunity: Opportunity, proposal: Proposal, scenario: Scenario
    ) -> None:
        refs = {
            line.product_id: f"SL-{self.today:%Y%m%d}-{line.pk:06d}"
            for line in proposal.lines.select_related("product")
            if line.product.category in services.RECORDING_CATEGORIES
        }
        won = services.opportunity_win(
            actor=actor,
            opportunity=opportunity,
            proposal=proposal,
            recording_refs=refs,
            won_on=self.today - DAY * scenario.entered[3],
        )
        self.made[StepEntry] += 1
        self.made[SaleCredit] += won.credits.count()

    def _check_in(
        self, actor: Actor, opportunity: Opportunity, scenario: Scenario, index: int
    ) -> None:
        won_ago = scenario.entered[3]
        services.opportunity_check_in_log(
            actor=actor,
            opportunity=opportunity,
            channel="phone",
            occurred_at=self.moment(won_ago - services.FOLLOW_UP_DAYS[index], hours=4),
            summary=CHECK_IN_SUMMARY,
            duration_minutes=10,
        )
        self.made[Interaction] += 1

    def _celebrate(self, actor: Actor, opportunity: Opportunity) -> None:
        advisors = self.advisors.get(opportunity.client_id, [])[:1]
        team = "、".join(staff.name for staff in [actor.staff, *advisors])
        services.celebration_record(
            actor=actor,
            opportunity=opportunity,
            team_recognition=f"感谢{team}通力合作：方案专业、跟进及时，客户高度认可。",
            client_thanks="感谢您一直以来对我行的信任与支持，我们将持续为您提供专业服务。",
            client_thanks_channel="wechat",
            departments="个人金融部、运营管理部",
            department_thanks="感谢运营管理部当日加急完成资金划转与产品签约。",
        )
        self.made[Celebration] += 1

    def follow_on(self, actor: Actor, built: dict[str, Opportunity]) -> None:
        """A referral from the sale being followed up, a cross-sell from the one about to
        be celebrated."""
        if "follow_up" in built:
            services.referral_create(
                actor=actor,
                opportunity=built["follow_up"],
                name="陈思远",
                mobile=_free_mobile(),
                gender="M",
                relationship="business_partner",
                note="客户的生意伙伴，近期出售部分股权，有资产配置需求。",
            )
            self.made[Referral] += 1
            self.made[Opportunity] += 1
            self.made[StepEntry] += 1
        if "celebrate" in built:
            parent = built["celebrate"]
            services.cross_sell_create(
                actor=actor,
                opportunity=parent,
                title="子女教育金保险",
                products=[self.products["P-IN-ANN"]],
                expected_amount_cny=Decimal("300000"),
            )
            self.made[Opportunity] += 1
            self.made[StepEntry] += 1

    def date_histories(self) -> None:
        """Date each demo opportunity's steps and proposals by its scenario (three bulk
        updates, and one per celebration)."""
        opportunities = list(Opportunity.objects.filter(pk__in=self.schedules))
        entries = list(StepEntry.objects.filter(opportunity_id__in=self.schedules))
        proposals = list(Proposal.objects.filter(opportunity_id__in=self.schedules))
        by_opportunity: dict[int, list[StepEntry]] = {}
        for entry in entries:
            by_opportunity.setdefault(entry.opportunity_id, []).append(entry)
        for opportunity in opportunities:
            scenario = self.schedules[opportunity.pk]
            times = [self.moment(days) for days in scenario.entered]
            closed = None
            if scenario.celebrated_ago is not None:
                closed = self.moment(scenario.celebrated_ago)
                opportunity.completed_at = closed
            if scenario.lost_ago is not None:
                closed = self.moment(scenario.lost_ago)
                opportunity.lost_at = closed
            for entry in by_opportunity[opportunity.pk]:
                entry.entered_at = times[entry.step - 1]
                if entry.left_at is not None:
                    entry.left_at = times[entry.step] if entry.step < len(times) else closed
            opportunity.created_at = times[0]
            opportunity.step_entered_at = times[-1]
            if opportunity.won_at is not None:
                opportunity.won_at = times[3]
        for proposal in proposals:
            scenario = self.schedules[proposal.opportunity_id]
            proposal.created_at = self.moment(scenario.entered[2], hours=3)
            if proposal.accepted_at is not None:
                proposal.accepted_at = self.moment(scenario.entered[3])
        StepEntry.objects.bulk_update(entries, ["entered_at", "left_at"])
        Proposal.objects.bulk_update(proposals, ["created_at", "accepted_at"])
        Opportunity.objects.bulk_update(
            opportunities,
            ["created_at", "step_entered_at", "won_at", "completed_at", "lost_at"],
        )
        # A celebration is dated when its opportunity was completed: one UPDATE.
        Celebration.objects.filter(opportunity__in=opportunities).update(
            created_at=Subquery(
                Opportunity.objects.filter(pk=OuterRef("opportunity_id")).values("completed_at")[:1]
            )
        )


def _level(client: Client) -> int:
    return min(int(client.risk_level[1:]), max(MIXES))


def _mix(client: Client) -> tuple[tuple[str, Decimal], ...]:
    return MIXES[_level(client)]


def _amount_for(client: Client) -> Decimal:
    """A fifth of the client's AUM, in ten-thousands of yuan, at least ¥50,000."""
    fifth = (client.aum_cny or Decimal("0")) / 5
    return max(Decimal("50000"), (fifth / 10000).quantize(Decimal("1")) * 10000)
