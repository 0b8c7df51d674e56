"""``peak-dryrun report``: text, markdown and json, exit codes, and it never writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.canonical import dumps
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.orchestrator import DryRunConfig
from pytest_peak_dryrun.core.scenario import builtin_scenario
from pytest_peak_dryrun.report.session import write_session

Tree = Callable[[Path], dict[str, tuple[int, int, str]]]
Cli = Callable[..., tuple[int, str, str]]
MakeSnapshot = Callable[..., Path]


def test_text_report_with_tripwire_exits_1(cli: Cli, snapshot_all: Path) -> None:
    rc, out, err = cli("report", snapshot_all)
    assert rc == 1
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"Dry-run status: {snapshot_all}"
    assert lines[1] == (
        "Session: failed, 4 run(s), complete; 1 ERROR_REQUIRES_OPERATOR, 3 STOPPED; health: 1 degraded, 1 failed, 2 ok"
    )
    assert lines[2] == "Verdict: ATTENTION: 1 run(s) failed or need the operator: tripwire"
    assert "tripwire  [failed]  << NEEDS ATTENTION" in lines
    assert "failure_matrix  [degraded]" in lines
    assert "happy_path  [ok]" in lines
    tripwire = lines[lines.index("tripwire  [failed]  << NEEDS ATTENTION") :]
    assert tripwire[1:11] == [
        "  scenario:    tripwire (seed 5), 3 of 12 steps",
        "  state:       ERROR_REQUIRES_OPERATOR (needs the operator)",
        "  health:      failed",
        "               - session needs the operator (ERROR_REQUIRES_OPERATOR)",
        "               - 1 safety rail trip(s): max_order_qty",
        "  orders:      placed 1, filled 1, canceled 0, rejected 0, expired 0, open 0",
        "  mismatches:  0",
        "  rail trips:  1",
        "               - step 3: max_order_qty: quantity 500 above limit 50",
        "  retries:     0",
    ]
    fm = lines[lines.index("failure_matrix  [degraded]") :]
    assert fm[5:13] == [
        "  orders:      placed 6, filled 6, canceled 0, rejected 0, expired 0, open 0",
        "  mismatches:  3 (cancel_race 1, duplicate_fill 1, fill_qty_mismatch 1)",
        "               - step 9: duplicate_fill, order O-000004: fill MB-00000004-F1 delivered twice",
        "               - step 12: cancel_race, order O-000005: fill MB-00000005-F1 arrived after the cancel request",
        "               - step 16: fill_qty_mismatch, order O-000006: broker filled 2.50, local 0",
        "  rail trips:  0",
        "  retries:     3 (place/rate_limit 1, place/timeout 1, query/transient_unavailable 1)",
        "",
    ]
    assert "  orders:      placed 3, filled 2, canceled 1, rejected 0, expired 0, open 0" in lines


def test_text_report_lists_failed_then_degraded_then_ok_runs(cli: Cli, snapshot_all: Path) -> None:
    _, out, _ = cli("report", snapshot_all)
    headers = [line.split()[0] for line in out.splitlines() if line and not line.startswith((" ", "Dry", "Ses", "Ver"))]
    assert headers == ["tripwire", "failure_matrix", "happy_path", "partial_fills"]


def test_degraded_runs_exit_0_but_are_shown(cli: Cli, snapshot_healthy: Path) -> None:
    rc, out, err = cli("report", snapshot_healthy)
    assert rc == 0, out + err
    assert "Verdict: OK: no run failed or needs the operator (1 degraded run(s): failure_matrix)" in out
    assert "               - 3 reconcile mismatch(es): cancel_race 1, duplicate_fill 1, fill_qty_mismatch 1" in out
    assert "NEEDS ATTENTION" not in out


def test_markdown_report(cli: Cli, snapshot_all: Path, snapshot_healthy: Path) -> None:
    rc, out, _ = cli("report", snapshot_all, "--format", "markdown")
    assert rc == 1
    lines = out.splitlines()
    assert lines[0] == "# Dry-run operator report"
    assert "**Verdict: ATTENTION: 1 run(s) failed or need the operator: tripwire** (exit 1)" in lines
    table = lines.index(
        "| run | scenario | final state | health | placed | filled | canceled | rejected | expired | open "
        "| mismatches | rail trips | retries |"
    )
    assert lines[table + 2 : table + 6] == [  # failed first, then degraded, then ok
        "| `tripwire` | tripwire | ERROR_REQUIRES_OPERATOR | ❌ failed | 1 | 1 | 0 | 0 | 0 | 0 | 0 | 1 | 0 |",
        "| `failure_matrix` | failure_matrix | STOPPED | ⚠️ degraded | 6 | 6 | 0 | 0 | 0 | 0 | 3 | 0 | 3 |",
        "| `happy_path` | happy_path | STOPPED | ✅ ok | 5 | 5 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |",
        "| `partial_fills` | partial_fills | STOPPED | ✅ ok | 3 | 2 | 1 | 0 | 0 | 0 | 0 | 0 | 0 |",
    ]
    assert "## `tripwire` — needs attention" in lines
    assert "- step 3: `max_order_qty`: quantity 500 above limit 50" in lines
    assert "- step 12: `cancel_race`, order `O-000005`: fill MB-00000005-F1 arrived after the cancel request" in lines
    # The same body as the session's Markdown report, after the operator's verdict.
    session_md = (snapshot_all / "dryrun_status_snapshot.md").read_text(encoding="utf-8")
    assert out.endswith(session_md[session_md.index("| run |") :])
    rc, out, _ = cli("report", snapshot_healthy, "--format", "markdown")
    assert rc == 0
    assert "**Verdict: OK: no run failed or needs the operator (1 degraded run(s): failure_matrix)** (exit 0)" in out


def test_json_report_is_canonical(cli: Cli, snapshot_all: Path, snapshot_healthy: Path) -> None:
    rc, out, _ = cli("report", snapshot_all, "--format", "json")
    assert rc == 1
    data = json.loads(out)
    assert out == dumps(data)
    assert data["schema"] == "peak-dryrun/operator-report/v1"
    assert (data["healthy"], data["exit_code"], data["attention"]) == (False, 1, ["tripwire"])
    assert data["degraded"] == ["failure_matrix"]
    assert data["session"] == {
        "by_state": {"ERROR_REQUIRES_OPERATOR": 1, "STOPPED": 3},
        "by_status": {"degraded": 1, "failed": 1, "ok": 2},
        "complete": True,
        "problems": [],
        "runs": 4,
        "status": "failed",
    }
    runs = {run["run_id"]: run for run in data["runs"]}
    assert [run["run_id"] for run in data["runs"]] == ["tripwire", "failure_matrix", "happy_path", "partial_fills"]
    trip = runs["tripwire"]
    assert trip["state"] == "ERROR_REQUIRES_OPERATOR"
    assert trip["needs_operator"] is True
    assert trip["attention"] is True
    assert trip["health"]["status"] == "failed"
    assert trip["rail_trips"] == [{"detail": "quantity 500 above limit 50", "rail": "max_order_qty", "step": 3}]
    assert trip["orders"] == {"canceled": 0, "expired": 0, "filled": 1, "open": 0, "placed": 1, "rejected": 0}
    fm = runs["failure_matrix"]
    assert fm["mismatches"] == {
        "by_kind": {"cancel_race": 1, "duplicate_fill": 1, "fill_qty_mismatch": 1},
        "first": [
            {
                "detail": "fill MB-00000004-F1 delivered twice",
                "kind": "duplicate_fill",
                "order_id": "O-000004",
                "step": 9,
            },
            {
                "detail": "fill MB-00000005-F1 arrived after the cancel request",
                "kind": "cancel_race",
                "order_id": "O-000005",
                "step": 12,
            },
            {"detail": "broker filled 2.50, local 0", "kind": "fill_qty_mismatch", "order_id": "O-000006", "step": 16},
        ],
        "total": 3,
    }
    assert sorted(fm) == [
        "attention",
        "faults_skipped",
        "health",
        "mismatches",
        "needs_operator",
        "orders",
        "rail_trips",
        "retries",
        "run_id",
        "scenario",
        "seed",
        "state",
        "steps",
    ]
    assert fm["retries"] == {
        "by_op": {"place": {"rate_limit": 1, "timeout": 1}, "query": {"transient_unavailable": 1}},
        "total": 3,
    }
    assert (fm["attention"], fm["needs_operator"]) == (False, False)
    assert runs["partial_fills"]["orders"]["canceled"] == 1
    rc, out, _ = cli("report", snapshot_healthy, "--format", "json")
    assert rc == 0
    assert json.loads(out)["healthy"] is True


def test_json_report_is_reproducible(cli: Cli, snapshot_all: Path) -> None:
    assert cli("report", snapshot_all, "--format", "json") == cli("report", snapshot_all, "--format", "json")


def test_preflight_failed_needs_the_operator(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "snap"
    result = run_scenario(builtin_scenario("happy_path"), out_dir=out, config=DryRunConfig(max_steps=1))
    assert result.state.value == "PREFLIGHT_FAILED"
    write_session(out, [result.run_id])
    rc, text, _ = cli("report", out)
    assert rc == 1
    assert "  state:       PREFLIGHT_FAILED (needs the operator)" in text


def test_incomplete_session_exits_1(cli: Cli, tmp_path: Path, make_snapshot: MakeSnapshot) -> None:
    out = make_snapshot(tmp_path / "snap", ["happy_path"], problems=["xdist worker gw1 crashed"])
    rc, text, _ = cli("report", out)
    assert rc == 1
    assert "Verdict: ATTENTION: the session is incomplete" in text
    assert "Problem: xdist worker gw1 crashed" in text


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_report_never_writes_under_dir(cli: Cli, snapshot_all: Path, tree: Tree, fmt: str) -> None:
    before = tree(snapshot_all)
    cli("report", snapshot_all, "--format", fmt)
    assert tree(snapshot_all) == before


def test_missing_dir_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    rc, out, err = cli("report", missing)
    assert rc == 2
    assert out == ""
    assert err == f"peak-dryrun report: error: {missing}: no such directory\n"


def test_not_a_snapshot_dir_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("not a snapshot\n")
    rc, out, err = cli("report", tmp_path)
    assert rc == 2
    assert out == ""
    assert err.startswith(f"peak-dryrun report: error: {tmp_path}: not a snapshot directory (no index.json")
    assert err.count("\n") == 1


def test_a_file_instead_of_a_dir_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    rc, _, err = cli("report", path)
    assert rc == 2
    assert err == f"peak-dryrun report: error: {path}: not a directory\n"


def test_invalid_index_is_a_usage_error(cli: Cli, snapshot_copy: Path) -> None:
    (snapshot_copy / "index.json").write_text("{not json")
    rc, _, err = cli("report", snapshot_copy)
    assert rc == 2
    assert err.startswith(f"peak-dryrun report: error: {snapshot_copy / 'index.json'}: not valid JSON")
    assert err.count("\n") == 1


def test_missing_run_file_is_a_usage_error(cli: Cli, snapshot_copy: Path) -> None:
    (snapshot_copy / "runs" / "happy_path" / "status.json").unlink()
    rc, _, err = cli("report", snapshot_copy)
    assert rc == 2
    assert err == f"peak-dryrun report: error: {snapshot_copy / 'runs/happy_path/status.json'}: no such file\n"


def test_invalid_run_document_is_a_usage_error(cli: Cli, snapshot_copy: Path) -> None:
    path = snapshot_copy / "runs" / "happy_path" / "health.json"
    data = json.loads(path.read_text())
    data["status"] = "fine"
    path.write_text(dumps(data))
    rc, _, err = cli("report", snapshot_copy)
    assert rc == 2
    assert err.startswith(f"peak-dryrun report: error: {path}: not a valid health document (status:")


def test_unknown_format_is_a_usage_error(cli: Cli, snapshot_all: Path) -> None:
    rc, _, err = cli("report", snapshot_all, "--format", "yaml")
    assert rc == 2
    assert "invalid choice: 'yaml'" in err


def test_python_dash_m_and_no_pytest_import(snapshot_all: Path) -> None:
    """``python -m pytest_peak_dryrun`` works, and the CLI never imports pytest."""
    code = (
        "import sys\n"
        "from pytest_peak_dryrun.cli import main\n"
        f"rcs = [main(['report', {str(snapshot_all)!r}, '--format', 'json']), main(['validate', {str(snapshot_all)!r}])]\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest', 'syrupy'))\n"
        "print('RESULT', rcs, bad, file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "RESULT [1, 0] []" in proc.stderr, proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_peak_dryrun", "report", str(snapshot_all)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Verdict: ATTENTION: 1 run(s) failed or need the operator: tripwire" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_peak_dryrun", "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0
    assert all(command in proc.stdout for command in ("report", "validate", "serve"))
