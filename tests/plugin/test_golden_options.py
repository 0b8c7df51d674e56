"""dryrun_snapshot honours syrupy's exclude, include, matcher and with_defaults.

The golden stays canonical JSON (sorted keys, Decimal as its exact string); the options
decide what goes into it, exactly as they do for syrupy's own ``snapshot``.
"""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

GOLDEN = "__dryrun_snapshots__/test_inner/test_it.json"


def _golden(pytester: pytest.Pytester) -> dict[str, object]:
    text = (pytester.path / GOLDEN).read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    data: dict[str, object] = json.loads(text)
    return data


def _update_then_pass(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 snapshot generated."])
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 snapshot passed."])


def test_exclude_keeps_the_excluded_fields_out_of_the_golden(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
        import pytest
        from syrupy.filters import paths, props

        @pytest.mark.dryrun("happy_path")
        def test_it(dryrun, dryrun_snapshot):
            assert dryrun_snapshot(exclude=props("seed", "counters")) == dryrun.report
            assert dryrun_snapshot(exclude=paths("orders.filled_qty")) == dryrun.report
        """
    )
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["2 snapshots generated."])
    first = json.loads((pytester.path / GOLDEN).read_text())
    second = json.loads((pytester.path / "__dryrun_snapshots__/test_inner/test_it.1.json").read_text())
    assert "seed" not in first
    assert "counters" not in first
    assert first["orders"]["filled_qty"] == "41.75"  # still an exact decimal string
    assert "filled_qty" not in second["orders"]
    assert second["orders"]["placed"] == 5
    assert second["seed"] == 7
    pytester.runpytest().assert_outcomes(passed=1)


def test_an_excluded_field_that_changes_does_not_fail_the_golden(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_inner="""
        import os
        from decimal import Decimal
        from syrupy.filters import props

        def test_it(dryrun_snapshot):
            data = {"price": Decimal("1.50"), "noise": os.environ["NOISE"]}
            assert dryrun_snapshot(exclude=props("noise")) == data
        """
    )
    monkeypatch.setenv("NOISE", "first")
    _update_then_pass(pytester)
    assert _golden(pytester) == {"price": "1.50"}
    monkeypatch.setenv("NOISE", "second")
    pytester.runpytest().assert_outcomes(passed=1)


def test_include_keeps_only_the_included_fields(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
        import pytest
        from syrupy.filters import props

        @pytest.mark.dryrun("happy_path")
        def test_it(dryrun, dryrun_snapshot):
            assert dryrun_snapshot(include=props("final_state", "scenario")) == dryrun.report
        """
    )
    _update_then_pass(pytester)
    assert _golden(pytester) == {"final_state": "STOPPED", "scenario": "happy_path"}


def test_a_matcher_replaces_values_and_path_type_writes_the_type_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
        import datetime
        from decimal import Decimal
        from syrupy.matchers import path_type

        def mask_ids(data, path):
            return "<id>" if path and path[-1][0] == "id" else data

        def test_it(dryrun_snapshot):
            data = {
                "at": datetime.datetime.now(),
                "order": {"id": "o-4711", "qty": Decimal("2.50")},
            }
            assert dryrun_snapshot(matcher=path_type({"at": (datetime.datetime,)})) == {"at": data["at"]}
            assert dryrun_snapshot(matcher=mask_ids) == {"order": data["order"]}
        """
    )
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1)
    assert _golden(pytester) == {"at": "datetime"}
    second = json.loads((pytester.path / "__dryrun_snapshots__/test_inner/test_it.1.json").read_text())
    assert second == {"order": {"id": "<id>", "qty": "2.50"}}
    pytester.runpytest().assert_outcomes(passed=1)  # a new wall-clock time still matches


def test_with_defaults_applies_to_every_assertion_and_keeps_the_extension(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from syrupy.filters import props

        @pytest.fixture
        def report_snapshot(dryrun_snapshot):
            return dryrun_snapshot.with_defaults(exclude=props("counters", "cash"))
        """
    )
    pytester.makepyfile(
        test_inner="""
        import pytest

        @pytest.mark.dryrun("happy_path")
        def test_it(dryrun, report_snapshot):
            assert report_snapshot == dryrun.report
        """
    )
    _update_then_pass(pytester)
    golden = _golden(pytester)
    assert "counters" not in golden
    assert "cash" not in golden
    assert golden["positions"] == {"DEMO-EUR": "8.25", "DEMO-USD": "14.5"}
    assert not (pytester.path / "__snapshots__").exists()  # still our extension, not syrupy's amber


def test_a_changed_included_field_fails_with_a_diff_of_what_is_kept(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
        import pytest
        from syrupy.filters import props

        @pytest.mark.dryrun("happy_path")
        def test_it(dryrun, dryrun_snapshot):
            assert dryrun_snapshot(include=props("orders", "placed")) == dryrun.report
        """
    )
    _update_then_pass(pytester)
    assert _golden(pytester) == {"orders": {"placed": 5}}
    golden = pytester.path / GOLDEN
    golden.write_text(golden.read_text().replace('"placed": 5', '"placed": 4'))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*-     "placed": 4*', '*+     "placed": 5*', "1 snapshot failed."])
