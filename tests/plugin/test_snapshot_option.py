"""--dryrun-snapshot / ini dryrun_snapshot_dir: the files, their bytes, and bad directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TWO_TESTS = """
import pytest

@pytest.mark.dryrun("happy_path")
def test_happy(dryrun):
    assert dryrun.state == "STOPPED"

@pytest.mark.dryrun("tripwire")
def test_trip(dryrun):
    assert dryrun.state == "ERROR_REQUIRES_OPERATOR"
"""

SESSION_FILES = [
    "dryrun_health_snapshot.json",
    "dryrun_metrics.prom",
    "dryrun_metrics_snapshot.json",
    "dryrun_status_snapshot.html",
    "dryrun_status_snapshot.json",
    "dryrun_status_snapshot.md",
    "index.json",
]
RUN_FILES = ["audit.jsonl", "events.jsonl", "health.json", "metrics.json", "report.json", "status.json"]


def listing(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_option_writes_the_design_layout(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_runs=TWO_TESTS)
    result = pytester.runpytest("--dryrun-snapshot=out/finish_c")
    result.assert_outcomes(passed=2)
    out = pytester.path / "out" / "finish_c"
    for name in SESSION_FILES:
        assert (out / name).is_file(), name
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["test_runs-test_happy-dd0f2380ae11", "test_runs-test_trip-1996feaa5921"]
    for run in runs:
        assert sorted(p.name for p in (out / "runs" / run).iterdir()) == RUN_FILES
    index = json.loads((out / "index.json").read_text())
    assert index["complete"] is True
    assert [r["run_id"] for r in index["runs"]] == runs
    assert [r["state"] for r in index["runs"]] == ["STOPPED", "ERROR_REQUIRES_OPERATOR"]
    assert set(index["files"]) == {*SESSION_FILES, *(f"runs/{r}/{f}" for r in runs for f in RUN_FILES)} - {"index.json"}
    health = json.loads((out / "dryrun_health_snapshot.json").read_text())
    assert health["schema"] == "peak-dryrun/health-session/v1"
    assert sorted(health["runs"]) == runs
    assert health["session"]["status"] == "failed"  # the tripwire run needs the operator


def test_two_sessions_write_byte_identical_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_runs=TWO_TESTS)
    pytester.runpytest("--dryrun-snapshot=out").assert_outcomes(passed=2)
    first = listing(pytester.path / "out")
    pytester.runpytest("--dryrun-snapshot=out", "-p", "no:randomly").assert_outcomes(passed=2)
    assert listing(pytester.path / "out") == first


def test_runs_of_earlier_sessions_are_removed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_runs=TWO_TESTS)
    pytester.runpytest("--dryrun-snapshot=out").assert_outcomes(passed=2)
    pytester.runpytest("--dryrun-snapshot=out", "-k", "happy").assert_outcomes(passed=1, deselected=1)
    assert sorted(p.name for p in (pytester.path / "out" / "runs").iterdir()) == ["test_runs-test_happy-dd0f2380ae11"]
    index = json.loads((pytester.path / "out" / "index.json").read_text())
    assert [r["run_id"] for r in index["runs"]] == ["test_runs-test_happy-dd0f2380ae11"]


def test_ini_option_is_the_default_and_the_command_line_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndryrun_snapshot_dir = from_ini\n")
    pytester.makepyfile(test_runs=TWO_TESTS)
    pytester.runpytest().assert_outcomes(passed=2)
    assert (pytester.path / "from_ini" / "index.json").is_file()
    pytester.runpytest("--dryrun-snapshot=from_cli").assert_outcomes(passed=2)
    assert (pytester.path / "from_cli" / "index.json").is_file()


def test_without_the_option_nothing_is_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_runs=TWO_TESTS)
    pytester.runpytest().assert_outcomes(passed=2)
    assert sorted(p.name for p in pytester.path.iterdir() if not p.name.startswith(".")) == ["test_runs.py"]


def test_a_file_as_dir_is_a_usage_error_before_any_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_runs=TWO_TESTS)
    (pytester.path / "taken").write_text("I am a file")
    result = pytester.runpytest("--dryrun-snapshot=taken")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --dryrun-snapshot: {pytester.path / 'taken'} exists and is not a directory*"])
    result.stdout.no_fnmatch_line("*passed*")


def test_an_uncreatable_dir_is_a_usage_error_naming_the_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_runs=TWO_TESTS)
    (pytester.path / "file").write_text("x")
    result = pytester.runpytest("--dryrun-snapshot=file/sub")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --dryrun-snapshot: cannot create directory {pytester.path / 'file' / 'sub'}: *"]
    )


def test_dryrun_seed_overrides_every_scenario(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.dryrun("happy_path", seed=5)
        def test_seed(dryrun, run_dryrun):
            assert dryrun.scenario.seed == 99
            assert run_dryrun("partial_fills", seed=1).scenario.seed == 99
        """
    )
    pytester.runpytest("--dryrun-seed=99").assert_outcomes(passed=1)


def test_a_bad_seed_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--dryrun-seed=abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dryrun-seed expects an integer such as 42, got 'abc'*"])


def test_a_bad_max_steps_ini_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndryrun_max_steps = lots\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini dryrun_max_steps must be an integer, got 'lots'*"])
