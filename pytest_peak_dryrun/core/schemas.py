"""JSON Schemas of every file in a snapshot directory, generated from pydantic models.

The schemas ship as ``pytest_peak_dryrun/schemas/<name>.schema.json`` (canonical JSON) and
``peak-dryrun validate`` checks a snapshot directory against them. The run documents
(health, status, metrics) come straight from their models in :mod:`.snapshots`; the session
roll-ups, ``index.json``, ``report.json`` and the lines of ``events.jsonl`` and
``audit.jsonl`` are described by the small models below. A test regenerates the schemas and
fails when the committed files drift; after changing a model, regenerate them with::

    python -m pytest_peak_dryrun.core.schemas --write

(``--check`` only compares and exits 1 on drift.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from .canonical import dumps, to_jsonable
from .events import event_json_schema
from .model import EventDocument, Money
from .orchestrator import SessionState
from .orders import OrderState
from .snapshots import REPORT_SCHEMA, HealthSnapshot, HealthStatus, MetricsSnapshot, StatusSnapshot
from .writer import HEALTH_SESSION_SCHEMA, INDEX_SCHEMA, METRICS_SESSION_SCHEMA, STATUS_SESSION_SCHEMA

__all__ = [
    "DOCUMENT_SCHEMAS",
    "JSON_SCHEMA_DIALECT",
    "SCHEMA_PACKAGE",
    "IndexDocument",
    "drift",
    "generate_schemas",
    "load_schema",
    "main",
    "schema_file_name",
    "write_schemas",
]

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_PACKAGE: Final = "pytest_peak_dryrun.schemas"
_SHA256: Final = r"^[0-9a-f]{64}$"
_STRICT = ConfigDict(frozen=True, extra="forbid")


class SessionRollup(BaseModel):
    """The ``session`` object of the roll-up files and of ``index.json``."""

    model_config = _STRICT

    runs: int = Field(ge=0, description="number of runs in the session")
    status: HealthStatus = Field(description="the worst health of any run; failed when the session is incomplete")
    by_status: dict[HealthStatus, int] = Field(description="runs per health status")
    by_state: dict[SessionState, int] = Field(description="runs per final session state")
    complete: bool = Field(description="false when a problem (a crashed xdist worker, ...) lost runs")


class MetricsSessionRollup(SessionRollup):
    counters: dict[str, int | float] = Field(
        description='counters summed over every run, keyed `name{label="value",...}`'
    )


class HealthSessionDocument(BaseModel):
    """``dryrun_health_snapshot.json``: every run's health document keyed by run id."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_: Literal["peak-dryrun/health-session/v1"] = Field(default=HEALTH_SESSION_SCHEMA, alias="schema")
    session: SessionRollup
    runs: dict[str, HealthSnapshot]


class StatusSessionDocument(BaseModel):
    """``dryrun_status_snapshot.json``: every run's status document keyed by run id."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_: Literal["peak-dryrun/status-session/v1"] = Field(default=STATUS_SESSION_SCHEMA, alias="schema")
    session: SessionRollup
    runs: dict[str, StatusSnapshot]


class MetricsSessionDocument(BaseModel):
    """``dryrun_metrics_snapshot.json``: every run's metrics plus the summed counters."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_: Literal["peak-dryrun/metrics-session/v1"] = Field(default=METRICS_SESSION_SCHEMA, alias="schema")
    session: MetricsSessionRollup
    runs: dict[str, MetricsSnapshot]


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
    mac: str = Field(pattern=_SHA256, description="HMAC-SHA256 of the index without `seal`, as compact canonical JSON")


class IndexDocument(BaseModel):
    """``index.json``: the manifest of a snapshot directory."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_: Literal["peak-dryrun/index/v1"] = Field(default=INDEX_SCHEMA, alias="schema")
    complete: bool
    problems: list[str] = Field(description="why the session is incomplete (empty when complete)")
    session: SessionRollup
    schemas: dict[str, str] = Field(description="schema id of each run document")
    runs: list[IndexRun]
    files: dict[str, Annotated[str, Field(pattern=_SHA256)]] = Field(
        description="sha256 (hex) of every file, keyed by its path relative to the snapshot directory"
    )
    seal: IndexSeal | None = Field(default=None, description="present when the session was written with the key")


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
        pattern=_SHA256,
        description="sha256 of the last audit line in its unkeyed form (the same with or without a key)",
    )


class ReportDocument(BaseModel):
    """``runs/<run_id>/report.json``: the normalized report a golden file holds.

    A suite's ``pytest_dryrun_modify_report`` hook may drop fields or add its own, so only
    ``schema`` and ``audit`` (set after the hook) are required and other keys are allowed;
    the fields the plugin writes keep their types.
    """

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    schema_: Literal["peak-dryrun/report/v1"] = Field(default=REPORT_SCHEMA, alias="schema")
    scenario: str | None = None
    seed: int | None = None
    steps: ReportSteps | None = None
    final_state: SessionState | None = None
    health: ReportHealth | None = None
    orders: ReportOrders | None = None
    positions: dict[str, Money] | None = None
    cash: Money | None = None
    reconcile: ReportReconcile | None = None
    rail_trips: list[ReportRailTrip] | None = None
    counters: dict[str, int | float] | None = Field(
        default=None, description='non-zero counter series keyed `name{label="value",...}`'
    )
    audit: ReportAudit = Field(description="the run's audit chain: every event is pinned by its head")
    modified_by_hook: Literal[True] | None = Field(
        default=None, description="present when a pytest_dryrun_modify_report hook changed the report"
    )


class AuditLine(BaseModel):
    """One line of ``runs/<run_id>/audit.jsonl``: an event and the hash of the line before."""

    model_config = _STRICT

    event: EventDocument
    hmac_sha256: str | None = Field(
        default=None,
        pattern=_SHA256,
        description="HMAC-SHA256 of the line without this field, under PEAK_DRYRUN_AUDIT_KEY (only when it was set)",
    )
    prev_sha256: str = Field(
        pattern=_SHA256, description="sha256 of the previous line without hmac_sha256; 64 zeros on the first"
    )


#: Schema name -> (model, what it describes). The name is the file name stem.
DOCUMENT_SCHEMAS: Final[dict[str, tuple[type[BaseModel], str]]] = {
    "health": (HealthSnapshot, "runs/<run_id>/health.json"),
    "status": (StatusSnapshot, "runs/<run_id>/status.json"),
    "metrics": (MetricsSnapshot, "runs/<run_id>/metrics.json"),
    "report": (ReportDocument, "runs/<run_id>/report.json"),
    "audit": (AuditLine, "one line of runs/<run_id>/audit.jsonl"),
    "health-session": (HealthSessionDocument, "dryrun_health_snapshot.json"),
    "status-session": (StatusSessionDocument, "dryrun_status_snapshot.json"),
    "metrics-session": (MetricsSessionDocument, "dryrun_metrics_snapshot.json"),
    "index": (IndexDocument, "index.json"),
}


def _require_schema_key(node: Any) -> None:
    """Every document on disk carries its ``schema`` id: make it required, not just defaulted."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict) and "schema" in props and node.get("type") == "object":
            required = node.setdefault("required", [])
            if "schema" not in required:
                required.insert(0, "schema")
        for value in node.values():
            _require_schema_key(value)
    elif isinstance(node, list):
        for value in node:
            _require_schema_key(value)


def generate_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by name, as the files under ``pytest_peak_dryrun/schemas/`` hold them."""
    out: dict[str, dict[str, Any]] = {}
    for name, (model, describes) in sorted(DOCUMENT_SCHEMAS.items()):
        schema: dict[str, Any] = model.model_json_schema(mode="serialization", by_alias=True)
        _require_schema_key(schema)
        schema = {"$schema": JSON_SCHEMA_DIALECT, **schema, "$comment": f"peak-dryrun: {describes}"}
        out[name] = to_jsonable(schema)
    # An events.jsonl line: generated from the event table (one typed payload per kind).
    event = {**event_json_schema(), "$comment": "peak-dryrun: one line of runs/<run_id>/events.jsonl"}
    out["event"] = to_jsonable(event)
    return dict(sorted(out.items()))


def schema_file_name(name: str) -> str:
    return f"{name}.schema.json"


def load_schema(name: str) -> dict[str, Any]:
    """A shipped schema by name (``health``, ``index``, ``event``, ...)."""
    import json

    text = resources.files(SCHEMA_PACKAGE).joinpath(schema_file_name(name)).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _package_dir() -> Path:
    return Path(str(resources.files(SCHEMA_PACKAGE)))


def write_schemas(directory: Path | None = None) -> list[Path]:
    """Write every schema as canonical JSON; remove stale ``*.schema.json`` files."""
    target = directory or _package_dir()
    schemas = generate_schemas()
    written = []
    for name, schema in schemas.items():
        path = target / schema_file_name(name)
        text = dumps(schema)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    wanted = {schema_file_name(name) for name in schemas}
    for stale in sorted(target.glob("*.schema.json")):
        if stale.name not in wanted:
            stale.unlink()
    return written


def drift(directory: Path | None = None) -> list[str]:
    """Schema files that differ from the models (empty when in sync)."""
    target = directory or _package_dir()
    problems = []
    schemas = generate_schemas()
    for name, schema in schemas.items():
        path = target / schema_file_name(name)
        if not path.exists():
            problems.append(f"{path.name}: missing")
        elif path.read_text(encoding="utf-8") != dumps(schema):
            problems.append(f"{path.name}: differs from the model")
    wanted = {schema_file_name(name) for name in schemas}
    problems += [f"{p.name}: no model" for p in sorted(target.glob("*.schema.json")) if p.name not in wanted]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_peak_dryrun.core.schemas",
        description="Regenerate (--write) or check (--check) the JSON Schemas shipped in the package.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write the schema files from the models")
    mode.add_argument("--check", action="store_true", help="exit 1 if a schema file drifted from its model")
    parser.add_argument("--dir", type=Path, default=None, help="target directory (default: the package's)")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_schemas(args.dir):
            print(path)
        return 0
    problems = drift(args.dir)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
