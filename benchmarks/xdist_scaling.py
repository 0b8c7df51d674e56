"""40 dry-run tests, serial vs ``-n 2``, side by side in one run (medians of a few repetitions).

Each test runs a generated scenario (2,000 and then 10,000 steps) and writes its snapshot
files. pytest-xdist costs about a second of its own (two more interpreters importing pytest,
its plugins and the core), so the speed-up depends on how much work the 40 tests hold; both
sizes are printed.

    python benchmarks/xdist_scaling.py [repetitions]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = """
import pytest
from pytest_peak_dryrun import Scenario

SCENARIO = Scenario.model_validate({
    "name": "scaling", "steps": STEPS,
    "generator": {"probability": 0.5, "qty_min": "1", "qty_max": "5", "cancel_share": 0.1},
    "broker": {"fill_model": "partial", "partial_slices": 2},
    "rails": {"max_consecutive_rejects": None},
})

@pytest.mark.parametrize("seed", range(40))
def test_dryrun(run_dryrun, seed):
    assert run_dryrun(SCENARIO, seed=seed).state == "STOPPED"
"""


def run(root: Path, *extra: str) -> float:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--dryrun-snapshot=out", *extra]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return elapsed


def main(argv: list[str]) -> None:
    reps = int(argv[0]) if argv else 3
    for steps in (2_000, 10_000):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "pytest.ini").write_text("[pytest]\n")
            (root / "test_scaling.py").write_text(SUITE.replace("STEPS", str(steps)))
            serial, parallel = [], []
            for _ in range(reps):
                serial.append(run(root, "-p", "no:xdist"))
                parallel.append(run(root, "-n", "2"))
            s, p = statistics.median(serial), statistics.median(parallel)
            print(f"40 dry-run tests of {steps} steps: serial {s:.2f}s, -n 2 {p:.2f}s, speed-up {s / p:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
