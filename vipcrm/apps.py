from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class VipcrmConfig(AppConfig):
    name = "vipcrm"
    verbose_name = _("VIP CRM platform")

    def ready(self) -> None:
        from vipcrm import audit, schema, tenancy  # noqa: F401  (schema registers an extension)

        # After every migrate: RLS on every tenant table, append-only audit triggers.
        post_migrate.connect(tenancy.install_row_level_security, sender=self)
        post_migrate.connect(audit.install_append_only_guard, sender=self)
        audit.connect_login_signals()

        from vipcrm import my_day, selectors

        my_day.register_panel(
            my_day.Panel(
                key="team",
                order=90,
                template="vipcrm/panels/team.html",
                context=lambda actor: selectors.team_overview(actor=actor),
            )
        )
