"""MockBroker: a deterministic venue on the simulated clock (faults: see test_faults.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from pytest_peak_dryrun.core.broker import Broker, FillModel, MockBroker, MockBrokerConfig
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.errors import InvalidOrderError, OrderRejectedError, UnknownOrderError
from pytest_peak_dryrun.core.model import Fill, OrderRequest
from pytest_peak_dryrun.core.orders import OrderState, OrderType, Side

D = Decimal
S = OrderState


def make(**config: Any) -> tuple[MockBroker, SimClock]:
    clock = SimClock()
    broker = MockBroker(MockBrokerConfig(**config), clock=clock)
    clock.advance_step()  # the dry run acts from step 1 on
    return broker, clock


def market(qty: str = "4", side: Side = Side.BUY, instrument: str = "DEMO-EUR", **kw: Any) -> OrderRequest:
    return OrderRequest(instrument=instrument, side=side, qty=D(qty), **kw)


def limit(qty: str, price: str, side: Side = Side.BUY, **kw: Any) -> OrderRequest:
    return OrderRequest(
        instrument="DEMO-EUR", side=side, qty=D(qty), order_type=OrderType.LIMIT, limit_price=D(price), **kw
    )


def fills_of(broker: MockBroker) -> list[tuple[str, str, str, int, int]]:
    _, fills = broker.iter_fills(0)
    return [(f.fill_id, str(f.qty), str(f.price), f.exec_seq, f.step) for f in fills]


# -- the contract -----------------------------------------------------------------------


def test_mock_broker_satisfies_the_broker_protocol() -> None:
    assert isinstance(MockBroker(), Broker)
    assert not isinstance(object(), Broker)


def test_default_config() -> None:
    broker = MockBroker()
    assert broker.config.instruments == {"DEMO-EUR": D("100.00")}
    assert broker.config.fill_model is FillModel.IMMEDIATE
    assert broker.clock.step == 0
    assert broker.open_order_count == 0
    assert broker.iter_fills(0) == (0, [])


# -- acknowledgement and fills --------------------------------------------------------


def test_market_order_acks_and_fills_at_once() -> None:
    broker, _clock = make()
    boid = broker.place_order(market("4"), idempotency_key="O-1")
    assert boid == "MB-00000001"
    order = broker.query_order(boid)
    assert order.state is S.FILLED
    assert order.order_id == "O-1"
    assert order.broker_order_id == boid
    assert order.filled_qty == D("4")
    assert order.created_step == 1
    assert fills_of(broker) == [("MB-00000001-F1", "4", "100.00", 1, 1)]
    assert broker.list_open_orders() == []
    assert broker.place_order(market("1"), idempotency_key="O-2") == "MB-00000002"


def test_same_calls_give_the_same_results() -> None:
    def script() -> list[Any]:
        broker, clock = make(fill_model="partial", partial_slices=3, ack_latency_steps=1)
        out: list[Any] = [broker.place_order(market("10"), idempotency_key="a")]
        for _ in range(5):
            clock.advance_step()
            out.append(broker.query_order("MB-00000001").to_dict())
        out.append(fills_of(broker))
        return out

    assert script() == script()


def test_ack_latency_in_steps() -> None:
    broker, clock = make(ack_latency_steps=2, fill_model="never")
    boid = broker.place_order(market(), idempotency_key="O-1")
    seen = []
    for _ in range(4):
        seen.append((clock.step, broker.query_order(boid).state))
        clock.advance_step()
    assert seen == [(1, S.NEW), (2, S.NEW), (3, S.ACK), (4, S.ACK)]


def test_ack_latency_then_immediate_fill() -> None:
    broker, clock = make(ack_latency_steps=1)
    boid = broker.place_order(market("2"), idempotency_key="O-1")
    assert broker.query_order(boid).state is S.NEW
    assert broker.iter_fills(0) == (0, [])
    clock.advance_step()
    assert broker.query_order(boid).state is S.FILLED
    assert fills_of(broker) == [("MB-00000001-F1", "2", "100.00", 1, 2)]


def test_partial_fill_model_fills_in_k_slices_one_per_step() -> None:
    broker, clock = make(fill_model="partial", partial_slices=3)
    boid = broker.place_order(market("10"), idempotency_key="O-1")
    seen = []
    for _ in range(4):
        order = broker.query_order(boid)
        seen.append((clock.step, order.state, str(order.filled_qty)))
        clock.advance_step()
    assert seen == [
        (1, S.PARTIAL, "3.33"),
        (2, S.PARTIAL, "6.66"),
        (3, S.FILLED, "10.00"),
        (4, S.FILLED, "10.00"),
    ]
    assert fills_of(broker) == [
        ("MB-00000001-F1", "3.33", "100.00", 1, 1),
        ("MB-00000001-F2", "3.33", "100.00", 2, 2),
        ("MB-00000001-F3", "3.34", "100.00", 3, 3),
    ]


def test_partial_slices_catch_up_when_nobody_asked() -> None:
    broker, clock = make(fill_model="partial", partial_slices=2)
    broker.place_order(market("4"), idempotency_key="O-1")
    for _ in range(5):
        clock.advance_step()
    assert fills_of(broker) == [
        ("MB-00000001-F1", "2.00", "100.00", 1, 1),
        ("MB-00000001-F2", "2.00", "100.00", 2, 2),
    ]


def test_never_fill_model_rests_until_canceled() -> None:
    broker, clock = make(fill_model="never")
    boid = broker.place_order(market("4"), idempotency_key="O-1")
    for _ in range(10):
        clock.advance_step()
    order = broker.query_order(boid)
    assert order.state is S.ACK
    assert order.filled_qty == 0
    assert broker.iter_fills(0) == (0, [])
    assert broker.open_order_count == 1


def test_price_path_is_seeded() -> None:
    def path(seed: int) -> list[str]:
        broker, clock = make(fill_model="price_path", seed=seed)
        out = []
        for _ in range(8):
            out.append(str(broker.price("DEMO-EUR")))
            clock.advance_step()
        return out

    assert path(0) == ["99.99", "99.97", "99.99", "99.95", "99.92", "99.94", "99.96", "99.91"]
    assert path(0) == path(0)
    assert path(1) != path(0)


def test_price_path_fills_a_resting_limit_order_when_the_price_crosses() -> None:
    broker, clock = make(fill_model="price_path", seed=0)
    boid = broker.place_order(limit("2", "99.95"), idempotency_key="O-1")
    seen = []
    for _ in range(5):
        seen.append((clock.step, str(broker.price("DEMO-EUR")), broker.query_order(boid).state))
        clock.advance_step()
    # 99.99, 99.97, 99.99 stay above the limit; 99.95 crosses at step 4
    assert seen == [
        (1, "99.99", S.ACK),
        (2, "99.97", S.ACK),
        (3, "99.99", S.ACK),
        (4, "99.95", S.FILLED),
        (5, "99.92", S.FILLED),
    ]
    assert fills_of(broker) == [("MB-00000001-F1", "2", "99.95", 1, 4)]


def test_price_path_sell_limit_and_market_orders() -> None:
    broker, clock = make(fill_model="price_path", seed=0)
    sell = broker.place_order(limit("1", "100.05", side=Side.SELL), idempotency_key="S-1")
    mkt = broker.place_order(market("3"), idempotency_key="M-1")
    # a market order fills at once at the current price of the path
    assert broker.query_order(mkt).state is S.FILLED
    assert fills_of(broker) == [("MB-00000002-F1", "3", "99.99", 1, 1)]
    for _ in range(10):
        clock.advance_step()
    # seed 0 drifts down: the sell limit above never crosses
    assert broker.query_order(sell).state is S.ACK
    # a marketable limit fills at once, at the market price (better than its limit)
    crossing = broker.place_order(limit("1", "101.00"), idempotency_key="B-1")
    assert broker.query_order(crossing).state is S.FILLED
    assert broker.price("DEMO-EUR") == D("99.97")
    assert fills_of(broker)[-1] == ("MB-00000003-F1", "1", "99.97", 1, 11)


# -- limit-aware fills: the same rules under every fill model ---------------------------

FILLING_MODELS = ["immediate", "partial", "price_path"]
ALL_MODELS = [*FILLING_MODELS, "never"]
REFERENCE = D("100.00")
# How far off the market a limit must sit to stay unmarketable for a test's few steps: one
# tick where the market stands still; the price path moves up to five ticks a step.
AWAY = {"immediate": D("0.01"), "partial": D("0.01"), "never": D("0.01"), "price_path": D("50.00")}
SIDES = [Side.BUY, Side.SELL]
SIDE_IDS = [side.value for side in SIDES]


def watch(broker: MockBroker, clock: SimClock, steps: int) -> dict[int, Decimal]:
    """Advance ``steps`` steps; the market price at the current step and at each one after."""
    seen = {clock.step: broker.price("DEMO-EUR")}
    for _ in range(steps):
        clock.advance_step()
        seen[clock.step] = broker.price("DEMO-EUR")
    return seen


def off_market(side: Side, away: Decimal, *, marketable: bool) -> str:
    """A limit ``away`` from the reference price, on the marketable side or the other."""
    below = (side is Side.BUY) is not marketable
    return str(REFERENCE - away if below else REFERENCE + away)


@pytest.mark.parametrize("side", SIDES, ids=SIDE_IDS)
@pytest.mark.parametrize("model", ALL_MODELS)
def test_a_non_marketable_limit_order_rests_under_every_fill_model(model: str, side: Side) -> None:
    broker, clock = make(fill_model=model, partial_slices=3)
    price = off_market(side, AWAY[model], marketable=False)
    boid = broker.place_order(limit("3", price, side=side), idempotency_key="L-1")
    seen = watch(broker, clock, 10)
    order = broker.query_order(boid)
    assert (order.state, order.filled_qty) == (S.ACK, D(0))
    assert [o.broker_order_id for o in broker.list_open_orders()] == [boid]
    assert broker.iter_fills(0) == (0, [])
    if model != "price_path":
        assert set(seen.values()) == {REFERENCE}, "only the price_path model moves the market"


@pytest.mark.parametrize("side", SIDES, ids=SIDE_IDS)
@pytest.mark.parametrize("model", FILLING_MODELS)
def test_a_marketable_limit_order_fills_at_the_market_never_at_its_limit(model: str, side: Side) -> None:
    broker, clock = make(fill_model=model, partial_slices=3)
    price = D(off_market(side, D("1.00"), marketable=True))  # 100 ticks: no path reaches it here
    boid = broker.place_order(limit("3", str(price), side=side), idempotency_key="L-1")
    seen = watch(broker, clock, 4)
    order = broker.query_order(boid)
    assert (order.state, order.filled_qty) == (S.FILLED, D("3"))
    _, fills = broker.iter_fills(0)
    assert len(fills) == (3 if model == "partial" else 1)
    for fill in fills:
        assert fill.price == seen[fill.step], "a marketable order trades at the market price"
        assert (fill.price < price) if side is Side.BUY else (fill.price > price), "better than the limit"


@pytest.mark.parametrize("side", SIDES, ids=SIDE_IDS)
@pytest.mark.parametrize("model", FILLING_MODELS)
def test_a_limit_at_the_market_price_is_marketable(model: str, side: Side) -> None:
    broker, clock = make(fill_model=model, partial_slices=2)
    market_now = broker.price("DEMO-EUR")  # 99.99 on the seed-0 path, 100.00 elsewhere
    boid = broker.place_order(limit("2", str(market_now), side=side), idempotency_key="L-1")
    clock.advance_step()
    assert broker.query_order(boid).state is S.FILLED
    assert {f[2] for f in fills_of(broker)} == {str(market_now)}


@pytest.mark.parametrize("side", SIDES, ids=SIDE_IDS)
@pytest.mark.parametrize("model", FILLING_MODELS)
def test_a_market_order_fills_at_the_market(model: str, side: Side) -> None:
    broker, clock = make(fill_model=model, partial_slices=3)
    boid = broker.place_order(market("6", side=side), idempotency_key="M-1")
    seen = watch(broker, clock, 4)
    assert broker.query_order(boid).state is S.FILLED
    _, fills = broker.iter_fills(0)
    assert sum(f.qty for f in fills) == D("6")
    assert [f.price for f in fills] == [seen[f.step] for f in fills]


@pytest.mark.parametrize(
    "request_",
    [market("2"), limit("2", "101.00"), limit("2", "99.00", side=Side.SELL)],
    ids=["market", "marketable-buy-limit", "marketable-sell-limit"],
)
def test_never_fills_nothing_not_even_a_marketable_order(request_: OrderRequest) -> None:
    broker, clock = make(fill_model="never")
    boid = broker.place_order(request_, idempotency_key="O-1")
    watch(broker, clock, 10)
    assert broker.query_order(boid).state is S.ACK
    assert broker.iter_fills(0) == (0, [])


@pytest.mark.parametrize("side", SIDES, ids=SIDE_IDS)
def test_partial_slices_of_a_marketable_limit_each_trade_at_the_market(side: Side) -> None:
    broker, clock = make(fill_model="partial", partial_slices=4)
    boid = broker.place_order(limit("8", "100.00", side=side), idempotency_key="L-1")  # at the market
    states = [broker.query_order(boid).state]
    for _ in range(4):
        clock.advance_step()
        states.append(broker.query_order(boid).state)
    assert states == [S.PARTIAL, S.PARTIAL, S.PARTIAL, S.FILLED, S.FILLED]
    assert fills_of(broker) == [
        ("MB-00000001-F1", "2.00", "100.00", 1, 1),
        ("MB-00000001-F2", "2.00", "100.00", 2, 2),
        ("MB-00000001-F3", "2.00", "100.00", 3, 3),
        ("MB-00000001-F4", "2.00", "100.00", 4, 4),
    ]


@pytest.mark.parametrize(
    ("seed", "side", "price", "crossed_at", "market_then"),
    [(0, Side.BUY, "99.96", 4, "99.95"), (1, Side.SELL, "100.01", 3, "100.02")],
    ids=["buy-gap-down", "sell-gap-up"],
)
def test_a_resting_limit_the_path_gaps_through_fills_at_its_limit(
    seed: int, side: Side, price: str, crossed_at: int, market_then: str
) -> None:
    broker, clock = make(fill_model="price_path", seed=seed)
    boid = broker.place_order(limit("2", price, side=side), idempotency_key="L-1")
    states = []
    while clock.step < crossed_at:
        states.append(broker.query_order(boid).state)
        clock.advance_step()
    assert states == [S.ACK] * (crossed_at - 1)  # resting: the path had not reached it
    assert broker.query_order(boid).state is S.FILLED
    assert str(broker.price("DEMO-EUR")) == market_then  # the path moved through the limit...
    assert fills_of(broker) == [("MB-00000001-F1", "2", price, 1, crossed_at)]  # ...which it trades at


@pytest.mark.parametrize("model", ALL_MODELS)
def test_a_resting_limit_order_expires_by_its_time_in_force_under_every_model(model: str) -> None:
    broker, clock = make(fill_model=model)
    price = off_market(Side.BUY, AWAY[model], marketable=False)
    boid = broker.place_order(limit("2", price, tif_steps=3), idempotency_key="L-1")
    states = [broker.query_order(boid).state]
    for _ in range(4):
        clock.advance_step()
        states.append(broker.query_order(boid).state)
    assert states == [S.ACK, S.ACK, S.ACK, S.EXPIRED, S.EXPIRED]
    assert broker.list_open_orders() == []
    assert broker.iter_fills(0) == (0, [])


def test_a_resting_limit_order_expires_under_the_default_model() -> None:
    broker, clock = make(ack_latency_steps=1)
    assert broker.config.fill_model is FillModel.IMMEDIATE
    boid = broker.place_order(limit("5", "50.00", tif_steps=2), idempotency_key="L-1")
    marketable = broker.place_order(limit("5", "100.00", tif_steps=2), idempotency_key="L-2")
    clock.advance_step()  # both acknowledged at step 2; only the marketable one fills
    assert [broker.query_order(b).state for b in (boid, marketable)] == [S.ACK, S.FILLED]
    clock.advance_step()
    assert broker.query_order(boid).state is S.ACK
    clock.advance_step()  # step 4 = ack + tif_steps
    assert broker.query_order(boid).state is S.EXPIRED
    assert fills_of(broker) == [("MB-00000002-F1", "5", "100.00", 1, 2)]


@pytest.mark.parametrize("model", ALL_MODELS)
def test_a_resting_limit_order_cancels_under_every_model(model: str) -> None:
    broker, clock = make(fill_model=model, cancel_latency_steps=1)
    price = off_market(Side.SELL, AWAY[model], marketable=False)
    boid = broker.place_order(limit("2", price, side=Side.SELL), idempotency_key="L-1")
    watch(broker, clock, 3)
    broker.cancel_order(boid)
    assert broker.query_order(boid).state is S.PENDING_CANCEL
    clock.advance_step()
    assert broker.query_order(boid).state is S.CANCELED
    assert broker.list_open_orders() == []
    assert broker.iter_fills(0) == (0, [])


def test_the_fill_that_wins_a_cancel_race_respects_the_limit() -> None:
    # resting: the market reached the order just as its cancel arrived, at the limit
    broker, _ = make()
    resting = broker.place_order(limit("3", "99.00"), idempotency_key="L-1")
    broker.race_cancel(resting)
    # marketable: the rest of a partly filled order trades at the market, not at its limit
    sliced, _ = make(fill_model="partial", partial_slices=4)
    marketable = sliced.place_order(limit("8", "101.00"), idempotency_key="L-2")
    sliced.race_cancel(marketable)
    assert broker.query_order(resting).state is sliced.query_order(marketable).state is S.FILLED
    assert fills_of(broker) == [("MB-00000001-F1", "3", "99.00", 1, 1)]
    assert fills_of(sliced) == [("MB-00000001-F1", "2.00", "100.00", 1, 1), ("MB-00000001-F2", "6.00", "100.00", 2, 1)]


@pytest.mark.parametrize("model", ALL_MODELS)
def test_limit_aware_fills_depend_on_the_seed_only(model: str) -> None:
    def script(seed: int) -> tuple[list[tuple[str, str, str, int, int]], list[OrderState]]:
        broker, clock = make(fill_model=model, partial_slices=3, ack_latency_steps=1, seed=seed)
        ids = [
            broker.place_order(market("3"), idempotency_key="M-1"),
            broker.place_order(limit("4", "100.02"), idempotency_key="B-1"),
            broker.place_order(limit("2", "99.95"), idempotency_key="B-2"),
            broker.place_order(limit("2", "100.03", side=Side.SELL, tif_steps=6), idempotency_key="S-1"),
            broker.place_order(limit("1", "99.90"), idempotency_key="B-3"),
        ]
        for step in range(20):
            clock.advance_step()
            if step == 10:
                broker.cancel_order(ids[-1])
        return fills_of(broker), [broker.query_order(boid).state for boid in ids]

    assert script(0) == script(0)
    if model == "price_path":
        assert script(0) != script(1)  # the seed draws the path, and the path decides the fills
    else:
        assert script(0) == script(1)  # a market that stands still draws nothing from the seed


# -- rejection rules --------------------------------------------------------------------


@pytest.mark.parametrize("qty", ["0", "-1"])
def test_non_positive_quantity_is_invalid(qty: str) -> None:
    broker, _ = make()
    with pytest.raises(InvalidOrderError, match=f"place O-1: quantity must be positive, got {qty}"):
        broker.place_order(market(qty), idempotency_key="O-1")
    assert broker.open_order_count == 0
    # nothing was accepted: the next order gets the first broker id
    assert broker.place_order(market("1"), idempotency_key="O-2") == "MB-00000001"


def test_limit_without_price_is_invalid() -> None:
    broker, _ = make()
    request = OrderRequest(instrument="DEMO-EUR", side=Side.BUY, qty=D(1), order_type=OrderType.LIMIT)
    with pytest.raises(InvalidOrderError, match="place O-1: a LIMIT order needs a limit_price"):
        broker.place_order(request, idempotency_key="O-1")


def test_limit_with_non_positive_price_is_invalid() -> None:
    broker, _ = make()
    with pytest.raises(InvalidOrderError, match="limit_price must be positive, got 0"):
        broker.place_order(limit("1", "0"), idempotency_key="O-1")


def test_unknown_instrument_is_rejected() -> None:
    broker, _ = make()
    with pytest.raises(OrderRejectedError, match="place O-1: unknown instrument 'OTHER-USD'") as info:
        broker.place_order(market(instrument="OTHER-USD"), idempotency_key="O-1")
    assert info.value.reason == "unknown_instrument"
    assert broker.open_order_count == 0


def test_venue_max_order_qty() -> None:
    broker, _ = make(max_order_qty=D("5"))
    with pytest.raises(OrderRejectedError, match="quantity 6 above venue limit 5") as info:
        broker.place_order(market("6"), idempotency_key="O-1")
    assert info.value.reason == "too_large"
    assert broker.place_order(market("5"), idempotency_key="O-2") == "MB-00000001"


def test_unknown_order_id() -> None:
    broker, _ = make()
    with pytest.raises(UnknownOrderError, match="unknown broker order id 'MB-99'"):
        broker.query_order("MB-99")
    with pytest.raises(UnknownOrderError):
        broker.cancel_order("MB-99")


# -- expiry and cancel ------------------------------------------------------------------


def test_expiry_by_tif_steps() -> None:
    broker, clock = make(fill_model="never")
    boid = broker.place_order(market("2", tif_steps=3), idempotency_key="O-1")
    seen = []
    for _ in range(5):
        seen.append((clock.step, broker.query_order(boid).state))
        clock.advance_step()
    assert seen == [(1, S.ACK), (2, S.ACK), (3, S.ACK), (4, S.EXPIRED), (5, S.EXPIRED)]
    assert broker.list_open_orders() == []


def test_expiry_counts_from_the_ack() -> None:
    broker, clock = make(fill_model="never", ack_latency_steps=2)
    boid = broker.place_order(market("2", tif_steps=1), idempotency_key="O-1")
    states = []
    for _ in range(5):
        states.append(broker.query_order(boid).state)
        clock.advance_step()
    assert states == [S.NEW, S.NEW, S.ACK, S.EXPIRED, S.EXPIRED]


def test_partially_filled_order_expires_with_its_fills() -> None:
    broker, clock = make(fill_model="partial", partial_slices=4)
    boid = broker.place_order(market("8", tif_steps=2), idempotency_key="O-1")
    clock.advance_step()
    clock.advance_step()
    order = broker.query_order(boid)
    assert order.state is S.EXPIRED
    assert order.filled_qty == D("4.00")
    assert [f[0] for f in fills_of(broker)] == ["MB-00000001-F1", "MB-00000001-F2"]


def test_cancel_goes_through_pending_cancel() -> None:
    broker, clock = make(fill_model="never", cancel_latency_steps=1)
    boid = broker.place_order(market("2"), idempotency_key="O-1")
    clock.advance_step()
    assert broker.cancel_order(boid) is None
    assert broker.query_order(boid).state is S.PENDING_CANCEL
    assert [o.state for o in broker.list_open_orders()] == [S.PENDING_CANCEL]
    broker.cancel_order(boid)  # a repeated cancel request is harmless
    clock.advance_step()
    assert broker.query_order(boid).state is S.CANCELED
    assert broker.list_open_orders() == []
    assert broker.open_order_count == 0


def test_cancel_without_latency_completes_at_the_next_call() -> None:
    broker, _ = make(fill_model="never")
    boid = broker.place_order(market("2"), idempotency_key="O-1")
    broker.cancel_order(boid)
    assert broker.query_order(boid).state is S.CANCELED


def test_cancel_of_a_terminal_order_is_too_late() -> None:
    broker, _ = make()
    boid = broker.place_order(market("2"), idempotency_key="O-1")
    assert broker.query_order(boid).state is S.FILLED
    with pytest.raises(OrderRejectedError, match="cancel MB-00000001: too late, order is FILLED") as info:
        broker.cancel_order(boid)
    assert info.value.reason == "too_late"


def test_list_open_orders_in_placement_order() -> None:
    broker, clock = make(fill_model="never")
    keys = ["z", "a", "m", "b"]
    ids = [broker.place_order(market("1"), idempotency_key=k) for k in keys]
    clock.advance_step()
    broker.cancel_order(ids[1])
    open_orders = broker.list_open_orders()
    assert [o.broker_order_id for o in open_orders] == [ids[0], ids[2], ids[3]]
    assert [o.order_id for o in open_orders] == ["z", "m", "b"]
    assert broker.list_open_orders() == open_orders


# -- the fill stream ---------------------------------------------------------------------


def test_iter_fills_cursor_semantics() -> None:
    broker, clock = make(fill_model="partial", partial_slices=2)
    broker.place_order(market("4"), idempotency_key="O-1")
    broker.place_order(market("2"), idempotency_key="O-2")
    cursor, fills = broker.iter_fills(0)
    assert cursor == 2
    assert [f.fill_id for f in fills] == ["MB-00000001-F1", "MB-00000002-F1"]
    assert all(isinstance(f, Fill) for f in fills)
    assert broker.iter_fills(cursor) == (2, [])
    clock.advance_step()
    cursor2, fills2 = broker.iter_fills(cursor)
    assert cursor2 == 4
    assert [f.fill_id for f in fills2] == ["MB-00000001-F2", "MB-00000002-F2"]
    # re-reading from an older cursor replays from there
    cursor3, fills3 = broker.iter_fills(1)
    assert cursor3 == 4
    assert [f.fill_id for f in fills3] == ["MB-00000002-F1", "MB-00000001-F2", "MB-00000002-F2"]
    # a cursor beyond the end stays where it is
    assert broker.iter_fills(10) == (10, [])


def test_retention_forgets_old_orders_fills_and_keys() -> None:
    broker, clock = make(retention_steps=2)
    boid = broker.place_order(market("1"), idempotency_key="O-1")
    assert broker.query_order(boid).state is S.FILLED
    clock.advance_step()
    broker.place_order(market("2"), idempotency_key="O-2")
    assert broker.iter_fills(0)[0] == 2
    clock.advance_step()  # step 3: what ended at step 1 is two steps old and forgotten
    with pytest.raises(UnknownOrderError):
        broker.query_order(boid)
    assert broker.query_order("MB-00000002").state is S.FILLED
    cursor, fills = broker.iter_fills(0)
    assert cursor == 2
    assert [f.fill_id for f in fills] == ["MB-00000002-F1"]
    assert broker.iter_fills(2) == (2, [])
    # the forgotten idempotency key no longer maps to the old order
    assert broker.place_order(market("1"), idempotency_key="O-1") == "MB-00000003"
    clock.advance_step()  # step 4: the step-2 order goes too
    with pytest.raises(UnknownOrderError):
        broker.query_order("MB-00000002")
    assert broker.iter_fills(0) == (3, [broker.iter_fills(2)[1][0]])


# -- the venue side of a cancel race ------------------------------------------------------


def test_race_cancel_makes_the_fill_win() -> None:
    broker, clock = make(fill_model="never")
    boid = broker.place_order(market("5"), idempotency_key="O-1")
    clock.advance_step()
    broker.race_cancel(boid)  # taken, but a fill for everything left beats it
    order = broker.query_order(boid)
    assert order.state is S.FILLED
    assert order.filled_qty == D("5")
    assert fills_of(broker) == [("MB-00000001-F1", "5", "100.00", 1, 2)]
    clock.advance_step()
    assert broker.query_order(boid).state is S.FILLED  # no late CANCELED


def test_race_cancel_on_a_partially_filled_order_fills_the_rest() -> None:
    broker, _ = make(fill_model="partial", partial_slices=4)
    boid = broker.place_order(market("8"), idempotency_key="O-1")
    assert broker.query_order(boid).filled_qty == D("2.00")
    broker.race_cancel(boid)
    assert broker.query_order(boid).state is S.FILLED
    assert [(f[0], f[1]) for f in fills_of(broker)] == [("MB-00000001-F1", "2.00"), ("MB-00000001-F2", "6.00")]


def test_race_cancel_is_too_late_for_a_filled_order_and_harmless_for_a_canceled_one() -> None:
    broker, _ = make(fill_model="never")
    filled = MockBroker(MockBrokerConfig(), clock=broker.clock)
    done = filled.place_order(market("1"), idempotency_key="F-1")
    with pytest.raises(OrderRejectedError, match="too late, order is FILLED"):
        filled.race_cancel(done)
    boid = broker.place_order(market("2"), idempotency_key="O-1")
    broker.cancel_order(boid)
    broker.race_cancel(boid)  # already canceling: nothing more happens
    assert broker.query_order(boid).state is S.CANCELED
    assert broker.iter_fills(0) == (0, [])


def test_a_retried_cancel_after_the_cancel_completed_is_harmless() -> None:
    # cancel latency 0: the cancel completes before the retry of a timed-out cancel arrives
    broker, _ = make(fill_model="never")
    boid = broker.place_order(market(), idempotency_key="O-1")
    broker.cancel_order(boid)
    assert broker.query_order(boid).state is S.CANCELED
    broker.cancel_order(boid)  # the retry: not "too late"
    assert broker.query_order(boid).state is S.CANCELED


# -- driving the venue without the plugin's orchestrator ----------------------------------


def test_advance_moves_the_venue_and_everything_due_happens() -> None:
    broker = MockBroker(MockBrokerConfig(ack_latency_steps=2, fill_model="partial", partial_slices=2))
    assert broker.clock.step == 0
    boid = broker.place_order(market("4"), idempotency_key="O-1")  # step 0: before the first step
    assert broker.query_order(boid).state is S.NEW
    assert broker.advance() == 1
    assert broker.query_order(boid).state is S.NEW
    assert broker.advance(2) == 3  # acked at step 2, slices at 2 and 3
    order = broker.query_order(boid)
    assert (order.state, order.filled_qty) == (S.FILLED, D("4.00"))
    assert [(f[0], f[4]) for f in fills_of(broker)] == [("MB-00000001-F1", 2), ("MB-00000001-F2", 3)]
    assert broker.advance(0) == 3
    with pytest.raises(ValueError, match="advance\\(steps\\) needs steps >= 0, got -1"):
        broker.advance(-1)


# -- faults moved out of the venue --------------------------------------------------------


@pytest.mark.parametrize("field", ["faults", "fault_rate"])
def test_mock_broker_config_refuses_faults_and_names_the_injector(field: str) -> None:
    value: Any = [] if field == "faults" else {"rate": 0.1}
    with pytest.raises(ValidationError) as info:
        MockBrokerConfig(**{field: value})
    message = str(info.value)
    assert f"MockBrokerConfig has no {field}: faults are applied around the broker" in message
    assert "FaultInjector(MockBroker(config), faults=..., fault_rate=..., clock=...)" in message


def test_mock_broker_has_no_fault_machinery_left() -> None:
    broker = MockBroker()
    assert not hasattr(broker, "emit")
    assert not hasattr(broker.config, "faults")
