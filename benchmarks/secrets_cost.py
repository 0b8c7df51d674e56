"""What registered secrets cost a run: the E2E per order with 0 and with k secrets, side by side.

A CI machine usually has a few ``*_TOKEN`` variables, so the plugin's default registry is
rarely empty: the redaction with secrets must stay as cheap as the one without. Rounds are
interleaved (0 secrets, k secrets, 0, k, ...) and timed with ``time.process_time``; the
medians are compared, with the load average printed beside them (benchmarks README).

    python benchmarks/secrets_cost.py            # N = 5000 orders, k = 5 secrets, 5 rounds
    python benchmarks/secrets_cost.py 20000 20 7 # N, k, rounds
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _scenarios import scenario

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.redact import Redactor


def secrets(k: int) -> list[str]:
    """Token-like values of the lengths CI systems use (none occurs in a run)."""
    return [f"ghs_{i:04d}{'Zq9xK2vL7mN4pR8s' * 2}" for i in range(k)]


def one_run(n: int, redactor: Redactor) -> float:
    sc = scenario("e2e", n)
    with tempfile.TemporaryDirectory() as tmp:
        gc.collect()
        start = time.process_time()
        result = run_scenario(sc, run_id="secrets", out_dir=Path(tmp), keep_events=False, redactor=redactor)
        elapsed = time.process_time() - start
    assert result.state.value == "STOPPED", result.health.reasons
    return elapsed


def main(argv: list[str]) -> None:
    n, k, rounds = (int(a) for a in (argv + ["5000", "5", "5"][len(argv) :]))
    none: list[float] = []
    some: list[float] = []
    for _ in range(rounds):
        none.append(one_run(n, Redactor()))
        some.append(one_run(n, Redactor(secrets(k))))
    a, b = statistics.median(none) / n * 1e6, statistics.median(some) / n * 1e6
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"N = {n} orders, {rounds} interleaved rounds, load average {load:.2f}")
    print(f"  0 secrets: {a:8.2f} us/order (median)")
    print(f"{k:>3} secrets: {b:8.2f} us/order (median)  ratio {b / a:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
