"""The shipped scenarios cover the table: every order state and every fault kind (issue 15, item 3).

The failure matrix claims to rehearse the whole FIX table; this test holds the built-ins to
it. What must be covered is derived from the enums (:class:`OrderState`, :class:`FaultKind`,
and every :class:`BrokerOp` a fault can be attached to, :data:`FAULT_OPS`), never from a
hand-written list: a state, a fault kind or an op added later fails this test until a
built-in scenario reaches it. Coverage is read from each run's metrics (what an operator
sees), not from its events or the orchestrator's internals, and a gap is reported with the
metric that was read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from pytest_peak_dryrun import run_scenario
from pytest_peak_dryrun.core.dryrun import DryRunResult
from pytest_peak_dryrun.core.events import OrderPlaceEvent
from pytest_peak_dryrun.core.faults import FAULT_OPS
from pytest_peak_dryrun.core.orders import OrderState
from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS, builtin_scenario
from pytest_peak_dryrun.core.snapshots import MetricsSnapshot
from pytest_peak_dryrun.core.vocab import BrokerOp, FaultKind, Outcome, SessionState

TRANSITIONS = "order_state_transitions_total"
INJECTED = "faults_injected_total"
SKIPPED = "faults_skipped_total"
PLACED = "orders_place_total"
RAIL_TRIPS = "safety_rail_trips_total"

#: Every op at least one fault kind can be attached to (all of them, today).
FAULTABLE_OPS = tuple(op for op in BrokerOp if any(op in FAULT_OPS[kind] for kind in FaultKind))


@pytest.fixture(scope="module")
def builtin_metrics() -> dict[str, MetricsSnapshot]:
    """The metrics of one run of every built-in scenario (they are deterministic: one run each)."""
    return {name: run_scenario(builtin_scenario(name)).metrics for name in BUILTIN_SCENARIOS}


def state_visits(metrics: MetricsSnapshot, state: OrderState) -> int:
    """How often ``state`` was entered or left: the ``order_state_transitions_total`` series
    with ``state`` as ``from_state`` or ``to_state``. An order starts in NEW without a
    transition, so NEW counts as reached once an order leaves it; every other state is entered
    by a transition."""
    return sum(
        metrics.value(TRANSITIONS, from_state=state.value, to_state=other.value)
        + metrics.value(TRANSITIONS, from_state=other.value, to_state=state.value)
        for other in OrderState
    )


def injected(metrics: MetricsSnapshot, *, kinds: tuple[FaultKind, ...], ops: tuple[BrokerOp, ...]) -> int:
    return sum(metrics.value(INJECTED, op=op.value, fault=kind.value) for kind in kinds for op in ops)


def coverage_gaps(runs: Mapping[str, MetricsSnapshot]) -> list[str]:
    """What no run in ``runs`` reaches, one line per gap naming the metric read (empty: covered)."""
    read = ", ".join(runs)
    gaps: list[str] = []
    states = [s.value for s in OrderState if not any(state_visits(m, s) for m in runs.values())]
    if states:
        gaps.append(f"order state(s) {', '.join(states)}: no {TRANSITIONS}{{from_state or to_state=...}} > 0 in {read}")
    kinds = [k.value for k in FaultKind if not any(injected(m, kinds=(k,), ops=tuple(BrokerOp)) for m in runs.values())]
    if kinds:
        gaps.append(f"fault kind(s) {', '.join(kinds)}: no {INJECTED}{{fault=...}} > 0 in {read}")
    ops = [
        o.value for o in FAULTABLE_OPS if not any(injected(m, kinds=tuple(FaultKind), ops=(o,)) for m in runs.values())
    ]
    if ops:
        gaps.append(f"fault op(s) {', '.join(ops)}: no {INJECTED}{{op=...}} > 0 in {read}")
    if not any(m.value(PLACED, outcome=Outcome.REJECTED.value) for m in runs.values()):
        gaps.append(f'a venue reject: no {PLACED}{{outcome="rejected"}} > 0 in {read}')
    if not any(
        m.value(TRANSITIONS, from_state=s.value, to_state=OrderState.EXPIRED.value)
        for m in runs.values()
        for s in OrderState
    ):
        gaps.append(f'an expiry: no {TRANSITIONS}{{to_state="EXPIRED"}} > 0 in {read}')
    return gaps


def test_the_builtin_scenarios_reach_every_order_state_fault_kind_and_fault_op(
    builtin_metrics: dict[str, MetricsSnapshot],
) -> None:
    gaps = coverage_gaps(builtin_metrics)
    assert not gaps, "the built-in scenarios (pytest_peak_dryrun/scenarios/) do not reach:\n" + "\n".join(gaps)


def test_every_scheduled_fault_of_a_builtin_fires(builtin_metrics: dict[str, MetricsSnapshot]) -> None:
    # A skipped fault was scheduled but never rehearsed: it must not pass for coverage.
    skipped = {name: m.total(SKIPPED) for name, m in builtin_metrics.items() if m.total(SKIPPED)}
    assert skipped == {}, f"{SKIPPED} > 0 in {', '.join(skipped)}"


def test_a_venue_reject_and_an_expiry_come_from_venue_lifecycle(builtin_metrics: dict[str, MetricsSnapshot]) -> None:
    metrics = builtin_metrics["venue_lifecycle"]
    # The venue refused the order: it reached the broker (a place request with an outcome) and
    # no safety rail tripped (a rail refusal never reaches orders_place_total).
    assert metrics.value(PLACED, outcome="rejected") == 1
    assert metrics.value(TRANSITIONS, from_state="NEW", to_state="REJECTED") == 1
    assert metrics.total(RAIL_TRIPS) == 0
    # A resting limit order ran out its time in force.
    assert metrics.value(TRANSITIONS, from_state="ACK", to_state="EXPIRED") == 1
    # Its dropped acknowledgement arrived late, then the order was canceled.
    assert metrics.value(INJECTED, op="place", fault="dropped_ack") == 1
    assert metrics.value(TRANSITIONS, from_state="ACK", to_state="PENDING_CANCEL") == 1
    assert metrics.value(TRANSITIONS, from_state="PENDING_CANCEL", to_state="CANCELED") == 1


def test_the_venue_reject_carries_the_venues_reason() -> None:
    # The reason is free text, so it is no metric label: the place event holds it.
    result: DryRunResult = run_scenario(builtin_scenario("venue_lifecycle"))
    rejected = [e.payload for e in result.events.of(OrderPlaceEvent.KIND) if e.payload["outcome"] == "rejected"]
    assert [(p["qty"], p["reason"]) for p in rejected] == [("250", "too_large")]
    assert result.state == "STOPPED"
    assert result.health.status == "ok"


def test_a_gap_names_what_is_missing_and_the_metric_read(builtin_metrics: dict[str, MetricsSnapshot]) -> None:
    # Without venue_lifecycle the other built-ins leave exactly what issue 15 found uncovered.
    others = {name: m for name, m in builtin_metrics.items() if name != "venue_lifecycle"}
    read = ", ".join(others)
    assert coverage_gaps(others) == [
        f"order state(s) REJECTED, EXPIRED: no {TRANSITIONS}{{from_state or to_state=...}} > 0 in {read}",
        f"fault kind(s) dropped_ack: no {INJECTED}{{fault=...}} > 0 in {read}",
        f'a venue reject: no {PLACED}{{outcome="rejected"}} > 0 in {read}',
        f'an expiry: no {TRANSITIONS}{{to_state="EXPIRED"}} > 0 in {read}',
    ]
    # and a run that faults nothing leaves every fault kind and every op uncovered
    happy = {"happy_path": builtin_metrics["happy_path"]}
    gaps = coverage_gaps(happy)
    assert (
        f"fault kind(s) {', '.join(k.value for k in FaultKind)}: no {INJECTED}{{fault=...}} > 0 in happy_path" in gaps
    )
    assert f"fault op(s) {', '.join(o.value for o in FAULTABLE_OPS)}: no {INJECTED}{{op=...}} > 0 in happy_path" in gaps


def test_the_readme_table_says_what_each_builtin_reaches(builtin_metrics: dict[str, MetricsSnapshot]) -> None:
    # The README's table of built-ins is read from the same metrics, so it cannot drift.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    rows = {
        cells[0].strip("`"): cells
        for line in readme.splitlines()
        if line.startswith("| `")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    for name, metrics in builtin_metrics.items():
        assert name in rows, f"README.md: no row for the built-in scenario {name!r} in the table of built-ins"
        ended = [s.value for s in SessionState if metrics.value("orchestrator_state", state=s.value) == 1]
        assert rows[name][2].startswith(f"`{ended[0]}`"), name
        states = {cell.strip() for cell in rows[name][3].split(",")}
        assert states == {s.value for s in OrderState if state_visits(metrics, s)}, name
        kinds = {k.value for k in FaultKind if injected(metrics, kinds=(k,), ops=tuple(BrokerOp))}
        assert set(re.findall(r"`([a-z_]+)`", rows[name][4])) - {o.value for o in BrokerOp} == kinds, name
