"""Bounded scenario input through every door a value comes in by (issue 12).

A 5000-digit seed, nesting 100,000 levels deep and ``qty = "1E+400000000"`` were tracebacks
(``ValueError``, ``RecursionError``, ``decimal.Overflow``) as files and through the marker.
Each is now one line naming the file (or test), the field and the limit.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SEED = "9" * 5000
DEEP = 100_000
INT_LIMIT = "integer of 5000 digits is outside the limit -2[*][*]63 .. 2[*][*]63-1"
DEPTH_LIMIT = "nested deeper than the limit of 16 levels"
DECIMAL_LIMIT = "number 1E+400000000 is outside the limit 1E-28 .. 1E+28 (in magnitude)"
ORDER = '[[orders]]\nstep = 1\ninstrument = "DEMO-EUR"\nside = "BUY"\nqty = "1E+400000000"\n'
FILES = [
    ("x_seed.toml", f'name = "x"\nsteps = 3\nseed = {SEED}\n', f"line 3: seed: {INT_LIMIT}"),
    ("x_seed.json", f'{{"name": "x", "steps": 3, "seed": {SEED}}}', f"seed: {INT_LIMIT}"),
    ("x_deep.toml", 'name = "x"\nsteps = 3\nmetadata = ' + "[" * DEEP + "]" * DEEP, f"line 3: metadata: {DEPTH_LIMIT}"),
    (
        "x_deep.json",
        '{"name": "x", "steps": 3, "metadata": ' + "[" * DEEP + "]" * DEEP + "}",
        f"line 1: metadata: {DEPTH_LIMIT}",
    ),
    ("x_qty.toml", f'name = "x"\nsteps = 3\n{ORDER}', f"orders[[]0[]].qty: {DECIMAL_LIMIT}"),
    (
        "x_qty.json",
        '{"name": "x", "steps": 3, "orders": [{"step": 1, "instrument": "DEMO-EUR", "side": "BUY",'
        ' "qty": "1E+400000000"}]}',
        f"orders[[]0[]].qty: {DECIMAL_LIMIT}",
    ),
]
TRACEBACKS = ("*Traceback*", "*RecursionError*", "*Overflow*", "*Exceeds the limit*", "*ValueError*")


def _no_traceback(result: pytest.RunResult) -> None:
    for pattern in TRACEBACKS:
        result.stdout.no_fnmatch_line(pattern)


@pytest.mark.parametrize(("name", "text", "problem"), FILES, ids=[f[0] for f in FILES])
def test_a_hostile_scenario_file_as_a_test_is_one_line(
    pytester: pytest.Pytester, name: str, text: str, problem: str
) -> None:
    path = pytester.path / f"dryrun_{name}"
    path.write_text(text)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"{path}: {problem}"])
    _no_traceback(result)


@pytest.mark.parametrize(("name", "text", "problem"), FILES, ids=[f[0] for f in FILES])
def test_a_hostile_scenario_file_behind_the_marker_is_one_line(
    pytester: pytest.Pytester, name: str, text: str, problem: str
) -> None:
    (pytester.path / name).write_text(text)
    pytester.makepyfile(
        test_marked=f"""
        import pytest

        @pytest.mark.dryrun({name!r})
        def test_a(dryrun):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"test_marked.py::test_a: @pytest.mark.dryrun: {pytester.path / name}: {problem}"])
    _no_traceback(result)


@pytest.mark.parametrize(
    ("marker", "line"),
    [
        (
            'dryrun("happy_path", seed=10**5000)',
            "test_marked.py::test_a: @pytest.mark.dryrun(seed=<integer of about 5001 digits>): "
            "seed must be an integer in -2[*][*]63 .. 2[*][*]63-1",
        ),
        (
            'dryrun("happy_path", seed=-(2**64))',
            "test_marked.py::test_a: @pytest.mark.dryrun(seed=-18446744073709551616): "
            "seed must be an integer in -2[*][*]63 .. 2[*][*]63-1",
        ),
        (
            'dryrun("happy_path", steps=10**5000)',
            "test_marked.py::test_a: @pytest.mark.dryrun(steps=<integer of about 5001 digits>): "
            "steps must be an integer in 0 .. 10000000",
        ),
    ],
)
def test_a_huge_marker_argument_is_one_line(pytester: pytest.Pytester, marker: str, line: str) -> None:
    pytester.makepyfile(
        test_marked=f"""
        import pytest

        @pytest.mark.{marker}
        def test_a(dryrun):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([line])
    _no_traceback(result)


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        ('Scenario(name="x", steps=3, seed=10**5000)', "seed: integer of about 5001 digits is outside the limit"),
        (
            'Scenario(name="x", steps=3, orders=(PlaceIntent(step=1, instrument="DEMO-EUR", side="BUY",'
            ' qty=Decimal("1E+400000000")),))',
            "orders[[]0[]].qty: number 1E+400000000 is outside the limit 1E-28 .. 1E+28 (in magnitude)",
        ),
        (
            'Scenario(name="x", steps=3, metadata=nest({}, 100_000))',
            "metadata.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a: nested deeper than the limit of 16 levels",
        ),
    ],
    ids=["seed", "qty", "deep"],
)
def test_a_hostile_scenario_object_for_the_marker_names_field_and_limit(
    pytester: pytest.Pytester, build: str, problem: str
) -> None:
    """Built in Python, a Scenario is validated where it is built: the test module's own line."""
    pytester.makepyfile(
        test_marked=f"""
        from decimal import Decimal

        import pytest
        from pytest_peak_dryrun.core.scenario import PlaceIntent, Scenario

        def nest(value, depth):
            for _ in range(depth):
                value = {{"a": value}}
            return value

        @pytest.mark.dryrun({build})
        def test_a(dryrun):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting test_marked.py*", f"*Value error, {problem}*"])
    for pattern in ("*RecursionError*", "*Overflow*", "*Exceeds the limit*"):
        result.stdout.no_fnmatch_line(pattern)


def test_a_huge_seed_or_a_hostile_file_for_run_dryrun_is_one_line(pytester: pytest.Pytester) -> None:
    (pytester.path / "x_qty.toml").write_text(f'name = "x"\nsteps = 3\n{ORDER}')
    pytester.makepyfile(
        test_factory="""
        def test_seed(run_dryrun):
            run_dryrun("happy_path", seed=10**5000)

        def test_file(run_dryrun):
            run_dryrun("x_qty.toml")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E *ValueError: run_dryrun: seed must be an integer in -2[*][*]63 .. 2[*][*]63-1, "
            "got the integer of about 5001 digits",
            f"E *ScenarioError: {pytester.path / 'x_qty.toml'}: orders[[]0[]].qty: {DECIMAL_LIMIT}",
        ]
    )
    for pattern in ("*RecursionError*", "*Overflow*", "*Exceeds the limit*", "*fixtures.py*", "*scenario.py*"):
        result.stdout.no_fnmatch_line(pattern)


def test_a_huge_seed_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(f"--dryrun-seed={SEED}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--dryrun-seed expects an integer between -2[*][*]63 and 2[*][*]63-1, got one of 5000 digits"]
    )
    result.stderr.no_fnmatch_line(f"*{SEED[:100]}*")
    result = pytester.runpytest(f"--dryrun-seed={2**63}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*between -2[*][*]63 and 2[*][*]63-1, got {2**63}"])
