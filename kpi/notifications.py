"""What the KPIs' notifications say (rendered when read, in the reader's language;
registered with ``vipcrm.notifications`` from ``KpiConfig.ready``)."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import formats
from django.utils.translation import gettext

from kpi.definitions import DIMENSIONS

COACHING_NOTE = "coaching_note"


def render_coaching_note(params: dict[str, Any]) -> str:
    """A coaching note to an RM, e.g. "李主管 left you a coaching note on process, to
    follow up on 10 December 2026." / "李主管给您留了一条关于流程的辅导意见，跟进日期：
    2026年12月10日。"

    Params: ``by`` (the author's name), ``focus`` (a scorecard dimension's code, or
    empty) and ``follow_up_on`` (an ISO date, or empty) — as they were when written.
    """
    by = params.get("by") or gettext("Your supervisor")
    focus = DIMENSIONS.get(params.get("focus") or "")
    text = (
        gettext("%(by)s left you a coaching note on %(focus)s.") % {"by": by, "focus": focus}
        if focus
        else gettext("%(by)s left you a coaching note.") % {"by": by}
    )
    if params.get("follow_up_on"):
        day = datetime.date.fromisoformat(params["follow_up_on"])
        text += " " + gettext("Follow-up on %(day)s.") % {
            "day": formats.date_format(day, "DATE_FORMAT")
        }
    return text


def register() -> None:
    from vipcrm.notifications import register_notification_kind

    register_notification_kind(COACHING_NOTE, render_coaching_note)
