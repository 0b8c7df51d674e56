"""The pytest_dryrun_* hookspecs, each exercised through a real inner pytest run."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]


def test_make_broker_is_firstresult_and_conftest_scoped(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_dryrun_make_broker(config, scenario, clock):
            return None  # let the next implementation decide
        """
    )
    sub = pytester.mkpydir("sub")
    (sub / "conftest.py").write_text(
        "from pytest_peak_dryrun import MockBroker\n\n"
        "class Mine(MockBroker):\n    pass\n\n"
        "def pytest_dryrun_make_broker(config, scenario, clock):\n"
        "    return Mine(scenario.broker_config(), clock=clock)\n"
    )
    (sub / "test_sub.py").write_text(
        "def test_mine(mock_broker, dryrun):\n    assert type(mock_broker).__name__ == 'Mine'\n"
    )
    pytester.makepyfile(
        test_top="def test_default(mock_broker):\n    assert type(mock_broker).__name__ == 'MockBroker'\n"
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_event_hook_sees_every_event_in_order(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        SEEN = []

        def pytest_dryrun_event(config, run_id, event):
            SEEN.append((run_id, event.seq, event.kind))
        """
    )
    pytester.makepyfile(
        """
        import conftest

        def test_events(dryrun):
            mine = [s for r, s, k in conftest.SEEN if r == dryrun.run_id]
            assert mine == [e.seq for e in dryrun.events]
            assert [k for _, _, k in conftest.SEEN] == [e.kind for e in dryrun.events]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_modify_report_changes_what_is_written_and_compared(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_dryrun_modify_report(config, run_id, report):
            report.pop("cash")
            report["team"] = "execution"
        """
    )
    pytester.makepyfile(
        test_modified="""
        def test_report(dryrun, dryrun_snapshot):
            assert "cash" not in dryrun.report
            assert dryrun.report["team"] == "execution"
            assert dryrun_snapshot == dryrun.report
        """
    )
    pytester.runpytest("--snapshot-update", "--dryrun-snapshot=out").assert_outcomes(passed=1)
    written = json.loads((pytester.path / "out/runs/test_modified-test_report/report.json").read_text())
    assert written["team"] == "execution"
    assert "cash" not in written
    golden = json.loads((pytester.path / "__dryrun_snapshots__/test_modified/test_report.json").read_text())
    assert golden == written


def test_snapshots_written_is_called_once_with_every_file(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        CALLS = []

        def pytest_dryrun_snapshots_written(config, out_dir, files):
            CALLS.append((out_dir, files))

        def pytest_unconfigure(config):
            assert len(CALLS) == 1, CALLS
            out_dir, files = CALLS[0]
            names = [str(f.relative_to(out_dir)) for f in files]
            assert names == sorted(names)
            assert "index.json" in names and "dryrun_status_snapshot.md" in names
            assert "runs/test_hooked-test_a/events.jsonl" in names
            print("HOOK-OK", len(names))
        """
    )
    pytester.makepyfile(test_hooked="def test_a(dryrun):\n    pass\n")
    result = pytester.runpytest_subprocess("--dryrun-snapshot=out", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["HOOK-OK *"])


def test_hooks_are_not_called_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_dryrun_snapshots_written(config, out_dir, files):
            raise AssertionError("must not be called")
        """
    )
    pytester.makepyfile("def test_a(dryrun):\n    pass\n")
    pytester.runpytest().assert_outcomes(passed=1)
