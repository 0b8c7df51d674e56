"""Plain text for a terminal: the table at the end of a pytest session and ``peak-dryrun report``.

Both list runs in report order (failed and needs-the-operator runs first, then degraded, then
ok) and say where each reconcile mismatch came from: its step, its order and its kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Final, TypeVar

from .operator import OperatorReport, verdict
from .rows import TERMINAL_COLUMNS, Column, RunRow, SessionRow, describe_mismatch

__all__ = ["mismatch_lines", "render_text_report", "table_lines", "terminal_table"]

#: Mismatches named per run in the pytest session's summary (the report lists more).
TERMINAL_MISMATCHES: Final = 3
_LABEL: Final = 13
_E = TypeVar("_E", bound=Enum)


def table_lines(columns: Sequence[Column], rows: Sequence[RunRow]) -> list[str]:
    """A fixed-width table: text columns left-aligned, counts right-aligned, two spaces apart."""
    cells = [[str(column.cell(row)) for column in columns] for row in rows]
    widths = [max(len(column.header), *(len(r[i]) for r in cells)) for i, column in enumerate(columns)]
    out = []
    for line in ([c.header for c in columns], *cells):
        padded = [
            text.rjust(width) if column.numeric else text.ljust(width)
            for text, width, column in zip(line, widths, columns, strict=True)
        ]
        out.append("  ".join(padded).rstrip())
    return out


def terminal_table(session: SessionRow) -> list[str]:
    """The runs table at the end of a pytest session with ``--dryrun-snapshot``."""
    if not session.runs:
        return ["(no dry runs in this session)"]
    return table_lines(TERMINAL_COLUMNS, session.runs)


def mismatch_lines(session: SessionRow) -> list[str]:
    """One line per run with reconcile mismatches: where the first few came from."""
    lines = []
    for row in session.runs:
        first = row.mismatches.first[:TERMINAL_MISMATCHES]
        if not first:
            continue
        where = "; ".join(f"step {m.step} {m.kind.value} {m.order_id}" for m in first)
        more = row.mismatches.total - len(first)
        lines.append(f"MISMATCHES: {row.run_id}: {where}" + (f" (+{more} more in the report)" if more else ""))
    return lines


def _counts(mapping: Mapping[str, object]) -> str:
    """``cancel_race 1, duplicate_fill 1``"""
    return ", ".join(f"{k} {v}" for k, v in mapping.items())


def _tally(mapping: Mapping[_E, int]) -> str:
    """``1 ERROR_REQUIRES_OPERATOR, 3 STOPPED``"""
    return ", ".join(f"{n} {k.value}" for k, n in mapping.items())


def _retries(row: RunRow) -> str:
    if not row.retries.total:
        return "0"
    parts = [f"{op}/{reason} {n}" for op, by_reason in row.retries.by_op.items() for reason, n in by_reason.items()]
    return f"{row.retries.total} ({', '.join(parts)})"


def render_text_report(report: OperatorReport, directory: str) -> str:
    """``peak-dryrun report DIR``: the verdict, then one block per run."""
    session = report.session
    out = [
        f"Dry-run status: {directory}",
        f"Session: {session.status.value}, {session.runs} run(s), "
        + ("complete" if session.complete else "INCOMPLETE")
        + (f"; {_tally(session.by_state)}" if session.by_state else "")
        + (f"; health: {_tally(session.by_status)}" if session.by_status else ""),
        f"Verdict: {verdict(report)}",
    ]
    out += [f"Problem: {p}" for p in session.problems]
    pad = " " * (_LABEL + 2)

    def line(name: str, value: str) -> None:
        out.append(f"  {(name + ':').ljust(_LABEL)}{value}")

    for row in report.runs:
        flag = "  << NEEDS ATTENTION" if row.attention else ""
        out += ["", f"{row.run_id}  [{row.health.status.value}]{flag}"]
        line("scenario", f"{row.scenario} (seed {row.seed}), {row.steps.run} of {row.steps.planned} steps")
        line("state", row.state.value + (" (needs the operator)" if row.needs_operator else ""))
        line("health", row.health.status.value)
        out += [f"{pad}- {reason}" for reason in row.health.reasons]
        line("orders", _counts(row.orders.model_dump()))
        mism = row.mismatches
        line("mismatches", f"{mism.total}" + (f" ({_counts(mism.by_kind)})" if mism.by_kind else ""))
        out += [f"{pad}- {describe_mismatch(m)}" for m in mism.first]
        if mism.unlisted:
            out.append(f"{pad}- ... and {mism.unlisted} more (every one is a reconcile_mismatch event in events.jsonl)")
        line("rail trips", str(len(row.rail_trips)))
        out += [f"{pad}- step {t.step}: {t.rail}: {t.detail}" for t in row.rail_trips]
        line("retries", _retries(row))
    out.append("")
    return "\n".join(out)
