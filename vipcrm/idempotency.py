"""``Idempotency-Key`` for API writes: a repeat returns the first response, unapplied.

A client that lost a response (timeout, dropped connection) re-sends the request with
the same key; within ``IDEMPOTENCY_TTL`` it gets the first response back and nothing is
applied twice. The same key with a different request is a client bug, refused with 409
rather than silently answered with an unrelated response.

Records are per tenant. Callers run inside the request's transaction, which makes
"look up, apply, store" atomic; on PostgreSQL a transaction-scoped advisory lock on
(tenant, key) also serialises two concurrent requests carrying the same key, so the
second waits for the first and then replays its response.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter

from vipcrm.models import IdempotencyRecord
from vipcrm.tenancy import current_tenant_id

# The header as the OpenAPI schema documents it, on every write that honours it.
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "A repeat with the same key and body within 24 hours returns the first "
        "response without applying anything; the same key with another body is 409."
    ),
)

IDEMPOTENCY_TTL = datetime.timedelta(hours=24)
# Printable ASCII without spaces at either end: what every HTTP stack passes unchanged.
KEY_PATTERN = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$")


class IdempotencyError(Exception):
    """A request whose key cannot be honoured; ``status`` is the HTTP status to answer."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class IdempotencyConflict(IdempotencyError):
    status = 409


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    data: Any


def idempotency_request_hash(*, method: str, path: str, body: bytes) -> str:
    """SHA-256 of what makes two requests "the same": method, path and exact body."""
    digest = hashlib.sha256()
    for part in (method.encode(), b"\n", path.encode(), b"\n", body):
        digest.update(part)
    return digest.hexdigest()


def idempotency_key_check(key: str) -> None:
    if not KEY_PATTERN.match(key):
        raise IdempotencyError(
            str(_("Idempotency-Key must be 1 to 255 printable ASCII characters."))
        )


def idempotency_lookup(*, key: str, request_hash: str) -> StoredResponse | None:
    """The stored response for ``key`` if it is a fresh repeat; None if the key is new.

    Raises ``IdempotencyConflict`` when the key was used within the TTL for another
    request. Must run inside the request's transaction (the lock lasts until its end).
    """
    idempotency_key_check(key)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [current_tenant_id(), key]
            )
    record = (
        IdempotencyRecord.objects.filter(key=key, created_at__gte=timezone.now() - IDEMPOTENCY_TTL)
        .only("request_hash", "status_code", "response")
        .first()
    )
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise IdempotencyConflict(
            str(
                _(
                    "This Idempotency-Key was already used in the last 24 hours for a "
                    "different request. Use a new key for a new request."
                )
            )
        )
    return StoredResponse(status_code=record.status_code, data=record.response)


def idempotency_store(*, key: str, request_hash: str, status_code: int, data: Any) -> None:
    """Keep the response to ``key`` (replacing an expired one) and drop expired records."""
    now = timezone.now()
    IdempotencyRecord.objects.filter(created_at__lt=now - IDEMPOTENCY_TTL).exclude(key=key).delete()
    IdempotencyRecord.objects.bulk_create(
        [
            IdempotencyRecord(
                key=key,
                request_hash=request_hash,
                status_code=status_code,
                response=data,
                created_at=now,
                updated_at=now,
            )
        ],
        update_conflicts=True,
        unique_fields=["tenant", "key"],
        update_fields=["request_hash", "status_code", "response", "created_at", "updated_at"],
    )
