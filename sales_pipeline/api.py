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
    since, nothing happens and the answer is a 409. Answers 200 with the opportunity as
    ``GET …/<id>/`` reads it.

``POST /api/v1/opportunities/<id>/lose/`` ``{"reason": "…", "note": "…"}``
    Closes it as lost, at any step before it is celebrated (``opportunity_lose``); the
    note is required for the reason ``other``. After a win (e.g. a cancellation in the
    cooling-off period, 犹豫期) the credits are withdrawn and open check-ins cancelled.
    Answers 200 with the opportunity, as a move does.

Who: rows come through the actor (tenant by the manager, role by
``roles.visible_to``): an RM sees the opportunities they own and those of their team's
clients, an advisor their team's, a supervisor their branch subtree's, head office and
integration tokens the whole bank. Moving and losing is for the RMs and advisors who see
the opportunity, and for tokens with the ``write`` scope (which act for the whole bank);
supervisors and head office follow the pipeline and read only. Every move and loss is
audited, naming the staff member or the token.

Errors, in the order they are checked: no or bad token 401; another bank's
opportunity, or one outside the caller's scope, 404 (before anything else is looked at,
so its existence is never told); a token without the ``write`` scope 403; a body that is
not JSON 400 ``{"detail"}``, or not an object of the right types 400 with per-field
messages; a supervisor or head office 403; a move or loss the rules refuse 400 with
per-field messages (``to_step``, ``from_step``, ``reason``, ``note``, or
``non_field_errors`` for the opportunity's state, e.g. already lost); a stale
``from_step`` 409 ``{"detail"}``. Nothing is written when a request is refused.
"""

from __future__ import annotations

import logging

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, permissions
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from sales_pipeline import services
from sales_pipeline.filters import OpportunityFilter
from sales_pipeline.models import Opportunity, Referral
from sales_pipeline.selectors import opportunity_detail_queryset, opportunity_list
from sales_pipeline.serializers import (
    OpportunityChecklistSerializer,
    OpportunityDetailSerializer,
    OpportunityLoseSerializer,
    OpportunityMoveSerializer,
    OpportunitySerializer,
)
from vipcrm.permissions import HasTenantAccess
from vipcrm.roles import Actor
from vipcrm.viewsets import Conflict, TenantModelViewSet, json_body, read_request_body

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
        if getattr(self, "swagger_fake_view", False) or self.action == "list":
            return super().get_queryset()
        if self.action == "retrieve":
            return opportunity_api_detail(actor=self.actor)
        return opportunity_list(actor=self.actor)  # move, lose: the service reads the rest

    def get_serializer_class(self):
        return OpportunityDetailSerializer if self.action == "retrieve" else OpportunitySerializer

    @extend_schema(
        methods=["GET"],
        operation_id="opportunities_move_checklist",
        summary="What the next move needs",
        description=CHECKLIST_DESCRIPTION,
        responses={200: OpportunityChecklistSerializer, 404: ACTION_ERRORS[404]},
    )
    @extend_schema(
        methods=["POST"],
        operation_id="opportunities_move",
        summary="Move to the next step",
        description=(
            "Moves the opportunity one step forward with the CRM's own rules: the step "
            "being left must be done (1→2 a contact planned, 2→3 a contact logged with the "
            "needs found, 3→4 the sale recorded, 4→5 the after-sales check-ins done). "
            "Steps are never skipped nor undone. With `from_step`, a move made meanwhile "
            "by someone else is a 409 and nothing happens."
        ),
        request=OpportunityMoveSerializer,
        responses={
            200: OpportunityDetailSerializer,
            **ACTION_ERRORS,
            409: OpenApiResponse(
                description=(
                    "`from_step` is no longer the opportunity's step, or a concurrent change; "
                    "nothing was done."
                )
            ),
        },
    )
    @action(
        detail=True,
        methods=["get", "post"],
        permission_classes=[WritesAfterLookup],
        filter_backends=[],
    )
    def move(self, request: Request, pk: str | None = None) -> Response:
        opportunity = self.get_object()
        if request.method == "GET":
            return _checklist(opportunity)
        data = _body(request, OpportunityMoveSerializer)
        return self._apply(
            services.opportunity_move,
            opportunity,
            to_step=data["to_step"],
            from_step=data.get("from_step"),
        )

    @extend_schema(
        methods=["GET"],
        operation_id="opportunities_lose_checklist",
        summary="Where the opportunity stands, before closing it as lost",
        description=CHECKLIST_DESCRIPTION,
        responses={200: OpportunityChecklistSerializer, 404: ACTION_ERRORS[404]},
    )
    @extend_schema(
        methods=["POST"],
        operation_id="opportunities_lose",
        summary="Close as lost",
        description=(
            "Closes the opportunity as lost with a reason, at any step before it is "
            "celebrated; `note` is required for the reason `other`. After a win (a "
            "cancellation in the cooling-off period, 犹豫期) the sale credits are "
            "withdrawn and the open after-sales check-ins cancelled."
        ),
        request=OpportunityLoseSerializer,
        responses={
            200: OpportunityDetailSerializer,
            **ACTION_ERRORS,
            409: OpenApiResponse(description="A concurrent change; nothing was done."),
        },
    )
    @action(
        detail=True,
        methods=["get", "post"],
        permission_classes=[WritesAfterLookup],
        filter_backends=[],
    )
    def lose(self, request: Request, pk: str | None = None) -> Response:
        opportunity = self.get_object()
        if request.method == "GET":
            return _checklist(opportunity)
        data = _body(request, OpportunityLoseSerializer)
        return self._apply(
            services.opportunity_lose, opportunity, reason=data["reason"], note=data["note"]
        )

    def _apply(self, service, opportunity: Opportunity, **arguments) -> Response:
        """Run ``service`` on ``opportunity`` as the caller, all or nothing, and answer
        the opportunity as it now reads, or the refusal with the API's status."""
        try:
            with transaction.atomic():
                service(
                    actor=self.actor, opportunity=opportunity, request=self.request, **arguments
                )
        except services.StepConflict as exc:
            raise Conflict(" ".join(exc.messages)) from None
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(_api_errors(exc)) from None
        except Opportunity.DoesNotExist:
            raise exceptions.NotFound() from None
        except DjangoPermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc) or None) from None
        except IntegrityError:
            # A concurrent change won a race on the same rows; nothing of ours was written.
            logger.exception("opportunity %s: %s collided", opportunity.pk, self.action)
            raise Conflict(
                _("The opportunity changed at the same moment and nothing was done; send it again.")
            ) from None
        changed = opportunity_api_detail(actor=self.actor).get(pk=opportunity.pk)
        return Response(
            OpportunityDetailSerializer(changed, context=self.get_serializer_context()).data
        )


def _checklist(opportunity: Opportunity) -> Response:
    return Response(
        OpportunityChecklistSerializer(
            {
                "id": opportunity.pk,
                "step": opportunity.step,
                "status": opportunity.status,
                "checklist": services.opportunity_checklist(opportunity=opportunity),
            }
        ).data
    )


def _body(request: Request, serializer_class) -> dict:
    """The body's fields, checked for their types (the rules are the service's)."""
    body = read_request_body(request, max_bytes=MAX_BODY_BYTES)
    fields = serializer_class(data=json_body(body))
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
