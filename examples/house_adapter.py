"""The house broker (``house_broker.py``) behind the plugin's Broker protocol, with the kit.

``BrokerAdapter`` does the translating: states through ``state_map``, the house's
exceptions through ``error_map`` (so throttling is retried and refusals are rejections),
cancel answers through ``cancel_map``, the feed's cursor objects behind int positions, and
an order table for what ``status`` does not repeat. It declares ``dry_run = True`` and runs
on the house broker's clock.
"""

from __future__ import annotations

from house_broker import Execution, FeedPosition, GatewayTimeout, NoSuchOrder, Refused, Status, Throttled

from pytest_peak_dryrun import (
    BrokerAdapter,
    BrokerTimeoutError,
    OrderRejectedError,
    OrderRequest,
    OrderState,
    RateLimitError,
    UnknownOrderError,
)


class HouseAdapter(BrokerAdapter):
    state_map = {
        "PENDING_NEW": OrderState.NEW,
        "ACKNOWLEDGED": OrderState.ACK,
        "PARTIALLY_FILLED": OrderState.PARTIAL,
        "FILLED": OrderState.FILLED,
        "PENDING_CANCEL": OrderState.PENDING_CANCEL,
        "CANCELLED": OrderState.CANCELED,
        "REJECTED": OrderState.REJECTED,
        "EXPIRED": OrderState.EXPIRED,
    }
    error_map = {
        Throttled: RateLimitError,
        GatewayTimeout: BrokerTimeoutError,
        NoSuchOrder: UnknownOrderError,
        Refused: lambda exc: OrderRejectedError(f"refused: {exc.code}", reason=exc.code.lower()),
    }
    cancel_map = dict.fromkeys(("FILLED", "REJECTED", "EXPIRED"), OrderRejectedError)  # answered: too late
    order_fields = {"broker_order_id": "ref", "state": "status", "filled_qty": "done_qty"}
    fill_fields = {"fill_id": "exec_ref", "broker_order_id": "order_ref", "qty": "qty", "price": "price"}

    def venue_place(self, request: OrderRequest, key: str) -> str:
        kind = "LMT" if request.order_type == "LIMIT" else "MKT"
        return self.venue.send(
            request.instrument, request.side.value, request.qty, kind=kind, limit=request.limit_price, client_ref=key
        )

    def venue_cancel(self, venue_order_id: str) -> str:
        return self.venue.cancel(venue_order_id)

    def venue_query(self, venue_order_id: str) -> Status:
        return self.venue.status(venue_order_id)

    def venue_open_orders(self) -> list[Status]:
        return self.venue.working()

    def venue_fills(self, cursor: FeedPosition | None) -> tuple[FeedPosition, list[Execution]]:
        executions, position = self.venue.executions(after=cursor)
        return position, executions
