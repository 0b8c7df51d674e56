"""One test per failure kind: exact mismatch, rail and retry counts and the final state.

Each scenario injects one fault and nothing else, so every counter in its report is
accounted for: the assertions compare the complete set of non-zero counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_peak_dryrun.core.broker import MockBroker
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.dryrun import DryRunResult, run_scenario
from pytest_peak_dryrun.core.model import Fill, Order, OrderRequest
from pytest_peak_dryrun.core.orchestrator import SessionState
from pytest_peak_dryrun.core.scenario import Scenario, builtin_scenario

PLACE_OK = 'orders_place_total{outcome="ok"}'
QUERY_OK = 'orders_query_total{outcome="ok"}'
CANCEL_OK = 'orders_cancel_total{outcome="ok"}'


def T(from_state: str, to_state: str) -> str:
    return f'order_state_transitions_total{{from_state="{from_state}",to_state="{to_state}"}}'


def RETRY(op: str, reason: str) -> str:
    return f'retry_attempts_total{{op="{op}",reason="{reason}"}}'


def MISMATCH(kind: str) -> str:
    return f'reconcile_mismatches_total{{kind="{kind}"}}'


def FAULT(op: str, kind: str) -> str:
    return f'faults_injected_total{{op="{op}",fault="{kind}"}}'


def order(step: int, qty: str = "4", **kw: Any) -> dict[str, Any]:
    return {"step": step, "instrument": "DEMO-EUR", "side": "BUY", "qty": qty, **kw}


def run(name: str, **fields: Any) -> DryRunResult:
    data: dict[str, Any] = {"name": name, "steps": 6, "reconcile_every": 3, **fields}
    return run_scenario(Scenario.model_validate(data))


def fault(step: int, op: str, kind: str, times: int = 1) -> dict[str, Any]:
    return {"step": step, "op": op, "kind": kind, "times": times}


def assert_clean_finish(result: DryRunResult, *, mismatches: dict[str, int] | None = None) -> None:
    assert result.report["final_state"] == "STOPPED"
    assert result.report["rail_trips"] == []
    assert result.metrics.total("safety_rail_trips_total") == 0
    assert result.report["orders"]["open"] == 0
    assert result.report["reconcile"]["mismatches"] == (mismatches or {})
    assert result.metrics.total("reconcile_mismatches_total") == sum((mismatches or {}).values())


def test_rate_limit() -> None:
    result = run("rate_limit", orders=[order(2)], faults=[fault(2, "place", "rate_limit")])
    assert_clean_finish(result)
    assert result.report["counters"] == {
        T("NEW", "ACK"): 1,
        T("ACK", "FILLED"): 1,
        PLACE_OK: 1,
        QUERY_OK: 1,
        RETRY("place", "rate_limit"): 1,
        FAULT("place", "rate_limit"): 1,
    }
    assert result.count("fault_injected", op="place", fault="rate_limit") == 1
    (retry,) = [e for e in result.events if e.kind == "retry"]
    assert retry.payload.to_dict() == {"op": "place", "reason": "rate_limit", "attempt": 1, "backoff_ms": 100}
    assert result.report["orders"]["by_state"] == {"FILLED": 1}


def test_rate_limit_until_the_retries_run_out() -> None:
    result = run("rate_limit_exhausted", orders=[order(2)], faults=[fault(2, "place", "rate_limit", times=3)])
    assert_clean_finish(result)
    assert result.report["counters"] == {
        T("NEW", "REJECTED"): 1,
        'orders_place_total{outcome="error"}': 1,
        RETRY("place", "rate_limit"): 2,
        FAULT("place", "rate_limit"): 3,
    }
    assert result.report["orders"]["by_state"] == {"REJECTED": 1}
    (place,) = [e.payload.to_dict() for e in result.events if e.kind == "order_place"]
    assert (place["outcome"], place["reason"]) == ("error", "rate_limit")


def test_partial_fills() -> None:
    result = run("partial", broker={"fill_model": "partial", "partial_slices": 3}, orders=[order(1, "9")])
    assert_clean_finish(result)
    assert result.report["counters"] == {
        T("NEW", "ACK"): 1,
        T("ACK", "PARTIAL"): 1,
        T("PARTIAL", "FILLED"): 1,
        PLACE_OK: 1,
        QUERY_OK: 1,
    }
    fills = [e.payload.to_dict() for e in result.events if e.kind == "fill"]
    assert [(str(f["qty"]), str(f["cum_qty"]), f["exec_seq"]) for f in fills] == [
        ("3.00", "3.00", 1),
        ("3.00", "6.00", 2),
        ("3.00", "9.00", 3),
    ]
    assert result.report["orders"]["filled_qty"] == "9.00"
    assert result.report["positions"] == {"DEMO-EUR": "9.00"}


def test_timeout_after_acceptance_does_not_double_the_order() -> None:
    result = run("timeout", orders=[order(2)], faults=[fault(2, "place", "timeout")])
    assert_clean_finish(result)
    # the retry with the same idempotency key found the accepted order: one retry, one order
    assert result.report["counters"] == {
        T("NEW", "ACK"): 1,
        T("ACK", "FILLED"): 1,
        PLACE_OK: 1,
        QUERY_OK: 1,
        RETRY("place", "timeout"): 1,
        FAULT("place", "timeout"): 1,
    }
    assert result.count("fault_injected", fault="timeout") == 1
    assert result.report["orders"] == {"placed": 1, "open": 0, "by_state": {"FILLED": 1}, "filled_qty": "4"}
    assert result.report["positions"] == {"DEMO-EUR": "4"}
    (place,) = [e.payload.to_dict() for e in result.events if e.kind == "order_place"]
    assert place["broker_order_id"] == "MB-00000001"


def test_a_timeout_on_every_attempt_leaves_an_order_only_the_broker_knows() -> None:
    # every call is a call at the boundary, retries too: three timeouts exhaust the retries
    # while the venue holds (and fills) the one order the idempotency key made
    result = run("timeout_exhausted", orders=[order(2)], faults=[fault(2, "place", "timeout", times=3)])
    assert_clean_finish(result, mismatches={"unknown_fill": 1})
    assert result.report["counters"] == {
        T("NEW", "REJECTED"): 1,
        'orders_place_total{outcome="error"}': 1,
        RETRY("place", "timeout"): 2,
        FAULT("place", "timeout"): 3,
        MISMATCH("unknown_fill"): 1,
    }
    (mismatch,) = [e.payload.to_dict() for e in result.events if e.kind == "reconcile_mismatch"]
    assert mismatch == {
        "kind": "unknown_fill",
        "order_id": "MB-00000001",
        "detail": "fill MB-00000001-F1 for an order we do not track",
    }
    assert result.health.status.value == "degraded"


def test_timeout_on_cancel_is_retried_safely() -> None:
    result = run(
        "cancel_timeout",
        broker={"fill_model": "never"},
        orders=[order(1, id="a")],
        cancels=[{"step": 2, "order": "a"}],
        faults=[fault(2, "cancel", "timeout")],
    )
    assert_clean_finish(result)
    assert result.report["counters"] == {
        T("NEW", "ACK"): 1,
        T("ACK", "PENDING_CANCEL"): 1,
        T("PENDING_CANCEL", "CANCELED"): 1,
        PLACE_OK: 1,
        QUERY_OK: 2,
        CANCEL_OK: 1,
        RETRY("cancel", "timeout"): 1,
        FAULT("cancel", "timeout"): 1,
    }
    assert result.report["orders"]["by_state"] == {"CANCELED": 1}


def test_transient_unavailable() -> None:
    result = run("transient", orders=[order(2)], faults=[fault(2, "query", "transient_unavailable")])
    assert_clean_finish(result)
    assert result.report["counters"] == {
        T("NEW", "ACK"): 1,
        T("ACK", "FILLED"): 1,
        PLACE_OK: 1,
        QUERY_OK: 1,
        RETRY("query", "transient_unavailable"): 1,
        FAULT("query", "transient_unavailable"): 1,
    }


def test_transient_unavailable_on_every_query_attempt() -> None:
    result = run(
        "transient_exhausted",
        orders=[order(2)],
        faults=[fault(2, "query", "transient_unavailable", times=3)],
    )
    assert_clean_finish(result)
    # the step's query gives up; the fills still move the order, the next query is clean
    assert result.report["counters"] == {
        T("NEW", "FILLED"): 1,
        'orders_query_total{outcome="error"}': 1,
        PLACE_OK: 1,
        RETRY("query", "transient_unavailable"): 2,
        FAULT("query", "transient_unavailable"): 3,
    }


def test_duplicate_fill() -> None:
    result = run(
        "duplicate",
        rails={"max_duplicate_fills": 1},
        broker={"fill_model": "partial", "partial_slices": 2},
        orders=[order(2)],
        faults=[fault(2, "fills", "duplicate_fill")],
    )
    assert_clean_finish(result, mismatches={"duplicate_fill": 1})
    assert result.report["counters"] == {
        T("NEW", "ACK"): 1,
        T("ACK", "PARTIAL"): 1,
        T("PARTIAL", "FILLED"): 1,
        PLACE_OK: 1,
        QUERY_OK: 1,
        MISMATCH("duplicate_fill"): 1,
        FAULT("fills", "duplicate_fill"): 1,
    }
    assert result.count("fill_duplicate_ignored", order_id="O-000001", fill_id="MB-00000001-F1") == 1
    assert result.count("fill") == 2
    assert result.report["orders"]["filled_qty"] == "4.00"  # applied once
    assert result.health.status.value == "degraded"


def test_duplicate_fill_beyond_the_tolerance_trips_the_rail() -> None:
    result = run(
        "duplicate_trip",
        broker={"fill_model": "partial", "partial_slices": 2},
        orders=[order(2)],
        faults=[fault(2, "fills", "duplicate_fill")],
    )
    assert result.report["final_state"] == "ERROR_REQUIRES_OPERATOR"
    assert result.report["rail_trips"] == [{"rail": "duplicate_fill", "step": 2}]
    assert result.report["reconcile"]["mismatches"] == {"duplicate_fill": 1}
    assert result.report["counters"]['safety_rail_trips_total{rail="duplicate_fill"}'] == 1


def test_cancel_race() -> None:
    result = run(
        "cancel_race",
        broker={"fill_model": "never"},
        orders=[order(1, id="a")],
        cancels=[{"step": 3, "order": "a"}],
        faults=[fault(3, "cancel", "cancel_race")],
    )
    assert_clean_finish(result, mismatches={"cancel_race": 1})
    assert result.report["counters"] == {
        T("NEW", "ACK"): 1,
        T("ACK", "PENDING_CANCEL"): 1,
        T("PENDING_CANCEL", "FILLED"): 1,
        PLACE_OK: 1,
        QUERY_OK: 2,
        CANCEL_OK: 1,
        MISMATCH("cancel_race"): 1,
        FAULT("cancel", "cancel_race"): 1,
    }
    assert result.report["orders"]["by_state"] == {"FILLED": 1}
    assert result.report["positions"] == {"DEMO-EUR": "4"}


def test_out_of_order_fill() -> None:
    result = run(
        "out_of_order",
        broker={"fill_model": "partial", "partial_slices": 2},
        orders=[order(2)],
        faults=[fault(2, "fills", "out_of_order_fill")],
    )
    assert_clean_finish(result)
    assert result.report["counters"] == {
        T("NEW", "ACK"): 1,
        T("ACK", "PARTIAL"): 1,
        T("PARTIAL", "FILLED"): 1,
        PLACE_OK: 1,
        QUERY_OK: 1,
        FAULT("fills", "out_of_order_fill"): 1,
    }
    fills = [e.payload.to_dict() for e in result.events if e.kind == "fill"]
    assert [(f["fill_id"], f["exec_seq"], str(f["cum_qty"])) for f in fills] == [
        ("MB-00000001-F2", 2, "2.00"),
        ("MB-00000001-F1", 1, "4.00"),
    ]
    assert result.count("fill_out_of_order") == 1  # one gap; the late earlier fill closes it
    assert result.count("fill_out_of_order", fill_id="MB-00000001-F2", exec_seq=2, expected=1) == 1


def test_out_of_order_fill_seen_by_a_reconcile_pass() -> None:
    # a pass while the earlier fill is still held back sees the broker ahead of us
    result = run(
        "out_of_order_reconciled",
        reconcile_every=2,
        broker={"fill_model": "partial", "partial_slices": 2},
        orders=[order(2)],
        faults=[fault(2, "fills", "out_of_order_fill")],
    )
    assert_clean_finish(result, mismatches={"fill_qty_mismatch": 1})
    assert result.report["reconcile"] == {"passes": 4, "clean_passes": 3, "mismatches": {"fill_qty_mismatch": 1}}


def test_dropped_ack_shows_up_as_a_stuck_order() -> None:
    result = run(
        "dropped_ack",
        stuck_after_steps=2,
        broker={"fill_model": "never"},
        orders=[order(1)],
        faults=[fault(1, "place", "dropped_ack")],
    )
    assert_clean_finish(result, mismatches={"stuck_order": 1})
    assert result.report["counters"] == {
        T("NEW", "PENDING_CANCEL"): 1,
        T("PENDING_CANCEL", "CANCELED"): 1,
        PLACE_OK: 1,
        QUERY_OK: 7,  # NEW needs a status query every step, and the ack never shows
        CANCEL_OK: 1,
        MISMATCH("stuck_order"): 1,
        FAULT("place", "dropped_ack"): 1,
    }


def test_builtin_failure_matrix_exact_counts() -> None:
    result = run_scenario(builtin_scenario("failure_matrix"))
    report = result.report
    assert report["final_state"] == "STOPPED"
    assert report["steps"] == {"planned": 24, "run": 24}
    assert report["rail_trips"] == []
    assert report["orders"] == {"placed": 6, "open": 0, "by_state": {"FILLED": 6}, "filled_qty": "35.00"}
    assert report["reconcile"] == {
        "passes": 7,
        "clean_passes": 6,
        "mismatches": {"cancel_race": 1, "duplicate_fill": 1, "fill_qty_mismatch": 1},
    }
    assert report["counters"] == {
        T("NEW", "ACK"): 5,
        T("ACK", "PARTIAL"): 5,
        T("PARTIAL", "FILLED"): 5,
        T("NEW", "PENDING_CANCEL"): 1,
        T("PENDING_CANCEL", "FILLED"): 1,
        CANCEL_OK: 1,
        PLACE_OK: 6,
        QUERY_OK: 6,
        MISMATCH("cancel_race"): 1,
        MISMATCH("duplicate_fill"): 1,
        MISMATCH("fill_qty_mismatch"): 1,
        RETRY("place", "rate_limit"): 1,
        RETRY("place", "timeout"): 1,
        RETRY("query", "transient_unavailable"): 1,
        FAULT("place", "rate_limit"): 1,
        FAULT("place", "timeout"): 1,
        FAULT("query", "transient_unavailable"): 1,
        FAULT("fills", "duplicate_fill"): 1,
        FAULT("cancel", "cancel_race"): 1,
        FAULT("fills", "out_of_order_fill"): 1,
    }
    assert report["health"] == {
        "status": "degraded",
        "reasons": ["3 reconcile mismatch(es): cancel_race 1, duplicate_fill 1, fill_qty_mismatch 1"],
    }
    assert report["positions"] == {"DEMO-EUR": "11.00"}
    assert report["cash"] == "998900.0000"
    faults = [(e.payload["op"], e.payload["fault"]) for e in result.events if e.kind == "fault_injected"]
    assert faults == [
        ("place", "rate_limit"),
        ("place", "timeout"),
        ("query", "transient_unavailable"),
        ("fills", "duplicate_fill"),
        ("cancel", "cancel_race"),
        ("fills", "out_of_order_fill"),
    ]
    assert result.count("fill_out_of_order") == 1  # one gap; the late earlier fill closes it
    assert result.count("fill_duplicate_ignored") == 1


def _cancel_failing_once(kind: str) -> DryRunResult:
    return run(
        f"cancel_{kind}_no_retry",
        retry={"max_attempts": 1},
        broker={"fill_model": "never"},
        orders=[order(1, id="a")],
        cancels=[{"step": 2, "order": "a"}],
        faults=[fault(2, "cancel", kind)],
    )


def test_timeout_on_cancel_without_a_retry_left_keeps_the_cancel_pending() -> None:
    # the venue took the cancel although the answer was lost: the order is PENDING_CANCEL
    # until the next query says CANCELED, and stop() has nothing left to cancel
    result = _cancel_failing_once("timeout")
    assert_clean_finish(result)
    assert result.report["counters"] == {
        T("NEW", "ACK"): 1,
        T("ACK", "PENDING_CANCEL"): 1,
        T("PENDING_CANCEL", "CANCELED"): 1,
        PLACE_OK: 1,
        QUERY_OK: 2,
        'orders_cancel_total{outcome="error"}': 1,
        FAULT("cancel", "timeout"): 1,
    }


def test_rate_limit_on_cancel_without_a_retry_left_leaves_the_order_working() -> None:
    # the venue never saw the cancel: the order stays ACK and stop() cancels it again
    result = _cancel_failing_once("rate_limit")
    assert_clean_finish(result)
    assert result.report["counters"] == {
        T("NEW", "ACK"): 1,
        T("ACK", "PENDING_CANCEL"): 1,
        T("PENDING_CANCEL", "CANCELED"): 1,
        PLACE_OK: 1,
        QUERY_OK: 2,
        'orders_cancel_total{outcome="error"}': 1,
        CANCEL_OK: 1,
        FAULT("cancel", "rate_limit"): 1,
    }
    cancels = [e for e in result.events if e.kind == "order_cancel"]
    states = [e for e in result.events if e.kind == "session_state" and e.payload["to_state"] == "STOPPING"]
    assert [c.payload["outcome"] for c in cancels] == ["error", "ok"]
    assert cancels[1].seq > states[0].seq  # the second cancel is the wind-down's


# -- the same matrix through a broker of your own ---------------------------------------------


class ThinAdapter:
    """A hand-written adapter around the MockBroker: declares dry_run, exposes the venue's clock."""

    dry_run = True

    def __init__(self, venue: MockBroker) -> None:
        self.venue = venue
        self.clock = venue.clock

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        return self.venue.place_order(request, idempotency_key=idempotency_key)

    def cancel_order(self, broker_order_id: str) -> None:
        self.venue.cancel_order(broker_order_id)

    def query_order(self, broker_order_id: str) -> Order:
        return self.venue.query_order(broker_order_id)

    def list_open_orders(self) -> list[Order]:
        return self.venue.list_open_orders()

    def iter_fills(self, cursor: int) -> tuple[int, Sequence[Fill]]:
        return self.venue.iter_fills(cursor)


class RacingAdapter(ThinAdapter):
    """The same, forwarding the optional capability a cancel race needs."""

    def race_cancel(self, broker_order_id: str) -> None:
        self.venue.race_cancel(broker_order_id)


FAULT_COUNTERS = ("faults_injected_total", "faults_skipped_total", "retry_attempts_total", "reconcile_mismatches_total")


def _samples(result: DryRunResult, name: str) -> dict[tuple[tuple[str, str], ...], int | float]:
    (family,) = [f for f in result.metrics.metrics if f.name == name]
    return {tuple(s.labels.items()): s.value for s in family.samples}


def _through(adapter: type[ThinAdapter]) -> DryRunResult:
    scenario = builtin_scenario("failure_matrix")
    return run_scenario(scenario, broker=adapter(MockBroker(scenario.broker_config(), clock=SimClock())))


def test_the_failure_matrix_through_an_adapter_records_the_same_counts_as_the_bare_mock() -> None:
    bare = run_scenario(builtin_scenario("failure_matrix"))
    adapted = _through(RacingAdapter)
    assert adapted.state is bare.state is SessionState.STOPPED
    for name in FAULT_COUNTERS:
        assert _samples(adapted, name) == _samples(bare, name), name
    assert adapted.metrics.total("faults_injected_total") == 6
    assert adapted.metrics.total("faults_skipped_total") == 0
    # Everything the run did is the same; only the audit chain's head differs, because the
    # preflight events name the broker class ("RacingAdapter is a dry-run broker").
    assert {k: v for k, v in adapted.report.items() if k != "audit"} == {
        k: v for k, v in bare.report.items() if k != "audit"
    }
    assert adapted.report["audit"]["events"] == bare.report["audit"]["events"]


def test_an_adapter_without_race_cancel_names_the_fault_it_could_not_apply() -> None:
    bare = run_scenario(builtin_scenario("failure_matrix"))
    adapted = _through(ThinAdapter)
    assert _samples(adapted, "faults_skipped_total") == {(("op", "cancel"), ("fault", "cancel_race")): 1}
    assert adapted.metrics.total("faults_injected_total") == 5
    # every other fault and retry is the same; without the race the canceled order ends CANCELED
    # (its first slice, filled before the cancel but read after it, still counts as a cancel_race)
    assert _samples(adapted, "retry_attempts_total") == _samples(bare, "retry_attempts_total")
    assert adapted.report["orders"]["by_state"] == {"CANCELED": 1, "FILLED": 5}
    assert bare.report["orders"]["by_state"] == {"FILLED": 6}
    (skipped,) = [e.payload.to_dict() for e in adapted.events if e.kind == "fault_skipped"]
    assert skipped == {
        "op": "cancel",
        "fault": "cancel_race",
        "step": 12,
        "reason": "ThinAdapter has no race_cancel(broker_order_id) method to let a fill win the cancel",
    }
    assert adapted.health.status.value == "degraded"
    assert (
        "1 scheduled fault(s) were not applied: cancel_race 1 (see the fault_skipped events)" in adapted.health.reasons
    )
    assert adapted.collector.by_label("faults_skipped_total", "fault") == {"cancel_race": 1}
