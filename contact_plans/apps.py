from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactPlansConfig(AppConfig):
    name = "contact_plans"
    verbose_name = _("Contact plans")

    def ready(self) -> None:
        # The nightly planning, after segmentation's snapshot (10) and re-tiering (20),
        # and the text of its notifications.
        from contact_plans import notifications, services
        from vipcrm import nightly

        nightly.register_job(
            nightly.NightlyJob(
                name="contact_plans.plan", order=30, run=services.contact_plans_refresh_job
            )
        )
        notifications.register()

        # The "My day" panels and the client 360's contact-plan section.
        from contact_plans import panels
        from contact_plans.client_section import CONTACTS_SECTION
        from customers.client_sections import register_client_section

        panels.register_panels()
        register_client_section(CONTACTS_SECTION)

        # The plan's summary in the API's client detail.
        from contact_plans.selectors import contact_plan_summary
        from customers.client_sections import register_contact_plan_summary

        register_contact_plan_summary(contact_plan_summary)
