"""Django admin, for the platform operator only (creates tenants and their first logins).

Tenant-owned data is not administered here: it is managed inside each bank, by its
head-office admins, through the product's own pages and the sync API.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from vipcrm.models import APIToken, Tenant, User


class PlatformAdminSite(admin.AdminSite):
    site_header = _("VIP CRM platform administration")
    site_title = _("VIP CRM platform")

    def has_permission(self, request) -> bool:
        user = request.user
        return user.is_active and user.is_authenticated and user.is_platform_operator


platform_admin_site = PlatformAdminSite(name="admin")


@admin.register(Tenant, site=platform_admin_site)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "nightly_at", "is_active", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(User, site=platform_admin_site)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "tenant", "is_active", "is_superuser", "last_login"]
    list_filter = ["tenant", "is_active", "is_superuser"]
    fieldsets = (*BaseUserAdmin.fieldsets, (_("Bank"), {"fields": ["tenant"]}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, (_("Bank"), {"fields": ["tenant"]}))


@admin.register(APIToken, site=platform_admin_site)
class APITokenAdmin(admin.ModelAdmin):
    """Tokens are created by ``create_api_token`` (the key is shown once); here only seen."""

    list_display = [
        "name",
        "tenant",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["tenant"]
    readonly_fields = [
        "tenant",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    exclude = ["key_hash"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
