"""Health, status and metrics documents, and the normalized report."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import Scenario, builtin_scenario
from pytest_peak_dryrun.core.snapshots import OPEN_ORDERS_LISTED
from pytest_peak_dryrun.core.stream import LAST_EVENTS


def test_health_ok() -> None:
    health = run_scenario(builtin_scenario("happy_path")).health
    data = health.to_json_data()
    assert data["schema"] == "peak-dryrun/health/v1"
    assert data["status"] == "ok"
    assert data["orchestrator_state"] == "STOPPED"
    assert data["safety_rail_trips_total"] == 0
    assert data["reasons"] == []
    assert data["last_audit_event_ts"] == 1_768_694_420
    assert data["reconciler_last_ok_ts"] == 1_768_694_420


def test_health_failed_when_a_rail_tripped() -> None:
    health = run_scenario(builtin_scenario("tripwire")).health
    assert health.status.value == "failed"
    assert health.reasons == [
        "session needs the operator (ERROR_REQUIRES_OPERATOR)",
        "1 safety rail trip(s): max_order_qty",
    ]


def test_health_degraded_with_mismatches_or_open_orders() -> None:
    health = run_scenario(builtin_scenario("failure_matrix")).health
    assert health.status.value == "degraded"
    scenario = Scenario.model_validate(
        {
            "name": "open",
            "steps": 2,
            "broker": {"fill_model": "never", "cancel_latency_steps": 9},
            "stop_timeout_steps": 1,
            "orders": [{"step": 1, "instrument": "DEMO-EUR", "side": "BUY", "qty": "1"}],
        }
    )
    result = run_scenario(scenario)
    assert result.health.status.value == "failed"
    assert result.health.reasons == [
        "session needs the operator (ERROR_REQUIRES_OPERATOR)",
        "1 order(s) still open",
    ]
    assert result.status.orders.open == 1
    assert [o.state.value for o in result.status.open_orders] == ["PENDING_CANCEL"]


def test_status_document() -> None:
    status = run_scenario(builtin_scenario("partial_fills")).status
    data = status.to_json_data()
    assert data["schema"] == "peak-dryrun/status/v1"
    assert data["session"]["state"] == "STOPPED"
    assert data["session"]["steps_planned"] == data["session"]["steps_run"] == 20
    assert data["orders"]["placed"] == 3
    assert data["orders"]["by_state"] == {
        "NEW": 0,
        "ACK": 0,
        "PARTIAL": 0,
        "FILLED": 2,
        "PENDING_CANCEL": 0,
        "PENDING_REPLACE": 0,
        "CANCELED": 1,
        "REJECTED": 0,
        "EXPIRED": 0,
    }
    assert data["orders"]["filled_qty"] == "41.00"
    assert data["positions"] == {"DEMO-EUR": "17.00"}
    assert data["reconcile"]["passes"] == 6
    assert data["reconcile"]["mismatches"] == {}
    assert len(data["last_events"]) == LAST_EVENTS
    assert data["last_events"][-1]["payload"] == {"from_state": "STOPPING", "to_state": "STOPPED"}


def test_open_orders_listed_are_bounded() -> None:
    orders: list[dict[str, Any]] = [
        {"step": 1, "instrument": "DEMO-EUR", "side": "BUY", "qty": "1"} for _ in range(OPEN_ORDERS_LISTED + 5)
    ]
    scenario = Scenario.model_validate(
        {
            "name": "many",
            "steps": 1,
            "orders": orders,
            "broker": {"fill_model": "never", "cancel_latency_steps": 5},
            "stop_timeout_steps": 0,
        }
    )
    status = run_scenario(scenario).status
    assert status.orders.open == OPEN_ORDERS_LISTED + 5
    assert len(status.open_orders) == OPEN_ORDERS_LISTED
    assert status.open_orders[0].order_id == "O-000001"


def test_metrics_document_value_and_total() -> None:
    metrics = run_scenario(builtin_scenario("failure_matrix")).metrics
    assert metrics.to_json_data()["schema"] == "peak-dryrun/metrics/v1"
    assert metrics.value("orders_place_total", outcome="ok") == 6
    assert metrics.value("orders_place_total", outcome="rejected") == 0
    assert metrics.total("retry_attempts_total") == 3
    assert metrics.value("orchestrator_state", state="STOPPED") == 1
    with pytest.raises(KeyError, match="no metric named 'no_such_metric'"):
        metrics.value("no_such_metric")


def test_report_holds_only_non_zero_counters() -> None:
    report = run_scenario(builtin_scenario("happy_path")).report
    assert report["schema"] == "peak-dryrun/report/v1"
    assert set(report) == {
        "schema",
        "scenario",
        "seed",
        "steps",
        "final_state",
        "health",
        "orders",
        "positions",
        "cash",
        "reconcile",
        "rail_trips",
        "counters",
        "audit",
    }
    assert "run_id" not in report
    assert all(v for v in report["counters"].values())
    assert not any(k.startswith(("orchestrator_state", "last_audit", "reconciler_last")) for k in report["counters"])
    assert report["orders"]["by_state"] == {"FILLED": 5}
