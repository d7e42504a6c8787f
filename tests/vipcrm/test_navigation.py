"""The main menu and the segmentation tabs follow the role and the current page."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def menu(response):
    return {item["label"]: item for item in response.context["nav_items"]}


def tabs(response):
    return [str(tab["label"]) for tab in response.context.get("section_tabs") or []]


def test_an_rms_segmentation_link_opens_their_near_threshold_clients(login, bank_a, english):
    response = login(bank_a.rm).get(reverse("home"))
    assert menu(response)["Segmentation"]["url"] == reverse("segmentation:near-threshold-list")
    assert "Staff" not in menu(response)


def test_a_supervisor_sees_every_segmentation_tab_on_a_segmentation_page(login, bank_a, english):
    response = login(bank_a.supervisor).get(reverse("segmentation:capacity"))
    assert menu(response)["Segmentation"]["active"]
    assert tabs(response) == [
        "Unqualified VIPs",
        "Near threshold",
        "Tier changes",
        "RM capacity",
        "Tiers and service standards",
    ]
    current = [t for t in response.context["section_tabs"] if t["active"]]
    assert [str(t["label"]) for t in current] == ["RM capacity"]


def test_an_rm_sees_no_supervisor_tabs(login, bank_a, english):
    response = login(bank_a.rm).get(reverse("segmentation:tier-change-list"))
    assert tabs(response) == ["Near threshold", "Tier changes", "RM capacity"]


def test_an_advisor_has_no_segmentation_menu(login, bank_a, english):
    response = login(bank_a.advisor).get(reverse("home"))
    assert "Segmentation" not in menu(response)
    assert "Segments" in menu(response)


def test_the_clients_menu_stays_current_on_a_client_page(login, bank_a, english):
    response = login(bank_a.rm).get(reverse("customers:client-list"))
    assert menu(response)["Clients"]["active"]
    assert not tabs(response)
