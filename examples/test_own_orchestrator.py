"""Your own orchestrator on our venue: the MockBroker behind a FaultInjector, no dry-run loop of ours.

``PlaceAndWait`` stands for a team's existing orchestrator: synchronous, one order at a time,
place and then wait until the order is done. It knows nothing about the plugin's
orchestrator; it only needs a broker and a way to let time pass (``MockBroker.advance``).
The test drives it through every fault of the built-in ``failure_matrix`` scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

import pytest

from pytest_peak_dryrun import (
    FaultInjector,
    FaultRule,
    MockBroker,
    OrderRequest,
    OrderState,
    RetryableBrokerError,
    Scenario,
)

T = TypeVar("T")
DONE = {OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.EXPIRED}


class OrchestratorError(RuntimeError):
    """Our orchestrator gives up: the message says which order, which call and why."""


class PlaceAndWait:
    def __init__(self, broker: FaultInjector, venue: MockBroker, *, attempts: int = 3, wait_steps: int = 5) -> None:
        self.broker = broker
        self.venue = venue
        self.attempts = attempts
        self.wait_steps = wait_steps
        self.cursor = 0
        self.buys: dict[str, bool] = {}  # broker order id -> is it a buy
        self.seen_fills: set[str] = set()
        self.position = Decimal(0)
        self.duplicates = 0

    def call(self, what: str, fn: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except RetryableBrokerError as exc:
                if attempt == self.attempts:
                    raise OrchestratorError(f"{what}: gave up after {attempt} attempts: {exc}") from exc
        raise AssertionError("unreachable")

    def execute(self, key: str, request: OrderRequest, *, cancel: bool = False) -> OrderState:
        boid = self.call(f"place {key}", lambda: self.broker.place_order(request, idempotency_key=key))
        self.buys[boid] = request.side.value == "BUY"
        if cancel:
            self.call(f"cancel {key}", lambda: self.broker.cancel_order(boid))
        for _ in range(self.wait_steps):
            state = self.call(f"query {key}", lambda: self.broker.query_order(boid)).state
            if state in DONE:
                self.read_fills()
                return state
            self.venue.advance()
        raise OrchestratorError(f"order {key} ({boid}) still {state.value} after {self.wait_steps} steps")

    def read_fills(self) -> None:
        self.cursor, fills = self.call("fills", lambda: self.broker.iter_fills(self.cursor))
        for fill in fills:  # in any order; each execution once
            if fill.fill_id in self.seen_fills:
                self.duplicates += 1
                continue
            self.seen_fills.add(fill.fill_id)
            self.position += fill.qty if self.buys[fill.broker_order_id] else -fill.qty


def run_plan(scenario: Scenario, orchestrator: PlaceAndWait) -> dict[str, OrderState]:
    """The scenario's orders, in step order; the venue's clock moves on to each order's step."""
    canceled = {c.order for c in scenario.cancels}
    outcome = {}
    for number, intent in enumerate(scenario.orders, start=1):
        orchestrator.venue.advance(max(0, intent.step - orchestrator.venue.clock.step))
        key = intent.id or f"order-{number}"
        outcome[key] = orchestrator.execute(key, intent.request(), cancel=intent.id in canceled)
    return outcome


def our_venue(scenario: Scenario, faults: tuple[FaultRule, ...]) -> tuple[FaultInjector, MockBroker, list[str]]:
    venue = MockBroker(scenario.broker_config())  # its own SimClock, moved by advance()
    injected: list[str] = []
    broker = FaultInjector(venue, faults=faults, clock=venue.clock, emit=lambda event: injected.append(event["fault"]))
    return broker, venue, injected


@pytest.mark.dryrun("failure_matrix")
def test_our_orchestrator_survives_the_failure_matrix(dryrun_scenario):
    broker, venue, injected = our_venue(dryrun_scenario, dryrun_scenario.faults)
    orchestrator = PlaceAndWait(broker, venue)
    outcome = run_plan(dryrun_scenario, orchestrator)
    assert set(outcome.values()) == {OrderState.FILLED}  # the raced cancel lost to a fill
    assert injected == [
        "rate_limit",
        "timeout",
        "transient_unavailable",
        "duplicate_fill",
        "cancel_race",
        "out_of_order_fill",
    ]
    assert orchestrator.duplicates == 1
    assert orchestrator.position == Decimal("11")  # 4 + 6 - 2 + 8 - 10 + 5, each fill once
    assert venue.open_order_count == 0


@pytest.mark.dryrun("failure_matrix")
def test_our_orchestrator_fails_with_a_readable_reason_when_a_fault_outlasts_its_retries(dryrun_scenario):
    outage = (FaultRule(step=0, op="place", kind="rate_limit", times=5),)
    broker, venue, _ = our_venue(dryrun_scenario, outage)
    with pytest.raises(OrchestratorError) as info:
        run_plan(dryrun_scenario, PlaceAndWait(broker, venue))
    assert str(info.value) == "place order-1: gave up after 3 attempts: place order-1: injected rate_limit"
    assert venue.open_order_count == 0  # nothing reached the venue
