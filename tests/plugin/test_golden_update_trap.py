"""syrupy's inherited trap, as the README documents it, and what actually protects a golden.

On ``--snapshot-update`` syrupy deletes the golden of a test that failed before it reached
its snapshot assertion (the golden was not used, so it counts as unused). These tests pin
the trap and each remedy the README gives, so the README cannot drift from syrupy.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest

pytest_plugins = ["pytester"]

SUITE = """
import os
import pytest

@pytest.mark.dryrun("happy_path")
def test_a(dryrun, dryrun_snapshot):
    assert dryrun_snapshot == dryrun.report

@pytest.mark.dryrun("happy_path")
def test_b(dryrun, dryrun_snapshot):
    {body}
"""
BREAKS_FIRST = (
    'assert not os.environ.get("BREAK_B"), "broken before the snapshot"\n    assert dryrun_snapshot == dryrun.report'
)
SNAPSHOT_FIRST = (
    'assert dryrun_snapshot == dryrun.report\n    assert not os.environ.get("BREAK_B"), "broken after the snapshot"'
)
GOLDEN_B = "__dryrun_snapshots__/test_t/test_b.json"
SYRUPY_4 = version("syrupy").startswith("4.")
K_NOT_ON_4 = "syrupy 4.x ignores `not` in -k when it picks unused snapshots: the golden is deleted (README says so)"


def _update_with_b_broken(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, body: str, *args: str
) -> pytest.RunResult:
    pytester.makepyfile(test_t=SUITE.format(body=body))
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=2)
    assert (pytester.path / GOLDEN_B).is_file()
    monkeypatch.setenv("BREAK_B", "1")
    return pytester.runpytest("--snapshot-update", *args)


def test_the_trap_a_test_failing_before_its_snapshot_loses_its_golden(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _update_with_b_broken(pytester, monkeypatch, BREAKS_FIRST)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["1 snapshot passed. 1 unused snapshot deleted.", "Deleted test_b (__dryrun_snapshots__/test_t/test_b.json)"]
    )
    assert not (pytester.path / GOLDEN_B).exists()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("-k", "test_a"), id="-k"),
        pytest.param(("-k", "not test_b"), id="-k-not", marks=pytest.mark.skipif(SYRUPY_4, reason=K_NOT_ON_4)),
        pytest.param(("test_t.py::test_a",), id="node-id"),
        pytest.param(("--deselect", "test_t.py::test_b"), id="deselect"),
    ],
)
def test_updating_only_the_passing_tests_keeps_the_golden(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    result = _update_with_b_broken(pytester, monkeypatch, BREAKS_FIRST, *args)
    result.assert_outcomes(passed=1, deselected=0 if "::" in args[0] else 1)
    result.stdout.fnmatch_lines(["1 snapshot passed."])  # the whole line: nothing deleted
    assert (pytester.path / GOLDEN_B).is_file()


def test_asserting_the_snapshot_first_keeps_the_golden(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _update_with_b_broken(pytester, monkeypatch, SNAPSHOT_FIRST)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["2 snapshots passed."])
    assert (pytester.path / GOLDEN_B).is_file()


def test_snapshot_no_cleanup_keeps_the_golden_where_syrupy_has_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config
) -> None:
    if not hasattr(pytestconfig.option, "no_cleanup"):
        pytest.skip("this syrupy has no --snapshot-no-cleanup (syrupy 4.x)")
    result = _update_with_b_broken(pytester, monkeypatch, BREAKS_FIRST, "--snapshot-no-cleanup")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["1 snapshot passed. 1 snapshot unused."])
    assert (pytester.path / GOLDEN_B).is_file()


@pytest.mark.skipif(not SYRUPY_4, reason="syrupy 5+ evaluates -k like pytest")
def test_on_syrupy_4_a_negative_k_does_not_protect_the_golden(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _update_with_b_broken(pytester, monkeypatch, BREAKS_FIRST, "-k", "not test_b")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["1 snapshot passed. 1 unused snapshot deleted."])
    assert not (pytester.path / GOLDEN_B).exists()
