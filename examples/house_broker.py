"""The in-house fake broker of a (fictional) trading team, shaped the way such fakes are.

It was written for the team's own tests long before this plugin, so it speaks its own
language: its own order states (``PENDING_NEW``, ``ACKNOWLEDGED``, ``PARTIALLY_FILLED``,
``CANCELLED``, ...), its own exceptions, an execution feed read with a cursor object,
``cancel`` answering with a state instead of raising, and a ``status`` record that does not
repeat the order's instrument, side or quantity. ``house_adapter.py`` adapts it to the
plugin's Broker protocol in a few lines with ``BrokerAdapter``.

It moves on the simulated clock it is given (never the wall clock): an order is
acknowledged ``ack_delay`` steps after it arrived, a market order then fills in ``slices``
executions, one per step, at the instrument's price; a limit order fills at once when its
price is marketable and rests otherwise; a cancel completes ``cancel_delay`` steps after it
was asked for. ``script(method, error)`` makes a later call fail, as the team's tests do.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pytest_peak_dryrun import SimClock

DONE = frozenset({"FILLED", "CANCELLED", "REJECTED", "EXPIRED"})


class HouseError(Exception):
    """Base class of the house broker's errors."""


class Throttled(HouseError):
    """Too many requests: try again later."""


class GatewayTimeout(HouseError):
    """No answer in time (the request may or may not have been acted on)."""


class NoSuchOrder(HouseError):
    """No order with this reference."""


class Refused(HouseError):
    """The order (or the cancel) was refused; ``code`` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Status:
    """What ``status`` and ``working`` report: no instrument, side or quantity."""

    ref: str
    status: str
    done_qty: Decimal


@dataclass(frozen=True)
class Execution:
    exec_ref: str
    order_ref: str
    qty: Decimal
    price: Decimal


@dataclass(frozen=True)
class FeedPosition:
    """The execution feed's cursor: an opaque token, not a number."""

    token: str


@dataclass
class _HouseOrder:
    ref: str
    symbol: str
    side: str
    quantity: Decimal
    kind: str
    limit: Decimal | None
    ack_at: int
    status: str = "PENDING_NEW"
    done_qty: Decimal = Decimal(0)
    next_fill_at: int | None = None
    cancel_at: int | None = None
    slices_left: int = 0


class HouseBroker:
    def __init__(
        self,
        clock: SimClock,
        *,
        prices: dict[str, Decimal] | None = None,
        ack_delay: int = 1,
        slices: int = 2,
        cancel_delay: int = 0,
    ) -> None:
        self.clock = clock  # the simulated clock: the dry run advances it
        self.prices = dict(prices or {"DEMO-EUR": Decimal("100.00")})
        self.ack_delay, self.slices, self.cancel_delay = ack_delay, slices, cancel_delay
        self._orders: dict[str, _HouseOrder] = {}  # in arrival order
        self._by_client_ref: dict[str, str] = {}
        self._executions: list[Execution] = []
        self._scripted: list[tuple[str, HouseError]] = []  # (method, error) to raise on a later call

    # -- the house API --------------------------------------------------------------------

    def send(
        self,
        symbol: str,
        side: str,
        quantity: Decimal,
        *,
        kind: str = "MKT",
        limit: Decimal | None = None,
        client_ref: str,
    ) -> str:
        self._call("send")
        if client_ref in self._by_client_ref:
            return self._by_client_ref[client_ref]  # the house dedupes on the client reference
        if symbol not in self.prices:
            raise Refused("UNKNOWN_SYMBOL")
        if quantity <= 0:
            raise Refused("BAD_QUANTITY")
        if kind == "LMT" and (limit is None or limit <= 0):
            raise Refused("BAD_LIMIT")
        ref = f"H{len(self._orders) + 1:05d}"
        self._orders[ref] = _HouseOrder(ref, symbol, side, quantity, kind, limit, self.clock.step + self.ack_delay)
        self._by_client_ref[client_ref] = ref
        self._work()
        return ref

    def cancel(self, ref: str) -> str:
        """Answers with the order's state; a finished order is not an error here."""
        self._call("cancel")
        order = self._get(ref)
        if order.status not in DONE and order.status != "PENDING_CANCEL":
            order.status = "PENDING_CANCEL"
            order.cancel_at = self.clock.step + self.cancel_delay
            self._work()
        return order.status

    def status(self, ref: str) -> Status:
        self._call("status")
        order = self._get(ref)
        return Status(order.ref, order.status, order.done_qty)

    def working(self) -> list[Status]:
        self._call("working")
        return [Status(o.ref, o.status, o.done_qty) for o in self._orders.values() if o.status not in DONE]

    def executions(self, after: FeedPosition | None = None) -> tuple[list[Execution], FeedPosition]:
        """Executions after the ``after`` position, and the position to pass next time."""
        self._call("executions")
        start = int(after.token.removeprefix("pos-")) if after is not None else 0
        return self._executions[start:], FeedPosition(f"pos-{len(self._executions)}")

    def script(self, method: str, error: HouseError) -> None:
        """Make the next call of ``method`` raise ``error`` (the team's own fault scripting)."""
        self._scripted.append((method, error))

    # -- the venue at work --------------------------------------------------------------------

    def _call(self, method: str) -> None:
        for i, (name, error) in enumerate(self._scripted):
            if name == method:
                del self._scripted[i]
                raise error
        self._work()

    def _get(self, ref: str) -> _HouseOrder:
        if ref not in self._orders:
            raise NoSuchOrder(ref)
        return self._orders[ref]

    def _work(self) -> None:
        """Catch up on everything due up to the clock's current step."""
        now = self.clock.step
        for order in self._orders.values():
            if order.status == "PENDING_NEW" and order.ack_at <= now:
                order.status = "ACKNOWLEDGED"
                order.next_fill_at = order.ack_at
                order.slices_left = self.slices
            while order.status not in DONE:
                fill_due = order.next_fill_at is not None and order.next_fill_at <= now
                cancel_due = order.cancel_at is not None and order.cancel_at <= now
                if cancel_due and (not fill_due or order.cancel_at <= order.next_fill_at):
                    order.status = "CANCELLED"
                elif fill_due:
                    self._fill_slice(order)
                else:
                    break

    def _fill_slice(self, order: _HouseOrder) -> None:
        price = self.prices[order.symbol]
        left = order.quantity - order.done_qty
        if order.kind == "LMT":
            assert order.limit is not None
            marketable = price <= order.limit if order.side == "BUY" else price >= order.limit
            if not marketable:
                order.next_fill_at = None  # rests until canceled
                return
            qty = left
        else:
            order.slices_left -= 1
            share = (order.quantity / self.slices).quantize(Decimal("0.01"))
            qty = left if order.slices_left <= 0 else min(left, share)
        order.done_qty += qty
        self._executions.append(Execution(f"X{len(self._executions) + 1:06d}", order.ref, qty, price))
        order.next_fill_at = (order.next_fill_at or 0) + 1
        if order.done_qty >= order.quantity:
            order.status = "FILLED"
        elif order.status == "ACKNOWLEDGED":
            order.status = "PARTIALLY_FILLED"
