"""dryrun_*.toml / dryrun_*.json files as test items with golden files beside them."""

from __future__ import annotations

import json

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


def test_a_scenario_file_is_a_test_and_update_writes_its_golden(pytester: pytest.Pytester) -> None:
    (pytester.path / "dryrun_small.toml").write_text(TOML)
    result = pytester.runpytest("-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "dryrun_small.toml::dryrun_small FAILED*",
            "golden file dryrun_small.golden.json is missing; run pytest with --snapshot-update to write it",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    golden = json.loads((pytester.path / "dryrun_small.golden.json").read_text())
    assert golden["scenario"] == "file_scenario"
    assert golden["orders"]["filled_qty"] == "1.50"
    pytester.runpytest().assert_outcomes(passed=1)  # the golden file itself is not collected


def test_json_scenarios_are_collected_too(pytester: pytest.Pytester) -> None:
    (pytester.path / "dryrun_json.json").write_text(
        json.dumps({"name": "json_scenario", "steps": 2, "instruments": {"DEMO-EUR": "10"}})
    )
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    assert (pytester.path / "dryrun_json.golden.json").is_file()


def test_a_different_report_fails_with_a_unified_diff(pytester: pytest.Pytester) -> None:
    (pytester.path / "dryrun_small.toml").write_text(TOML)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    (pytester.path / "dryrun_small.toml").write_text(TOML.replace('qty = "1.50"', 'qty = "2.50"'))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "report differs from the golden file (run with --snapshot-update if the change is intended):",
            "--- dryrun_small.golden.json (golden)",
            "+++ dryrun_small.toml (this run)",
            '-    "filled_qty": "1.50",',
            '+    "filled_qty": "2.50",',
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('name = "x"\nsteps = [', "*dryrun_bad.toml: malformed TOML: *"),
        ('name = "x"\nsteps = 3\nspeed = 2\n', "*dryrun_bad.toml: speed: unknown field"),
        ('name = "x"\nsteps = "many"\n', "*dryrun_bad.toml: steps: Input should be a valid integer*"),
        ('name = "x"\nsteps = -1\n', "*dryrun_bad.toml: steps: Input should be greater than or equal to 0"),
        (
            'name = "x"\nsteps = 3\n[[faults]]\nstep = 9\nop = "place"\nkind = "timeout"\n',
            "*dryrun_bad.toml: faults?0?: step 9 is after the last step (3)",
        ),
    ],
)
def test_a_bad_scenario_file_fails_with_one_clear_line(pytester: pytest.Pytester, text: str, line: str) -> None:
    (pytester.path / "dryrun_bad.toml").write_text(text)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([line])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_snapshot_dir_inside_the_test_paths_is_not_collected(pytester: pytest.Pytester) -> None:
    (pytester.path / "dryrun_small.toml").write_text(TOML)
    pytester.runpytest("--snapshot-update", "--dryrun-snapshot=out").assert_outcomes(passed=1)
    # out/ now holds dryrun_*_snapshot.json files: they are neither scenarios nor collected
    pytester.runpytest("--dryrun-snapshot=out").assert_outcomes(passed=1)
    pytester.runpytest("--dryrun-snapshot=elsewhere").assert_outcomes(passed=1)


def test_scenario_files_use_the_seed_option_and_the_broker_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pytest_peak_dryrun import MockBroker

        class Adapter(MockBroker):
            dry_run = True

        SEEN = []

        def pytest_dryrun_make_broker(config, scenario, clock):
            SEEN.append(scenario.seed)
            return Adapter(scenario.broker_config(), clock=clock)

        def pytest_sessionfinish(session):
            assert SEEN == [77], SEEN
        """
    )
    (pytester.path / "dryrun_small.toml").write_text(TOML)
    result = pytester.runpytest("--snapshot-update", "--dryrun-seed=77")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
