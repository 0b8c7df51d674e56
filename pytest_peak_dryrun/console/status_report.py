"""``peak-dryrun report``: a read-only status report built from a snapshot directory.

It reads ``index.json`` and each run's ``health.json``, ``status.json`` and ``metrics.json``
and never writes anything. The runs become the report layer's rows
(:mod:`pytest_peak_dryrun.report.rows`) and its verdict (:mod:`pytest_peak_dryrun.report.operator`:
exit 0 when no run failed or needs the operator and the session is complete, 1 otherwise);
the text, Markdown and JSON output render from that one object.

Problems reading the directory raise :class:`~pytest_peak_dryrun.report.load.SnapshotError`
(the command exits 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.writer import INDEX_FILE
from ..report.load import SnapshotError, load_json

if TYPE_CHECKING:
    from ..report.operator import OperatorReport

__all__ = ["check_snapshot_dir", "load_report"]


def check_snapshot_dir(directory: Path) -> Path:
    """``directory / index.json`` if ``directory`` looks like a snapshot directory."""
    if not directory.exists():
        raise SnapshotError(directory, "no such directory")
    if not directory.is_dir():
        raise SnapshotError(directory, "not a directory")
    index = directory / INDEX_FILE
    if not index.is_file():
        raise SnapshotError(directory, f"not a snapshot directory (no {INDEX_FILE}; write one with --dryrun-snapshot)")
    return index


def _index_run_ids(index_path: Path, index: Any) -> list[str]:
    if not isinstance(index, dict) or not isinstance(index.get("runs"), list):
        raise SnapshotError(index_path, "not a snapshot index (no 'runs' list)")
    ids = []
    for entry in index["runs"]:
        run_id = entry.get("run_id") if isinstance(entry, dict) else None
        if not isinstance(run_id, str) or not run_id or "/" in run_id or run_id in (".", ".."):
            raise SnapshotError(index_path, f"invalid run entry {entry!r}")
        ids.append(run_id)
    return sorted(set(ids))


def load_report(directory: Path) -> OperatorReport:
    """The operator report of the snapshot directory ``directory``.

    Each run document is checked against its model, so a report never shows a
    half-understood file: anything unexpected is a :class:`SnapshotError` naming the file.
    """
    from ..report.operator import operator_report
    from ..report.session import read_session

    index_path = check_snapshot_dir(directory)
    index = load_json(index_path)
    run_ids = _index_run_ids(index_path, index)
    problems = [str(p) for p in index.get("problems", [])]
    session, _ = read_session(directory, run_ids, problems=problems)
    return operator_report(session, index_complete=bool(index.get("complete", not problems)))
