"""KPI demo data for ``manage.py seed_demo``, written after the sales pipeline's.

What a demo bank gets, in its own tenant (``kpi_seed``):

- **time logs** (工时) of every demo RM for the weekdays of the past four weeks: hours of
  VIP service, non-VIP service and administration that put some RMs above the 70% rule
  and some below it (``RM_DAYS``);
- **satisfaction surveys** (满意度调查) of each RM's four largest clients over the past
  weeks, mostly good, one poor, as the call centre would send them (``DEMO-SVY-…``);
- **two complaints** (客户投诉): one resolved, one still open (``DEMO-CMP-…``);
- **a coaching note** (辅导记录) from the first supervisor to the first RM of their
  branch subtree, about the process;
- then the **KPI snapshots** of today as the nightly job takes them (the month, quarter
  and year, ``kpi.services.kpi_snapshot_job``) and of the two months before, so the
  dashboards have figures and a trend at once.

Idempotent like the rest of the demo: the inputs are written once (each with ``INSERT …
ON CONFLICT DO NOTHING`` on its unique key, the note only in a bank without one), and
the snapshots of a period are replaced, never added. Every step is a fixed number of
statements per bank whatever the number of clients: the inputs are four bulk inserts
after two reads, the snapshots a fixed number of set-based runs.
"""

from __future__ import annotations

import datetime
from collections import Counter
from decimal import Decimal

from django.db import models
from django.db.models import F, Window
from django.db.models.functions import RowNumber

from customers.models import Channel, Client
from kpi.models import CoachingNote, Complaint, KpiSnapshot, SatisfactionSurvey, TimeLog
from kpi.periods import period_starts_back
from kpi.services import kpi_snapshot_job, kpi_snapshot_take
from vipcrm import demo
from vipcrm.models import StaffProfile
from vipcrm.roles import Role

DAY = datetime.timedelta(days=1)
HISTORY_WEEKS = 4
TREND_MONTHS = 3  # this month and the two before
SURVEYED_CLIENTS = 4  # per RM, the largest first
# Each demo RM's working day, in turn: (VIP service, non-VIP service, administration).
RM_DAYS: tuple[tuple[str, str, str], ...] = (
    ("6.50", "1.00", "0.50"),  # 81% on VIP clients
    ("5.00", "2.00", "1.00"),  # 62.5%: below the 70% rule
    ("6.00", "1.00", "1.00"),  # 75%
    ("4.00", "3.00", "1.00"),  # 50%: too much non-VIP work
    ("5.50", "1.50", "1.00"),  # 69%: just below
    ("5.00", "1.50", "1.50"),  # 62.5%
    ("6.00", "0.50", "1.50"),  # 75%
)
MONDAY_MEETING = Decimal("1.00")  # the weekly branch meeting: more admin on Mondays
SURVEY_SCORES = (5, 4, 5, 3)  # by the client's rank in the book
POOR_SCORE = 2  # the second RM's largest client was not happy
SURVEY_COMMENTS = {
    5: "客户经理专业、及时，到期资金安排得很周到。",
    4: "服务不错，希望理财产品介绍再详细一些。",
    3: "整体还可以，电话有时联系不上。",
    2: "等候时间太长，预约后仍未按时接待。",
}
COMPLAINTS = (
    # (RM index, client rank, days ago received, days ago resolved, category, text, resolution)
    (
        1,
        0,
        12,
        9,
        Complaint.Category.WAITING,
        "客户预约上午十点到网点办理理财续作，等候四十分钟仍未接待。",
        "支行长致电致歉，调整贵宾室预约流程，客户接受处理结果。",
    ),
    (
        3,
        1,
        4,
        None,
        Complaint.Category.SERVICE_ATTITUDE,
        "客户反映客户经理电话回访时态度敷衍，未解答基金净值下跌的原因。",
        "",
    ),
)
COACHING_TEXT = (
    "本月联系计划执行率偏低，逾期联系主要集中在金卡客户。建议每周一上午集中安排到期客户"
    "回访，并在周五前完成本周计划联系；下次辅导时一起看覆盖率的变化。"
)


def kpi_seed(
    *, spec: demo.TenantSpec, staff: dict[str, StaffProfile], today: datetime.date
) -> Counter[type[models.Model]]:
    """Seed the current tenant's KPI inputs and take its snapshots (see the module
    docstring); returns the rows created per model."""
    made: Counter[type[models.Model]] = Counter()
    rms = [staff[s.code] for s in spec.staff if s.role == Role.RM and s.code in staff]
    if rms:
        made[TimeLog] = _time_logs_insert(rms, today)
        books = _largest_clients(rms)
        made[SatisfactionSurvey] = _surveys_insert(rms, books, today)
        made[Complaint] = _complaints_insert(rms, books, today)
        made[CoachingNote] = _coaching_note_create(spec, staff, today)
    snapshots_before = KpiSnapshot.objects.count()
    kpi_snapshot_job(run_date=today)
    for start in period_starts_back("month", today, TREND_MONTHS)[:-1]:
        kpi_snapshot_take(period="month", start=start)
    made[KpiSnapshot] = KpiSnapshot.objects.count() - snapshots_before
    return made


def _inserted(model: type[models.Model], rows: list[models.Model]) -> int:
    """Insert ``rows`` in one statement, skipping those already there; the rows added."""
    before = model.objects.count()
    model.objects.bulk_create(rows, ignore_conflicts=True)
    return model.objects.count() - before


def _time_logs_insert(rms: list[StaffProfile], today: datetime.date) -> int:
    """Every RM's hours of the weekdays of the past four weeks (one insert)."""
    rows = []
    for index, rm in enumerate(rms):
        vip, non_vip, admin = (Decimal(hours) for hours in RM_DAYS[index % len(RM_DAYS)])
        for back in range(HISTORY_WEEKS * 7, 0, -1):
            day = today - DAY * back
            if day.weekday() >= 5:
                continue
            meeting = MONDAY_MEETING if day.weekday() == 0 else Decimal(0)
            rows += [
                TimeLog(staff=rm, date=day, kind=TimeLog.Kind.VIP_SERVICE, hours=vip - meeting),
                TimeLog(staff=rm, date=day, kind=TimeLog.Kind.NON_VIP_SERVICE, hours=non_vip),
                TimeLog(staff=rm, date=day, kind=TimeLog.Kind.ADMIN, hours=admin + meeting),
            ]
    return _inserted(TimeLog, rows)


def _largest_clients(rms: list[StaffProfile]) -> dict[int, list[Client]]:
    """Each RM's largest clients by AUM (one query)."""
    ranked = (
        Client.objects.filter(owner_rm__in=rms)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("owner_rm_id")],
                order_by=[F("aum_cny").desc(), F("external_id").asc()],
            )
        )
        .filter(rank__lte=SURVEYED_CLIENTS)
        .order_by("owner_rm_id", "rank")
    )
    books: dict[int, list[Client]] = {}
    for client in ranked:
        books.setdefault(client.owner_rm_id, []).append(client)
    return books


def _surveys_insert(
    rms: list[StaffProfile], books: dict[int, list[Client]], today: datetime.date
) -> int:
    rows = []
    for index, rm in enumerate(rms):
        for rank, client in enumerate(books.get(rm.pk, [])):
            score = POOR_SCORE if (index, rank) == (1, 0) else SURVEY_SCORES[rank]
            rows.append(
                SatisfactionSurvey(
                    client=client,
                    staff=rm,
                    score=score,
                    comment=SURVEY_COMMENTS[score],
                    surveyed_on=today - DAY * (3 + 6 * rank + index % 3),
                    channel=Channel.PHONE,
                    external_id=f"DEMO-SVY-{client.external_id}",
                )
            )
    return _inserted(SatisfactionSurvey, rows)


def _complaints_insert(
    rms: list[StaffProfile], books: dict[int, list[Client]], today: datetime.date
) -> int:
    rows = []
    for rm_index, rank, received, resolved, category, text, resolution in COMPLAINTS:
        if rm_index >= len(rms) or rank >= len(books.get(rms[rm_index].pk, [])):
            continue
        client = books[rms[rm_index].pk][rank]
        rows.append(
            Complaint(
                client=client,
                staff=rms[rm_index],
                received_on=today - DAY * received,
                category=category,
                description=text,
                status=Complaint.Status.RESOLVED if resolved else Complaint.Status.OPEN,
                resolved_on=today - DAY * resolved if resolved else None,
                resolution=resolution,
                external_id=f"DEMO-CMP-{client.external_id}",
            )
        )
    return _inserted(Complaint, rows)


def _coaching_note_create(
    spec: demo.TenantSpec, staff: dict[str, StaffProfile], today: datetime.date
) -> int:
    """The first supervisor's note to the first RM of their branch subtree, in a bank
    without any note yet."""
    parents = {branch.code: branch.parent for branch in spec.branches}

    def under(branch: str | None, top: str) -> bool:
        while branch is not None:
            if branch == top:
                return True
            branch = parents.get(branch)
        return False

    supervisor = next((s for s in spec.staff if s.role == Role.SUPERVISOR), None)
    rm = supervisor and next(
        (s for s in spec.staff if s.role == Role.RM and under(s.branch, supervisor.branch)),
        None,
    )
    if rm is None or supervisor.code not in staff or rm.code not in staff:
        return 0
    if CoachingNote.objects.exists():
        return 0
    CoachingNote.objects.create(
        rm=staff[rm.code],
        author=staff[supervisor.code],
        text=COACHING_TEXT,
        focus="process",
        follow_up_on=today + DAY * 14,
    )
    return 1
