"""Scenario-file goldens go through syrupy: counted, updated, reported unused and removed.

``dryrun_<name>.golden.json`` beside ``dryrun_<name>.toml`` keeps its name; syrupy's summary
counts it like any snapshot, and the golden of a renamed scenario is unused.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TOML = """
name = "file_scenario"
seed = 3
steps = 6

[instruments]
"DEMO-EUR" = "100.00"

[[orders]]
step = 1
instrument = "DEMO-EUR"
side = "BUY"
qty = "1.50"
"""


def test_scenario_goldens_are_counted_generated_and_updated_in_syrupys_summary(pytester: pytest.Pytester) -> None:
    scenario = pytester.path / "dryrun_small.toml"
    scenario.write_text(TOML)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*snapshot report summary*", "1 snapshot failed."])

    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*snapshot report summary*", "1 snapshot generated."])

    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 snapshot passed."])

    scenario.write_text(TOML.replace('qty = "1.50"', 'qty = "2.50"'))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['-    "filled_qty": "1.50",', '+    "filled_qty": "2.50",', "1 snapshot failed."])
    result.stdout.no_fnmatch_line("*Traceback*")

    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 snapshot updated."])
    assert '"filled_qty": "2.50"' in (pytester.path / "dryrun_small.golden.json").read_text()
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_renamed_scenarios_old_golden_is_reported_unused_and_deleted_by_update(pytester: pytest.Pytester) -> None:
    (pytester.path / "dryrun_small.toml").write_text(TOML)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    (pytester.path / "dryrun_small.toml").rename(pytester.path / "dryrun_renamed.toml")

    result = pytester.runpytest("--snapshot-details")
    result.assert_outcomes(failed=1)  # the new name has no golden yet
    result.stdout.fnmatch_lines(
        [
            "1 snapshot failed. 1 snapshot unused.",
            "Unused dryrun_small (dryrun_small.golden.json)",
            "Re-run pytest with --snapshot-update to delete unused snapshots.",
        ]
    )

    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["1 snapshot generated. 1 unused snapshot deleted.", "Deleted dryrun_small (dryrun_small.golden.json)"]
    )
    assert not (pytester.path / "dryrun_small.golden.json").exists()
    assert (pytester.path / "dryrun_renamed.golden.json").is_file()

    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 snapshot passed."])  # the whole line: nothing unused
    assert result.ret == 0


def test_an_unused_golden_fails_the_run_like_any_unused_snapshot(pytester: pytest.Pytester) -> None:
    (pytester.path / "dryrun_small.toml").write_text(TOML)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    (pytester.path / "dryrun_other.golden.json").write_text("{}\n")  # its scenario is gone
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 snapshot passed. 1 snapshot unused."])
    assert result.ret != 0
    result = pytester.runpytest("--snapshot-warn-unused")
    assert result.ret == 0


def test_the_golden_of_a_scenario_that_did_not_run_or_failed_is_kept_by_update(pytester: pytest.Pytester) -> None:
    (pytester.path / "dryrun_small.toml").write_text(TOML)
    (pytester.path / "dryrun_other.toml").write_text(TOML.replace("seed = 3", "seed = 4"))
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=2)

    result = pytester.runpytest("--snapshot-update", "-k", "small")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.no_fnmatch_line("*deleted*")

    (pytester.path / "dryrun_other.toml").write_text('name = "x"\nsteps = [')  # broken: fails before its golden
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*dryrun_other.toml: malformed TOML: *"])
    result.stdout.no_fnmatch_line("*deleted*")
    assert (pytester.path / "dryrun_small.golden.json").is_file()
    assert (pytester.path / "dryrun_other.golden.json").is_file()

    pytester.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                if item.name == "dryrun_other":
                    item.add_marker(pytest.mark.skip(reason="not today"))
        """
    )
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.no_fnmatch_line("*deleted*")
    assert (pytester.path / "dryrun_other.golden.json").is_file()


def test_scenario_goldens_are_reported_unused_and_deleted_under_xdist(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    from syrupy.session import SnapshotSession

    if not hasattr(SnapshotSession, "add_worker_report"):
        pytest.skip("this syrupy (4.x) does not detect unused snapshots under pytest-xdist at all")
    for name in ("one", "two", "three"):
        (pytester.path / f"dryrun_{name}.toml").write_text(TOML)
    pytester.runpytest("-n", "2", "--snapshot-update").assert_outcomes(passed=3)
    (pytester.path / "dryrun_two.toml").rename(pytester.path / "dryrun_four.toml")
    result = pytester.runpytest("-n", "2", "--snapshot-update")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*1 snapshot generated. 1 unused snapshot deleted.", "Deleted dryrun_two (*)"])
    assert sorted(p.name for p in pytester.path.glob("*.golden.json")) == [
        "dryrun_four.golden.json",
        "dryrun_one.golden.json",
        "dryrun_three.golden.json",
    ]


def test_dash_m_dryrun_selects_scenario_files_with_strict_markers(pytester: pytest.Pytester) -> None:
    (pytester.path / "dryrun_small.toml").write_text(TOML)
    pytester.makepyfile(
        test_inner="""
        import pytest

        @pytest.mark.dryrun("happy_path")
        def test_marked(dryrun):
            assert dryrun.state == "STOPPED"

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("--strict-markers", "-m", "dryrun", "--snapshot-update", "-v")
    result.assert_outcomes(passed=2, deselected=1)
    result.stdout.fnmatch_lines_random(
        ["dryrun_small.toml::dryrun_small PASSED*", "test_inner.py::test_marked PASSED*"]
    )
    result = pytester.runpytest("--strict-markers", "-m", "not dryrun", "-v")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["test_inner.py::test_plain PASSED*"])


def test_without_syrupy_a_scenario_file_fails_with_one_clear_line(pytester: pytest.Pytester) -> None:
    (pytester.path / "dryrun_small.toml").write_text(TOML)
    result = pytester.runpytest("-p", "no:syrupy")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "dryrun_small.toml: scenario files are compared with their golden file by syrupy, which is disabled"
            " in this run (-p no:syrupy); enable syrupy to run scenario files"
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_a_toml_and_a_json_scenario_of_one_name_is_a_clear_collection_error(pytester: pytest.Pytester) -> None:
    (pytester.path / "dryrun_small.toml").write_text(TOML)
    (pytester.path / "dryrun_small.json").write_text('{"name": "x", "steps": 2}')
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "dryrun_small.json and dryrun_small.toml would share the golden file dryrun_small.golden.json;"
            " rename one of them"
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
