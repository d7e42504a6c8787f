"""The sales pipeline's panel on "My day" (``vipcrm.my_day``), registered from
``SalesPipelineConfig.ready``: for RMs and advisors, their opportunities on the board by
step (count and amount), those ready to move on and those waiting on their step's
requirement, the longest waiting first. Three queries, whatever the number of rows.
"""

from __future__ import annotations

from django.utils import timezone

from sales_pipeline import board
from sales_pipeline.views import is_writer
from vipcrm.my_day import Panel, register_panel
from vipcrm.roles import Actor


def pipeline_context(actor: Actor) -> dict | None:
    if actor.staff is None or not is_writer(actor):
        return None
    return {"pipeline": board.my_pipeline(actor=actor, now=timezone.now())}


PIPELINE_PANEL = Panel(
    "sales_pipeline.pipeline", 5, "sales_pipeline/panels/pipeline.html", pipeline_context
)


def register_panels() -> None:
    register_panel(PIPELINE_PANEL)
