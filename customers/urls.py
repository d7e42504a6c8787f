"""Pages of clients (mounted at /clients/).

Each route names at most one client, by customer number; the row a change acts on
(a need, an event…) travels in the form, and is looked up among that client's rows.
"""

from django.urls import path

from customers import views

app_name = "customers"


def _client(suffix: str, view, name: str):
    return path(f"<str:external_id>/{suffix}", view.as_view(), name=name)


urlpatterns = [
    path("", views.ClientListView.as_view(), name="client-list"),
    path("export.csv", views.ClientExportView.as_view(), name="client-export"),
    _client("", views.ClientDetailView, "client-detail"),
    _client("needs/add/", views.NeedAddView, "client-need-add"),
    _client("needs/addressed/", views.NeedAddressView, "client-need-address"),
    _client("needs/remove/", views.NeedRemoveView, "client-need-remove"),
    _client("life-events/add/", views.LifeEventAddView, "client-life-event-add"),
    _client("life-events/edit/", views.LifeEventEditView, "client-life-event-edit"),
    _client("life-events/remove/", views.LifeEventRemoveView, "client-life-event-remove"),
    _client("held-away/add/", views.HeldAwayAddView, "client-held-away-add"),
    _client("held-away/edit/", views.HeldAwayEditView, "client-held-away-edit"),
    _client("held-away/remove/", views.HeldAwayRemoveView, "client-held-away-remove"),
    _client("relationships/add/", views.RelationshipAddView, "client-relationship-add"),
    _client("relationships/remove/", views.RelationshipRemoveView, "client-relationship-remove"),
    _client("preferences/", views.PreferencesView, "client-preferences"),
]
