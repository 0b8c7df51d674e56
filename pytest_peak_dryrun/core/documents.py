"""The documents above one run's health, status and metrics: ``report.json``, the session roll-ups, ``index.json``.

Each is a pydantic model here, and the model is the one source of both the file and its
shipped JSON Schema (:mod:`.schemas`): :func:`build_report` builds a :class:`ReportDocument`,
and the session files are :class:`HealthSessionDocument`, :class:`StatusSessionDocument`,
:class:`MetricsSessionDocument` and :class:`IndexDocument`, filled by the report layer
(:mod:`pytest_peak_dryrun.report.session`) from the rows of a session. Nothing here renders
text for people; that happens above the core.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Final, Literal, Optional, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from .audit_chain import audit_key_id, audit_mac
from .canonical import dumps_line, to_jsonable
from .model import Money
from .orchestrator import SessionState
from .orders import OrderState
from .snapshots import SCHEMA_IDS, HealthSnapshot, HealthStatus, MetricsSnapshot, StatusSnapshot
from .writer import INDEX_SCHEMA, METRICS_PREFIX_PATTERN

__all__ = [
    "HEALTH_SESSION_SCHEMA",
    "METRICS_SESSION_SCHEMA",
    "REPORT_SCHEMA",
    "SHA256_PATTERN",
    "STATUS_SESSION_SCHEMA",
    "HealthSessionDocument",
    "IndexDocument",
    "IndexRun",
    "IndexSeal",
    "MetricsSessionDocument",
    "MetricsSessionRollup",
    "ReportBody",
    "ReportDocument",
    "ReportHealth",
    "ReportSteps",
    "SessionRollup",
    "StatusSessionDocument",
    "build_report",
    "index_seal",
    "json_data",
    "series_key",
    "with_audit",
]

REPORT_SCHEMA: Final = "peak-dryrun/report/v1"
HEALTH_SESSION_SCHEMA: Final = "peak-dryrun/health-session/v1"
STATUS_SESSION_SCHEMA: Final = "peak-dryrun/status-session/v1"
METRICS_SESSION_SCHEMA: Final = "peak-dryrun/metrics-session/v1"
SEAL_ALGORITHM: Final = "HMAC-SHA256"
#: A sha256 in hex, as every document and audit line spells it.
SHA256_PATTERN: Final = r"^[0-9a-f]{64}$"
_STRICT: Final = ConfigDict(frozen=True, extra="forbid")
_FILE: Final = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
_STATUS_RANK: Final = {HealthStatus.OK: 0, HealthStatus.DEGRADED: 1, HealthStatus.FAILED: 2}


def json_data(document: BaseModel, *, exclude_none: bool = False) -> dict[str, Any]:
    """A document as plain JSON data, its ``schema`` id under that name, as written to disk.

    ``exclude_none`` leaves out optional members that are absent (an index's ``seal``); a
    document whose members may be ``null`` (a health document's timestamps) keeps them.
    """
    data: dict[str, Any] = to_jsonable(document.model_dump(mode="json", by_alias=True, exclude_none=exclude_none))
    return data


def series_key(name: str, labels: Mapping[str, str]) -> str:
    """``name{a="x",b="y"}`` (just ``name`` without labels), the labels in the order given.

    Pass the metric's declared label order (a family's ``labels``): a document read back from
    canonical JSON has its label keys sorted instead. The one spelling of a series in the
    report's and the session's ``counters`` and in ``validate``'s findings.
    """
    if not labels:
        return name
    inner = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return f"{name}{{{inner}}}"


# -- report.json ------------------------------------------------------------------------------------


class ReportSteps(BaseModel):
    model_config = _STRICT

    planned: int
    run: int


class ReportHealth(BaseModel):
    model_config = _STRICT

    status: HealthStatus
    reasons: list[str]


class ReportOrders(BaseModel):
    model_config = _STRICT

    placed: int
    open: int
    by_state: dict[OrderState, int] = Field(description="non-zero states only")
    filled_qty: Money


class ReportReconcile(BaseModel):
    model_config = _STRICT

    passes: int
    clean_passes: int
    mismatches: dict[str, int]


class ReportRailTrip(BaseModel):
    model_config = _STRICT

    rail: str
    step: int


class ReportAudit(BaseModel):
    model_config = _STRICT

    events: int = Field(ge=0, description="lines of audit.jsonl (and of events.jsonl)")
    head_sha256: str = Field(
        pattern=SHA256_PATTERN,
        description="sha256 of the last audit line in its unkeyed form (the same with or without a key)",
    )


class ReportBody(BaseModel):
    """The report the plugin builds for a run, before any hook: every member present and typed."""

    model_config = _FILE

    schema_: Literal["peak-dryrun/report/v1"] = Field(default=REPORT_SCHEMA, alias="schema")
    scenario: str
    seed: int
    steps: ReportSteps
    final_state: SessionState
    health: ReportHealth
    orders: ReportOrders
    positions: dict[str, Money]
    cash: Money
    reconcile: ReportReconcile
    rail_trips: list[ReportRailTrip]
    counters: dict[str, int | float] = Field(description='non-zero counter series keyed `name{label="value",...}`')


def _after_hooks(body: type[BaseModel]) -> type[BaseModel]:
    """The model of ``report.json``: ``body``'s members, each optional, plus ``audit``.

    A ``pytest_dryrun_modify_report`` hook may drop members or add its own, so the file's
    model is derived from :class:`ReportBody` (one list of members) rather than written twice.
    """
    fields: dict[str, Any] = {}
    # With their Annotated metadata (a Money field keeps its exact-text serializer and schema).
    hints = get_type_hints(body, include_extras=True)
    for name, info in body.model_fields.items():
        if name == "schema_":
            fields[name] = (info.annotation, info)
        else:
            fields[name] = (Optional[hints[name]], Field(default=None, description=info.description))  # noqa: UP045
    fields["audit"] = (ReportAudit, Field(description="the run's audit chain: every event is pinned by its head"))
    fields["modified_by_hook"] = (
        Optional[Literal[True]],  # noqa: UP045
        Field(default=None, description="present when a pytest_dryrun_modify_report hook changed the report"),
    )
    return create_model(
        "ReportDocument",
        __config__=ConfigDict(frozen=True, extra="allow", populate_by_name=True),
        __doc__=_REPORT_DOC,
        **fields,
    )


_REPORT_DOC: Final = """``runs/<run_id>/report.json``: the normalized report a golden file holds.

A suite's ``pytest_dryrun_modify_report`` hook may drop fields or add its own, so only
``schema`` and ``audit`` (set after the hook) are required and other keys are allowed;
the fields the plugin writes keep their types."""
#: ``runs/<run_id>/report.json`` (and a golden file): :class:`ReportBody` after the hook.
ReportDocument: Final = _after_hooks(ReportBody)


def build_report(health: HealthSnapshot, status: StatusSnapshot, metrics: MetricsSnapshot) -> dict[str, Any]:
    """The normalized report a golden file holds: behaviour only, no run id, no noise.

    Built as a :class:`ReportBody` (:func:`with_audit` adds the ``audit`` block after the
    ``pytest_dryrun_modify_report`` hook) and handed on as plain JSON data, the
    shape hooks and golden files work with. Counters appear as ``name{label="value"}: n``
    (non-zero series only) so a changed count is one changed line in a review diff.
    """
    counters: dict[str, int | float] = {}
    for family in metrics.metrics:
        if family.type != "counter":
            continue
        for sample in family.samples:
            if sample.value:
                labels = {label: sample.labels[label] for label in family.labels}
                counters[series_key(family.name, labels)] = sample.value
    report = ReportBody(
        scenario=status.scenario,
        seed=status.seed,
        steps=ReportSteps(planned=status.session.steps_planned, run=status.session.steps_run),
        final_state=status.session.state,
        health=ReportHealth(status=health.status, reasons=list(health.reasons)),
        orders=ReportOrders(
            placed=status.orders.placed,
            open=status.orders.open,
            by_state={state: n for state, n in status.orders.by_state.items() if n},
            filled_qty=status.orders.filled_qty,
        ),
        positions=dict(status.positions),
        cash=status.cash,
        reconcile=ReportReconcile(
            passes=status.reconcile.passes,
            clean_passes=status.reconcile.clean_passes,
            mismatches=dict(status.reconcile.mismatches),
        ),
        rail_trips=[ReportRailTrip(rail=t.rail, step=t.step) for t in status.rail_trips],
        counters=counters,
    )
    return json_data(report)


#: Report keys the plugin sets after the hook (a hook's own values under these names are replaced).
_AUDIT_KEYS: Final = frozenset({"audit", "modified_by_hook"})


def with_audit(report: dict[str, Any], *, events: int, head_sha256: str, modified_by_hook: bool) -> dict[str, Any]:
    """``report`` with the run's audit summary, set after any ``pytest_dryrun_modify_report`` hook.

    ``audit.head_sha256`` is the head of the run's audit chain in its unkeyed form (the same
    with or without ``PEAK_DRYRUN_AUDIT_KEY``), so a golden file pins every event of the run:
    a history rewritten with the package's own writer has another head and fails the
    committed golden. It is set after the hook so a hook cannot drop that evidence.
    ``modified_by_hook`` is present (and true) only when a hook changed the report: then
    ``peak-dryrun validate`` cannot rebuild the report from the run's documents and says so.
    The writer and ``validate`` both go through this function, so they cannot disagree.
    """
    out = {key: value for key, value in report.items() if key not in _AUDIT_KEYS}
    out["audit"] = {"events": events, "head_sha256": head_sha256}
    if modified_by_hook:
        out["modified_by_hook"] = True
    return out


# -- the session roll-ups ---------------------------------------------------------------------------


def _tally(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return dict(sorted(out.items()))


class SessionRollup(BaseModel):
    """The ``session`` object of the roll-up files and of ``index.json``."""

    model_config = _STRICT

    runs: int = Field(ge=0, description="number of runs in the session")
    status: HealthStatus = Field(description="the worst health of any run; failed when the session is incomplete")
    by_status: dict[HealthStatus, int] = Field(description="runs per health status")
    by_state: dict[SessionState, int] = Field(description="runs per final session state")
    complete: bool = Field(description="false when a problem (a crashed xdist worker, ...) lost runs")

    @classmethod
    def of(
        cls, statuses: Sequence[HealthStatus], states: Sequence[SessionState], *, problems: Sequence[str] = ()
    ) -> SessionRollup:
        """The roll-up of runs with these final health statuses and session states."""
        worst = max(statuses, key=_STATUS_RANK.__getitem__, default=HealthStatus.OK)
        return cls(
            runs=len(statuses),
            status=HealthStatus.FAILED if problems else worst,
            by_status=_tally(s.value for s in statuses),  # type: ignore[arg-type]
            by_state=_tally(s.value for s in states),  # type: ignore[arg-type]
            complete=not problems,
        )


class MetricsSessionRollup(SessionRollup):
    counters: dict[str, int | float] = Field(
        description='counters summed over every run, keyed `name{label="value",...}`'
    )


class HealthSessionDocument(BaseModel):
    """``dryrun_health_snapshot.json``: every run's health document keyed by run id."""

    model_config = _FILE

    schema_: Literal["peak-dryrun/health-session/v1"] = Field(default=HEALTH_SESSION_SCHEMA, alias="schema")
    session: SessionRollup
    runs: dict[str, HealthSnapshot]


class StatusSessionDocument(BaseModel):
    """``dryrun_status_snapshot.json``: every run's status document keyed by run id."""

    model_config = _FILE

    schema_: Literal["peak-dryrun/status-session/v1"] = Field(default=STATUS_SESSION_SCHEMA, alias="schema")
    session: SessionRollup
    runs: dict[str, StatusSnapshot]


class MetricsSessionDocument(BaseModel):
    """``dryrun_metrics_snapshot.json``: every run's metrics plus the summed counters."""

    model_config = _FILE

    schema_: Literal["peak-dryrun/metrics-session/v1"] = Field(default=METRICS_SESSION_SCHEMA, alias="schema")
    session: MetricsSessionRollup
    runs: dict[str, MetricsSnapshot]


# -- index.json ---------------------------------------------------------------------------------------


class IndexRun(BaseModel):
    model_config = _STRICT

    run_id: str
    dir: str = Field(description="the run's directory, relative to the snapshot directory")
    scenario: str
    seed: int
    state: SessionState
    status: HealthStatus


class IndexSeal(BaseModel):
    """An HMAC of the rest of ``index.json`` under ``PEAK_DRYRUN_AUDIT_KEY`` (only when the key was set)."""

    model_config = _STRICT

    alg: Literal["HMAC-SHA256"]
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="names the key without revealing it")
    mac: str = Field(
        pattern=SHA256_PATTERN, description="HMAC-SHA256 of the index without `seal`, as compact canonical JSON"
    )


class IndexDocument(BaseModel):
    """``index.json``: the manifest of a snapshot directory."""

    model_config = _FILE

    schema_: Literal["peak-dryrun/index/v1"] = Field(default=INDEX_SCHEMA, alias="schema")
    complete: bool
    problems: list[str] = Field(description="why the session is incomplete (empty when complete)")
    session: SessionRollup
    schemas: dict[str, str] = Field(description="schema id of each run document")
    runs: list[IndexRun]
    files: dict[str, Annotated[str, Field(pattern=SHA256_PATTERN)]] = Field(
        description="sha256 (hex) of every file, keyed by its path relative to the snapshot directory"
    )
    metrics_prefix: str | None = Field(
        default=None,
        pattern=METRICS_PREFIX_PATTERN,
        description="the metric-name prefix of dryrun_metrics.prom (ini dryrun_metrics_prefix); absent when none",
    )
    seal: IndexSeal | None = Field(default=None, description="present when the session was written with the key")

    @classmethod
    def in_progress(cls, problem: str) -> IndexDocument:
        """The index of a session that has started and written nothing yet: incomplete, no runs."""
        return cls(
            complete=False,
            problems=[problem],
            session=SessionRollup.of([], [], problems=[problem]),
            schemas=dict(sorted(SCHEMA_IDS.items())),
            runs=[],
            files={},
        )

    def to_json_data(self) -> dict[str, Any]:
        return json_data(self, exclude_none=True)

    def sealed(self, key: bytes) -> IndexDocument:
        """This index with its ``seal`` under ``key`` (:func:`index_seal`)."""
        return self.model_copy(update={"seal": IndexSeal.model_validate(index_seal(self.to_json_data(), key))})


def index_seal(index: Mapping[str, Any], key: bytes) -> dict[str, str]:
    """The ``seal`` of ``index.json``: an HMAC of the rest of the index under the audit key.

    The index lists the sha256 of every file and every run, so with the key a verifier
    sees any change anywhere under DIR (an edited file whose sha256 was updated, a deleted
    run with the index rebuilt by the package's own writer, lines cut off the end of an
    audit log) without trusting anything an attacker could recompute.
    """
    body = {name: value for name, value in index.items() if name != "seal"}
    return {
        "alg": SEAL_ALGORITHM,
        "key_id": audit_key_id(key),
        "mac": audit_mac(key, dumps_line(body).encode("utf-8")),
    }
