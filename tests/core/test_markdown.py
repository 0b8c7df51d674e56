"""The Markdown status report: verdict first, one row per run, exact numbers."""

from __future__ import annotations

from pathlib import Path

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.markdown import lifecycle_counts, render_markdown
from pytest_peak_dryrun.core.scenario import builtin_scenario
from pytest_peak_dryrun.core.writer import read_run_documents


def _runs(tmp_path: Path, *names: str) -> dict[str, dict[str, object]]:
    for name in names:
        run_scenario(builtin_scenario(name), out_dir=tmp_path)
    return {name: read_run_documents(tmp_path, name) for name in names}


def test_lifecycle_counts(tmp_path: Path) -> None:
    runs = _runs(tmp_path, "partial_fills")
    assert lifecycle_counts(runs["partial_fills"]) == {
        "placed": 3,
        "filled": 2,
        "canceled": 1,
        "rejected": 0,
        "expired": 0,
        "open": 0,
    }


def test_render_markdown(tmp_path: Path) -> None:
    runs = _runs(tmp_path, "happy_path", "tripwire")
    summary = {
        "runs": 2,
        "status": "failed",
        "by_status": {"failed": 1, "ok": 1},
        "by_state": {"ERROR_REQUIRES_OPERATOR": 1, "STOPPED": 1},
        "complete": True,
    }
    text = render_markdown(summary, runs)
    lines = text.splitlines()
    assert lines[0] == "# Dry-run status report"
    assert lines[2] == "**❌ failed** · 2 run(s) · 1 ERROR_REQUIRES_OPERATOR, 1 STOPPED"
    assert "| `happy_path` | happy_path | STOPPED | ✅ ok | 5 | 5 | 0 | 0 | 0 | 0 |" in lines
    assert "| `tripwire` | tripwire | ERROR_REQUIRES_OPERATOR | ❌ failed | 1 | 1 | 0 | 0 | 0 | 1 |" in lines
    assert "- step 3: `max_order_qty`: quantity 500 above limit 50" in lines
    assert text == render_markdown(summary, runs)
    assert text.endswith("\n")


def test_render_markdown_problems_and_incomplete(tmp_path: Path) -> None:
    runs = _runs(tmp_path, "happy_path")
    summary = {"runs": 1, "status": "failed", "by_status": {"ok": 1}, "by_state": {"STOPPED": 1}, "complete": False}
    text = render_markdown(summary, runs, problems=["worker gw0 crashed"])
    assert "**incomplete session**" in text
    assert "> ❌ worker gw0 crashed" in text
