"""The base of every API viewset, the API's error handler, and reading a raw request body.

Tenancy is applied here once: every queryset comes from a selector that takes the
``Actor`` (tenant by the manager, role by ``roles.visible_to``); an object outside it
is a 404, never a 403.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from vipcrm.idempotency import (
    IdempotencyError,
    idempotency_lookup,
    idempotency_request_hash,
    idempotency_store,
)
from vipcrm.roles import Actor


def exception_handler(exc, context):
    """DRF's handler, with Django's 404/403 turned into JSON as well."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    return drf_exception_handler(exc, context)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with the current state.")


def read_request_body(request: Request, *, max_bytes: int) -> bytes:
    """The raw body, read past Django's form-size limit, refused (413) beyond ``max_bytes``
    whether the ``Content-Length`` says so or the stream runs longer."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise exceptions.ParseError(_("Invalid Content-Length.")) from None
    if length > max_bytes:
        raise PayloadTooLarge()
    stream = request.stream if length else None
    body = stream.read(max_bytes + 1) if stream is not None else b""
    if len(body) > max_bytes:
        raise PayloadTooLarge()
    return body


@dataclass(frozen=True)
class IdempotentWrite:
    """A write's ``Idempotency-Key``: ``replay`` is the first response to a repeat (send
    it, apply nothing); otherwise apply, then ``store`` the response (a no-op without a
    key)."""

    key: str | None
    request_hash: str = ""
    replay: Response | None = None

    def store(self, *, status_code: int, data: Any) -> None:
        if self.key is not None:
            idempotency_store(
                key=self.key, request_hash=self.request_hash, status_code=status_code, data=data
            )


def idempotent_write(request: Request, body: bytes, *, path: str | None = None) -> IdempotentWrite:
    """Look the request's ``Idempotency-Key`` up (``path``: what the key is kept under,
    the request's path by default); a malformed key is a 400, one reused for another
    request a 409. Run it inside the request's transaction, before applying anything."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return IdempotentWrite(key=None)
    request_hash = idempotency_request_hash(
        method=request.method, path=request.path if path is None else path, body=body
    )
    try:
        stored = idempotency_lookup(key=key, request_hash=request_hash)
    except IdempotencyError as exc:
        raise (Conflict if exc.status == 409 else exceptions.ParseError)(exc.detail) from None
    replay = None
    if stored is not None:
        replay = Response(
            stored.data, status=stored.status_code, headers={"Idempotent-Replayed": "true"}
        )
    return IdempotentWrite(key=key, request_hash=request_hash, replay=replay)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def json_body(body: bytes):
    """The parsed body; anything but standard JSON (``NaN``, ``Infinity``, bad bytes,
    nesting too deep) is a 400 — the serializer then asks for an object and its fields."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise exceptions.ParseError(_("The body is not valid JSON.")) from None


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
