"""The broker contract and :class:`MockBroker`, a deterministic venue.

The mock moves on the shared :class:`~pytest_peak_dryrun.core.clock.SimClock`: whenever it
is called it first catches up on everything due up to the current step (acknowledgements,
fill slices, expiries, cancel completions, price moves), exactly like a real venue that
kept working between two calls of the adapter. Nothing in here reads the wall clock, sleeps
or touches the network; all randomness comes from one ``random.Random`` seeded from the
config.

Every fill model is limit-aware. An order trades only while it is *marketable*: a market
order always, a BUY limit while the market is at or below its limit, a SELL limit while it
is at or above. A marketable order trades at the market price, which is never worse than
its limit; a limit order that is not marketable rests until the market reaches it (only the
``price_path`` model moves the market), a cancel, or its time in force. ``immediate``,
``partial`` and ``never`` keep every instrument at its reference price: they differ in how
much of a marketable order trades when, not in where the market is.

Faults are not the venue's business: :class:`~pytest_peak_dryrun.core.faults.FaultInjector`
applies them around any broker, this one included. The venue only offers what no wrapper
can fake from outside: :meth:`MockBroker.race_cancel`, a cancel that a fill wins.

Amend/replace (:meth:`MockBroker.replace_order`) follows FIX PendingReplace: the order goes
to ``PENDING_REPLACE`` and, ``replace_latency_steps`` later, takes its new quantity and/or
limit price and goes back to working (``ACK`` / ``PARTIAL``), or is refused there if it has
filled past the new quantity meanwhile. Fills against the old terms go on while the amend is
pending, so a fill can win the race. Once amended, the limit rules above apply to the new
terms at once: a limit moved to the marketable side fills at the market, one moved away rests.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from enum import Enum
from typing import Any, Final, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .clock import SimClock
from .errors import InvalidOrderError, OrderRejectedError, UnknownOrderError
from .model import Fill, Money, Order, OrderRequest
from .orders import LEGAL_TRANSITIONS, OPEN_STATES, IllegalTransitionError, OrderState, OrderType, Side
from .vocab import BrokerOp

__all__ = [
    "Broker",
    "BrokerBehaviour",
    "BrokerOp",
    "FillModel",
    "MockBroker",
    "MockBrokerConfig",
    "ReplacingBroker",
]


@runtime_checkable
class Broker(Protocol):
    """What the orchestrator needs from a broker adapter (the mock or your own).

    ``place_order`` must be idempotent per ``idempotency_key``: a second call with the same
    key returns the same broker order id and has no second side effect, also when the first
    call timed out after the broker had accepted the order. ``list_open_orders`` returns
    orders in a deterministic order. ``iter_fills`` returns every fill after ``cursor`` and
    the cursor to pass next time.

    Optional, looked up by name: ``clock`` (the run's SimClock, if the broker runs on it),
    ``on_step(step)`` (called whenever the run's clock moves to ``step``), ``race_cancel``
    (a cancel that a fill wins, for the ``cancel_race`` fault), ``replace_order`` (amend an
    order: :class:`ReplacingBroker`; only scenarios with ``[[replaces]]`` need it, and the
    preflight refuses them for a broker without it) and ``dry_run = True`` (what a broker
    that is not a MockBroker must declare). See the README, "Bring your own broker".
    """

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str: ...

    def cancel_order(self, broker_order_id: str) -> None: ...

    def query_order(self, broker_order_id: str) -> Order: ...

    def list_open_orders(self) -> list[Order]: ...

    def iter_fills(self, cursor: int) -> tuple[int, Sequence[Fill]]: ...


@runtime_checkable
class ReplacingBroker(Broker, Protocol):
    """A :class:`Broker` that can also amend an order: the optional ``replace`` capability.

    Optional on purpose: adapters written before amend/replace existed keep working for every
    scenario without ``[[replaces]]``; a scenario with replaces fails the preflight
    (``broker_replace``) for a broker without ``replace_order``, naming the fix, instead of an
    ``AttributeError`` mid-run.

    ``replace_order`` asks the venue to change the order's quantity and/or limit price (at
    least one; the other stays). The order keeps its broker order id. Return ``None`` once the
    venue has taken the request: the order is ``PENDING_REPLACE`` until the venue applies it
    (back to ``ACK`` / ``PARTIAL`` with the new terms in ``query_order``) or refuses it (back
    with the old terms). Raise ``OrderRejectedError`` when the venue refuses it at once (the
    order has ended, a new quantity below what has filled, an order not yet acknowledged or
    being canceled) and ``InvalidOrderError`` for a request that can never be valid (nothing
    to change, a non-positive quantity or price, a limit price for a market order). Asking
    again for the same terms (the retry after a timeout) must be harmless.
    """

    def replace_order(
        self, broker_order_id: str, *, qty: Decimal | None = None, limit_price: Decimal | None = None
    ) -> None: ...


class FillModel(str, Enum):
    """How the mock fills orders once they are acknowledged.

    Under every model but ``never`` an order trades only while it is marketable, at the
    market price (never worse than its limit); a limit order that is not marketable rests.
    Only ``price_path`` moves the market: under the others a resting limit order waits for
    a cancel or its ``tif_steps``, so a marketable order's fill price stays the reference
    price and a golden file does not move with a random walk nobody asked for.
    """

    IMMEDIATE = "immediate"  # the whole quantity at the acknowledgement step, at the reference price
    PARTIAL = "partial"  # ``partial_slices`` slices, one per step from the ack step, each while marketable
    PRICE_PATH = "price_path"  # a seeded price path: resting limit orders fill, at their limit, when it crosses
    NEVER = "never"  # nothing fills: orders rest until canceled or expired


class BrokerBehaviour(BaseModel):
    """How the venue behaves: latencies, fill model, rejection rules, memory horizon."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ack_latency_steps: int = Field(default=0, ge=0, le=1_000)
    cancel_latency_steps: int = Field(default=0, ge=0, le=1_000)
    replace_latency_steps: int = Field(
        default=0, ge=0, le=1_000, description="steps from a replace request until the venue applies it"
    )
    fill_model: FillModel = FillModel.IMMEDIATE
    partial_slices: int = Field(default=2, ge=1, le=1_000)
    tick_size: Money = Field(default=Decimal("0.01"), gt=0)
    price_step_ticks: int = Field(default=5, ge=0, description="largest price move per step")
    max_order_qty: Money | None = Field(default=None, gt=0, description="venue limit; larger orders are rejected")
    retention_steps: int = Field(
        default=1_000,
        ge=1,
        description="terminal orders, their idempotency keys and fills are forgotten after this many steps",
    )


class MockBrokerConfig(BrokerBehaviour):
    """Everything a :class:`MockBroker` needs: behaviour plus instruments and seed.

    There are no ``faults``/``fault_rate`` fields any more: faults are applied around a
    broker by :class:`~pytest_peak_dryrun.core.faults.FaultInjector` (one mechanism for the
    mock and every other broker). Passing them is refused with a message saying so.
    """

    instruments: dict[str, Money] = Field(
        default_factory=lambda: {"DEMO-EUR": Decimal("100.00")},
        description="tradable symbols and their reference prices; any other symbol is rejected",
    )
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _no_faults_here(cls, data: Any) -> Any:
        if isinstance(data, dict):
            moved = sorted(key for key in ("faults", "fault_rate") if key in data)
            if moved:
                raise ValueError(
                    f"MockBrokerConfig has no {' or '.join(moved)}: faults are applied around the broker, "
                    "FaultInjector(MockBroker(config), faults=..., fault_rate=..., clock=...) "
                    "(a scenario's faults reach every dry run's broker that way)"
                )
        return data


# Scheduled venue actions.
_ACK: Final = 0
_FILL_SLICE: Final = 1
_EXPIRE: Final = 2
_CANCEL_DONE: Final = 3
_REPLACE_DONE: Final = 4

# Read on every order, so bound once here: an enum member read off its class (OrderState.NEW)
# goes through EnumType's __getattr__ hook (~0.1 µs each).
_MARKET, _LIMIT = OrderType.MARKET, OrderType.LIMIT
_BUY, _SELL = Side.BUY, Side.SELL
_NEW, _ACKED, _PARTIAL, _FILLED = OrderState.NEW, OrderState.ACK, OrderState.PARTIAL, OrderState.FILLED
_PENDING_CANCEL, _CANCELED = OrderState.PENDING_CANCEL, OrderState.CANCELED
_PENDING_REPLACE: Final = OrderState.PENDING_REPLACE
_ZERO: Final = Decimal(0)


class _VenueOrder:
    """One order as the venue works it: the request, where it stands, and its fill schedule.

    The venue's own record, not an :class:`~.orders.OrderRecord`: it needs no fill ids, cash
    or notional, and the venue builds one per order. It moves through the same transition
    table (:data:`~.orders.LEGAL_TRANSITIONS`) as every other layer.
    """

    __slots__ = (
        "broker_order_id",
        "created_step",
        "filled_qty",
        "instrument",
        "last_exec_seq",
        "limit_price",
        "order_id",
        "order_type",
        "qty",
        "replace_limit",
        "replace_qty",
        "side",
        "slices_left",
        "state",
        "terminal_step",
        "tif_steps",
        "updated_step",
    )

    def __init__(self, request: OrderRequest, order_id: str, broker_order_id: str, step: int) -> None:
        self.order_id = order_id
        self.broker_order_id = broker_order_id
        self.instrument = request.instrument
        self.side = request.side
        self.order_type = request.order_type
        self.qty = request.qty
        self.limit_price = request.limit_price
        self.tif_steps = request.tif_steps
        self.created_step = step
        self.updated_step = step
        self.state = _NEW
        self.filled_qty = _ZERO
        self.last_exec_seq = 0
        self.slices_left = 0
        self.terminal_step = -1
        # the terms of the replace in flight (while PENDING_REPLACE)
        self.replace_qty = _ZERO
        self.replace_limit: Decimal | None = None

    def move_to(self, to_state: OrderState) -> None:
        if to_state not in LEGAL_TRANSITIONS[self.state]:  # check_transition, without its call (hot path)
            raise IllegalTransitionError(self.order_id, self.state, to_state)
        self.state = to_state


class MockBroker:
    """A deterministic broker double implementing :class:`Broker`.

    It runs on ``clock`` (a fresh SimClock if none is given): the dry run moves that clock,
    and an orchestrator of your own moves it with :meth:`advance`.
    """

    def __init__(self, config: MockBrokerConfig | None = None, *, clock: SimClock | None = None) -> None:
        self.config = config or MockBrokerConfig()
        self.clock = clock or SimClock()
        self._rng = random.Random(f"peak-dryrun:broker:{self.config.seed}")
        self._orders: dict[str, _VenueOrder] = {}
        self._by_key: dict[str, str] = {}
        self._open: dict[str, None] = {}  # insertion-ordered set of open broker order ids
        self._resting: dict[str, None] = {}  # limit orders waiting for the market to reach them
        self._terminal: deque[str] = deque()
        self._due: dict[int, list[tuple[int, str]]] = {}
        self._next_id = 0
        self._processed_step = 0
        # The step the venue is at: while catching up, the earlier step being replayed, so
        # what happened then (a fill, an expiry) carries that step and not the caller's.
        self._step = 0
        self._price_step = 0
        self._prices: dict[str, Decimal] = dict(self.config.instruments)
        self._fills: deque[Fill] = deque()
        self._fill_steps: deque[int] = deque()
        self._fills_base = 0
        # Read once per order or per step: the (frozen) config's values, looked up once.
        behaviour = self.config
        self._ack_latency = behaviour.ack_latency_steps
        self._max_order_qty = behaviour.max_order_qty
        self._price_path = behaviour.fill_model is FillModel.PRICE_PATH
        model = behaviour.fill_model
        #: slices per order: the partial model's, one under the others, none under "never"
        self._slices = 0 if model is FillModel.NEVER else behaviour.partial_slices if model is FillModel.PARTIAL else 1

    # -- the Broker protocol ------------------------------------------------------------
    #
    # Each call first lets the venue catch up (:meth:`_catch_up`). The test in front of it is
    # the same one ``_catch_up`` starts with, done inline: most calls find the step replayed
    # and nothing due in it, and then skipping the call is what makes them cheap.

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        now = self.clock.step
        if now != self._processed_step or now in self._due:
            self._catch_up()
        existing = self._by_key.get(idempotency_key)
        if existing is not None:
            return existing  # idempotent: same id, no second side effect
        self._validate(request, idempotency_key)
        return self._accept(request, idempotency_key)

    def cancel_order(self, broker_order_id: str) -> None:
        self._cancel(broker_order_id, race=False)

    def race_cancel(self, broker_order_id: str) -> None:
        """Take a cancel request, but let a fill for everything left win it.

        The venue side of the ``cancel_race`` fault (the optional capability that
        :class:`~pytest_peak_dryrun.core.faults.FaultInjector` calls instead of
        ``cancel_order``): the order goes to ``PENDING_CANCEL`` and a fill for its whole
        remaining quantity arrives after the request, so it ends ``FILLED``. A request for
        an order that is already canceling or canceled is harmless; for any other terminal
        order it is too late, as with ``cancel_order``.
        """
        self._cancel(broker_order_id, race=True)

    def replace_order(
        self, broker_order_id: str, *, qty: Decimal | None = None, limit_price: Decimal | None = None
    ) -> None:
        """Amend a working order's quantity and/or limit price (:class:`ReplacingBroker`).

        Refused at once (``OrderRejectedError``, the order unchanged): an ended order
        (``too_late``), one not acknowledged yet (``not_acknowledged``), one being canceled
        (``cancel_pending``), one with another amend in flight (``replace_pending``), a new
        quantity below the filled quantity (``below_filled``) or above the venue's
        ``max_order_qty`` (``too_large``). Otherwise the order is ``PENDING_REPLACE`` and the
        amend is applied ``replace_latency_steps`` later, unless a fill has taken the order
        past the new quantity by then (refused: back to working, old terms). The same terms
        asked for again while they are pending change nothing (the retry after a timeout);
        asked for again once applied, they are applied again, which changes nothing either.
        """
        self._catch_up()
        venue = self._get(broker_order_id)
        label = f"replace {broker_order_id}"
        if qty is None and limit_price is None:
            raise InvalidOrderError(f"{label}: nothing to change (give qty and/or limit_price)")
        if qty is not None and qty <= 0:
            raise InvalidOrderError(f"{label}: quantity must be positive, got {qty}")
        if limit_price is not None:
            if venue.order_type is _MARKET:
                raise InvalidOrderError(f"{label}: a MARKET order has no limit price to replace")
            if limit_price <= 0:
                raise InvalidOrderError(f"{label}: limit_price must be positive, got {limit_price}")
        new_qty = venue.qty if qty is None else qty
        new_limit = venue.limit_price if limit_price is None else limit_price
        state = venue.state
        if state is _PENDING_REPLACE:
            if (venue.replace_qty, venue.replace_limit) == (new_qty, new_limit):
                return  # the same request again (a retry after a timeout): nothing new
            raise OrderRejectedError(f"{label}: another replace is pending", reason="replace_pending")
        if state not in OPEN_STATES:
            raise OrderRejectedError(f"{label}: too late, order is {state.value}", reason="too_late")
        if state is _NEW:
            raise OrderRejectedError(f"{label}: the order is not acknowledged yet", reason="not_acknowledged")
        if state is _PENDING_CANCEL:
            raise OrderRejectedError(f"{label}: a cancel is pending", reason="cancel_pending")
        if new_qty < venue.filled_qty:
            raise OrderRejectedError(
                f"{label}: quantity {new_qty} is below the filled quantity {venue.filled_qty}", reason="below_filled"
            )
        limit = self._max_order_qty
        if limit is not None and new_qty > limit:
            raise OrderRejectedError(f"{label}: quantity {new_qty} above venue limit {limit}", reason="too_large")
        venue.move_to(_PENDING_REPLACE)
        venue.replace_qty = new_qty
        venue.replace_limit = new_limit
        self._at(self.clock.step + self.config.replace_latency_steps, _REPLACE_DONE, broker_order_id)

    def query_order(self, broker_order_id: str) -> Order:
        now = self.clock.step
        if now != self._processed_step or now in self._due:
            self._catch_up()
        venue = self._orders.get(broker_order_id)
        if venue is None:
            raise UnknownOrderError(f"unknown broker order id {broker_order_id!r}")
        return self._document(venue)

    def list_open_orders(self) -> list[Order]:
        self._catch_up()
        return [self._document(self._orders[boid]) for boid in self._open]

    def iter_fills(self, cursor: int) -> tuple[int, list[Fill]]:
        now = self.clock.step
        if now != self._processed_step or now in self._due:
            self._catch_up()
        fills = self._fills
        end = self._fills_base + len(fills)
        if cursor >= end:
            return cursor, []
        if cursor <= self._fills_base:
            return end, list(fills)
        # The new fills are the last ``end - cursor``: read from the right end of the deque
        # (indexing a deque is cheap near its ends, and map/range run without a Python frame).
        return end, list(map(fills.__getitem__, range(cursor - end, 0)))

    # -- driving the venue without our orchestrator ------------------------------------

    def advance(self, steps: int = 1) -> int:
        """Move the venue's clock ``steps`` steps on, let everything due happen; return the step.

        For an orchestrator of your own that drives the MockBroker directly: acknowledgements,
        fill slices, expiries, cancel completions and price moves fall due as the steps
        pass. Under the plugin's orchestrator do not call it: the run moves this clock.
        """
        if steps < 0:
            raise ValueError(f"advance(steps) needs steps >= 0, got {steps}")
        for _ in range(steps):
            self.clock.advance_step()
        self._catch_up()
        return self.clock.step

    # -- introspection for tests and the reconciler ----------------------------------

    def price(self, instrument: str) -> Decimal:
        """The current price of ``instrument`` on the venue's (seeded) price path."""
        self._catch_up()
        return self._prices[instrument]

    @property
    def open_order_count(self) -> int:
        return len(self._open)

    # -- internals ----------------------------------------------------------------------

    def _validate(self, request: OrderRequest, key: str) -> None:
        if request.qty <= 0:
            raise InvalidOrderError(f"place {key}: quantity must be positive, got {request.qty}")
        if request.order_type is _LIMIT:
            if request.limit_price is None:
                raise InvalidOrderError(f"place {key}: a LIMIT order needs a limit_price")
            if request.limit_price <= 0:
                raise InvalidOrderError(f"place {key}: limit_price must be positive, got {request.limit_price}")
        if request.instrument not in self._prices:
            raise OrderRejectedError(
                f"place {key}: unknown instrument {request.instrument!r}", reason="unknown_instrument"
            )
        limit = self._max_order_qty
        if limit is not None and request.qty > limit:
            raise OrderRejectedError(
                f"place {key}: quantity {request.qty} above venue limit {limit}", reason="too_large"
            )

    def _cancel(self, broker_order_id: str, *, race: bool) -> None:
        self._catch_up()
        venue = self._get(broker_order_id)
        if venue.state is _PENDING_CANCEL or venue.state is _CANCELED:
            # A repeated cancel request is harmless, also once the first one has completed:
            # that is the retry after a cancel that timed out after the venue took it.
            return
        if venue.state not in OPEN_STATES:
            raise OrderRejectedError(
                f"cancel {broker_order_id}: too late, order is {venue.state.value}", reason="too_late"
            )
        venue.move_to(_PENDING_CANCEL)
        if race:
            # A fill for everything left arrives after the cancel request: the fill wins.
            self._fill(venue, venue.qty - venue.filled_qty, self._race_price(venue))
        else:
            self._at(self.clock.step + self.config.cancel_latency_steps, _CANCEL_DONE, broker_order_id)

    def _accept(self, request: OrderRequest, key: str) -> str:
        self._next_id += 1
        boid = "MB-%08d" % self._next_id  # noqa: UP031 - %-format: cheaper than an f-string with a format spec
        step = self.clock.step
        self._orders[boid] = _VenueOrder(request, key, boid, step)
        self._by_key[key] = boid
        self._open[boid] = None
        self._at(step + self._ack_latency, _ACK, boid)
        return boid

    def _get(self, boid: str) -> _VenueOrder:
        venue = self._orders.get(boid)
        if venue is None:
            raise UnknownOrderError(f"unknown broker order id {boid!r}")
        return venue

    @staticmethod
    def _document(venue: _VenueOrder) -> Order:
        return Order(
            order_id=venue.order_id,
            broker_order_id=venue.broker_order_id,
            instrument=venue.instrument,
            side=venue.side,
            order_type=venue.order_type,
            qty=venue.qty,
            limit_price=venue.limit_price,
            filled_qty=venue.filled_qty,
            state=venue.state,
            created_step=venue.created_step,
        )

    def _at(self, step: int, action: int, boid: str) -> None:
        due = self._due.get(step)
        if due is None:
            self._due[step] = [(action, boid)]
        else:
            due.append((action, boid))

    def _catch_up(self) -> None:
        now = self.clock.step
        if now < self._processed_step:
            return
        if now == self._processed_step and now not in self._due:
            return  # this step is already replayed and nothing new fell due in it
        advanced = now > self._processed_step
        for step in range(self._processed_step, now + 1):
            self._step = step
            if step > self._price_step and self._price_path:
                self._price_step = step
                self._move_prices()
            due = self._due.pop(step, None)
            while due:
                for action, boid in due:
                    self._run(action, boid, step)
                due = self._due.pop(step, None)
        self._processed_step = now
        if advanced:
            self._forget(now)

    def _run(self, action: int, boid: str, step: int) -> None:
        venue = self._orders.get(boid)
        if venue is None:
            return
        if action == _FILL_SLICE:
            if venue.state in OPEN_STATES and venue.slices_left > 0:
                # A market order trades at the market (the first case of _market_price, inline).
                price = self._prices[venue.instrument] if venue.order_type is _MARKET else self._market_price(venue)
                if price is None:
                    # Not marketable: what is left waits on the book until the market reaches it.
                    self._resting[boid] = None
                else:
                    self._fill_slice(venue, price)
        elif action == _ACK:
            if venue.state is _NEW:
                venue.move_to(_ACKED)
                venue.updated_step = step
                if venue.tif_steps is not None:
                    self._at(step + venue.tif_steps, _EXPIRE, boid)
                if self._slices:  # every fill model but "never": the first slice is due now
                    venue.slices_left = self._slices
                    self._run(_FILL_SLICE, boid, step)
        elif action == _EXPIRE:
            if venue.state in (_ACKED, _PARTIAL, _PENDING_CANCEL, _PENDING_REPLACE):
                self._finish(venue, OrderState.EXPIRED)
        elif action == _CANCEL_DONE and venue.state is _PENDING_CANCEL:
            self._finish(venue, _CANCELED)
        elif action == _REPLACE_DONE and venue.state is _PENDING_REPLACE:
            self._apply_replace(venue, step)

    def _apply_replace(self, venue: _VenueOrder, step: int) -> None:
        """The amend's latency is over: take the new terms (or refuse them), back to working."""
        venue.updated_step = step
        if venue.replace_qty < venue.filled_qty:
            # Fills against the old terms took the order past the new quantity meanwhile.
            venue.move_to(_PARTIAL if venue.filled_qty > 0 else _ACKED)
            return
        venue.qty = venue.replace_qty
        venue.limit_price = venue.replace_limit
        if venue.filled_qty >= venue.qty:
            self._finish(venue, _FILLED)  # amended down to what has filled: nothing left to work
            return
        venue.move_to(_PARTIAL if venue.filled_qty > 0 else _ACKED)
        boid = venue.broker_order_id
        if boid in self._resting:
            # The limit rules apply to the new terms at once: a limit moved to the marketable
            # side trades now, at the market; one still away from it rests again.
            del self._resting[boid]
            self._run(_FILL_SLICE, boid, step)

    def _fill_slice(self, venue: _VenueOrder, price: Decimal) -> None:
        """Fill the next slice at ``price``; the slice after it falls due one step later."""
        venue.slices_left -= 1
        if venue.slices_left == 0:
            self._fill(venue, venue.qty - venue.filled_qty, price)
        else:
            self._fill(venue, self._slice_qty(venue), price)
            self._at(self._step + 1, _FILL_SLICE, venue.broker_order_id)

    def _slice_qty(self, venue: _VenueOrder) -> Decimal:
        leaves = venue.qty - venue.filled_qty
        slice_qty = (venue.qty / self.config.partial_slices).quantize(self.config.tick_size)
        if slice_qty <= 0 or slice_qty >= leaves:
            return leaves
        return slice_qty

    def _market_price(self, venue: _VenueOrder) -> Decimal | None:
        """The price ``venue`` trades at now, or None while it is not marketable.

        A market order takes the market price; a limit order too, as long as that price is
        at or better than its limit (BUY: at or below, SELL: at or above), so a marketable
        limit order gets the market's price and never a worse one than its limit.
        """
        price = self._prices[venue.instrument]
        limit = venue.limit_price
        if venue.order_type is _MARKET or limit is None:
            return price
        if (venue.side is _BUY and price <= limit) or (venue.side is _SELL and price >= limit):
            return price
        return None

    def _race_price(self, venue: _VenueOrder) -> Decimal:
        """The price of the fill that wins a cancel race: the market's while the order is
        marketable, else its limit (the market reached the resting order just then)."""
        price = self._market_price(venue)
        return venue.limit_price if price is None and venue.limit_price is not None else self._prices[venue.instrument]

    def _fill(self, venue: _VenueOrder, qty: Decimal, price: Decimal) -> None:
        if qty <= 0 or venue.state not in OPEN_STATES:
            return
        venue.filled_qty += qty
        seq = venue.last_exec_seq = venue.last_exec_seq + 1
        boid = venue.broker_order_id
        if venue.filled_qty >= venue.qty:
            self._finish(venue, _FILLED)
        elif venue.state is _ACKED:
            venue.move_to(_PARTIAL)  # (a partial fill while a cancel or a replace is pending keeps that state)
        step = self._step
        self._fills.append(
            Fill(fill_id=f"{boid}-F{seq}", broker_order_id=boid, qty=qty, price=price, exec_seq=seq, step=step)
        )
        self._fill_steps.append(step)

    def _finish(self, venue: _VenueOrder, state: OrderState) -> None:
        venue.move_to(state)
        venue.updated_step = self._step
        boid = venue.broker_order_id
        self._open.pop(boid, None)
        self._resting.pop(boid, None)
        venue.terminal_step = self._step
        self._terminal.append(boid)

    def _move_prices(self) -> None:
        ticks = self.config.price_step_ticks
        tick = self.config.tick_size
        for symbol in sorted(self._prices):
            move = self._rng.randint(-ticks, ticks)
            self._prices[symbol] = max(tick, self._prices[symbol] + move * tick)
        for boid in list(self._resting):
            self._cross(boid)

    def _cross(self, boid: str) -> None:
        """Fill a resting limit order the moving price has reached, at its limit.

        The path moved through the limit on its way (a step is a coarse sample of a
        continuous market), and the resting order was the one quoting that level: it trades
        at its own price, not at the far side of a gap, a price it never quoted.
        """
        venue = self._orders[boid]
        if venue.limit_price is not None and self._market_price(venue) is not None:
            del self._resting[boid]
            self._fill_slice(venue, venue.limit_price)

    def _forget(self, now: int) -> None:
        """Drop what a real venue would have archived: bounded memory for long runs."""
        horizon = now - self.config.retention_steps
        terminal = self._terminal
        while terminal:
            venue = self._orders.get(terminal[0])
            if venue is not None and venue.terminal_step > horizon:
                break
            boid = terminal.popleft()
            if venue is not None:
                del self._orders[boid]
                self._by_key.pop(venue.order_id, None)
        fill_steps = self._fill_steps
        while fill_steps and fill_steps[0] <= horizon:
            fill_steps.popleft()
            self._fills.popleft()
            self._fills_base += 1
