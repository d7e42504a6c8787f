"""Every route, enumerated from the URLconf: another tenant's object is a 404.

A new route with a path parameter fails here until its model has a factory below, so
no route escapes the check by being forgotten.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from contact_plans.models import CalendarFeed, ContactPlan, Interaction, PlannedContact
from customers.models import Client, Holding, Product, Tier
from kpi.models import CoachingNote, Complaint, KpiSnapshot, SatisfactionSurvey, TimeLog
from sales_pipeline.models import Opportunity, Proposal
from segmentation.models import (
    AumSnapshot,
    ClientSegment,
    RmCapacity,
    SavedSegment,
    ServiceStandard,
    TierChange,
    TierOverride,
)
from tests.factories import (
    AumSnapshotFactory,
    BranchFactory,
    CalendarFeedFactory,
    ClientFactory,
    ClientSegmentFactory,
    CoachingNoteFactory,
    ComplaintFactory,
    ContactPlanFactory,
    HoldingFactory,
    InteractionFactory,
    KpiSnapshotFactory,
    NotificationFactory,
    OpportunityFactory,
    PlannedContactFactory,
    ProductFactory,
    ProposalFactory,
    RmCapacityFactory,
    SatisfactionSurveyFactory,
    SavedSegmentFactory,
    ServiceStandardFactory,
    StaffFactory,
    TierChangeFactory,
    TierFactory,
    TierOverrideFactory,
    TimeLogFactory,
)
from vipcrm.models import Branch, Notification, StaffProfile
from vipcrm.services import api_token_create

pytestmark = pytest.mark.django_db


def holding_factory(*, tenant, name):
    # A holding has no name of its own: the marker goes into its product and client.
    return HoldingFactory(tenant=tenant, product__name=name, client__name=name)


def _through_client(factory_class):
    # Rows named by their client only: the marker goes into the client's name.
    return lambda *, tenant, name: factory_class(tenant=tenant, client__name=name)


FACTORIES = {
    Branch: BranchFactory,
    StaffProfile: StaffFactory,
    Client: ClientFactory,
    Product: ProductFactory,
    Holding: holding_factory,
    Tier: TierFactory,
    ServiceStandard: lambda *, tenant, name: ServiceStandardFactory(tenant=tenant, tier__name=name),
    AumSnapshot: _through_client(AumSnapshotFactory),
    ClientSegment: _through_client(ClientSegmentFactory),
    TierOverride: _through_client(TierOverrideFactory),
    TierChange: _through_client(TierChangeFactory),
    RmCapacity: lambda *, tenant, name: RmCapacityFactory(tenant=tenant, staff__name=name),
    SavedSegment: SavedSegmentFactory,
    Notification: lambda *, tenant, name: NotificationFactory(tenant=tenant, recipient__name=name),
    ContactPlan: _through_client(ContactPlanFactory),
    PlannedContact: _through_client(PlannedContactFactory),
    Interaction: _through_client(InteractionFactory),
    CalendarFeed: lambda *, tenant, name: CalendarFeedFactory(tenant=tenant, staff__name=name),
    Opportunity: lambda *, tenant, name: OpportunityFactory(tenant=tenant, title=name),
    Proposal: lambda *, tenant, name: ProposalFactory(tenant=tenant, note=name),
    TimeLog: lambda *, tenant, name: TimeLogFactory(tenant=tenant, staff__name=name),
    SatisfactionSurvey: lambda *, tenant, name: SatisfactionSurveyFactory(
        tenant=tenant, comment=name
    ),
    Complaint: lambda *, tenant, name: ComplaintFactory(tenant=tenant, description=name),
    CoachingNote: lambda *, tenant, name: CoachingNoteFactory(tenant=tenant, text=name),
    KpiSnapshot: lambda *, tenant, name: KpiSnapshotFactory(tenant=tenant, staff__name=name),
}
MARKER = "乙行机密"  # in the names of tenant B's objects; must never reach tenant A
# The platform operator's admin is not a tenant route (tested in test_auth); the
# language switch and logout take POSTs and show no data.
SKIPPED_PREFIXES = ("admin/",)


def walk(patterns, prefix="", namespace=None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            full_ns = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), full_ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry, namespace


def routes():
    found = []
    for route, pattern, namespace in walk(get_resolver().url_patterns):
        route = route.replace("^", "").replace("$", "")
        if route.startswith(SKIPPED_PREFIXES) or not pattern.name:
            continue
        name = f"{namespace}:{pattern.name}" if namespace else pattern.name
        if "format" in pattern.pattern.regex.groupindex:
            continue  # DRF's format-suffix twins of routes checked already
        found.append((name, pattern))
    return found


ROUTES = routes()
OBJECT_ROUTES = [(n, p) for n, p in ROUTES if p.pattern.regex.groupindex]
PLAIN_ROUTES = [(n, p) for n, p in ROUTES if not p.pattern.regex.groupindex]


def model_and_lookup(pattern):
    callback = pattern.callback
    drf_view = getattr(callback, "cls", None)
    if drf_view is not None:
        return drf_view.serializer_class.Meta.model, drf_view.lookup_field
    view = getattr(callback, "view_class", None)
    model = getattr(view, "model", None)
    kwarg = next(iter(pattern.pattern.regex.groupindex))
    lookup = (
        getattr(view, "slug_field", "pk") if kwarg == getattr(view, "slug_url_kwarg", "") else "pk"
    )
    return model, lookup


def test_the_urlconf_has_object_routes_to_check():
    assert len(OBJECT_ROUTES) >= 3
    assert len(PLAIN_ROUTES) >= 5


@pytest.mark.parametrize(("name", "pattern"), OBJECT_ROUTES, ids=[n for n, _ in OBJECT_ROUTES])
def test_another_tenants_object_is_a_404(name, pattern, client, bank_a, bank_b):
    model, lookup = model_and_lookup(pattern)
    assert model in FACTORIES, f"{name}: add a factory for {model} to FACTORIES"
    victim = FACTORIES[model](tenant=bank_b.tenant, name=f"{MARKER}对象")
    kwarg = next(iter(pattern.pattern.regex.groupindex))
    url = reverse(name, kwargs={kwarg: getattr(victim, lookup)})

    client.force_login(bank_a.head.user)  # the widest role in tenant A
    _assert_not_found(url, client.get(url), client.post(url))

    if name.startswith("api:"):
        client.logout()
        _, key = api_token_create(tenant=bank_a.tenant, name="probe", scopes=["read", "write"])
        auth = {"HTTP_AUTHORIZATION": f"Token {key}"}
        responses = client.get(url, **auth), client.post(url, **auth)
        _assert_not_found(url, *responses)
        for response in responses:
            assert response.json() == {"detail": response.json()["detail"]}


def _assert_not_found(url, get, post):
    """Another tenant's object is a 404 to a read *and* to a write, before any role or
    input check could tell that it exists; 405 only where the route takes no such
    method at all (a page without POST, an API action without GET)."""
    assert get.status_code in (404, 405), f"GET {url}: {get.status_code}"
    assert post.status_code in (404, 405), f"POST {url}: {post.status_code}"
    assert 404 in (get.status_code, post.status_code), url
    assert MARKER not in get.content.decode() + post.content.decode()


@pytest.mark.parametrize(("name", "pattern"), PLAIN_ROUTES, ids=[n for n, _ in PLAIN_ROUTES])
def test_no_page_shows_another_tenants_data(name, pattern, client, bank_a, bank_b):
    BranchFactory(tenant=bank_b.tenant, name=f"{MARKER}支行")
    StaffFactory(tenant=bank_b.tenant, name=f"{MARKER}员工", branch=bank_b.sub)
    ClientFactory(tenant=bank_b.tenant, name=f"{MARKER}客户", branch=bank_b.sub)
    client.force_login(bank_a.head.user)
    response = client.get(reverse(name))
    assert response.status_code < 500, name
    assert MARKER not in response.content.decode(), name
