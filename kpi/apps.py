from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KpiConfig(AppConfig):
    name = "kpi"
    verbose_name = _("KPIs")

    def ready(self) -> None:
        # The KPI snapshots, after the night's AUM, tiers, contact planning (30) and
        # maturity opportunities (35): the figures read what those wrote.
        from kpi import services
        from vipcrm import nightly

        nightly.register_job(
            nightly.NightlyJob(name="kpi.snapshot", order=40, run=services.kpi_snapshot_job)
        )

        # The "My day" panel: an RM's share of this week's hours on VIP clients.
        from kpi.views.inputs import TIME_PANEL
        from vipcrm.my_day import register_panel

        register_panel(TIME_PANEL)

        # "Your supervisor left you a coaching note" in the RM's notifications.
        from kpi import notifications

        notifications.register()
