"""Step 3 (``sales_pipeline.services``): proposals and suitability (适当性), the win with
its sales-recording references (双录), the credits of the team and the after-sales
check-ins it plans — and every refusal, with nothing half-written."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from contact_plans.models import PlannedContact
from customers.models import Client, Product
from sales_pipeline import services
from sales_pipeline.models import Opportunity, Proposal, ProposalLine, SaleCredit, StepEntry
from tests.factories import (
    ClientFactory,
    ClientTeamMemberFactory,
    OpportunityFactory,
    ProductFactory,
    ProposalFactory,
    ProposalLineFactory,
    StaffFactory,
)
from tests.sales_pipeline.builders import call, opportunity_at, refused, vip_client
from vipcrm.models import AuditEntry
from vipcrm.roles import Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
C = Product.Category


def today() -> datetime.date:
    return timezone.localdate()  # Asia/Shanghai: the settings' and the banks' time zone


@pytest.fixture
def vip(bank_a) -> Client:
    """Assessed C3 100 days ago, as the proposals below say."""
    return vip_client(bank_a, risk_assessed_on=today() - DAY * 100)


@pytest.fixture
def opportunity(bank_a, vip) -> Opportunity:
    """At step 3 since an hour ago."""
    return opportunity_at(bank_a, vip, 3)


def product(bank, category=C.WEALTH_MANAGEMENT, risk="R2", name=None) -> Product:
    extra = {"name": name} if name else {}
    return ProductFactory(tenant=bank.tenant, category=category, risk_level=risk, **extra)


def proposal_of(bank, opportunity, *lines: tuple[Product, str]) -> Proposal:
    """A proposal made when the client's assessment was C3 of 100 days ago."""
    proposal = ProposalFactory(
        tenant=bank.tenant,
        opportunity=opportunity,
        risk_level="C3",
        risk_assessed_on=today() - DAY * 100,
    )
    for item, amount in lines:
        ProposalLineFactory(
            tenant=bank.tenant, proposal=proposal, product=item, amount_cny=Decimal(amount)
        )
    return proposal


def state(bank) -> tuple:
    """Everything a refused call must leave as it was."""
    with tenant_context(bank.tenant):
        return (
            list(Opportunity.objects.values_list("pk", "step", "status", "won_amount_cny")),
            list(StepEntry.objects.values_list("pk", "left_at")),
            list(Proposal.objects.values_list("pk", "status")),
            list(ProposalLine.objects.values_list("pk", "recording_ref")),
            SaleCredit.objects.count(),
            PlannedContact.objects.count(),
            AuditEntry.objects.count(),
        )


# --- Suitability -----------------------------------------------------------------------------


def test_a_product_within_the_clients_risk_level_is_suitable(bank_a, vip):
    items = [product(bank_a, risk=risk) for risk in ("R1", "R2", "R3")]
    assert services.suitability_errors(client=vip, products=items, on=today()) == []


def test_a_product_above_the_clients_risk_level_is_not(bank_a, vip):
    risky = product(bank_a, C.FUND, "R4", name="科技创新股票型基金")
    errors = services.suitability_errors(client=vip, products=[product(bank_a), risky], on=today())
    assert errors == [
        "科技创新股票型基金 is R4, above the client's risk tolerance C3: it may not be "
        "proposed or sold to this client."
    ]


def test_an_expired_assessment_allows_nothing(bank_a, vip):
    expired_on = vip.risk_assessed_on + DAY * 365
    assert services.suitability_errors(client=vip, products=[], on=expired_on - DAY) == []
    errors = services.suitability_errors(client=vip, products=[product(bank_a)], on=expired_on)
    assert errors == [
        f"The client's risk assessment (C3) expired on {expired_on.isoformat()}: it must be "
        "renewed before any product is proposed or sold."
    ]


def test_no_assessment_allows_nothing(bank_a):
    unassessed = ClientFactory(tenant=bank_a.tenant, branch=bank_a.sub)
    errors = services.suitability_errors(
        client=unassessed, products=[product(bank_a, risk="R1")], on=today()
    )
    assert len(errors) == 1 and errors[0].startswith("The client has no risk assessment")


# --- Proposals -------------------------------------------------------------------------------


def test_a_suitable_proposal_is_made_with_the_assessment_it_was_checked_against(
    bank_a, vip, rm, opportunity
):
    deposit, fund = product(bank_a, C.TIME_DEPOSIT, "R1"), product(bank_a, C.FUND, "R3")
    proposal = call(
        bank_a,
        services.proposal_create,
        actor=rm,
        opportunity=opportunity,
        lines=[(deposit, Decimal("500000")), (fund, "200000.50")],
        note="  到期资金一半续存，一半配置基金  ",
    )
    with tenant_context(bank_a.tenant):
        lines = list(proposal.lines.order_by("id").values_list("product_id", "amount_cny"))
        audit = AuditEntry.objects.get(object_type="sales_pipeline.proposal")
    assert proposal.status == Proposal.Status.DRAFT
    assert (proposal.risk_level, proposal.risk_assessed_on) == ("C3", vip.risk_assessed_on)
    assert proposal.note == "到期资金一半续存，一半配置基金"
    assert proposal.created_by_id == bank_a.rm.pk
    assert lines == [(deposit.pk, Decimal("500000.00")), (fund.pk, Decimal("200000.50"))]
    assert audit.detail["lines"] == [
        [deposit.code, "500000.00"],
        [fund.code, "200000.50"],
    ]


@pytest.mark.parametrize(
    ("risk_level", "assessed_days_ago", "risk", "start"),
    [
        ("C3", 100, "R4", "理财 is R4, above the client's risk tolerance C3"),
        ("C3", 365, "R1", "The client's risk assessment (C3) expired on"),
        ("", None, "R1", "The client has no risk assessment on file"),
    ],
)
def test_an_unsuitable_proposal_is_refused_with_the_reason(
    bank_a, vip, rm, opportunity, risk_level, assessed_days_ago, risk, start
):
    with tenant_context(bank_a.tenant):
        Client.objects.filter(pk=vip.pk).update(
            risk_level=risk_level,
            risk_assessed_on=today() - DAY * assessed_days_ago if assessed_days_ago else None,
        )
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.proposal_create,
        actor=rm,
        opportunity=opportunity,
        lines=[(product(bank_a, risk=risk, name="理财"), Decimal("100000"))],
    )
    assert list(errors) == ["suitability"]
    assert errors["suitability"][0].startswith(start)
    assert state(bank_a) == before


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (Decimal("0"), "理财: The amount must be more than zero."),
        (Decimal("-100"), "理财: The amount must be more than zero."),
        ("abc", "理财: Enter the amount as a number of yuan."),
        (None, "理财: Give the amount in CNY."),
        (Decimal("10.005"), "理财: The amount has at most two decimals (fen)."),
        (Decimal("1e17"), "理财: The amount is too large."),
    ],
)
def test_a_line_without_a_positive_amount_is_refused(bank_a, rm, opportunity, amount, message):
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.proposal_create,
        actor=rm,
        opportunity=opportunity,
        lines=[(product(bank_a, name="理财"), amount)],
    )
    assert errors == {"lines": [message]}
    assert state(bank_a) == before


def test_an_empty_proposal_is_refused(bank_a, rm, opportunity):
    errors = refused(bank_a, services.proposal_create, actor=rm, opportunity=opportunity, lines=[])
    assert errors == {"lines": ["Propose at least one product, with its amount."]}


def test_a_product_twice_or_of_another_bank_is_refused(bank_a, bank_b, rm, opportunity):
    ours, theirs = product(bank_a, name="理财"), product(bank_b)
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.proposal_create,
        actor=rm,
        opportunity=opportunity,
        lines=[(ours, Decimal("1")), (ours, Decimal("2")), (theirs, Decimal("3")), ("x",)],
    )
    assert errors == {
        "lines": [
            "理财 is proposed twice: one line per product.",
            "Choose the products from your bank's catalogue.",
            "Each line is a product with an amount.",
        ]
    }
    assert state(bank_a) == before


def test_a_proposal_is_made_at_step_3_only(bank_a, vip, rm):
    early = OpportunityFactory(tenant=bank_a.tenant, client=vip, step=2)
    errors = refused(
        bank_a,
        services.proposal_create,
        actor=rm,
        opportunity=early,
        lines=[(product(bank_a), Decimal("1"))],
    )
    assert "step 3" in errors["__all__"][0]


# --- The win ---------------------------------------------------------------------------------


def test_the_win_records_the_sale_and_moves_to_step_4(bank_a, vip, rm, opportunity):
    deposit, fund = product(bank_a, C.TIME_DEPOSIT, "R1"), product(bank_a, C.FUND, "R3")
    proposal = proposal_of(bank_a, opportunity, (deposit, "500000"), (fund, "250000.25"))
    older = proposal_of(bank_a, opportunity, (deposit, "1"))
    won = call(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=proposal,
        recording_refs={str(fund.pk): " SL-2026-0001 ", deposit.pk: ""},
    )
    with tenant_context(bank_a.tenant):
        statuses = dict(Proposal.objects.values_list("pk", "status"))
        refs = dict(
            ProposalLine.objects.filter(proposal=proposal).values_list(
                "product_id", "recording_ref"
            )
        )
        steps = list(
            StepEntry.objects.filter(opportunity=opportunity).values_list("step", "left_at")
        )
        accepted_at = Proposal.objects.get(pk=proposal.pk).accepted_at
        audit = AuditEntry.objects.get(object_type="sales_pipeline.opportunity")
    assert (won.status, won.step, won.won_amount_cny) == ("won", 4, Decimal("750000.25"))
    assert won.won_at == won.step_entered_at == accepted_at
    assert statuses == {proposal.pk: "accepted", older.pk: "superseded"}
    assert refs == {deposit.pk: "", fund.pk: "SL-2026-0001"}
    assert steps == [(3, won.step_entered_at), (4, None)]
    assert audit.detail["step"] == [3, 4] and audit.detail["status"] == ["open", "won"]


@pytest.mark.parametrize("category", [C.WEALTH_MANAGEMENT, C.FUND, C.INSURANCE, C.TRUST])
def test_wealth_management_and_agency_products_need_the_recording_reference(
    bank_a, rm, opportunity, category
):
    item = product(bank_a, category, "R2", name="产品甲")
    proposal = proposal_of(bank_a, opportunity, (item, "100000"))
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=proposal,
        recording_refs={item.pk: "   "},
    )
    assert list(errors) == ["recording_refs"]
    assert errors["recording_refs"][0].startswith("产品甲 (")
    assert errors["recording_refs"][0].endswith("give the reference of the sales recording (双录).")
    assert state(bank_a) == before


@pytest.mark.parametrize("category", [C.DEPOSIT, C.TIME_DEPOSIT, C.BOND, C.PRECIOUS_METAL])
def test_deposits_and_other_products_need_no_recording(bank_a, rm, opportunity, category):
    item = product(bank_a, category, "R1")
    proposal = proposal_of(bank_a, opportunity, (item, "100000"))
    won = call(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=proposal,
        recording_refs={},
    )
    assert won.status == "won"


def test_a_recording_reference_for_a_product_not_proposed_is_refused(bank_a, rm, opportunity):
    item = product(bank_a, C.TIME_DEPOSIT, "R1")
    proposal = proposal_of(bank_a, opportunity, (item, "100000"))
    errors = refused(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=proposal,
        recording_refs={product(bank_a).pk: "SL-1", "nonsense": "SL-2"},
    )
    assert (
        errors["recording_refs"]
        == ["A recording reference is given for a product not proposed."] * 2
    )


def test_suitability_is_checked_again_on_the_day_of_the_sale(bank_a, vip, rm, opportunity):
    """Suitable when proposed; the assessment expired before the sale was recorded."""
    item = product(bank_a, C.TIME_DEPOSIT, "R1")
    proposal = call(
        bank_a,
        services.proposal_create,
        actor=rm,
        opportunity=opportunity,
        lines=[(item, Decimal("100000"))],
    )
    with tenant_context(bank_a.tenant):
        Client.objects.filter(pk=vip.pk).update(risk_assessed_on=today() - DAY * 365)
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=proposal,
        recording_refs={},
    )
    assert list(errors) == ["suitability"]
    assert "expired on" in errors["suitability"][0]
    assert state(bank_a) == before
    # Recorded for the day before the expiry, it was suitable then.
    won = call(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=proposal,
        recording_refs={},
        won_on=today() - DAY,
    )
    assert won.status == "won"


def test_a_risk_level_lowered_since_the_proposal_refuses_the_sale(bank_a, vip, rm, opportunity):
    item = product(bank_a, C.FUND, "R3", name="均衡成长混合型基金")
    proposal = proposal_of(bank_a, opportunity, (item, "100000"))
    with tenant_context(bank_a.tenant):
        Client.objects.filter(pk=vip.pk).update(risk_level="C2", risk_assessed_on=today())
    errors = refused(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=proposal,
        recording_refs={item.pk: "SL-9"},
    )
    assert errors["suitability"][0].startswith("均衡成长混合型基金 is R3, above")


def test_the_win_needs_a_draft_proposal_of_this_opportunity_and_no_future_date(
    bank_a, vip, rm, opportunity
):
    item = product(bank_a, C.TIME_DEPOSIT, "R1")
    other = OpportunityFactory(tenant=bank_a.tenant, client=vip, step=3)
    foreign = proposal_of(bank_a, other, (item, "1"))
    errors = refused(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=foreign,
        recording_refs={},
        won_on=today() + DAY,
    )
    assert errors == {
        "proposal": ["Choose one of this opportunity's proposals."],
        "won_on": ["A sale cannot be recorded in the future."],
    }
    declined = proposal_of(bank_a, opportunity, (item, "1"))
    with tenant_context(bank_a.tenant):
        Proposal.objects.filter(pk=declined.pk).update(status=Proposal.Status.DECLINED)
    errors = refused(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=declined,
        recording_refs={},
    )
    assert errors == {"proposal": ["This proposal is Declined: only a proposal made may be won."]}


def test_a_sale_is_recorded_once(bank_a, rm, opportunity):
    item = product(bank_a, C.TIME_DEPOSIT, "R1")
    proposal = proposal_of(bank_a, opportunity, (item, "100000"))
    second = proposal_of(bank_a, opportunity, (item, "200000"))
    call(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=proposal,
        recording_refs={},
    )
    errors = refused(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=second,
        recording_refs={},
    )
    assert "__all__" in errors


# --- Credits ---------------------------------------------------------------------------------


def win(bank, rm, opportunity, amount: str) -> Opportunity:
    item = product(bank, C.TIME_DEPOSIT, "R1")
    proposal = proposal_of(bank, opportunity, (item, amount))
    return call(
        bank,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=proposal,
        recording_refs={},
    )


def credits(bank, opportunity) -> list[tuple]:
    with tenant_context(bank.tenant):
        return list(
            SaleCredit.objects.filter(opportunity=opportunity)
            .order_by("-share_percent", "staff_id")
            .values_list("staff_id", "role", "share_percent", "amount_cny", "credited_on")
        )


def test_without_a_secondary_rm_the_owner_gets_it_all(bank_a, rm, opportunity):
    win(bank_a, rm, opportunity, "1000000")
    assert credits(bank_a, opportunity) == [
        (bank_a.rm.pk, "owner", Decimal("100"), Decimal("1000000.00"), today())
    ]


def test_the_secondary_rms_are_credited_by_their_share(bank_a, vip, rm, opportunity):
    ClientTeamMemberFactory(
        tenant=bank_a.tenant,
        client=vip,
        staff=bank_a.other_rm,
        role="secondary_rm",
        credit_share=Decimal("30"),
    )
    # An advisor on the team (no share) is not credited.
    ClientTeamMemberFactory(tenant=bank_a.tenant, client=vip, staff=bank_a.advisor)
    win(bank_a, rm, opportunity, "1000000")
    assert credits(bank_a, opportunity) == [
        (bank_a.rm.pk, "owner", Decimal("70"), Decimal("700000.00"), today()),
        (bank_a.other_rm.pk, "secondary", Decimal("30"), Decimal("300000.00"), today()),
    ]


def test_the_amounts_add_up_exactly_to_the_win(bank_a, vip, rm, opportunity):
    for share in ("33.33", "33.33"):
        ClientTeamMemberFactory(
            tenant=bank_a.tenant,
            client=vip,
            staff=StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM),
            role="secondary_rm",
            credit_share=Decimal(share),
        )
    won = win(bank_a, rm, opportunity, "100.01")
    rows = credits(bank_a, opportunity)
    assert [row[2] for row in rows] == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert sum(row[3] for row in rows) == won.won_amount_cny == Decimal("100.01")
    # 10,001 fen × 33.34% = 3,334.33 → 3,334 and 3,333.33 → 3,333 twice: the fen left over
    # goes to the largest remainder, the owner's.
    assert [row[3] for row in rows] == [Decimal("33.35"), Decimal("33.33"), Decimal("33.33")]


def test_shares_above_100_percent_refuse_the_win(bank_a, vip, rm, opportunity):
    for share in ("60", "50"):
        ClientTeamMemberFactory(
            tenant=bank_a.tenant,
            client=vip,
            staff=StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM),
            role="secondary_rm",
            credit_share=Decimal(share),
        )
    item = product(bank_a, C.TIME_DEPOSIT, "R1")
    proposal = proposal_of(bank_a, opportunity, (item, "1000"))
    before = state(bank_a)
    errors = refused(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=proposal,
        recording_refs={},
    )
    assert "add up to 110.00%, more than 100%" in errors["__all__"][0]
    assert state(bank_a) == before


def test_split_gives_the_cents_to_the_largest_remainders():
    assert services._split(Decimal("0.02"), [Decimal("50"), Decimal("25"), Decimal("25")]) == [
        Decimal("0.01"),
        Decimal("0.01"),
        Decimal("0.00"),
    ]
    parts = services._split(Decimal("1000000.07"), [Decimal("70"), Decimal("30")])
    assert parts == [Decimal("700000.05"), Decimal("300000.02")]


# --- The check-ins ---------------------------------------------------------------------------


def test_the_win_plans_the_check_ins_at_7_and_30_days(bank_a, vip, rm, opportunity):
    won = win(bank_a, rm, opportunity, "100000")
    with tenant_context(bank_a.tenant):
        contacts = list(
            PlannedContact.objects.filter(client=vip)
            .order_by("due_on")
            .values_list("reason", "due_on", "status", "assigned_to_id", "source_key")
        )
    assert contacts == [
        (
            "follow_up",
            today() + DAY * days,
            "planned",
            bank_a.rm.pk,
            f"opportunity:{won.pk}:check_in:{days}",
        )
        for days in (7, 30)
    ]


def test_a_sale_recorded_late_has_its_past_check_ins_overdue(bank_a, vip, rm, opportunity):
    item = product(bank_a, C.TIME_DEPOSIT, "R1")
    proposal = proposal_of(bank_a, opportunity, (item, "100000"))
    won_on = today() - DAY * 10
    call(
        bank_a,
        services.opportunity_win,
        actor=rm,
        opportunity=opportunity,
        proposal=proposal,
        recording_refs={},
        won_on=won_on,
    )
    with tenant_context(bank_a.tenant):
        contacts = list(
            PlannedContact.objects.filter(client=vip)
            .order_by("due_on")
            .values_list("due_on", "status")
        )
        credited_on = SaleCredit.objects.get().credited_on
    assert contacts == [(won_on + DAY * 7, "overdue"), (won_on + DAY * 30, "planned")]
    assert credited_on == won_on
