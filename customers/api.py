"""The customers API: core-banking sync (writes) and the reading endpoints.

Views are thin: rows come from the selectors below through the actor, writes go to
``customers.sync``. The contract is ``shared/spec/sync-api.md``.
"""

import logging

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from pydantic import Field, create_model
from rest_framework import exceptions, mixins, permissions
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers import sync
from customers.filters import ClientFilter, FxRateFilter, HoldingFilter, ProductFilter
from customers.models import Holding
from customers.selectors import client_api_list, fx_rate_list, holding_list, product_list
from customers.serializers import (
    ClientDetailSerializer,
    ClientSerializer,
    FxRateSerializer,
    HoldingSerializer,
    ProductSerializer,
    SyncResultSerializer,
)
from vipcrm.audit import audit_record
from vipcrm.idempotency import IDEMPOTENCY_KEY_PARAMETER
from vipcrm.permissions import HasTenantAccess
from vipcrm.viewsets import Conflict, TenantModelViewSet, idempotent_write, read_request_body

logger = logging.getLogger(__name__)

# A generous cap in bytes: 5,000 records of the widest kind stay far below it.
SYNC_MAX_BODY_BYTES = 32 * 1024 * 1024


# --- Reading -------------------------------------------------------------------------


class ClientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    """Clients. The detail adds holdings and the contact-plan summary, and is audited."""

    selector = staticmethod(client_api_list)
    serializer_class = ClientSerializer
    filterset_class = ClientFilter
    lookup_field = "external_id"
    lookup_value_regex = "[^/]+"

    def get_serializer_class(self):
        return ClientDetailSerializer if self.action == "retrieve" else ClientSerializer

    def get_queryset(self):
        clients = super().get_queryset()
        if self.action == "retrieve":
            clients = clients.prefetch_related(
                Prefetch(
                    "holdings",
                    queryset=Holding.objects.select_related("product").order_by(
                        "matures_on", "external_id"
                    ),
                )
            )
        return clients

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        client = self.get_object()
        audit_record(action="view", request=request, obj=client)
        return Response(self.get_serializer(client).data)


class HoldingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    selector = staticmethod(holding_list)
    serializer_class = HoldingSerializer
    filterset_class = HoldingFilter
    lookup_field = "external_id"
    lookup_value_regex = "[^/]+"


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantModelViewSet):
    selector = staticmethod(product_list)
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    lookup_field = "code"
    lookup_value_regex = "[^/]+"


class FxRateViewSet(mixins.ListModelMixin, TenantModelViewSet):
    selector = staticmethod(fx_rate_list)
    serializer_class = FxRateSerializer
    filterset_class = FxRateFilter


# --- Sync ----------------------------------------------------------------------------


class IsIntegration(permissions.BasePermission):
    """Sync writes across the whole tenant, past every role's scope: tokens only."""

    message = _("Sync is for integrations: use an API token with the write scope.")

    def has_permission(self, request: Request, view) -> bool:
        actor = getattr(request, "actor", None)
        return actor is not None and actor.is_integration


class SyncView(APIView):
    """``POST /api/v1/sync/<kind>/``: upsert up to 5,000 records of one kind."""

    kind = ""
    permission_classes = [HasTenantAccess, IsIntegration]
    # The body is read raw (see read_request_body); JSON is the only documented type.
    parser_classes = [JSONParser]

    def post(self, request: Request) -> Response:
        body = read_request_body(request, max_bytes=SYNC_MAX_BODY_BYTES)
        idempotency = idempotent_write(request, body)
        if idempotency.replay is not None:
            return idempotency.replay
        try:
            with transaction.atomic():
                result = sync.sync_batch_apply(kind=self.kind, body=body)
        except sync.BatchRefused as exc:
            raise exceptions.ParseError(exc.detail) from None
        except (IntegrityError, OperationalError):
            # A concurrent writer won a race on the same rows: nothing of this batch was
            # applied (the savepoint rolled back); the batch can simply be sent again.
            logger.exception("sync of %s rolled back", self.kind)
            raise Conflict(
                _("The batch collided with a concurrent change and was not applied; send it again.")
            ) from None
        data = result.as_dict()
        idempotency.store(status_code=200, data=data)
        return Response(data)


def _sync_view(kind: str, record: type) -> type[SyncView]:
    """A ``SyncView`` for ``kind`` whose OpenAPI operation documents its record fields."""
    name = "".join(part.title() for part in kind.split("-"))
    batch = create_model(
        f"{name}SyncBatch",
        records=(list[record], Field(max_length=sync.MAX_RECORDS)),
    )
    schema = extend_schema(
        operation_id=f"sync_{kind.replace('-', '_')}",
        tags=["sync"],
        summary=f"Upsert {kind} (at most {sync.MAX_RECORDS:,} records)",
        description=(
            "Upsert by key within the caller's tenant. Each record is validated on its own: "
            "valid records are applied, invalid ones are reported in `errors` with their "
            "index, key and per-field messages. On update an omitted optional field keeps "
            "its value and `null` clears it. Needs a token with the `write` scope."
        ),
        request=batch,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            200: SyncResultSerializer,
            400: OpenApiResponse(description="Not JSON, no `records` list, or > 5,000 records."),
            401: OpenApiResponse(description="No or bad token."),
            403: OpenApiResponse(
                description="Not an integration token, or one without the `write` scope."
            ),
            409: OpenApiResponse(description="Idempotency-Key reused for another body."),
            413: OpenApiResponse(description="The body is too large."),
        },
    )
    view = type(f"{name}SyncView", (SyncView,), {"kind": kind, "__doc__": SyncView.__doc__})
    view.post = schema(_copy_post())
    return view


def _copy_post():
    # Each kind needs its own function object: extend_schema annotates the function.
    def post(self, request: Request) -> Response:
        return SyncView.post(self, request)

    return post


SYNC_VIEWS = {
    "branches": _sync_view("branches", sync.BranchRecord),
    "staff": _sync_view("staff", sync.StaffRecord),
    "products": _sync_view("products", sync.ProductRecord),
    "fx-rates": _sync_view("fx-rates", sync.FxRateRecord),
    "clients": _sync_view("clients", sync.ClientRecord),
    "holdings": _sync_view("holdings", sync.HoldingRecord),
}
