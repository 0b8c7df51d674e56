"""run_scenario: one end-to-end dry run and the result it hands back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_peak_dryrun.core.broker import MockBroker
from pytest_peak_dryrun.core.canonical import dumps
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.dryrun import make_run_id, run_scenario
from pytest_peak_dryrun.core.events import EventRecord
from pytest_peak_dryrun.core.model import Event
from pytest_peak_dryrun.core.orchestrator import DryRunConfig, SessionState
from pytest_peak_dryrun.core.scenario import Scenario, builtin_scenario


@pytest.mark.parametrize(
    ("name", "run_id"),
    [
        ("tests/test_x.py::test_y[a-1]", "tests-test_x-test_y-a-1"),
        ("tests/test_x.py::TestA::test_b", "tests-test_x-TestA-test_b"),
        ("  weird  name!! ", "weird-name"),
        ("...", "run"),
        ("x" * 200, "x" * 120),
    ],
)
def test_make_run_id(name: str, run_id: str) -> None:
    assert make_run_id(name) == run_id


def test_result_of_a_happy_run() -> None:
    result = run_scenario(builtin_scenario("happy_path"))
    assert result.run_id == "happy_path"
    assert result.state is SessionState.STOPPED
    assert result.scenario.name == "happy_path"
    assert result.health.status.value == "ok"
    assert result.health.reasons == []
    assert result.summary() == {
        "run_id": "happy_path",
        "scenario": "happy_path",
        "state": "STOPPED",
        "health": "ok",
        "placed": 5,
        "filled": 5,
        "canceled": 0,
        "rejected": 0,
        "mismatches": 0,
        "rail_trips": 0,
    }
    assert result.files == {}
    assert result.run_dir is None
    assert repr(result) == "DryRunResult(run_id='happy_path', state=STOPPED, health=ok)"
    assert all(isinstance(e, Event) for e in result.events)
    assert [e.seq for e in result.events] == [e.seq for e in result.event_records]
    assert result.events[0].run_id == "happy_path"
    assert result.count("order_place", outcome="ok") == 5
    assert result.count("order_place", outcome="rejected") == 0


def test_events_need_keep_events() -> None:
    result = run_scenario(builtin_scenario("happy_path"), keep_events=False)
    with pytest.raises(RuntimeError, match="keep_events=True"):
        _ = result.events
    with pytest.raises(RuntimeError):
        _ = result.event_records
    assert result.report["orders"]["placed"] == 5


def test_listeners_and_report_hook() -> None:
    seen: list[EventRecord] = []

    def hook(report: dict[str, Any]) -> dict[str, Any]:
        return {**report, "reviewed": True}

    result = run_scenario(builtin_scenario("happy_path"), listeners=[seen.append], report_hook=hook)
    assert len(seen) == len(result.event_records)
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


def test_a_broker_passed_in_shares_its_clock_and_gets_the_fault_events() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "shared",
            "steps": 3,
            "orders": [{"step": 2, "instrument": "DEMO-EUR", "side": "BUY", "qty": "1"}],
            "faults": [{"step": 2, "op": "place", "kind": "rate_limit"}],
        }
    )
    clock = SimClock()
    broker = MockBroker(scenario.broker_config(), clock=clock)
    result = run_scenario(scenario, broker=broker, clock=SimClock(epoch_ms=0))
    assert clock.step == 3  # the run moved the broker's clock, not the one passed beside it
    assert result.orchestrator.clock is clock
    assert result.count("fault_injected", fault="rate_limit") == 1


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
