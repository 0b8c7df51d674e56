"""The metrics of a run, computed from the event stream as the event table says, with a label policy.

What each metric counts (which event kinds, which fields become its labels) is declared once,
in the event table (:data:`~.events.METRIC_SPECS`); this module turns those declarations into
counting code, and ``peak-dryrun validate`` recounts a run's ``events.jsonl`` with the same
code. Label *names* come from the specs and label *values* from the enum types of the event
fields they are read from, so an order id, an account id or a token can never become a label
(DESIGN.md, No secrets). Counting happens in plain dicts on the hot path; :meth:`MetricsCollector.families`
hands the result on as data, and the Prometheus text is rendered above the core
(:mod:`pytest_peak_dryrun.report.prometheus`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, Final

from .canonical import plain_number
from .events import METRIC_SPECS, Count, Event, EventRecord, LastTime, MetricSpec, StateOf, label_values

__all__ = [
    "LABEL_VALUES",
    "METRIC_SPECS",
    "LabelPolicyError",
    "MetricSpec",
    "MetricsCollector",
    "UnknownMetricError",
    "lookup_key",
    "no_such_metric",
]


class LabelPolicyError(ValueError):
    """A label name outside the allowlist, or a value outside its fixed enum."""


class UnknownMetricError(KeyError):
    """A lookup of a metric (or a label of it) that does not exist; the message lists what does."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


#: Allowed label names and, for each, the fixed set of allowed values (from the event table).
LABEL_VALUES: Final[Mapping[str, frozenset[str]]] = label_values()
#: Label names whose values are only known per run (instrument symbols, run ids).
POLICY_LABELS: Final = frozenset({"instrument", "run"})

_Update = Callable[[Event, int], None]


def _plain(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def no_such_metric(name: str, known: Iterable[str]) -> UnknownMetricError:
    """The error for a lookup of a metric that does not exist, listing the ones that do."""
    return UnknownMetricError(f"no metric named {name!r}; the metrics are {', '.join(known)}")


def lookup_key(
    name: str, labels: Sequence[str], given: Mapping[str, object], allowed: Mapping[str, Iterable[str]]
) -> tuple[str, ...]:
    """The key of one series of metric ``name`` (label values in ``labels`` order) for a lookup.

    Shared by :meth:`MetricsCollector.value` and ``MetricsSnapshot.value``, so a misspelt label
    name or a value outside the label's enum is one :class:`UnknownMetricError` naming the
    metric and the labels (or values) it has, never a quiet ``0``. Labels without a fixed set
    in ``allowed`` (policy labels such as ``instrument``) take any value.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not ours
    if set(given) != set(labels):
        raise UnknownMetricError(
            f"metric {name} has labels ({', '.join(labels) or 'none'}); got ({', '.join(given) or 'none'})"
        )
    key = tuple(_plain(given[label]) for label in labels)
    for label, value in zip(labels, key, strict=True):
        values = allowed.get(label)
        if values is not None and value not in values:
            raise UnknownMetricError(
                f"metric {name}: label {label} has no value {value!r}; its values are {', '.join(sorted(values))}"
            )
    return key


class _Counter:
    """One counter source (a :class:`~.events.Count`), counted inline for every event of its kind.

    The events are tallied by their raw field values (``getter(event)``: an enum member, or
    a tuple of them), which a dict finds by identity, several times faster than the text
    keys of the series; the tallies are added to the series when the metrics are read
    (:meth:`MetricsCollector._settle`).
    """

    __slots__ = ("getter", "series", "single", "spec", "tally")

    def __init__(self, spec: MetricSpec, series: dict[tuple[str, ...], float], fields: tuple[str, ...]) -> None:
        self.spec = spec
        self.series = series
        self.getter: Callable[[Event], Any] = operator.attrgetter(*fields)
        self.single = len(fields) == 1  # then getter returns the value itself, not a tuple
        self.tally: dict[Any, int] = {}

    def labels(self, values: Any) -> tuple[str, ...]:
        """The series key (label values as text) of one tally key."""
        return tuple(map(_plain, (values,) if self.single else values))

    def settle(self) -> None:
        series = self.series
        for values, n in self.tally.items():
            key = self.labels(values)
            series[key] = series.get(key, 0) + n
        self.tally.clear()


class MetricsCollector:
    """Counters and gauges of one run, fed by the event stream (a tap: ``collector(seq, ts_ms, event)``)."""

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
        # Built from the specs' sources: per event type, the counters its events feed (counted
        # inline by __call__, the common case) and any other updates they make (gauges).
        self._plans: dict[type[Event], tuple[tuple[_Counter, ...], tuple[_Update, ...]]] = {}
        # Gauges of the time of the latest event of any kind (LastTime() without a kind): the
        # stream tap only notes the time, and the series are set from it when read. A time
        # noted (not None) also means the counters hold tallies not yet in their series.
        self._every: list[dict[tuple[str, ...], float]] = []
        self._last_ms: int | None = None
        for spec in METRIC_SPECS:
            self.register(spec)

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
        self._settle()  # the time noted so far belongs to the metrics registered so far
        self._specs[spec.name] = spec
        series: dict[tuple[str, ...], float] = {}
        self._series[spec.name] = series
        for source in spec.sources:
            self._wire(spec, series, source)

    def _wire(self, spec: MetricSpec, series: dict[tuple[str, ...], float], source: object) -> None:
        """Turn one declared source of ``spec`` into the update its events make."""
        update: _Update
        if isinstance(source, Count):
            counters, updates = self._plans.get(source.kind, ((), ()))
            self._plans[source.kind] = ((*counters, _Counter(spec, series, source.fields)), updates)
            return
        if isinstance(source, StateOf):
            field = operator.attrgetter(source.field)
            for value in sorted(self._allowed[spec.labels[0]]):
                series[(value,)] = 1.0 if value == source.initial else 0.0

            def update(event: Event, ts_ms: int) -> None:
                state = _plain(field(event))
                self._check(spec, (state,))
                for key in series:
                    series[key] = 1.0 if key[0] == state else 0.0

            kind = source.kind
        elif isinstance(source, LastTime):
            if source.kind is None:
                self._every.append(series)
                return
            when = None if source.when is None else operator.attrgetter(source.when)

            def update(event: Event, ts_ms: int) -> None:
                if when is None or when(event):
                    series[()] = ts_ms / 1000

            kind = source.kind
        else:  # pragma: no cover - the table only declares the three
            raise TypeError(f"metric {spec.name}: unknown source {source!r}")
        counters, updates = self._plans.get(kind, ((), ()))
        self._plans[kind] = (counters, (*updates, update))

    def _settle(self) -> None:
        """Bring every series up to date with the events seen (before any read or write of one):
        the counters' tallies are added, the latest-event-time gauges set."""
        if self._last_ms is not None:
            seconds = self._last_ms / 1000
            self._last_ms = None
            for series in self._every:
                series[()] = seconds
            for counters, _ in self._plans.values():
                for counter in counters:
                    if counter.tally:
                        counter.settle()

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
        self._settle()
        series = self._series[name]
        current = series.get(labels)
        if current is None:
            self._check(self._specs[name], labels)
            current = 0
        series[labels] = current + amount

    def set(self, name: str, value: float, labels: tuple[str, ...] = ()) -> None:
        self._settle()
        series = self._series[name]
        if labels not in series:
            self._check(self._specs[name], labels)
        series[labels] = value

    def _spec(self, name: str) -> MetricSpec:
        __tracebackhide__ = True
        self._settle()  # every read of a series starts here
        spec = self._specs.get(name)
        if spec is None:
            raise no_such_metric(name, self._specs)
        return spec

    def value(self, name: str, **labels: str) -> float:
        """The current value of one series (0 when it was never touched; see :func:`lookup_key`)."""
        __tracebackhide__ = True
        spec = self._spec(name)
        return self._series[name].get(lookup_key(name, spec.labels, labels, self._allowed), 0)

    def total(self, name: str) -> float:
        __tracebackhide__ = True
        self._spec(name)
        return sum(self._series[name].values())

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """Non-zero totals of ``name`` per value of one of its labels, sorted by value."""
        spec = self._spec(name)
        if label not in spec.labels:
            raise UnknownMetricError(f"metric {name} has labels ({', '.join(spec.labels)}); no label {label!r}")
        index = spec.labels.index(label)
        out: dict[str, float] = {}
        for key, value in self._series[name].items():
            if value:
                out[key[index]] = out.get(key[index], 0) + value
        return dict(sorted(out.items()))

    # -- the event stream ----------------------------------------------------------------

    def __call__(self, seq: int, ts_ms: int, event: Event) -> None:
        """The stream tap: apply the updates the event table declares for this event's kind.

        Called for every event, so the common work is done inline: the time is noted and
        the counters' tallies incremented (both reach the series when they are read); only
        the rarer gauges run an update function.
        """
        self._last_ms = ts_ms
        plan = self._plans.get(type(event))
        if plan is not None:
            counters, updates = plan
            for counter in counters:
                values = counter.getter(event)
                tally = counter.tally
                try:
                    tally[values] += 1
                except KeyError:  # values seen the first time: the label policy decides
                    self._check(counter.spec, counter.labels(values))
                    tally[values] = 1
            for update in updates:
                update(event, ts_ms)

    def on_event(self, record: EventRecord) -> None:
        """The same as a listener of records (``stream.subscribe(collector.on_event)``)."""
        self(record.seq, record.ts_ms, record.payload)

    # -- output -------------------------------------------------------------------------

    def families(self) -> list[dict[str, Any]]:
        """Every metric with its samples, in contract order, samples sorted by labels."""
        self._settle()
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
                        {"labels": dict(zip(spec.labels, key, strict=True)), "value": plain_number(series[key])}
                        for key in sorted(series)
                    ],
                }
            )
        return out
