"""An opportunity's pages: new (``new/?client=<customer number>``), its page
(``<id>/``) and the work of its steps, each a POST route of its own that answers a GET
with the page:

- ``edit/`` title, expected amount, products of interest, advisors;
- ``plan/`` step 1, plan the contact; ``contact/`` step 2, log it with the needs found;
- ``proposal/`` and ``win/`` step 3, propose a product mix and record the sale;
- ``check-in/``, ``cross-sell/``, ``referral/`` step 4 (the last two at 5 too);
- ``celebrate/`` step 5; ``lose/`` at any step before the celebration;
- ``move/`` one step forward (also from the board, with htmx: ``views.boards``).

Checks, in this order: the opportunity from the actor's scope (404), the role (403 for
supervisors and head office), the input (the page with the form's errors, 400), the
service's rules (the same, or 409 when the opportunity moved meanwhile). A success
redirects to the page with a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import View
from django.views.generic.detail import SingleObjectMixin

from contact_plans.forms import add_service_error
from contact_plans.models import PlannedContact
from customers import selectors as client_selectors
from customers.models import Client, Need, Product
from sales_pipeline import board, services
from sales_pipeline.forms import (
    CelebrationForm,
    CheckInLogForm,
    ContactLogForm,
    CrossSellForm,
    LoseForm,
    MoveForm,
    OpportunityForm,
    PlanContactForm,
    ProductChoices,
    ProposalForm,
    RecordSaleForm,
    ReferralForm,
)
from sales_pipeline.models import Opportunity, Proposal, Step
from sales_pipeline.selectors import opportunity_detail_queryset
from sales_pipeline.views import bank_now, boards, is_writer, require_writer, safe_next
from sales_pipeline.views.boards import moved_message
from vipcrm.roles import Actor
from vipcrm.views import ScopedViewMixin, StaffRequiredMixin

PAGE_TEMPLATE = "sales_pipeline/opportunity.html"
WON = Opportunity.Status.WON
DRAFT = Proposal.Status.DRAFT
MOVED_BY_HAND = (Step.PLAN, Step.CONTACT, Step.FOLLOW_UP)  # 3 and 5 move by their work


def opportunity_page_queryset(*, actor: Actor):
    """The opportunities the actor sees, with all their page shows in a fixed number of
    queries (the selector's prefetches, and the step work's links)."""
    return opportunity_detail_queryset(actor=actor).select_related(
        "planned_contact", "interaction", "holding__product", "life_event", "parent"
    )


def _unsuitable_ids(client: Client, products, today) -> set[int]:
    """Products the client's valid assessment does not allow (no queries). With no valid
    assessment every product is refused and the page says why once, not per product."""
    if not client.risk_is_valid(today):
        return set()
    return {
        product.pk
        for product in products
        if services.suitability_errors(client=client, products=[product], on=today)
    }


def _need_labels(interaction) -> list[str]:
    if interaction is None:
        return []
    labels = dict(Need.Kind.choices)
    return [str(labels.get(kind, kind)) for kind in interaction.needs_found]


class OpportunityPage:
    """What the opportunity page shows: the header, the checklist, the current step's
    work with its forms (fresh, or the bound one with its errors), and the history."""

    def __init__(self, *, request, actor: Actor, opportunity: Opportunity):
        self.request = request
        self.actor = actor
        self.opportunity = opportunity
        self.now = bank_now(request)
        self.today = self.now.date()
        self.writable = is_writer(actor) and not opportunity.is_closed

    @cached_property
    def catalogue(self) -> list[Product]:
        return board.product_catalogue()

    @cached_property
    def check_ins(self) -> list[PlannedContact]:
        return board.opportunity_check_ins(opportunity=self.opportunity)

    def product_choices(self, *, flag_unsuitable: bool = False) -> ProductChoices:
        unsuitable = ()
        if flag_unsuitable:
            unsuitable = _unsuitable_ids(self.opportunity.client, self.catalogue, self.today)
        return ProductChoices(self.catalogue, unsuitable=unsuitable)

    # --- Forms, as the page offers them ------------------------------------------------

    def edit_form(self, data=None) -> OpportunityForm:
        opportunity = self.opportunity
        return OpportunityForm(
            data,
            products=self.product_choices(),
            team=board.client_team_staff(client=opportunity.client),
            new=False,
            auto_id="edit-%s",
            initial={
                "title": opportunity.title,
                "expected_amount_cny": opportunity.expected_amount_cny,
                "products": [str(p.pk) for p in opportunity.products_of_interest.all()],
                "advisors": [str(s.pk) for s in opportunity.advisors.all()],
            },
        )

    def plan_form(self, data=None) -> PlanContactForm:
        return PlanContactForm(
            data,
            auto_id="plan-%s",
            initial={"channel": self.opportunity.client.preferred_channel},
        )

    def contact_form(self, data=None) -> ContactLogForm:
        planned = self.opportunity.planned_contact
        channel = (planned.channel if planned else "") or self.opportunity.client.preferred_channel
        return ContactLogForm(data, auto_id="contact-%s", initial={"channel": channel})

    def proposal_form(self, data=None) -> ProposalForm:
        return ProposalForm(
            data,
            products=self.product_choices(flag_unsuitable=True),
            initial_lines=[
                {"product": str(product.pk)}
                for product in self.opportunity.products_of_interest.all()
            ],
            auto_id="proposal-%s",
        )

    def sale_form(self, proposal: Proposal | None, data=None) -> RecordSaleForm:
        key = proposal.pk if proposal is not None else "none"
        return RecordSaleForm(
            data,
            proposal=proposal,
            recording_categories=services.RECORDING_CATEGORIES,
            auto_id=f"sale-{key}-%s",
        )

    def open_check_ins(self) -> list[PlannedContact]:
        return [contact for contact in self.check_ins if contact.is_open]

    def check_in_form(self, data=None) -> CheckInLogForm:
        open_check_ins = self.open_check_ins()
        return CheckInLogForm(
            data,
            check_ins=open_check_ins,
            auto_id="check-in-%s",
            initial={
                "channel": self.opportunity.client.preferred_channel,
                "planned_contact": str(open_check_ins[0].pk) if open_check_ins else "",
            },
        )

    def cross_sell_form(self, data=None) -> CrossSellForm:
        return CrossSellForm(data, products=self.product_choices(), auto_id="cross-sell-%s")

    def referral_form(self, data=None) -> ReferralForm:
        return ReferralForm(data, auto_id="referral-%s")

    def celebration_form(self, data=None) -> CelebrationForm:
        return CelebrationForm(
            data,
            auto_id="celebrate-%s",
            initial={"client_thanks_channel": self.opportunity.client.preferred_channel},
        )

    def lose_form(self, data=None) -> LoseForm:
        return LoseForm(data, auto_id="lose-%s")

    def move_form(self, data=None) -> MoveForm:
        return MoveForm(data, auto_id="move-%s")

    # --- The page ------------------------------------------------------------------------

    def work_forms(self, bound: dict) -> dict:
        """The forms of the work the opportunity's state allows (none when read only):
        the bound one of ``bound`` in its place, a fresh one elsewhere. A bound form the
        page no longer offers (the opportunity moved on or closed meanwhile, its
        proposal can no longer be won) comes back as ``stray_form``: its errors show
        above the step's work. The move's show in the checklist."""
        bound = dict(bound)
        forms = {}
        if "move_form" in bound:
            forms["move_form"] = bound.pop("move_form")

        def offer(key, build):
            forms[key] = bound.pop(key) if key in bound else build()

        opportunity = self.opportunity
        step, won = opportunity.step, opportunity.status == WON
        if self.writable:
            offer("edit_form", self.edit_form)
            offer("lose_form", self.lose_form)
            if step == Step.PLAN:
                planned = opportunity.planned_contact
                if planned is None or not planned.is_open or "plan_form" in bound:
                    offer("plan_form", self.plan_form)
            elif step == Step.CONTACT:
                offer("contact_form", self.contact_form)
            elif step == Step.EXECUTE and not won:
                offer("proposal_form", self.proposal_form)
                drafts = [p for p in opportunity.proposals.all() if p.status == DRAFT]
                sale = bound.pop("sale_form", None)
                if sale is not None and sale.instance not in drafts:
                    bound["sale_form"], sale = sale, None
                forms["sale_forms"] = [
                    sale if sale is not None and sale.instance == p else self.sale_form(p)
                    for p in drafts
                ]
            elif step == Step.CELEBRATE:
                offer("celebration_form", self.celebration_form)
            if step == Step.FOLLOW_UP and (self.open_check_ins() or "check_in_form" in bound):
                offer("check_in_form", self.check_in_form)
            if won and step in (Step.FOLLOW_UP, Step.CELEBRATE):
                offer("cross_sell_form", self.cross_sell_form)
                offer("referral_form", self.referral_form)
        if bound:  # the view's one bound form, which the page no longer offers
            (forms["stray_form"],) = bound.values()
        return forms

    def context(self, **bound) -> dict:
        opportunity = self.opportunity
        client = opportunity.client
        checklist = services.opportunity_checklist(opportunity=opportunity)
        proposals = list(opportunity.proposals.all())
        won = opportunity.status == WON or opportunity.won_at is not None
        forms = self.work_forms(bound)
        context = {
            "opportunity": opportunity,
            "client": client,
            "today": self.today,
            "checklist": checklist,
            "current": next((s for s in checklist if s.step == opportunity.step), None),
            "is_writer": is_writer(self.actor),
            "writable": self.writable,
            # Steps 3 and 5 move on by their own work (the sale, the celebration).
            "can_move_here": self.writable and opportunity.step in MOVED_BY_HAND,
            "advisors": list(opportunity.advisors.all()),
            "products_of_interest": list(opportunity.products_of_interest.all()),
            "proposals": proposals,
            "credits": list(opportunity.credits.all()),
            "risk": client_selectors.client_risk_status(client=client, today=self.today),
            "risk_ceiling": f"R{client.risk_level[1:]}" if client.risk_level else "",
            "check_ins": self.check_ins if won else [],
            "referrals": board.opportunity_referrals(opportunity=opportunity) if won else [],
            "cross_sells": board.opportunity_cross_sells(opportunity=opportunity) if won else [],
            "celebration": (
                board.opportunity_celebration(opportunity=opportunity)
                if opportunity.completed_at
                else None
            ),
            "recording_categories": services.RECORDING_CATEGORIES,
            "needs_found_labels": _need_labels(opportunity.interaction),
            **forms,
        }
        if opportunity.step == Step.EXECUTE and opportunity.is_open:
            context["allocation"] = board.proposal_allocation(
                client=client, proposal=proposals[0] if proposals else None, on=self.today
            )
        return context


# --- Views ---------------------------------------------------------------------------


class OpportunityMixin(ScopedViewMixin, SingleObjectMixin):
    """An opportunity from the actor's scope (else 404), shown on its page."""

    model = Opportunity  # for introspection (the cross-tenant test); rows: the selector
    selector = opportunity_page_queryset
    context_object_name = "opportunity"

    def page_url(self) -> str:
        return reverse("sales_pipeline:opportunity", args=[self.object.pk])

    @cached_property
    def page(self) -> OpportunityPage:
        return OpportunityPage(request=self.request, actor=self.actor, opportunity=self.object)

    def render_page(self, *, status: int = 200, **bound) -> HttpResponse:
        return render(self.request, PAGE_TEMPLATE, self.page.context(**bound), status=status)


class OpportunityDetailView(OpportunityMixin, View):
    """The opportunity's page: read only for supervisors and head office."""

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        return self.render_page()


class OpportunityActionView(OpportunityMixin, View):
    """One piece of the page's work: a POST through one service; a GET shows the page."""

    form_key = ""  # the form's name on the page
    anchor = "work"

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        return HttpResponseRedirect(f"{self.page_url()}#{self.anchor}")

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        require_writer(self.actor)
        form = self.bound_form(self.page)
        status = 400
        if form.is_valid():
            try:
                message = self.perform(form)
            except ObjectDoesNotExist as error:  # out of scope meanwhile: as not found
                raise Http404 from error
            except ValidationError as error:
                add_service_error(form, error)
                if isinstance(error, services.StepConflict):
                    status = 409
            else:
                messages.success(request, message)
                return HttpResponseRedirect(self.success_url())
        return self.render_page(status=status, **{self.form_key: form})

    def success_url(self) -> str:
        return f"{self.page_url()}#{self.anchor}"

    def bound_form(self, page: OpportunityPage):
        raise NotImplementedError

    def perform(self, form) -> str:
        raise NotImplementedError


class OpportunityEditView(OpportunityActionView):
    form_key = "edit_form"
    anchor = "edit"

    def bound_form(self, page):
        return page.edit_form(self.request.POST)

    def perform(self, form) -> str:
        services.opportunity_update(
            actor=self.actor, opportunity=self.object, request=self.request, **form.arguments()
        )
        return gettext("The opportunity is saved.")


class OpportunityMoveView(OpportunityActionView):
    """One step forward. From the page: a plain POST, then the page (or ``next``). From
    the board (htmx): the board again, its counts updated, or the card with the
    service's refusal (``views.boards``)."""

    form_key = "move_form"
    anchor = "checklist"

    def post(self, request, *args, **kwargs):
        if not request.htmx:
            return super().post(request, *args, **kwargs)
        self.object = self.get_object()
        require_writer(self.actor)
        form = MoveForm(request.POST)
        board_url = safe_next(request, reverse("sales_pipeline:board"))
        if form.is_valid():
            try:
                moved = self.move(form)
            except ObjectDoesNotExist as error:
                raise Http404 from error
            except ValidationError as error:
                refusal = error.messages
            else:
                return boards.board_response(
                    request, self.actor, board_url=board_url, message=moved_message(moved)
                )
        else:
            refusal = [message for errors in form.errors.values() for message in errors]
        return boards.card_response(
            request, self.actor, pk=self.object.pk, board_url=board_url, refusal=refusal
        )

    def move(self, form) -> Opportunity:
        return services.opportunity_move(
            actor=self.actor,
            opportunity=self.object,
            to_step=form.cleaned_data["to_step"],
            from_step=form.cleaned_data.get("from_step"),
            request=self.request,
        )

    def bound_form(self, page):
        return page.move_form(self.request.POST)

    def perform(self, form) -> str:
        return moved_message(self.move(form))

    def success_url(self) -> str:
        return safe_next(self.request, super().success_url())


class PlanContactView(OpportunityActionView):
    form_key = "plan_form"

    def bound_form(self, page):
        return page.plan_form(self.request.POST)

    def perform(self, form) -> str:
        data = form.cleaned_data
        contact = services.opportunity_plan_contact(
            actor=self.actor,
            opportunity=self.object,
            due_on=data["due_on"],
            channel=data.get("channel") or "",
            note=data.get("note") or "",
            request=self.request,
        )
        return gettext("The contact is planned for %(date)s.") % {
            "date": contact.due_on.isoformat()
        }


class LogContactView(OpportunityActionView):
    form_key = "contact_form"

    def bound_form(self, page):
        return page.contact_form(self.request.POST)

    def perform(self, form) -> str:
        interaction = services.opportunity_log_contact(
            actor=self.actor, opportunity=self.object, request=self.request, **form.arguments()
        )
        if interaction.needs_found:
            return gettext("The contact is logged, with the needs found.")
        return gettext("The contact is logged. No needs found yet: step 2 is not done.")


class ProposalCreateView(OpportunityActionView):
    form_key = "proposal_form"
    anchor = "proposal"

    def bound_form(self, page):
        return page.proposal_form(self.request.POST)

    def perform(self, form) -> str:
        proposal = services.proposal_create(
            actor=self.actor, opportunity=self.object, request=self.request, **form.arguments()
        )
        total = sum(line.amount_cny for line in proposal.lines.all())
        return gettext("The proposal is saved: %(amount)s CNY. Record the sale once agreed.") % {
            "amount": number_format(total, decimal_pos=2, force_grouping=True)
        }


class RecordSaleView(OpportunityActionView):
    form_key = "sale_form"
    anchor = "proposals"

    def bound_form(self, page):
        chosen = self.request.POST.get("proposal", "")
        proposal = next((p for p in self.object.proposals.all() if str(p.pk) == chosen), None)
        return page.sale_form(proposal, self.request.POST)

    def perform(self, form) -> str:
        won = services.opportunity_win(
            actor=self.actor, opportunity=self.object, request=self.request, **form.arguments()
        )
        return gettext(
            "The sale is recorded: %(amount)s CNY. The after-sales check-ins are planned."
        ) % {"amount": number_format(won.won_amount_cny, decimal_pos=2, force_grouping=True)}


class LoseView(OpportunityActionView):
    form_key = "lose_form"
    anchor = "lose"

    def bound_form(self, page):
        return page.lose_form(self.request.POST)

    def perform(self, form) -> str:
        services.opportunity_lose(
            actor=self.actor,
            opportunity=self.object,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data.get("note") or "",
            request=self.request,
        )
        return gettext("The opportunity is closed as lost.")


class CheckInLogView(OpportunityActionView):
    form_key = "check_in_form"
    anchor = "check-ins"

    def bound_form(self, page):
        return page.check_in_form(self.request.POST)

    def perform(self, form) -> str:
        services.opportunity_check_in_log(
            actor=self.actor, opportunity=self.object, request=self.request, **form.arguments()
        )
        return gettext("The check-in is logged.")


class CrossSellView(OpportunityActionView):
    form_key = "cross_sell_form"
    anchor = "cross-sells"

    def bound_form(self, page):
        return page.cross_sell_form(self.request.POST)

    def perform(self, form) -> str:
        data = form.cleaned_data
        created = services.cross_sell_create(
            actor=self.actor,
            opportunity=self.object,
            title=data["title"],
            products=data.get("products") or [],
            expected_amount_cny=data.get("expected_amount_cny"),
            request=self.request,
        )
        return gettext("The cross-sell “%(title)s” is a new opportunity at step 1.") % {
            "title": created.title
        }


class ReferralView(OpportunityActionView):
    form_key = "referral_form"
    anchor = "referrals"

    def bound_form(self, page):
        return page.referral_form(self.request.POST)

    def perform(self, form) -> str:
        referral = services.referral_create(
            actor=self.actor, opportunity=self.object, request=self.request, **form.cleaned_data
        )
        return gettext(
            "%(name)s is a new prospect (%(number)s), referred by %(client)s, with an "
            "opportunity of their own."
        ) % {
            "name": referral.prospect.name,
            "number": referral.prospect.external_id,
            "client": self.object.client.name,
        }


class CelebrateView(OpportunityActionView):
    form_key = "celebration_form"
    anchor = "celebration"

    def bound_form(self, page):
        return page.celebration_form(self.request.POST)

    def perform(self, form) -> str:
        services.celebration_record(
            actor=self.actor, opportunity=self.object, request=self.request, **form.cleaned_data
        )
        return gettext("The celebration is recorded: congratulations to the team!")


# --- A new opportunity ---------------------------------------------------------------


class OpportunityCreateView(StaffRequiredMixin, View):
    """A new opportunity for a client the actor sees (``?client=<customer number>``;
    without one, a field to give it). RMs and advisors only: the client is looked up
    first (404 outside the actor's scope), then the role (403)."""

    template_name = "sales_pipeline/new.html"

    def setup_client(self) -> None:
        self.number = (self.request.GET.get("client") or "").strip()
        self.client = None
        if self.number:
            self.client = (
                client_selectors.client_detail_queryset(actor=self.actor)
                .filter(external_id=self.number)
                .first()
            )

    def form(self, data=None) -> OpportunityForm:
        events = client_selectors.client_life_events(client=self.client)
        return OpportunityForm(
            data,
            products=ProductChoices(board.product_catalogue()),
            team=board.client_team_staff(client=self.client),
            life_events=[*events["upcoming"], *events["past"]],
            auto_id="new-%s",
        )

    def render_page(self, form=None, *, status: int = 200) -> HttpResponse:
        context = {"client": self.client, "form": form, "number": self.number}
        if self.number and self.client is None:
            context["not_found"] = True
            status = 404
        return render(self.request, self.template_name, context, status=status)

    def get(self, request, *args, **kwargs):
        self.setup_client()
        if self.client is None and self.number:
            return self.render_page()  # the customer-number field, with "not found"
        require_writer(self.actor)
        return self.render_page(self.form() if self.client else None)

    def post(self, request, *args, **kwargs):
        self.setup_client()
        if self.client is None:
            raise Http404(_("No client with this customer number in your view."))
        require_writer(self.actor)
        form = self.form(request.POST)
        if form.is_valid():
            try:
                opportunity = services.opportunity_create(
                    actor=self.actor, client=self.client, request=request, **form.arguments()
                )
            except ObjectDoesNotExist as error:
                raise Http404 from error
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(
                    request, gettext("The opportunity is open at step 1: plan the contact.")
                )
                return HttpResponseRedirect(
                    reverse("sales_pipeline:opportunity", args=[opportunity.pk])
                )
        return self.render_page(form, status=400)
