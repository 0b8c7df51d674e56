"""dryrun_snapshot: golden reports through syrupy, readable JSON, safe beside syrupy's own JSON."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

GOLDEN_TEST = """
import pytest

@pytest.mark.dryrun("happy_path")
def test_golden(dryrun, dryrun_snapshot):
    assert dryrun_snapshot == dryrun.report
"""
GOLDEN = "__dryrun_snapshots__/test_inner_golden/test_golden.json"


def test_update_writes_canonical_json_and_then_it_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner_golden=GOLDEN_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)  # no golden yet
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    text = (pytester.path / GOLDEN).read_text()
    data = json.loads(text)
    assert data["final_state"] == "STOPPED"
    assert data["orders"]["filled_qty"] == "41.75"  # an exact decimal string, never Decimal('41.75')
    assert "Decimal(" not in text
    assert text.endswith("}\n")
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_changed_report_fails_with_a_readable_diff(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner_golden=GOLDEN_TEST)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    golden = pytester.path / GOLDEN
    golden.write_text(golden.read_text().replace('"FILLED": 5', '"FILLED": 4'))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*-       "FILLED": 4*', '*+       "FILLED": 5*'])


def test_a_changed_behaviour_fails_the_golden(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner_golden=GOLDEN_TEST)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    pytester.makepyfile(test_inner_golden=GOLDEN_TEST.replace('"happy_path"', '"happy_path", steps=3'))
    result = pytester.runpytest("-vv")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*+     "order_state_transitions_total{from_state=\\"ACK\\",to_state=\\"FILLED\\"}": 2,*',
            "*1 snapshot failed*",
        ]
    )


def test_our_goldens_survive_syrupys_json_extension_side_by_side(pytester: pytest.Pytester) -> None:
    # PITFALLS 4: an extension whose files end in .json must not be claimed (reported unused,
    # then deleted) by syrupy's JSONSnapshotExtension, nor by our other extension.
    (pytester.path / "dryrun_side.json").write_text(
        json.dumps({"name": "side", "steps": 3, "instruments": {"DEMO-EUR": "10"}})
    )
    pytester.makepyfile(
        test_both="""
        import pytest
        from syrupy.extensions.json import JSONSnapshotExtension

        @pytest.fixture
        def json_snapshot(snapshot):
            return snapshot.use_extension(JSONSnapshotExtension)

        @pytest.mark.dryrun("partial_fills")
        def test_ours(dryrun, dryrun_snapshot):
            assert dryrun_snapshot == dryrun.report

        def test_theirs(json_snapshot):
            assert json_snapshot == {"plain": [1, 2, 3]}

        def test_amber(snapshot):
            assert snapshot == {"amber": True}
        """
    )
    files = [
        pytester.path / "__dryrun_snapshots__" / "test_both" / "test_ours.json",
        pytester.path / "__snapshots__" / "test_both" / "test_theirs.json",
        pytester.path / "__snapshots__" / "test_both.ambr",
        pytester.path / "dryrun_side.golden.json",
    ]
    for expected in ("4 snapshots generated.", "4 snapshots passed."):
        result = pytester.runpytest("--snapshot-update")
        result.assert_outcomes(passed=4)
        result.stdout.fnmatch_lines([expected])
        result.stdout.no_fnmatch_line("*deleted*")
        result.stdout.no_fnmatch_line("*unused*")
        assert all(path.is_file() for path in files), [path for path in files if not path.is_file()]
    result = pytester.runpytest()
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["4 snapshots passed."])
    assert result.ret == 0
