"""Pages of clients (mounted at /clients/)."""

from django.urls import path  # noqa: F401

app_name = "customers"

urlpatterns: list = []
