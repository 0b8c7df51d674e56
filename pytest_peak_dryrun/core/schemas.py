"""JSON Schemas of every file in a snapshot directory, generated from pydantic models.

The schemas ship as ``pytest_peak_dryrun/schemas/<name>.schema.json`` (canonical JSON) and
``peak-dryrun validate`` checks a snapshot directory against them. The run documents
(health, status, metrics) come straight from their models in :mod:`.snapshots`, and
``report.json``, the session roll-ups and ``index.json`` from theirs in :mod:`.documents`:
the same models build those files, so a file and its schema have one source. The lines of
``events.jsonl`` come from the event table (:mod:`.events`) and those of ``audit.jsonl`` from
:class:`AuditLine` below. A test regenerates the schemas and fails when the committed files
drift; after changing a model, regenerate them with::

    python -m pytest_peak_dryrun.core.schemas --write

(``--check`` only compares and exits 1 on drift.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from .canonical import dumps, to_jsonable
from .documents import (
    SHA256_PATTERN,
    HealthSessionDocument,
    IndexDocument,
    MetricsSessionDocument,
    ReportDocument,
    StatusSessionDocument,
)
from .events import event_json_schema
from .model import EventDocument
from .snapshots import HealthSnapshot, MetricsSnapshot, StatusSnapshot

__all__ = [
    "DOCUMENT_SCHEMAS",
    "JSON_SCHEMA_DIALECT",
    "SCHEMA_PACKAGE",
    "drift",
    "generate_schemas",
    "load_schema",
    "main",
    "schema_file_name",
    "write_schemas",
]

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_PACKAGE: Final = "pytest_peak_dryrun.schemas"
_STRICT = ConfigDict(frozen=True, extra="forbid")


class AuditLine(BaseModel):
    """One line of ``runs/<run_id>/audit.jsonl``: an event and the hash of the line before."""

    model_config = _STRICT

    event: EventDocument
    hmac_sha256: str | None = Field(
        default=None,
        pattern=SHA256_PATTERN,
        description="HMAC-SHA256 of the line without this field, under PEAK_DRYRUN_AUDIT_KEY (only when it was set)",
    )
    prev_sha256: str = Field(
        pattern=SHA256_PATTERN, description="sha256 of the previous line without hmac_sha256; 64 zeros on the first"
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
