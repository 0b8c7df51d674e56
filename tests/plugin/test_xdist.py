"""pytest-xdist: byte-identical files, workers write their runs, the controller the session."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

MANY = """
import pytest

@pytest.mark.parametrize("seed", range(6))
@pytest.mark.dryrun("failure_matrix")
def test_matrix(run_dryrun, seed):
    run_dryrun(seed=seed)

@pytest.mark.dryrun("tripwire")
def test_trip(dryrun):
    pass

def test_scenario_names(run_dryrun):
    run_dryrun("happy_path")
    run_dryrun("partial_fills")
"""


def listing(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_workers_write_the_same_bytes_as_a_serial_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_many=MANY)
    pytester.runpytest_subprocess("--dryrun-snapshot=serial", "-p", "no:xdist").assert_outcomes(passed=8)
    result = pytester.runpytest_subprocess("--dryrun-snapshot=parallel", "-n", "2")
    result.assert_outcomes(passed=8)
    serial, parallel = listing(pytester.path / "serial"), listing(pytester.path / "parallel")
    assert len(serial) == 7 + 9 * 6
    assert parallel == serial
    result.stdout.fnmatch_lines(
        ["*dry-run snapshots*", f"report: {pytester.path / 'parallel'}/dryrun_status_snapshot.md"]
    )


def test_workers_write_only_their_runs_and_the_controller_the_session(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import os

        def pytest_dryrun_snapshots_written(config, out_dir, files):
            assert not hasattr(config, "workerinput"), "session files are the controller's job"
            (out_dir.parent / "written-by").write_text("controller")
        """
    )
    pytester.makepyfile(test_many=MANY)
    pytester.runpytest_subprocess("--dryrun-snapshot=out", "-n", "2").assert_outcomes(passed=8)
    assert (pytester.path / "written-by").read_text() == "controller"
    index = json.loads((pytester.path / "out" / "index.json").read_text())
    assert index["complete"] is True
    assert len(index["runs"]) == 9


def test_a_crashed_worker_marks_the_session_incomplete(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_crash="""
        import os, pytest

        def test_runs(run_dryrun):
            run_dryrun()

        def test_crash(run_dryrun):
            run_dryrun("tripwire")
            os._exit(3)
        """
    )
    result = pytester.runpytest_subprocess("--dryrun-snapshot=out", "-n", "2", "--max-worker-restart=0")
    index = json.loads((pytester.path / "out" / "index.json").read_text())
    assert index["complete"] is False
    crashed = [problem for problem in index["problems"] if "crashed" in problem]
    assert len(crashed) == 1, index["problems"]
    assert crashed[0].startswith("xdist worker gw")
    assert "['" not in crashed[0]  # the last line of the error, not a list repr
    assert index["session"]["status"] == "failed"
    result.stdout.fnmatch_lines(["PROBLEM: xdist worker * crashed*"])


def test_without_xdist_the_plugin_registers_no_xdist_hooks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(dryrun):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:xdist", "--dryrun-snapshot=out")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


COLLIDING = """
import pytest

@pytest.mark.parametrize("case", ["a b", "a-b", "a/b", "a:b"])
def test_c(run_dryrun, case):
    run_dryrun("failure_matrix", seed=len(case) + ord(case[1]))
    run_dryrun("happy_path")
"""


def test_ids_that_sanitise_alike_get_their_own_runs_in_every_process(pytester: pytest.Pytester) -> None:
    # Issue 12: "a b", "a-b", "a/b", "a:b" used to map to one run id; under -n 2 two workers
    # then wrote one run directory and runs went missing from index.json.
    pytester.makepyfile(test_c=COLLIDING)
    pytester.runpytest_subprocess("--dryrun-snapshot=serial", "-p", "no:xdist").assert_outcomes(passed=4)
    pytester.runpytest_subprocess("--dryrun-snapshot=parallel", "-n", "2").assert_outcomes(passed=4)
    serial, parallel = listing(pytester.path / "serial"), listing(pytester.path / "parallel")
    assert parallel == serial
    index = json.loads((pytester.path / "parallel" / "index.json").read_text())
    assert index["complete"] is True
    from pytest_peak_dryrun.core.dryrun import make_run_id

    expected = sorted(
        f"{make_run_id(f'test_c.py::test_c[{case}]')}{suffix}"
        for case in ("a b", "a-b", "a/b", "a:b")
        for suffix in ("", "-2")
    )
    assert [r["run_id"] for r in index["runs"]] == expected
    assert {re.sub(r"-[0-9a-f]{12}(-2)?$", "", run_id) for run_id in expected} == {"test_c-test_c-a-b"}  # one slug
    assert len(serial) == 7 + 8 * 6
