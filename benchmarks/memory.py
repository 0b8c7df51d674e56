"""Peak RSS of long dry runs with events streamed to disk: memory must not grow with steps.

Each run happens in a fresh interpreter that reports its own peak RSS (``ru_maxrss``), so the
figures do not mix. The scenario places an order every step (partial fills, a reconcile pass
every 10 steps), writes events.jsonl and audit.jsonl as it goes and keeps nothing else.

    python benchmarks/memory.py                      # 10k, 100k and 1M steps
    python benchmarks/memory.py 10000 100000         # chosen step counts
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.orchestrator import DryRunConfig
from pytest_peak_dryrun.core.scenario import Scenario

steps = int(sys.argv[1])
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sc = Scenario.model_validate({
    "name": "memory", "seed": 1, "steps": steps,
    "instruments": {"DEMO-EUR": "100.00"},
    "generator": {"probability": 1.0, "qty_min": "2", "qty_max": "2", "cancel_share": 0.1},
    "broker": {"fill_model": "partial", "partial_slices": 2},
    "reconcile_every": 10,
    "rails": {"max_consecutive_rejects": None},
    "starting_cash": "1000000000000",
})
with tempfile.TemporaryDirectory() as tmp:
    start = time.perf_counter()
    result = run_scenario(sc, run_id="memory", out_dir=Path(tmp), keep_events=False,
                          config=DryRunConfig(max_steps=steps))
    elapsed = time.perf_counter() - start
    events = sum(1 for _ in open(Path(tmp) / "runs" / "memory" / "events.jsonl"))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"steps": steps, "events": events, "peak_kib": peak, "baseline_kib": baseline,
                  "seconds": elapsed, "state": result.state.value}))
"""


def measure(steps: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(steps)], capture_output=True, text=True, check=True)
    data: dict[str, float] = json.loads(out.stdout)
    return data


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [10_000, 100_000, 1_000_000]
    print(f"{'steps':>9}  {'events':>10}  {'peak RSS MiB':>12}  {'after import MiB':>16}  {'seconds':>8}")
    rows = []
    for steps in sizes:
        row = measure(steps)
        rows.append(row)
        print(
            f"{steps:>9}  {row['events']:>10}  {row['peak_kib'] / 1024:>12.1f}  "
            f"{row['baseline_kib'] / 1024:>16.1f}  {row['seconds']:>8.1f}"
        )
    if len(rows) >= 2:
        first, last = rows[-2], rows[-1]
        print(
            f"peak RSS of {int(last['steps'])} steps is {last['peak_kib'] / first['peak_kib']:.3f}x "
            f"that of {int(first['steps'])} steps"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
