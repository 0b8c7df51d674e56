"""The local order book: our own view of every order, positions and cash.

Every state change goes through :meth:`OrderBook.transition`, which checks the legal
transition table and emits one ``order_transition`` event, so the event stream and the book
can never disagree. Terminal orders are forgotten after ``retention_steps`` (their counts
stay), which keeps a million-step run in constant memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal

from .events import Event, OrderTransitionEvent
from .orders import TERMINAL_STATES, OrderRecord, OrderState, Side

__all__ = ["OrderBook"]

EmitFn = Callable[[Event], object]
_BUY = Side.BUY  # bound once: an enum member read off its class costs a __getattr__ hook per read
_ZERO = Decimal(0)


class OrderBook:
    def __init__(self, *, emit: EmitFn, starting_cash: Decimal, retention_steps: int = 1_000) -> None:
        self._emit = emit
        self.retention_steps = retention_steps
        self.orders: dict[str, OrderRecord] = {}
        #: broker order id -> the order (the fill stream names orders by the broker's id)
        self.by_broker_id: dict[str, OrderRecord] = {}
        self.open: dict[str, None] = {}  # insertion-ordered set of open order ids
        self.state_counts: dict[OrderState, int] = dict.fromkeys(OrderState, 0)
        self.placed = 0
        self.positions: dict[str, Decimal] = {}
        self.cash = starting_cash
        self.filled_qty_total = Decimal(0)
        self._terminal: deque[tuple[int, str]] = deque()
        self._next = 0

    def next_order_id(self) -> str:
        self._next += 1
        return "O-%06d" % self._next  # noqa: UP031 - %-format: cheaper than an f-string with a format spec

    def add(self, rec: OrderRecord) -> None:
        self.orders[rec.order_id] = rec
        self.open[rec.order_id] = None
        self.state_counts[rec.state] += 1
        self.placed += 1

    def bind(self, rec: OrderRecord, broker_order_id: str) -> None:
        rec.broker_order_id = broker_order_id
        self.by_broker_id[broker_order_id] = rec

    def get_by_broker_id(self, broker_order_id: str) -> OrderRecord | None:
        return self.by_broker_id.get(broker_order_id)

    def transition(self, rec: OrderRecord, to_state: OrderState, step: int) -> None:
        """Move ``rec`` to ``to_state`` (raises IllegalTransitionError) and emit the event."""
        from_state = rec.move_to(to_state)
        rec.updated_step = step
        counts = self.state_counts
        counts[from_state] -= 1
        counts[to_state] += 1
        if to_state in TERMINAL_STATES:
            self.open.pop(rec.order_id, None)
            self._terminal.append((step, rec.order_id))
        self._emit(OrderTransitionEvent(order_id=rec.order_id, from_state=from_state, to_state=to_state))

    def apply_fill(self, rec: OrderRecord, qty: Decimal, price: Decimal) -> None:
        rec.filled_qty += qty
        rec.filled_notional += qty * price
        signed = qty if rec.side is _BUY else -qty
        self.positions[rec.instrument] = self.positions.get(rec.instrument, _ZERO) + signed
        self.cash -= signed * price
        self.filled_qty_total += qty

    def exposure(self, instrument: str) -> Decimal:
        """Signed position plus the signed leaves of open orders in ``instrument``."""
        total = self.positions.get(instrument, Decimal(0))
        for order_id in self.open:
            rec = self.orders[order_id]
            if rec.instrument == instrument:
                total += rec.leaves_qty if rec.side is Side.BUY else -rec.leaves_qty
        return total

    def reserved_cash(self, prices: dict[str, Decimal]) -> Decimal:
        """What open buy orders would cost at their limit (or reference) price."""
        total = Decimal(0)
        for order_id in self.open:
            rec = self.orders[order_id]
            if rec.side is Side.BUY:
                total += rec.leaves_qty * (rec.limit_price or prices.get(rec.instrument, Decimal(0)))
        return total

    def open_orders(self) -> list[OrderRecord]:
        """The open orders, oldest first (a list: the caller may change the book while it walks them)."""
        return list(map(self.orders.__getitem__, self.open))

    def forget_old(self, now: int) -> None:
        horizon = now - self.retention_steps
        while self._terminal and self._terminal[0][0] <= horizon:
            _, order_id = self._terminal.popleft()
            rec = self.orders.pop(order_id, None)
            if rec is not None and rec.broker_order_id is not None:
                self.by_broker_id.pop(rec.broker_order_id, None)
