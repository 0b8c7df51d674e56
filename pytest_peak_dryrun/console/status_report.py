"""``peak-dryrun report``: a read-only status report built from a snapshot directory.

It reads ``index.json`` and each run's ``health.json``, ``status.json`` and ``metrics.json``
and never writes anything. The verdict (and the exit code of the command):

* **0** when no run *needs attention*: no run has health ``failed``, no run ended in a
  state that needs the operator (``ERROR_REQUIRES_OPERATOR``, ``PREFLIGHT_FAILED``) and
  the session is complete. Runs with health ``degraded`` (reconcile mismatches, orders
  left open, a session that did not finish) do not fail the verdict; they are listed with
  their reasons so the operator sees them.
* **1** when any run needs attention, or the session is incomplete (``index.json``
  records problems such as a crashed xdist worker).

Problems reading the directory raise :class:`SnapshotError` (the command exits 2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

__all__ = [
    "NEEDS_OPERATOR_STATES",
    "OPERATOR_REPORT_SCHEMA",
    "SnapshotError",
    "build_report",
    "check_snapshot_dir",
    "load_json",
    "load_snapshot",
    "render_markdown_report",
    "render_text_report",
]

OPERATOR_REPORT_SCHEMA: Final = "peak-dryrun/operator-report/v1"
#: Final session states that need a person before anything else happens.
NEEDS_OPERATOR_STATES: Final = frozenset({"ERROR_REQUIRES_OPERATOR", "PREFLIGHT_FAILED"})
INDEX_FILE: Final = "index.json"
_BADGE: Final = {"ok": "✅ ok", "degraded": "⚠️ degraded", "failed": "❌ failed"}


class SnapshotError(Exception):
    """The directory is not a readable snapshot directory; the message names the path."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def load_json(path: Path) -> Any:
    """Parse one JSON file, turning every failure into a :class:`SnapshotError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SnapshotError(path, "no such file") from None
    except IsADirectoryError:
        raise SnapshotError(path, "is a directory, not a file") from None
    except OSError as exc:
        raise SnapshotError(path, f"cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise SnapshotError(path, "not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SnapshotError(path, f"not valid JSON ({exc})") from None


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


def load_snapshot(directory: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``(index, runs)``: the index and, per run id, its health/status/metrics documents.

    Each document is checked against its model, so a report never shows a half-understood
    file: anything unexpected is a :class:`SnapshotError` naming the file.
    """
    from pydantic import BaseModel, ValidationError

    from ..core.snapshots import HealthSnapshot, MetricsSnapshot, StatusSnapshot

    index_path = check_snapshot_dir(directory)
    index = load_json(index_path)
    run_ids = _index_run_ids(index_path, index)
    models: dict[str, type[BaseModel]] = {
        "health": HealthSnapshot,
        "status": StatusSnapshot,
        "metrics": MetricsSnapshot,
    }
    runs: dict[str, dict[str, Any]] = {}
    for run_id in run_ids:
        docs: dict[str, Any] = {}
        for name, model in models.items():
            path = directory / "runs" / run_id / f"{name}.json"
            data = load_json(path)
            try:
                model.model_validate(data)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "document"
                raise SnapshotError(
                    path, f"not a valid {name} document ({where}: {first['msg']}; {exc.error_count()} error(s))"
                ) from None
            if data.get("run_id") != run_id:
                raise SnapshotError(path, f"run_id {data.get('run_id')!r} does not match its directory {run_id!r}")
            docs[name] = data
        runs[run_id] = docs
    return index, runs


def _int(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _run_entry(run_id: str, docs: Mapping[str, Any]) -> dict[str, Any]:
    from ..core.markdown import lifecycle_counts, metric_samples

    health, status = docs["health"], docs["status"]
    state = health["orchestrator_state"]
    needs_operator = state in NEEDS_OPERATOR_STATES
    retries: dict[str, dict[str, int | float]] = {}
    for labels, value in metric_samples(docs["metrics"], "retry_attempts_total"):
        if value:
            retries.setdefault(labels["op"], {})[labels["reason"]] = _int(value)
    return {
        "run_id": run_id,
        "scenario": health["scenario"],
        "seed": health["seed"],
        "state": state,
        "steps": {"planned": status["session"]["steps_planned"], "run": status["session"]["steps_run"]},
        "health": {"status": health["status"], "reasons": list(health["reasons"])},
        "needs_operator": needs_operator,
        "attention": needs_operator or health["status"] == "failed",
        "orders": lifecycle_counts(docs),
        "mismatches": {
            "total": status["reconcile"]["mismatches_total"],
            "by_kind": dict(sorted(status["reconcile"]["mismatches"].items())),
        },
        "rail_trips": [{"step": t["step"], "rail": t["rail"], "detail": t["detail"]} for t in status["rail_trips"]],
        "retries": {
            "total": _int(sum(n for by_reason in retries.values() for n in by_reason.values())),
            "by_op": {op: dict(sorted(by_reason.items())) for op, by_reason in sorted(retries.items())},
        },
    }


def build_report(index: Mapping[str, Any], runs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The operator report as plain JSON data (what ``--format json`` prints)."""
    entries = [_run_entry(run_id, docs) for run_id, docs in sorted(runs.items())]
    problems = [str(p) for p in index.get("problems", [])]
    complete = bool(index.get("complete", not problems)) and not problems
    attention = [e["run_id"] for e in entries if e["attention"]]
    healthy = not attention and complete
    session = index.get("session") or {}
    return {
        "schema": OPERATOR_REPORT_SCHEMA,
        "healthy": healthy,
        "exit_code": 0 if healthy else 1,
        "attention": attention,
        "degraded": [e["run_id"] for e in entries if e["health"]["status"] == "degraded" and not e["attention"]],
        "session": {
            "runs": len(entries),
            "status": session.get("status", "failed" if attention else "ok"),
            "complete": complete,
            "problems": problems,
            "by_state": _tally(e["state"] for e in entries),
            "by_status": _tally(e["health"]["status"] for e in entries),
        },
        "runs": entries,
    }


def _tally(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return dict(sorted(out.items()))


def _verdict(report: Mapping[str, Any]) -> str:
    if report["healthy"]:
        degraded = report["degraded"]
        extra = f" ({len(degraded)} degraded run(s): {', '.join(degraded)})" if degraded else ""
        return f"OK: no run failed or needs the operator{extra}"
    parts = []
    if report["attention"]:
        parts.append(f"{len(report['attention'])} run(s) failed or need the operator: {', '.join(report['attention'])}")
    if not report["session"]["complete"]:
        parts.append("the session is incomplete")
    return "ATTENTION: " + "; ".join(parts)


def _counts(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in mapping.items())


def _counts_first(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{v} {k}" for k, v in mapping.items())


def _retries_text(retries: Mapping[str, Any]) -> str:
    if not retries["total"]:
        return "0"
    parts = [f"{op}/{reason} {n}" for op, by_reason in retries["by_op"].items() for reason, n in by_reason.items()]
    return f"{retries['total']} ({', '.join(parts)})"


_LABEL: Final = 13


class _Lines:
    """Appends ``  name:      value`` lines with aligned values."""

    def __init__(self, out: list[str]) -> None:
        self.out = out

    def __call__(self, name: str, value: str) -> None:
        self.out.append(f"  {(name + ':').ljust(_LABEL)}{value}")


def render_text_report(report: Mapping[str, Any], directory: str) -> str:
    session = report["session"]
    out = [
        f"Dry-run status: {directory}",
        f"Session: {session['status']}, {session['runs']} run(s), "
        + ("complete" if session["complete"] else "INCOMPLETE")
        + (f"; {_counts_first(session['by_state'])}" if session["by_state"] else "")
        + (f"; health: {_counts_first(session['by_status'])}" if session["by_status"] else ""),
        f"Verdict: {_verdict(report)}",
    ]
    out += [f"Problem: {p}" for p in session["problems"]]
    pad = " " * _LABEL
    for run in report["runs"]:
        flag = "  << NEEDS ATTENTION" if run["attention"] else ""
        out += ["", f"{run['run_id']}  [{run['health']['status']}]{flag}"]
        line = _Lines(out)
        line(
            "scenario",
            f"{run['scenario']} (seed {run['seed']}), {run['steps']['run']} of {run['steps']['planned']} steps",
        )
        line("state", run["state"] + (" (needs the operator)" if run["needs_operator"] else ""))
        line("health", run["health"]["status"])
        out += [f"  {pad}- {reason}" for reason in run["health"]["reasons"]]
        line("orders", ", ".join(f"{k} {v}" for k, v in run["orders"].items()))
        mism = run["mismatches"]
        line("mismatches", f"{mism['total']}" + (f" ({_counts(mism['by_kind'])})" if mism["by_kind"] else ""))
        trips = run["rail_trips"]
        line("rail trips", str(len(trips)))
        out += [f"  {pad}- step {t['step']}: {t['rail']}: {t['detail']}" for t in trips]
        line("retries", _retries_text(run["retries"]))
    out.append("")
    return "\n".join(out)


def render_markdown_report(report: Mapping[str, Any], directory: str) -> str:
    session = report["session"]
    out = [
        "# Dry-run operator report",
        "",
        f"Snapshot directory: `{directory}`",
        "",
        f"**Verdict: {_verdict(report)}** (exit {report['exit_code']})",
        "",
        f"Session: {_BADGE.get(session['status'], session['status'])} · {session['runs']} run(s) · "
        + ("complete" if session["complete"] else "**incomplete**")
        + (" · " + _counts_first(session["by_state"]) if session["by_state"] else ""),
        "",
    ]
    for problem in session["problems"]:
        out.append(f"> ❌ {problem}")
    if session["problems"]:
        out.append("")
    header = ["run", "state", "health", "placed", "filled", "canceled", "rejected", "expired", "open"]
    header += ["mismatches", "rail trips", "retries"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join("---" for _ in header) + "|")
    for run in report["runs"]:
        o = run["orders"]
        cells: Sequence[object] = [
            f"`{run['run_id']}`",
            run["state"],
            _BADGE.get(run["health"]["status"], run["health"]["status"]),
            o["placed"],
            o["filled"],
            o["canceled"],
            o["rejected"],
            o["expired"],
            o["open"],
            run["mismatches"]["total"],
            len(run["rail_trips"]),
            run["retries"]["total"],
        ]
        out.append("| " + " | ".join(str(c) for c in cells) + " |")
    for run in report["runs"]:
        out += ["", f"## `{run['run_id']}`" + (" — needs attention" if run["attention"] else ""), ""]
        out.append(
            f"- **Scenario:** {run['scenario']} (seed {run['seed']}), "
            f"{run['steps']['run']} of {run['steps']['planned']} steps"
        )
        out.append(f"- **State:** {run['state']}" + (" (needs the operator)" if run["needs_operator"] else ""))
        out.append(f"- **Health:** {_BADGE.get(run['health']['status'], run['health']['status'])}")
        out += [f"  - {reason}" for reason in run["health"]["reasons"]]
        out.append("- **Orders:** " + ", ".join(f"{v} {k}" for k, v in run["orders"].items()))
        mism = run["mismatches"]
        out.append(f"- **Mismatches:** {mism['total']}" + (f" ({_counts(mism['by_kind'])})" if mism["by_kind"] else ""))
        out.append(f"- **Rail trips:** {len(run['rail_trips'])}")
        out += [f"  - step {t['step']}: `{t['rail']}`: {t['detail']}" for t in run["rail_trips"]]
        out.append(f"- **Retries:** {_retries_text(run['retries'])}")
    out.append("")
    return "\n".join(out)
