"""Pages of the KPI dashboards, mounted at /kpi/ (see ``kpi.dashboards``).

- ``""`` (``kpi:home``): an RM's own scorecard, a supervisor's branch, head office's
  bank; an advisor learns that scorecards are the RMs'.
- ``rm/<staff id>/``: an RM's scorecard — the RM themself, a supervisor of their branch
  subtree, head office.
- ``branches/<id>/``: a branch's dashboard — supervisors (their branch subtree), head
  office.
- ``bank/``: the branches compared — head office.
- ``drill/<code>/``: the list behind a figure, for a scope and period (``?format=csv``
  or ``xlsx``: the list as a file, audited) — whoever sees the scope's figures.
- ``export/``: the scorecards of a scope and period as CSV or XLSX, audited.
- ``weights/``: the scorecard's weights — head office edits them.

Every page takes ``?period=month|quarter|year&start=<a day of it>`` (default: the
bank's current month). A scope out of the viewer's reach — another RM's scorecard for
an RM, another subtree for a supervisor, another bank's anything — is a 404, the same
as one that does not exist. Figures come from the nightly snapshots only; a period
without one says so.
"""

from __future__ import annotations

import datetime
import io
import re
import tempfile
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import InvalidPage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView, View

from contact_plans.forms import add_service_error
from contact_plans.services import tenant_today, tenant_zone
from kpi import charts, dashboards, drilldowns, exports, services
from kpi.dashboards import KpiPeriod, KpiScope, Trend
from kpi.definitions import DIMENSIONS, METRICS_BY_CODE, VIP_TIME_TARGET
from kpi.models import KpiSnapshot
from vipcrm.exports import invalid_filters_response
from vipcrm.models import Branch, StaffProfile
from vipcrm.pagination import WindowPaginator, page_window
from vipcrm.roles import Role
from vipcrm.views import StaffRequiredMixin

SUPERVISING = (Role.SUPERVISOR, Role.HEAD_OFFICE)
DRILL_ROWS = 25
CARD_CHART_WIDTH = 360  # a chart in a card of the dashboards' grid, drawn at its size
SPOOL_BYTES = 8 * 1024 * 1024  # exports larger than this spill to a temporary file
FIRST_DAY = datetime.date(2000, 1, 1)
LAST_DAY = datetime.date(2099, 12, 31)
UNSAFE_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\s]+')
# The tiles atop each page, each with its sparkline over the trend's periods.
KEY_FIGURES = (
    "vip_count",
    "book_aum_cny",
    "new_money_cny",
    "sales_won_cny",
    "coverage_pct",
    "overdue_count",
    "maturity_retention_pct",
    "vip_time_pct",
)


# --- Forms ------------------------------------------------------------------------------


class PeriodForm(forms.Form):
    """The period picker: a kind of period and any day of it (or its month, 2026-11)."""

    period = forms.ChoiceField(
        label=_("Period"), choices=KpiSnapshot.Period.choices, required=False
    )
    start = forms.DateField(
        label=_("Starting"),
        required=False,
        input_formats=["%Y-%m-%d", "%Y-%m"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Any day of the period."),
    )

    def clean_start(self):
        start = self.cleaned_data.get("start")
        if start is not None and not FIRST_DAY <= start <= LAST_DAY:
            raise ValidationError(
                _("Choose a day between %(first)s and %(last)s."),
                code="out_of_range",
                params={"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()},
            )
        return start

    def kpi_period(self, today: datetime.date) -> KpiPeriod:
        """The period asked for; the fields left blank or invalid fall back to the
        bank's current month (call after ``is_valid``)."""
        data = getattr(self, "cleaned_data", {})
        kind = data.get("period") or KpiSnapshot.Period.MONTH
        return KpiPeriod.containing(kind, data.get("start") or today)


class WeightsForm(forms.Form):
    """The five weights in whole percent; that they sum to 100 is the service's rule."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, label in DIMENSIONS.items():
            self.fields[code] = forms.IntegerField(
                label=label,
                min_value=0,
                max_value=100,
                widget=forms.NumberInput(attrs={"step": 1}),
            )


# --- Shared -----------------------------------------------------------------------------


class PeriodMixin:
    """Reads the period picker once per request (``self.period``, ``self.today``);
    a bad field shows its error above the page and the current month applies."""

    def setup_period(self) -> None:
        self.zone = tenant_zone(self.actor.tenant_id)
        self.today = timezone.localdate(timezone=self.zone)
        query = {k: v for k, v in self.request.GET.items() if k in ("period", "start")}
        self.period_form = PeriodForm(query or None)
        if self.period_form.is_bound and not self.period_form.is_valid():
            messages.error(self.request, _("Please correct the period below."))
        self.period = self.period_form.kpi_period(self.today)

    def period_context(self, scope: KpiScope) -> dict:
        period = self.period
        base = self.request.path
        return {
            "period": period,
            "period_form": self.period_form,
            "previous_url": f"{base}?{_query(period.previous)}",
            "next_url": f"{base}?{_query(period.next)}" if period.next.start <= self.today else "",
            "scope": scope,
            "period_query": _query(period),
            "export_query": _query(period, scope=scope.key),
        }


def _query(period: KpiPeriod, **extra) -> str:
    return urlencode({**extra, **period.query()})


def _scope_path(scope: KpiScope) -> str:
    """The page of a scope: an RM's scorecard, a branch's dashboard, the bank's."""
    if scope.kind == KpiSnapshot.Scope.RM:
        return reverse("kpi:rm", args=[scope.staff.pk])
    if scope.kind == KpiSnapshot.Scope.BRANCH:
        return reverse("kpi:branch", args=[scope.branch.pk])
    return reverse("kpi:bank")


def _score_points(trend: Trend) -> list[charts.Point]:
    return [
        charts.Point(short, value, text)
        for _label, short, value, text in trend.points(
            lambda row: (dashboards.number(row.score), dashboards.score_text(row.score))
        )
    ]


def _metric_points(trend: Trend, code: str) -> list[charts.Point]:
    metric = METRICS_BY_CODE[code]
    return [
        charts.Point(short, value, text)
        for _label, short, value, text in trend.points(
            lambda row: (
                dashboards.number(row.values.get(code)),
                dashboards.value_text(metric, row.values.get(code)),
            )
        )
    ]


def _tiles(current, trend: Trend, prefix: str) -> list[dict]:
    """The key figures of ``current`` (a ``SnapshotView``), each with its sparkline."""
    if current is None:
        return []
    return [
        {
            "figure": current.figures[code],
            "sparkline": charts.sparkline(
                _metric_points(trend, code),
                title=gettext("%(figure)s by period") % {"figure": METRICS_BY_CODE[code].label},
                id_prefix=f"{prefix}-{code}",
            ),
        }
        for code in KEY_FIGURES
    ]


def _weights_list(weights) -> list[tuple[str, int]]:
    return [(str(label), getattr(weights, code)) for code, label in DIMENSIONS.items()]


def _aum_chart(trend: Trend, prefix: str):
    return charts.trend_line(
        _metric_points(trend, "book_aum_cny"),
        title=gettext("Book AUM (CNY) by period"),
        id_prefix=prefix,
        width=CARD_CHART_WIDTH,
    )


def _pipeline_chart(steps, prefix: str):
    return charts.bar_list(
        [charts.Bar(f"{s.step} {s.label}", s.open.number, s.open.text, s.open.url) for s in steps],
        title=gettext("Open opportunities by step"),
        id_prefix=prefix,
        label_width=170,
    )


# --- Home -------------------------------------------------------------------------------


class KpiHomeView(StaffRequiredMixin, View):
    """Where the Scorecard menu leads: the actor's own scope, the period kept."""

    def get(self, request, *args, **kwargs):
        scope = dashboards.home_scope(actor=self.actor)
        if scope is None:
            return render(request, "kpi/dashboards/advisor.html", {})
        url = _scope_path(scope)
        query = request.GET.urlencode()
        return HttpResponseRedirect(f"{url}?{query}" if query else url)


# --- The RM's scorecard -----------------------------------------------------------------


class ScorecardView(PeriodMixin, StaffRequiredMixin, TemplateView):
    model = StaffProfile  # for introspection (the cross-tenant test); rows: the selector
    template_name = "kpi/dashboards/scorecard.html"

    def get(self, request, *args, **kwargs):
        self.staff = get_object_or_404(
            dashboards.scorecard_rms(actor=self.actor), pk=kwargs["staff_id"]
        )
        self.setup_period()
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        staff = self.staff
        card = dashboards.rm_scorecard(
            actor=self.actor,
            staff=staff,
            period=self.period,
            today=self.today,
            weights=services.scorecard_weights(),
        )
        scope = KpiScope(KpiSnapshot.Scope.RM, staff=staff, branch=staff.branch)
        context.update(self.period_context(scope))
        context.update(
            card=card,
            staff=staff,
            is_own=self.actor.staff.pk == staff.pk,
            can_coach=self.actor.role in SUPERVISING,
            months_chart=charts.trend_line(
                _score_points(card.months),
                title=gettext("Total score, last 6 months"),
                id_prefix="score-months",
                max_value=100,
                width=CARD_CHART_WIDTH,
                height=160,
            ),
            quarters_chart=charts.trend_line(
                _score_points(card.quarters),
                title=gettext("Total score, last 4 quarters"),
                id_prefix="score-quarters",
                max_value=100,
                width=CARD_CHART_WIDTH,
                height=160,
            ),
            vip_time_chart=charts.trend_line(
                _metric_points(card.months, "vip_time_pct"),
                title=gettext("Time on VIP service, last 6 months"),
                id_prefix="vip-time-months",
                max_value=100,
                target=VIP_TIME_TARGET,
                target_text=gettext("Target %(target)s%%") % {"target": VIP_TIME_TARGET},
                width=CARD_CHART_WIDTH,
                height=150,
            ),
            tiles=_tiles(card.current, card.months, "rm"),
            pipeline_chart=_pipeline_chart(card.pipeline, "rm-pipeline") if card.current else "",
            vip_time_target=VIP_TIME_TARGET,
        )
        return context


# --- The branch dashboard ---------------------------------------------------------------


def _branch_rank_text(board) -> str:
    rank = board.current.snapshot.rank_in_branch if board.current else None
    if rank is None or board.branch.parent_id is None:
        return ""
    return gettext("Rank %(rank)s among the branches of %(parent)s") % {
        "rank": rank,
        "parent": board.branch.parent.name,
    }


RM_BARS_MAX = 20  # up to this many RMs the 70% chart has a bar per RM, beyond a histogram


def _vip_time_chart(board, target_text: str):
    """The 70% rule at a glance: a bar per RM (their share of time on VIP service, amber
    below the target) for a branch of up to ``RM_BARS_MAX`` RMs; for a larger one, how
    many RMs fall in each 10-point band, each band linking to the RMs sorted by it."""
    if len(board.rm_rows) <= RM_BARS_MAX:
        metric = METRICS_BY_CODE["vip_time_pct"]
        paths: dict[str, str] = {}
        bars = [
            charts.Bar(
                row.name,
                row.vip_time,
                dashboards.value_text(metric, row.vip_time),
                dashboards.DrillLinks(row.scope_key, board.period, paths).url(metric),
            )
            for row in board.rm_rows
        ]
        return charts.bar_list(
            bars,
            title=gettext("Time on VIP service per RM"),
            id_prefix="branch-vip-time",
            max_value=100,
            target=VIP_TIME_TARGET,
            target_text=target_text,
            width=CARD_CHART_WIDTH,
            label_width=100,
            value_width=60,
        )
    ascending = f"?{_query(board.period, sort='vip_time_pct')}#ranking-caption"
    return charts.bar_list(
        [
            charts.Bar(
                gettext("%(low)s–%(high)s%%") % {"low": low, "high": high},
                count,
                ngettext("%(count)s RM", "%(count)s RMs", count) % {"count": count},
                ascending if low < VIP_TIME_TARGET else "",
            )
            for low, high, count in reversed(board.vip_time_bands)
        ],
        title=gettext("RMs by share of time on VIP service"),
        id_prefix="branch-vip-time",
        width=CARD_CHART_WIDTH,
        label_width=100,
        value_width=60,
    )


def _sort_links(board) -> dict[str, dict[str, str]]:
    """Per sortable column of the RM tables: the URL that sorts by it (a figure: largest
    first, then smallest first on the next click; the score: the ranking; the name: A–Z)
    and ``aria_sort`` — "ascending", "descending" or "none"."""
    links = {}
    for code in ("score", "name", *dashboards.RM_SORT_FIGURES):
        if code in ("score", "name"):
            target, state = code, ("descending" if code == "score" else "ascending")
            state = state if board.sort == code else "none"
        else:
            target = code if board.sort == f"-{code}" else f"-{code}"
            state = {f"-{code}": "descending", code: "ascending"}.get(board.sort, "none")
        links[code] = {
            "url": f"?{_query(board.period, sort=target)}#ranking-caption",
            "aria_sort": state,
        }
    return links


class BranchDashboardView(PeriodMixin, StaffRequiredMixin, TemplateView):
    model = Branch  # for introspection (the cross-tenant test); rows: the selector
    allowed_roles = SUPERVISING
    template_name = "kpi/dashboards/branch.html"

    def get(self, request, *args, **kwargs):
        self.branch = get_object_or_404(
            dashboards.dashboard_branches(actor=self.actor), pk=kwargs["pk"]
        )
        self.setup_period()
        return super().get(request, *args, **kwargs)

    def up_link(self) -> dict:
        """Head office goes back to the bank; a supervisor in a sub-branch, to their own
        branch."""
        query = f"?{_query(self.period)}"
        if self.actor.role == Role.HEAD_OFFICE:
            return {"up_url": reverse("kpi:bank") + query, "up_label": gettext("Bank dashboard")}
        own = self.actor.staff.branch
        if own.pk != self.branch.pk:
            return {
                "up_url": reverse("kpi:branch", args=[own.pk]) + query,
                "up_label": gettext("Dashboard of %(branch)s") % {"branch": own.name},
            }
        return {}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        weights = services.scorecard_weights()
        board = dashboards.branch_dashboard(
            actor=self.actor,
            branch=self.branch,
            period=self.period,
            today=self.today,
            weights=weights,
            sort=self.request.GET.get("sort", "score"),
            page=self.request.GET.get("page", 1),
        )
        context.update(self.period_context(KpiScope(KpiSnapshot.Scope.BRANCH, branch=self.branch)))
        target_text = gettext("Target %(target)s%%") % {"target": VIP_TIME_TARGET}
        context.update(
            board=board,
            branch=self.branch,
            tiles=_tiles(board.current, board.trend, "branch"),
            score_chart=charts.trend_line(
                _score_points(board.trend),
                title=gettext("Branch score by period"),
                id_prefix="branch-score",
                max_value=100,
                width=CARD_CHART_WIDTH,
            ),
            aum_chart=_aum_chart(board.trend, "branch-aum"),
            pipeline_chart=_pipeline_chart(board.pipeline, "branch-pipeline")
            if board.current
            else "",
            vip_time_chart=_vip_time_chart(board, target_text) if board.rm_rows else "",
            vip_time_target=VIP_TIME_TARGET,
            show_rm_branch=board.branch_count > 1,
            weights_list=_weights_list(weights),
            can_edit_weights=self.actor.role == Role.HEAD_OFFICE,
            rank_text=_branch_rank_text(board),
            sort_links=_sort_links(board),
            page_obj=board.rm_page,
            is_paginated=board.rm_page.has_other_pages(),
            query_string=_query(self.period, sort=board.sort),
            **self.up_link(),
        )
        return context


# --- The bank ---------------------------------------------------------------------------


class BankDashboardView(PeriodMixin, StaffRequiredMixin, TemplateView):
    allowed_roles = (Role.HEAD_OFFICE,)
    template_name = "kpi/dashboards/bank.html"

    def get(self, request, *args, **kwargs):
        self.setup_period()
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        weights = services.scorecard_weights()
        board = dashboards.bank_dashboard(
            actor=self.actor, period=self.period, today=self.today, weights=weights
        )
        context.update(self.period_context(KpiScope(KpiSnapshot.Scope.TENANT)))
        for row in board.branches:
            row.sparkline = charts.sparkline(
                _score_points(row.trend),
                title=gettext("Score of %(branch)s by period")
                % {"branch": row.view.snapshot.branch.name},
                id_prefix=f"bank-branch-{row.view.snapshot.branch_id}",
                max_value=100,
            )
        context.update(
            board=board,
            tiles=_tiles(board.current, board.trend, "bank"),
            aum_chart=_aum_chart(board.trend, "bank-aum"),
            vip_chart=charts.trend_line(
                _metric_points(board.trend, "vip_count"),
                title=gettext("VIP clients by period"),
                id_prefix="bank-vip",
                width=CARD_CHART_WIDTH,
            ),
            pipeline_chart=_pipeline_chart(board.pipeline, "bank-pipeline")
            if board.current
            else "",
            vip_time_target=VIP_TIME_TARGET,
            weights_list=_weights_list(weights),
            can_edit_weights=True,
        )
        return context


# --- Drill-downs ------------------------------------------------------------------------


class DrillView(PeriodMixin, StaffRequiredMixin, TemplateView):
    """The list behind a figure; ``?format=csv|xlsx`` sends it as a file."""

    # For introspection (the cross-tenant test): the figures drilled into are a
    # snapshot's; the path names a drill code, and an unknown one is a 404.
    model = KpiSnapshot
    template_name = "kpi/dashboards/drill.html"

    def get(self, request, *args, **kwargs):
        self.drill = drilldowns.DRILLS.get(kwargs["code"])
        if self.drill is None:
            raise Http404
        self.scope = self.resolve_scope()
        file_format = request.GET.get("format", "")
        if file_format:
            return self.export(file_format)
        self.setup_period()
        return super().get(request, *args, **kwargs)

    def resolve_scope(self) -> KpiScope:
        key = self.request.GET.get("scope", "")
        if not key:
            scope = dashboards.home_scope(actor=self.actor)
            if scope is None:
                raise Http404
            return scope
        try:
            return dashboards.kpi_scope_for(actor=self.actor, key=key)
        except KpiSnapshot.DoesNotExist as error:
            raise Http404 from error

    def export(self, file_format: str):
        request = self.request
        form = _export_form(request, file_format)
        if form.errors:
            return invalid_filters_response(form)
        period = form.kpi_period(tenant_today(self.actor.tenant_id))
        file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        try:
            exports.drilldown_export(
                actor=self.actor,
                drill=self.drill,
                scope=self.scope,
                period=period,
                file_format=file_format,
                file=file,
                request=request,
            )
        except exports.ExportTooLarge as error:
            file.close()
            messages.error(request, error.message)
            return HttpResponseRedirect(f"{request.path}?{_query(period, scope=self.scope.key)}")
        except BaseException:
            file.close()
            raise
        file.seek(0)
        name = f"{self.drill.code}-{self.scope.key}-{period.kind}-{period.start:%Y%m%d}"
        return _file_response(file, name=name, file_format=file_format)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        drill, scope, period = self.drill, self.scope, self.period
        snapshot = drilldowns.scope_snapshot(actor=self.actor, scope=scope, period=period)
        as_of = drilldowns.figures_date(snapshot, period=period, today=self.today)
        listing = drilldowns.drill_list(
            actor=self.actor, drill=drill, scope=scope, period=period, as_of=as_of, zone=self.zone
        )
        paginator = WindowPaginator(listing.rows, DRILL_ROWS)
        try:
            page = paginator.page(self.request.GET.get("page") or 1)
        except InvalidPage as error:
            raise Http404 from error
        totals = listing.totals()
        count = totals.pop(drilldowns.ROW_COUNT)
        page_count = min(-(-count // DRILL_ROWS), WindowPaginator.max_pages) or 1
        query = self.request.GET.copy()
        query.pop("page", None)
        metric = METRICS_BY_CODE.get(self.request.GET.get("metric", ""))
        context.update(self.period_context(scope))
        context.update(
            drill=drill,
            snapshot=snapshot,
            as_of=as_of,
            header=drill.header(),
            rows=[listing.cells(row) for row in page.object_list],
            page_obj=page,
            page_numbers=page_window(page.number, page.has_next(), page_count),
            query_string=query.urlencode(),
            row_count=count,
            totals=[
                {
                    "metric": METRICS_BY_CODE[code],
                    "list_text": dashboards.value_text(METRICS_BY_CODE[code], value),
                    "figure_text": dashboards.value_text(
                        METRICS_BY_CODE[code], snapshot.values.get(code) if snapshot else None
                    ),
                    "current": metric is not None and metric.code == code,
                }
                for code, value in totals.items()
            ],
            metric=metric if metric is not None and metric.drill == drill.code else None,
            back_url=_scope_url(scope, period),
            extra_query=[("scope", scope.key)] + ([("metric", metric.code)] if metric else []),
            export_cap=exports.EXPORT_ROW_CAP,
        )
        return context


def _scope_url(scope: KpiScope, period: KpiPeriod) -> str:
    return f"{_scope_path(scope)}?{_query(period)}"


def _export_form(request, file_format: str) -> PeriodForm:
    """An export's period form, validated; an unknown ``file_format`` is one more error."""
    form = PeriodForm(request.GET)
    form.is_valid()
    if file_format not in exports.CONTENT_TYPES:
        form.add_error(None, gettext("The format must be csv or xlsx."))
    return form


def _file_name(name: str, file_format: str) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    safe = UNSAFE_FILENAME.sub("_", name).strip("_") or "kpi"
    return f"{safe}-{stamp}.{file_format}"


def _file_response(file, *, name: str, file_format: str) -> FileResponse:
    return FileResponse(
        file,
        as_attachment=True,
        filename=_file_name(name, file_format),
        content_type=exports.CONTENT_TYPES[file_format],
    )


# --- Scorecards export ------------------------------------------------------------------


class ScorecardExportView(StaffRequiredMixin, View):
    """``?scope=…&period=…&start=…&format=csv|xlsx``: the scope's scorecards (its own
    row, its sub-branches' and its RMs'), every figure and score, audited."""

    def get(self, request, *args, **kwargs):
        key = request.GET.get("scope", "")
        try:
            scope = (
                dashboards.kpi_scope_for(actor=self.actor, key=key)
                if key
                else dashboards.home_scope(actor=self.actor)
            )
        except KpiSnapshot.DoesNotExist as error:
            raise Http404 from error
        if scope is None:
            raise Http404
        file_format = request.GET.get("format", "csv")
        form = _export_form(request, file_format)
        if form.errors:
            return invalid_filters_response(form)
        period = form.kpi_period(tenant_today(self.actor.tenant_id))
        # One row per RM and branch of the scope: small enough to answer from memory.
        buffer = io.BytesIO()
        exports.scorecards_export(
            actor=self.actor,
            scope=scope,
            period=period,
            file_format=file_format,
            file=buffer,
            request=request,
        )
        response = HttpResponse(buffer.getvalue(), content_type=exports.CONTENT_TYPES[file_format])
        name = _file_name(
            f"scorecards-{scope.key}-{period.kind}-{period.start:%Y%m%d}", file_format
        )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


# --- Weights ----------------------------------------------------------------------------


class WeightsView(StaffRequiredMixin, TemplateView):
    """Head office sets the five weights (whole percent, summing to 100)."""

    allowed_roles = (Role.HEAD_OFFICE,)
    template_name = "kpi/dashboards/weights.html"

    def get(self, request, *args, **kwargs):
        weights = services.scorecard_weights()
        form = WeightsForm(initial={code: getattr(weights, code) for code in DIMENSIONS})
        return self.render_to_response(self.get_context_data(form=form, weights=weights))

    def post(self, request, *args, **kwargs):
        form = WeightsForm(request.POST)
        if form.is_valid():
            try:
                services.scorecard_weights_set(
                    actor=self.actor, request=request, **form.cleaned_data
                )
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(
                    request,
                    _("Weights saved. Scores follow them from the next nightly computation."),
                )
                return HttpResponseRedirect(reverse("kpi:weights"))
        context = self.get_context_data(form=form, weights=services.scorecard_weights())
        return self.render_to_response(context, status=400)
