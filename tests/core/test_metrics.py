"""Metrics: the runbook's ten metrics and the label policy (the exposition: tests/report/test_prometheus.py)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_peak_dryrun.core.events import EventRecord, LastTime, event_type
from pytest_peak_dryrun.core.metrics import (
    LABEL_VALUES,
    METRIC_SPECS,
    LabelPolicyError,
    MetricsCollector,
    MetricSpec,
)
from pytest_peak_dryrun.core.orders import OrderState


def event(kind: str, payload: dict[str, Any], seq: int = 1, ts_ms: int = 5_000) -> EventRecord:
    """A record of ``kind`` with ``payload`` (unchecked, as a buggy emitter could build it)."""
    cls = event_type(kind)
    filler: dict[str, Any] = dict.fromkeys(cls.__struct_fields__, "x")
    return EventRecord(seq, ts_ms, cls(**{**filler, **payload}))


def test_exactly_the_ten_metrics_with_their_label_sets() -> None:
    assert [(s.name, s.type, s.labels) for s in METRIC_SPECS if not s.extra] == [
        ("orchestrator_state", "gauge", ("state",)),
        ("last_audit_event_ts", "gauge", ()),
        ("reconciler_last_ok_ts", "gauge", ()),
        ("safety_rail_trips_total", "counter", ("rail",)),
        ("orders_place_total", "counter", ("outcome",)),
        ("orders_cancel_total", "counter", ("outcome",)),
        ("orders_query_total", "counter", ("outcome",)),
        ("order_state_transitions_total", "counter", ("from_state", "to_state")),
        ("reconcile_mismatches_total", "counter", ("kind",)),
        ("retry_attempts_total", "counter", ("op", "reason")),
    ]
    # after the runbook's ten, and only after them: the fault counters (issue 11) and the
    # replace counter (issue 15, amend/replace)
    assert [(s.name, s.type, s.labels) for s in METRIC_SPECS if s.extra] == [
        ("faults_injected_total", "counter", ("op", "fault")),
        ("faults_skipped_total", "counter", ("op", "fault")),
        ("orders_replace_total", "counter", ("outcome",)),
    ]
    families = MetricsCollector().families()
    assert [(f["name"], f["type"], tuple(f["labels"])) for f in families] == [
        (s.name, s.type, s.labels) for s in METRIC_SPECS
    ]


def test_label_allowlist_and_value_enums() -> None:
    assert set(LABEL_VALUES) == {"state", "rail", "outcome", "from_state", "to_state", "kind", "op", "reason", "fault"}
    assert LABEL_VALUES["outcome"] == {"ok", "rejected", "error", "unknown"}
    assert LABEL_VALUES["op"] == {"place", "cancel", "query", "fills", "replace"}
    assert LABEL_VALUES["reason"] == {"rate_limit", "timeout", "transient_unavailable"}
    assert LABEL_VALUES["fault"] == {
        "rate_limit",
        "timeout",
        "transient_unavailable",
        "duplicate_fill",
        "out_of_order_fill",
        "dropped_ack",
        "cancel_race",
    }
    assert "O-000001" not in set().union(*LABEL_VALUES.values())


def test_fresh_collector_starts_in_init() -> None:
    collector = MetricsCollector()
    assert collector.value("orchestrator_state", state="INIT") == 1
    assert collector.total("orchestrator_state") == 1
    assert collector.value("orders_place_total", outcome="ok") == 0
    assert collector.total("retry_attempts_total") == 0


@pytest.mark.parametrize("label", ["order_id", "account", "token", "instrument", "run", "symbol"])
def test_registering_a_label_name_outside_the_allowlist_is_refused(label: str) -> None:
    collector = MetricsCollector()
    with pytest.raises(LabelPolicyError) as info:
        collector.register(MetricSpec("my_orders_total", "counter", "orders", ("outcome", label)))
    assert f"metric my_orders_total: label name(s) {label!r} not allowed" in str(info.value)


def test_registering_twice_is_refused() -> None:
    with pytest.raises(LabelPolicyError, match="metric orders_place_total is already registered"):
        MetricsCollector().register(METRIC_SPECS[4])


def test_policy_labels_are_opened_with_their_values() -> None:
    collector = MetricsCollector(allowed_values={"instrument": ["DEMO-EUR"]})
    collector.register(MetricSpec("fills_by_instrument_total", "counter", "fills", ("instrument",)))
    collector.inc("fills_by_instrument_total", ("DEMO-EUR",))
    assert collector.value("fills_by_instrument_total", instrument="DEMO-EUR") == 1
    with pytest.raises(LabelPolicyError, match="'DEMO-USD' is not an allowed value of label 'instrument'"):
        collector.inc("fills_by_instrument_total", ("DEMO-USD",))
    with pytest.raises(LabelPolicyError, match="label 'order_id' cannot be opened by policy"):
        MetricsCollector(allowed_values={"order_id": ["O-1"]})


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("orders_place_total", ("O-000001",)),
        ("orders_place_total", ("OK",)),
        ("reconcile_mismatches_total", ("MB-00000001",)),
        ("safety_rail_trips_total", ("sk-live-123",)),
        ("retry_attempts_total", ("place", "because")),
        ("order_state_transitions_total", ("NEW", "LOST")),
    ],
)
def test_a_label_value_outside_its_enum_is_refused(name: str, labels: tuple[str, ...]) -> None:
    collector = MetricsCollector()
    with pytest.raises(LabelPolicyError, match="is not an allowed value of label"):
        collector.inc(name, labels)
    assert collector.total(name) == 0


def test_wrong_number_of_label_values() -> None:
    collector = MetricsCollector()
    with pytest.raises(LabelPolicyError, match=r"takes labels \('op', 'reason'\), got 1 value"):
        collector.inc("retry_attempts_total", ("place",))
    with pytest.raises(LabelPolicyError):
        collector.set("last_audit_event_ts", 1.0, ("x",))


def test_an_event_carrying_an_id_as_label_value_is_refused() -> None:
    collector = MetricsCollector()
    with pytest.raises(LabelPolicyError):
        collector.on_event(event("order_place", {"outcome": "O-000001"}))
    with pytest.raises(LabelPolicyError):
        collector.on_event(event("session_state", {"from_state": "INIT", "to_state": "LIVE"}))


def test_events_drive_the_counters_and_gauges() -> None:
    collector = MetricsCollector()
    feed = [
        ("session_state", {"from_state": "INIT", "to_state": "PREFLIGHT_OK"}),
        ("order_place", {"outcome": "ok"}),
        ("order_place", {"outcome": "ok"}),
        ("order_place", {"outcome": "rejected"}),
        ("order_cancel", {"outcome": "error"}),
        ("order_query", {"outcome": "unknown"}),
        ("order_transition", {"from_state": "NEW", "to_state": "ACK"}),
        ("reconcile_mismatch", {"kind": "stuck_order"}),
        ("retry", {"op": "fills", "reason": "timeout"}),
        ("rail_trip", {"rail": "kill_switch"}),
        ("reconcile_pass", {"ok": True}),
        ("reconcile_pass", {"ok": False}),
        ("fill", {"qty": "1"}),  # not counted, but it is the last audit event
    ]
    for i, (kind, payload) in enumerate(feed, start=1):
        collector.on_event(event(kind, payload, seq=i, ts_ms=1_000 * i))
    assert collector.value("orchestrator_state", state="PREFLIGHT_OK") == 1
    assert collector.value("orchestrator_state", state="INIT") == 0
    assert collector.total("orchestrator_state") == 1
    assert collector.value("orders_place_total", outcome="ok") == 2
    assert collector.value("orders_place_total", outcome="rejected") == 1
    assert collector.value("orders_cancel_total", outcome="error") == 1
    assert collector.value("orders_query_total", outcome="unknown") == 1
    assert collector.value("order_state_transitions_total", from_state="NEW", to_state="ACK") == 1
    assert collector.value("reconcile_mismatches_total", kind="stuck_order") == 1
    assert collector.value("retry_attempts_total", op="fills", reason="timeout") == 1
    assert collector.value("safety_rail_trips_total", rail="kill_switch") == 1
    assert collector.value("reconciler_last_ok_ts") == 11.0  # the clean pass, not the later one
    assert collector.value("last_audit_event_ts") == 13.0


def test_reads_and_writes_between_events_see_every_event_so_far() -> None:
    # Counters tally raw values and the latest-event time is only noted per event; every
    # read (value, total, by_label, families) and write (inc, set) must see all of it, in order.
    collector = MetricsCollector()
    collector.on_event(event("order_place", {"outcome": "ok"}, seq=1, ts_ms=1_000))
    assert collector.value("orders_place_total", outcome="ok") == 1
    assert collector.value("last_audit_event_ts") == 1.0
    collector.on_event(event("order_place", {"outcome": "ok"}, seq=2, ts_ms=2_000))
    collector.inc("orders_place_total", ("ok",))  # an inc after events adds to what they counted
    assert collector.total("orders_place_total") == 3
    collector.set("last_audit_event_ts", 99.0)  # a set after an event wins over that event's time
    assert collector.value("last_audit_event_ts") == 99.0
    collector.on_event(event("order_place", {"outcome": "rejected"}, seq=3, ts_ms=3_000))
    assert collector.by_label("orders_place_total", "outcome") == {"ok": 3, "rejected": 1}
    assert collector.value("last_audit_event_ts") == 3.0  # ...until the next event
    family = next(f for f in collector.families() if f["name"] == "orders_place_total")
    assert [(s["labels"], s["value"]) for s in family["samples"]] == [
        ({"outcome": "ok"}, 3),
        ({"outcome": "rejected"}, 1),
    ]


def test_an_enum_and_its_text_count_in_one_series() -> None:
    collector = MetricsCollector()
    collector.on_event(event("order_transition", {"from_state": OrderState.NEW, "to_state": OrderState.ACK}))
    collector.on_event(event("order_transition", {"from_state": "NEW", "to_state": "ACK"}))
    family = next(f for f in collector.families() if f["name"] == "order_state_transitions_total")
    assert family["samples"] == [{"labels": {"from_state": "NEW", "to_state": "ACK"}, "value": 2}]


def test_a_metric_registered_later_does_not_see_earlier_events() -> None:
    collector = MetricsCollector()
    collector.on_event(event("fill", {"qty": "1"}, ts_ms=7_000))
    spec = MetricSpec("later_last_ts", "gauge", "time of the latest event after registration", (), (LastTime(),))
    collector.register(spec)
    assert collector.value("later_last_ts") == 0
    collector.on_event(event("fill", {"qty": "1"}, seq=2, ts_ms=8_000))
    assert collector.value("later_last_ts") == 8.0


def test_fault_events_drive_the_fault_counters() -> None:
    collector = MetricsCollector()
    feed = [
        ("fault_injected", {"op": "place", "fault": "timeout", "step": 1}),
        ("fault_injected", {"op": "fills", "fault": "duplicate_fill", "step": 2, "broker_order_id": "MB-1"}),
        ("fault_injected", {"op": "place", "fault": "timeout", "step": 3}),
        ("fault_skipped", {"op": "cancel", "fault": "cancel_race", "step": 4, "reason": "no race_cancel"}),
    ]
    for i, (kind, payload) in enumerate(feed, start=1):
        collector.on_event(event(kind, payload, seq=i))
    assert collector.value("faults_injected_total", op="place", fault="timeout") == 2
    assert collector.value("faults_injected_total", op="fills", fault="duplicate_fill") == 1
    assert collector.value("faults_skipped_total", op="cancel", fault="cancel_race") == 1
    assert collector.by_label("faults_injected_total", "fault") == {"duplicate_fill": 1, "timeout": 2}
    assert collector.by_label("faults_skipped_total", "op") == {"cancel": 1}
    with pytest.raises(LabelPolicyError, match="'meteor' is not an allowed value of label 'fault'"):
        collector.on_event(event("fault_injected", {"op": "place", "fault": "meteor"}, seq=9))


def test_families_are_sorted_and_counters_are_integers() -> None:
    collector = MetricsCollector()
    collector.inc("orders_place_total", ("rejected",))
    collector.inc("orders_place_total", ("ok",))
    collector.inc("orders_place_total", ("ok",))
    collector.set("last_audit_event_ts", 12.5)
    families = {f["name"]: f for f in collector.families()}
    assert families["orders_place_total"]["samples"] == [
        {"labels": {"outcome": "ok"}, "value": 2},
        {"labels": {"outcome": "rejected"}, "value": 1},
    ]
    assert isinstance(families["orders_place_total"]["samples"][0]["value"], int)
    assert families["last_audit_event_ts"]["samples"] == [{"labels": {}, "value": 12.5}]
