from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesPipelineConfig(AppConfig):
    name = "sales_pipeline"
    verbose_name = _("Sales pipeline")

    def ready(self) -> None:
        # One opportunity per maturity alert, after the contact planning (30) made them.
        from sales_pipeline import services
        from vipcrm import nightly

        nightly.register_job(
            nightly.NightlyJob(
                name="sales_pipeline.maturity", order=35, run=services.maturity_opportunities_job
            )
        )
