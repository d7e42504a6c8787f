"""Writes of the platform models: tenants, staff logins, API tokens."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from vipcrm.authentication import generate_token_key, hash_token_key
from vipcrm.models import APIToken, Tenant

VALID_SCOPES = ("read", "write")


class ServiceError(ValueError):
    """A request a service refuses, with a message for the user."""


def api_token_create(*, tenant: Tenant, name: str, scopes: Iterable[str]) -> tuple[APIToken, str]:
    """Create a token and return it with its key; the key is never stored nor shown again."""
    scopes = sorted({s.strip() for s in scopes if s.strip()})
    unknown = [s for s in scopes if s not in VALID_SCOPES]
    if unknown or not scopes:
        raise ServiceError(f"Scopes must be a non-empty subset of {', '.join(VALID_SCOPES)}.")
    name = name.strip()
    if not name:
        raise ServiceError("A token needs a name.")
    if APIToken.objects.filter(tenant=tenant, name=name, revoked_at__isnull=True).exists():
        raise ServiceError(f"Tenant {tenant.slug} already has an active token named {name!r}.")
    key = generate_token_key()
    token = APIToken.objects.create(
        tenant=tenant, name=name, prefix=key[:12], key_hash=hash_token_key(key), scopes=scopes
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, tenant: Tenant, name: str) -> APIToken:
    token = APIToken.objects.filter(tenant=tenant, name=name, revoked_at__isnull=True).first()
    if token is None:
        raise ServiceError(f"Tenant {tenant.slug} has no active token named {name!r}.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return token
