"""Amend/replace (issue 15 item 2): the venue, the run, faults on ``replace``, scenarios, the oracle."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from pytest_peak_dryrun import (
    BrokerContractError,
    FaultInjector,
    InvalidOrderError,
    MockBroker,
    MockBrokerConfig,
    OrderRejectedError,
    ReplacingBroker,
    check_broker,
    check_invariants,
    load_scenario,
    run_scenario,
)
from pytest_peak_dryrun.core.boundary import replace_problem
from pytest_peak_dryrun.core.broker import FillModel
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.model import Fill, Order, OrderRequest
from pytest_peak_dryrun.core.orders import OrderState, OrderType, Side
from pytest_peak_dryrun.core.scenario import ScenarioError, builtin_scenario, parse_scenario
from pytest_peak_dryrun.core.scenario_writer import scenario_text
from pytest_peak_dryrun.strategies import scenarios

S = OrderState


def limit_buy(qty: str, price: str) -> OrderRequest:
    return OrderRequest(
        instrument="DEMO-EUR", side=Side.BUY, qty=Decimal(qty), order_type=OrderType.LIMIT, limit_price=Decimal(price)
    )


def venue(**behaviour: Any) -> MockBroker:
    return MockBroker(MockBrokerConfig(**behaviour))


# -- the venue ------------------------------------------------------------------------------------


def test_mock_broker_is_a_replacing_broker() -> None:
    assert isinstance(venue(), ReplacingBroker)
    assert replace_problem(venue()) is None


def test_accepted_replace_passes_through_pending_replace_and_takes_the_new_terms() -> None:
    broker = venue(replace_latency_steps=2)
    boid = broker.place_order(limit_buy("10", "90.00"), idempotency_key="k1")
    broker.advance()
    broker.replace_order(boid, qty=Decimal("6"))
    order = broker.query_order(boid)
    assert (order.state, order.qty) == (S.PENDING_REPLACE, Decimal("10"))
    broker.advance()
    assert broker.query_order(boid).state is S.PENDING_REPLACE
    broker.advance()
    order = broker.query_order(boid)
    assert (order.state, order.qty, order.limit_price) == (S.ACK, Decimal("6"), Decimal("90.00"))


def test_a_limit_moved_to_the_marketable_side_fills_at_the_market_and_one_moved_away_rests() -> None:
    broker = venue()
    boid = broker.place_order(limit_buy("4", "90.00"), idempotency_key="k1")
    broker.advance()
    broker.replace_order(boid, limit_price=Decimal("101.00"))
    broker.advance()
    order = broker.query_order(boid)
    assert (order.state, order.filled_qty, order.limit_price) == (S.FILLED, Decimal("4"), Decimal("101.00"))
    _, fills = broker.iter_fills(0)
    assert [(f.qty, f.price) for f in fills] == [(Decimal("4"), Decimal("100.00"))]  # the market, not the limit


def test_below_the_filled_quantity_is_refused_and_the_order_is_unchanged() -> None:
    broker = venue(fill_model=FillModel.PARTIAL, partial_slices=4)
    boid = broker.place_order(OrderRequest(instrument="DEMO-EUR", side=Side.BUY, qty=Decimal("8")), idempotency_key="k")
    broker.advance()  # two slices of 2 by now
    assert broker.query_order(boid).filled_qty == Decimal("4")
    with pytest.raises(OrderRejectedError) as info:
        broker.replace_order(boid, qty=Decimal("3"))
    assert info.value.reason == "below_filled"
    order = broker.query_order(boid)
    assert (order.state, order.qty) == (S.PARTIAL, Decimal("8"))
    broker.replace_order(boid, qty=Decimal("4"))  # down to what has filled: the order is done
    broker.advance(0)
    assert broker.query_order(boid).state is S.FILLED


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "nothing to change"),
        ({"qty": Decimal("0")}, "quantity must be positive"),
        ({"limit_price": Decimal("-1")}, "limit_price must be positive"),
    ],
)
def test_invalid_replaces_are_invalid_orders(changes: dict[str, Decimal], message: str) -> None:
    broker = venue()
    boid = broker.place_order(limit_buy("1", "90.00"), idempotency_key="k")
    broker.advance()
    with pytest.raises(InvalidOrderError, match=message):
        broker.replace_order(boid, **changes)


def test_a_market_order_has_no_limit_to_replace_and_an_ended_order_is_too_late() -> None:
    broker = venue()
    boid = broker.place_order(OrderRequest(instrument="DEMO-EUR", side=Side.BUY, qty=Decimal("1")), idempotency_key="k")
    with pytest.raises(InvalidOrderError, match="MARKET order"):
        broker.replace_order(boid, limit_price=Decimal("99"))
    broker.advance()
    assert broker.query_order(boid).state is S.FILLED
    with pytest.raises(OrderRejectedError) as info:
        broker.replace_order(boid, qty=Decimal("2"))
    assert info.value.reason == "too_late"


def test_not_acknowledged_canceling_or_replacing_orders_refuse_another_amend() -> None:
    broker = venue(ack_latency_steps=1, cancel_latency_steps=1, replace_latency_steps=1)
    first = broker.place_order(limit_buy("5", "90.00"), idempotency_key="a")
    with pytest.raises(OrderRejectedError, match="not acknowledged"):
        broker.replace_order(first, qty=Decimal("4"))
    broker.advance()
    broker.replace_order(first, qty=Decimal("4"))
    broker.replace_order(first, qty=Decimal("4"))  # the same terms again: a retry, harmless
    with pytest.raises(OrderRejectedError) as info:
        broker.replace_order(first, qty=Decimal("3"))
    assert info.value.reason == "replace_pending"
    second = broker.place_order(limit_buy("5", "90.00"), idempotency_key="b")
    broker.advance()
    broker.cancel_order(second)
    with pytest.raises(OrderRejectedError) as info:
        broker.replace_order(second, qty=Decimal("3"))
    assert info.value.reason == "cancel_pending"


def test_a_fill_wins_the_replace_race() -> None:
    broker = venue(fill_model=FillModel.PARTIAL, partial_slices=4, replace_latency_steps=1)
    boid = broker.place_order(OrderRequest(instrument="DEMO-EUR", side=Side.BUY, qty=Decimal("4")), idempotency_key="k")
    broker.advance(2)  # 3 of 4 filled
    broker.replace_order(boid, qty=Decimal("3.5"))
    assert broker.query_order(boid).state is S.PENDING_REPLACE
    broker.advance()  # the last slice comes before the amend
    order = broker.query_order(boid)
    assert (order.state, order.qty, order.filled_qty) == (S.FILLED, Decimal("4"), Decimal("4"))


def test_a_fill_past_the_new_quantity_meanwhile_refuses_the_amend_when_it_falls_due() -> None:
    broker = venue(fill_model=FillModel.PARTIAL, partial_slices=4, replace_latency_steps=1)
    boid = broker.place_order(OrderRequest(instrument="DEMO-EUR", side=Side.BUY, qty=Decimal("8")), idempotency_key="k")
    broker.replace_order(boid, qty=Decimal("2.5"))  # not acknowledged: refused
    broker.advance(0)
    broker.replace_order(boid, qty=Decimal("2.5"))  # filled 2: taken, pending
    broker.advance()  # a slice (4 filled) before the amend: 2.5 < 4, refused, back to working
    order = broker.query_order(boid)
    assert (order.state, order.qty) == (S.PARTIAL, Decimal("8"))


def test_a_cancel_supersedes_a_pending_replace() -> None:
    broker = venue(replace_latency_steps=3)
    boid = broker.place_order(limit_buy("5", "90.00"), idempotency_key="k")
    broker.advance()
    broker.replace_order(boid, qty=Decimal("2"))
    broker.cancel_order(boid)
    broker.advance(4)
    order = broker.query_order(boid)
    assert (order.state, order.qty) == (S.CANCELED, Decimal("5"))


# -- the boundary and the fault layer ---------------------------------------------------------------


class NoReplace:
    """A foreign broker written before replace existed (forwards to a MockBroker)."""

    dry_run = True

    def __init__(self, inner: MockBroker) -> None:
        self.inner = inner
        self.clock = inner.clock

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        return self.inner.place_order(request, idempotency_key=idempotency_key)

    def cancel_order(self, broker_order_id: str) -> None:
        self.inner.cancel_order(broker_order_id)

    def query_order(self, broker_order_id: str) -> Order:
        return self.inner.query_order(broker_order_id)

    def list_open_orders(self) -> list[Order]:
        return self.inner.list_open_orders()

    def iter_fills(self, cursor: int) -> tuple[int, Sequence[Fill]]:
        return self.inner.iter_fills(cursor)


class AnswersReplace(NoReplace):
    def replace_order(
        self, broker_order_id: str, *, qty: Decimal | None = None, limit_price: Decimal | None = None
    ) -> Any:
        self.inner.replace_order(broker_order_id, qty=qty, limit_price=limit_price)
        return "REPLACED"


class OldSignature(NoReplace):
    def replace_order(self, broker_order_id: str, new_qty: Decimal) -> None:
        raise AssertionError("never called")


def test_replace_problem_names_the_fix() -> None:
    problem = replace_problem(check_broker(NoReplace(venue())))
    assert problem is not None
    assert problem.startswith("NoReplace has no replace_order(broker_order_id, *, qty=None, limit_price=None)")
    assert "venue_replace" in problem
    assert "cannot be called as replace_order" in (replace_problem(OldSignature(venue())) or "")
    assert not isinstance(NoReplace(venue()), ReplacingBroker)


def test_a_returned_answer_is_a_contract_error() -> None:
    inner = venue()
    broker = check_broker(AnswersReplace(inner))
    boid = broker.place_order(limit_buy("1", "90.00"), idempotency_key="k")
    inner.advance()
    with pytest.raises(
        BrokerContractError, match=r"AnswersReplace.replace_order returned str 'REPLACED'; expected None"
    ):
        broker.replace_order(boid, qty=Decimal("2"))  # type: ignore[attr-defined]


def test_the_injector_refuses_a_broker_without_replace_clearly() -> None:
    inner = venue()
    injector = FaultInjector(NoReplace(inner), clock=inner.clock)
    with pytest.raises(BrokerContractError, match="NoReplace has no replace_order"):
        injector.replace_order("MB-00000001", qty=Decimal("1"))


# -- scenarios ---------------------------------------------------------------------------------------


BASE: dict[str, Any] = {
    "name": "s",
    "steps": 5,
    "orders": [
        {"step": 2, "id": "a", "instrument": "DEMO-EUR", "side": "BUY", "qty": "3"},
        {
            "step": 1,
            "id": "b",
            "instrument": "DEMO-EUR",
            "side": "BUY",
            "qty": "3",
            "order_type": "LIMIT",
            "limit_price": "90",
        },
    ],
}


@pytest.mark.parametrize(
    ("replaces", "problem"),
    [
        ([{"step": 3, "order": "a"}], "replaces[0]: a replace needs qty and/or limit_price (the new terms)"),
        ([{"step": 3, "order": "zz", "qty": "1"}], "replaces[0]: no order with id 'zz'"),
        ([{"step": 1, "order": "a", "qty": "1"}], "replaces[0]: step 1 is before order 'a' is placed (step 2)"),
        ([{"step": 9, "order": "b", "qty": "1"}], "replaces[0]: step 9 is after the last step (5)"),
        (
            [{"step": 3, "order": "a", "limit_price": "99"}],
            "replaces[0]: order 'a' is a MARKET order; only a LIMIT order's limit_price can be replaced",
        ),
        ([{"step": 3, "order": "b", "qty": "0"}], "replaces[0].qty: Input should be greater than 0"),
        ([{"step": 3, "order": "b", "qty": "1", "price": "1"}], "replaces[0].price: unknown field"),
    ],
)
def test_scenario_errors_name_the_replace(replaces: list[dict[str, Any]], problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario({**BASE, "replaces": replaces}, source="dryrun_x.toml")
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_replaces_are_written_and_read_back_and_follow_fewer_steps(tmp_path: Path) -> None:
    scenario = parse_scenario(
        {
            **BASE,
            "replaces": [
                {"step": 3, "order": "b", "qty": "2", "limit_price": "91"},
                {"step": 5, "order": "a", "qty": "1"},
            ],
        },
        source="x",
    )
    suffix, text = scenario_text(scenario)
    assert suffix == ".toml"
    assert '[[replaces]]\nstep = 3\norder = "b"\nqty = "2"\nlimit_price = "91"' in text
    written = tmp_path / "dryrun_again.toml"
    written.write_text(text, encoding="utf-8")
    assert load_scenario(written).model_copy(update={"name": scenario.name}) == scenario
    assert [r.order for r in scenario.with_overrides(steps=4).replaces] == ["b"]


# -- the run ---------------------------------------------------------------------------------------


def test_the_amend_scenario_reaches_every_replace_outcome_and_keeps_the_invariants() -> None:
    result = run_scenario(builtin_scenario("amend"))
    assert result.state.value == "STOPPED"
    assert check_invariants(result) == []
    m = result.metrics
    assert m.value("orders_replace_total", outcome="ok") == 4
    assert m.value("orders_replace_total", outcome="rejected") == 1
    assert m.value("faults_injected_total", op="replace", fault="rate_limit") == 1
    assert m.value("faults_injected_total", op="replace", fault="timeout") == 1
    assert m.value("retry_attempts_total", op="replace", reason="rate_limit") == 1
    for edge in (
        ("ACK", "PENDING_REPLACE"),
        ("PENDING_REPLACE", "ACK"),
        ("PENDING_REPLACE", "PARTIAL"),
        ("PENDING_REPLACE", "FILLED"),
    ):
        assert m.value("order_state_transitions_total", from_state=edge[0], to_state=edge[1]) >= 1, edge
    replaced = [e.payload for e in result.events if e.payload.KIND == "order_replaced"]
    # the timed-out amend (order 3) was learnt by query: its new quantity is the run's
    assert [(p.order_id, p.qty) for p in replaced] == [
        ("O-000001", "6"),
        ("O-000001", "6"),
        ("O-000003", "7"),
    ]
    assert result.events.count("order_replace", outcome="rejected", reason="below_filled") == 1


def test_a_scenario_with_replaces_fails_the_preflight_for_a_broker_without_replace() -> None:
    scenario = parse_scenario({**BASE, "replaces": [{"step": 3, "order": "b", "qty": "2"}]}, source="x")
    clock = SimClock()
    result = run_scenario(scenario, broker=NoReplace(MockBroker(scenario.broker_config(), clock=clock)), clock=clock)
    assert result.state.value == "PREFLIGHT_FAILED"
    (failure,) = result.orchestrator.preflight_failures
    assert failure.startswith("broker_replace: NoReplace has no replace_order(")
    # without replaces the same broker runs: the capability is optional
    plain = run_scenario(
        parse_scenario(BASE, source="x"),
        broker=NoReplace(MockBroker(scenario.broker_config(), clock=(c := SimClock()))),
        clock=c,
    )
    assert plain.state.value == "STOPPED"
    assert [
        e for e in plain.events if e.payload.KIND == "preflight_check" and e.payload.check == "broker_replace"
    ] == []


def test_a_replace_of_an_order_not_working_is_not_sent() -> None:
    scenario = parse_scenario({**BASE, "replaces": [{"step": 2, "order": "a", "qty": "2"}]}, source="x")
    result = run_scenario(scenario)
    (event,) = [e.payload for e in result.events if e.payload.KIND == "order_replace"]
    assert (event.outcome.value, event.reason) == ("rejected", "not_working: NEW")
    assert check_invariants(result) == []


@pytest.mark.parametrize("latency", [0, 2])
def test_a_replace_timeout_after_the_call_went_through_is_settled_by_query(latency: int) -> None:
    scenario = parse_scenario(
        {
            **BASE,
            "broker": {"replace_latency_steps": latency},
            "replaces": [{"step": 2, "order": "b", "qty": "7"}],
            "faults": [{"step": 2, "op": "replace", "kind": "timeout", "times": 3}],
        },
        source="x",
    )
    result = run_scenario(scenario)
    (event,) = [e.payload for e in result.events if e.payload.KIND == "order_replace"]
    assert (event.outcome.value, event.reason) == ("error", "timeout")  # every attempt's answer lost
    assert [(e.payload.order_id, e.payload.qty) for e in result.events if e.payload.KIND == "order_replaced"] == [
        ("O-000001", "7")
    ]
    assert result.metrics.value("order_state_transitions_total", from_state="ACK", to_state="PENDING_REPLACE") == 1
    assert check_invariants(result) == []
    assert result.state.value == "STOPPED"


def test_a_stop_while_a_replace_is_pending_cancels_the_order() -> None:
    scenario = parse_scenario(
        {
            **BASE,
            "steps": 3,
            "broker": {"replace_latency_steps": 5},
            "replaces": [{"step": 3, "order": "b", "qty": "2"}],
        },
        source="x",
    )
    result = run_scenario(scenario)
    assert result.state.value == "STOPPED"
    assert (
        result.metrics.value("order_state_transitions_total", from_state="PENDING_REPLACE", to_state="PENDING_CANCEL")
        == 1
    )
    assert check_invariants(result) == []


@hypothesis_seed(15)
@settings(
    max_examples=300, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
)
@given(scenarios(max_replaces=3, max_orders=3))
def test_generated_scenarios_with_replaces_keep_the_invariants_on_the_mock_broker(scenario: Any) -> None:
    result = run_scenario(scenario)
    assert check_invariants(result) == []


def test_the_oracle_measures_fills_against_the_quantity_a_replace_gave_the_order() -> None:
    # Found by generated scenarios: the order is amended from 1 to 8, the stop's cancel loses a
    # race against a fill of all 8. The run is right; the oracle once compared with the 1 placed.
    scenario = parse_scenario(
        {
            "name": "amended_up_then_filled",
            "steps": 12,
            "instruments": {"DEMO-EUR": "100.00"},
            "orders": [
                {"step": 2, "id": "o1", "instrument": "DEMO-EUR", "side": "SELL", "qty": "1"}
                | {"order_type": "LIMIT", "limit_price": "99.95", "tif_steps": 12}
            ],
            "replaces": [{"step": 5, "order": "o1", "qty": "8", "limit_price": "100.02"}],
            "broker": {"ack_latency_steps": 2, "cancel_latency_steps": 2, "replace_latency_steps": 1}
            | {"fill_model": "never"},
            "faults": [{"step": 7, "op": "cancel", "kind": "cancel_race"}],
        },
        source="x",
    )
    result = run_scenario(scenario)
    assert [(r.payload.qty, r.payload.cum_qty) for r in result.events.of("fill")] == [("8", "8")]
    assert check_invariants(result) == []


RESTING_BUY: dict[str, Any] = {
    "name": "amend_past_a_rail",
    "steps": 4,
    "orders": [
        {"step": 1, "id": "b", "instrument": "DEMO-EUR", "side": "BUY", "qty": "2"}
        | {"order_type": "LIMIT", "limit_price": "90"}
    ],
}


@pytest.mark.parametrize(
    ("rails", "amend", "rail", "detail"),
    [
        ({"max_order_qty": "5"}, {"qty": "6"}, "max_order_qty", "quantity 6 above limit 5"),
        ({"max_notional": "500"}, {"qty": "6"}, "max_notional", "notional 540 above limit 500"),
        ({"max_position": "4"}, {"qty": "5"}, "max_position", "position 5 beyond limit 4"),
        # 1,000 of cash: 2 @ 90 reserved; 11 @ 90 = 990 fits, 12 @ 90 = 1,080 does not
        ({"allow_negative_balance": False}, {"qty": "12"}, "negative_balance", "buying 1080 with 1000 available"),
    ],
)
def test_an_amend_passes_the_pre_trade_rails_like_a_new_order(
    rails: dict[str, Any], amend: dict[str, str], rail: str, detail: str
) -> None:
    scenario = parse_scenario(
        {**RESTING_BUY, "starting_cash": "1000", "rails": rails, "replaces": [{"step": 3, "order": "b", **amend}]},
        source="x",
    )
    result = run_scenario(scenario)
    assert result.state == "ERROR_REQUIRES_OPERATOR"
    (trip,) = [r.payload for r in result.events.of("rail_trip")]
    assert (trip.rail.value, trip.order_id) == (rail, "O-000001")
    assert detail in trip.detail
    assert result.events.of("order_replace") == []  # never sent
    assert result.orchestrator.injector.wrapped.query_order("MB-00000001").qty == Decimal(2)
    assert check_invariants(result) == []


@pytest.mark.parametrize(
    ("rails", "qty"),
    [
        ({"max_order_qty": "5"}, "5"),
        ({"max_notional": "500"}, "5"),
        ({"max_position": "4"}, "4"),
        ({"allow_negative_balance": False}, "11"),
    ],
)
def test_an_amend_within_the_rails_goes_through(rails: dict[str, Any], qty: str) -> None:
    scenario = parse_scenario(
        {**RESTING_BUY, "starting_cash": "1000", "rails": rails, "replaces": [{"step": 3, "order": "b", "qty": qty}]},
        source="x",
    )
    result = run_scenario(scenario)
    assert result.events.of("rail_trip") == []
    assert [r.payload.qty for r in result.events.of("order_replaced")] == [qty]
    assert result.state == "STOPPED"
