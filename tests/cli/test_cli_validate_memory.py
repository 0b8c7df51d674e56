"""``validate`` streams: its memory does not grow with the run (time is measured in benchmarks/validate_cost.py).

tracemalloc counts the Python allocations of the validation itself, so the bound holds
whatever the machine's load; it is not a timing assertion.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from pytest_peak_dryrun.console.validate import validate_dir
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.orchestrator import DryRunConfig
from pytest_peak_dryrun.core.scenario import Scenario
from pytest_peak_dryrun.report.session import write_session


def _snapshot(out: Path, steps: int) -> int:
    scenario = Scenario.model_validate(
        {
            "name": "memory",
            "seed": 1,
            "steps": steps,
            "instruments": {"DEMO-EUR": "100.00"},
            "generator": {"probability": 1.0, "qty_min": "2", "qty_max": "2", "cancel_share": 0.1},
            "broker": {"fill_model": "partial", "partial_slices": 2},
            "reconcile_every": 10,
            "rails": {"max_consecutive_rejects": None},
            "starting_cash": "1000000000000",
        }
    )
    result = run_scenario(scenario, out_dir=out, keep_events=False, config=DryRunConfig(max_steps=steps))
    write_session(out, [result.run_id])
    return sum(p.stat().st_size for p in out.rglob("*.jsonl"))


def _peak(directory: Path) -> int:
    tracemalloc.start()
    try:
        assert validate_dir(directory) == []
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_validate_memory_is_flat(tmp_path: Path) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    _snapshot(small, 200)
    jsonl_bytes = _snapshot(large, 2000)
    assert validate_dir(small) == []  # warm up: schemas and imports are not the run's
    small_peak, large_peak = _peak(small), _peak(large)
    # ten times the steps (about 6 MB of JSON Lines): the peak stays within a small margin
    assert large_peak < small_peak * 1.5 + 256 * 1024, (small_peak, large_peak)
    assert large_peak < jsonl_bytes / 5, (large_peak, jsonl_bytes)
