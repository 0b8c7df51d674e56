"""A bring-your-own broker adapter, the way a trading team would write one.

Real adapters translate between the team's order model and a venue's API. This one wraps
the plugin's MockBroker as its "paper venue" and adds what adapters usually add: its own
client-side checks and a call log. It declares ``dry_run = True``, which the orchestrator's
preflight requires of any broker that is not a MockBroker.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pytest_peak_dryrun import Fill, InvalidOrderError, MockBroker, Order, OrderRequest


class PaperVenueAdapter:
    dry_run = True  # never a live venue: preflight refuses brokers that do not say so

    def __init__(self, venue: MockBroker, *, lot_size: Decimal = Decimal("0.25")) -> None:
        self.venue = venue
        self.clock = venue.clock  # the run adopts the venue's simulated clock
        self.lot_size = lot_size
        self.calls: list[str] = []

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        self.calls.append("place")
        if request.qty > 0 and request.qty % self.lot_size:
            raise InvalidOrderError(f"{idempotency_key}: {request.qty} is not a multiple of the lot {self.lot_size}")
        return self.venue.place_order(request, idempotency_key=idempotency_key)

    def cancel_order(self, broker_order_id: str) -> None:
        self.calls.append("cancel")
        self.venue.cancel_order(broker_order_id)

    def race_cancel(self, broker_order_id: str) -> None:
        # Optional: lets the scenario's cancel_race fault through to the paper venue
        # (without it the fault is skipped, and the run says so).
        self.calls.append("cancel")
        self.venue.race_cancel(broker_order_id)

    def query_order(self, broker_order_id: str) -> Order:
        self.calls.append("query")
        return self.venue.query_order(broker_order_id)

    def list_open_orders(self) -> list[Order]:
        return self.venue.list_open_orders()

    def iter_fills(self, cursor: int) -> tuple[int, Sequence[Fill]]:
        return self.venue.iter_fills(cursor)
