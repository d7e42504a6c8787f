"""API routes of clients and their money (mounted under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from customers import api

router = SimpleRouter(trailing_slash=True)
router.register("clients", api.ClientViewSet, basename="client")
router.register("holdings", api.HoldingViewSet, basename="holding")
router.register("products", api.ProductViewSet, basename="product")
router.register("fx-rates", api.FxRateViewSet, basename="fx-rate")

# One route per kind (no <kind> parameter), so each has its own documented schema.
sync_urls = [
    path(f"sync/{kind}/", view.as_view(), name=f"sync-{kind}")
    for kind, view in api.SYNC_VIEWS.items()
]

urlpatterns = [*router.urls, *sync_urls]
