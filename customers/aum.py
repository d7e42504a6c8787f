"""AUM (管理资产): the sum of a client's active holdings at the bank, in CNY.

Kept on ``Client.aum_cny`` by one set-based UPDATE, whatever the number of clients:
each active holding counts ``balance × rate``, where the rate is the tenant's latest
FX rate on or before today for the holding's currency (CNY is 1). A currency without
any rate counts 0 and is logged, so a missing rate feed is noticed rather than
silently inflating or failing the sync.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable

from django.db.models import (
    Case,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from customers.models import MONEY, Client, FxRate, Holding

logger = logging.getLogger(__name__)

BASE_CURRENCY = "CNY"
_RATE = DecimalField(max_digits=18, decimal_places=8)
_AMOUNT = DecimalField(max_digits=30, decimal_places=10)


def fx_rate_latest(*, on: datetime.date) -> Case:
    """The rate to CNY of the outer holding's currency on ``on`` (0 when there is none)."""
    latest = (
        FxRate.objects.filter(currency=OuterRef("currency"), date__lte=on)
        .order_by("-date")
        .values("rate_to_cny")[:1]
    )
    return Case(
        When(currency=BASE_CURRENCY, then=Value(1, output_field=_RATE)),
        default=Coalesce(Subquery(latest, output_field=_RATE), Value(0, output_field=_RATE)),
        output_field=_RATE,
    )


def client_aum_expression(*, on: datetime.date) -> Round:
    """AUM of the outer client in CNY, rounded to the cent."""
    # "Active" is an aggregate FILTER, not a WHERE: a WHERE on status would let the
    # planner pick the partial index on active holdings, which looks empty to it until
    # the table is first analysed (a bank's first bulk load) and would then scan every
    # active holding once per client. This way only the client's own holdings are read.
    per_client = (
        Holding.objects.filter(client=OuterRef("pk"))
        .order_by()
        .values("client")
        .annotate(
            total=Sum(
                F("balance") * fx_rate_latest(on=on),
                filter=Q(status=Holding.Status.ACTIVE),
                output_field=_AMOUNT,
            )
        )
        .values("total")
    )
    return Round(
        Coalesce(Subquery(per_client, output_field=_AMOUNT), Value(0, output_field=_AMOUNT)),
        2,
        output_field=DecimalField(**MONEY),
    )


def client_aum_refresh(
    *,
    client_ids: Iterable[int] | None = None,
    currencies: Iterable[str] | None = None,
    on: datetime.date | None = None,
) -> int:
    """Recompute ``aum_cny`` of the given clients (all when None); returns rows changed.

    ``currencies`` limits the refresh to clients holding one of them (an FX-rate sync).
    Only clients whose AUM actually changes are written, so ``updated_at`` moves only
    for them and incremental readers (``updated_since``) see real changes only.
    """
    on = on or timezone.localdate()
    clients: QuerySet[Client] = Client.objects.all()
    if client_ids is not None:
        client_ids = list(client_ids)
        if not client_ids:
            return 0
        clients = clients.filter(pk__in=client_ids)
    if currencies is not None:
        currencies = list(currencies)
        if not currencies:
            return 0
        clients = clients.filter(
            Exists(Holding.objects.filter(client=OuterRef("pk"), currency__in=currencies))
        )
    _warn_missing_rates(client_ids=client_ids, currencies=currencies, on=on)
    aum = client_aum_expression(on=on)
    return (
        clients.annotate(new_aum=aum)
        .exclude(aum_cny=F("new_aum"))
        .update(aum_cny=aum, updated_at=timezone.now())
    )


def _warn_missing_rates(
    *, client_ids: list[int] | None, currencies: list[str] | None, on: datetime.date
) -> None:
    # Closed holdings are included on purpose (no status filter, see above): a missing
    # rate for them is worth a warning too, and the query stays on the client index.
    holdings = Holding.objects.exclude(currency=BASE_CURRENCY)
    if client_ids is not None:
        holdings = holdings.filter(client_id__in=client_ids)
    if currencies is not None:
        holdings = holdings.filter(currency__in=currencies)
    rated = FxRate.objects.filter(currency=OuterRef("currency"), date__lte=on)
    missing = sorted(
        holdings.exclude(Exists(rated)).order_by().values_list("currency", flat=True).distinct()
    )
    if missing:
        logger.warning(
            "No FX rate on or before %s for %s: those holdings count 0 in AUM.",
            on,
            ", ".join(missing),
        )
