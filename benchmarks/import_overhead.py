"""What the installed plugin costs a pytest run that does not use it.

Side by side in one run, medians of several repetitions, each in a fresh process:

* ``pytest --version`` with the plugin vs ``-p no:peak_dryrun`` (pytest loads no plugins
  for --version, so this mostly shows the entry-point scan);
* a 200-test suite that uses no dry-run fixture, with the plugin vs ``-p no:peak_dryrun``:
  the figure that matters, since it includes importing and registering the plugin.

Also checks that importing ``pytest_peak_dryrun.plugin`` imports neither pydantic nor
prometheus_client (nor syrupy, nor the core).

    python benchmarks/import_overhead.py [repetitions]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTEST = [sys.executable, "-m", "pytest"]


def wall(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, capture_output=True, check=False, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    return time.perf_counter() - start


def paired(cmd: list[str], cwd: Path, reps: int) -> tuple[float, float]:
    """Medians with and without the plugin, alternating so drift hits both equally."""
    with_plugin, without = [], []
    for _ in range(reps):
        with_plugin.append(wall(cmd, cwd))
        without.append(wall([*cmd, "-p", "no:peak_dryrun"], cwd))
    return statistics.median(with_plugin), statistics.median(without)


def main(argv: list[str]) -> None:
    reps = int(argv[0]) if argv else 15
    code = (
        "import sys, pytest_peak_dryrun.plugin\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'prometheus_client', 'syrupy')"
        " or m.startswith('pytest_peak_dryrun.core'))\n"
        "print(','.join(bad) or 'none')\n"
    )
    heavy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    print(f"heavy modules imported by pytest_peak_dryrun.plugin: {heavy}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        tests = "\n".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(200))
        (root / "test_plain.py").write_text(tests)
        print(f"{'command':<36} {'with plugin':>12} {'-p no:peak_dryrun':>18} {'ratio':>7}")
        for label, cmd in (
            ("pytest --version", [*PYTEST, "--version"]),
            ("pytest (200 plain tests)", [*PYTEST, "-q", "-p", "no:cacheprovider"]),
        ):
            on, off = paired(cmd, root, reps)
            print(f"{label:<36} {on * 1000:>10.1f}ms {off * 1000:>16.1f}ms {on / off:>7.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
