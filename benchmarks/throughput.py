"""Orders per second through the full E2E, side by side with a pure-Python floor.

Each order: place -> ack -> two partial fills (PARTIAL, then FILLED), with the metrics
collector, the hash-chained audit log and events streamed to files, and a reconcile pass
every 10 steps. The floor, measured in the same process right before: per order one slotted
record, three transitions kept in a dict, five counter increments, three appended tuples.

    python benchmarks/throughput.py            # N = 1k, 10k, 100k
    python benchmarks/throughput.py 1000 5000  # chosen N
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import Scenario


def scenario(n: int) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "throughput",
            "seed": 1,
            "steps": n + 3,
            "instruments": {"DEMO-EUR": "100.00"},
            "generator": {"probability": 1.0, "stop_step": n, "qty_min": "2", "qty_max": "2"},
            "broker": {"fill_model": "partial", "partial_slices": 2},
            "reconcile_every": 10,
            "rails": {"max_consecutive_rejects": None},
            "starting_cash": str(Decimal(10) ** 12),
        }
    )


class _Record:
    __slots__ = ("filled", "order_id", "qty", "state")

    def __init__(self, order_id: int, qty: int) -> None:
        self.order_id = order_id
        self.qty = qty
        self.filled = 0
        self.state = "NEW"


def floor(n: int) -> float:
    """Seconds for the floor's work on n orders."""
    transitions: dict[int, list[str]] = {}
    counters = {"place": 0, "ack": 0, "partial": 0, "filled": 0, "fill": 0}
    log: list[tuple[int, str, int]] = []
    start = time.perf_counter()
    for i in range(n):
        rec = _Record(i, 2)
        transitions[i] = ["NEW>ACK", "ACK>PARTIAL", "PARTIAL>FILLED"]
        counters["place"] += 1
        counters["ack"] += 1
        counters["partial"] += 1
        counters["filled"] += 1
        counters["fill"] += 1
        log.append((i, "ack", 0))
        log.append((i, "fill", 1))
        log.append((i, "fill", 1))
        rec.state = "FILLED"
    return time.perf_counter() - start


def e2e(n: int) -> tuple[float, int]:
    sc = scenario(n)
    with tempfile.TemporaryDirectory() as tmp:
        gc.collect()
        start = time.perf_counter()
        result = run_scenario(sc, run_id="throughput", out_dir=Path(tmp), keep_events=False)
        elapsed = time.perf_counter() - start
    filled = result.status.orders.by_state.get("FILLED", 0)  # type: ignore[call-overload]
    assert result.state.value == "STOPPED", result.health.reasons
    assert filled == n, (filled, n)
    return elapsed, filled


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1_000, 10_000, 100_000]
    print(f"{'N':>8}  {'E2E us/order':>12}  {'floor us/order':>14}  {'ratio':>6}")
    for n in sizes:
        floor_s = min(floor(n) for _ in range(3))
        e2e_s, _filled = e2e(n)
        us, fus = e2e_s / n * 1e6, floor_s / n * 1e6
        print(f"{n:>8}  {us:>12.2f}  {fus:>14.3f}  {us / fus:>5.1f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
