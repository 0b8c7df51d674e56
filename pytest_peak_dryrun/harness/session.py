"""Per-pytest-session state: which dry runs happened and where their files went.

One :class:`DryRunSession` lives in ``config.stash``. Each dry run records a compact
summary here. At the end of the session a worker (pytest-xdist) hands its summaries to the
controller as a JSON string in ``workeroutput``; the controller, or a plain serial session,
writes the session files from the per-run files on disk. Nothing here imports pydantic or
the core at module import: the plugin module imports this one eagerly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from ..core.dryrun import DryRunResult
    from ..core.snapshot_dir import SnapshotDirPlan
    from ..report.rows import SessionRow

__all__ = ["RUNS_KEY", "SESSION_KEY", "WORKER_OUTPUT_KEY", "DryRunSession"]

WORKER_OUTPUT_KEY: Final = "peak_dryrun"


@dataclass
class DryRunSession:
    config: pytest.Config
    out_dir: Path | None
    seed: int | None
    max_steps: int
    #: ini ``dryrun_metrics_prefix``: namespaces the metric names of ``dryrun_metrics.prom``
    metrics_prefix: str | None = None
    summaries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    run_counts: dict[str, int] = field(default_factory=dict)
    run_owners: dict[str, str] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    #: What an earlier session left in ``out_dir`` (controller or serial session only).
    dir_plan: SnapshotDirPlan | None = None
    cleaned: str = ""
    #: The session as written (controller or serial session with ``--dryrun-snapshot``): the terminal table's rows.
    session: SessionRow | None = None

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    def next_run_id(self, nodeid: str) -> str:
        """``make_run_id(nodeid)`` for a test's first run, then ``-2``, ``-3``...

        Counted per node id, and a node id runs in one process only, so every process of a
        serial or xdist session gives a test's runs the same ids and no two processes write
        one run directory.
        """
        from ..core.dryrun import make_run_id

        base = make_run_id(nodeid)
        owner = self.run_owners.setdefault(base, nodeid)
        if owner != nodeid:  # 48 bits of sha256 agreed: refuse rather than share a directory
            raise RuntimeError(f"run id {base!r} derived from both {owner!r} and {nodeid!r}; rename one of the tests")
        count = self.run_counts.get(nodeid, 0) + 1
        self.run_counts[nodeid] = count
        return base if count == 1 else f"{base}-{count}"

    def record(self, nodeid: str, result: DryRunResult) -> dict[str, Any]:
        """The run's compact summary (its row's numbers), kept for the session and pytest-json-report."""
        from ..report.rows import RunRow

        row = RunRow.of(result.health, result.status, result.metrics)
        summary: dict[str, Any] = {
            "run_id": row.run_id,
            "nodeid": nodeid,
            "scenario": row.scenario,
            "state": row.state.value,
            "health": row.health.status.value,
            "placed": row.orders.placed,
            "filled": row.orders.filled,
            "canceled": row.orders.canceled,
            "rejected": row.orders.rejected,
            "mismatches": row.mismatches.total,
            "rail_trips": len(row.rail_trips),
            "faults_skipped": row.faults_skipped,
        }
        if self.out_dir is not None and result.run_dir is not None:
            summary["files"] = sorted(str(path.relative_to(self.out_dir)) for path in result.files.values())
        self.summaries.append(summary)
        return summary

    # -- xdist ---------------------------------------------------------------------------

    def to_worker_output(self) -> str:
        # execnet only carries plain data: a JSON string is the one safe shape (PITFALLS 3).
        return json.dumps({"summaries": self.summaries, "problems": self.problems}, sort_keys=True)

    def merge_worker_output(self, worker_id: str, raw: object, error: object) -> None:
        if error is not None:
            lines = str(error).strip().splitlines()
            self.problems.append(f"xdist worker {worker_id} crashed: {lines[-1] if lines else 'no detail'}")
            return
        if not isinstance(raw, str):
            if self.out_dir is not None:
                self.problems.append(f"xdist worker {worker_id} sent no dry-run summary")
            return
        data = json.loads(raw)
        seen = {s["run_id"]: s.get("nodeid") for s in self.summaries}
        for summary in data.get("summaries", []):
            if summary["run_id"] in seen:  # only a node id run twice (--keep-duplicates) gets here
                self.problems.append(
                    f"run {summary['run_id']} ({summary.get('nodeid')}) was written by two xdist workers "
                    f"(also {seen[summary['run_id']]}); its files cannot be trusted"
                )
            seen[summary["run_id"]] = summary.get("nodeid")
        self.summaries.extend(data.get("summaries", []))
        self.problems.extend(data.get("problems", []))

    # -- the end of the session ------------------------------------------------------------

    def begin(self) -> None:
        """Mark DIR in progress and clean what an earlier session left (controller or serial only).

        Runs before any test, and before pytest-xdist starts a worker: from here on a killed
        session leaves an ``index.json`` that says it is incomplete, never the previous verdict.
        """
        if self.out_dir is None or self.is_worker or self.dir_plan is None:
            return
        from ..core.snapshot_dir import begin_session

        begin_session(self.dir_plan)
        self.cleaned = self.dir_plan.summary()

    def finish(self) -> None:
        """Write the session files (controller or serial session only)."""
        if self.out_dir is None or self.is_worker:
            return
        from ..report.session import write_session
        from .secrets import registry_problem, session_redactor

        redactor = session_redactor(self.config)
        problem = registry_problem(self.config)
        if problem:  # the dry-run tests failed on it; the index must not call the session complete
            self.problems.append(f"secrets registry: {problem}")
        self.problems = [redactor.redact_text(problem) for problem in self.problems]
        self.summaries.sort(key=lambda s: s["run_id"])
        run_ids = [s["run_id"] for s in self.summaries]
        self.session = write_session(
            self.out_dir, run_ids, problems=self.problems, redactor=redactor, metrics_prefix=self.metrics_prefix
        )
        self.written = sorted(p for p in self.out_dir.rglob("*") if p.is_file())
        self.config.hook.pytest_dryrun_snapshots_written(config=self.config, out_dir=self.out_dir, files=self.written)

    def terminal_lines(self) -> list[str]:
        """The end of the session: the runs table (failed and degraded first), problems, where mismatches came from."""
        if self.is_worker:
            return []
        skipped = self.skipped_fault_lines()
        if self.out_dir is None:
            return skipped  # never silent, with or without --dryrun-snapshot
        from ..report.text import mismatch_lines, terminal_table

        # No session when its files could not be written (that error is reported above).
        lines = [self.cleaned] if self.cleaned else []
        lines += terminal_table(self.session) if self.session is not None else []
        lines += [f"PROBLEM: {problem}" for problem in self.problems]
        lines += skipped
        lines += mismatch_lines(self.session) if self.session is not None else []
        lines.append(f"report: {self.out_dir / 'dryrun_status_snapshot.md'}")
        return lines

    def skipped_fault_lines(self) -> list[str]:
        """One line per run whose broker could not express a scheduled fault (issue 11)."""
        lines = []
        for s in sorted(self.summaries, key=lambda s: str(s["run_id"])):
            skipped = s.get("faults_skipped") or {}
            if skipped:
                kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(skipped.items()))
                lines.append(f"FAULTS NOT APPLIED: {s['run_id']}: {kinds} (see its fault_skipped events)")
        return lines


SESSION_KEY: Final = pytest.StashKey[DryRunSession]()
#: Summaries of the dry runs a test item ran (for pytest-json-report metadata).
RUNS_KEY: Final = pytest.StashKey[list[dict[str, Any]]]()
