"""The "Tier" section of the client 360 page, and the tier override made from it.

The section shows the client's tier and what it rests on (the tiering basis kept by the
nightly run: average daily AUM, the tier by the rules, months below the floor against
the grace, lifecycle, product preference), the tier history and the standing override.
A supervisor of the client's branch subtree, or head office, pins a tier there (tier,
reason, expiry) or revokes the override; the writes are ``segmentation.services``'.

``customers`` cannot import this app, so the section is registered with the 360 page
through ``customers.client_sections`` from ``SegmentationConfig.ready``.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.views.generic import View
from django.views.generic.detail import SingleObjectMixin

from customers.client_sections import MAIN, ClientSection
from customers.models import Client, Tier
from customers.selectors import client_detail_queryset
from segmentation import services
from segmentation.forms import TierOverrideForm
from segmentation.models import ClientSegment, TierChange, TierOverride
from segmentation.selectors import tiering_policy
from vipcrm.roles import Actor, Role, branch_subtree_ids
from vipcrm.views import StaffRequiredMixin

TEMPLATE = "segmentation/client_tier_section.html"
ANCHOR = "tier"
HISTORY_LIMIT = 20


# --- Reads ---------------------------------------------------------------------------


def tier_override_allowed(*, actor: Actor | None, client: Client) -> bool:
    """Head office, or a supervisor of the client's branch or a branch above it."""
    staff = getattr(actor, "staff", None)
    if staff is None or client.tenant_id != actor.tenant_id:
        return False
    if actor.role == Role.HEAD_OFFICE:
        return True
    return actor.role == Role.SUPERVISOR and client.branch_id in branch_subtree_ids(staff.branch_id)


def client_tier_basis(*, client: Client) -> ClientSegment | None:
    """The client's segment row (None until the nightly run has evaluated the client)."""
    return ClientSegment.objects.select_related("rule_tier").filter(client=client).first()


def client_tier_history(*, client: Client, limit: int = HISTORY_LIMIT) -> list[TierChange]:
    return list(
        TierChange.objects.filter(client=client)
        .select_related("from_tier", "to_tier")
        .order_by("-effective_on", "-id")[:limit]
    )


def client_standing_override(*, client: Client) -> TierOverride | None:
    """The override not revoked (it may have expired: the next run then ends it)."""
    return (
        TierOverride.objects.filter(client=client, revoked_at__isnull=True)
        .select_related("tier", "created_by")
        .first()
    )


def tier_section_context(*, actor: Actor, client: Client, form=None, **extra) -> dict:
    """What the section shows ``actor`` about ``client`` (a constant number of queries)."""
    today = timezone.localdate()
    can_override = tier_override_allowed(actor=actor, client=client)
    override = client_standing_override(client=client)
    if can_override and form is None:
        form = TierOverrideForm(tiers=Tier.objects.order_by("-rank"), auto_id="tier-override-%s")
    return {
        "client": client,
        "today": today,
        "segment": client_tier_basis(client=client),
        "policy": tiering_policy(),
        "history": client_tier_history(client=client),
        "override": override,
        "override_expired": override is not None and override.expires_on < today,
        "can_override": can_override,
        "override_form": form if can_override else None,
        **extra,
    }


def render_tier_section(*, request: HttpRequest, actor: Actor, client: Client) -> SafeString:
    """The section as the client 360 page embeds it (``customers.client_sections``)."""
    return render_to_string(TEMPLATE, tier_section_context(actor=actor, client=client), request)


TIER_SECTION = ClientSection(
    name="segmentation.tier", order=10, render=render_tier_section, column=MAIN
)


# --- Views ---------------------------------------------------------------------------


class TierSectionView(StaffRequiredMixin, SingleObjectMixin, View):
    """The tier section alone (htmx) or on a page of its own (no JS), and one change.

    The client comes from the actor's scope (another branch's or bank's client is a
    404); a role that may not pin a tier gets 403 before its form is even read.
    """

    model = Client  # for introspection (the cross-tenant test); rows come from the selector
    slug_field = "external_id"
    slug_url_kwarg = "external_id"
    context_object_name = "client"
    success_message = _("Saved.")

    def get_queryset(self):
        return client_detail_queryset(actor=self.actor)

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        return self.render_section()

    def render_section(self, **extra) -> HttpResponse:
        context = tier_section_context(actor=self.actor, client=self.object, **extra)
        if self.request.htmx:
            return render(self.request, TEMPLATE, context)
        context["section_template"] = TEMPLATE
        return render(self.request, "customers/client_section.html", context)

    def succeeded(self) -> HttpResponse:
        if self.request.htmx:
            return self.render_section(saved_message=self.success_message)
        messages.success(self.request, self.success_message)
        url = reverse("customers:client-detail", args=[self.object.external_id])
        return HttpResponseRedirect(f"{url}#{ANCHOR}")


class _TierOverrideChange(TierSectionView):
    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        # Refuse before reading the form: a role that may not pin learns nothing from it.
        # The service checks again, whoever calls it.
        if not tier_override_allowed(actor=self.actor, client=self.object):
            raise PermissionDenied(
                _("Only a supervisor of the client's branch or head office may pin a tier.")
            )
        return self.change()

    def change(self) -> HttpResponse:
        raise NotImplementedError


class TierOverrideSetView(_TierOverrideChange):
    success_message = _("Tier pinned: it holds until the expiry date or until revoked.")

    def change(self) -> HttpResponse:
        form = TierOverrideForm(
            self.request.POST, tiers=Tier.objects.order_by("-rank"), auto_id="tier-override-%s"
        )
        if form.is_valid():
            try:
                services.tier_override_set(
                    actor=self.actor,
                    client=self.object,
                    tier=form.cleaned_data["tier"],
                    reason=form.cleaned_data["reason"],
                    expires_on=form.cleaned_data["expires_on"],
                    request=self.request,
                )
            except ValidationError as error:
                _add_service_error(form, error)
            else:
                return self.succeeded()
        return self.render_section(form=form)


class TierOverrideRevokeView(_TierOverrideChange):
    success_message = _("Override revoked: the client is back on the tier the rules give.")

    def change(self) -> HttpResponse:
        override = client_standing_override(client=self.object)
        raw = self.request.POST.get("override")
        if override is None or str(override.pk) != str(raw):
            raise Http404  # revoked meanwhile, or not this client's
        try:
            services.tier_override_revoke(actor=self.actor, override=override, request=self.request)
        except ValidationError as error:
            return self.render_section(revoke_errors=error.messages)
        return self.succeeded()


def _add_service_error(form, error: ValidationError) -> None:
    """A service's refusal, shown on the form field it names (or above the form)."""
    if hasattr(error, "error_dict"):
        for field, field_errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, field_errors)
    else:
        form.add_error(None, error)
