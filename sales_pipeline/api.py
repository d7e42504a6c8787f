"""The sales-pipeline API: opportunities (``shared/spec/sync-api.md``, Reading).

``GET /api/v1/opportunities/``
    The opportunities the caller may see, oldest first by ``id``, cursor-paginated
    (``next`` link; ``page_size`` up to 1,000). Filters: ``updated_since`` (ISO 8601 with
    offset), ``client`` (customer number), ``branch_code`` (the client's home branch),
    ``rm_code`` (the owner RM), ``tier`` (the client's tier), ``status`` (``open``,
    ``won``, ``lost``), ``step`` (1–5), ``source``, ``created_from``/``created_to`` and
    ``won_from``/``won_to`` (days of the bank's calendar, inclusive). A bad value is a
    400 naming the filter. Each record carries its ``id``, the client's
    ``client_external_id``, the owner's ``rm_code``, the ``advisor_codes``, ``step`` and
    ``step_label``, ``step_entered_at``, ``status``, ``source``, the ``product_codes`` of
    interest, ``expected_amount_cny`` and ``won_amount_cny`` (strings, two decimals),
    ``won_at``, ``lost_reason``/``lost_note``/``lost_at``, ``completed_at``,
    ``parent_id`` (for a cross-sell), ``created_at`` and ``updated_at``. A page costs
    the same number of queries whatever its size.

``GET /api/v1/opportunities/<id>/``
    One opportunity, plus its ``step_history`` (each step entered and left, and by
    whom), ``proposals`` with their ``lines`` (product code, amount, 双录 recording
    reference), ``credits`` (staff code, role, share, amount), ``referrals`` (the
    prospect's customer number and opportunity), and the ``planned_contact_id`` and
    ``interaction_id`` of steps 1 and 2.

``GET /api/v1/opportunities/<id>/move/`` and ``GET …/lose/``
    The checklist: the five steps, each ``done``/``current``/``todo`` with when it was
    entered and left, the days spent in it, what finishing it needs in words and
    whether that is met — what the next move needs.

``POST /api/v1/opportunities/<id>/move/`` ``{"to_step": n, "from_step": n}``
    Moves the opportunity one step forward, with the page's rules
    (``sales_pipeline.services.opportunity_move``): the step being left must be done.
    ``from_step`` (optional) is the step the caller saw; if the opportunity has moved
    since, nothing happens and the answer is a 409. Answers the opportunity as read by
    its ``id``.

``POST /api/v1/opportunities/<id>/lose/`` ``{"reason": "…", "note": "…"}``
    Closes it as lost, at any step before it is completed (``opportunity_lose``); the
    note is required for the reason ``other``. After a win (e.g. a cancellation in the
    cooling-off period, 犹豫期) the credits are withdrawn and open check-ins cancelled.

Who: rows come through the actor (tenant by the manager, role by
``roles.visible_to``): an RM sees the opportunities they own and those of their team's
clients, an advisor their team's, a supervisor their branch subtree's, head office and
integration tokens the whole bank. Moving and losing is for RMs and advisors on the
opportunity, and for tokens with the ``write`` scope (which act for the whole bank);
supervisors and head office follow the pipeline and read only.

Errors, in this order: no or bad token 401; another bank's opportunity, or one outside
the caller's scope, 404 (before anything else is looked at, so its existence is never
disclosed); a token without the ``write`` scope, or a supervisor or head office, 403; a
body that is not JSON 400 ``{"detail"}``; a body of the wrong shape or a move the rules
refuse 400 with per-field messages (``to_step``, ``from_step``, ``reason``, ``note``);
a stale ``from_step`` 409 ``{"detail"}``. Nothing is written when a request is refused.
"""

from __future__ import annotations

import logging

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse
from rest_framework import mixins, permissions
from rest_framework.request import Request
from rest_framework.settings import api_settings

from contact_plans.api import _json_object
from sales_pipeline.filters import OpportunityFilter
from sales_pipeline.models import Opportunity, Referral
from sales_pipeline.selectors import opportunity_detail_queryset, opportunity_list
from sales_pipeline.serializers import (
    OpportunityDetailSerializer,
    OpportunitySerializer,
)
from vipcrm.permissions import HasTenantAccess
from vipcrm.roles import Actor
from vipcrm.viewsets import TenantModelViewSet, read_request_body

logger = logging.getLogger(__name__)

# A move or a loss is a few dozen bytes; this only keeps a request from costing memory.
MAX_BODY_BYTES = 16 * 1024


# --- Selectors (the API's rows, through the actor) ------------------------------------


def opportunity_api_list(*, actor: Actor | None) -> QuerySet[Opportunity]:
    """The opportunities the actor may see, with the advisors' and products' codes
    prefetched (two queries per page, whatever its size)."""
    return opportunity_list(actor=actor).prefetch_related("advisors", "products_of_interest")


def opportunity_api_detail(*, actor: Actor | None) -> QuerySet[Opportunity]:
    """As ``opportunity_detail_queryset``, with what the API's detail adds: the maturing
    holding, who made each proposal, and the referrals with their people."""
    return (
        opportunity_detail_queryset(actor=actor)
        .select_related("holding")
        .prefetch_related(
            "proposals__created_by",
            Prefetch(
                "referrals",
                queryset=Referral.objects.select_related("prospect", "credited_to", "received_by"),
            ),
        )
    )


# --- Permissions ----------------------------------------------------------------------


class WritesAfterLookup(HasTenantAccess):
    """A token's ``write`` scope is checked once the opportunity is found, so that
    another bank's id is a 404 to every token, never a 403 that tells it exists."""

    def has_permission(self, request: Request, view) -> bool:
        actor: Actor | None = getattr(request, "actor", None)
        if (
            actor is not None
            and actor.is_integration
            and request.method not in permissions.SAFE_METHODS
        ):
            return True  # see has_object_permission
        return super().has_permission(request, view)

    def has_object_permission(self, request: Request, view, obj) -> bool:
        actor: Actor = request.actor
        if actor.is_integration and request.method not in permissions.SAFE_METHODS:
            return "write" in actor.scopes
        return True


# --- The viewset ------------------------------------------------------------------------

ACTION_ERRORS = {
    400: OpenApiResponse(
        description=(
            'Not JSON (`{"detail"}`), or per-field messages: a wrong type, or a move the '
            "rules refuse."
        )
    ),
    401: OpenApiResponse(description="No or bad token."),
    403: OpenApiResponse(
        description=(
            "A token without the `write` scope, or a supervisor or head office (they read "
            "the pipeline only)."
        )
    ),
    404: OpenApiResponse(description="No such opportunity among those the caller may see."),
    413: OpenApiResponse(description="The body is too large."),
}
CHECKLIST_DESCRIPTION = (
    "The opportunity's five steps: each done, current or to do, when it was entered and "
    "left, the days spent in it, what finishing it needs and whether that is met."
)


class OpportunityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    """Sales opportunities (销售机会) moving through the five steps: 1 Plan, 2 Contact &
    assess needs, 3 Execute, 4 Follow up, 5 Celebrate."""

    selector = staticmethod(opportunity_api_list)
    serializer_class = OpportunitySerializer
    filterset_class = OpportunityFilter

    def get_queryset(self):
        if self.action == "retrieve" and not getattr(self, "swagger_fake_view", False):
            return opportunity_api_detail(actor=self.actor)
        return super().get_queryset()

    def get_serializer_class(self):
        return OpportunityDetailSerializer if self.action == "retrieve" else OpportunitySerializer


def _body(request: Request, serializer_class) -> dict:
    """The body's fields, checked for their types (the rules are the service's)."""
    body = read_request_body(request, max_bytes=MAX_BODY_BYTES)
    fields = serializer_class(data=_json_object(body))
    fields.is_valid(raise_exception=True)
    return fields.validated_data


def _api_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    """The service's messages under the body's field names (they are the same)."""
    if not hasattr(exc, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: [str(m) for m in exc.messages]}
    return {
        api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field: [
            str(m) for m in messages
        ]
        for field, messages in exc.message_dict.items()
    }
