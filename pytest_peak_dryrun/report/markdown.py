"""Markdown: ``dryrun_status_snapshot.md`` and ``peak-dryrun report --format markdown``.

Both lead with their verdict, then the runs table and one section per run, in report order
(failed and needs-the-operator runs first, then degraded, then ok): health reasons, orders,
the order lifecycle as transition counts, broker calls, the reconcile passes with every listed
mismatch and where it came from (step, order, kind), rail trips, positions. Pure text from the
run documents: no wall clock, no absolute paths, so it is as reproducible as the JSON beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .operator import OperatorReport, verdict
from .rows import COLUMNS, RunRow, SessionRow

__all__ = ["render_markdown", "render_operator_markdown"]

_BADGE: Final = {"ok": "✅ ok", "degraded": "⚠️ degraded", "failed": "❌ failed"}
_NOTE: Final = "Snapshot-only, NO-LIVE: every number below comes from a simulated clock and a mock broker."


def _badge(status: str) -> str:
    return _BADGE.get(status, status)


def _text(value: object) -> str:
    """Free text in a table cell or a list item: a ``|`` would end the cell, a newline the line."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _cell(header: str, value: str | int) -> str:
    if header == "run":
        return f"`{value}`"
    if header == "health":
        return _badge(str(value))
    return _text(value)


def _runs_table(runs: Sequence[RunRow]) -> list[str]:
    return _table([c.header for c in COLUMNS], [[_cell(c.header, c.cell(row)) for c in COLUMNS] for row in runs])


def _section(row: RunRow) -> list[str]:
    detail = row.detail
    out = ["", f"## `{row.run_id}`" + (" — needs attention" if row.attention else ""), ""]
    out.append(
        f"Scenario **{_text(row.scenario)}**, seed {row.seed}, {row.steps.run} of {row.steps.planned} steps, "
        f"final state **{row.state.value}**, health {_badge(row.health.status.value)}."
    )
    if row.health.reasons:
        out.append("")
        out += [f"- {_text(reason)}" for reason in row.health.reasons]
    out += ["", "**Orders:** " + ", ".join(f"{n} {k}" for k, n in row.orders.model_dump().items())]
    if detail.transitions:
        out += ["", "Order lifecycle (state transitions):", ""]
        out += _table(["from", "to", "count"], [[t.from_state, t.to_state, t.count] for t in detail.transitions])
    if detail.calls:
        out += ["", "Broker calls:", ""]
        out += _table(["operation", "outcome", "count"], [[c.operation, c.outcome, c.count] for c in detail.calls])
    kinds = row.mismatches.by_kind
    out += [
        "",
        f"**Reconcile:** {detail.passes} pass(es), {detail.clean_passes} clean"
        + (", mismatches: " + ", ".join(f"{k} {n}" for k, n in kinds.items()) if kinds else ", no mismatches")
        + ".",
    ]
    if row.mismatches.first:
        out += ["", "**Mismatches** (where each came from):", ""]
        out += [
            f"- step {m.step}: `{m.kind.value}`, order `{_text(m.order_id)}`: {_text(m.detail)}"
            for m in row.mismatches.first
        ]
        if row.mismatches.unlisted:
            out.append(
                f"- … and {row.mismatches.unlisted} more (every one is a `reconcile_mismatch` event in `events.jsonl`)"
            )
    if row.rail_trips:
        out += ["", "**Safety rail trips:**", ""]
        out += [f"- step {t.step}: `{t.rail}`: {_text(t.detail)}" for t in row.rail_trips]
    if detail.positions:
        out += [
            "",
            "**Positions:** "
            + ", ".join(f"{_text(symbol)} {qty}" for symbol, qty in detail.positions.items())
            + f"; cash {detail.cash}.",
        ]
    return out


def _body(runs: Sequence[RunRow], problems: Sequence[str]) -> list[str]:
    out = [f"> ❌ {_text(problem)}" for problem in problems]
    if problems:
        out.append("")
    out += _runs_table(runs)
    for row in runs:
        out += _section(row)
    out.append("")
    return out


def _states(by_state: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in by_state.items())


def render_markdown(session: SessionRow) -> str:
    """``dryrun_status_snapshot.md``: the report a person reads after a session."""
    rollup = session.rollup
    out = [
        "# Dry-run status report",
        "",
        f"**{_badge(rollup.status.value)}** · {rollup.runs} run(s) · "
        + _states({k.value: v for k, v in rollup.by_state.items()})
        + ("" if rollup.complete else " · **incomplete session**"),
        "",
        _NOTE,
        "",
    ]
    return "\n".join(out + _body(session.runs, session.problems))


def render_operator_markdown(report: OperatorReport, directory: str) -> str:
    """``peak-dryrun report --format markdown``: the verdict and exit status, then the same body."""
    session = report.session
    out = [
        "# Dry-run operator report",
        "",
        f"Snapshot directory: `{directory}`",
        "",
        f"**Verdict: {verdict(report)}** (exit {report.exit_code})",
        "",
        f"Session: {_badge(session.status.value)} · {session.runs} run(s) · "
        + ("complete" if session.complete else "**incomplete**")
        + (" · " + _states({k.value: v for k, v in session.by_state.items()}) if session.by_state else ""),
        "",
        _NOTE,
        "",
    ]
    return "\n".join(out + _body(report.runs, session.problems))
