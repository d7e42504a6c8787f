"""Fixtures shared by the sales-pipeline tests (builders in ``builders.py``)."""

from __future__ import annotations

import pytest

from customers.models import Client
from tests.sales_pipeline.builders import vip_client
from vipcrm.roles import Actor


@pytest.fixture
def vip(bank_a) -> Client:
    """RM R1's client at the sub-branch, assessed C3 30 days ago."""
    return vip_client(bank_a)


@pytest.fixture
def rm(bank_a) -> Actor:
    """RM R1, acting."""
    return Actor.for_staff(bank_a.rm)
