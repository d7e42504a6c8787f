from django.core.management.base import BaseCommand, CommandError

from vipcrm.models import Tenant
from vipcrm.services import ServiceError, api_token_create


class Command(BaseCommand):
    help = "Create an API token for a tenant's integration; prints the key once."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--name", required=True, help="Token name, unique among active tokens")
        parser.add_argument("--scopes", default="read", help="Comma-separated: read,write")

    def handle(self, *args, tenant, name, scopes, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        try:
            token, key = api_token_create(tenant=found, name=name, scopes=scopes.split(","))
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Token {token.name!r} for {found.slug} (scopes: {','.join(token.scopes)}).\n"
            "Copy the key now; it is stored hashed and cannot be shown again:\n"
        )
        self.stdout.write(key)
