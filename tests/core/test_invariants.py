"""The invariant oracle: silent on correct runs, and each invariant caught by a deliberately broken run.

A broken run is a broker or adapter that misbehaves the way a real one could (reports an
illegal transition, overfills, loses a fill, fails at stop), or, for what the plugin's own
layers guarantee by construction (the metrics, the fault counts, the events), a finished
result doctored to break exactly that invariant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pytest_peak_dryrun import MockBroker, Violation, check_invariants, run_scenario
from pytest_peak_dryrun.core import orders
from pytest_peak_dryrun.core.dryrun import DryRunResult
from pytest_peak_dryrun.core.errors import TransientUnavailableError
from pytest_peak_dryrun.core.events import (
    Event,
    EventRecord,
    FaultInjectedEvent,
    FillEvent,
    OrderTransitionEvent,
    ReconcileMismatchEvent,
    SessionStateEvent,
)
from pytest_peak_dryrun.core.invariants import INVARIANTS
from pytest_peak_dryrun.core.model import Fill, Order
from pytest_peak_dryrun.core.orchestrator import Orchestrator
from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS, Scenario, builtin_scenario, parse_scenario
from pytest_peak_dryrun.core.stream import EventLog
from pytest_peak_dryrun.core.vocab import SessionState


def scenario(**fields: Any) -> Scenario:
    return parse_scenario({"name": "broken", "steps": 3, **fields}, source="test")


def names(violations: Sequence[Violation]) -> list[str]:
    return sorted({v.invariant for v in violations})


def with_events(result: DryRunResult, change: Callable[[list[EventRecord]], list[EventRecord]]) -> DryRunResult:
    """The result with its event log replaced by ``change(records)`` (a doctored run)."""
    log = EventLog()
    for record in change(list(result.events)):
        log(record)
    result._log = log
    return result


def record_after(records: list[EventRecord], event: Event) -> EventRecord:
    last = records[-1]
    return EventRecord(last.seq + 1, last.ts_ms, event)


ONE_BUY = {"orders": [{"step": 1, "instrument": "DEMO-EUR", "side": "BUY", "qty": "2"}]}


# -- correct runs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_the_builtin_scenarios_break_no_invariant(name: str) -> None:
    assert check_invariants(run_scenario(builtin_scenario(name))) == []


def test_a_run_that_ended_in_error_requires_operator_with_a_reason_is_excused() -> None:
    # the tripwire built-in: a rail trips, the session ends ERROR_REQUIRES_OPERATOR and says why
    result = run_scenario(builtin_scenario("tripwire"))
    assert result.state == "ERROR_REQUIRES_OPERATOR"
    assert check_invariants(result) == []


def test_the_oracle_needs_the_events_and_says_so() -> None:
    result = run_scenario(builtin_scenario("happy_path"), keep_events=False)
    with pytest.raises(
        ValueError, match=r"the run did not keep its events, and the oracle reads them; run it with keep_events=True"
    ):
        check_invariants(result)


def test_a_violation_reads_as_one_line() -> None:
    violation = Violation("fills_within_quantity", "fill F1 takes the order to 3 of 2", step=4, order_id="O-1", seq=17)
    assert violation.where == "step 4, order O-1, event 17"
    assert str(violation) == "fills_within_quantity (step 4, order O-1, event 17): fill F1 takes the order to 3 of 2"
    assert Violation("x", "y").where == "end of run"


# -- legal_transitions ----------------------------------------------------------------------------------


class RejectsAfterAck(MockBroker):
    """Reports a working order ACK once, then REJECTED: ACK -> REJECTED is not a FIX edge."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acked: set[str] = set()

    def query_order(self, broker_order_id: str) -> Order:
        order = super().query_order(broker_order_id)
        if order.state != "ACK":
            return order
        if broker_order_id in self.acked:
            return msgspec.structs.replace(order, state=orders.OrderState.REJECTED)
        self.acked.add(broker_order_id)
        return order

    def list_open_orders(self) -> list[Order]:
        return [o for o in super().list_open_orders() if o.broker_order_id not in self.acked]


def test_legal_transitions_caught_by_a_broker_reporting_a_forbidden_transition() -> None:
    s = scenario(
        orders=[
            {
                "step": 1,
                "instrument": "DEMO-EUR",
                "side": "BUY",
                "qty": "1",
                "order_type": "LIMIT",
                "limit_price": "50.00",
            }
        ],
        reconcile_every=1,
    )
    result = run_scenario(s, broker=RejectsAfterAck(s.broker_config()))
    found = check_invariants(result)
    assert names(found) == ["legal_transitions"]
    assert (
        "the broker reported an illegal transition: illegal order transition for O-000001: ACK -> REJECTED"
        in found[0].message
    )


def test_legal_transitions_caught_in_a_doctored_event_log() -> None:
    result = run_scenario(scenario(**ONE_BUY))

    def illegal(records: list[EventRecord]) -> list[EventRecord]:
        move = OrderTransitionEvent(
            order_id="O-000001", from_state=orders.OrderState.FILLED, to_state=orders.OrderState.ACK
        )
        return [*records, record_after(records, move)]

    found = [v for v in check_invariants(with_events(result, illegal)) if v.invariant == "legal_transitions"]
    assert [str(v) for v in found] == [
        f"legal_transitions (step {found[0].step}, order O-000001, event {len(result.events)}): FILLED -> ACK is not "
        "a legal transition (legal from FILLED: none, terminal)"
    ]


def test_legal_transitions_caught_when_a_transition_does_not_start_where_the_order_was() -> None:
    result = run_scenario(scenario(**ONE_BUY))

    def skipped(records: list[EventRecord]) -> list[EventRecord]:
        # drop NEW -> ACK: the next transition (ACK -> FILLED) then starts where the order was not
        return [r for r in records if not (r.payload.KIND == "order_transition" and r.payload.to_state == "ACK")]

    found = [v for v in check_invariants(with_events(result, skipped)) if v.invariant == "legal_transitions"]
    assert [v.message for v in found] == ["ACK -> FILLED, but the order was NEW (its last transition)"]


def test_the_transition_table_is_read_when_checking(monkeypatch: pytest.MonkeyPatch) -> None:
    # a state machine extended later (PENDING_REPLACE) is known to the oracle without a change here
    result = run_scenario(scenario(**ONE_BUY))

    def expire_filled(records: list[EventRecord]) -> list[EventRecord]:
        move = OrderTransitionEvent(
            order_id="O-000001", from_state=orders.OrderState.FILLED, to_state=orders.OrderState.EXPIRED
        )
        return [*records, record_after(records, move)]

    doctored = with_events(result, expire_filled)
    assert "legal_transitions" in names(check_invariants(doctored))
    extended = {**orders.LEGAL_TRANSITIONS, orders.OrderState.FILLED: frozenset({orders.OrderState.EXPIRED})}
    monkeypatch.setattr(orders, "LEGAL_TRANSITIONS", extended)
    assert "legal_transitions" not in names(check_invariants(doctored))


# -- fills_within_quantity, fills_applied_once ------------------------------------------------------------


class Overfills(MockBroker):
    """Reports each fill with twice its quantity (a cumulative quantity taken for the last one)."""

    def iter_fills(self, cursor: int) -> tuple[int, list[Fill]]:
        position, fills = super().iter_fills(cursor)
        return position, [fill.replace(qty=fill.qty * 2) for fill in fills]


def test_fills_within_quantity_caught_by_a_broker_that_overfills() -> None:
    s = scenario(**ONE_BUY)
    found = check_invariants(run_scenario(s, broker=Overfills(s.broker_config())))
    assert "fills_within_quantity" in names(found)
    assert any(v.message == "fill MB-00000001-F1 takes the order to 4 of 2" for v in found)
    assert all(v.order_id == "O-000001" for v in found if v.invariant == "fills_within_quantity")


def test_fills_within_quantity_caught_when_cum_qty_disagrees_with_the_fills() -> None:
    result = run_scenario(scenario(**ONE_BUY))

    def wrong_cum(records: list[EventRecord]) -> list[EventRecord]:
        return [
            EventRecord(r.seq, r.ts_ms, msgspec.structs.replace(r.payload, cum_qty="1"))
            if isinstance(r.payload, FillEvent)
            else r
            for r in records
        ]

    found = check_invariants(with_events(result, wrong_cum))
    assert [v.message for v in found if v.invariant == "fills_within_quantity"] == [
        "fill MB-00000001-F1 says cum_qty 1, the fills applied add up to 2"
    ]


def test_fills_applied_once_caught_when_a_fill_is_applied_twice() -> None:
    result = run_scenario(scenario(**ONE_BUY))

    def twice(records: list[EventRecord]) -> list[EventRecord]:
        fill = next(r.payload for r in records if isinstance(r.payload, FillEvent))
        return [*records, record_after(records, fill)]

    found = check_invariants(with_events(result, twice))
    assert "fills_applied_once" in names(found)
    assert next(v for v in found if v.invariant == "fills_applied_once").message == (
        "fill MB-00000001-F1 applied a second time"
    )


# -- positions_and_cash -------------------------------------------------------------------------------------


def test_positions_and_cash_caught_when_the_status_disagrees_with_the_fills() -> None:
    result = run_scenario(scenario(**ONE_BUY))
    assert result.status.positions == {"DEMO-EUR": Decimal("2")}
    result.status = result.status.model_copy(
        update={"positions": {"DEMO-EUR": Decimal("3")}, "cash": result.status.cash + 1}
    )
    assert [v.message for v in check_invariants(result)] == [
        "position in DEMO-EUR is 3, the applied fills add up to 2",
        "cash is 999801.00, starting cash 1000000 and the applied fills give 999800.00",
    ]


# -- faults_visible -----------------------------------------------------------------------------------------

WITH_A_FAULT = {**ONE_BUY, "faults": [{"step": 1, "op": "place", "kind": "rate_limit"}]}


def test_faults_visible_caught_when_the_injector_counted_a_fault_no_event_shows() -> None:
    result = run_scenario(scenario(**WITH_A_FAULT))
    assert check_invariants(result) == []
    result.orchestrator.injector.injected[("query", "timeout")] = 1
    assert [str(v) for v in check_invariants(result)] == [
        "faults_visible (end of run): timeout on query: the injector counted 1, the run has 0 fault_injected "
        "event(s), faults_injected_total says 0"
    ]


def test_faults_visible_caught_when_an_injected_fault_left_no_event() -> None:
    result = run_scenario(scenario(**WITH_A_FAULT))
    doctored = with_events(result, lambda rs: [r for r in rs if not isinstance(r.payload, FaultInjectedEvent)])
    found = check_invariants(doctored)
    assert "faults_visible" in names(found)
    assert next(v for v in found if v.invariant == "faults_visible").message == (
        "rate_limit on place: the injector counted 1, the run has 0 fault_injected event(s), "
        "faults_injected_total says 1"
    )


# -- metrics_match_events --------------------------------------------------------------------------------


def test_metrics_match_events_caught_when_a_counter_disagrees_with_the_events() -> None:
    result = run_scenario(scenario(**ONE_BUY))
    data = result.metrics.model_dump()
    for family in data["metrics"]:
        if family["name"] == "orders_place_total":
            family["samples"][0]["value"] += 1
    result.metrics = type(result.metrics).model_validate(data)
    assert [str(v) for v in check_invariants(result)] == [
        'metrics_match_events (end of run): orders_place_total{outcome="ok"} is 2, the run\'s events give 1'
    ]


# -- reconciler_converges ------------------------------------------------------------------------------


class FailsAtStop(MockBroker):
    """Cannot list its open orders once the run's last step has passed (a broker down at stop)."""

    def __init__(self, *args: Any, down_from: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.down_from = down_from

    def list_open_orders(self) -> list[Order]:
        if self.clock.step >= self.down_from:
            raise TransientUnavailableError("venue down")
        return super().list_open_orders()


def test_a_pass_at_stop_that_cannot_reach_the_broker_needs_the_operator() -> None:
    s = scenario(**ONE_BUY)
    result = run_scenario(s, broker=FailsAtStop(s.broker_config(), down_from=s.steps))
    assert result.state == "ERROR_REQUIRES_OPERATOR"
    last = [r.payload for r in result.events if isinstance(r.payload, SessionStateEvent)][-1]
    assert last.reason == "the reconcile pass at stop could not reach the broker (TransientUnavailableError)"
    # the orchestrator told the operator; with no fault injected, a broker down at stop is the finding
    assert [str(v) for v in check_invariants(result)] == [
        "stops_cleanly_without_faults (end of run): no fault was injected and no rail tripped, yet the session "
        "ended ERROR_REQUIRES_OPERATOR (the reconcile pass at stop could not reach the broker "
        "(TransientUnavailableError))"
    ]


def test_reconciler_converges_caught_when_the_pass_at_stop_cannot_reach_the_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An orchestrator that ignores what its last pass found (as this one did before it checked).
    monkeypatch.setattr(Orchestrator, "_unresolved_at_stop", lambda self: "")
    s = scenario(**ONE_BUY)
    result = run_scenario(s, broker=FailsAtStop(s.broker_config(), down_from=s.steps))
    assert result.state == "STOPPED"
    assert [str(v) for v in check_invariants(result)] == [
        f"reconciler_converges (step 3, event {len(result.events) - 1}): the reconcile pass at stop could not "
        "reach the broker (TransientUnavailableError)"
    ]


# -- broker_agrees ---------------------------------------------------------------------------------------


class LosesFillsAfterCancel(MockBroker):
    """Drops every fill the venue stamps after the cancel request of its order (the fuzz example's bug)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cancel_sent: dict[str, int] = {}

    def cancel_order(self, broker_order_id: str) -> None:
        super().cancel_order(broker_order_id)
        self.cancel_sent.setdefault(broker_order_id, self.clock.step)

    def iter_fills(self, cursor: int) -> tuple[int, list[Fill]]:
        position, fills = super().iter_fills(cursor)
        return position, [f for f in fills if f.step <= self.cancel_sent.get(f.broker_order_id, f.step)]


RACE = {
    "steps": 1,
    "orders": [{"step": 1, "instrument": "DEMO-EUR", "side": "BUY", "qty": "1"}],
    "broker": {"fill_model": "partial", "partial_slices": 3, "cancel_latency_steps": 1},
}


def test_an_adapter_that_loses_a_fill_is_caught_by_the_run_and_the_oracle() -> None:
    s = scenario(**RACE)
    assert check_invariants(run_scenario(s)) == []
    result = run_scenario(s, broker=LosesFillsAfterCancel(s.broker_config()))
    # the run waits for the fill the venue says it made, reports the difference and needs the operator
    assert result.state == "ERROR_REQUIRES_OPERATOR"
    assert [str(v) for v in check_invariants(result)] == [
        "stops_cleanly_without_faults (end of run): no fault was injected and no rail tripped, yet the session "
        "ended ERROR_REQUIRES_OPERATOR (1 order(s) still open after 10 steps); mismatches: fill_qty_mismatch "
        "O-000001: broker filled 0.66, local 0.33; status_mismatch O-000001: broker CANCELED, local PENDING_CANCEL"
    ]


def test_broker_agrees_caught_by_an_orchestrator_that_loses_a_fill_silently(monkeypatch: pytest.MonkeyPatch) -> None:
    # An orchestrator that takes the broker's CANCELED at once and trusts a clean stop (as this
    # one did before): nothing else sees the lost fill, the book agrees with its own events.
    monkeypatch.setattr(Orchestrator, "_fills_owed", staticmethod(lambda rec, remote: False))
    monkeypatch.setattr(Orchestrator, "_unresolved_at_stop", lambda self: "")
    s = scenario(**RACE)
    result = run_scenario(s, broker=LosesFillsAfterCancel(s.broker_config()))
    assert (result.state, result.health.status, result.health.reasons) == ("STOPPED", "ok", [])
    assert [str(v) for v in check_invariants(result)] == [
        "broker_agrees (order O-000001): the broker filled 0.66 (CANCELED), the run applied fills for 0.33 "
        "(CANCELED), and no mismatch reported it"
    ]


def test_broker_agrees_excuses_a_difference_a_mismatch_reported() -> None:
    # the broker fills twice the quantity: reported (overfill), so broker_agrees holds
    s = scenario(**ONE_BUY)
    found = check_invariants(run_scenario(s, broker=Overfills(s.broker_config())))
    assert "broker_agrees" not in names(found)


# -- nothing_left_open --------------------------------------------------------------------------------

STUCK = {
    **ONE_BUY,
    "broker": {"fill_model": "never", "cancel_latency_steps": 5},
    "stop_timeout_steps": 0,
}


def test_nothing_left_open_excuses_orders_the_session_escalated() -> None:
    result = run_scenario(scenario(**STUCK))
    assert result.state == "ERROR_REQUIRES_OPERATOR"
    assert "1 order(s) still open" in result.health.reasons
    assert check_invariants(result) == []


def test_nothing_left_open_caught_when_a_session_ends_stopped_with_an_order_open() -> None:
    result = run_scenario(scenario(**STUCK))

    def quietly_stopped(records: list[EventRecord]) -> list[EventRecord]:
        last = records[-1]
        assert isinstance(last.payload, SessionStateEvent)
        stopped = SessionStateEvent(from_state=last.payload.from_state, to_state=SessionState.STOPPED)
        return [*records[:-1], EventRecord(last.seq, last.ts_ms, stopped)]

    result.health = result.health.model_copy(update={"reasons": []})
    found = check_invariants(with_events(result, quietly_stopped))
    assert "nothing_left_open" in names(found)
    assert next(v for v in found if v.invariant == "nothing_left_open").message == (
        "1 order(s) open in the run after the stop timeout (O-000001), and the session ended STOPPED with no "
        "health reason"
    )


class OrphanAfterStop(MockBroker):
    """Lists an order at the venue the run never sent, once the run is over (a ghost)."""

    ghost = False

    def list_open_orders(self) -> list[Order]:
        listed = super().list_open_orders()
        if not self.ghost:
            return listed
        return [
            *listed,
            Order(
                order_id="X",
                broker_order_id="MB-GHOST",
                instrument="DEMO-EUR",
                side="BUY",
                order_type="MARKET",
                qty=1,
                state="ACK",
                created_step=1,
            ),
        ]


def test_nothing_left_open_caught_when_the_broker_still_has_an_order_open() -> None:
    s = scenario(**ONE_BUY)
    broker = OrphanAfterStop(s.broker_config())
    result = run_scenario(s, broker=broker)
    assert check_invariants(result) == []
    broker.ghost = True
    assert [str(v) for v in check_invariants(result)] == [
        "nothing_left_open (end of run): the broker still has order MB-GHOST open (ACK) after the stop timeout, "
        "and no mismatch reported it"
    ]


# -- extending and selecting -----------------------------------------------------------------------


def test_extra_invariants_are_checked_too() -> None:
    result = run_scenario(scenario(**ONE_BUY))

    def flat_at_stop(result: DryRunResult) -> list[Violation]:
        return [Violation("flat_at_stop", f"position {p} in {i}") for i, p in result.status.positions.items() if p]

    assert [str(v) for v in check_invariants(result, extra=[flat_at_stop])] == [
        "flat_at_stop (end of run): position 2 in DEMO-EUR"
    ]


def returns_text(result: DryRunResult) -> list[str]:
    return ["oops"]


def test_an_extra_invariant_must_return_violations() -> None:
    result = run_scenario(scenario(**ONE_BUY))
    with pytest.raises(TypeError, match=r"'returns_text' produced str 'oops'; an invariant returns Violation records"):
        check_invariants(result, extra=[returns_text])  # type: ignore[list-item]


def test_skip_leaves_out_a_builtin_and_names_the_known_ones() -> None:
    s = scenario(**RACE)
    result = run_scenario(s, broker=LosesFillsAfterCancel(s.broker_config()))
    assert check_invariants(result, skip=["stops_cleanly_without_faults"]) == []
    with pytest.raises(
        ValueError, match=r"no invariant named 'broker_agree'; the built-in invariants are legal_transitions, "
    ):
        check_invariants(result, skip=["broker_agree"])


def test_the_invariant_table_names_what_each_checks() -> None:
    assert list(INVARIANTS) == [
        "legal_transitions",
        "fills_within_quantity",
        "fills_applied_once",
        "positions_and_cash",
        "faults_visible",
        "metrics_match_events",
        "reconciler_converges",
        "broker_agrees",
        "nothing_left_open",
        "stops_cleanly_without_faults",
    ]


# -- gaps the oracle found in the plugin's own orchestrator (issue 15), fixed ---------------------------


ORPHAN = {
    "steps": 2,
    "orders": [
        {"step": 2, "instrument": "DEMO-EUR", "side": "BUY", "qty": "1", "order_type": "LIMIT", "limit_price": "99.99"}
    ],
    "faults": [{"step": 2, "op": "place", "kind": "timeout", "times": 3}],
}


def test_an_order_orphaned_at_the_venue_needs_the_operator() -> None:
    # Place retries run out on timeouts after the venue accepted the order: the run marks it
    # rejected, the venue holds it. The pass at stop finds it, and the session says so.
    result = run_scenario(scenario(**ORPHAN))
    assert result.state == "ERROR_REQUIRES_OPERATOR"
    kinds = [r.payload.kind for r in result.events if isinstance(r.payload, ReconcileMismatchEvent)]
    assert kinds == ["unknown_on_broker"]
    last = [r.payload for r in result.events if isinstance(r.payload, SessionStateEvent)][-1]
    assert last.reason == "the reconcile pass at stop found 1 mismatch(es): unknown_on_broker 1"
    assert "session needs the operator (ERROR_REQUIRES_OPERATOR)" in result.health.reasons
    assert check_invariants(result) == []


HELD_FILL = {
    "steps": 1,
    "orders": [
        {"step": 1, "instrument": "DEMO-EUR", "side": "BUY", "qty": "1"},
        {"step": 1, "instrument": "DEMO-EUR", "side": "BUY", "qty": "1", "tif_steps": 1},
    ],
    "broker": {"fill_model": "partial", "partial_slices": 3, "cancel_latency_steps": 1},
    "faults": [{"step": 0, "op": "fills", "kind": "out_of_order_fill", "times": 3}],
}


def test_a_fill_in_flight_at_stop_is_waited_for() -> None:
    # The venue cancels (expires) an order whose last fill the fault layer still holds back:
    # the run keeps the order open until that fill arrived, then takes the venue's end state.
    result = run_scenario(scenario(**HELD_FILL))
    assert check_invariants(result) == []
    assert result.state == "STOPPED"
    broker = result.orchestrator.injector.wrapped
    for rec_id, rec in result.orchestrator.book.orders.items():
        assert rec.broker_order_id is not None
        assert rec.filled_qty == broker.query_order(rec.broker_order_id).filled_qty, rec_id


def test_the_readme_lists_every_invariant_with_what_it_checks() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- invariants-table:")
    block = readme[readme.index("\n", start) + 1 : readme.index("<!-- /invariants-table -->")]
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    assert rows == [f"| `{name}` | {what} |" for name, what in INVARIANTS.items()]
