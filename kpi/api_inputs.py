"""The KPI inputs' API: satisfaction surveys and complaints (``shared/spec/sync-api.md``).

Reading: ``GET /api/v1/surveys/`` and ``/api/v1/complaints/`` (and ``<id>/``) with the
contract's cursor and the filters ``updated_since``, ``rm_code``, ``branch_code``,
``client`` and ``period``; rows come through the actor (tenant by the manager, role by
``roles.visible_to``: a staff member sees the surveys and complaints of the clients
they see), so another bank's row is a 404.

Writing: ``POST`` of ``{"records": [...]}`` (at most 5,000) by the survey or
complaint system — an API token with the ``write`` scope; staff record them in the
pages. The view reads the body and honours ``Idempotency-Key``; validating, resolving
the references and writing, in a fixed number of queries, is
``kpi.inputs.survey_batch_apply`` / ``complaint_batch_apply``'s.
"""

from __future__ import annotations

import logging

import django_filters
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import IntegrityError, OperationalError
from django.db.models import F, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from pydantic import Field, create_model
from rest_framework import exceptions, mixins, permissions
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from customers.serializers import SyncResultSerializer
from customers.sync import MAX_RECORDS, BatchRefused
from kpi import inputs
from kpi.forms import PeriodField
from kpi.models import Complaint, SatisfactionSurvey
from kpi.serializers_inputs import ComplaintSerializer, SurveySerializer
from vipcrm.filters import ClientRowFilterSet
from vipcrm.idempotency import IDEMPOTENCY_KEY_PARAMETER
from vipcrm.permissions import HasTenantAccess
from vipcrm.roles import Actor, visible_to
from vipcrm.viewsets import Conflict, TenantModelViewSet, idempotent_write, read_request_body

logger = logging.getLogger(__name__)

# 5,000 complaints of a long description stay below this; a bigger batch is split.
MAX_BODY_BYTES = 32 * 1024 * 1024


# --- Selectors (the API's rows, through the actor) ---------------------------------------


def survey_api_list(*, actor: Actor | None) -> QuerySet[SatisfactionSurvey]:
    """Surveys of the clients the actor may see, with the codes that join them to the
    caller's data read in the same query."""
    surveys = SatisfactionSurvey.objects.annotate(
        client_external_id=F("client__external_id"),
        rm_code=F("staff__code"),
        branch_code=F("client__branch__code"),
    )
    return visible_to(surveys, actor)


def complaint_api_list(*, actor: Actor | None) -> QuerySet[Complaint]:
    """Complaints of the clients the actor may see, with their codes (one query)."""
    complaints = Complaint.objects.annotate(
        client_external_id=F("client__external_id"),
        rm_code=F("staff__code"),
        branch_code=F("client__branch__code"),
    )
    return visible_to(complaints, actor)


# --- Filters -----------------------------------------------------------------------------


class PeriodFilter(django_filters.Filter):
    """A month (``2026-11``), quarter (``2026-Q4``) or year (``2026``) of the bank's
    calendar, on the record's day."""

    field_class = PeriodField

    def filter(self, queryset, value):
        if value is None:
            return queryset
        return queryset.filter(
            **{f"{self.field_name}__gte": value.start, f"{self.field_name}__lte": value.end}
        )


class SurveyFilter(ClientRowFilterSet):
    rm_code = django_filters.CharFilter(
        field_name="staff__code", help_text="Staff code of the RM rated."
    )
    period = PeriodFilter(
        field_name="surveyed_on",
        help_text="Surveyed in this month (2026-11), quarter (2026-Q4) or year (2026).",
    )
    score = django_filters.NumberFilter(help_text="The score, 1 to 5.")
    external_id = django_filters.CharFilter(help_text="Your id of the survey.")

    class Meta:
        model = SatisfactionSurvey
        fields = [
            "updated_since",
            "client",
            "branch_code",
            "rm_code",
            "period",
            "score",
            "external_id",
        ]


class ComplaintFilter(ClientRowFilterSet):
    rm_code = django_filters.CharFilter(
        field_name="staff__code", help_text="Staff code of the RM or advisor concerned."
    )
    period = PeriodFilter(
        field_name="received_on",
        help_text="Received in this month (2026-11), quarter (2026-Q4) or year (2026).",
    )
    status = django_filters.ChoiceFilter(choices=Complaint.Status.choices)
    category = django_filters.ChoiceFilter(choices=Complaint.Category.choices)
    external_id = django_filters.CharFilter(help_text="Your id of the complaint.")

    class Meta:
        model = Complaint
        fields = [
            "updated_since",
            "client",
            "branch_code",
            "rm_code",
            "period",
            "status",
            "category",
            "external_id",
        ]


# --- Views -------------------------------------------------------------------------------


class BatchesFromIntegrations(permissions.BasePermission):
    """Anyone may read (in their scope); batches are written by integrations only."""

    message = _(
        "Batches are sent by integrations with an API token with the write scope; staff "
        "record surveys and complaints in the CRM's pages."
    )

    def has_permission(self, request: Request, view) -> bool:
        if getattr(view, "action", None) != "create":
            return True  # reading, or a method the route does not take (405)
        actor = getattr(request, "actor", None)
        return actor is not None and actor.is_integration


BATCH_DESCRIPTION = """\
Upsert up to 5,000 {what} by `external_id` (your id of each), as the sync endpoints do:
each record is validated on its own; valid records are applied, invalid ones reported in
`errors` with their index, `external_id` and per-field messages. An unknown
`external_id` is created, a known one updated (`unchanged` when equal): sending a batch
twice changes nothing the second time. On update an omitted optional field keeps its
value and `null` clears it.

- **References**: `client_external_id` (the customer number) and `rm_code` (the staff
  code: {staff}) must exist in your bank; another bank's are simply unknown.
- **Rules**: {rules}
- **`Idempotency-Key`**: a repeat with the same key and body within 24 hours returns
  the first response without applying anything; the same key with another body is 409.

Needs an API token with the `write` scope.
"""


class FeedbackViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    """Reading in the actor's scope; ``POST`` of a batch through ``apply``."""

    permission_classes = [HasTenantAccess, BatchesFromIntegrations]
    # The body is read raw (hashed for Idempotency-Key); JSON is the one documented type.
    parser_classes = [JSONParser]
    apply = None  # the kpi.inputs batch function

    def create(self, request: Request) -> Response:
        body = read_request_body(request, max_bytes=MAX_BODY_BYTES)
        idempotency = idempotent_write(request, body)
        if idempotency.replay is not None:
            return idempotency.replay
        try:
            # The batch function is atomic: a failure rolls its savepoint back, whole.
            result = type(self).apply(actor=self.actor, body=body, request=request)
        except BatchRefused as exc:
            raise exceptions.ParseError(exc.detail) from None
        except DjangoPermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc) or None) from None
        except (IntegrityError, OperationalError):
            # A concurrent batch won a race on the same external_id: nothing of this one
            # was applied; it can simply be sent again.
            logger.exception("%s batch rolled back", self.basename)
            raise Conflict(
                _("The batch collided with a concurrent change and was not applied; send it again.")
            ) from None
        data = result.as_dict()
        idempotency.store(status_code=200, data=data)
        return Response(data)


def _batch_schema(*, name: str, record: type, what: str, staff: str, rules: str):
    batch = create_model(f"{name}Batch", records=(list[record], Field(max_length=MAX_RECORDS)))
    return extend_schema(
        summary=f"Upsert {what} (at most {MAX_RECORDS:,} records)",
        description=BATCH_DESCRIPTION.format(what=what, staff=staff, rules=rules),
        request=batch,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            200: SyncResultSerializer,
            400: OpenApiResponse(description="Not JSON, no `records` list, or > 5,000 records."),
            401: OpenApiResponse(description="No or bad token."),
            403: OpenApiResponse(
                description="Not an integration token, or one without the `write` scope."
            ),
            409: OpenApiResponse(
                description="`Idempotency-Key` reused for another body, or a concurrent batch."
            ),
            413: OpenApiResponse(description="The body is too large."),
        },
    )


class SurveyViewSet(FeedbackViewSet):
    """Satisfaction surveys (满意度调查): a client's score of their RM's service."""

    selector = staticmethod(survey_api_list)
    serializer_class = SurveySerializer
    filterset_class = SurveyFilter
    apply = staticmethod(inputs.survey_batch_apply)

    @_batch_schema(
        name="Survey",
        record=inputs.SurveyRecord,
        what="satisfaction surveys",
        staff="an RM of your bank, active or not",
        rules=(
            "`score` a whole number from 1 (poor) to 5 (excellent); `surveyed_on` not "
            "after today (the bank's day); `comment` at most 2,000 characters; `channel` "
            "one of `phone`, `visit`, `branch`, `wechat`, `event` (or empty)."
        ),
    )
    def create(self, request: Request) -> Response:
        return super().create(request)


class ComplaintViewSet(FeedbackViewSet):
    """Complaints (客户投诉) about the service, concerning one RM or advisor."""

    selector = staticmethod(complaint_api_list)
    serializer_class = ComplaintSerializer
    filterset_class = ComplaintFilter
    apply = staticmethod(inputs.complaint_batch_apply)

    @_batch_schema(
        name="Complaint",
        record=inputs.ComplaintRecord,
        what="complaints",
        staff="an RM or advisor of your bank",
        rules=(
            "`received_on` not after today (the bank's day), nor after the day a resolved "
            "complaint was resolved; `category` one of `service_attitude`, `mis_selling`, "
            "`waiting`, `fees`, `error`, `privacy`, `other`; `description` required, at "
            "most 4,000 characters. A new complaint opens as `open`; its status and "
            "resolution are the CRM's, which a batch never changes."
        ),
    )
    def create(self, request: Request) -> Response:
        return super().create(request)
