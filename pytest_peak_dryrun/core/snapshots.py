"""Health, status and metrics snapshots: the documents an operator and a reviewer read.

Each document is a pydantic model with a ``schema`` id; the JSON Schemas shipped in
``pytest_peak_dryrun/schemas/`` are generated from these models (a test fails when they
drift). Builders turn a finished session into documents; the normalized *report* (what a
golden file holds, :func:`~.documents.build_report`) is derived from the documents, so it can
never say something the files do not. Two stream taps count what a document needs while the
run happens (:class:`StepActivity`, :class:`MismatchLog`), so nothing reads ``events.jsonl``
back.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from .canonical import to_jsonable
from .events import ACTIVITY_CATEGORIES, Event, EventRecord, ReconcileMismatchEvent
from .metrics import LABEL_VALUES, lookup_key, no_such_metric
from .model import EventDocument, Money, OrderDocument
from .orchestrator import SessionState
from .orders import OrderState
from .vocab import MismatchKind

if TYPE_CHECKING:
    from .clock import SimClock
    from .metrics import MetricsCollector
    from .orchestrator import Orchestrator

__all__ = [
    "ACTIVITY_BARS",
    "MISMATCHES_LISTED",
    "OPEN_ORDERS_LISTED",
    "SCHEMA_IDS",
    "ActivityBucket",
    "HealthSnapshot",
    "HealthStatus",
    "MetricFamily",
    "MetricSample",
    "MetricsSnapshot",
    "MismatchDoc",
    "MismatchLog",
    "PreflightCheck",
    "RailTripDoc",
    "StatusSnapshot",
    "StepActivity",
    "build_health",
    "build_metrics",
    "build_status",
]

HEALTH_SCHEMA: Final = "peak-dryrun/health/v1"
STATUS_SCHEMA: Final = "peak-dryrun/status/v1"
METRICS_SCHEMA: Final = "peak-dryrun/metrics/v1"
#: How many open orders the status snapshot lists (the count is always exact).
OPEN_ORDERS_LISTED: Final = 20
#: How many mismatches the status snapshot lists with where they came from (the counts are always exact).
MISMATCHES_LISTED: Final = 20
#: At most this many ranges of steps per run; longer runs are bucketed.
ACTIVITY_BARS: Final = 120


class HealthStatus(str, Enum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"


_DOC = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class _Document(BaseModel):
    model_config = _DOC

    run_id: str
    scenario: str
    seed: int

    def to_json_data(self) -> dict[str, Any]:
        """Plain JSON data with the ``schema`` key, as written to disk."""
        data: dict[str, Any] = to_jsonable(self.model_dump(mode="json", by_alias=True))
        return data


class HealthSnapshot(_Document):
    """The runbook's health targets plus an overall verdict with its reasons."""

    schema_: Literal["peak-dryrun/health/v1"] = Field(default=HEALTH_SCHEMA, alias="schema")
    orchestrator_state: SessionState
    last_audit_event_ts: float | None = Field(description="simulated seconds")
    reconciler_last_ok_ts: float | None = Field(description="simulated seconds; null if no pass was clean")
    safety_rail_trips_total: int = Field(ge=0)
    status: HealthStatus
    reasons: list[str] = Field(description="why the status is not ok (empty when ok)")


class PreflightCheck(BaseModel):
    model_config = _DOC

    check: str
    ok: bool
    detail: str


class SessionSummary(BaseModel):
    model_config = _DOC

    state: SessionState
    steps_planned: int
    steps_run: int
    ended_ts: float = Field(description="simulated seconds when the session ended")
    preflight: list[PreflightCheck]


class OrderSummary(BaseModel):
    model_config = _DOC

    placed: int = Field(description="orders that passed the pre-trade rails")
    open: int
    by_state: dict[OrderState, int]
    filled_qty: Money


class MismatchDoc(BaseModel):
    """One reconcile mismatch and where it came from: the step, the order and the kind."""

    model_config = _DOC

    step: int = Field(description="the run clock's step when the mismatch was found")
    order_id: str = Field(
        description="the order it concerns (a broker's id for a fill of an order the run does not track)"
    )
    kind: MismatchKind
    detail: str


class ReconcileSummary(BaseModel):
    model_config = _DOC

    passes: int
    clean_passes: int
    mismatches_total: int
    mismatches: dict[str, int]
    last_ok_ts: float | None
    first_mismatches: list[MismatchDoc] = Field(
        default_factory=list,
        description=f"the first {MISMATCHES_LISTED} mismatches in the order they were found (the counts are exact)",
    )


class RailTripDoc(BaseModel):
    model_config = _DOC

    rail: str
    detail: str
    step: int


class ActivityBucket(BaseModel):
    """Events of one step (or one range of steps), counted by chart category."""

    model_config = _DOC

    first_step: int
    last_step: int
    counts: dict[str, int]


class StatusSnapshot(_Document):
    """Session, orders by state, open orders, positions, reconcile summary, last events."""

    schema_: Literal["peak-dryrun/status/v1"] = Field(default=STATUS_SCHEMA, alias="schema")
    session: SessionSummary
    orders: OrderSummary
    open_orders: list[OrderDocument] = Field(description=f"the first {OPEN_ORDERS_LISTED} open orders")
    positions: dict[str, Money]
    cash: Money
    reconcile: ReconcileSummary
    rail_trips: list[RailTripDoc]
    last_events: list[EventDocument]
    activity: list[ActivityBucket] = Field(
        default_factory=list,
        description=f"events per step (or per range of steps; at most {ACTIVITY_BARS} ranges), by category",
    )


class MetricSample(BaseModel):
    model_config = _DOC

    labels: dict[str, str]
    value: int | float


class MetricFamily(BaseModel):
    model_config = _DOC

    name: str
    type: Literal["counter", "gauge"]
    help: str
    labels: list[str]
    samples: list[MetricSample]


class MetricsSnapshot(_Document):
    """Every counter and gauge of the run with its labels."""

    schema_: Literal["peak-dryrun/metrics/v1"] = Field(default=METRICS_SCHEMA, alias="schema")
    metrics: list[MetricFamily]

    def value(self, name: str, **labels: str) -> int | float:
        """One series' value (0 if absent): ``metrics.value("orders_place_total", outcome="ok")``.

        An unknown metric, a label it does not have (or lacks) and a value outside the
        label's enum raise one ``UnknownMetricError`` (a ``KeyError``) naming the metric and
        what it has, as ``MetricsCollector.value`` does: a typo never reads as a quiet 0.
        """
        __tracebackhide__ = True  # pytest shows the user's line, not ours
        family = self._family(name)
        key = lookup_key(name, family.labels, labels, LABEL_VALUES)
        for sample in family.samples:
            if tuple(sample.labels.get(label) for label in family.labels) == key:
                return sample.value
        return 0

    def total(self, name: str) -> int | float:
        """The sum over every series of ``name`` (``UnknownMetricError`` if there is no such metric)."""
        __tracebackhide__ = True
        return sum(sample.value for sample in self._family(name).samples)

    def _family(self, name: str) -> MetricFamily:
        __tracebackhide__ = True
        for family in self.metrics:
            if family.name == name:
                return family
        raise no_such_metric(name, (family.name for family in self.metrics))


SCHEMA_IDS: Final = {
    "health": HEALTH_SCHEMA,
    "status": STATUS_SCHEMA,
    "metrics": METRICS_SCHEMA,
}


_CATEGORY_INDEX: Final = {name: i for i, name in enumerate(ACTIVITY_CATEGORIES)}
_OTHER: Final = _CATEGORY_INDEX[Event.CATEGORY]


class _CategoryOf(dict[type[Event], int]):
    """Event type -> its chart category as an index into a bucket's counts (``other`` for a
    category the chart does not know), looked up per event and so worked out once per type."""

    def __missing__(self, kind: type[Event]) -> int:
        index = self[kind] = _CATEGORY_INDEX.get(kind.CATEGORY, _OTHER)
        return index


_CATEGORY_OF: Final = _CategoryOf()


class StepActivity:
    """A stream tap counting events per step, by chart category, while the run happens.

    The width of a range of steps is fixed up front from the longest the run can be
    (``span_steps``), so memory stays at most :data:`ACTIVITY_BARS` small lists however
    long the run, and nobody has to read ``events.jsonl`` back to draw the picture. The
    categories are the event table's (``Event.CATEGORY``).
    """

    __slots__ = ("_buckets", "_clock", "_counts", "_step", "width")

    def __init__(self, clock: SimClock, *, span_steps: int) -> None:
        self._clock = clock
        self.width = max(1, -(-span_steps // ACTIVITY_BARS))
        self._buckets: list[list[int]] = []
        # The counts of the current step's bucket, found again only when the step moves
        # (the tap runs for every event; a step has several).
        self._step = -1
        self._counts: list[int] = []

    def __call__(self, seq: int, ts_ms: int, event: Event) -> None:
        if self._clock.step != self._step:
            self._step = step = self._clock.step
            index = step // self.width
            buckets = self._buckets
            while len(buckets) <= index:
                buckets.append([0] * len(ACTIVITY_CATEGORIES))
            self._counts = buckets[index]
        self._counts[_CATEGORY_OF[type(event)]] += 1

    def documents(self) -> list[ActivityBucket]:
        width = self.width
        return [
            ActivityBucket(
                first_step=i * width,
                last_step=i * width + width - 1,
                counts={name: n for name, n in zip(ACTIVITY_CATEGORIES, counts, strict=True) if n},
            )
            for i, counts in enumerate(self._buckets)
        ]


class MismatchLog:
    """A stream tap keeping the first :data:`MISMATCHES_LISTED` reconcile mismatches with their step.

    The event says what and which order; the step is the run clock's when it was emitted, so
    a report can say where each mismatch came from without reading ``events.jsonl`` back.
    Bounded: a run with thousands of mismatches keeps twenty (its counters stay exact).
    """

    __slots__ = ("_clock", "found")

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self.found: list[MismatchDoc] = []

    def __call__(self, seq: int, ts_ms: int, event: Event) -> None:
        # The run taps it for this kind alone; the type test keeps it right where it hears every kind.
        if type(event) is ReconcileMismatchEvent and len(self.found) < MISMATCHES_LISTED:
            self.found.append(
                MismatchDoc(step=self._clock.step, order_id=event.order_id, kind=event.kind, detail=event.detail)
            )


def event_document(event: EventRecord, run_id: str) -> EventDocument:
    """The pydantic document of one event (as ``status.json``'s ``last_events`` holds it)."""
    return EventDocument.model_validate(to_jsonable(event.as_dict(run_id)))


def _seconds(value: float) -> float | None:
    return value if value else None


def build_health(orch: Orchestrator, collector: MetricsCollector, *, run_id: str) -> HealthSnapshot:
    trips = len(orch.rails.trips)
    reasons: list[str] = []
    failed = False
    state = orch.state
    if state is SessionState.PREFLIGHT_FAILED:
        failed = True
        reasons.extend(f"preflight failed: {f}" for f in orch.preflight_failures)
    if state is SessionState.ERROR_REQUIRES_OPERATOR:
        failed = True
        reasons.append("session needs the operator (ERROR_REQUIRES_OPERATOR)")
    if trips:
        failed = True
        rails = sorted({trip.rail.value for trip in orch.rails.trips})
        reasons.append(f"{trips} safety rail trip(s): {', '.join(rails)}")
    if state not in (SessionState.STOPPED, SessionState.ERROR_REQUIRES_OPERATOR, SessionState.PREFLIGHT_FAILED):
        reasons.append(f"session did not finish (state {state.value})")
    mismatches = orch.reconciler.total
    if mismatches:
        kinds = ", ".join(
            f"{k.value} {n}" for k, n in sorted(orch.reconciler.counts.items(), key=lambda kv: kv[0].value)
        )
        reasons.append(f"{mismatches} reconcile mismatch(es): {kinds}")
    skipped = collector.by_label("faults_skipped_total", "fault")
    if skipped:
        kinds = ", ".join(f"{kind} {int(n)}" for kind, n in skipped.items())
        reasons.append(
            f"{int(sum(skipped.values()))} scheduled fault(s) were not applied: {kinds} (see the fault_skipped events)"
        )
    if orch.reconciler.passes and orch.reconciler.last_ok_step is None:
        reasons.append("no reconcile pass was clean")
    if orch.book.open:
        reasons.append(f"{len(orch.book.open)} order(s) still open")
    status = HealthStatus.FAILED if failed else HealthStatus.DEGRADED if reasons else HealthStatus.OK
    return HealthSnapshot(
        run_id=run_id,
        scenario=orch.scenario.name,
        seed=orch.scenario.seed,
        orchestrator_state=state,
        last_audit_event_ts=_seconds(collector.value("last_audit_event_ts")),
        reconciler_last_ok_ts=_seconds(collector.value("reconciler_last_ok_ts")),
        safety_rail_trips_total=trips,
        status=status,
        reasons=reasons,
    )


def build_status(
    orch: Orchestrator,
    *,
    run_id: str,
    last_events: Sequence[EventRecord],
    activity: StepActivity | None = None,
    mismatches: MismatchLog | None = None,
    preflight: list[PreflightCheck],
) -> StatusSnapshot:
    book = orch.book
    open_docs: list[OrderDocument] = []
    for rec in book.open_orders():
        if len(open_docs) >= OPEN_ORDERS_LISTED:
            break
        # The document's fields are read off the book's record by name (it has more: fill ids, notional).
        open_docs.append(OrderDocument.model_validate(rec, from_attributes=True))
    rec_ = orch.reconciler
    last_ok = rec_.last_ok_step
    return StatusSnapshot(
        run_id=run_id,
        scenario=orch.scenario.name,
        seed=orch.scenario.seed,
        session=SessionSummary(
            state=orch.state,
            steps_planned=orch.scenario.steps,
            steps_run=orch.steps_run,
            ended_ts=orch.clock.now(),
            preflight=preflight,
        ),
        orders=OrderSummary(
            placed=book.placed,
            open=len(book.open),
            by_state={state: book.state_counts[state] for state in OrderState},
            filled_qty=book.filled_qty_total,
        ),
        open_orders=open_docs,
        positions=dict(sorted(book.positions.items())),
        cash=book.cash,
        reconcile=ReconcileSummary(
            passes=rec_.passes,
            clean_passes=rec_.clean_passes,
            mismatches_total=rec_.total,
            mismatches={k.value: n for k, n in sorted(rec_.counts.items(), key=lambda kv: kv[0].value)},
            last_ok_ts=None if last_ok is None else (orch.clock.epoch_ms + last_ok * orch.clock.step_ms) / 1000,
            first_mismatches=[] if mismatches is None else list(mismatches.found),
        ),
        rail_trips=[RailTripDoc(rail=t.rail.value, detail=t.detail, step=t.step) for t in orch.rails.trips],
        last_events=[event_document(e, run_id) for e in last_events],
        activity=[] if activity is None else activity.documents(),
    )


def build_metrics(orch: Orchestrator, collector: MetricsCollector, *, run_id: str) -> MetricsSnapshot:
    return MetricsSnapshot.model_validate(
        {
            "run_id": run_id,
            "scenario": orch.scenario.name,
            "seed": orch.scenario.seed,
            "metrics": collector.families(),
        }
    )
