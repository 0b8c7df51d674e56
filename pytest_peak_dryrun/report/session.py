"""The session files of a snapshot directory (:data:`~pytest_peak_dryrun.core.writer.SESSION_FILES`
and ``index.json``; the layout is in :mod:`pytest_peak_dryrun.core.writer`), rendered from the run files on disk.

The runs are read back from ``runs/<run_id>/`` (:func:`~.load.read_run`), so a serial session
and a pytest-xdist session (whose workers wrote their own runs) render the same bytes. Each
run becomes one :class:`~.rows.RunRow`, the session one :class:`~.rows.SessionRow`; the JSON
documents are the pydantic models of :mod:`pytest_peak_dryrun.core.documents` (the same models
the shipped JSON Schemas come from) and the text files render from the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..core.audit_chain import audit_key_from_env
from ..core.canonical import dumps
from ..core.documents import (
    HealthSessionDocument,
    IndexDocument,
    IndexRun,
    MetricsSessionDocument,
    MetricsSessionRollup,
    StatusSessionDocument,
    json_data,
)
from ..core.snapshots import SCHEMA_IDS
from ..core.writer import (
    HEALTH_FILE,
    INDEX_FILE,
    METRICS_FILE,
    PROM_FILE,
    RUN_FILES,
    RUNS_DIR,
    SESSION_FILES,
    STATUS_FILE,
    STATUS_HTML_FILE,
    STATUS_MD_FILE,
    atomic_write_text,
    run_dir,
    sha256_file,
    write_json,
)
from .html import render_html
from .load import RunDocuments, read_run
from .markdown import render_markdown
from .prometheus import render_prometheus
from .rows import RunRow, SessionRow

if TYPE_CHECKING:
    from ..core.redact import Redactor

__all__ = ["SessionFiles", "build_index", "read_session", "render_session_files", "write_session"]


@dataclass(frozen=True)
class SessionFiles:
    """A session rendered in memory: its row, its runs' documents and the text of every session file."""

    session: SessionRow
    runs: dict[str, RunDocuments]
    texts: dict[str, str]


def read_session(
    out_dir: Path, run_ids: Sequence[str], *, problems: Sequence[str] = ()
) -> tuple[SessionRow, dict[str, RunDocuments]]:
    """The session of the runs ``run_ids`` under ``out_dir``, and their documents by run id.

    Raises :class:`~.load.SnapshotError` naming the file when a run file cannot be read.
    """
    runs = {run_id: read_run(out_dir, run_id) for run_id in sorted(set(run_ids))}
    rows = [RunRow.of(docs.health, docs.status, docs.metrics) for docs in runs.values()]
    session = SessionRow.of(rows, {run_id: docs.metrics for run_id, docs in runs.items()}, problems=problems)
    return session, runs


def render_session_files(
    out_dir: Path, run_ids: Sequence[str], *, problems: Sequence[str] = (), metrics_prefix: str | None = None
) -> SessionFiles:
    """Every file of :data:`~pytest_peak_dryrun.core.writer.SESSION_FILES` for ``run_ids``, in memory.

    :func:`write_session` writes these texts; ``peak-dryrun validate`` compares them with the
    files on disk. Raises :class:`~.load.SnapshotError` when a run file cannot be read.
    """
    session, runs = read_session(out_dir, run_ids, problems=problems)
    rollup = session.rollup
    documents = {
        HEALTH_FILE: HealthSessionDocument(session=rollup, runs={i: d.health for i, d in runs.items()}),
        STATUS_FILE: StatusSessionDocument(session=rollup, runs={i: d.status for i, d in runs.items()}),
        METRICS_FILE: MetricsSessionDocument(
            session=MetricsSessionRollup(**dict(rollup), counters=session.counters),
            runs={i: d.metrics for i, d in runs.items()},
        ),
    }
    rendered = {name: dumps(json_data(document)) for name, document in documents.items()}
    rendered[STATUS_MD_FILE] = render_markdown(session)
    rendered[STATUS_HTML_FILE] = render_html(session)
    rendered[PROM_FILE] = render_prometheus(session.families, prefix=metrics_prefix)
    return SessionFiles(session=session, runs=runs, texts={name: rendered[name] for name in SESSION_FILES})


def build_index(session: SessionRow, files: Mapping[str, str], *, metrics_prefix: str | None = None) -> IndexDocument:
    """The ``index.json`` document (``files`` maps relative paths to their sha256)."""
    return IndexDocument(
        complete=session.rollup.complete,
        problems=list(session.problems),
        session=session.rollup,
        schemas=dict(sorted(SCHEMA_IDS.items())),
        runs=[
            IndexRun(
                run_id=row.run_id,
                dir=f"{RUNS_DIR}/{row.run_id}",
                scenario=row.scenario,
                seed=row.seed,
                state=row.state,
                status=row.health.status,
            )
            for row in sorted(session.runs, key=lambda row: row.run_id)
        ],
        files=dict(sorted(files.items())),
        metrics_prefix=metrics_prefix,
    )


def write_session(
    out_dir: Path,
    run_ids: Sequence[str],
    *,
    problems: Sequence[str] = (),
    audit_key: bytes | Literal["env"] | None = "env",
    redactor: Redactor | None = None,
    metrics_prefix: str | None = None,
) -> SessionRow:
    """Write the session files for ``run_ids`` (read back from disk) and the index; return the session.

    ``problems`` (for example a crashed xdist worker) are recorded in the index and mark the
    session incomplete instead of passing a partial session off as complete. With an
    ``audit_key`` (default: ``PEAK_DRYRUN_AUDIT_KEY``) the index carries a ``seal``
    (:func:`~pytest_peak_dryrun.core.documents.index_seal`). ``redactor`` is the last net
    before the files the session writes at its end: the run documents they are built from
    were redacted when the runs wrote them, but a problem's text (a worker's error) was not,
    and nothing of a registered secret may reach a file. ``metrics_prefix`` namespaces the
    metric names of ``dryrun_metrics.prom`` (and is recorded in the index).
    """
    if redactor is not None:
        problems = [redactor.redact_text(problem) for problem in problems]
    rendered = render_session_files(out_dir, run_ids, problems=problems, metrics_prefix=metrics_prefix)
    for name in SESSION_FILES:
        text = rendered.texts[name]
        atomic_write_text(out_dir / name, text if redactor is None else redactor.redact_text(text))
    files = {name: sha256_file(out_dir / name) for name in SESSION_FILES}
    for run_id in rendered.runs:
        for name in RUN_FILES:
            path = run_dir(out_dir, run_id) / name
            if path.exists():
                files[f"{RUNS_DIR}/{run_id}/{name}"] = sha256_file(path)
    index = build_index(rendered.session, files, metrics_prefix=metrics_prefix)
    key = audit_key_from_env() if audit_key == "env" else audit_key
    if key is not None:
        index = index.sealed(key)
    write_json(out_dir / INDEX_FILE, index.to_json_data())
    return rendered.session
