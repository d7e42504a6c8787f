"""What the contact plans' notifications say (rendered when read, in the reader's
language; registered with ``vipcrm.notifications`` from ``ContactPlansConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import ngettext, pgettext

from vipcrm.notifications import amount_text, day_text


def render_maturity_reminders(params: dict[str, Any]) -> str:
    """The night's maturity reminders for an RM, e.g. "11月28日：3 笔持仓即将到期，合计
    ¥1,250,000.00".

    Params: ``date`` (ISO date of the run), ``count`` (maturity alerts reminded: at the
    lead time, 7 days or 1 day before), ``amount_cny`` (their total in CNY, as text).
    """
    count = max(int(params.get("count") or 0), 0)
    text = ngettext(
        "%(count)s holding maturing soon, ¥%(amount)s in total",
        "%(count)s holdings maturing soon, ¥%(amount)s in total",
        count,
    ) % {"count": count, "amount": amount_text(params.get("amount_cny") or 0)}
    if not params.get("date"):
        return text
    return pgettext("notification: date, then what happened", "%(date)s: %(changes)s") % {
        "date": day_text(params["date"]),
        "changes": text,
    }


def register() -> None:
    from vipcrm.notifications import register_notification_kind

    register_notification_kind("maturity_reminders", render_maturity_reminders)
