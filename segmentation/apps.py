from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentationConfig(AppConfig):
    name = "segmentation"
    verbose_name = _("Segmentation")

    def ready(self) -> None:
        from customers.client_sections import register_client_section
        from segmentation.client_section import TIER_SECTION

        register_client_section(TIER_SECTION)

        # The nightly pipeline: snapshot AUM, then re-tier (later apps use 30 and up).
        from segmentation import services
        from vipcrm import nightly

        for name, order, run in (
            ("segmentation.snapshot", 10, services.aum_snapshot_job),
            ("segmentation.retier", 20, services.clients_retier_job),
        ):
            nightly.register_job(nightly.NightlyJob(name=name, order=order, run=run))
