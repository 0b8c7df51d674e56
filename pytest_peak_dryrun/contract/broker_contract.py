"""The broker contract: what the orchestrator relies on, as tests any adapter can run.

Subclass :class:`BrokerContract` in a test module (its name must start with ``Test``) and
provide the ``contract_broker`` fixture. Every test drives the adapter through the
:class:`~pytest_peak_dryrun.Broker` protocol only and moves it a step on the way a dry run
does (the shared simulated clock advances, then the broker's ``on_step(step)`` if it has
one), so it holds for adapters with acknowledgement or fill latency (up to ``MAX_STEPS``
steps), whichever of the two documented ways their venue follows the run's clock.

Besides the protocol's shape it checks that fills are sane (issue 11: a broker filling at
price 0 used to pass): every price positive and within ``PRICE_BAND`` of the instrument's
reference price, an order's fills never above its quantity, and ``filled_qty`` in queries
agreeing with the fills.

Amend/replace is optional (:class:`~pytest_peak_dryrun.ReplacingBroker`): the ``replace``
tests run for a broker that has ``replace_order`` and are skipped, with the reason, for one
that has not.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import pytest

from ..core.boundary import replace_problem, unwrap_broker
from ..core.broker import Broker, FillModel, MockBroker, MockBrokerConfig
from ..core.clock import SimClock, check_broker_clock
from ..core.errors import PermanentBrokerError, UnknownOrderError
from ..core.model import Fill, Order, OrderRequest
from ..core.orders import TERMINAL_STATES, OrderState, OrderType, Side

__all__ = ["BrokerContract"]


class BrokerContract:
    """Contract tests for a :class:`~pytest_peak_dryrun.Broker` (see the module docstring)."""

    #: Steps an adapter may take to acknowledge, fill or cancel an order.
    MAX_STEPS: ClassVar[int] = 10
    INSTRUMENT: ClassVar[str] = "DEMO-EUR"
    #: A fill price must lie within this share of the instrument's reference price (±50%).
    PRICE_BAND: ClassVar[Decimal] = Decimal("0.5")

    @pytest.fixture
    def contract_broker_config(self) -> MockBrokerConfig:
        """The venue the contract expects: one instrument, market orders fill at once, limit
        orders far from the price rest (the price-path fill model), no faults."""
        return MockBrokerConfig(instruments={self.INSTRUMENT: Decimal("100.00")}, fill_model=FillModel.PRICE_PATH)

    @pytest.fixture
    def contract_broker(self, sim_clock: SimClock, contract_broker_config: MockBrokerConfig) -> Broker:
        """Override this fixture with your adapter (the default is the MockBroker)."""
        return MockBroker(contract_broker_config, clock=sim_clock)

    # -- helpers -------------------------------------------------------------------------

    def market(self, qty: str = "5", side: Side = Side.BUY) -> OrderRequest:
        return OrderRequest(instrument=self.INSTRUMENT, side=side, qty=Decimal(qty))

    def resting(self, qty: str) -> OrderRequest:
        """A buy limit far below the price: it stays open until canceled."""
        return OrderRequest(
            instrument=self.INSTRUMENT,
            side=Side.BUY,
            qty=Decimal(qty),
            order_type=OrderType.LIMIT,
            limit_price=Decimal("1.00"),
        )

    def advance(self, broker: Broker, clock: SimClock) -> int:
        """One step on, as the orchestrator moves a run: the clock advances, then the broker's
        ``on_step(step)`` if it has one. Advancing only the clock would leave a venue that
        follows the run by ``on_step`` (the documented alternative to sharing the clock)
        standing still, and a correct adapter would fail as "still NEW"."""
        step = clock.advance_step()
        on_step = getattr(broker, "on_step", None)
        if callable(on_step):
            on_step(step)
        return step

    def wait_for(self, broker: Broker, clock: SimClock, boid: str, states: frozenset[OrderState]) -> Order:
        order = broker.query_order(boid)
        for _ in range(self.MAX_STEPS):
            if order.state in states:
                return order
            self.advance(broker, clock)
            order = broker.query_order(boid)
        assert order.state in states, f"{boid} still {order.state.value} after {self.MAX_STEPS} steps"
        return order

    def all_fills(self, broker: Broker, cursor: int = 0) -> tuple[int, list[Fill]]:
        cursor, fills = broker.iter_fills(cursor)
        return cursor, list(fills)

    def fills_by_order(self, fills: list[Fill]) -> dict[str, Decimal]:
        """Filled quantity per broker order id, each fill id counted once."""
        seen: dict[str, Fill] = {}
        for fill in fills:
            seen.setdefault(fill.fill_id, fill)
        totals: dict[str, Decimal] = {}
        for fill in seen.values():
            totals[fill.broker_order_id] = totals.get(fill.broker_order_id, Decimal(0)) + fill.qty
        return totals

    # -- the contract ----------------------------------------------------------------------

    def test_satisfies_the_protocol_and_is_dry_run(self, contract_broker: Any) -> None:
        assert isinstance(contract_broker, Broker)
        assert isinstance(contract_broker, MockBroker) or getattr(contract_broker, "dry_run", False) is True, (
            "a dry-run broker is a MockBroker or declares dry_run = True"
        )

    def test_moves_with_the_run_clock(self, contract_broker: Broker, sim_clock: SimClock) -> None:
        # The preflight's broker_clock check, with its words: a broker that neither runs on the
        # run's clock nor follows it by on_step would stand still in a dry run (and pass the
        # other tests here only if it needs no step to acknowledge, fill or cancel).
        ok, detail = check_broker_clock(contract_broker, sim_clock)
        assert ok, f"broker_clock: {detail}"

    def test_place_returns_an_id_that_query_knows(self, contract_broker: Broker) -> None:
        boid = contract_broker.place_order(self.market("3"), idempotency_key="contract-1")
        assert isinstance(boid, str)
        assert boid
        order = contract_broker.query_order(boid)
        assert order.broker_order_id == boid
        assert (order.instrument, order.side, order.qty) == (self.INSTRUMENT, Side.BUY, Decimal("3"))

    def test_same_idempotency_key_same_order_no_second_side_effect(
        self, contract_broker: Broker, sim_clock: SimClock
    ) -> None:
        first = contract_broker.place_order(self.market("4"), idempotency_key="contract-idem")
        second = contract_broker.place_order(self.market("4"), idempotency_key="contract-idem")
        assert first == second
        self.wait_for(contract_broker, sim_clock, first, frozenset({OrderState.FILLED}))
        _, fills = self.all_fills(contract_broker)
        assert sum(f.qty for f in fills if f.broker_order_id == first) == Decimal("4")

    def test_market_order_fills_completely_once(self, contract_broker: Broker, sim_clock: SimClock) -> None:
        boid = contract_broker.place_order(self.market("7"), idempotency_key="contract-fill")
        order = self.wait_for(contract_broker, sim_clock, boid, frozenset({OrderState.FILLED}))
        assert order.filled_qty == Decimal("7")
        cursor, fills = self.all_fills(contract_broker)
        mine = [f for f in fills if f.broker_order_id == boid]
        assert sum(f.qty for f in mine) == Decimal("7")
        assert len({f.fill_id for f in mine}) == len(mine), "fill ids must be unique"
        again_cursor, again = self.all_fills(contract_broker, cursor)
        assert again == [], "reading from the returned cursor gives nothing new"
        assert again_cursor == cursor

    def test_list_open_orders_is_deterministic(self, contract_broker: Broker) -> None:
        request = self.resting("1")
        ids = [contract_broker.place_order(request, idempotency_key=f"contract-open-{i}") for i in range(3)]
        first = [o.broker_order_id for o in contract_broker.list_open_orders()]
        second = [o.broker_order_id for o in contract_broker.list_open_orders()]
        assert first == second
        assert [i for i in first if i in ids] == ids, "open orders are listed in placement order"

    def test_cancel_ends_in_a_terminal_state(self, contract_broker: Broker, sim_clock: SimClock) -> None:
        request = self.resting("2")
        boid = contract_broker.place_order(request, idempotency_key="contract-cancel")
        contract_broker.cancel_order(boid)
        order = self.wait_for(contract_broker, sim_clock, boid, frozenset(TERMINAL_STATES))
        assert order.state in (OrderState.CANCELED, OrderState.FILLED)
        assert boid not in [o.broker_order_id for o in contract_broker.list_open_orders()]

    def test_unknown_order_ids_are_permanent_errors(self, contract_broker: Broker) -> None:
        with pytest.raises(UnknownOrderError):
            contract_broker.query_order("no-such-order")
        with pytest.raises(UnknownOrderError):
            contract_broker.cancel_order("no-such-order")

    def test_invalid_requests_are_refused_permanently(self, contract_broker: Broker) -> None:
        with pytest.raises(PermanentBrokerError):
            contract_broker.place_order(self.market("0"), idempotency_key="contract-zero")
        no_price = OrderRequest(
            instrument=self.INSTRUMENT, side=Side.SELL, qty=Decimal("1"), order_type=OrderType.LIMIT
        )
        with pytest.raises(PermanentBrokerError):
            contract_broker.place_order(no_price, idempotency_key="contract-no-price")
        unknown = OrderRequest(instrument="NOT-LISTED", side=Side.BUY, qty=Decimal("1"))
        with pytest.raises(PermanentBrokerError):
            contract_broker.place_order(unknown, idempotency_key="contract-unknown")

    def test_fills_are_priced_near_the_reference_price(
        self, contract_broker: Broker, sim_clock: SimClock, contract_broker_config: MockBrokerConfig
    ) -> None:
        reference = contract_broker_config.instruments[self.INSTRUMENT]
        band = reference * self.PRICE_BAND
        ids = [
            contract_broker.place_order(self.market("3"), idempotency_key="contract-price-buy"),
            contract_broker.place_order(self.market("2", Side.SELL), idempotency_key="contract-price-sell"),
        ]
        for boid in ids:
            self.wait_for(contract_broker, sim_clock, boid, frozenset({OrderState.FILLED}))
        _, fills = self.all_fills(contract_broker)
        mine = [f for f in fills if f.broker_order_id in ids]
        assert mine, "filled orders must have fills"
        for fill in mine:
            assert fill.qty > 0, f"fill {fill.fill_id} has quantity {fill.qty}; expected a positive quantity"
            sane = fill.price > 0 and abs(fill.price - reference) <= band
            assert sane, (
                f"fill {fill.fill_id} at {fill.price}: expected a positive price within "
                f"±{self.PRICE_BAND:%} of the reference price {reference}"
            )

    def test_fills_never_exceed_the_order_and_agree_with_queries(
        self, contract_broker: Broker, sim_clock: SimClock
    ) -> None:
        orders = {
            contract_broker.place_order(self.market("7"), idempotency_key="contract-qty-market"): Decimal("7"),
            contract_broker.place_order(self.resting("2"), idempotency_key="contract-qty-resting"): Decimal("2"),
        }
        for _ in range(self.MAX_STEPS):
            queried = {boid: contract_broker.query_order(boid) for boid in orders}
            _, fills = self.all_fills(contract_broker)
            filled = self.fills_by_order(fills)
            for boid, qty in orders.items():
                total = filled.get(boid, Decimal(0))
                assert total <= qty, f"the fills of {boid} add up to {total}, above its quantity {qty}"
                assert queried[boid].filled_qty == total, (
                    f"query_order({boid!r}) says filled_qty {queried[boid].filled_qty}; its fills add up to {total}"
                )
            self.advance(contract_broker, sim_clock)

    # -- replace (optional) -----------------------------------------------------------------

    def replacing(self, broker: Broker) -> Any:
        """``broker`` if it can replace; else the test is skipped, saying why."""
        own = unwrap_broker(broker)
        if getattr(own, "replace_order", None) is None:
            pytest.skip(
                f"replace is optional and {type(own).__name__} has no replace_order: implement it "
                "(BrokerAdapter: venue_replace) and these tests check it"
            )
        problem = replace_problem(broker)
        # offered but not callable as the protocol says: a contract failure, not a skip
        assert problem is None, problem
        return broker

    def test_replace_qty_down_takes_the_new_quantity(self, contract_broker: Broker, sim_clock: SimClock) -> None:
        broker = self.replacing(contract_broker)
        boid = broker.place_order(self.resting("5"), idempotency_key="contract-replace-qty")
        self.wait_for(broker, sim_clock, boid, frozenset({OrderState.ACK}))
        assert broker.replace_order(boid, qty=Decimal("3")) is None
        order = self.wait_for(broker, sim_clock, boid, frozenset({OrderState.ACK}))
        assert (order.qty, order.limit_price, order.filled_qty) == (Decimal("3"), Decimal("1.00"), Decimal(0))

    def test_replace_limit_price_takes_the_new_limit(self, contract_broker: Broker, sim_clock: SimClock) -> None:
        broker = self.replacing(contract_broker)
        boid = broker.place_order(self.resting("2"), idempotency_key="contract-replace-limit")
        self.wait_for(broker, sim_clock, boid, frozenset({OrderState.ACK}))
        broker.replace_order(boid, limit_price=Decimal("2.00"))
        order = self.wait_for(broker, sim_clock, boid, frozenset({OrderState.ACK}))
        assert (order.qty, order.limit_price) == (Decimal("2"), Decimal("2.00"))

    def test_replace_below_the_filled_quantity_or_of_a_filled_order_is_refused(
        self, contract_broker: Broker, sim_clock: SimClock
    ) -> None:
        broker = self.replacing(contract_broker)
        marketable = OrderRequest(
            instrument=self.INSTRUMENT,
            side=Side.BUY,
            qty=Decimal("6"),
            order_type=OrderType.LIMIT,
            limit_price=Decimal("1.00"),
        )
        boid = broker.place_order(marketable, idempotency_key="contract-replace-below")
        self.wait_for(broker, sim_clock, boid, frozenset({OrderState.ACK}))
        # the limit moves to the market: it trades; then half of what has filled is too little
        broker.replace_order(boid, limit_price=Decimal("150.00"))
        order = self.wait_for(broker, sim_clock, boid, frozenset({OrderState.FILLED, OrderState.PARTIAL}))
        assert order.filled_qty > 0
        if order.state is OrderState.FILLED:
            with pytest.raises(PermanentBrokerError):
                broker.replace_order(boid, qty=order.filled_qty / 2)
            return
        with pytest.raises(PermanentBrokerError):
            broker.replace_order(boid, qty=order.filled_qty / 2)
        assert broker.query_order(boid).qty == Decimal("6")

    def test_replace_of_an_ended_order_is_refused(self, contract_broker: Broker, sim_clock: SimClock) -> None:
        broker = self.replacing(contract_broker)
        boid = broker.place_order(self.resting("2"), idempotency_key="contract-replace-ended")
        broker.cancel_order(boid)
        self.wait_for(broker, sim_clock, boid, frozenset(TERMINAL_STATES))
        with pytest.raises(PermanentBrokerError):
            broker.replace_order(boid, qty=Decimal("1"))
        assert broker.query_order(boid).qty == Decimal("2")
