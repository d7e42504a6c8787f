"""Every KPI: its code, dimension, unit, how it is scored, and its formula in words.

This is the one list the snapshot job (``kpi.services``) computes, the dashboards
show and the exports write; a metric's ``formula`` is what the pages print beside it.

Periods are calendar months, quarters and years in the bank's time zone (default
Asia/Shanghai): a timestamp belongs to the period of its local date. The figures run
to "the figures' date": the period's last day once it is over, the day of the snapshot
while it runs — "the period's last day" below is then that day. "The book" of an RM is
the clients they own when the snapshot is computed; a branch's figures are those of the
clients homed in the branch and its sub-branches (the sums of its RMs for what belongs
to staff rather than clients: time, sale credits, tool use, teamwork, the effective
service ratio); the bank's, all clients and all RMs. The capacity figures (unqualified,
near-threshold, effective service ratio) describe the book as it stands when the
snapshot is computed.

Scoring (RM and branch scopes), each scored metric 0–100:

- ``percent``: the value itself (a share in percent), capped to 0–100;
- ``target``: value / target × 100, capped to 0–100;
- ``rank``: by position among the bank's RMs (a branch among the branches with the same
  parent) for the same period — best 100, worst 0, ties share the better position,
  alone 100;
- ``inverse_rank``: as ``rank``, lower being better;
- ``satisfaction``: (average score − 1) / 4 × 100, no surveys → not scored.

A dimension's score is the mean of its scored metrics that have a value; the total is
the weighted mean of the dimensions with a score (``ScorecardWeights``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

RESULTS, PROCESS, TOOL_USE, TEAMWORK, FEEDBACK = (
    "results",
    "process",
    "tool_use",
    "teamwork",
    "feedback",
)
CAPACITY, PIPELINE = "capacity", "pipeline"  # shown beside the scorecard, not scored
DIMENSIONS = {
    RESULTS: _("Results"),
    PROCESS: _("Process"),
    TOOL_USE: _("Tool use"),
    TEAMWORK: _("Teamwork"),
    FEEDBACK: _("Client feedback"),
}
COUNT, MONEY, PERCENT, DAYS, SCORE, HOURS = "count", "money", "percent", "days", "score", "hours"
VIP_TIME_TARGET = 70  # the seed's rule: at least 70% of an RM's time on VIP clients


@dataclass(frozen=True)
class Metric:
    code: str
    label: str
    dimension: str
    unit: str
    formula: str
    scoring: str | None = None  # percent, target, rank, inverse_rank, satisfaction
    target: float | None = None
    drill: str | None = None  # the list behind the figure (kpi.drilldowns)


METRICS: tuple[Metric, ...] = (
    # --- Results -------------------------------------------------------------------------
    Metric(
        "vip_count", _("VIP clients"), RESULTS, COUNT,
        _("Clients of the book with a VIP tier on the period's last day (the tier then: the "
          "current one, or the 'from' tier of the first tier change after that day)."),
        "rank", drill="vip_clients",
    ),
    Metric(
        "vip_growth", _("VIP growth"), RESULTS, COUNT,
        _("VIP clients on the period's last day minus those on the day before it began."),
        "rank",
    ),
    Metric(
        "book_aum_cny", _("Book AUM (CNY)"), RESULTS, MONEY,
        _("Sum of the book's AUM snapshots on the period's last day (or the latest before)."),
        drill="vip_clients",
    ),
    Metric(
        "aum_growth_pct", _("AUM growth (%)"), RESULTS, PERCENT,
        _("(Book AUM at the end − book AUM on the day before the period) / the latter × 100."),
        "rank",
    ),
    Metric(
        "new_money_cny", _("New money (CNY)"), RESULTS, MONEY,
        _("Sum over the book's clients of the AUM increase from the day before the period to "
          "its end, for clients whose AUM grew (a client new in the period counts from 0)."),
        "rank",
    ),
    Metric(
        "sales_won_count", _("Sales won"), RESULTS, COUNT,
        _("Opportunities of the RM won in the period (status won, by the won date)."),
        "rank", drill="won_sales",
    ),
    Metric(
        "sales_won_cny", _("Sales won (CNY)"), RESULTS, MONEY,
        _("Amount of those sales."),
        drill="won_sales",
    ),
    Metric(
        "sales_credited_cny", _("Sales credited (CNY)"), RESULTS, MONEY,
        _("Sale credits of the RM dated in the period: the owner's share and the secondary "
          "RM's share of each win (a cancelled sale's credits are withdrawn)."),
        "rank", drill="won_sales",
    ),
    Metric(
        "tier_upgrades", _("Tier upgrades"), RESULTS, COUNT,
        _("Tier changes of the book's clients effective in the period to a higher tier (or "
          "from no tier to a tier)."),
        "rank", drill="tier_upgrades",
    ),
    Metric(
        "maturity_matured_cny", _("Matured (CNY)"), RESULTS, MONEY,
        _("Amount of the book's maturity alerts whose maturity date is in the period and at "
          "least 30 days before the figures' date (an alert without an amount in CNY, or "
          "whose holding now matures on another date, is left out)."),
        drill="maturities",
    ),
    Metric(
        "maturity_retention_pct", _("Maturity retention (%)"), RESULTS, PERCENT,
        _("Share of the matured amount still at the bank 30 days after maturity: per "
          "holding, min(amount, max(0, client's AUM at maturity + 30 days − (client's AUM "
          "the day before maturity − amount))), summed, over the matured amount."),
        "percent", drill="maturities",
    ),
    # --- Process -------------------------------------------------------------------------
    Metric(
        "adherence_pct", _("Plan adherence (%)"), PROCESS, PERCENT,
        _("Planned contacts assigned to the RM, due in the period (while it runs: up to the "
          "day before the figures' date) and not cancelled, that were done by their due "
          "date, over all of them."),
        "percent", drill="contacts_due",
    ),
    Metric(
        "coverage_pct", _("Coverage (%)"), PROCESS, PERCENT,
        _("VIP clients of the book on the period's last day with an interaction within "
          "their tier's contact cadence up to that day, over those VIP clients."),
        "percent", drill="uncovered_clients",
    ),
    Metric(
        "overdue_count", _("Overdue contacts"), PROCESS, COUNT,
        _("Planned contacts assigned to the RM, due before the figures' date and still open "
          "on it (not done by its end; cancelled ones excepted)."),
        "inverse_rank", drill="overdue_contacts",
    ),
    Metric(
        "vip_time_pct", _("Time on VIP service (%)"), PROCESS, PERCENT,
        _("Hours logged on VIP service over all hours logged in the period (target 70%)."),
        "target", target=VIP_TIME_TARGET, drill="time_logs",
    ),
    Metric(
        "conversion_1_pct", _("Step 1 → 2 conversion (%)"), PROCESS, PERCENT,
        _("Opportunities that entered step 1 in the period and have reached step 2, over "
          "those that entered step 1 in the period."),
        "percent", drill="step_1",
    ),
    Metric(
        "conversion_2_pct", _("Step 2 → 3 conversion (%)"), PROCESS, PERCENT,
        _("Opportunities that entered step 2 in the period and have reached step 3, over "
          "those that entered step 2 in the period."),
        "percent", drill="step_2",
    ),
    Metric(
        "conversion_3_pct", _("Step 3 → 4 conversion (%)"), PROCESS, PERCENT,
        _("Opportunities that entered step 3 in the period and have reached step 4, over "
          "those that entered step 3 in the period."),
        "percent", drill="step_3",
    ),
    Metric(
        "conversion_4_pct", _("Step 4 → 5 conversion (%)"), PROCESS, PERCENT,
        _("Opportunities that entered step 4 in the period and have reached step 5, over "
          "those that entered step 4 in the period."),
        "percent", drill="step_4",
    ),
    Metric(
        "days_in_step_1", _("Days in step 1"), PROCESS, DAYS,
        _("Average days between entering and leaving step 1, for the step entries left in "
          "the period."),
        drill="step_1",
    ),
    Metric(
        "days_in_step_2", _("Days in step 2"), PROCESS, DAYS,
        _("Average days between entering and leaving step 2, for the step entries left in "
          "the period."),
        drill="step_2",
    ),
    Metric(
        "days_in_step_3", _("Days in step 3"), PROCESS, DAYS,
        _("Average days between entering and leaving step 3, for the step entries left in "
          "the period."),
        drill="step_3",
    ),
    Metric(
        "days_in_step_4", _("Days in step 4"), PROCESS, DAYS,
        _("Average days between entering and leaving step 4, for the step entries left in "
          "the period."),
        drill="step_4",
    ),
    Metric(
        "days_in_step_5", _("Days in step 5"), PROCESS, DAYS,
        _("Average days between entering and leaving step 5, for the step entries left in "
          "the period."),
        drill="step_5",
    ),
    # --- Tool use ------------------------------------------------------------------------
    Metric(
        "interactions_logged", _("Interactions logged"), TOOL_USE, COUNT,
        _("Interactions the RM logged, by their date in the period."),
        "rank", drill="interactions",
    ),
    Metric(
        "plans_updated", _("Plans updated"), TOOL_USE, COUNT,
        _("Changes the RM made by hand to planned contacts in the period: each contact made, "
          "each rescheduling and each cancellation counts once (from the audit log)."),
        "rank",
    ),
    Metric(
        "proposals_made", _("Proposals made"), TOOL_USE, COUNT,
        _("Proposals the RM made in the period."),
        "rank",
    ),
    # --- Teamwork ------------------------------------------------------------------------
    Metric(
        "referrals_given", _("Referrals given"), TEAMWORK, COUNT,
        _("Referrals credited to the RM in the period."),
        "rank", drill="referrals",
    ),
    Metric(
        "referrals_received", _("Referrals received"), TEAMWORK, COUNT,
        _("Referred prospects the RM serves, referred in the period."),
        "rank", drill="referrals",
    ),
    Metric(
        "joint_sales", _("Joint sales"), TEAMWORK, COUNT,
        _("Opportunities of the RM won in the period with an advisor on the opportunity or "
          "a secondary RM credited."),
        "rank", drill="won_sales",
    ),
    # --- Client feedback -----------------------------------------------------------------
    Metric(
        "satisfaction_avg", _("Satisfaction (1–5)"), FEEDBACK, SCORE,
        _("Average score of the surveys rating the RM in the period."),
        "satisfaction", drill="surveys",
    ),
    Metric(
        "surveys_count", _("Surveys"), FEEDBACK, COUNT,
        _("Surveys rating the RM in the period."),
        drill="surveys",
    ),
    Metric(
        "complaints_count", _("Complaints"), FEEDBACK, COUNT,
        _("Complaints concerning the RM received in the period."),
        "inverse_rank", drill="complaints",
    ),
    # --- Capacity (shown, not scored) ----------------------------------------------------
    Metric(
        "hours_logged", _("Hours logged"), CAPACITY, HOURS,
        _("All hours the RM logged in the period."),
        drill="time_logs",
    ),
    Metric(
        "unqualified_vips", _("Unqualified VIPs"), CAPACITY, COUNT,
        _("Clients of the book whose tiering basis is below their tier's floor (or below the "
          "lowest floor) on the figures' date (segmentation's unqualified list)."),
        drill="unqualified_vips",
    ),
    Metric(
        "near_threshold", _("Near-threshold clients"), CAPACITY, COUNT,
        _("Clients of the book within the bank's band below the next tier's floor on the "
          "figures' date (segmentation's near-threshold list)."),
        drill="near_threshold",
    ),
    Metric(
        "open_at_step_1", _("Open at step 1"), PIPELINE, COUNT,
        _("Opportunities of the book at step 1 on the figures' date, not lost and not "
          "celebrated."),
        drill="step_1",
    ),
    Metric(
        "open_at_step_2", _("Open at step 2"), PIPELINE, COUNT,
        _("Opportunities of the book at step 2 on the figures' date, not lost and not "
          "celebrated."),
        drill="step_2",
    ),
    Metric(
        "open_at_step_3", _("Open at step 3"), PIPELINE, COUNT,
        _("Opportunities of the book at step 3 on the figures' date, not lost and not "
          "celebrated."),
        drill="step_3",
    ),
    Metric(
        "open_at_step_4", _("Open at step 4"), PIPELINE, COUNT,
        _("Opportunities of the book at step 4 on the figures' date, not lost and not "
          "celebrated."),
        drill="step_4",
    ),
    Metric(
        "open_at_step_5", _("Open at step 5"), PIPELINE, COUNT,
        _("Opportunities of the book at step 5 on the figures' date, not lost and not "
          "celebrated."),
        drill="step_5",
    ),
    Metric(
        "effective_service_ratio_pct", _("Effective service ratio (%)"), CAPACITY, PERCENT,
        # xgettext:no-python-format
        _("The book weighted by the tiers' book weights, over the RM's capacity (own, or the "
          "bank's default), on the figures' date: above 100% overloaded, below 70% room (a "
          "branch: its RMs' weighted books over their capacities)."),
    ),
)  # fmt: skip

METRICS_BY_CODE = {metric.code: metric for metric in METRICS}
