from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesPipelineConfig(AppConfig):
    name = "sales_pipeline"
    verbose_name = _("Sales pipeline")
