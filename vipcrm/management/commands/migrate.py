"""``migrate`` as the schema owner, then grants for the application role.

Overrides Django's command (``vipcrm`` is listed before ``django.contrib``) so that
every way of migrating — ``manage.py migrate``, the test runner — runs DDL as the owner.
"""

from django.core.management.commands.migrate import Command as MigrateCommand

from vipcrm.dbroles import as_schema_owner, grant_app_role


class Command(MigrateCommand):
    def handle(self, *args, **options):
        with as_schema_owner(options["database"]) as app_role:
            result = super().handle(*args, **options)
            if app_role:
                grant_app_role(app_role, options["database"])
        return result
