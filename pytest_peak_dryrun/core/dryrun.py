"""One end-to-end dry run: orchestrator -> mock broker -> metrics -> snapshot documents.

:func:`run_scenario` wires the layers together for one run and is what the plugin's
``dryrun`` and ``run_dryrun`` fixtures, the examples and the benchmarks call. With an
``out_dir`` the run's events and audit log stream to ``runs/<run_id>/`` while it runs
(constant memory), and its documents are written there when it ends.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from .audit import AuditLog, JsonlFile
from .audit_chain import audit_key_from_env
from .broker import Broker, MockBroker
from .canonical import dumps_line
from .clock import SimClock, run_clock
from .documents import build_report, with_audit
from .events import ReconcileMismatchEvent
from .metrics import MetricsCollector
from .orchestrator import DryRunConfig, Orchestrator, SessionState
from .redact import Redactor
from .scenario import Scenario
from .snapshots import (
    HealthSnapshot,
    MetricsSnapshot,
    MismatchLog,
    PreflightCheck,
    StatusSnapshot,
    StepActivity,
    build_health,
    build_metrics,
    build_status,
)
from .stream import EventListener, EventLog, EventStream
from .writer import run_dir as run_dir_of
from .writer import write_json

__all__ = ["DryRunResult", "ReportHook", "RunParts", "assemble_run", "make_run_id", "run_scenario"]

#: Receives the normalized report and returns the one to write and compare.
ReportHook = Callable[[dict[str, Any]], dict[str, Any]]
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
#: A name already safe and short is its own run id, unless it looks like a hashed id (which
#: would let it collide with one).
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_HASHED_TAIL = re.compile(r"-[0-9a-f]{12}(?:-[0-9]+)?$")
_SLUG_MAX = 100  # + "-" + 12 hex digits + "-<n>" for further runs stays within _RUN_ID's 128


def make_run_id(name: str) -> str:
    """A stable, filesystem-safe run id from a test node id (or any name), unique by construction.

    A plain name (``happy_path``) is its own id. Anything else, every node id included, is a
    readable slug plus the first 12 hex digits of the sha256 of the exact name:
    ``tests/test_x.py::test_c[a b]`` -> ``tests-test_x-test_c-a-b-50d3be060f94``. So
    ``test_c[a b]``, ``test_c[a-b]``, ``test_c[a/b]`` and ``test_c[a:b]`` share a slug but not a
    hash. Plain ids never end like a hashed one, so the two kinds cannot meet; the id depends
    on the name alone, so every process (serial or any xdist worker) derives the same one.
    """
    if _PLAIN.match(name) and not _HASHED_TAIL.search(name):
        return name
    slug = _UNSAFE.sub("-", name.replace(".py::", "::").replace("::", "-"))
    slug = re.sub(r"-{2,}", "-", slug).strip("-.")[:_SLUG_MAX].rstrip("-.") or "run"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{slug}-{digest}"


class DryRunResult:
    """What a dry run hands back: documents, the normalized report, and the events."""

    def __init__(
        self,
        *,
        run_id: str,
        orchestrator: Orchestrator,
        collector: MetricsCollector,
        health: HealthSnapshot,
        status: StatusSnapshot,
        metrics: MetricsSnapshot,
        report: dict[str, Any],
        log: EventLog | None,
        run_dir: Path | None,
    ) -> None:
        self.run_id = run_id
        self.orchestrator = orchestrator
        self.collector = collector
        self.health = health
        self.status = status
        self.metrics = metrics
        self.report = report
        self.run_dir = run_dir
        self._log = log

    @property
    def state(self) -> SessionState:
        return self.orchestrator.state

    @property
    def scenario(self) -> Scenario:
        return self.orchestrator.scenario

    @property
    def events(self) -> EventLog:
        """Every event of the run, in order (needs ``keep_events``, the default).

        A sequence of :class:`~.events.EventRecord`; ``events.count(kind, **fields)`` counts
        the events of ``kind`` whose payload has the given values.
        """
        if self._log is None:
            raise RuntimeError("this run did not keep its events; pass keep_events=True or read events.jsonl")
        return self._log

    def count(self, kind: str, **fields: Any) -> int:
        """``self.events.count(kind, **fields)``."""
        return self.events.count(kind, **fields)

    @property
    def files(self) -> dict[str, Path]:
        if self.run_dir is None:
            return {}
        return {p.name: p for p in sorted(self.run_dir.iterdir()) if p.is_file()}

    def __repr__(self) -> str:
        # The reason too: a test's failure shows the fixture's repr, so a failed preflight or a
        # session that needs the operator says why right there.
        reason = self.orchestrator.stream.redactor.redact_text(self.orchestrator.state_reason)  # as its event
        return f"DryRunResult(run_id={self.run_id!r}, state={self.state.value}, health={self.health.status.value}" + (
            f", reason={reason!r})" if reason else ")"
        )


_Doc = TypeVar("_Doc", HealthSnapshot, StatusSnapshot, MetricsSnapshot)


def _redacted(document: _Doc, redactor: Redactor) -> _Doc:
    """The net under the event stream's redaction, for text that never was an event.

    Health reasons, preflight and rail-trip details are built from the orchestrator's own
    state (a broker's class name, an exception's text); a registered secret in any string of
    a run document is masked here, before the document is returned, written or rendered.
    """
    # One scan of pydantic's (Rust) JSON text first: documents hold no secret in the common case.
    if not redactor.secrets or not redactor.contains_secret(document.model_dump_json()):
        return document
    return type(document).model_validate(redactor.redact_data(document.to_json_data()))


@dataclass
class RunParts:
    """The wired-up pieces of one run: what :func:`assemble_run` builds (nothing has run yet)."""

    run_id: str
    clock: SimClock
    stream: EventStream
    collector: MetricsCollector
    audit: AuditLog
    activity: StepActivity
    mismatches: MismatchLog
    orchestrator: Orchestrator
    log: EventLog | None
    run_dir: Path | None
    steps: int


def assemble_run(
    scenario: Scenario,
    *,
    run_id: str,
    broker: Broker | None = None,
    clock: SimClock | None = None,
    config: DryRunConfig | None = None,
    out_dir: Path | None = None,
    listeners: Sequence[EventListener] = (),
    keep_events: bool = True,
    redactor: Redactor | None = None,
    steps: int | None = None,
    audit_key: bytes | Literal["env"] | None = "env",
    collector: MetricsCollector | None = None,
    audit: AuditLog | None = None,
) -> RunParts:
    """Wire one run: clock, event stream, metrics, audit log, activity, mismatches, orchestrator.

    The one place a run is put together: :func:`run_scenario` and the plugin's
    ``orchestrator``/``dryrun`` fixtures all call it (a fixture may hand in its own
    ``collector`` and in-memory ``audit`` log, which a conftest can override).
    """
    if not _RUN_ID.match(run_id):
        # it names a directory under out_dir: no separators, no "..", nothing hidden
        raise ValueError(f"run_id {run_id!r} must match {_RUN_ID.pattern} (use make_run_id to derive one)")
    clock = run_clock(broker, clock)
    stream = EventStream(run_id, clock, redactor=redactor)
    if broker is None:
        broker = MockBroker(scenario.broker_config(), clock=clock)
    collector = collector if collector is not None else MetricsCollector()
    run_steps = scenario.steps if steps is None else steps
    activity = StepActivity(clock, span_steps=clock.step + run_steps + scenario.stop_timeout_steps + 1)
    mismatches = MismatchLog(clock)
    rdir = run_dir_of(out_dir, run_id) if out_dir is not None else None
    if audit is None:
        if rdir is not None:
            audit = AuditLog(
                run_id,
                events_file=JsonlFile(rdir / "events.jsonl"),
                audit_file=JsonlFile(rdir / "audit.jsonl"),
                key=audit_key_from_env() if audit_key == "env" else audit_key,
            )
        else:
            audit = AuditLog(run_id)
    stream.tap(collector)
    stream.tap(activity)
    stream.tap(mismatches, kinds=(ReconcileMismatchEvent,))  # it keeps those alone
    stream.tap(audit, flush=audit.flush)
    log = EventLog() if keep_events else None
    if log is not None:
        stream.subscribe(log)
    for listener in listeners:
        stream.subscribe(listener)
    orch = Orchestrator(
        scenario, broker=broker, clock=clock, stream=stream, config=config, audit_writable=audit.accepts_writes
    )
    return RunParts(run_id, clock, stream, collector, audit, activity, mismatches, orch, log, rdir, run_steps)


def run_scenario(
    scenario: Scenario,
    *,
    run_id: str | None = None,
    broker: Broker | None = None,
    clock: SimClock | None = None,
    config: DryRunConfig | None = None,
    out_dir: Path | None = None,
    listeners: Sequence[EventListener] = (),
    keep_events: bool = True,
    redactor: Redactor | None = None,
    report_hook: ReportHook | None = None,
    steps: int | None = None,
    audit_key: bytes | Literal["env"] | None = "env",
) -> DryRunResult:
    """Run ``scenario`` end to end and return its documents.

    ``broker`` defaults to a :class:`MockBroker` built from the scenario. Whatever the
    broker, the orchestrator checks its results where they enter the run
    (:func:`~pytest_peak_dryrun.check_broker`: a wrong one raises
    :class:`~pytest_peak_dryrun.BrokerContractError`) and wraps it in a FaultInjector with
    the scenario's faults. The run's clock is ``clock`` if given, else the broker's
    ``.clock`` (so a MockBroker passed in keeps its own), else a fresh one; a broker that does
    not follow that clock (another SimClock, or neither ``.clock`` nor ``on_step``) fails the
    preflight with the fix. ``steps`` runs fewer (or more) steps than the scenario says.
    ``audit_key`` keys the audit chain written under ``out_dir`` (HMAC-SHA256); by default
    it comes from ``PEAK_DRYRUN_AUDIT_KEY``. The report is the same with or without a key.
    """
    parts = assemble_run(
        scenario,
        run_id=run_id or make_run_id(scenario.name),
        broker=broker,
        clock=clock,
        config=config,
        out_dir=out_dir,
        listeners=listeners,
        keep_events=keep_events,
        redactor=redactor,
        steps=steps,
        audit_key=audit_key,
    )
    run_id, stream, collector, audit, orch, rdir = (
        parts.run_id,
        parts.stream,
        parts.collector,
        parts.audit,
        parts.orchestrator,
        parts.run_dir,
    )
    try:
        if orch.preflight():
            orch.run(parts.steps)
            orch.stop()
        preflight = [PreflightCheck(check=name, ok=ok, detail=detail) for name, ok, detail in orch.preflight_results]
        redactor = stream.redactor
        health = _redacted(build_health(orch, collector, run_id=run_id), redactor)
        status = _redacted(
            build_status(
                orch,
                run_id=run_id,
                last_events=stream.last_records(),
                preflight=preflight,
                activity=parts.activity,
                mismatches=parts.mismatches,
            ),
            redactor,
        )
        metrics = _redacted(build_metrics(orch, collector, run_id=run_id), redactor)
        report = build_report(health, status, metrics)
        modified = False
        if report_hook is not None:
            built = copy.deepcopy(report)
            report = report_hook(report)
            modified = report != built
        if redactor.secrets and redactor.contains_secret(dumps_line(report)):
            report = redactor.redact_data(report)  # a hook may have added text the documents never held
        report = with_audit(report, events=audit.count, head_sha256=audit.head, modified_by_hook=modified)
        if rdir is not None:
            write_json(rdir / "health.json", health.to_json_data())
            write_json(rdir / "status.json", status.to_json_data())
            write_json(rdir / "metrics.json", metrics.to_json_data())
            write_json(rdir / "report.json", report)
            audit.close()
    except BaseException as exc:
        stream.redactor.redact_exception(exc)  # its text reaches tracebacks and CI logs
        audit.abort()
        if rdir is not None:
            for name in ("health.json", "status.json", "metrics.json", "report.json"):
                (rdir / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # only when empty: an interrupted run leaves nothing
                rdir.rmdir()
        raise
    return DryRunResult(
        run_id=run_id,
        orchestrator=orch,
        collector=collector,
        health=health,
        status=status,
        metrics=metrics,
        report=report,
        log=parts.log,
        run_dir=rdir,
    )
