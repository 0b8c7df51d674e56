"""The rows every report renders from: numbers computed once, runs in report order, mismatches with their origin."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.orchestrator import DryRunConfig
from pytest_peak_dryrun.core.scenario import Scenario, builtin_scenario
from pytest_peak_dryrun.core.snapshots import MISMATCHES_LISTED
from pytest_peak_dryrun.report.html import render_html
from pytest_peak_dryrun.report.markdown import render_markdown
from pytest_peak_dryrun.report.rows import COLUMNS, TERMINAL_COLUMNS, RunRow, SessionRow, describe_mismatch
from pytest_peak_dryrun.report.text import terminal_table


def _row(name: str) -> RunRow:
    result = run_scenario(builtin_scenario(name))
    return RunRow.of(result.health, result.status, result.metrics)


def test_a_row_holds_the_numbers_of_its_documents() -> None:
    row = _row("failure_matrix")
    assert row.orders.model_dump() == {
        "placed": 6,
        "filled": 6,
        "canceled": 0,
        "rejected": 0,
        "expired": 0,
        "open": 0,
    }
    assert (row.health.status.value, row.needs_operator, row.attention, row.rank) == ("degraded", False, False, 1)
    assert row.retries.model_dump() == {
        "total": 3,
        "by_op": {"place": {"rate_limit": 1, "timeout": 1}, "query": {"transient_unavailable": 1}},
    }
    assert row.mismatches.total == 3
    assert row.mismatches.by_kind == {"cancel_race": 1, "duplicate_fill": 1, "fill_qty_mismatch": 1}
    assert [(c.operation, c.outcome, c.count) for c in row.detail.calls][-3:] == [
        ("retry place", "rate_limit", 1),
        ("retry place", "timeout", 1),
        ("retry query", "transient_unavailable", 1),
    ]
    partial = _row("partial_fills")
    assert (partial.orders.placed, partial.orders.filled, partial.orders.canceled) == (3, 2, 1)
    assert partial.rank == 2


def test_mismatches_say_where_they_came_from() -> None:
    row = _row("failure_matrix")
    assert [(m.step, m.order_id, m.kind.value) for m in row.mismatches.first] == [
        (9, "O-000004", "duplicate_fill"),
        (12, "O-000005", "cancel_race"),
        (16, "O-000006", "fill_qty_mismatch"),
    ]
    assert describe_mismatch(row.mismatches.first[1]) == (
        "step 12: cancel_race, order O-000005: fill MB-00000005-F1 arrived after the cancel request"
    )
    assert row.mismatches.unlisted == 0


def test_the_list_of_mismatches_is_bounded_and_the_counts_stay_exact(tmp_path: Path, many_mismatches: Scenario) -> None:
    result = run_scenario(many_mismatches, out_dir=tmp_path)
    status = json.loads((tmp_path / "runs" / "many_mismatches" / "status.json").read_text())
    assert status["reconcile"]["mismatches"] == {"duplicate_fill": 25}
    assert len(status["reconcile"]["first_mismatches"]) == MISMATCHES_LISTED == 20
    assert [m["step"] for m in status["reconcile"]["first_mismatches"]] == list(range(1, 21))
    row = RunRow.of(result.health, result.status, result.metrics)
    assert (row.mismatches.total, len(row.mismatches.first), row.mismatches.unlisted) == (25, 20, 5)


def test_runs_are_in_report_order_failed_then_degraded_then_ok(session_all: SessionRow) -> None:
    assert [(r.run_id, r.rank) for r in session_all.runs] == [
        ("tripwire", 0),
        ("failure_matrix", 1),
        ("happy_path", 2),
        ("partial_fills", 2),
    ]
    assert session_all.rollup.status.value == "failed"
    assert session_all.counters['orders_place_total{outcome="ok"}'] == 6 + 5 + 3 + 1


def test_a_run_that_needs_the_operator_ranks_first_whatever_its_id() -> None:
    result = run_scenario(builtin_scenario("happy_path"), run_id="aaa", config=DryRunConfig(max_steps=1))
    failed = RunRow.of(result.health, result.status, result.metrics)
    assert (failed.state.value, failed.needs_operator, failed.attention, failed.rank) == (
        "PREFLIGHT_FAILED",
        True,
        True,
        0,
    )
    ok, degraded = _row("happy_path"), _row("failure_matrix")
    session = SessionRow.of([ok, degraded, failed], {})
    assert [r.run_id for r in session.runs] == ["aaa", "failure_matrix", "happy_path"]


def test_one_runs_table_for_every_report(session_all: SessionRow) -> None:
    headers = [c.header for c in COLUMNS]
    assert "| " + " | ".join(headers) + " |" in render_markdown(session_all).splitlines()
    assert "<thead><tr>" + "".join(f"<th>{h}</th>" for h in headers) + "</tr></thead>" in render_html(session_all)
    assert terminal_table(session_all)[0].split("  ")[0] == "run"
    assert [c.header for c in TERMINAL_COLUMNS] == [
        "run",
        "final state",
        "health",
        "placed",
        "filled",
        "canceled",
        "rejected",
        "mismatches",
        "rail trips",
    ]
