"""pytest-json-report: per-test dry-run metadata and the snapshot directory in the report."""

from __future__ import annotations

import json

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
    result = pytester.runpytest_subprocess("-p", "no:json-report")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
