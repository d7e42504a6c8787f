"""The base of every API viewset, and the API's error handler.

Tenancy is applied here once: every queryset comes from a selector that takes the
``Actor`` (tenant by the manager, role by ``roles.visible_to``); an object outside it
is a 404, never a 403.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from rest_framework import exceptions, viewsets
from rest_framework.views import exception_handler as drf_exception_handler

from vipcrm.roles import Actor


def exception_handler(exc, context):
    """DRF's handler, with Django's 404/403 turned into JSON as well."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    return drf_exception_handler(exc, context)


class TenantModelViewSet(viewsets.GenericViewSet):
    """Base of every API viewset: rows come from ``selector(actor=...)`` and nowhere else.

    Subclasses set ``selector`` to a function of ``actor`` returning a queryset already
    limited to the tenant (by the manager) and the actor's role (by ``roles.visible_to``).
    """

    selector = None

    @property
    def actor(self) -> Actor:
        return self.request.actor

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset_model_for_schema()
        return type(self).selector(actor=self.actor)

    def queryset_model_for_schema(self):
        # Schema generation runs with no tenant: an empty queryset that never queries.
        return QuerySet(model=self.serializer_class.Meta.model).none()
