"""Deterministic, atomic snapshot files in the DESIGN.md layout.

Every file goes through canonical JSON (or a deterministic renderer) and is written to a
temporary file in the same directory, fsynced and renamed over the target, so an
interrupted write never leaves a half file. Session files are built from the per-run files
on disk, sorted by run id, so a serial run and a pytest-xdist run (where workers write
their own runs and the controller writes the session files) produce the same bytes.

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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from .audit_chain import audit_key_from_env, audit_key_id, audit_mac
from .canonical import dumps, dumps_line

if TYPE_CHECKING:
    from .redact import Redactor

__all__ = [
    "HEALTH_SESSION_SCHEMA",
    "INDEX_FILE",
    "INDEX_SCHEMA",
    "METRICS_SESSION_SCHEMA",
    "RUNS_DIR",
    "RUN_FILES",
    "SESSION_FILES",
    "STATUS_SESSION_SCHEMA",
    "atomic_write_text",
    "build_index",
    "index_seal",
    "read_run_documents",
    "render_session_files",
    "run_dir",
    "session_summary",
    "sha256_file",
    "write_json",
    "write_session",
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

HEALTH_SESSION_SCHEMA: Final = "peak-dryrun/health-session/v1"
STATUS_SESSION_SCHEMA: Final = "peak-dryrun/status-session/v1"
METRICS_SESSION_SCHEMA: Final = "peak-dryrun/metrics-session/v1"
INDEX_SCHEMA: Final = "peak-dryrun/index/v1"
_STATUS_RANK: Final = {"ok": 0, "degraded": 1, "failed": 2}


def run_dir(out_dir: Path, run_id: str) -> Path:
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
    atomic_write_text(path, dumps(data))


def sha256_file(path: Path) -> str:
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


def _worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=lambda s: _STATUS_RANK.get(s, 3), default="ok")


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return dict(sorted(out.items()))


def session_metric_families(runs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per-run metric families merged into one family per metric with a ``run`` label."""
    merged: dict[str, dict[str, Any]] = {}
    for run_id, docs in runs.items():
        for family in docs["metrics"]["metrics"]:
            target = merged.setdefault(
                family["name"],
                {
                    "name": family["name"],
                    "type": family["type"],
                    "help": family["help"],
                    "labels": ["run", *family["labels"]],
                    "samples": [],
                },
            )
            for sample in family["samples"]:
                target["samples"].append({"labels": {"run": run_id, **sample["labels"]}, "value": sample["value"]})
    return list(merged.values())


def _totals(families: Sequence[Mapping[str, Any]]) -> dict[str, int | float]:
    """Counters summed over every run of the session, per label set."""
    totals: dict[str, int | float] = {}
    for family in families:
        if family["type"] != "counter":
            continue
        for sample in family["samples"]:
            labels = {k: v for k, v in sample["labels"].items() if k != "run"}
            inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
            key = f"{family['name']}{{{inner}}}" if inner else family["name"]
            totals[key] = totals.get(key, 0) + sample["value"]
    return dict(sorted(totals.items()))


def session_summary(runs: Mapping[str, Mapping[str, Any]], *, problems: Sequence[str] = ()) -> dict[str, Any]:
    """The ``session`` roll-up of the run documents ``runs`` (by run id)."""
    statuses = [docs["health"]["status"] for docs in runs.values()]
    states = [docs["health"]["orchestrator_state"] for docs in runs.values()]
    return {
        "runs": len(runs),
        "status": _worst(statuses) if not problems else "failed",
        "by_status": _count(statuses),
        "by_state": _count(states),
        "complete": not problems,
    }


def render_session_files(
    out_dir: Path, run_ids: Sequence[str], *, problems: Sequence[str] = ()
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, str]]:
    """The session roll-up of ``run_ids`` (read back from disk), without writing anything.

    Returns ``(summary, runs, texts)``: the session summary, the run documents by run id and
    the text of every file in :data:`SESSION_FILES`. :func:`write_session` writes these
    texts; ``peak-dryrun validate`` compares them with the files on disk.
    """
    from .html import render_html
    from .markdown import render_markdown
    from .metrics import render_prometheus

    ids = sorted(set(run_ids))
    runs = {run_id: read_run_documents(out_dir, run_id) for run_id in ids}
    summary = session_summary(runs, problems=problems)
    families = session_metric_families(runs)
    # Counted while each run happened (snapshots.StepActivity): no events.jsonl is read back.
    activity = {run_id: docs["status"].get("activity", []) for run_id, docs in runs.items()}
    texts = {
        HEALTH_FILE: dumps(
            {"schema": HEALTH_SESSION_SCHEMA, "session": summary, "runs": {i: d["health"] for i, d in runs.items()}}
        ),
        STATUS_FILE: dumps(
            {"schema": STATUS_SESSION_SCHEMA, "session": summary, "runs": {i: d["status"] for i, d in runs.items()}}
        ),
        STATUS_MD_FILE: render_markdown(summary, runs, problems=problems),
        STATUS_HTML_FILE: render_html(summary, runs, problems=problems, activity=activity),
        METRICS_FILE: dumps(
            {
                "schema": METRICS_SESSION_SCHEMA,
                "session": {**summary, "counters": _totals(families)},
                "runs": {i: d["metrics"] for i, d in runs.items()},
            }
        ),
        PROM_FILE: render_prometheus(families),
    }
    return summary, runs, texts


def build_index(
    summary: Mapping[str, Any],
    runs: Mapping[str, Mapping[str, Any]],
    files: Mapping[str, str],
    *,
    problems: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``index.json`` document (``files`` maps relative paths to their sha256)."""
    from .snapshots import SCHEMA_IDS

    return {
        "schema": INDEX_SCHEMA,
        "complete": not problems,
        "problems": list(problems),
        "session": dict(summary),
        "schemas": dict(sorted(SCHEMA_IDS.items())),
        "runs": [
            {
                "run_id": run_id,
                "dir": f"{RUNS_DIR}/{run_id}",
                "scenario": docs["health"]["scenario"],
                "seed": docs["health"]["seed"],
                "state": docs["health"]["orchestrator_state"],
                "status": docs["health"]["status"],
            }
            for run_id, docs in sorted(runs.items())
        ],
        "files": dict(sorted(files.items())),
    }


SEAL_ALGORITHM: Final = "HMAC-SHA256"


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


def write_session(
    out_dir: Path,
    run_ids: Sequence[str],
    *,
    problems: Sequence[str] = (),
    audit_key: bytes | Literal["env"] | None = "env",
    redactor: Redactor | None = None,
) -> Path:
    """Write the session files for ``run_ids`` (read back from disk) and the index.

    ``problems`` (for example a crashed xdist worker) are recorded in the index and mark the
    session incomplete instead of passing a partial session off as complete. With an
    ``audit_key`` (default: ``PEAK_DRYRUN_AUDIT_KEY``) the index carries a ``seal``
    (:func:`index_seal`). ``redactor`` is the last net before the files the session writes
    at its end: the run documents they are built from were redacted when the runs wrote
    them, but a problem's text (a worker's error) was not, and nothing of a registered
    secret may reach a file.
    """
    if redactor is not None:
        problems = [redactor.redact_text(problem) for problem in problems]
    summary, runs, texts = render_session_files(out_dir, run_ids, problems=problems)
    for name in SESSION_FILES:
        text = texts[name] if redactor is None else redactor.redact_text(texts[name])
        atomic_write_text(out_dir / name, text)
    files: dict[str, str] = {}
    for name in SESSION_FILES:
        files[name] = sha256_file(out_dir / name)
    for run_id in runs:
        for name in RUN_FILES:
            path = run_dir(out_dir, run_id) / name
            if path.exists():
                files[f"{RUNS_DIR}/{run_id}/{name}"] = sha256_file(path)
    index = build_index(summary, runs, files, problems=problems)
    key = audit_key_from_env() if audit_key == "env" else audit_key
    if key is not None:
        index["seal"] = index_seal(index, key)
    write_json(out_dir / INDEX_FILE, index)
    return out_dir / STATUS_MD_FILE
