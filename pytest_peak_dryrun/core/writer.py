"""Deterministic, atomic snapshot files in the DESIGN.md layout: names, paths and the one write.

Every file goes through canonical JSON (or a deterministic renderer) and is written to a
temporary file in the same directory, fsynced and renamed over the target, so an
interrupted write never leaves a half file. A run writes its own files (``runs/<run_id>/``,
:mod:`.dryrun`); the session files are rendered above the core from the run files on disk
(:mod:`pytest_peak_dryrun.report.session`), so a serial run and a pytest-xdist run (where
workers write their own runs and the controller writes the session files) produce the same
bytes.

    DIR/dryrun_health_snapshot.json   every run keyed by run id, plus a session roll-up
    DIR/dryrun_status_snapshot.json
    DIR/dryrun_status_snapshot.md     the report a person reads
    DIR/dryrun_status_snapshot.html   the same report as one self-contained page (inline SVG)
    DIR/dryrun_metrics_snapshot.json
    DIR/dryrun_metrics.prom           Prometheus text (textfile-collector style)
    DIR/index.json                    manifest: runs, outcome, schemas, sha256 of every file
    DIR/runs/<run_id>/health.json, status.json, metrics.json, report.json,
                     events.jsonl, audit.jsonl
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final

from .canonical import dumps

__all__ = [
    "HEALTH_FILE",
    "INDEX_FILE",
    "INDEX_SCHEMA",
    "METRICS_FILE",
    "METRICS_PREFIX_PATTERN",
    "PROM_FILE",
    "RUNS_DIR",
    "RUN_FILES",
    "SESSION_FILES",
    "STATUS_FILE",
    "STATUS_HTML_FILE",
    "STATUS_MD_FILE",
    "atomic_write_text",
    "read_run_documents",
    "run_dir",
    "sha256_file",
    "write_json",
]

HEALTH_FILE: Final = "dryrun_health_snapshot.json"
STATUS_FILE: Final = "dryrun_status_snapshot.json"
STATUS_MD_FILE: Final = "dryrun_status_snapshot.md"
STATUS_HTML_FILE: Final = "dryrun_status_snapshot.html"
METRICS_FILE: Final = "dryrun_metrics_snapshot.json"
PROM_FILE: Final = "dryrun_metrics.prom"
INDEX_FILE: Final = "index.json"
SESSION_FILES: Final = (HEALTH_FILE, STATUS_FILE, STATUS_MD_FILE, STATUS_HTML_FILE, METRICS_FILE, PROM_FILE)
RUN_FILES: Final = ("health.json", "status.json", "metrics.json", "report.json", "events.jsonl", "audit.jsonl")
RUNS_DIR: Final = "runs"

#: Here, not with the index's model (:mod:`.documents`): recognising our own index must not import pydantic.
INDEX_SCHEMA: Final = "peak-dryrun/index/v1"
#: What ini ``dryrun_metrics_prefix`` may be: a Prometheus name part (``index.json`` records it).
#: Here for the same reason: the plugin checks the ini value without importing pydantic.
METRICS_PREFIX_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]*$"


def run_dir(out_dir: Path, run_id: str) -> Path:
    """``out_dir/runs/<run_id>``: where one run writes its files."""
    return out_dir / RUNS_DIR / run_id


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename (never a half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """``data`` as canonical JSON (:func:`~.canonical.dumps`), written atomically."""
    atomic_write_text(path, dumps(data))


def sha256_file(path: Path) -> str:
    """The sha256 (hex) of a file, read in chunks (``index.json`` lists one per file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_run_documents(out_dir: Path, run_id: str) -> dict[str, Any]:
    """The health, status, metrics and report documents of one run, as JSON data."""
    base = run_dir(out_dir, run_id)
    docs = {}
    for name in ("health", "status", "metrics", "report"):
        with open(base / f"{name}.json", encoding="utf-8") as fh:
            docs[name] = json.load(fh)
    return docs
