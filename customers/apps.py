from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Clients")

    def ready(self) -> None:
        from customers import selectors
        from vipcrm import my_day

        my_day.register_panel(
            my_day.Panel(
                key="book",
                order=10,
                template="customers/panels/book.html",
                context=lambda actor: selectors.book_overview(actor=actor),
            )
        )
