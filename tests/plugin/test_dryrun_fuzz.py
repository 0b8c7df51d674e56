"""The ``dryrun_fuzz`` fixture and its options, through real inner pytest runs.

The broker with a bug here is found at once (it reports every fill with twice its quantity),
so each inner run stays small; ``examples/test_cancel_echo_adapter.py`` proves the loop on a
bug that hides in about one schedule of a hundred, within the default budget.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

OVERFILLS = """
import pytest
from pytest_peak_dryrun import MockBroker


class Overfills(MockBroker):
    def iter_fills(self, cursor):
        position, fills = super().iter_fills(cursor)
        return position, [fill.replace(qty=fill.qty * 2) for fill in fills]


@pytest.hookimpl(optionalhook=True)
def pytest_dryrun_make_broker(config, scenario, clock):
    return Overfills(scenario.broker_config(), clock=clock)
"""

FUZZ_TEST = """
def test_fuzz(dryrun_fuzz):
    dryrun_fuzz(examples=30)
"""

REPRODUCER = "dryrun_fuzz_test_fuzz_becef9bc6c.toml"
FINDING = [
    "test_fuzz.py::test_fuzz: dryrun_fuzz: in generated scenario 1 of 30 (seed 0) 1 invariant broke; shrunk to "
    "1 step, 1 order, 0 cancels, no scheduled fault, fill model immediate:",
    "  - fills_within_quantity (step 1, order O-000001, event 15): fill MB-00000001-F1 takes the order to 2 of 1",
    f"reproducer: {REPRODUCER}",
    "Collected as a test, a reproducer fails until its bug is fixed; commit it, and after the fix record its "
    f"golden file: pytest --snapshot-update {REPRODUCER}",
]


def test_a_correct_broker_passes_and_the_report_says_what_ran(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fuzz="""
        def test_fuzz(dryrun_fuzz):
            report = dryrun_fuzz(examples=25, seed=3)
            assert (report.examples, report.seed) == (25, 3)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert not list(pytester.path.glob("dryrun_fuzz_*"))


def test_a_broken_broker_fails_naming_the_shrunk_reproducer_which_fails_when_collected(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(OVERFILLS)
    pytester.makepyfile(test_fuzz=FUZZ_TEST)
    result = pytester.runpytest("test_fuzz.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(FINDING)
    result.stdout.no_fnmatch_line("*Traceback*")
    text = (pytester.path / REPRODUCER).read_text()
    assert text.startswith(
        "# Reproducer written by dryrun_fuzz (pytest-peak-dryrun) for test_fuzz.py::test_fuzz (seed 0).\n"
        "# Hypothesis shrank the generated scenario below; in it 1 invariant broke:\n"
        "#   fills_within_quantity (step 1, order O-000001, event 15): fill MB-00000001-F1 takes the order to 2 of 1\n"
    )
    assert 'name = "fuzz_test_fuzz_becef9bc6c"\nseed = 0\nsteps = 1\n' in text
    # collected like any scenario file: it fails on the invariant, before any golden file
    collected = pytester.runpytest(REPRODUCER)
    collected.assert_outcomes(failed=1)
    collected.stdout.fnmatch_lines(
        [
            f"{REPRODUCER}: the run broke 1 invariant(s) (its golden file is compared once they hold):",
            "  - fills_within_quantity (step 1, order O-000001, event 15): fill MB-00000001-F1 takes the order to 2 of 1",
        ]
    )
    # --snapshot-update cannot record the report of a run that breaks an invariant
    pytester.runpytest("--snapshot-update", REPRODUCER).assert_outcomes(failed=1)
    assert not (pytester.path / "dryrun_fuzz_test_fuzz_becef9bc6c.golden.json").exists()


def test_the_same_seed_finds_the_same_reproducer_in_any_process_with_or_without_xdist(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(OVERFILLS)
    pytester.makepyfile(test_fuzz=FUZZ_TEST, test_other="def test_other(dryrun_fuzz):\n    dryrun_fuzz(examples=5)\n")
    outputs = []
    for hashseed, args in (("0", ()), ("4242", ()), ("random", ("-n", "2"))):
        for old in pytester.path.glob("dryrun_fuzz_*"):
            old.unlink()
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=pytester.path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 1, result.stdout
        files = {p.name: p.read_bytes() for p in sorted(pytester.path.glob("dryrun_fuzz_*"))}
        assert sorted(files) == ["dryrun_fuzz_test_fuzz_becef9bc6c.toml", "dryrun_fuzz_test_other_becef9bc6c.toml"]
        finding = [
            line for line in result.stdout.splitlines() if line.startswith("test_fuzz.py::test_fuzz: dryrun_fuzz:")
        ]
        outputs.append((files, finding))
    assert outputs[0] == outputs[1] == outputs[2]


def test_another_seed_explores_other_scenarios(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fuzz="""
        SEEN = set()

        def record(result):
            SEEN.add(result.scenario.seed)
            return []

        def test_fuzz(dryrun_fuzz):
            report = dryrun_fuzz(examples=10, seed=1, invariants=[record])
            assert report.seed == 99  # the command line wins over the call
            assert len(SEEN) > 1
        """
    )
    pytester.runpytest("--dryrun-fuzz-seed=99").assert_outcomes(passed=1)


def test_the_command_line_sets_every_budget(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fuzz="""
        def test_fuzz(dryrun_fuzz):
            assert dryrun_fuzz(examples=50).examples == 7
        """
    )
    pytester.runpytest("--dryrun-fuzz-examples=7").assert_outcomes(passed=1)
    result = pytester.runpytest("--dryrun-fuzz-examples=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--dryrun-fuzz-examples: --dryrun-fuzz-examples expects a whole number from 1 to 999999999, got '0'"]
    )


@pytest.mark.parametrize(
    ("where", "args", "ini"),
    [
        ("out/repro", ("--dryrun-fuzz-dir=out/repro",), ""),
        ("repro_ini", (), "[pytest]\ndryrun_fuzz_dir = repro_ini\n"),
    ],
)
def test_the_reproducer_directory_comes_from_the_option_or_the_ini(
    pytester: pytest.Pytester, where: str, args: tuple[str, ...], ini: str
) -> None:
    if ini:
        pytester.makeini(ini)
    pytester.makeconftest(OVERFILLS)
    pytester.makepyfile(test_fuzz=FUZZ_TEST)
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"reproducer: {where}/{REPRODUCER}"])
    assert (pytester.path / where / REPRODUCER).is_file()
    assert not (pytester.path / REPRODUCER).exists()


def test_an_exception_out_of_the_run_is_a_finding_too(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from pytest_peak_dryrun import MockBroker

        class Crashes(MockBroker):
            def cancel_order(self, broker_order_id):
                raise RuntimeError("adapter bug: cancel of " + broker_order_id)

        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_make_broker(config, scenario, clock):
            return Crashes(scenario.broker_config(), clock=clock)
        """
    )
    pytester.makepyfile(test_fuzz=FUZZ_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_fuzz.py::test_fuzz: dryrun_fuzz: in generated scenario 5 of 30 (seed 0) the run raised an exception; "
            "shrunk to 1 step, 1 order, 0 cancels, no scheduled fault, fill model immediate, ack latency 1:",
            "  - RuntimeError: adapter bug: cancel of MB-00000001",
            "reproducer: dryrun_fuzz_test_fuzz_*.toml",
        ]
    )
    (reproducer,) = pytester.path.glob("dryrun_fuzz_*.toml")
    pytester.runpytest(reproducer.name).stdout.fnmatch_lines(["*RuntimeError: adapter bug: cancel of MB-00000001"])


def test_a_broker_that_fails_the_preflight_is_a_setup_problem_not_a_finding(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from pytest_peak_dryrun import MockBroker

        class Undeclared:
            def __init__(self, venue):
                self.venue, self.clock = venue, venue.clock
            def __getattr__(self, name):
                return getattr(self.venue, name)

        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_make_broker(config, scenario, clock):
            return Undeclared(MockBroker(scenario.broker_config(), clock=clock))
        """
    )
    pytester.makepyfile(test_fuzz=FUZZ_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_fuzz.py::test_fuzz: dryrun_fuzz: a generated scenario (seed 0) failed the preflight, which fuzzing "
            "needs a broker and dryrun_config to pass: dryrun_broker: Undeclared is not a MockBroker and does not "
            "declare dry_run = True"
        ]
    )
    assert not list(pytester.path.glob("dryrun_fuzz_*"))


def test_a_broker_that_keeps_state_between_runs_is_named(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from pytest_peak_dryrun import MockBroker

        CALLS = [0]

        class FailsOnce(MockBroker):
            def place_order(self, request, *, idempotency_key):
                CALLS[0] += 1
                if CALLS[0] == 3:
                    raise RuntimeError("third place of the session")
                return super().place_order(request, idempotency_key=idempotency_key)

        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_make_broker(config, scenario, clock):
            return FailsOnce(scenario.broker_config(), clock=clock)
        """
    )
    pytester.makepyfile(test_fuzz=FUZZ_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_fuzz.py::test_fuzz: dryrun_fuzz: a generated scenario (seed 0) failed once and passed when run "
            "again: the broker keeps state from one run to the next (the pytest_dryrun_make_broker hook must give "
            "a fresh broker per scenario)"
        ]
    )


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        ("examples=0", "examples=0: expected an integer >= 1"),
        ("seed='1'", "seed='1': expected an integer"),
        (
            "42",
            "strategy 42: expected a hypothesis strategy of Scenarios, such as pytest_peak_dryrun.strategies.scenarios(max_orders=2)",
        ),
        ("broker=42", "broker=42: expected a factory (scenario, clock) -> broker"),
    ],
)
def test_a_bad_argument_fails_the_test_with_one_line(pytester: pytest.Pytester, call: str, problem: str) -> None:
    pytester.makepyfile(test_fuzz=f"def test_fuzz(dryrun_fuzz):\n    dryrun_fuzz({call})\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"test_fuzz.py::test_fuzz: dryrun_fuzz: {problem}"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_a_broker_factory_and_an_overriding_mock_broker_are_fuzzed_and_the_message_says_so(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_fuzz=OVERFILLS.replace("@pytest.hookimpl(optionalhook=True)\ndef pytest_dryrun_make_broker", "def make")
        + """

@pytest.fixture
def mock_broker(sim_clock):
    return Overfills(clock=sim_clock)


def test_override(dryrun_fuzz):
    dryrun_fuzz(examples=20)


def test_factory(dryrun_fuzz):
    dryrun_fuzz(examples=20, broker=lambda scenario, clock: make(None, scenario, clock))
"""
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "test_fuzz.py::test_override: dryrun_fuzz: in generated scenario 1 of 20 (seed 0) 1 invariant broke; *",
            "(this test fuzzed a copy of the overridden mock_broker fixture; collected, a reproducer runs through "
            "the hook's broker instead)",
            "test_fuzz.py::test_factory: dryrun_fuzz: in generated scenario 1 of 20 (seed 0) 1 invariant broke; *",
            "(this test fuzzed the broker= factory; collected, a reproducer runs through the hook's broker instead)",
        ]
    )


def test_without_hypothesis_the_fixture_names_the_extra(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import sys\nsys.modules['hypothesis'] = None\n")
    pytester.makepyfile(test_fuzz=FUZZ_TEST)
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["test_fuzz.py::test_fuzz: dryrun_fuzz: needs hypothesis: pip install 'pytest-peak-dryrun[fuzz]'"]
    )


# -- the oracle in the plugin: scenario files, the dryrun_invariants fixture, the hook, the ini ------

CASH_HOOK = """
import pytest
from pytest_peak_dryrun import Violation


@pytest.hookimpl(optionalhook=True)
def pytest_dryrun_invariants(config, result):
    if result.status.positions.get("DEMO-EUR", 0) > 1:
        return [Violation("at_most_one_lot", f"position {result.status.positions['DEMO-EUR']}")]
    return []
"""

TWO_LOTS = """
name = "two_lots"
steps = 2

[[orders]]
step = 1
instrument = "DEMO-EUR"
side = "BUY"
qty = "2"
"""


def test_the_hook_adds_invariants_to_scenario_files_the_fixture_and_the_fuzz_loop(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CASH_HOOK)
    (pytester.path / "dryrun_two_lots.toml").write_text(TWO_LOTS)
    pytester.makepyfile(
        test_mine="""
        import pytest

        @pytest.mark.dryrun("happy_path")
        def test_fixture(dryrun, dryrun_invariants):
            assert [str(v) for v in dryrun_invariants(dryrun)] == ["at_most_one_lot (end of run): position 8.25"]
            assert dryrun_invariants(dryrun, skip=["broker_agrees"]) != []

        def test_fuzz(dryrun_fuzz):
            dryrun_fuzz(examples=40)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "dryrun_two_lots.toml: the run broke 1 invariant(s) (its golden file is compared once they hold):",
            "  - at_most_one_lot (end of run): position 2",
            "test_mine.py::test_fuzz: dryrun_fuzz: in generated scenario * of 40 (seed 0) 1 invariant broke; shrunk to "
            "1 step, 1 order, 0 cancels, no scheduled fault, fill model immediate:",
            "  - at_most_one_lot (end of run): position 2",
        ]
    )


def test_a_hook_that_returns_something_else_is_named(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import pytest\n\n@pytest.hookimpl(optionalhook=True)\ndef pytest_dryrun_invariants(config, result):\n"
        "    return 'all good'\n"
    )
    pytester.makepyfile(test_mine="def test_fixture(dryrun, dryrun_invariants):\n    dryrun_invariants(dryrun)\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.fnmatch_lines(
        [
            "test_mine.py::test_fixture: a pytest_dryrun_invariants hook returned 'all good'; return a list of "
            "pytest_peak_dryrun.Violation (empty when every invariant holds) or None"
        ]
    )


def test_the_ini_skips_invariants_and_refuses_unknown_names(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(OVERFILLS)
    pytester.makepyfile(test_fuzz="def test_fuzz(dryrun_fuzz):\n    dryrun_fuzz(examples=10)\n")
    pytester.makeini("[pytest]\ndryrun_skip_invariants = fills_within_quantity broker_agrees reconciler_converges\n")
    pytester.runpytest().assert_outcomes(passed=1)
    pytester.makeini("[pytest]\ndryrun_skip_invariants = fills_within_quantity broker_agree\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: ini dryrun_skip_invariants: no invariant named 'broker_agree'; the built-in invariants are "
            "legal_transitions, fills_within_quantity, *"
        ]
    )


def test_a_scenario_file_that_breaks_an_invariant_fails_before_its_golden_is_written(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(OVERFILLS)
    (pytester.path / "dryrun_two_lots.toml").write_text(TWO_LOTS)
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "dryrun_two_lots.toml: the run broke * invariant(s) (its golden file is compared once they hold):",
            "  - fills_within_quantity (step 1, order O-000001, event *): fill MB-00000001-F1 takes the order to 4 of 2",
        ]
    )
    assert not Path(pytester.path / "dryrun_two_lots.golden.json").exists()


CALL_ONLY = """
from pytest_peak_dryrun import Violation


def flat_at_stop(result):
    return [Violation("flat_at_stop", f"{q} {s}") for s, q in result.status.positions.items() if q]


def test_fuzz(dryrun_fuzz):
    dryrun_fuzz(examples=10, invariants=[flat_at_stop])
"""


def test_a_call_only_invariant_says_the_collected_reproducer_does_not_check_it(pytester: pytest.Pytester) -> None:
    # README's test_fuzz_narrower: an invariant passed to the call (invariants=) is not
    # something a collected scenario file checks (it checks the built-ins and the hook's), so
    # its reproducer does not "fail until its bug is fixed": it fails only for its missing
    # golden, and --snapshot-update records the broken run. The message and the file say so.
    pytester.makepyfile(test_fuzz=CALL_ONLY)
    result = pytester.runpytest("test_fuzz.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  - flat_at_stop (end of run): *",
            "  (flat_at_stop: passed to this call only (invariants=): a collected reproducer does not check it, "
            "so it would pass and --snapshot-update would record this run; implement it as a "
            "pytest_dryrun_invariants hook to keep the file failing until the fix)",
        ]
    )
    (reproducer,) = pytester.path.glob("dryrun_fuzz_*.toml")
    header = reproducer.read_text("utf-8")
    assert "# flat_at_stop is this test's own invariant (invariants=): the collected file does not check it" in header
    assert "fails while that holds" not in header
    pytester.runpytest("--snapshot-update", reproducer.name).assert_outcomes(passed=1)  # what the note warns of


def test_a_hook_invariant_is_checked_by_the_collected_reproducer_too(pytester: pytest.Pytester) -> None:
    # The same invariant as a hook: the reproducer fails on the oracle, so no note.
    pytester.makeconftest(
        """
        import pytest
        from pytest_peak_dryrun import Violation

        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_invariants(config, result):
            return [Violation("flat_at_stop", f"{q} {s}") for s, q in result.status.positions.items() if q]
        """
    )
    pytester.makepyfile(test_fuzz="def test_fuzz(dryrun_fuzz):\n    dryrun_fuzz(examples=10)\n")
    result = pytester.runpytest("test_fuzz.py")
    result.assert_outcomes(failed=1)
    assert "passed to this call only" not in result.stdout.str()
    (reproducer,) = pytester.path.glob("dryrun_fuzz_*.toml")
    assert "fails while that holds" in reproducer.read_text("utf-8")
    collected = pytester.runpytest("--snapshot-update", reproducer.name)
    collected.assert_outcomes(failed=1)
    collected.stdout.fnmatch_lines(["*the run broke 1 invariant(s)*", "  - flat_at_stop (end of run): *"])
