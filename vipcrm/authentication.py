"""API authentication: ``Authorization: Token <key>`` for integrations, sessions for staff.

``TokenAuthentication`` is where an API request gets its tenant: the token names it,
and ``activate_tenant`` binds the request's transaction to it.
"""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from vipcrm.roles import Actor
from vipcrm.tenancy import activate_tenant

TOKEN_PREFIX = "vip_"


def hash_token_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_token_key() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>``; the token names the tenant and its scopes."""

    keyword = "Token"

    def authenticate(self, request):
        from vipcrm.models import APIToken

        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            key = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from exc
        token = (
            APIToken.objects.select_related("tenant")
            .filter(key_hash=hash_token_key(key), revoked_at__isnull=True, tenant__is_active=True)
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        activate_tenant(token.tenant_id)
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            APIToken.objects.filter(pk=token.pk).update(last_used_at=now)
        request.actor = Actor(tenant_id=token.tenant_id, scopes=frozenset(token.scopes))
        return (None, token)

    def authenticate_header(self, request) -> str:
        return self.keyword


class SessionAuthentication(authentication.SessionAuthentication):
    """A logged-in staff member (the tenant was bound by ``TenantMiddleware``)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        from vipcrm.selectors import actor_for_user

        request.actor = actor_for_user(result[0])
        return result
