"""The planted bug of ``cancel_echo_adapter.py``: the hand-written scenarios pass, the fuzzer finds it.

The proof runs inside ``pytester`` (an inner pytest session), so this suite stays green
while it shows a fuzz run failing: the failure is the inner session's, and what it prints
and writes is asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cancel_echo_adapter import BUGGY_LINE, FIXED_LINE, CancelEchoAdapter

from pytest_peak_dryrun import MockBroker, load_scenario

pytest_plugins = ["pytester"]

HAND_WRITTEN = ["happy_path", "partial_fills", "failure_matrix", "venue_lifecycle", "dryrun_failure_matrix.toml"]


@pytest.fixture
def mock_broker(dryrun_scenario, sim_clock):
    """Every dry run in this module trades through the adapter with the planted bug."""
    return CancelEchoAdapter(MockBroker(dryrun_scenario.broker_config(), clock=sim_clock))


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.dryrun(name)) for name in HAND_WRITTEN])
def test_the_hand_written_scenarios_pass_through_the_buggy_adapter(name, dryrun, run_dryrun, dryrun_invariants):
    assert dryrun.state == "STOPPED"
    assert dryrun_invariants(dryrun) == []
    # no difference from the bare venue: the same fills, the same report (the audit head differs
    # only because the preflight names the broker's class)
    bare = run_dryrun(dryrun.scenario, broker=MockBroker(dryrun.scenario.broker_config()))
    assert [e.payload for e in dryrun.events.of("fill")] == [e.payload for e in bare.events.of("fill")]
    assert {**dryrun.report, "audit": None} == {**bare.report, "audit": None}


CONFTEST = """
import pytest
from cancel_echo_adapter import CancelEchoAdapter
from pytest_peak_dryrun import MockBroker


@pytest.hookimpl(optionalhook=True)
def pytest_dryrun_make_broker(config, scenario, clock):
    return CancelEchoAdapter(MockBroker(scenario.broker_config(), clock=clock))
"""

FUZZ_TEST = """
def test_fuzz_the_adapter(dryrun_fuzz):
    dryrun_fuzz()  # the default budget: 500 generated scenarios, seed 0
"""


def test_the_fuzzer_finds_the_planted_bug_and_passes_the_fixed_adapter(pytester: pytest.Pytester) -> None:
    source = (Path(__file__).parent / "cancel_echo_adapter.py").read_text(encoding="utf-8")
    pytester.makepyfile(cancel_echo_adapter=source)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_fuzz_adapter=FUZZ_TEST)

    # 1. The fuzz run fails, names the invariant, and the reproducer file it wrote.
    result = pytester.runpytest_subprocess("test_fuzz_adapter.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_fuzz_adapter.py::test_fuzz_the_adapter: dryrun_fuzz: in generated scenario * of 500 (seed 0) "
            # the fill model the shrink ends on depends on hypothesis's version (partial or price_path)
            "1 invariant broke; shrunk to 1 step, 1 order, 0 cancels, no scheduled fault, fill model *, "
            "cancel latency 1:",
            "  - stops_cleanly_without_faults (end of run): no fault was injected and no rail tripped, yet the "
            "session ended ERROR_REQUIRES_OPERATOR (1 order(s) still open after 10 steps); mismatches: "
            "fill_qty_mismatch O-000001: broker filled *, local *; status_mismatch O-000001: broker FILLED, "
            "local PENDING_CANCEL",
            "reproducer: dryrun_fuzz_test_fuzz_the_adapter_*.toml",
        ]
    )
    (reproducer,) = pytester.path.glob("dryrun_fuzz_*.toml")
    shrunk = load_scenario(reproducer)
    assert (shrunk.steps, len(shrunk.orders), shrunk.cancels, shrunk.faults) == (1, 1, (), ())

    # 2. Collected like any scenario file, the reproducer fails on the same invariant.
    collected = pytester.runpytest_subprocess(reproducer.name)
    collected.assert_outcomes(failed=1)
    collected.stdout.fnmatch_lines(
        [
            f"{reproducer.name}: the run broke 1 invariant(s) (its golden file is compared once they hold):",
            "  - stops_cleanly_without_faults (end of run): no fault was injected and no rail tripped, *",
        ]
    )

    # 3. With the one-line fix, the fuzz run passes, and so does the reproducer once its golden is recorded.
    indent = " " * 8  # the line in iter_fills, not the constant that quotes it
    assert source.count(indent + BUGGY_LINE) == 1
    pytester.makepyfile(cancel_echo_adapter=source.replace(indent + BUGGY_LINE, indent + FIXED_LINE))
    pytester.runpytest_subprocess("test_fuzz_adapter.py").assert_outcomes(passed=1)
    pytester.runpytest_subprocess("--snapshot-update", reproducer.name).assert_outcomes(passed=1)
    pytester.runpytest_subprocess(reproducer.name).assert_outcomes(passed=1)
