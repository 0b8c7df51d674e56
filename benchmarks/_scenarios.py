"""The two order shapes the benchmarks put through a dry run, built and run in one place.

- ``e2e``: each order is placed, acknowledged and filled in two partial fills (PARTIAL, then
  FILLED): the full lifecycle ``throughput.py``, ``profile_e2e.py``, ``audit_path.py`` and
  ``secrets_cost.py`` measure.
- ``peers``: each order fills at once in one fill (immediate fills, market orders): the
  shape the peer engines of ``peers.py`` run.

Both: one market order of qty 2 per step for N steps (side drawn by the seeded generator), a
reconcile pass every 10 steps, no reject rail, cash enough for every order. The run goes
through the package's stable public entry points only (``run_scenario``, ``parse_scenario``,
the result's ``.state``, ``.status.orders.by_state`` and ``.report``), so these scripts keep
working while the internals change.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from _timing import cpu_seconds

from pytest_peak_dryrun import Scenario, parse_scenario, run_scenario

__all__ = ["Measure", "Shape", "run_orders", "scenario"]

Shape = Literal["e2e", "peers"]

_BROKER: dict[str, dict[str, Any]] = {
    "e2e": {"fill_model": "partial", "partial_slices": 2},
    "peers": {"fill_model": "immediate"},
}
#: steps after the last order, so the last order is FILLED before the run stops
_TAIL_STEPS = {"e2e": 3, "peers": 1}


def scenario(shape: Shape, orders: int) -> Scenario:
    """A scenario of ``orders`` orders of the given shape."""
    return parse_scenario(
        {
            "name": f"bench_{shape}",
            "seed": 1,
            "steps": orders + _TAIL_STEPS[shape],
            "instruments": {"DEMO-EUR": "100.00"},
            "generator": {"probability": 1.0, "stop_step": orders, "qty_min": "2", "qty_max": "2"},
            "broker": _BROKER[shape],
            "reconcile_every": 10,
            "rails": {"max_consecutive_rejects": None},
            "starting_cash": "1000000000000",
        },
        source=f"benchmarks/_scenarios.py ({shape})",
    )


Measure = Callable[[Callable[[], Any]], tuple[float, Any]]


def run_orders(
    sc: Scenario, orders: int, *, run_id: str, measure: Measure = cpu_seconds
) -> tuple[float, dict[str, Any]]:
    """CPU seconds of one ``run_scenario`` call (metrics, hash-chained audit log and
    ``events.jsonl`` streamed to a temp dir, no events kept), and figures of the run
    (``events``: lines in the audit log). Checks that every order was FILLED. ``measure``
    wraps the call (a profiler, say) and returns ``(seconds, its result)``."""
    with tempfile.TemporaryDirectory() as tmp:
        seconds, result = measure(lambda: run_scenario(sc, run_id=run_id, out_dir=Path(tmp), keep_events=False))
    report = result.report
    assert result.state.value == "STOPPED", report.get("health")
    filled = result.status.orders.by_state.get("FILLED", 0)
    assert filled == orders, (filled, orders)
    return seconds, {"events": report["audit"]["events"], "filled": filled}
