"""run_scenario: one end-to-end dry run and the result it hands back."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pytest_peak_dryrun.core.broker import MockBroker
from pytest_peak_dryrun.core.canonical import dumps
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.dryrun import make_run_id, run_scenario
from pytest_peak_dryrun.core.events import EventRecord
from pytest_peak_dryrun.core.events import EventRecord as Event
from pytest_peak_dryrun.core.orchestrator import DryRunConfig, SessionState
from pytest_peak_dryrun.core.scenario import Scenario, builtin_scenario

RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # what run_scenario accepts


@pytest.mark.parametrize(
    ("name", "run_id"),
    [
        ("tests/test_x.py::test_y[a-1]", "tests-test_x-test_y-a-1-cf4438d3d0d2"),
        ("tests/test_x.py::TestA::test_b", "tests-test_x-TestA-test_b-817371df2971"),
        ("  weird  name!! ", "weird-name-21c95a79bb92"),
        ("...", "run-ab5df625bc76"),
        ("x" * 200, "x" * 100 + "-aa20c23e3201"),
        ("happy_path", "happy_path"),  # a plain name is its own id
        ("a-0123456789ab", "a-0123456789ab-b5c315955f0a"),  # ... unless it looks hashed
        ("a-0123456789ab-2", "a-0123456789ab-2-0d9a86f3a641"),
    ],
)
def test_make_run_id(name: str, run_id: str) -> None:
    assert make_run_id(name) == run_id
    assert hashlib.sha256(name.encode()).hexdigest()[:12] in run_id or run_id == name


def test_node_ids_that_sanitise_alike_get_distinct_run_ids() -> None:
    # Issue 12: these four shared one id, and under xdist two workers wrote one directory.
    names = [f"tests/test_x.py::test_c[{case}]" for case in ("a b", "a-b", "a/b", "a:b", "a b ", "a__b", "a.b")]
    ids = [make_run_id(name) for name in names]
    assert len(set(ids)) == len(names)
    assert ids[0] == "tests-test_x-test_c-a-b-50d3be060f94"
    assert all(RUN_ID.match(run_id) and len(run_id) <= 113 for run_id in ids)


@given(st.text(max_size=300), st.text(max_size=300))
def test_distinct_names_never_share_a_run_id(a: str, b: str) -> None:
    assume(a != b)
    assert make_run_id(a) != make_run_id(b)
    assert RUN_ID.match(make_run_id(a))
    assert RUN_ID.match(make_run_id(a) + "-99999")  # room for run_dryrun's later runs


def test_result_of_a_happy_run() -> None:
    result = run_scenario(builtin_scenario("happy_path"))
    assert result.run_id == "happy_path"
    assert result.state is SessionState.STOPPED
    assert result.scenario.name == "happy_path"
    assert result.health.status.value == "ok"
    assert result.health.reasons == []
    assert result.status.orders.placed == 5
    assert result.status.reconcile.first_mismatches == []
    assert result.files == {}
    assert result.run_dir is None
    assert repr(result) == "DryRunResult(run_id='happy_path', state=STOPPED, health=ok)"
    assert all(isinstance(e, Event) for e in result.events)
    assert [e.seq for e in result.events] == list(range(1, len(result.events) + 1))
    assert result.events[0].kind == "preflight_check"
    assert result.count("order_place", outcome="ok") == 5
    assert result.events.count("order_place", outcome="ok") == 5
    assert result.count("order_place", outcome="rejected") == 0


def test_events_need_keep_events() -> None:
    result = run_scenario(builtin_scenario("happy_path"), keep_events=False)
    with pytest.raises(RuntimeError, match="keep_events=True"):
        _ = result.events
    with pytest.raises(RuntimeError):
        _ = result.events
    assert result.report["orders"]["placed"] == 5


def test_listeners_and_report_hook() -> None:
    seen: list[EventRecord] = []

    def hook(report: dict[str, Any]) -> dict[str, Any]:
        return {**report, "reviewed": True}

    result = run_scenario(builtin_scenario("happy_path"), listeners=[seen.append], report_hook=hook)
    assert len(seen) == len(result.events)
    assert result.report["reviewed"] is True


def test_report_hook_output_is_what_is_written(tmp_path: Path) -> None:
    """What the hook returns, plus the audit block set after it and the mark that a hook changed it."""
    result = run_scenario(
        builtin_scenario("happy_path"), out_dir=tmp_path, report_hook=lambda r: {"only": r["final_state"]}
    )
    audit = {"events": result.orchestrator.stream.seq, "head_sha256": result.report["audit"]["head_sha256"]}
    assert result.report == {"only": "STOPPED", "audit": audit, "modified_by_hook": True}
    assert (tmp_path / "runs" / "happy_path" / "report.json").read_text() == dumps(result.report)
    assert result.report["audit"] == run_scenario(builtin_scenario("happy_path")).report["audit"]


def test_steps_override() -> None:
    result = run_scenario(builtin_scenario("happy_path"), steps=3)
    assert result.report["steps"] == {"planned": 20, "run": 3}
    assert result.report["orders"]["placed"] == 2


def _one_fault_scenario() -> Scenario:
    return Scenario.model_validate(
        {
            "name": "shared",
            "steps": 3,
            "orders": [{"step": 2, "instrument": "DEMO-EUR", "side": "BUY", "qty": "1"}],
            "faults": [{"step": 2, "op": "place", "kind": "rate_limit"}],
        }
    )


def test_a_broker_passed_in_without_a_clock_argument_lends_the_run_its_clock() -> None:
    scenario = _one_fault_scenario()
    clock = SimClock()
    broker = MockBroker(scenario.broker_config(), clock=clock)
    result = run_scenario(scenario, broker=broker)
    assert clock.step == 3  # the run moved the broker's clock
    assert result.orchestrator.clock is clock
    assert result.orchestrator.broker is broker
    # the scenario's faults reached it through the run's FaultInjector
    assert result.count("fault_injected", fault="rate_limit") == 1
    assert result.metrics.value("faults_injected_total", op="place", fault="rate_limit") == 1


def test_a_clock_argument_beside_a_broker_on_another_clock_fails_the_preflight() -> None:
    scenario = _one_fault_scenario()
    broker = MockBroker(scenario.broker_config(), clock=SimClock())
    result = run_scenario(scenario, broker=broker, clock=SimClock(epoch_ms=0))
    assert result.state is SessionState.PREFLIGHT_FAILED
    (reason,) = result.health.reasons
    assert reason.startswith("preflight failed: broker_clock: MockBroker.clock is a SimClock other than the run's")
    assert broker.clock.step == 0


def test_the_same_clock_given_twice_is_fine() -> None:
    scenario = _one_fault_scenario()
    clock = SimClock()
    result = run_scenario(scenario, broker=MockBroker(scenario.broker_config(), clock=clock), clock=clock)
    assert result.state is SessionState.STOPPED


def test_preflight_failure_is_a_result_not_an_exception(tmp_path: Path) -> None:
    result = run_scenario(
        builtin_scenario("happy_path"), config=DryRunConfig(instrument_allowlist=("DEMO-EUR",)), out_dir=tmp_path
    )
    assert result.state is SessionState.PREFLIGHT_FAILED
    assert result.report["final_state"] == "PREFLIGHT_FAILED"
    assert result.report["steps"] == {"planned": 20, "run": 0}
    assert result.health.status.value == "failed"
    assert result.health.reasons == [
        "preflight failed: instrument_allowlist: scenario instruments not allowed: DEMO-USD"
    ]
    assert [c.check for c in result.status.session.preflight if not c.ok] == ["instrument_allowlist"]
    assert sorted(result.files) == [
        "audit.jsonl",
        "events.jsonl",
        "health.json",
        "metrics.json",
        "report.json",
        "status.json",
    ]


@pytest.mark.parametrize("bad", ["../escape", "a/b", ".hidden", "x" * 200])
def test_a_run_id_that_is_not_a_plain_name_is_refused(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must match"):
        run_scenario(builtin_scenario("happy_path"), run_id=bad, out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_repr_says_why_a_session_did_not_stop_cleanly() -> None:
    # a test's failure shows the fixture's repr: a failed preflight says which check right there
    result = run_scenario(builtin_scenario("failure_matrix"), config=DryRunConfig(max_steps=5))
    assert repr(result) == (
        "DryRunResult(run_id='failure_matrix', state=PREFLIGHT_FAILED, health=failed, "
        "reason='step_bound: scenario has 24 steps, the bound is 5')"
    )
