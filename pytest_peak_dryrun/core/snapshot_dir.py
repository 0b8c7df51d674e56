"""Which files under a snapshot directory are ours, and getting DIR ready for a new session.

A session must never show the verdict of the one before it, and must never delete a file
it did not write. So, before any run writes (on the controller of an xdist session, before
the workers start), the plugin:

1. :func:`inspect_snapshot_dir` sorts every entry of DIR into *ours* or *foreign*; any
   foreign entry makes the session a usage error, and nothing is touched;
2. :func:`begin_session` replaces ``index.json`` with an *in-progress* index
   (``"complete": false`` and the problem :data:`IN_PROGRESS_PROBLEM`), then removes what an
   earlier session left: its run folders, its session files and temporary files of writes
   that were interrupted. A session killed from here on leaves an index that says it is
   incomplete, so ``peak-dryrun report`` exits 1 and ``serve`` answers 503.

What is *ours* (everything else is foreign):

* temporary files of our atomic writes, by their exact shapes: ``.<file>.<random>.tmp`` for a
  session or run file, ``events.jsonl.tmp`` / ``audit.jsonl.tmp`` in a run folder, and
  ``.peak-dryrun-probe-*`` (the writability probe);
* ``index.json`` when it is a JSON object with ``"schema": "peak-dryrun/index/v1"``;
* with our ``index.json`` present: the session files (:data:`~.writer.SESSION_FILES`),
  the ``runs`` folder, and in it every folder the index lists; when the index says the
  session was not complete (killed, interrupted, a crashed xdist worker), also unlisted
  folders that hold nothing but run files (:data:`~.writer.RUN_FILES`) and their temporary
  files, since such a session may have written runs it never listed. A listed run folder is
  ours only as far as it holds run files: anything else inside it is foreign.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .writer import INDEX_FILE, INDEX_SCHEMA, RUN_FILES, RUNS_DIR, SESSION_FILES, write_json

__all__ = [
    "IN_PROGRESS_PROBLEM",
    "SnapshotDirPlan",
    "begin_session",
    "describe_foreign",
    "in_progress_index",
    "inspect_snapshot_dir",
]

#: The problem an in-progress ``index.json`` records until the session writes its own.
IN_PROGRESS_PROBLEM: Final = "session in progress: it started but has not written its files (still running, or killed)"
_JSONL_TMP: Final = frozenset(f"{name}.tmp" for name in RUN_FILES if name.endswith(".jsonl"))


def _atomic_tmp(name: str, targets: tuple[str, ...]) -> bool:
    """``.<target>.<random>.tmp``: what :func:`~.writer.atomic_write_text` leaves when killed."""
    return name.endswith(".tmp") and any(name.startswith(f".{target}.") for target in targets)


def _plain_file(path: Path) -> bool:
    """A regular file, not a symlink: following a link could delete or trust a file elsewhere."""
    return path.is_file() and not path.is_symlink()


def _is_top_tmp(name: str) -> bool:
    return name.startswith(".peak-dryrun-probe-") or _atomic_tmp(name, (*SESSION_FILES, INDEX_FILE))


def _is_run_tmp(name: str) -> bool:
    return name in _JSONL_TMP or _atomic_tmp(name, RUN_FILES)


@dataclass
class SnapshotDirPlan:
    """What a new session found in DIR: what it will remove, and what it may not touch."""

    out_dir: Path
    foreign: list[Path] = field(default_factory=list)
    runs: list[Path] = field(default_factory=list)
    tmp: list[Path] = field(default_factory=list)
    session_files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the terminal, or ``""`` when there was nothing of an earlier session."""
        parts = []
        if self.runs:
            parts.append(f"{len(self.runs)} run folder(s)")
        if self.tmp:
            parts.append(f"{len(self.tmp)} temporary file(s) of an interrupted write")
        if self.session_files and not parts:
            parts.append("the session files")
        if not parts:
            return ""
        return f"cleaned {self.out_dir} at session start: removed {' and '.join(parts)} of an earlier session"


def _read_index(path: Path) -> dict[str, Any] | None:
    """Our index as data, or ``None`` when ``path`` is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("schema") == INDEX_SCHEMA:
        return data
    return None


def _listed_runs(index: dict[str, Any]) -> set[str]:
    runs = index.get("runs")
    if not isinstance(runs, list):
        return set()
    return {entry["run_id"] for entry in runs if isinstance(entry, dict) and isinstance(entry.get("run_id"), str)}


def inspect_snapshot_dir(out_dir: Path) -> SnapshotDirPlan:
    """Sort the entries of ``out_dir`` into ours (by kind) and foreign. Reads only."""
    plan = SnapshotDirPlan(out_dir)
    if not out_dir.is_dir():
        return plan
    index_path = out_dir / INDEX_FILE
    index = _read_index(index_path) if index_path.is_file() else None
    for entry in sorted(out_dir.iterdir()):
        name = entry.name
        if _plain_file(entry) and _is_top_tmp(name):
            plan.tmp.append(entry)
        elif index is not None and name in (INDEX_FILE, *SESSION_FILES) and _plain_file(entry):
            plan.session_files.append(entry)
        elif index is not None and name == RUNS_DIR and entry.is_dir() and not entry.is_symlink():
            _inspect_runs(entry, index, plan)
        else:
            plan.foreign.append(entry)
    return plan


def _inspect_runs(runs_dir: Path, index: dict[str, Any], plan: SnapshotDirPlan) -> None:
    listed = _listed_runs(index)
    incomplete = index.get("complete") is not True
    for folder in sorted(runs_dir.iterdir()):
        if not folder.is_dir() or folder.is_symlink():
            plan.foreign.append(folder)
            continue
        entries = sorted(folder.iterdir())
        ours = [p for p in entries if _plain_file(p) and (p.name in RUN_FILES or _is_run_tmp(p.name))]
        others = [p for p in entries if p not in ours]
        if folder.name in listed:
            plan.foreign.extend(others)  # the folder is ours; a stranger's file inside it is not
            plan.tmp.extend(p for p in ours if _is_run_tmp(p.name))
            plan.runs.append(folder)
        elif incomplete and not others:
            plan.tmp.extend(p for p in ours if _is_run_tmp(p.name))
            plan.runs.append(folder)
        else:
            plan.foreign.append(folder)


def in_progress_index() -> dict[str, Any]:
    """The ``index.json`` of a session that has started and not finished (no runs yet)."""
    from .documents import IndexDocument  # pydantic: only when a session really begins

    return IndexDocument.in_progress(IN_PROGRESS_PROBLEM).to_json_data()


def begin_session(plan: SnapshotDirPlan) -> None:
    """Mark DIR in progress, then remove what an earlier session left (ours only).

    The index is replaced first: if the session dies while cleaning, the next one still
    finds an index that says "incomplete" and so still knows the leftovers are ours.
    """
    if plan.foreign:
        raise ValueError(f"{plan.out_dir} holds files this plugin did not write; refusing to touch it")
    out_dir = plan.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / INDEX_FILE, in_progress_index())
    for path in plan.tmp:
        path.unlink(missing_ok=True)
    for path in plan.session_files:
        if path.name != INDEX_FILE:
            path.unlink(missing_ok=True)
    for folder in plan.runs:
        shutil.rmtree(folder)
    runs_dir = out_dir / RUNS_DIR
    if runs_dir.is_dir() and not any(runs_dir.iterdir()):
        runs_dir.rmdir()


def describe_foreign(plan: SnapshotDirPlan, *, limit: int = 3) -> str:
    """``a, b, c and 4 more``: the foreign entries, relative to DIR."""
    names = [p.relative_to(plan.out_dir).as_posix() + ("/" if p.is_dir() else "") for p in plan.foreign]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
