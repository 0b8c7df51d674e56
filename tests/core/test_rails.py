"""Safety rails: every rail trips, stops the session and is counted; pre-trade rails block."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest
from pydantic import ValidationError

from pytest_peak_dryrun.core.broker import MockBroker
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.dryrun import DryRunResult, run_scenario
from pytest_peak_dryrun.core.model import OrderRequest
from pytest_peak_dryrun.core.orchestrator import DryRunConfig, SessionState
from pytest_peak_dryrun.core.orders import Side
from pytest_peak_dryrun.core.rails import Rail, RailLimits, SafetyRails
from pytest_peak_dryrun.core.scenario import Scenario

D = Decimal


class SpyBroker(MockBroker):
    """A MockBroker that remembers every place request it saw."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.placed: list[tuple[str, str]] = []

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        self.placed.append((idempotency_key, str(request.qty)))
        return super().place_order(request, idempotency_key=idempotency_key)


def order(step: int, qty: str, side: str = "BUY", **kw: Any) -> dict[str, Any]:
    return {"step": step, "instrument": "DEMO-EUR", "side": side, "qty": qty, **kw}


def run(**fields: Any) -> tuple[DryRunResult, SpyBroker]:
    scenario = Scenario.model_validate({"name": "rails", "steps": 6, **fields})
    broker = SpyBroker(scenario.broker_config(), clock=SimClock())
    return run_scenario(scenario, broker=broker), broker


def assert_tripped(result: DryRunResult, rail: Rail, step: int) -> None:
    assert result.state is SessionState.ERROR_REQUIRES_OPERATOR
    assert result.metrics.value("safety_rail_trips_total", rail=rail.value) == 1
    assert result.metrics.total("safety_rail_trips_total") == 1
    assert result.report["rail_trips"] == [{"rail": rail.value, "step": step}]
    assert result.report["final_state"] == "ERROR_REQUIRES_OPERATOR"
    assert result.report["steps"]["run"] == step
    assert result.health.status.value == "failed"
    assert result.count("rail_trip", rail=rail.value) == 1
    assert result.metrics.value("orchestrator_state", state="ERROR_REQUIRES_OPERATOR") == 1


def test_max_order_qty_blocks_before_the_broker() -> None:
    result, broker = run(rails={"max_order_qty": "5"}, orders=[order(1, "5"), order(2, "6")])
    assert_tripped(result, Rail.MAX_ORDER_QTY, 2)
    assert broker.placed == [("O-000001", "5")]  # O-000002 never reached the broker
    (trip,) = result.status.rail_trips
    assert trip.detail == "quantity 6 above limit 5"
    assert result.report["orders"]["placed"] == 1
    assert result.metrics.value("orders_place_total", outcome="ok") == 1


def test_max_notional_blocks_before_the_broker() -> None:
    result, broker = run(rails={"max_notional": "500"}, orders=[order(1, "6")])
    assert_tripped(result, Rail.MAX_NOTIONAL, 1)
    assert broker.placed == []
    assert result.status.rail_trips[0].detail == "notional 600.00 above limit 500"
    assert result.report["orders"]["placed"] == 0


def test_max_notional_uses_the_limit_price() -> None:
    limit = {"order_type": "LIMIT", "limit_price": "40"}
    result, broker = run(rails={"max_notional": "500"}, orders=[order(1, "10", **limit), order(2, "13", **limit)])
    assert_tripped(result, Rail.MAX_NOTIONAL, 2)
    assert broker.placed == [("O-000001", "10")]
    assert result.status.rail_trips[0].detail == "notional 520 above limit 500"


def test_max_open_orders_blocks_before_the_broker() -> None:
    result, broker = run(
        broker={"fill_model": "never"},
        rails={"max_open_orders": 2},
        orders=[order(1, "1"), order(2, "1"), order(3, "1")],
    )
    assert_tripped(result, Rail.MAX_OPEN_ORDERS, 3)
    assert [key for key, _ in broker.placed] == ["O-000001", "O-000002"]
    assert result.status.rail_trips[0].detail == "3 open orders above limit 2"
    # the wind-down canceled the two working orders
    assert result.report["orders"]["by_state"] == {"CANCELED": 2}


def test_max_position_counts_fills_and_open_orders() -> None:
    result, broker = run(rails={"max_position": "15"}, orders=[order(1, "10"), order(2, "10")])
    assert_tripped(result, Rail.MAX_POSITION, 2)
    assert broker.placed == [("O-000001", "10")]
    assert result.status.rail_trips[0].detail == "position 20 beyond limit 15"
    assert result.report["positions"] == {"DEMO-EUR": "10"}


def test_max_position_is_absolute() -> None:
    result, _broker = run(rails={"max_position": "15"}, orders=[order(1, "10", "SELL"), order(2, "6", "SELL")])
    assert_tripped(result, Rail.MAX_POSITION, 2)
    assert result.status.rail_trips[0].detail == "position -16 beyond limit 15"


def test_negative_balance_blocks_before_the_broker() -> None:
    result, broker = run(starting_cash="500", orders=[order(1, "4"), order(2, "2")])
    assert_tripped(result, Rail.NEGATIVE_BALANCE, 2)
    assert broker.placed == [("O-000001", "4")]
    assert result.status.rail_trips[0].detail == ("buying 200.00 with 100.00 available would leave a negative balance")
    assert result.report["cash"] == "100.00"


def test_negative_balance_can_be_allowed() -> None:
    result, _broker = run(starting_cash="500", rails={"allow_negative_balance": True}, orders=[order(1, "10")])
    assert result.state is SessionState.STOPPED
    assert result.report["cash"] == "-500.00"


def test_max_consecutive_rejects_is_a_tripwire_after_the_broker() -> None:
    result, broker = run(
        rails={"max_consecutive_rejects": 3},
        orders=[order(1, "0"), order(2, "0"), order(3, "0"), order(4, "1")],
    )
    assert_tripped(result, Rail.MAX_CONSECUTIVE_REJECTS, 3)
    # rejects are the broker's answers, so these orders did reach it
    assert [key for key, _ in broker.placed] == ["O-000001", "O-000002", "O-000003"]
    assert result.metrics.value("orders_place_total", outcome="rejected") == 3
    assert result.status.rail_trips[0].detail == "3 rejects in a row (limit 3)"


def test_an_accepted_order_resets_the_reject_streak() -> None:
    result, _ = run(
        rails={"max_consecutive_rejects": 2},
        orders=[order(1, "0"), order(2, "1"), order(3, "0"), order(4, "1")],
    )
    assert result.state is SessionState.STOPPED
    assert result.metrics.total("safety_rail_trips_total") == 0


def test_max_retries_per_step() -> None:
    result, broker = run(
        rails={"max_retries_per_step": 2},
        retry={"max_attempts": 5, "base_backoff_ms": 10},
        faults=[{"step": 2, "op": "place", "kind": "rate_limit", "times": 4}],
        orders=[order(2, "1")],
    )
    assert_tripped(result, Rail.MAX_RETRIES_PER_STEP, 2)
    assert result.metrics.value("retry_attempts_total", op="place", reason="rate_limit") == 4
    assert result.status.rail_trips[0].detail == "more than 2 retries in step 2"
    # the four rate limits were raised at the boundary, before the call: one place reached the venue
    assert len(broker.placed) == 1


def test_retries_in_different_steps_do_not_add_up() -> None:
    result, _ = run(
        rails={"max_retries_per_step": 2},
        faults=[
            {"step": 1, "op": "place", "kind": "rate_limit", "times": 2},
            {"step": 2, "op": "place", "kind": "rate_limit", "times": 2},
        ],
        orders=[order(1, "1"), order(2, "1")],
    )
    assert result.state is SessionState.STOPPED
    assert result.metrics.value("retry_attempts_total", op="place", reason="rate_limit") == 4


def test_duplicate_fill_rail() -> None:
    result, _ = run(faults=[{"step": 1, "op": "fills", "kind": "duplicate_fill"}], orders=[order(1, "1")])
    assert_tripped(result, Rail.DUPLICATE_FILL, 1)
    assert result.metrics.value("reconcile_mismatches_total", kind="duplicate_fill") == 1
    assert result.status.rail_trips[0].detail == "duplicate fill number 1 (tolerated 0)"
    # the duplicate was not applied
    assert result.report["orders"]["filled_qty"] == "1"


def test_kill_switch() -> None:
    result, broker = run(kill_switch_at=3, orders=[order(1, "1"), order(3, "1"), order(4, "1")])
    assert_tripped(result, Rail.KILL_SWITCH, 3)
    assert broker.placed == [("O-000001", "1")]  # nothing is placed in the step the switch is pulled
    assert result.status.rail_trips[0].detail == "kill switch pulled at step 3"


def test_session_state_reason_names_the_rail() -> None:
    result, _ = run(kill_switch_at=1)
    states = [e.payload.to_dict() for e in result.events if e.kind == "session_state"]
    assert states[-2:] == [
        {"from_state": "DRYRUN_ACTIVE", "to_state": "STOPPING", "reason": "safety rail tripped: kill_switch"},
        {
            "from_state": "STOPPING",
            "to_state": "ERROR_REQUIRES_OPERATOR",
            "reason": "safety rail tripped: kill_switch",
        },
    ]


# -- SafetyRails on its own --------------------------------------------------------------------


def make_rails(**limits: Any) -> tuple[SafetyRails, list[tuple[str, dict[str, Any]]]]:
    emitted: list[tuple[str, dict[str, Any]]] = []
    rails = SafetyRails(
        RailLimits(**limits), emit=lambda event: emitted.append((event.KIND, msgspec.to_builtins(event)))
    )
    return rails, emitted


def pre_trade(rails: SafetyRails, **overrides: Any) -> bool:
    args: dict[str, Any] = {
        "order_id": "O-1",
        "side": Side.BUY,
        "qty": D("1"),
        "price": D("10"),
        "open_orders": 0,
        "exposure": D("0"),
        "available_cash": D("1000"),
        **overrides,
    }
    return rails.pre_trade(**args)


def test_pre_trade_passes_inside_the_limits() -> None:
    rails, emitted = make_rails(max_order_qty=D(5), max_notional=D(50), max_open_orders=2, max_position=D(5))
    assert pre_trade(rails, qty=D(5), open_orders=1, exposure=D(0)) is True
    assert not rails.tripped
    assert emitted == []


def test_the_first_failing_rail_is_the_one_reported() -> None:
    rails, emitted = make_rails(max_order_qty=D(5), max_notional=D(10))
    rails.begin_step(7)
    assert pre_trade(rails, qty=D(6), price=D(100)) is False
    assert [(t.rail, t.step) for t in rails.trips] == [(Rail.MAX_ORDER_QTY, 7)]
    assert emitted == [
        ("rail_trip", {"rail": "max_order_qty", "detail": "quantity 6 above limit 5", "order_id": "O-1"})
    ]


def test_sells_never_trip_negative_balance() -> None:
    rails, _ = make_rails()
    assert pre_trade(rails, side=Side.SELL, qty=D(1000), available_cash=D(0)) is True
    assert pre_trade(rails, side=Side.BUY, qty=D(1), price=D(10), available_cash=D(10)) is True
    assert pre_trade(rails, side=Side.BUY, qty=D(1), price=D("10.01"), available_cash=D(10)) is False


def test_retry_rail_trips_once_per_step() -> None:
    rails, _ = make_rails(max_retries_per_step=1)
    rails.begin_step(1)
    for _ in range(5):
        rails.on_retry()
    assert [t.rail for t in rails.trips] == [Rail.MAX_RETRIES_PER_STEP]
    rails.begin_step(2)
    rails.on_retry()
    assert len(rails.trips) == 1


def test_duplicates_tolerated_up_to_the_limit() -> None:
    rails, _ = make_rails(max_duplicate_fills=2)
    rails.on_duplicate_fill("O-1")
    rails.on_duplicate_fill("O-1")
    assert not rails.tripped
    rails.on_duplicate_fill("O-2")
    assert [(t.rail, t.detail) for t in rails.trips] == [(Rail.DUPLICATE_FILL, "duplicate fill number 3 (tolerated 2)")]


def test_rails_that_are_switched_off() -> None:
    rails, _ = make_rails(max_consecutive_rejects=None, max_retries_per_step=None, max_duplicate_fills=None)
    for _ in range(100):
        rails.on_place_result(rejected=True)
        rails.on_retry()
        rails.on_duplicate_fill("O-1")
    assert not rails.tripped


def test_illegal_transition_and_kill() -> None:
    rails, emitted = make_rails()
    rails.on_illegal_transition("O-9", "illegal order transition for O-9: FILLED -> ACK")
    rails.kill()
    assert [t.rail for t in rails.trips] == [Rail.ILLEGAL_TRANSITION, Rail.KILL_SWITCH]
    assert emitted[1] == ("rail_trip", {"rail": "kill_switch", "detail": "kill switch pulled"})


def test_rail_names_and_limit_validation() -> None:
    assert [r.value for r in Rail] == [
        "instrument_not_allowed",
        "max_order_qty",
        "max_notional",
        "max_open_orders",
        "max_position",
        "negative_balance",
        "max_consecutive_rejects",
        "max_retries_per_step",
        "duplicate_fill",
        "illegal_transition",
        "kill_switch",
    ]
    with pytest.raises(ValidationError):
        RailLimits(max_order_qty=D(0))
    with pytest.raises(ValidationError):
        RailLimits(max_open_orders=0)


def test_an_instrument_outside_the_allowlist_never_reaches_the_broker() -> None:
    foreign = {"step": 2, "instrument": "NOT-ALLOWED", "side": "BUY", "qty": "1"}
    result, broker = run(orders=[order(1, "1"), foreign])
    assert_tripped(result, Rail.INSTRUMENT_NOT_ALLOWED, 2)
    assert broker.placed == [("O-000001", "1")]
    assert result.status.rail_trips[0].detail == "instrument 'NOT-ALLOWED' is not on the allowlist"


def test_the_configured_allowlist_is_the_one_enforced() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "rails",
            "steps": 4,
            "instruments": {"DEMO-EUR": "100", "DEMO-USD": "50"},
            "orders": [{"step": 1, "instrument": "DEMO-USD", "side": "BUY", "qty": "1"}],
        }
    )
    config = DryRunConfig(instrument_allowlist=("DEMO-EUR", "DEMO-USD"))
    assert run_scenario(scenario, config=config).state is SessionState.STOPPED


@pytest.mark.parametrize(
    ("limits", "order_limits"),
    [
        ({}, False),
        ({"allow_negative_balance": True, "max_consecutive_rejects": None, "max_duplicate_fills": None}, False),
        ({"max_order_qty": "5"}, True),
        ({"max_notional": "500"}, True),
        ({"max_open_orders": 3}, True),
        ({"max_position": "10"}, True),
    ],
)
def test_order_limits_says_whether_a_per_order_limit_is_set(limits: dict[str, Any], order_limits: bool) -> None:
    assert SafetyRails(RailLimits.model_validate(limits), emit=lambda event: None).order_limits is order_limits


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
@pytest.mark.parametrize("qty", ["0.01", "7", "1000000"])
@pytest.mark.parametrize("cash", ["-5", "0", "1000000000"])
def test_without_per_order_limits_only_the_allowlist_and_the_cash_check_can_refuse(
    side: Side, qty: str, cash: str
) -> None:
    # What lets the orchestrator skip pre_trade for an allowed order that is not a buy under
    # the cash check: such an order is never refused while no per-order limit is set.
    for allow_negative in (False, True):
        trips: list[object] = []
        rails = SafetyRails(RailLimits(allow_negative_balance=allow_negative), emit=trips.append)
        assert not rails.order_limits
        allowed = rails.pre_trade(
            order_id="O-1",
            side=side,
            qty=D(qty),
            price=D("100.00"),
            open_orders=10_000,
            exposure=D("-1000000"),
            available_cash=D(cash),
        )
        cash_check = not allow_negative and side is Side.BUY
        if not cash_check:
            assert allowed
            assert trips == []
        assert allowed is (not cash_check or D(cash) - D(qty) * D("100.00") >= 0)
