"""Head office's configuration pages: the tiers with their floors and service standards,
and the tiering policy.

Supervisors and head office read them; head office alone edits (anyone else gets 403 on
an edit route and sees no edit buttons). RMs and advisors are refused (403): the rules
reach them through their clients' tiers and contact plans. The views only move form
data to the services of ``segmentation.configuration``.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView

from customers.models import Tier
from segmentation import configuration, selectors
from segmentation.forms import TierForm, TieringPolicyForm
from vipcrm.views import StaffRequiredMixin

EFFECT_NOTE = _("Saved. Clients are re-tiered against it at the next nightly run.")


class _ConfigAccess:
    """Placed after ``StaffRequiredMixin``, so the actor is known when it runs."""

    edits = False

    def dispatch(self, request, *args, **kwargs):
        if not configuration.config_can_view(self.actor):
            raise PermissionDenied(_("Tier configuration is for supervisors and head office."))
        if self.edits:
            configuration.config_edit_check(actor=self.actor)
        return super().dispatch(request, *args, **kwargs)


class ConfigMixin(StaffRequiredMixin, _ConfigAccess):
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_edit"] = configuration.config_can_edit(self.actor)
        return context


class TierConfigView(ConfigMixin, TemplateView):
    """The tiers in rank order with floors and service standards, and the policy."""

    template_name = "segmentation/config_tiers.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        tiers = configuration.tier_config_list()
        context.update(
            tiers=tiers,
            lowest=min(tiers, key=lambda tier: tier.rank) if tiers else None,
            policy=selectors.tiering_policy(),
            changes=configuration.config_change_list(actor=self.actor),
        )
        return context


class _FormMixin:
    """A configuration form: GET shows it, POST sends it to a service; the service's
    refusals land on the fields they name."""

    form_class = None
    success_message = EFFECT_NOTE

    def get_form(self, data=None):
        return self.form_class(data, **self.form_kwargs())

    def form_kwargs(self) -> dict:
        return {}

    def get(self, request, *args, **kwargs):
        return self.render_to_response(self.get_context_data(form=self.get_form()))

    def post(self, request, *args, **kwargs):
        form = self.get_form(request.POST)
        if form.is_valid():
            try:
                with transaction.atomic():  # all of a form's writes, or none of them
                    self.perform(form)
            except ValidationError as error:
                _add_service_error(form, error)
            else:
                messages.success(request, self.success_message)
                return HttpResponseRedirect(reverse("segmentation:tiers"))
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def perform(self, form) -> None:
        raise NotImplementedError


class _TierObject:
    """The tier named by its code in the URL, among the tenant's tiers, else 404.

    Placed after ``ConfigMixin``: the login and the role are checked (403) before the
    tier is looked up (404).
    """

    model = Tier  # for introspection (the cross-tenant test)
    slug_field = "code"
    slug_url_kwarg = "code"

    def dispatch(self, request, *args, **kwargs):
        self.tier = get_object_or_404(configuration.tier_queryset(), code=kwargs["code"])
        self.standard = configuration.tier_with_standard(tier=self.tier)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(tier=self.tier, standard=self.standard)
        return context


class TierCreateView(ConfigMixin, _FormMixin, TemplateView):
    edits = True
    template_name = "segmentation/config_tier_form.html"
    form_class = TierForm
    success_message = _(
        "Tier added. Clients whose average AUM reaches its floor enter it at the next nightly run."
    )

    def form_kwargs(self):
        return {"initial": {"meetings_per_year": 0}}

    def perform(self, form):
        configuration.tier_create(
            actor=self.actor,
            code=form.cleaned_data["code"],
            request=self.request,
            **form.tier_values(),
            **form.standard_values(),
        )


class TierEditView(ConfigMixin, _TierObject, _FormMixin, TemplateView):
    """A tier and its service standard in one form, saved together or not at all."""

    edits = True
    template_name = "segmentation/config_tier_form.html"
    form_class = TierForm

    def form_kwargs(self):
        return {"editing": True, "initial": TierForm.initial_for(self.tier, self.standard)}

    def perform(self, form):
        configuration.tier_update(
            actor=self.actor, tier=self.tier, request=self.request, **form.tier_values()
        )
        configuration.service_standard_update(
            actor=self.actor, tier=self.tier, request=self.request, **form.standard_values()
        )


class TierDeleteView(ConfigMixin, _TierObject, TemplateView):
    """Delete a tier nobody is in: a confirmation page, then POST."""

    edits = True
    template_name = "segmentation/config_tier_delete.html"

    def post(self, request, *args, **kwargs):
        try:
            configuration.tier_delete(actor=self.actor, tier=self.tier, request=request)
        except ValidationError as error:
            return self.render_to_response(self.get_context_data(errors=error.messages), status=400)
        messages.success(request, _("Tier %(tier)s deleted.") % {"tier": self.tier.name})
        return HttpResponseRedirect(reverse("segmentation:tiers"))


class TieringPolicyEditView(ConfigMixin, _FormMixin, TemplateView):
    edits = True
    template_name = "segmentation/config_policy_form.html"
    form_class = TieringPolicyForm
    success_message = _("Tiering policy saved. It applies from the next nightly run.")

    def form_kwargs(self):
        return {"initial": TieringPolicyForm.initial_for(selectors.tiering_policy())}

    def perform(self, form):
        configuration.tiering_policy_update(
            actor=self.actor, request=self.request, **form.cleaned_data
        )


def _add_service_error(form, error: ValidationError) -> None:
    """A service's refusal, shown on the form field it names (or above the form)."""
    if hasattr(error, "error_dict"):
        for field, field_errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, field_errors)
    else:
        form.add_error(None, error)
