from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesPipelineConfig(AppConfig):
    name = "sales_pipeline"
    verbose_name = _("Sales pipeline")

    def ready(self) -> None:
        # One opportunity per maturity alert, after the contact planning (30) made them,
        # and the text of the celebration's notification.
        from sales_pipeline import notifications, services
        from vipcrm import nightly

        nightly.register_job(
            nightly.NightlyJob(
                name="sales_pipeline.maturity", order=35, run=services.maturity_opportunities_job
            )
        )
        notifications.register()

        # The open opportunities among a planned contact's talking points.
        from contact_plans.talking_points import register_talking_point_source
        from sales_pipeline.talking_points import opportunity_talking_points

        register_talking_point_source(opportunity_talking_points)

        # The "My day" panel and the client 360's section.
        from customers.client_sections import register_client_section
        from sales_pipeline import panels
        from sales_pipeline.client_section import OPPORTUNITIES_SECTION

        panels.register_panels()
        register_client_section(OPPORTUNITIES_SECTION)
