from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactPlansConfig(AppConfig):
    name = "contact_plans"
    verbose_name = _("Contact plans")
