"""Property tests: invariants of the whole stack under generated scenarios and faults.

(a) whatever the plan and the fault schedule: every transition is legal, no order is
    filled beyond its quantity, no fill is applied twice, and every placed order is
    accounted for in exactly one state;
(b) the metrics snapshot equals the counts recomputed from ``events.jsonl`` alone;
(c) the Prometheus text parses back to the same numbers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from pytest_peak_dryrun.core.broker import BrokerOp, MockBroker, MockBrokerConfig
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.errors import BrokerError, RetryableBrokerError, UnknownOrderError
from pytest_peak_dryrun.core.faults import FAULT_OPS, FaultInjector, FaultKind
from pytest_peak_dryrun.core.model import OrderRequest
from pytest_peak_dryrun.core.orders import LEGAL_TRANSITIONS, OPEN_STATES, OrderState
from pytest_peak_dryrun.core.scenario import Scenario
from pytest_peak_dryrun.core.snapshots import MetricsSnapshot
from pytest_peak_dryrun.report.prometheus import render_prometheus

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
T = TypeVar("T")
FAULT_PAIRS = sorted((kind.value, op.value) for kind, ops in FAULT_OPS.items() for op in ops)
OPS = [op.value for op in BrokerOp]
KINDS = [kind.value for kind in FaultKind]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    steps = draw(st.integers(min_value=1, max_value=25))
    qty_min = draw(st.sampled_from(["0.5", "1", "2"]))
    generator = {
        "probability": draw(st.floats(min_value=0.2, max_value=1.0)),
        "qty_min": qty_min,
        "qty_max": str(Decimal(qty_min) + draw(st.sampled_from([0, 1, 5, 20]))),
        "limit_share": draw(st.floats(min_value=0.0, max_value=1.0)),
        "limit_offset_ticks": draw(st.integers(min_value=0, max_value=20)),
        "cancel_share": draw(st.floats(min_value=0.0, max_value=1.0)),
        "cancel_after_steps": draw(st.integers(min_value=1, max_value=4)),
        "tif_steps": draw(st.none() | st.integers(min_value=1, max_value=5)),
    }
    faults = draw(
        st.lists(
            st.builds(
                lambda step, pair, times: {"step": step, "kind": pair[0], "op": pair[1], "times": times},
                st.integers(min_value=1, max_value=steps),
                st.sampled_from(FAULT_PAIRS),
                st.integers(min_value=1, max_value=3),
            ),
            max_size=6,
        )
    )
    fault_rate = draw(
        st.none()
        | st.builds(
            lambda rate, kinds, ops: {"rate": rate, "kinds": kinds, "ops": ops},
            st.floats(min_value=0.0, max_value=0.4),
            st.lists(st.sampled_from(KINDS), min_size=1, max_size=4, unique=True),
            st.lists(st.sampled_from(OPS), min_size=1, max_size=4, unique=True),
        )
    )
    data: dict[str, Any] = {
        "name": "prop",
        "seed": draw(st.integers(min_value=0, max_value=2**32)),
        "steps": steps,
        "instruments": draw(st.sampled_from([{"DEMO-EUR": "100.00"}, {"DEMO-EUR": "100.00", "DEMO-USD": "0.05"}])),
        "generator": generator,
        "broker": {
            "fill_model": draw(st.sampled_from(["immediate", "partial", "price_path", "never"])),
            "ack_latency_steps": draw(st.integers(min_value=0, max_value=2)),
            "cancel_latency_steps": draw(st.integers(min_value=0, max_value=2)),
            "partial_slices": draw(st.integers(min_value=1, max_value=4)),
            "max_order_qty": draw(st.none() | st.sampled_from(["3", "10"])),
        },
        "faults": faults,
        "fault_rate": fault_rate,
        "rails": draw(
            st.sampled_from(
                [
                    {},
                    {"max_duplicate_fills": None, "max_consecutive_rejects": None, "max_retries_per_step": None},
                    {"max_open_orders": 3, "max_position": "30", "max_duplicate_fills": 2},
                ]
            )
        ),
        "retry": {"max_attempts": draw(st.integers(min_value=1, max_value=4))},
        "reconcile_every": draw(st.integers(min_value=1, max_value=5)),
        "stuck_after_steps": draw(st.integers(min_value=1, max_value=10)),
        "stop_timeout_steps": draw(st.integers(min_value=0, max_value=4)),
    }
    return Scenario.model_validate(data)


def _events(run_dir: Path) -> list[dict[str, Any]]:
    with open(run_dir / "events.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_orders_are_accounted_for_under_any_faults(scenario: Scenario) -> None:
    result = run_scenario(scenario)
    events = [e.as_dict(result.run_id) for e in result.events]

    # no illegal transition, neither raised nor reported
    assert result.metrics.value("safety_rail_trips_total", rail="illegal_transition") == 0
    state: dict[str, str] = {}
    placed_qty: dict[str, Decimal] = {}
    for e in events:
        p = e["payload"]
        if e["kind"] == "order_place":
            assert p["order_id"] not in placed_qty
            placed_qty[p["order_id"]] = Decimal(str(p["qty"]))
            state[p["order_id"]] = "NEW"
        elif e["kind"] == "order_transition":
            assert state[p["order_id"]] == p["from_state"]
            assert OrderState(p["to_state"]) in LEGAL_TRANSITIONS[OrderState(p["from_state"])]
            state[p["order_id"]] = p["to_state"]

    # no fill applied twice, never more than the order's quantity
    fill_ids = [e["payload"]["fill_id"] for e in events if e["kind"] == "fill"]
    assert len(fill_ids) == len(set(fill_ids))
    filled: Counter[str] = Counter()
    for e in events:
        if e["kind"] == "fill":
            p = e["payload"]
            filled[p["order_id"]] += Decimal(str(p["qty"]))  # type: ignore[assignment]
            assert Decimal(str(p["cum_qty"])) == filled[p["order_id"]]
            assert filled[p["order_id"]] <= placed_qty[p["order_id"]]
    assert result.metrics.value("reconcile_mismatches_total", kind="fill_qty_mismatch") >= 0
    assert Decimal(result.report["orders"]["filled_qty"]) == sum(filled.values(), Decimal(0))

    # every placed order is in exactly one state
    orders = result.status.orders
    by_state = {s.value: n for s, n in orders.by_state.items()}
    open_count = sum(by_state[s.value] for s in OPEN_STATES)
    assert open_count == orders.open
    assert (
        open_count + by_state["FILLED"] + by_state["CANCELED"] + by_state["REJECTED"] + by_state["EXPIRED"]
        == orders.placed
    )
    assert orders.placed == len(placed_qty) == result.count("order_place")
    assert by_state == {s.value: list(state.values()).count(s.value) for s in OrderState}
    # a stopped session has nothing open
    if result.report["final_state"] == "STOPPED":
        assert orders.open == 0


def _recount(events: list[dict[str, Any]]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The ten metrics and the fault counters, recomputed from the event stream without MetricsCollector."""
    counters = {
        "order_place": ("orders_place_total", ("outcome",)),
        "order_cancel": ("orders_cancel_total", ("outcome",)),
        "order_query": ("orders_query_total", ("outcome",)),
        "order_transition": ("order_state_transitions_total", ("from_state", "to_state")),
        "reconcile_mismatch": ("reconcile_mismatches_total", ("kind",)),
        "retry": ("retry_attempts_total", ("op", "reason")),
        "rail_trip": ("safety_rail_trips_total", ("rail",)),
        "fault_injected": ("faults_injected_total", ("op", "fault")),
        "fault_skipped": ("faults_skipped_total", ("op", "fault")),
    }
    counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for e in events:
        spec = counters.get(e["kind"])
        if spec is not None:
            name, labels = spec
            # label order as metrics.json has it: canonical JSON sorts the keys
            counts[(name, tuple(sorted((label, e["payload"][label]) for label in labels)))] += 1
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = dict(counts)
    states = [e["payload"]["to_state"] for e in events if e["kind"] == "session_state"]
    current = states[-1] if states else "INIT"
    for s in ("INIT", "PREFLIGHT_OK", "PREFLIGHT_FAILED", "DRYRUN_ACTIVE", "STOPPING", "STOPPED"):
        out[("orchestrator_state", (("state", s),))] = 1.0 if s == current else 0.0
    out[("orchestrator_state", (("state", "ERROR_REQUIRES_OPERATOR"),))] = (
        1.0 if current == "ERROR_REQUIRES_OPERATOR" else 0.0
    )
    out[("last_audit_event_ts", ())] = events[-1]["ts"]
    clean = [e["ts"] for e in events if e["kind"] == "reconcile_pass" and e["payload"]["ok"]]
    if clean:
        out[("reconciler_last_ok_ts", ())] = clean[-1]
    return out


def _snapshot_numbers(metrics_doc: dict[str, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (family["name"], tuple(sample["labels"].items())): float(sample["value"])
        for family in metrics_doc["metrics"]
        for sample in family["samples"]
    }


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_metrics_snapshot_equals_a_recount_of_events_jsonl(
    scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("metrics")
    result = run_scenario(scenario, out_dir=out)
    assert result.run_dir is not None
    events = _events(result.run_dir)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    metrics_doc = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert _snapshot_numbers(metrics_doc) == _recount(events)


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_prometheus_text_parses_back_to_the_snapshot_numbers(
    scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("prom")
    result = run_scenario(scenario, out_dir=out, keep_events=False)
    assert result.run_dir is not None
    metrics_doc = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    text = render_prometheus(MetricsSnapshot.model_validate(metrics_doc).metrics)
    parsed = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    expected = {
        (name, tuple(sorted(labels))): value for (name, labels), value in _snapshot_numbers(metrics_doc).items()
    }
    assert parsed == expected
    assert "_created" not in text


# -- the mock broker on its own ----------------------------------------------------------------

broker_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("place"),
            st.sampled_from(["0", "1", "2.5", "7"]),
            st.sampled_from(["MARKET", "LIMIT"]),
            st.sampled_from(["BUY", "SELL"]),
            st.none() | st.integers(min_value=1, max_value=3),
            st.sampled_from(["99.90", "99.99", "100.00", "100.01", "100.10"]),  # a limit, if LIMIT
        ),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("query"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("step")),
        st.tuples(st.just("fills")),
    ),
    max_size=40,
)


@PROPERTY_SETTINGS
@given(
    ops=broker_ops,
    seed=st.integers(min_value=0, max_value=1_000),
    fill_model=st.sampled_from(["immediate", "partial", "price_path", "never"]),
    latency=st.integers(min_value=0, max_value=2),
    faults=st.lists(
        st.builds(
            lambda step, pair, times: {"step": step, "kind": pair[0], "op": pair[1], "times": times},
            st.integers(min_value=1, max_value=10),
            st.sampled_from(FAULT_PAIRS),
            st.integers(min_value=1, max_value=3),
        ),
        max_size=5,
    ),
)
def test_mock_broker_invariants_under_any_operation_sequence(
    ops: list[tuple[Any, ...]], seed: int, fill_model: str, latency: int, faults: list[dict[str, Any]]
) -> None:
    emitted: list[dict[str, Any]] = []
    clock = SimClock()
    clock.advance_step()
    config = MockBrokerConfig(
        seed=seed,
        fill_model=fill_model,
        ack_latency_steps=latency,
        cancel_latency_steps=latency,
        partial_slices=3,
    )
    venue = MockBroker(config, clock=clock)
    # the venue behind the one fault mechanism, as every dry run sees it
    broker = FaultInjector(
        venue, faults=faults, clock=clock, emit=lambda event: emitted.append(msgspec.to_builtins(event)), seed=seed
    )
    accepted: dict[str, Decimal] = {}  # broker order id -> quantity
    keys = 0
    for op in ops:
        try:
            if op[0] == "place":
                _, qty, order_type, side, tif, limit_price = op
                keys += 1
                request = OrderRequest(
                    instrument="DEMO-EUR",
                    side=side,
                    qty=Decimal(qty),
                    order_type=order_type,
                    limit_price=Decimal(limit_price) if order_type == "LIMIT" else None,
                    tif_steps=tif,
                )
                boid = broker.place_order(request, idempotency_key=f"K-{keys}")
                accepted[boid] = Decimal(qty)
            elif op[0] in ("cancel", "query") and accepted:
                boid = sorted(accepted)[op[1] % len(accepted)]
                if op[0] == "cancel":
                    broker.cancel_order(boid)
                else:
                    assert broker.query_order(boid).filled_qty <= accepted[boid]
            elif op[0] == "step":
                clock.advance_step()
            elif op[0] == "fills":
                broker.iter_fills(0)
        except BrokerError:
            pass  # injected faults and rejections are the broker's answers; nothing else may escape
    # let everything due happen; every fault has a finite budget, so retrying gets through
    for _ in range(10):
        clock.advance_step()

    def settle(call: Callable[[], T]) -> T:
        for _ in range(100):
            try:
                return call()
            except RetryableBrokerError:
                continue
        raise AssertionError("a fault never ran out")

    _, fills = settle(lambda: broker.iter_fills(0))
    # broker ids are sequential; a timeout after acceptance leaves orders the caller never heard of
    orders = []
    while True:
        boid = f"MB-{len(orders) + 1:08d}"
        try:
            orders.append(settle(lambda boid=boid: broker.query_order(boid)))
        except UnknownOrderError:
            break
    assert set(accepted) <= {o.broker_order_id for o in orders}
    duplicates = sum(1 for p in emitted if p["fault"] == "duplicate_fill")
    fill_ids = [f.fill_id for f in fills]
    assert len(fill_ids) - len(set(fill_ids)) == duplicates
    filled: Counter[str] = Counter()
    for fill in {f.fill_id: f for f in fills}.values():
        filled[fill.broker_order_id] += fill.qty  # type: ignore[assignment]
    by_state: Counter[str] = Counter()
    by_id = {order.broker_order_id: order for order in orders}
    for fill in fills:
        # limit-aware fills: never at a worse price than the limit, whatever the model or fault
        limit = by_id[fill.broker_order_id].limit_price
        if limit is not None:
            assert fill.price <= limit if by_id[fill.broker_order_id].side == "BUY" else fill.price >= limit
        if fill_model != "price_path":
            assert fill.price in (Decimal("100.00"), limit), "only the price path moves the market"
    for order in orders:
        assert order.filled_qty == filled[order.broker_order_id or ""]
        assert order.filled_qty <= order.qty
        by_state[order.state.value] += 1
    open_states = {"NEW", "ACK", "PARTIAL", "PENDING_CANCEL"}
    assert set(by_state) <= open_states | {"FILLED", "CANCELED", "EXPIRED"}
    open_now = sum(n for state, n in by_state.items() if state in open_states)
    assert open_now == len(broker.list_open_orders()) == venue.open_order_count
    assert open_now + by_state["FILLED"] + by_state["CANCELED"] + by_state["EXPIRED"] == len(orders)
