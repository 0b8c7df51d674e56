"""What the NO-LIVE guard's audit hook costs.

A CPython audit hook sees every audit event of the process (imports, opens, compiles,
``id()``, ...) and cannot be removed, so the guard adds it lazily (the first time a guarded
test starts) and keeps the path without an active guard to one global read. Two figures:

* per event: ``id(x)`` (which raises the ``builtins.id`` event) in a tight loop, in a fresh
  process per configuration: no hook, a do-nothing ``lambda`` hook (the floor of any Python
  hook), our hook with no guard active, our hook inside a guarded test (a non-socket event);
* per suite: 200 plain tests after one test that requests ``dryrun_network_guard`` (so the
  hook is in place for all 200) vs the same suite whose first test requests nothing.

Rounds are interleaved and timed with ``time.process_time`` (PITFALLS 17); medians.

    python benchmarks/audit_hook.py [rounds]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOP = 2_000_000
OURS = "from pytest_peak_dryrun.netguard import NetworkGuard\n"
SETUPS = {
    "no hook": "",
    "lambda hook (floor)": "sys.addaudithook(lambda event, args: None)",
    "ours, no guard active": OURS + "NetworkGuard().install().uninstall()",
    "ours, guard active": OURS + "NetworkGuard().install()",
}
PER_EVENT = """
import sys, time
{setup}
x = object()
start = time.process_time()
for _ in range({loop}):
    id(x)
print(time.process_time() - start)
"""


def per_event_seconds(setup: str) -> float:
    code = PER_EVENT.format(setup=setup, loop=LOOP)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out)


def suite_seconds(root: Path, first_test: str) -> float:
    (root / "test_plain.py").write_text(
        first_test + "\n" + "\n".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(200))
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    subprocess.run(cmd, cwd=root, capture_output=True, check=True, env=env)
    return time.perf_counter() - start


def main(argv: list[str]) -> None:
    rounds = int(argv[0]) if argv else 7
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    samples: dict[str, list[float]] = {name: [] for name in SETUPS}
    for _ in range(rounds):
        for name, setup in SETUPS.items():
            samples[name].append(per_event_seconds(setup))
    base = statistics.median(samples["no hook"])
    print(f"id(x) x {LOOP:,}, median of {rounds} interleaved rounds")
    print(f"{'configuration':<24} {'ns per call':>12} {'ns added by the hook':>21}")
    for name, values in samples.items():
        per_call = statistics.median(values) / LOOP * 1e9
        print(f"{name:<24} {per_call:>12.1f} {per_call - base / LOOP * 1e9:>21.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        guarded, plain = [], []
        for _ in range(rounds):
            guarded.append(suite_seconds(root, "def test_guarded(dryrun_network_guard):\n    pass\n"))
            plain.append(suite_seconds(root, "def test_guarded():\n    pass\n"))
        on, off = statistics.median(guarded), statistics.median(plain)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'pytest, 1 guarded + 200 plain tests':<40} {on * 1000:>9.1f}ms")
        print(f"{'pytest, 1 unguarded + 200 plain tests':<40} {off * 1000:>9.1f}ms  ratio {on / off:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
