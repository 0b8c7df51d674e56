"""One typed row per run and per session: what every report of a session shows, computed once.

:meth:`RunRow.of` reads a run's health, status and metrics documents and derives every
number a report prints (lifecycle counts, mismatches with where they came from, rail trips,
retries, broker calls, ...); :meth:`SessionRow.of` adds the roll-up, the merged metric
families and the summed counters, and puts the runs in report order: failed runs and runs
that need the operator first, then degraded ones, then the rest, each group by run id. The
terminal table, the Markdown and HTML reports, the Prometheus text, ``peak-dryrun report``
and the session documents all render from these rows, so no number is computed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from ..core.documents import ReportHealth, ReportSteps, SessionRollup, series_key
from ..core.orchestrator import SessionState
from ..core.orders import OrderState
from ..core.snapshots import (
    ActivityBucket,
    HealthSnapshot,
    HealthStatus,
    MetricFamily,
    MetricSample,
    MetricsSnapshot,
    MismatchDoc,
    RailTripDoc,
    StatusSnapshot,
)

__all__ = [
    "COLUMNS",
    "NEEDS_OPERATOR_STATES",
    "TERMINAL_COLUMNS",
    "Call",
    "Column",
    "Mismatches",
    "Orders",
    "Retries",
    "RunDetail",
    "RunRow",
    "SessionRow",
    "Transition",
    "describe_mismatch",
    "session_families",
]

#: Final session states that need a person before anything else happens.
NEEDS_OPERATOR_STATES: Final = frozenset({SessionState.ERROR_REQUIRES_OPERATOR, SessionState.PREFLIGHT_FAILED})
#: Broker operations in the order the reports list them, with their counter.
_CALLS: Final = (("place", "orders_place_total"), ("cancel", "orders_cancel_total"), ("query", "orders_query_total"))
_ROW: Final = ConfigDict(frozen=True, extra="forbid")


class Orders(BaseModel):
    """Orders placed (past the pre-trade rails) and where they ended."""

    model_config = _ROW

    placed: int
    filled: int
    canceled: int
    rejected: int
    expired: int
    open: int


class Mismatches(BaseModel):
    model_config = _ROW

    total: int
    by_kind: dict[str, int]
    first: list[MismatchDoc] = Field(description="the first ones found, each with its step, order and kind")

    @property
    def unlisted(self) -> int:
        """Mismatches beyond :attr:`first` (the status document lists a bounded number)."""
        return max(0, self.total - len(self.first))


class Retries(BaseModel):
    model_config = _ROW

    total: int
    by_op: dict[str, dict[str, int]]


class Transition(BaseModel):
    model_config = _ROW

    from_state: str
    to_state: str
    count: int


class Call(BaseModel):
    """One row of a run's broker calls: ``place``/``ok``/5 or ``retry place``/``rate_limit``/1."""

    model_config = _ROW

    operation: str
    outcome: str
    count: int


class RunDetail(BaseModel):
    """What the per-run sections of the Markdown and HTML reports draw beyond the row."""

    model_config = _ROW

    by_state: dict[OrderState, int] = Field(description="orders per final state, every state")
    transitions: list[Transition]
    calls: list[Call]
    passes: int
    clean_passes: int
    positions: dict[str, str] = Field(description="exact decimal text, as the documents hold it")
    cash: str
    activity: list[ActivityBucket]


def _samples(metrics: MetricsSnapshot, name: str) -> list[MetricSample]:
    for family in metrics.metrics:
        if family.name == name:
            return family.samples
    return []


class RunRow(BaseModel):
    """One run, as every report shows it (``peak-dryrun report --format json`` prints these)."""

    model_config = _ROW

    run_id: str
    scenario: str
    seed: int
    state: SessionState
    steps: ReportSteps
    health: ReportHealth
    needs_operator: bool = Field(description="the run ended in a state that needs a person")
    attention: bool = Field(description="failed or needs the operator: it fails `peak-dryrun report`")
    orders: Orders
    mismatches: Mismatches
    rail_trips: list[RailTripDoc]
    retries: Retries
    faults_skipped: dict[str, int] = Field(description="scheduled faults the broker could not express, by kind")
    detail: RunDetail = Field(exclude=True)

    @property
    def rank(self) -> int:
        """0 failed or needs the operator, 1 degraded, 2 ok: the order every report lists runs in."""
        if self.attention:
            return 0
        return 1 if self.health.status is HealthStatus.DEGRADED else 2

    @classmethod
    def of(cls, health: HealthSnapshot, status: StatusSnapshot, metrics: MetricsSnapshot) -> RunRow:
        """The row of one run, from its three documents."""
        by_state = status.orders.by_state
        needs_operator = health.orchestrator_state in NEEDS_OPERATOR_STATES
        retries: dict[str, dict[str, int]] = {}
        for sample in _samples(metrics, "retry_attempts_total"):
            if sample.value:
                by_reason = retries.setdefault(sample.labels["op"], {})
                by_reason[sample.labels["reason"]] = int(sample.value)
        calls = [
            Call(operation=op, outcome=sample.labels["outcome"], count=int(sample.value))
            for op, name in _CALLS
            for sample in _samples(metrics, name)
        ]
        calls += [
            Call(operation=f"retry {sample.labels['op']}", outcome=sample.labels["reason"], count=int(sample.value))
            for sample in _samples(metrics, "retry_attempts_total")
        ]
        money = status.model_dump(mode="json", include={"positions", "cash"})  # the documents' exact text
        skipped: dict[str, int] = {}
        for sample in _samples(metrics, "faults_skipped_total"):
            if sample.value:
                kind = sample.labels["fault"]
                skipped[kind] = skipped.get(kind, 0) + int(sample.value)
        return cls(
            run_id=health.run_id,
            scenario=health.scenario,
            seed=health.seed,
            state=health.orchestrator_state,
            steps=ReportSteps(planned=status.session.steps_planned, run=status.session.steps_run),
            health=ReportHealth(status=health.status, reasons=list(health.reasons)),
            needs_operator=needs_operator,
            attention=needs_operator or health.status is HealthStatus.FAILED,
            orders=Orders(
                placed=status.orders.placed,
                filled=by_state.get(OrderState.FILLED, 0),
                canceled=by_state.get(OrderState.CANCELED, 0),
                rejected=by_state.get(OrderState.REJECTED, 0),
                expired=by_state.get(OrderState.EXPIRED, 0),
                open=status.orders.open,
            ),
            mismatches=Mismatches(
                total=status.reconcile.mismatches_total,
                by_kind=dict(sorted(status.reconcile.mismatches.items())),
                first=list(status.reconcile.first_mismatches),
            ),
            rail_trips=list(status.rail_trips),
            retries=Retries(
                total=sum(n for by_reason in retries.values() for n in by_reason.values()),
                by_op={op: dict(sorted(by_reason.items())) for op, by_reason in sorted(retries.items())},
            ),
            faults_skipped=dict(sorted(skipped.items())),
            detail=RunDetail(
                by_state=dict(by_state),
                transitions=sorted(
                    (
                        Transition(
                            from_state=sample.labels["from_state"],
                            to_state=sample.labels["to_state"],
                            count=int(sample.value),
                        )
                        for sample in _samples(metrics, "order_state_transitions_total")
                    ),
                    key=lambda t: (t.from_state, t.to_state),
                ),
                calls=calls,
                passes=status.reconcile.passes,
                clean_passes=status.reconcile.clean_passes,
                positions=dict(sorted(money["positions"].items())),
                cash=money["cash"],
                activity=list(status.activity),
            ),
        )


def describe_mismatch(mismatch: MismatchDoc) -> str:
    """``step 9: duplicate_fill, order O-000004: fill ... delivered twice``: where it came from, then what."""
    return f"step {mismatch.step}: {mismatch.kind.value}, order {mismatch.order_id}: {mismatch.detail}"


def session_families(metrics: Mapping[str, MetricsSnapshot]) -> list[MetricFamily]:
    """Every run's metric families merged into one family per metric with a ``run`` label.

    Runs in run-id order, each run's samples as its document lists them: the order of the
    series in ``dryrun_metrics.prom``.
    """
    merged: dict[str, tuple[MetricFamily, list[MetricSample]]] = {}
    for run_id in sorted(metrics):
        for family in metrics[run_id].metrics:
            if family.name not in merged:
                head = MetricFamily(
                    name=family.name, type=family.type, help=family.help, labels=["run", *family.labels], samples=[]
                )
                merged[family.name] = (head, [])
            samples = merged[family.name][1]
            samples += [
                MetricSample(labels={"run": run_id, **sample.labels}, value=sample.value) for sample in family.samples
            ]
    return [head.model_copy(update={"samples": samples}) for head, samples in merged.values()]


def _counter_totals(families: Sequence[MetricFamily]) -> dict[str, int | float]:
    """Counters summed over every run of the session, per label set (labels in declared order)."""
    totals: dict[str, int | float] = {}
    for family in families:
        if family.type != "counter":
            continue
        names = [label for label in family.labels if label != "run"]
        for sample in family.samples:
            key = series_key(family.name, {label: sample.labels[label] for label in names})
            totals[key] = totals.get(key, 0) + sample.value
    return dict(sorted(totals.items()))


class SessionRow(BaseModel):
    """A session: its roll-up, its problems and its runs in report order."""

    model_config = _ROW

    rollup: SessionRollup
    problems: list[str]
    runs: list[RunRow] = Field(description="failed and needs-the-operator runs first, then degraded, then ok")
    families: list[MetricFamily] = Field(description="every run's metrics with a run label")
    counters: dict[str, int | float] = Field(description="counters summed over every run")

    @classmethod
    def of(
        cls, rows: Sequence[RunRow], metrics: Mapping[str, MetricsSnapshot], *, problems: Sequence[str] = ()
    ) -> SessionRow:
        families = session_families(metrics)
        return cls(
            rollup=SessionRollup.of(
                [row.health.status for row in rows], [row.state for row in rows], problems=problems
            ),
            problems=list(problems),
            runs=sorted(rows, key=lambda row: (row.rank, row.run_id)),
            families=families,
            counters=_counter_totals(families),
        )


@dataclass(frozen=True)
class Column:
    """One column of the runs table: its header, its cell, and whether it holds a count."""

    header: str
    cell: Callable[[RunRow], str | int]
    numeric: bool = True


#: The runs table of every report, defined once (the renderers choose how a cell looks).
COLUMNS: Final = (
    Column("run", lambda r: r.run_id, numeric=False),
    Column("scenario", lambda r: r.scenario, numeric=False),
    Column("final state", lambda r: r.state.value, numeric=False),
    Column("health", lambda r: r.health.status.value, numeric=False),
    Column("placed", lambda r: r.orders.placed),
    Column("filled", lambda r: r.orders.filled),
    Column("canceled", lambda r: r.orders.canceled),
    Column("rejected", lambda r: r.orders.rejected),
    Column("expired", lambda r: r.orders.expired),
    Column("open", lambda r: r.orders.open),
    Column("mismatches", lambda r: r.mismatches.total),
    Column("rail trips", lambda r: len(r.rail_trips)),
    Column("retries", lambda r: r.retries.total),
)
#: The narrower table at the end of a pytest session (a terminal line is short).
TERMINAL_COLUMNS: Final = tuple(
    c
    for c in COLUMNS
    if c.header
    in ("run", "final state", "health", "placed", "filled", "canceled", "rejected", "mismatches", "rail trips")
)
