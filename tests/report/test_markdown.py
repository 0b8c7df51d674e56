"""The Markdown report: verdict first, one table, failed runs first, every mismatch with its origin."""

from __future__ import annotations

from pytest_peak_dryrun.report.markdown import render_markdown
from pytest_peak_dryrun.report.rows import SessionRow


def test_render_markdown(session_all: SessionRow) -> None:
    text = render_markdown(session_all)
    lines = text.splitlines()
    assert lines[0] == "# Dry-run status report"
    assert lines[2] == "**❌ failed** · 4 run(s) · 1 ERROR_REQUIRES_OPERATOR, 3 STOPPED"
    table = lines.index(
        "| run | scenario | final state | health | placed | filled | canceled | rejected | expired | open "
        "| mismatches | rail trips | retries |"
    )
    assert lines[table + 2 : table + 6] == [
        "| `tripwire` | tripwire | ERROR_REQUIRES_OPERATOR | ❌ failed | 1 | 1 | 0 | 0 | 0 | 0 | 0 | 1 | 0 |",
        "| `failure_matrix` | failure_matrix | STOPPED | ⚠️ degraded | 6 | 6 | 0 | 0 | 0 | 0 | 3 | 0 | 3 |",
        "| `happy_path` | happy_path | STOPPED | ✅ ok | 5 | 5 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |",
        "| `partial_fills` | partial_fills | STOPPED | ✅ ok | 3 | 2 | 1 | 0 | 0 | 0 | 0 | 0 | 0 |",
    ]
    sections = [line for line in lines if line.startswith("## ")]
    assert sections == [
        "## `tripwire` — needs attention",
        "## `failure_matrix`",
        "## `happy_path`",
        "## `partial_fills`",
    ]
    assert "- step 3: `max_order_qty`: quantity 500 above limit 50" in lines
    fm = lines[lines.index("## `failure_matrix`") : lines.index("## `happy_path`")]
    assert "**Reconcile:** 7 pass(es), 6 clean, mismatches: cancel_race 1, duplicate_fill 1, fill_qty_mismatch 1." in fm
    start = fm.index("**Mismatches** (where each came from):")
    assert fm[start + 2 : start + 5] == [
        "- step 9: `duplicate_fill`, order `O-000004`: fill MB-00000004-F1 delivered twice",
        "- step 12: `cancel_race`, order `O-000005`: fill MB-00000005-F1 arrived after the cancel request",
        "- step 16: `fill_qty_mismatch`, order `O-000006`: broker filled 2.50, local 0",
    ]
    assert text == render_markdown(session_all)
    assert text.endswith("\n")


def test_more_mismatches_than_listed_are_counted(session_many: SessionRow) -> None:
    lines = render_markdown(session_many).splitlines()
    listed = [line for line in lines if line.startswith("- step ") and "duplicate_fill" in line]
    assert len(listed) == 20
    assert "- … and 5 more (every one is a `reconcile_mismatch` event in `events.jsonl`)" in lines
    assert lines[
        lines.index(
            "| run | scenario | final state | health | placed | filled | canceled | rejected | expired "
            "| open | mismatches | rail trips | retries |"
        )
        + 2
    ].startswith("| `many_mismatches` |")


def test_problems_and_incomplete_sessions(session_all: SessionRow) -> None:
    rollup = session_all.rollup.model_copy(update={"complete": False})
    text = render_markdown(session_all.model_copy(update={"rollup": rollup, "problems": ["worker gw0 | crashed"]}))
    assert "**incomplete session**" in text
    assert "> ❌ worker gw0 \\| crashed" in text
