"""The pipeline board (``""``) and the honours board (``honours/``).

The board: one column per step with its count and sum, the first ``BOARD_CARDS`` cards
of each (the longest in their step first; ``?step=<n>`` lists a whole column, a page at
a time). RMs and advisors see theirs and move cards one step with htmx — the answer is
the board again, counts updated, or the card with the service's refusal; without JS the
same form posts and comes back. Supervisors see their branch subtree (filter by RM),
head office the bank (filter by branch); neither moves anything.

The honours board (庆祝成功 / 荣誉榜): a branch's month — celebrated sales with the team
and its recognition, the ranking of credited amounts per person, referrals per RM,
thanks to the departments. RMs and advisors see their branch's, supervisors a branch of
their subtree (their own by default), head office any branch or the whole bank.
"""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.paginator import InvalidPage
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView, View
from django_htmx.http import reswap, retarget

from sales_pipeline import board
from sales_pipeline.forms import BoardFilterForm, HonoursFilterForm
from sales_pipeline.models import Opportunity, Step
from sales_pipeline.views import bank_now, is_writer
from vipcrm.models import Branch
from vipcrm.pagination import WindowPaginator, window_page_context
from vipcrm.roles import Actor, Role, branch_subtree_ids, visible_to
from vipcrm.views import StaffRequiredMixin

BOARD_TEMPLATE = "sales_pipeline/includes/board.html"
CARD_TEMPLATE = "sales_pipeline/includes/card.html"
STEP_KEYS = {str(step): step for step in Step.values}


def moved_message(opportunity: Opportunity) -> str:
    return gettext("“%(title)s” moved to step %(step)s: %(label)s.") % {
        "title": opportunity.title,
        "step": opportunity.step,
        "label": Step(opportunity.step).label,
    }


def _board_url(query: QueryDict) -> str:
    url = reverse("sales_pipeline:board")
    return f"{url}?{query.urlencode()}" if query else url


def _filters(actor: Actor, query: QueryDict) -> BoardFilterForm:
    """The board's filter form from ``query`` (its page and step aside); an invalid
    field shows its error, the valid ones apply."""
    query = query.copy()
    for name in ("page", "step"):
        query.pop(name, None)
    form = BoardFilterForm(query or None, actor=actor)
    if form.is_bound:
        form.is_valid()
    return form


def board_context(request: HttpRequest, actor: Actor, query: QueryDict) -> dict:
    """What the board shows for the filters in ``query``: three queries, plus the
    filters' choices."""
    now = bank_now(request)
    form = _filters(actor, query)
    return {
        "filter_form": form,
        "active_filters": form.active_filters(),
        "board": board.pipeline_board(actor=actor, filters=form.filters(), now=now),
        "can_move": is_writer(actor),
        "board_url": _board_url(form.data if form.is_bound else QueryDict()),
        "now": now,
    }


def _query_of(url: str) -> QueryDict:
    return QueryDict(urlsplit(url).query)


def board_response(
    request: HttpRequest, actor: Actor, *, board_url: str, message: str
) -> HttpResponse:
    """After an htmx move: the whole board again (the card in its new column, the counts
    and sums updated), in place of the board, with the message read out."""
    context = board_context(request, actor, _query_of(board_url))
    response = render(request, BOARD_TEMPLATE, {**context, "moved_message": message})
    return reswap(retarget(response, "#board"), "outerHTML")


def card_response(
    request: HttpRequest, actor: Actor, *, pk: int, board_url: str, refusal: list[str]
) -> HttpResponse:
    """After a refused htmx move: the card as it is now, with the service's reasons
    (200: htmx swaps only successful answers)."""
    now = bank_now(request)
    card = board.board_card(actor=actor, pk=pk, now=now)
    context = {
        "card": card,
        "pk": pk,
        "refusal": refusal,
        "can_move": is_writer(actor),
        "board_url": board_url,
        "live": True,
    }
    return render(request, CARD_TEMPLATE, context)


class BoardView(StaffRequiredMixin, View):
    """The board; ``?step=<n>``: that column in full, a page at a time."""

    def get(self, request, *args, **kwargs):
        step = STEP_KEYS.get(request.GET.get("step", ""))
        if step is not None:
            return self.column(step)
        context = board_context(request, self.actor, request.GET)
        if context["filter_form"].errors:
            messages.error(request, _("Please correct the filter below."))
        return render(request, "sales_pipeline/board.html", context)

    def column(self, step: int) -> HttpResponse:
        request = self.request
        now = bank_now(request)
        form = _filters(self.actor, request.GET)
        opportunities = board.board_opportunities(
            actor=self.actor, filters=form.filters(), now=now
        ).filter(step=step)
        paginator = WindowPaginator(board.column_cards(opportunities, step=step), board.BOARD_CARDS)
        try:
            page = paginator.page(request.GET.get("page") or 1)
        except InvalidPage as error:
            raise Http404 from error
        for card in page.object_list:
            board.describe(card, now=now)
        query = request.GET.copy()
        query.pop("page", None)
        filters_only = query.copy()
        filters_only.pop("step", None)
        context = {
            "step": step,
            "label": Step(step).label,
            "requirement": board.NEXT_REQUIREMENT[step],
            "filter_form": form,
            "active_filters": form.active_filters(),
            "page_obj": page,
            "cards": page.object_list,
            "can_move": is_writer(self.actor),
            "query_string": query.urlencode(),
            "back_url": _board_url(filters_only),
            "column_url": request.get_full_path(),
            **window_page_context(queryset=opportunities, page=page, per_page=board.BOARD_CARDS),
        }
        return render(request, "sales_pipeline/column.html", context)


# --- The honours board ------------------------------------------------------------------


def _next_month(day: datetime.date) -> datetime.date:
    return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


class HonoursView(StaffRequiredMixin, TemplateView):
    template_name = "sales_pipeline/honours.html"

    def filter_form(self) -> HonoursFilterForm:
        role = self.actor.role
        if role == Role.HEAD_OFFICE:
            branches, whole_bank = Branch.objects.order_by("code"), True
        elif role == Role.SUPERVISOR:
            branches, whole_bank = visible_to(Branch.objects.all(), self.actor), False
            branches = branches.order_by("code")
        else:
            branches, whole_bank = None, False
        initial = {}
        if role == Role.SUPERVISOR:
            initial["branch"] = self.actor.staff.branch_id
        return HonoursFilterForm(
            self.request.GET or None, branches=branches, whole_bank=whole_bank, initial=initial
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        actor, now = self.actor, bank_now(self.request)
        form = self.filter_form()
        data = {}
        if form.is_bound:
            if not form.is_valid():
                messages.error(self.request, _("Please correct the filter below."))
            data = getattr(form, "cleaned_data", {})
        month = data.get("month") or now.date().replace(day=1)
        branch = data.get("branch")
        if actor.role == Role.HEAD_OFFICE:
            branch_ids = branch_subtree_ids(branch.pk) if branch else None
        else:
            branch = branch or actor.staff.branch
            branch_ids = branch_subtree_ids(branch.pk)
        start = datetime.datetime.combine(month, datetime.time(), tzinfo=now.tzinfo)
        end = datetime.datetime.combine(_next_month(month), datetime.time(), tzinfo=now.tzinfo)
        previous = (month - datetime.timedelta(days=1)).replace(day=1)
        query = self.request.GET.copy()
        query.pop("month", None)
        context.update(
            filter_form=form,
            branch=branch,
            month=month,
            honours=board.honours_board(actor=actor, branch_ids=branch_ids, start=start, end=end),
            previous_query=f"{query.urlencode()}&month={previous:%Y-%m}".lstrip("&"),
            next_query=(
                f"{query.urlencode()}&month={_next_month(month):%Y-%m}".lstrip("&")
                if month < now.date().replace(day=1)
                else ""
            ),
        )
        return context
