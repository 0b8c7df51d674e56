"""pytest-json-report: per-test dry-run metadata and the snapshot directory in the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = """
import pytest

@pytest.mark.dryrun("tripwire")
def test_trip(dryrun):
    pass

def test_plain():
    pass
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_each_dryrun_test_carries_its_runs(pytester: pytest.Pytester, xdist: bool) -> None:
    pytester.makepyfile(test_jr=TESTS)
    args = ["--json-report", "--json-report-file=report.json", "--dryrun-snapshot=out"]
    if xdist:
        args += ["-n", "2"]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "report.json").read_text())
    tests = {t["nodeid"]: t for t in report["tests"]}
    runs = tests["test_jr.py::test_trip"]["metadata"]["dryrun"]
    assert runs == [
        {
            "run_id": "test_jr-test_trip-86b21b22e540",
            "nodeid": "test_jr.py::test_trip",
            "scenario": "tripwire",
            "state": "ERROR_REQUIRES_OPERATOR",
            "health": "failed",
            "placed": 1,
            "filled": 1,
            "canceled": 0,
            "rejected": 0,
            "mismatches": 0,
            "rail_trips": 1,
            "faults_skipped": {},
            "files": [
                "runs/test_jr-test_trip-86b21b22e540/audit.jsonl",
                "runs/test_jr-test_trip-86b21b22e540/events.jsonl",
                "runs/test_jr-test_trip-86b21b22e540/health.json",
                "runs/test_jr-test_trip-86b21b22e540/metrics.json",
                "runs/test_jr-test_trip-86b21b22e540/report.json",
                "runs/test_jr-test_trip-86b21b22e540/status.json",
            ],
        }
    ]
    assert "dryrun" not in tests["test_jr.py::test_plain"].get("metadata", {})
    out = pytester.path / "out"
    assert report["dryrun"] == {
        "snapshot_dir": str(out),
        "report": str(out / "dryrun_status_snapshot.md"),
        "runs": 1,
        "problems": [],
    }


def test_runs_without_json_report_are_unaffected(pytester: pytest.Pytester) -> None:
    # the json-report hooks are optional: no "unknown hook" INTERNALERROR without the option
    pytester.makepyfile(test_jr=TESTS)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    # the entry point names (pytest_jsonreport, metadata): "-p no:json-report" blocks nothing
    result = pytester.runpytest_subprocess("-p", "no:pytest_jsonreport", "-p", "no:metadata", "--dryrun-snapshot=out")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line("*plugins:*json-report*")


ONLY_OURS = """
import sys

def pytest_unconfigure(config):
    print("LOADED", sorted(m for m in sys.modules if m.startswith(("pytest_jsonreport", "pytest_metadata"))))
"""


def test_a_plain_install_needs_neither_json_report_nor_metadata(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``pip install pytest-peak-dryrun`` without the extra gives: our plugin and syrupy only.

    Every other plugin is kept out (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), so this is a session
    in an environment without pytest-json-report: dry runs, their golden files and a scenario
    file with its golden all work, and nothing of ours imports either module.
    """
    pytester.makeconftest(ONLY_OURS)
    pytester.makepyfile(
        test_plain="""
        import pytest

        @pytest.mark.dryrun("happy_path")
        def test_golden(dryrun, dryrun_snapshot):
            assert dryrun_snapshot == dryrun.report
        """
    )
    pytester.makefile(".toml", dryrun_small='name = "small"\nsteps = 3\n[instruments]\n"DEMO-EUR" = "100.00"\n')
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    args = ("-p", "pytest_peak_dryrun.plugin", "-p", "syrupy", "-s", "--dryrun-snapshot=out")
    result = pytester.runpytest_subprocess(*args, "--snapshot-update")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*2 snapshots generated.*"])
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["plugins: syrupy-*", "*2 snapshots passed.*", "LOADED []"])
    assert (pytester.path / "out" / "dryrun_status_snapshot.md").is_file()


def test_json_report_is_the_extra_and_in_the_test_extra() -> None:
    """The install-footprint decision (README): syrupy is the only other pytest plugin a plain
    install brings; pytest-json-report is the ``json-report`` extra, and the ``test`` extra CI
    installs has it, so this file runs in CI."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text("utf-8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower() for req in requirements}

    hard = names(project["dependencies"])
    assert {"syrupy", "pytest"} <= hard
    assert not hard & {"pytest-json-report", "pytest-metadata", "pytest-xdist"}
    assert names(project["optional-dependencies"]["json-report"]) == {"pytest-json-report"}
    assert "pytest-json-report" in names(project["optional-dependencies"]["test"])
