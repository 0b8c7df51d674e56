"""Run ids: one per run, derived from the node id, the same in every process."""

from __future__ import annotations

import json

import pytest

from pytest_peak_dryrun.core.dryrun import make_run_id
from pytest_peak_dryrun.harness.session import DryRunSession

pytest_plugins = ["pytester"]


def session(config: pytest.Config) -> DryRunSession:
    return DryRunSession(config=config, out_dir=None, seed=None, max_steps=10)


def test_a_tests_runs_are_numbered_per_node_id(pytestconfig: pytest.Config) -> None:
    state = session(pytestconfig)
    a, b = "t.py::test_c[a b]", "t.py::test_c[a-b]"
    assert [state.next_run_id(n) for n in (a, b, a, a, b)] == [
        make_run_id(a),
        make_run_id(b),
        f"{make_run_id(a)}-2",
        f"{make_run_id(a)}-3",
        f"{make_run_id(b)}-2",
    ]


def test_two_node_ids_never_share_a_run_id_even_if_the_hash_agreed(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pytest_peak_dryrun.core.dryrun.make_run_id", lambda name: "same-0123456789ab")
    state = session(pytestconfig)
    assert state.next_run_id("t.py::test_a") == "same-0123456789ab"
    with pytest.raises(
        RuntimeError, match=r"run id 'same-0123456789ab' derived from both 't.py::test_a' and 't.py::test_b'"
    ):
        state.next_run_id("t.py::test_b")


def test_a_run_written_by_two_workers_is_a_problem(pytestconfig: pytest.Config) -> None:
    state = session(pytestconfig)
    run = {"run_id": "t-test_a-0123456789ab", "nodeid": "t.py::test_a"}
    state.merge_worker_output("gw0", json.dumps({"summaries": [run], "problems": []}), None)
    state.merge_worker_output("gw1", json.dumps({"summaries": [run], "problems": []}), None)
    assert state.problems == [
        "run t-test_a-0123456789ab (t.py::test_a) was written by two xdist workers (also t.py::test_a); "
        "its files cannot be trusted"
    ]


def test_the_result_and_the_index_carry_the_new_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ids="""
        from pytest_peak_dryrun.core.dryrun import make_run_id

        def test_one(run_dryrun):
            first, second = run_dryrun(), run_dryrun()
            assert first.run_id == make_run_id("test_ids.py::test_one") == "test_ids-test_one-4c359180eef2"
            assert second.run_id == first.run_id + "-2"
        """
    )
    pytester.runpytest("--dryrun-snapshot=out").assert_outcomes(passed=1)
    index = json.loads((pytester.path / "out" / "index.json").read_text())
    assert [r["run_id"] for r in index["runs"]] == [
        "test_ids-test_one-4c359180eef2",
        "test_ids-test_one-4c359180eef2-2",
    ]
    assert (pytester.path / "out" / "runs" / "test_ids-test_one-4c359180eef2-2" / "health.json").is_file()
