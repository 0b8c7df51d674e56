"""What the snapshot costs a 100k-order run: writing the files and the golden comparison.

Measured side by side in one process: the dry run itself (events and audit streamed to disk),
then the session files (roll-ups, index with sha256 of every file, Prometheus text,
Markdown and HTML reports), then a golden comparison of the report done the way the
plugin's syrupy extension does it (canonical JSON, compared as text).

    python benchmarks/snapshot_cost.py [orders]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from pytest_peak_dryrun.core.canonical import dumps
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import Scenario
from pytest_peak_dryrun.report.session import write_session


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 100_000
    sc = Scenario.model_validate(
        {
            "name": "snapshot_cost",
            "seed": 1,
            "steps": n + 3,
            "generator": {"probability": 1.0, "stop_step": n, "qty_min": "2", "qty_max": "2"},
            "broker": {"fill_model": "partial", "partial_slices": 2},
            "reconcile_every": 10,
            "rails": {"max_consecutive_rejects": None},
            "starting_cash": "1000000000000",
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        start = time.perf_counter()
        result = run_scenario(sc, run_id="cost", out_dir=out, keep_events=False)
        run_s = time.perf_counter() - start
        start = time.perf_counter()
        write_session(out, [result.run_id])
        golden = out / "golden.json"
        golden.write_text(dumps(result.report))
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        assert golden.read_text() == dumps(result.report)
        compare_s = time.perf_counter() - start
    share = (write_s + compare_s) / run_s
    print(
        f"{n} orders: run {run_s:.2f}s, session files {write_s * 1000:.1f}ms, golden compare {compare_s * 1000:.2f}ms"
    )
    print(f"snapshot writing + golden comparison = {share * 100:.2f}% of the run's own time")


if __name__ == "__main__":
    main(sys.argv[1:])
