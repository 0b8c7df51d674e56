"""The dryrun marker: registered, and every bad argument is one clear line naming the test."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.dryrun("happy_path", seed=3, steps=5)
        def test_a(dryrun):
            assert dryrun.scenario.seed == 3
            assert dryrun.status.session.steps_run == 5
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.dryrun(scenario='happy_path', *, seed=None, steps=None): *"])


def test_without_a_marker_the_happy_path_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(dryrun):\n    assert dryrun.scenario.name == 'happy_path'\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_scenario_file_path_is_relative_to_the_test_file(pytester: pytest.Pytester) -> None:
    pytester.mkdir("sub")
    (pytester.path / "sub" / "my.toml").write_text('name = "mine"\nsteps = 3\n')
    (pytester.path / "sub" / "test_file.py").write_text(
        "import pytest\n\n@pytest.mark.dryrun('my.toml')\ndef test_a(dryrun):\n"
        "    assert dryrun.scenario.name == 'mine'\n    assert dryrun.status.session.steps_run == 3\n"
    )
    pytester.runpytest("sub").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "line"),
    [
        (
            'dryrun("nope")',
            "test_bad.py::test_a: @pytest.mark.dryrun: scenario 'nope': no built-in scenario of that name;"
            " choose one of amend, failure_matrix, happy_path, partial_fills, tripwire, venue_lifecycle, or a path to a .toml/.json file",
        ),
        ("dryrun(steps=-1)", "test_bad.py::test_a: @pytest.mark.dryrun(steps=-1): steps must be an integer >= 0"),
        ('dryrun(steps="10")', "test_bad.py::test_a: @pytest.mark.dryrun(steps='10'): steps must be an integer >= 0"),
        ("dryrun(seed=1.5)", "test_bad.py::test_a: @pytest.mark.dryrun(seed=1.5): seed must be an integer, not float"),
        (
            "dryrun(scenario=42)",
            "test_bad.py::test_a: @pytest.mark.dryrun(scenario=42): scenario must be a built-in name,"
            " a path to a .toml/.json file or a Scenario, not int",
        ),
        (
            "dryrun(speed=2)",
            "test_bad.py::test_a: @pytest.mark.dryrun(speed=2): unknown argument 'speed';"
            " the marker takes scenario, seed, steps",
        ),
        (
            'dryrun("a", "b")',
            "test_bad.py::test_a: @pytest.mark.dryrun('a', 'b'): takes at most one positional argument, the scenario",
        ),
        (
            'dryrun("missing.toml")',
            "test_bad.py::test_a: @pytest.mark.dryrun: */missing.toml: cannot read file: No such file or directory",
        ),
    ],
)
def test_a_bad_argument_fails_that_test_with_one_line(pytester: pytest.Pytester, marker: str, line: str) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.{marker}
        def test_a(dryrun):
            pass

        def test_other():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([line])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*_fixtures.py*")


def test_steps_above_the_configured_bound_fail_clearly(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndryrun_max_steps = 10\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.dryrun("happy_path", steps=11)
        def test_a(dryrun):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_a: @pytest.mark.dryrun: scenario 'happy_path': steps: 11 is above the configured bound 10*"]
    )
