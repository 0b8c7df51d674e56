"""``peak-dryrun report``'s verdict: which runs need attention, and the exit status it implies.

* **0** (healthy) when no run *needs attention*: no run has health ``failed``, no run ended in
  a state that needs the operator (``ERROR_REQUIRES_OPERATOR``, ``PREFLIGHT_FAILED``) and the
  session is complete. Runs with health ``degraded`` (reconcile mismatches, orders left open,
  a session that did not finish) do not fail the verdict; they are listed with their reasons.
* **1** when any run needs attention, or the session is incomplete (``index.json`` records
  problems such as a crashed xdist worker).

:class:`OperatorReport` is what ``--format json`` prints; the text and Markdown renderers
read the same object.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..core.orchestrator import SessionState
from ..core.snapshots import HealthStatus
from .rows import RunRow, SessionRow

__all__ = ["OPERATOR_REPORT_SCHEMA", "OperatorReport", "OperatorSession", "operator_report", "verdict"]

OPERATOR_REPORT_SCHEMA: Final = "peak-dryrun/operator-report/v1"
_MODEL: Final = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class OperatorSession(BaseModel):
    model_config = _MODEL

    runs: int
    status: HealthStatus
    complete: bool
    problems: list[str]
    by_state: dict[SessionState, int]
    by_status: dict[HealthStatus, int]


class OperatorReport(BaseModel):
    """The operator's view of a snapshot directory: verdict, exit status, runs in report order."""

    model_config = _MODEL

    schema_: Literal["peak-dryrun/operator-report/v1"] = Field(default=OPERATOR_REPORT_SCHEMA, alias="schema")
    healthy: bool
    exit_code: Literal[0, 1]
    attention: list[str] = Field(description="runs that failed or need the operator")
    degraded: list[str] = Field(description="degraded runs that do not fail the verdict")
    session: OperatorSession
    runs: list[RunRow]


def operator_report(session: SessionRow, *, index_complete: bool) -> OperatorReport:
    """The verdict on ``session``; ``index_complete`` is what ``index.json`` says (with its problems)."""
    complete = index_complete and not session.problems
    attention = [row.run_id for row in session.runs if row.attention]
    healthy = not attention and complete
    return OperatorReport(
        healthy=healthy,
        exit_code=0 if healthy else 1,
        attention=attention,
        degraded=[row.run_id for row in session.runs if row.rank == 1],
        session=OperatorSession(
            runs=session.rollup.runs,
            status=session.rollup.status,
            complete=complete,
            problems=list(session.problems),
            by_state=session.rollup.by_state,
            by_status=session.rollup.by_status,
        ),
        runs=session.runs,
    )


def verdict(report: OperatorReport) -> str:
    """``OK: ...`` or ``ATTENTION: ...``, one line."""
    if report.healthy:
        extra = f" ({len(report.degraded)} degraded run(s): {', '.join(report.degraded)})" if report.degraded else ""
        return f"OK: no run failed or needs the operator{extra}"
    parts = []
    if report.attention:
        parts.append(f"{len(report.attention)} run(s) failed or need the operator: {', '.join(report.attention)}")
    if not report.session.complete:
        parts.append("the session is incomplete")
    return "ATTENTION: " + "; ".join(parts)
