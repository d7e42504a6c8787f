from django.core.management.base import BaseCommand, CommandError

from vipcrm.models import Tenant
from vipcrm.services import ServiceError, api_token_revoke


class Command(BaseCommand):
    help = "Revoke a tenant's active API token by name; it stops working at once."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--name", required=True, help="Token name")

    def handle(self, *args, tenant, name, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        try:
            token = api_token_revoke(tenant=found, name=name)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Revoked token {token.name!r} ({token.prefix}…) of {found.slug}.")
