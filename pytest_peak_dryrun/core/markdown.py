"""``dryrun_status_snapshot.md``: the report a person reads after a dry run.

It leads with the verdict, then one table row per run, then per run the health reasons,
the order lifecycle as transition counts, mismatches, rail trips and retries. Pure text
from the JSON documents: no wall clock, no absolute paths, so it is as reproducible as the
JSON files beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["lifecycle_counts", "metric_samples", "render_markdown"]

_BADGE = {"ok": "✅ ok", "degraded": "⚠️ degraded", "failed": "❌ failed"}


def metric_samples(metrics: Mapping[str, Any], name: str) -> list[tuple[dict[str, str], int | float]]:
    """``(labels, value)`` of every sample of metric ``name`` in a metrics document."""
    for family in metrics["metrics"]:
        if family["name"] == name:
            return [(s["labels"], s["value"]) for s in family["samples"]]
    return []


def lifecycle_counts(docs: Mapping[str, Any]) -> dict[str, int]:
    """Orders placed / filled / canceled / rejected / expired / open of one run."""
    by_state = docs["status"]["orders"]["by_state"]
    return {
        "placed": docs["status"]["orders"]["placed"],
        "filled": by_state.get("FILLED", 0),
        "canceled": by_state.get("CANCELED", 0),
        "rejected": by_state.get("REJECTED", 0),
        "expired": by_state.get("EXPIRED", 0),
        "open": docs["status"]["orders"]["open"],
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def render_markdown(
    summary: Mapping[str, Any], runs: Mapping[str, Mapping[str, Any]], *, problems: Sequence[str] = ()
) -> str:
    out = ["# Dry-run status report", ""]
    status = summary["status"]
    out.append(
        f"**{_BADGE.get(status, status)}** · {summary['runs']} run(s) · "
        + ", ".join(f"{n} {s}" for s, n in summary["by_state"].items())
        + ("" if summary["complete"] else " · **incomplete session**")
    )
    out.append("")
    out.append("Snapshot-only, NO-LIVE: every number below comes from a simulated clock and a mock broker.")
    out.append("")
    for problem in problems:
        out.append(f"> ❌ {problem}")
    if problems:
        out.append("")
    rows = []
    for run_id, docs in runs.items():
        life = lifecycle_counts(docs)
        rows.append(
            [
                f"`{run_id}`",
                docs["health"]["scenario"],
                docs["health"]["orchestrator_state"],
                _BADGE.get(docs["health"]["status"], docs["health"]["status"]),
                life["placed"],
                life["filled"],
                life["canceled"],
                life["rejected"],
                docs["status"]["reconcile"]["mismatches_total"],
                docs["health"]["safety_rail_trips_total"],
            ]
        )
    out += _table(
        [
            "run",
            "scenario",
            "final state",
            "health",
            "placed",
            "filled",
            "canceled",
            "rejected",
            "mismatches",
            "rail trips",
        ],
        rows,
    )
    for run_id, docs in runs.items():
        health, status_doc, metrics = docs["health"], docs["status"], docs["metrics"]
        session = status_doc["session"]
        out += ["", f"## `{run_id}`", ""]
        out.append(
            f"Scenario **{health['scenario']}**, seed {health['seed']}, "
            f"{session['steps_run']} of {session['steps_planned']} steps, "
            f"final state **{session['state']}**, health {_BADGE.get(health['status'], health['status'])}."
        )
        if health["reasons"]:
            out.append("")
            out += [f"- {reason}" for reason in health["reasons"]]
        life = lifecycle_counts(docs)
        out += ["", "**Orders:** " + ", ".join(f"{n} {k}" for k, n in life.items())]
        transitions = metric_samples(metrics, "order_state_transitions_total")
        if transitions:
            out += ["", "Order lifecycle (state transitions):", ""]
            out += _table(
                ["from", "to", "count"],
                [[labels["from_state"], labels["to_state"], value] for labels, value in transitions],
            )
        ops = [
            ("place", "orders_place_total"),
            ("cancel", "orders_cancel_total"),
            ("query", "orders_query_total"),
        ]
        op_rows = []
        for op, name in ops:
            for labels, value in metric_samples(metrics, name):
                op_rows.append([op, labels["outcome"], value])
        for labels, value in metric_samples(metrics, "retry_attempts_total"):
            op_rows.append([f"retry {labels['op']}", labels["reason"], value])
        if op_rows:
            out += ["", "Broker calls:", ""]
            out += _table(["operation", "outcome", "count"], op_rows)
        mismatches = status_doc["reconcile"]["mismatches"]
        out += [
            "",
            f"**Reconcile:** {status_doc['reconcile']['passes']} pass(es), "
            f"{status_doc['reconcile']['clean_passes']} clean"
            + (
                ", mismatches: " + ", ".join(f"{k} {n}" for k, n in mismatches.items())
                if mismatches
                else ", no mismatches"
            )
            + ".",
        ]
        trips = status_doc["rail_trips"]
        if trips:
            out += ["", "**Safety rail trips:**", ""]
            out += [f"- step {t['step']}: `{t['rail']}`: {t['detail']}" for t in trips]
        if status_doc["positions"]:
            out += [
                "",
                "**Positions:** "
                + ", ".join(f"{symbol} {qty}" for symbol, qty in status_doc["positions"].items())
                + f"; cash {status_doc['cash']}.",
            ]
    out.append("")
    return "\n".join(out)
