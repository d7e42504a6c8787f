"""What the sales pipeline's notifications say (rendered when read, in the reader's
language; registered with ``vipcrm.notifications`` from ``SalesPipelineConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext

from vipcrm.notifications import amount_text


def render_sale_celebrated(params: dict[str, Any]) -> str:
    """A won sale celebrated, told to its team, e.g. "张伟 庆祝了成功：到期理财续作（王芳，
    ¥1,000,000.00）——感谢团队的付出！".

    Params: ``title`` (the opportunity's), ``client`` (the client's name), ``amount_cny``
    (the amount won, as text) and ``by`` (who recorded the celebration; empty for an
    integration) — as they were when it was recorded.
    """
    values = {
        "title": params.get("title") or "—",
        "client": params.get("client") or "—",
        "amount": amount_text(params.get("amount_cny") or 0),
        "by": params.get("by") or gettext("Your team"),
    }
    return (
        gettext(
            "%(by)s celebrated the sale %(title)s (%(client)s, ¥%(amount)s): thank you for "
            "your part in it!"
        )
        % values
    )


def register() -> None:
    from sales_pipeline.services import NOTIFICATION_KIND
    from vipcrm.notifications import register_notification_kind

    register_notification_kind(NOTIFICATION_KIND, render_sale_celebrated)
