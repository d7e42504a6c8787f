"""What the sales-pipeline tests build again and again: a client of RM R1, an
opportunity at a step (with the history of the steps before it, or only the step's own
entry), and a service called in the bank's tenant — refused or not."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.models import Client
from sales_pipeline.models import Opportunity
from tests.factories import ClientFactory, OpportunityFactory, StepEntryFactory
from vipcrm.tenancy import tenant_context

DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)


def vip_client(bank, **fields) -> Client:
    """RM R1's client at the sub-branch, assessed C3 30 days ago (so products up to R3
    suit them); ``fields`` override any of it."""
    defaults = {
        "branch": bank.sub,
        "owner_rm": bank.rm,
        "risk_level": "C3",
        "risk_assessed_on": timezone.localdate() - DAY * 30,
    }
    return ClientFactory(tenant=bank.tenant, **{**defaults, **fields})


def opportunity_at(bank, client, step: int = 1, *, entered_ago=HOUR, **kwargs) -> Opportunity:
    """An opportunity at ``step`` since ``entered_ago``, with that step's entry only."""
    entered = timezone.now() - entered_ago
    opportunity = OpportunityFactory(
        tenant=bank.tenant, client=client, step=step, step_entered_at=entered, **kwargs
    )
    StepEntryFactory(tenant=bank.tenant, opportunity=opportunity, step=step, entered_at=entered)
    return opportunity


def opportunity_through(bank, client, step: int, *, entered_ago=HOUR, **kwargs) -> Opportunity:
    """An opportunity at ``step`` since ``entered_ago``, with the history of the steps
    before it, entered a day apart; created when it entered step 1."""
    now = timezone.now()
    entered = [now - DAY * (step - n) - entered_ago for n in range(1, step + 1)]
    opportunity = OpportunityFactory(
        tenant=bank.tenant, client=client, step=step, step_entered_at=entered[-1], **kwargs
    )
    with tenant_context(bank.tenant):
        Opportunity.objects.filter(pk=opportunity.pk).update(created_at=entered[0])
        opportunity.refresh_from_db()
    for n in range(1, step + 1):
        StepEntryFactory(
            tenant=bank.tenant,
            opportunity=opportunity,
            step=n,
            entered_at=entered[n - 1],
            left_at=entered[n] if n < step else None,
        )
    return opportunity


def call(bank, service, **kwargs):
    """``service(**kwargs)`` in the bank's tenant."""
    with tenant_context(bank.tenant):
        return service(**kwargs)


def refused(bank, service, **kwargs) -> dict:
    """The errors, by field, of a call that must be refused."""
    with pytest.raises(ValidationError) as caught:
        call(bank, service, **kwargs)
    return caught.value.message_dict
