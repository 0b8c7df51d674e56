"""The runbook's ten metrics (and two fault counters), counted from the event stream, with a label policy.

Label *names* come from an allowlist and label *values* from fixed enums, so an order id,
an account id or a token can never become a label (DESIGN.md, No secrets). Counting happens
in plain dicts on the hot path; the Prometheus text exposition is rendered on demand
through prometheus_client with a private registry and a custom collector, which never
touches prometheus_client's process-wide state (a user's own metrics stay as they are) and
emits no ``_created`` series (those carry wall-clock time).

Beside the runbook's ten (:data:`METRIC_SPECS`, unchanged), :data:`FAULT_METRIC_SPECS` counts
the faults injected at the broker boundary and those the broker could not express, so a
fault schedule that did not reach a broker shows in the numbers, not only in the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Literal

from .broker import BrokerOp
from .errors import RetryReason
from .events import EventRecord
from .faults import FaultKind
from .orchestrator import Outcome, SessionState
from .orders import OrderState
from .rails import Rail
from .reconcile import MismatchKind

__all__ = [
    "FAULT_METRIC_SPECS",
    "LABEL_VALUES",
    "METRIC_SPECS",
    "LabelPolicyError",
    "MetricSpec",
    "MetricsCollector",
    "render_prometheus",
]


class LabelPolicyError(ValueError):
    """A label name outside the allowlist, or a value outside its fixed enum."""


def _values(enum: type[Enum]) -> frozenset[str]:
    return frozenset(str(member.value) for member in enum)


#: Allowed label names and, for each, the fixed set of allowed values.
LABEL_VALUES: Final[Mapping[str, frozenset[str]]] = {
    "state": _values(SessionState),
    "rail": _values(Rail),
    "outcome": _values(Outcome),
    "from_state": _values(OrderState),
    "to_state": _values(OrderState),
    "kind": _values(MismatchKind),
    "op": _values(BrokerOp),
    "reason": _values(RetryReason),
    "fault": _values(FaultKind),
}
#: Label names whose values are only known per run (instrument symbols, run ids).
POLICY_LABELS: Final = frozenset({"instrument", "run"})


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    type: Literal["counter", "gauge"]
    help: str
    labels: tuple[str, ...]


#: The runbook's contract (DESIGN.md, Metrics): names, types and label sets.
METRIC_SPECS: Final[tuple[MetricSpec, ...]] = (
    MetricSpec("orchestrator_state", "gauge", "1 for the session's current state, 0 for the others", ("state",)),
    MetricSpec("last_audit_event_ts", "gauge", "simulated time of the last audit event, in seconds", ()),
    MetricSpec("reconciler_last_ok_ts", "gauge", "simulated time of the last clean reconcile pass, in seconds", ()),
    MetricSpec("safety_rail_trips_total", "counter", "safety rail trips", ("rail",)),
    MetricSpec("orders_place_total", "counter", "place requests by outcome", ("outcome",)),
    MetricSpec("orders_cancel_total", "counter", "cancel requests by outcome", ("outcome",)),
    MetricSpec("orders_query_total", "counter", "order status queries by outcome", ("outcome",)),
    MetricSpec("order_state_transitions_total", "counter", "order state transitions", ("from_state", "to_state")),
    MetricSpec("reconcile_mismatches_total", "counter", "reconcile mismatches by kind", ("kind",)),
    MetricSpec("retry_attempts_total", "counter", "retries of broker operations", ("op", "reason")),
)
#: Not the runbook's: faults at the broker boundary (core/faults.py), injected or skipped.
FAULT_METRIC_SPECS: Final[tuple[MetricSpec, ...]] = (
    MetricSpec("faults_injected_total", "counter", "faults injected at the broker boundary", ("op", "fault")),
    MetricSpec(
        "faults_skipped_total", "counter", "scheduled faults the broker could not express (skipped)", ("op", "fault")
    ),
)


class MetricsCollector:
    """Counters and gauges of one run, fed by :meth:`on_event` (an event-stream listener)."""

    def __init__(self, *, allowed_values: Mapping[str, Iterable[str]] | None = None) -> None:
        """``allowed_values`` opens a policy label (``instrument``, ``run``) with its values."""
        self._allowed: dict[str, frozenset[str]] = dict(LABEL_VALUES)
        for name, values in (allowed_values or {}).items():
            if name not in POLICY_LABELS:
                raise LabelPolicyError(
                    f"label {name!r} cannot be opened by policy; policy labels are {sorted(POLICY_LABELS)}"
                )
            self._allowed[name] = frozenset(values)
        self._specs: dict[str, MetricSpec] = {}
        self._series: dict[str, dict[tuple[str, ...], float]] = {}
        for spec in (*METRIC_SPECS, *FAULT_METRIC_SPECS):
            self.register(spec)
        self._state_series = self._series["orchestrator_state"]
        for state in SessionState:
            self._state_series[(state.value,)] = 1.0 if state is SessionState.INIT else 0.0
        self._place = self._series["orders_place_total"]
        self._cancel = self._series["orders_cancel_total"]
        self._query = self._series["orders_query_total"]
        self._transitions = self._series["order_state_transitions_total"]
        self._mismatches = self._series["reconcile_mismatches_total"]
        self._retries = self._series["retry_attempts_total"]
        self._trips = self._series["safety_rail_trips_total"]
        self._last_event = self._series["last_audit_event_ts"]
        self._last_ok = self._series["reconciler_last_ok_ts"]
        self._faults = self._series["faults_injected_total"]
        self._skipped = self._series["faults_skipped_total"]

    # -- registration and the label policy ------------------------------------------------

    def register(self, spec: MetricSpec) -> None:
        """Add a metric; every label name must be on the allowlist (or opened by policy)."""
        bad = [label for label in spec.labels if label not in self._allowed]
        if bad:
            raise LabelPolicyError(
                f"metric {spec.name}: label name(s) {', '.join(repr(b) for b in bad)} not allowed; "
                f"allowed: {', '.join(sorted(self._allowed))}"
            )
        if spec.name in self._specs:
            raise LabelPolicyError(f"metric {spec.name} is already registered")
        self._specs[spec.name] = spec
        self._series[spec.name] = {}

    def _check(self, spec: MetricSpec, values: tuple[str, ...]) -> None:
        if len(values) != len(spec.labels):
            raise LabelPolicyError(f"metric {spec.name} takes labels {spec.labels}, got {len(values)} value(s)")
        for label, value in zip(spec.labels, values, strict=True):
            if value not in self._allowed[label]:
                raise LabelPolicyError(
                    f"metric {spec.name}: {value!r} is not an allowed value of label {label!r} "
                    "(label values come from fixed enums; ids, tokens and free text are refused)"
                )

    def inc(self, name: str, labels: tuple[str, ...] = (), amount: float = 1) -> None:
        series = self._series[name]
        current = series.get(labels)
        if current is None:
            self._check(self._specs[name], labels)
            current = 0
        series[labels] = current + amount

    def set(self, name: str, value: float, labels: tuple[str, ...] = ()) -> None:
        series = self._series[name]
        if labels not in series:
            self._check(self._specs[name], labels)
        series[labels] = value

    def value(self, name: str, **labels: str) -> float:
        """The current value of one series (0 when it was never touched)."""
        spec = self._specs[name]
        key = tuple(labels[label] for label in spec.labels)
        return self._series[name].get(key, 0)

    def total(self, name: str) -> float:
        return sum(self._series[name].values())

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """Non-zero totals of ``name`` per value of one of its labels, sorted by value."""
        index = self._specs[name].labels.index(label)
        out: dict[str, float] = {}
        for key, value in self._series[name].items():
            if value:
                out[key[index]] = out.get(key[index], 0) + value
        return dict(sorted(out.items()))

    # -- the event-stream listener --------------------------------------------------------

    def on_event(self, event: EventRecord) -> None:
        self._last_event[()] = event.ts_ms / 1000
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            handler(self, event.payload, event.ts_ms)

    __call__ = on_event

    def _counter(self, series: dict[tuple[str, ...], float], name: str, key: tuple[str, ...]) -> None:
        current = series.get(key)
        if current is None:
            self._check(self._specs[name], key)
            current = 0
        series[key] = current + 1

    def _on_session_state(self, payload: Mapping[str, Any], ts_ms: int) -> None:
        to_state = payload["to_state"]
        self._check(self._specs["orchestrator_state"], (to_state,))
        for key in self._state_series:
            self._state_series[key] = 1.0 if key[0] == to_state else 0.0

    def _on_place(self, payload: Mapping[str, Any], ts_ms: int) -> None:
        self._counter(self._place, "orders_place_total", (payload["outcome"],))

    def _on_cancel(self, payload: Mapping[str, Any], ts_ms: int) -> None:
        self._counter(self._cancel, "orders_cancel_total", (payload["outcome"],))

    def _on_query(self, payload: Mapping[str, Any], ts_ms: int) -> None:
        self._counter(self._query, "orders_query_total", (payload["outcome"],))

    def _on_transition(self, payload: Mapping[str, Any], ts_ms: int) -> None:
        self._counter(self._transitions, "order_state_transitions_total", (payload["from_state"], payload["to_state"]))

    def _on_mismatch(self, payload: Mapping[str, Any], ts_ms: int) -> None:
        self._counter(self._mismatches, "reconcile_mismatches_total", (payload["kind"],))

    def _on_retry(self, payload: Mapping[str, Any], ts_ms: int) -> None:
        self._counter(self._retries, "retry_attempts_total", (payload["op"], payload["reason"]))

    def _on_trip(self, payload: Mapping[str, Any], ts_ms: int) -> None:
        self._counter(self._trips, "safety_rail_trips_total", (payload["rail"],))

    def _on_fault(self, payload: Mapping[str, Any], ts_ms: int) -> None:
        self._counter(self._faults, "faults_injected_total", (payload["op"], payload["fault"]))

    def _on_fault_skipped(self, payload: Mapping[str, Any], ts_ms: int) -> None:
        self._counter(self._skipped, "faults_skipped_total", (payload["op"], payload["fault"]))

    def _on_reconcile_pass(self, payload: Mapping[str, Any], ts_ms: int) -> None:
        if payload.get("ok"):
            self._last_ok[()] = ts_ms / 1000

    # -- output -------------------------------------------------------------------------

    def families(self) -> list[dict[str, Any]]:
        """Every metric with its samples, in contract order, samples sorted by labels."""
        out = []
        for name, spec in self._specs.items():
            series = self._series[name]
            out.append(
                {
                    "name": name,
                    "type": spec.type,
                    "help": spec.help,
                    "labels": list(spec.labels),
                    "samples": [
                        {"labels": dict(zip(spec.labels, key, strict=True)), "value": _number(series[key])}
                        for key in sorted(series)
                    ],
                }
            )
        return out

    def render_prometheus(self) -> str:
        return render_prometheus(self.families())


_HANDLERS: Final = {
    "session_state": MetricsCollector._on_session_state,
    "order_place": MetricsCollector._on_place,
    "order_cancel": MetricsCollector._on_cancel,
    "order_query": MetricsCollector._on_query,
    "order_transition": MetricsCollector._on_transition,
    "reconcile_mismatch": MetricsCollector._on_mismatch,
    "retry": MetricsCollector._on_retry,
    "rail_trip": MetricsCollector._on_trip,
    "reconcile_pass": MetricsCollector._on_reconcile_pass,
    "fault_injected": MetricsCollector._on_fault,
    "fault_skipped": MetricsCollector._on_fault_skipped,
}


def _number(value: float) -> int | float:
    """Counters as integers in JSON (``3``, not ``3.0``); gauges keep their fraction."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def render_prometheus(families: Sequence[Mapping[str, Any]]) -> str:
    """Prometheus text exposition of ``families`` (the shape :meth:`MetricsCollector.families` returns).

    Rendered through prometheus_client (imported here, not at module import: it costs
    ~40 ms) with a private ``CollectorRegistry`` and a custom collector, so no ``_created``
    series appear and no process-wide setting changes.
    """
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

    class _Families:
        def collect(self) -> Iterable[Metric]:
            for fam in families:
                labels = list(fam["labels"])
                name = fam["name"]
                metric: CounterMetricFamily | GaugeMetricFamily
                if fam["type"] == "counter":
                    metric = CounterMetricFamily(name.removesuffix("_total"), fam["help"], labels=labels)
                else:
                    metric = GaugeMetricFamily(name, fam["help"], labels=labels)
                for sample in fam["samples"]:
                    values = [sample["labels"][label] for label in labels]
                    metric.add_metric(values, float(sample["value"]))
                yield metric

        def describe(self) -> Iterable[Metric]:
            return []

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families())
    return generate_latest(registry).decode("utf-8")
