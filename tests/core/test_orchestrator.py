"""The orchestrator: session state machine, preflight, the bounded loop and stop()."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pytest_peak_dryrun.core.broker import Broker, MockBroker
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.faults import FaultInjector
from pytest_peak_dryrun.core.model import Fill, Order, OrderRequest
from pytest_peak_dryrun.core.orchestrator import (
    SESSION_TRANSITIONS,
    DryRunConfig,
    IllegalSessionTransitionError,
    Orchestrator,
    SessionState,
)
from pytest_peak_dryrun.core.orders import OrderState
from pytest_peak_dryrun.core.scenario import Scenario
from pytest_peak_dryrun.core.stream import EventLog as EventBuffer
from pytest_peak_dryrun.core.stream import EventStream

D = Decimal
SS = SessionState


def order(step: int, qty: str = "2", **kw: Any) -> dict[str, Any]:
    return {"step": step, "instrument": "DEMO-EUR", "side": "BUY", "qty": qty, **kw}


def scenario(**fields: Any) -> Scenario:
    data: dict[str, Any] = {"name": "orch", "steps": 5, **fields}
    return Scenario.model_validate(data)


def build(
    scn: Scenario, *, broker: Broker | None = None, config: DryRunConfig | None = None, **kw: Any
) -> tuple[Orchestrator, EventBuffer, SimClock]:
    clock = SimClock()
    stream = EventStream("run-1", clock)
    buffer = EventBuffer()
    stream.subscribe(buffer)
    if broker is None:
        broker = MockBroker(scn.broker_config(), clock=clock)
    elif isinstance(broker, MockBroker):
        broker.clock = clock
    elif isinstance(broker, ForeignBroker):
        broker.inner.clock = clock  # the adapter's venue runs on the run's clock
    orch = Orchestrator(scn, broker=broker, clock=clock, stream=stream, config=config, **kw)
    return orch, buffer, clock


def session_path(buffer: EventBuffer) -> list[str]:
    states = [e.payload.to_dict() for e in buffer if e.kind == "session_state"]
    return [states[0]["from_state"], *(p["to_state"] for p in states)] if states else []


class ForeignBroker:
    """A broker adapter that is not a MockBroker; ``dry_run`` decides if it may be used.

    It runs on its venue's clock and says so (the clock contract): ``clock`` is the venue's.
    """

    def __init__(self, inner: MockBroker, *, dry_run: object = None) -> None:
        self.inner = inner
        if dry_run is not None:
            self.dry_run = dry_run

    @property
    def clock(self) -> SimClock:
        return self.inner.clock

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


# -- the session state machine ------------------------------------------------------------


def test_session_transition_table() -> None:
    assert SESSION_TRANSITIONS == {
        SS.INIT: {SS.PREFLIGHT_OK, SS.PREFLIGHT_FAILED},
        SS.PREFLIGHT_OK: {SS.DRYRUN_ACTIVE, SS.STOPPING},
        SS.DRYRUN_ACTIVE: {SS.STOPPING},
        SS.STOPPING: {SS.STOPPED, SS.ERROR_REQUIRES_OPERATOR},
        SS.STOPPED: set(),
        SS.PREFLIGHT_FAILED: set(),
        SS.ERROR_REQUIRES_OPERATOR: set(),
    }


def test_happy_session_walks_init_to_stopped() -> None:
    orch, buffer, _clock = build(scenario(orders=[order(1)]))
    assert orch.state is SS.INIT
    assert orch.preflight() is True
    assert orch.state is SS.PREFLIGHT_OK
    assert orch.preflight_failures == []
    assert [name for name, ok, _ in orch.preflight_results if ok] == [
        "live_disabled",
        "instrument_allowlist",
        "dryrun_broker",
        "broker_protocol",
        "broker_clock",
        "fault_injection",
        "step_bound",
        "audit_sink",
    ]
    assert orch.run(5) == 5
    assert orch.state is SS.DRYRUN_ACTIVE
    assert orch.stop() is SS.STOPPED
    assert orch.state is SS.STOPPED
    assert session_path(buffer) == ["INIT", "PREFLIGHT_OK", "DRYRUN_ACTIVE", "STOPPING", "STOPPED"]
    assert [e.payload["check"] for e in buffer if e.kind == "preflight_check"] == [
        "live_disabled",
        "instrument_allowlist",
        "dryrun_broker",
        "broker_protocol",
        "broker_clock",
        "fault_injection",
        "step_bound",
        "audit_sink",
    ]
    # stop() of a finished session changes nothing
    assert orch.stop() is SS.STOPPED
    assert session_path(buffer)[-1] == "STOPPED"
    assert len([e for e in buffer if e.kind == "session_state"]) == 4


def test_stop_straight_after_preflight() -> None:
    orch, buffer, clock = build(scenario())
    orch.preflight()
    assert orch.stop() is SS.STOPPED
    assert session_path(buffer) == ["INIT", "PREFLIGHT_OK", "STOPPING", "STOPPED"]
    assert clock.step == 0


def test_run_before_preflight_is_illegal() -> None:
    orch, _, clock = build(scenario())
    with pytest.raises(IllegalSessionTransitionError, match="illegal session transition INIT -> DRYRUN_ACTIVE"):
        orch.run(1)
    assert clock.step == 0


def test_run_after_stop_is_illegal() -> None:
    orch, _, _ = build(scenario())
    orch.preflight()
    orch.run(1)
    orch.stop()
    with pytest.raises(IllegalSessionTransitionError, match="STOPPED -> DRYRUN_ACTIVE"):
        orch.run(1)


# -- preflight --------------------------------------------------------------------------------


def test_preflight_fails_for_a_broker_that_is_not_a_dry_run_broker() -> None:
    scn = scenario(orders=[order(1)])
    broker = ForeignBroker(MockBroker(scn.broker_config()))
    assert isinstance(broker, Broker)
    orch, buffer, clock = build(scn, broker=broker)
    assert orch.preflight() is False
    assert orch.state is SS.PREFLIGHT_FAILED
    assert orch.preflight_failures == [
        "dryrun_broker: ForeignBroker is not a MockBroker and does not declare dry_run = True"
    ]
    assert session_path(buffer) == ["INIT", "PREFLIGHT_FAILED"]
    (last,) = [e for e in buffer if e.kind == "session_state"]
    assert last.payload["reason"] == orch.preflight_failures[0]
    with pytest.raises(IllegalSessionTransitionError):
        orch.run(1)
    assert orch.stop() is SS.PREFLIGHT_FAILED
    assert broker.inner.open_order_count == 0
    assert clock.step == 0


@pytest.mark.parametrize("flag", ["yes", 1, False])
def test_dry_run_must_be_exactly_true(flag: object) -> None:
    scn = scenario()
    orch, _, _ = build(scn, broker=ForeignBroker(MockBroker(scn.broker_config()), dry_run=flag))
    assert orch.preflight() is False
    assert orch.state is SS.PREFLIGHT_FAILED


def test_a_foreign_broker_that_declares_dry_run_passes() -> None:
    scn = scenario(orders=[order(1)])
    inner = MockBroker(scn.broker_config())
    orch, _buffer, clock = build(scn, broker=ForeignBroker(inner, dry_run=True))
    inner.clock = clock
    assert orch.preflight() is True
    assert ("dryrun_broker", True, "ForeignBroker is a dry-run broker") in orch.preflight_results
    orch.run()
    assert orch.stop() is SS.STOPPED
    assert orch.book.state_counts[OrderState.FILLED] == 1


def test_preflight_fails_when_the_allowlist_excludes_a_scenario_instrument() -> None:
    scn = scenario(instruments={"DEMO-EUR": "100", "DEMO-USD": "50", "DEMO-GBP": "120"})
    orch, _buffer, _ = build(scn, config=DryRunConfig(instrument_allowlist=("DEMO-EUR",)))
    assert orch.preflight() is False
    assert orch.state is SS.PREFLIGHT_FAILED
    assert orch.preflight_failures == ["instrument_allowlist: scenario instruments not allowed: DEMO-GBP, DEMO-USD"]


def test_allowlist_that_covers_the_scenario_passes() -> None:
    orch, _, _ = build(scenario(), config=DryRunConfig(instrument_allowlist=("DEMO-EUR", "DEMO-USD")))
    assert orch.preflight() is True
    assert ("instrument_allowlist", True, "2 instrument(s)") in orch.preflight_results


@pytest.mark.parametrize(
    ("allowlist", "failure"),
    [
        ((), "instrument_allowlist: the instrument allowlist is empty"),
        (("DEMO-EUR", "bad symbol"), "instrument_allowlist: not valid symbols: bad symbol"),
    ],
)
def test_bad_allowlists(allowlist: tuple[str, ...], failure: str) -> None:
    orch, _, _ = build(scenario(), config=DryRunConfig(instrument_allowlist=allowlist))
    assert orch.preflight() is False
    assert orch.preflight_failures == [failure]


def test_preflight_names_every_failed_check() -> None:
    scn = scenario(steps=20)
    orch, _, _ = build(
        scn,
        broker=ForeignBroker(MockBroker(scn.broker_config())),
        config=DryRunConfig(max_steps=10, instrument_allowlist=("DEMO-USD",)),
        audit_writable=False,
    )
    assert orch.preflight() is False
    assert orch.preflight_failures == [
        "instrument_allowlist: scenario instruments not allowed: DEMO-EUR",
        "dryrun_broker: ForeignBroker is not a MockBroker and does not declare dry_run = True",
        "step_bound: scenario has 20 steps, the bound is 10",
        "audit_sink: audit sink refused a write",
    ]


@pytest.mark.parametrize("value", [True, 1, "true", None])
def test_live_trading_is_refused_by_the_config_type(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        DryRunConfig(live_enabled=value)  # type: ignore[arg-type]
    assert "live trading is refused" in str(info.value)
    assert "live_enabled must be False" in str(info.value)


def test_config_defaults_and_strictness() -> None:
    config = DryRunConfig()
    assert config.live_enabled is False
    assert config.instrument_allowlist is None
    assert config.max_steps == 1_000_000
    with pytest.raises(ValidationError):
        DryRunConfig(live=True)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        config.live_enabled = True  # type: ignore[misc]


# -- the bounded loop ----------------------------------------------------------------------


def test_run_executes_exactly_n_steps() -> None:
    orch, _buffer, clock = build(scenario(steps=10, orders=[order(2), order(7)]))
    orch.preflight()
    assert orch.run(3) == 3
    assert clock.step == 3
    assert orch.steps_run == 3
    assert orch.book.placed == 1
    assert orch.run(0) == 0
    assert clock.step == 3
    assert orch.run(4) == 4
    assert (clock.step, orch.steps_run, orch.book.placed) == (7, 7, 2)
    assert orch.run() == 3  # the rest of the scenario
    assert (clock.step, orch.steps_run) == (10, 10)
    assert orch.run(2) == 2  # beyond the plan: empty steps
    assert (clock.step, orch.steps_run) == (12, 12)
    with pytest.raises(ValueError, match="run\\(n\\) needs n >= 0, got -1"):
        orch.run(-1)


def test_run_stops_early_only_when_a_rail_trips() -> None:
    orch, buffer, clock = build(scenario(steps=10, kill_switch_at=4))
    orch.preflight()
    assert orch.run(10) == 4
    assert orch.state is SS.ERROR_REQUIRES_OPERATOR
    assert clock.step == 4
    assert session_path(buffer) == ["INIT", "PREFLIGHT_OK", "DRYRUN_ACTIVE", "STOPPING", "ERROR_REQUIRES_OPERATOR"]
    assert orch.stop() is SS.ERROR_REQUIRES_OPERATOR


def test_orders_flow_through_the_book() -> None:
    orch, buffer, _ = build(scenario(orders=[order(1, "3"), order(2, "1.5", side="SELL")]))
    orch.preflight()
    orch.run()
    orch.stop()
    book = orch.book
    assert book.placed == 2
    assert book.state_counts[OrderState.FILLED] == 2
    assert book.positions == {"DEMO-EUR": D("1.5")}
    assert book.cash == D("1000000") - D("3") * D("100.00") + D("1.5") * D("100.00")
    assert [e.payload["order_id"] for e in buffer if e.kind == "order_place"] == ["O-000001", "O-000002"]


# -- stop() ----------------------------------------------------------------------------------


def test_stop_cancels_open_orders_and_waits_for_the_cancels() -> None:
    scn = scenario(
        steps=3,
        orders=[order(1), order(2)],
        broker={"fill_model": "never", "cancel_latency_steps": 2},
        stop_timeout_steps=5,
    )
    orch, buffer, clock = build(scn)
    orch.preflight()
    orch.run()
    assert len(orch.book.open) == 2
    assert orch.stop() is SS.STOPPED
    assert clock.step == 3 + 2  # waited for the cancels, not for the whole timeout
    assert orch.book.state_counts[OrderState.CANCELED] == 2
    assert not orch.book.open
    assert [e.payload["outcome"] for e in buffer if e.kind == "order_cancel"] == ["ok", "ok"]
    assert isinstance(orch.broker, MockBroker)
    assert orch.broker.open_order_count == 0


def test_stop_waits_at_most_stop_timeout_steps() -> None:
    scn = scenario(
        steps=2,
        orders=[order(1)],
        broker={"fill_model": "never", "cancel_latency_steps": 50},
        stop_timeout_steps=4,
    )
    orch, buffer, clock = build(scn)
    orch.preflight()
    orch.run()
    assert orch.stop() is SS.ERROR_REQUIRES_OPERATOR
    assert clock.step == 2 + 4
    assert [rec.state for rec in orch.book.open_orders()] == [OrderState.PENDING_CANCEL]
    last = [e for e in buffer if e.kind == "session_state"][-1]
    assert last.payload.to_dict() == {
        "from_state": "STOPPING",
        "to_state": "ERROR_REQUIRES_OPERATOR",
        "reason": "1 order(s) still open after 4 steps",
    }


def test_stop_with_zero_timeout_does_not_wait() -> None:
    slow = {"fill_model": "never", "cancel_latency_steps": 1}
    scn = scenario(steps=1, orders=[order(1)], broker=slow, stop_timeout_steps=0)
    orch, _, clock = build(scn)
    orch.preflight()
    orch.run()
    assert orch.stop() is SS.ERROR_REQUIRES_OPERATOR
    assert clock.step == 1
    # a cancel the venue completes at once needs no waiting at all
    fast = scenario(steps=1, orders=[order(1)], broker={"fill_model": "never"}, stop_timeout_steps=0)
    orch, _, clock = build(fast)
    orch.preflight()
    orch.run()
    assert orch.stop() is SS.STOPPED
    assert clock.step == 1
    assert orch.book.state_counts[OrderState.CANCELED] == 1


def test_stop_reconciles_once_more() -> None:
    orch, _buffer, _clock = build(scenario(steps=3, reconcile_every=10))
    orch.preflight()
    orch.run()
    assert orch.reconciler.passes == 0
    orch.stop()
    assert orch.reconciler.passes == 1
    assert orch.reconciler.last_ok_step == 3


def test_the_audit_check_asks_the_real_sink(tmp_path: Path) -> None:
    from pytest_peak_dryrun.core.audit import AuditLog, JsonlFile

    audit = AuditLog("r", events_file=JsonlFile(tmp_path / "events.jsonl"), audit_file=JsonlFile(tmp_path / "a.jsonl"))
    assert audit.accepts_writes() is True
    audit.close()  # a closed sink refuses
    orch, _, _ = build(scenario(), audit_writable=audit.accepts_writes)
    assert orch.preflight() is False
    assert orch.preflight_failures == ["audit_sink: audit sink refused a write"]


# -- one clock: how the run's clock reaches a broker ---------------------------------------


class ClocklessBroker(ForeignBroker):
    """An adapter that hides its venue's clock and has no on_step: its venue would freeze."""

    clock = None  # type: ignore[assignment]


class SteppedBroker(ClocklessBroker):
    """An adapter whose venue keeps its own clock and follows the run through on_step."""

    def __init__(self, inner: MockBroker) -> None:
        super().__init__(inner, dry_run=True)
        self.steps: list[int] = []

    def on_step(self, step: int) -> None:
        self.steps.append(step)
        self.inner.advance(step - self.inner.clock.step)


def test_a_broker_without_clock_or_on_step_fails_preflight_naming_the_fix() -> None:
    scn = scenario(orders=[order(1)])
    broker = ClocklessBroker(MockBroker(scn.broker_config()), dry_run=True)
    orch, _, clock = build(scn, broker=broker)
    assert orch.preflight() is False
    assert orch.preflight_failures == [
        "broker_clock: ClocklessBroker has neither .clock nor on_step(step), so nothing moves its venue when the "
        "run's clock advances: expose the venue's clock (self.clock = venue.clock, built with the clock the hook "
        "or fixture hands you) or implement on_step(step)"
    ]
    assert clock.step == 0


def test_a_broker_on_another_simclock_fails_preflight() -> None:
    scn = scenario(orders=[order(1)])
    orch, _, _ = build(scn, broker=ForeignBroker(MockBroker(scn.broker_config()), dry_run=True))
    orch.injector.wrapped.inner.clock = SimClock()  # type: ignore[attr-defined]  # a second clock
    assert orch.preflight() is False
    (failure,) = orch.preflight_failures
    assert failure.startswith("broker_clock: ForeignBroker.clock is a SimClock other than the run's")
    assert "MockBroker(..., clock=clock)" in failure


def test_a_clock_that_is_not_a_simclock_needs_on_step() -> None:
    scn = scenario()
    broker = ClocklessBroker(MockBroker(scn.broker_config()), dry_run=True)
    broker.clock = "venue time"  # type: ignore[assignment]
    orch, _, _ = build(scn, broker=broker)
    assert orch.preflight() is False
    assert orch.preflight_failures[0].startswith(
        "broker_clock: ClocklessBroker.clock is a str, not the run's SimClock, and ClocklessBroker has no on_step(step)"
    )


def test_on_step_follows_every_step_including_the_wind_down() -> None:
    scn = scenario(
        steps=4,
        broker={"fill_model": "price_path", "cancel_latency_steps": 2},
        orders=[order(1, "4"), order(4, "2", order_type="LIMIT", limit_price="1")],
    )
    venue = MockBroker(scn.broker_config())  # its own clock, not the run's
    broker = SteppedBroker(venue)
    orch, _, clock = build(scn, broker=broker)
    assert orch.preflight() is True
    assert ("broker_clock", True, "SteppedBroker follows the run's clock through on_step(step)") in (
        orch.preflight_results
    )
    orch.run()
    assert orch.stop() is SS.STOPPED
    # steps 1..4, then the wind-down waits two steps for the cancel of the resting limit order
    assert broker.steps == [1, 2, 3, 4, 5, 6]
    assert venue.clock.step == clock.step == 6
    assert orch.book.state_counts[OrderState.FILLED] == 1
    assert orch.book.state_counts[OrderState.CANCELED] == 1


def test_the_orchestrator_calls_the_broker_through_one_fault_injector() -> None:
    scn = scenario(faults=[{"step": 1, "op": "place", "kind": "rate_limit"}], orders=[order(1)])
    orch, buffer, _ = build(scn)
    assert isinstance(orch.broker, MockBroker)  # what you passed stays what you passed
    assert isinstance(orch.injector, FaultInjector)
    assert orch.injector.wrapped is orch.broker
    assert ("fault_injection", True, "1 scheduled fault rule(s) around MockBroker") in [
        (name, ok, detail) for name, ok, detail in orch._preflight_checks()
    ]
    orch.preflight()
    orch.run()
    orch.stop()
    assert [e.payload.to_dict() for e in buffer if e.kind == "fault_injected"] == [
        {"op": "place", "fault": "rate_limit", "step": 1}
    ]


def test_a_fault_injector_passed_in_is_refused_not_wrapped_twice() -> None:
    scn = scenario(orders=[order(1)])
    clock = SimClock()
    injector = FaultInjector(MockBroker(scn.broker_config(), clock=clock), clock=clock)
    stream = EventStream("run-1", clock)
    orch = Orchestrator(scn, broker=injector, clock=clock, stream=stream)
    assert orch.injector is injector
    assert orch.preflight() is False
    assert orch.preflight_failures == [
        "fault_injection: the broker passed in is already a FaultInjector, and the run adds the scenario's faults "
        "itself: pass the broker it wraps (.wrapped) and put its faults into the scenario (faults, fault_rate)"
    ]
