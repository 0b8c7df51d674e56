"""What ``peak-dryrun validate`` costs next to the run it checks: time and peak memory.

For each step count: a dry run writes its snapshot directory to a temporary DIR (events and
audit streamed to disk, then the session files), then ``validate`` checks that DIR. Each
happens in a fresh interpreter that reports its own time and peak RSS (``ru_maxrss``), so the
figures do not mix. The target (issue 12): validate streams, so its peak RSS stays flat as
the run grows, and it takes at most the run's own time (ratio <= 1). The machine's load
average (1 min) is printed beside every figure: absolute seconds swing with it, the ratio of
two figures taken back to back much less.

    python benchmarks/validate_cost.py                 # 5,000 and 50,000 steps
    python benchmarks/validate_cost.py 50000 200000    # chosen step counts
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

RUN = r"""
import json, os, resource, sys, time
from pathlib import Path
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.orchestrator import DryRunConfig
from pytest_peak_dryrun.core.scenario import Scenario
from pytest_peak_dryrun.report.session import write_session

steps, out = int(sys.argv[1]), Path(sys.argv[2])
sc = Scenario.model_validate({
    "name": "validate_cost", "seed": 1, "steps": steps,
    "instruments": {"DEMO-EUR": "100.00"},
    "generator": {"probability": 1.0, "qty_min": "2", "qty_max": "2", "cancel_share": 0.1},
    "broker": {"fill_model": "partial", "partial_slices": 2},
    "reconcile_every": 10,
    "rails": {"max_consecutive_rejects": None},
    "starting_cash": "1000000000000",
})
start = time.perf_counter()
result = run_scenario(sc, run_id="validate_cost", out_dir=out, keep_events=False, config=DryRunConfig(max_steps=steps))
write_session(out, [result.run_id])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kib": peak, "load": os.getloadavg()[0],
                  "events": result.orchestrator.stream.seq}))
"""

VALIDATE = r"""
import json, os, resource, sys, time
from pathlib import Path
from pytest_peak_dryrun.console.validate import validate_dir

out = Path(sys.argv[1])
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
problems = validate_dir(out)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kib": peak, "baseline_kib": baseline, "load": os.getloadavg()[0],
                  "problems": [f"{p.path}: {p.message}" for p in problems if not p.note]}))
"""


def _child(code: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def measure(steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "snap")
        run = _child(RUN, str(steps), out)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
        check = _child(VALIDATE, out)
    if check["problems"]:
        raise SystemExit(f"validate found problems in a fresh run: {check['problems']}")
    return {"steps": steps, "bytes": size, "run": run, "validate": check}


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [5_000, 50_000]
    print(
        f"{'steps':>7}  {'events':>8}  {'DIR MiB':>7}  {'run s':>6} {'(load)':>6}  {'validate s':>10} {'(load)':>6}  "
        f"{'ratio':>5}  {'validate peak RSS MiB':>21} {'(after import)':>14} {'(load)':>6}"
    )
    rows = []
    for steps in sizes:
        row = measure(steps)
        rows.append(row)
        run, check = row["run"], row["validate"]
        ratio = check["seconds"] / run["seconds"]
        print(
            f"{steps:>7}  {run['events']:>8}  {row['bytes'] / 2**20:>7.1f}  "
            f"{run['seconds']:>6.2f} ({run['load']:>4.2f})  {check['seconds']:>10.2f} ({check['load']:>4.2f})  "
            f"{ratio:>5.2f}  {check['peak_kib'] / 1024:>21.1f} {check['baseline_kib'] / 1024:>14.1f} "
            f"({check['load']:>4.2f})"
        )
    if len(rows) >= 2:
        first, last = rows[0]["validate"], rows[-1]["validate"]
        print(
            f"validate's peak RSS for {rows[-1]['steps']} steps is {last['peak_kib'] / first['peak_kib']:.3f}x "
            f"that for {rows[0]['steps']} steps"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
