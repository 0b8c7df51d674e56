"""What each pytest plugin that ``pip install pytest-peak-dryrun`` can bring costs a plain suite.

A plugin installed in an environment loads into *every* pytest session there, whether the
suite uses it or not. This measures each one on its own against bare pytest, and the sets
of them an install brings, on a suite that uses none of them (200 trivial tests):

* ``peak_dryrun`` (this plugin), ``syrupy`` (needed by ``dryrun_snapshot`` and the scenario
  goldens), ``pytest-json-report`` and ``pytest-metadata`` (which pytest-json-report
  requires) one at a time;
* the four together (what 0.1.0 installed) and ours + syrupy (the hard dependencies since
  issue 14; pytest-json-report is the ``json-report`` extra).

Every case runs pytest in a fresh process with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` and the
plugins named with ``-p``, so each figure holds exactly the plugins it names, whatever else
the environment has installed. Cases are interleaved, timed as the CPU time of the child
process (user + system, from ``RUSAGE_CHILDREN``: waiting for a core is not counted), and
reported as the median of the per-round ratios to bare pytest, with the load average
(see ``_timing.py`` and ``benchmarks/README.md``).

    python benchmarks/plugin_footprint.py [rounds]
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _timing import Case, interleave, load_range, median_ratio

N_TESTS = 200
#: plugin -> the ``-p`` arguments that load exactly it
PLUGINS: dict[str, tuple[str, ...]] = {
    "peak_dryrun": ("-p", "pytest_peak_dryrun.plugin"),
    "syrupy": ("-p", "syrupy"),
    "json-report": ("-p", "pytest_jsonreport.plugin"),
    "metadata": ("-p", "pytest_metadata.plugin"),
}
CASES: dict[str, tuple[str, ...]] = {
    "bare pytest": (),
    "+ peak_dryrun": PLUGINS["peak_dryrun"],
    "+ syrupy": PLUGINS["syrupy"],
    "+ json-report": PLUGINS["json-report"],
    "+ metadata": PLUGINS["metadata"],
    "+ json-report + metadata": PLUGINS["json-report"] + PLUGINS["metadata"],
    "ours + syrupy (hard deps)": PLUGINS["peak_dryrun"] + PLUGINS["syrupy"],
    "all four (0.1.0 install)": tuple(arg for args in PLUGINS.values() for arg in args),
}


def child_cpu(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    """CPU seconds (user + system) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout.decode()}{done.stderr.decode()}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def make_case(name: str, plugins: tuple[str, ...], root: Path, env: dict[str, str]) -> Case:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugins]

    def run() -> tuple[float, int, dict[str, Any]]:
        return child_cpu(cmd, root, env), N_TESTS, {}

    return Case(name, run)


def main(argv: list[str]) -> None:
    rounds = int(argv[0]) if argv else 9
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        (root / "test_plain.py").write_text(
            "\n".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(N_TESTS))
        )
        cases = [make_case(name, plugins, root, env) for name, plugins in CASES.items()]
        samples = interleave(cases, rounds, unit="test")
    base = samples["bare pytest"]
    base_ms = statistics.median(s.seconds for s in base) * 1000
    print(f"\n{N_TESTS} plain tests, CPU of the pytest process, medians of {rounds} interleaved rounds")
    print(f"Python {sys.version.split()[0]}, {load_range(*samples.values())}")
    print(f"{'plugins loaded':<28} {'CPU ms':>8} {'added ms':>9} {'ratio':>7}")
    for name, group in samples.items():
        ms = statistics.median(s.seconds for s in group) * 1000
        added = statistics.median((s.seconds - b.seconds) * 1000 for s, b in zip(group, base, strict=True))
        ratio, _ = median_ratio(group, base)
        print(f"{name:<28} {ms:>8.1f} {added if group is not base else 0.0:>+9.1f} {ratio:>7.3f}")
    print(f"(bare pytest: {base_ms:.1f} ms)")


if __name__ == "__main__":
    main(sys.argv[1:])
