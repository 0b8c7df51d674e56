"""The session files of a snapshot directory, rendered from the run files: layout, index, roll-ups."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS, builtin_scenario
from pytest_peak_dryrun.core.writer import INDEX_FILE, SESSION_FILES, sha256_file
from pytest_peak_dryrun.report.session import write_session

#: The files DESIGN.md promises under DIR (more may come; these must be there).
DESIGN_SESSION_FILES = {
    "dryrun_health_snapshot.json",
    "dryrun_status_snapshot.json",
    "dryrun_status_snapshot.md",
    "dryrun_metrics_snapshot.json",
    "dryrun_metrics.prom",
    "index.json",
}
DESIGN_RUN_FILES = {"health.json", "status.json", "metrics.json", "events.jsonl", "audit.jsonl"}


def _session(tmp_path: Path) -> tuple[Path, list[str]]:
    out = tmp_path / "out"
    ids = []
    for name in reversed(BUILTIN_SCENARIOS):  # written out of order on purpose
        ids.append(run_scenario(builtin_scenario(name), out_dir=out).run_id)
    write_session(out, ids)
    return out, ids


def test_write_session_writes_the_design_layout(tmp_path: Path) -> None:
    out, ids = _session(tmp_path)
    names = {p.name for p in out.iterdir() if p.is_file()}
    assert names >= DESIGN_SESSION_FILES
    assert names == {*SESSION_FILES, INDEX_FILE}
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(ids)
    for run_id in ids:
        assert {p.name for p in (out / "runs" / run_id).iterdir()} >= DESIGN_RUN_FILES
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_index_lists_every_file_with_its_sha256(tmp_path: Path) -> None:
    out, ids = _session(tmp_path)
    index = json.loads((out / INDEX_FILE).read_text())
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != INDEX_FILE}
    assert set(index["files"]) == on_disk
    for rel, digest in index["files"].items():
        assert sha256_file(out / rel) == digest, rel
    assert list(index["files"]) == sorted(index["files"])
    assert index["schema"] == "peak-dryrun/index/v1"
    assert index["complete"] is True
    assert index["problems"] == []
    assert [r["run_id"] for r in index["runs"]] == sorted(ids)
    assert {r["run_id"]: (r["state"], r["status"]) for r in index["runs"]} == {
        "amend": ("STOPPED", "ok"),
        "failure_matrix": ("STOPPED", "degraded"),
        "happy_path": ("STOPPED", "ok"),
        "partial_fills": ("STOPPED", "ok"),
        "tripwire": ("ERROR_REQUIRES_OPERATOR", "failed"),
        "venue_lifecycle": ("STOPPED", "ok"),
    }
    assert index["session"]["runs"] == 6
    assert index["session"]["status"] == "failed"
    assert index["session"]["by_state"] == {"ERROR_REQUIRES_OPERATOR": 1, "STOPPED": 5}
    assert index["schemas"]["health"] == "peak-dryrun/health/v1"


def test_session_documents_hold_every_run(tmp_path: Path) -> None:
    out, ids = _session(tmp_path)
    health = json.loads((out / "dryrun_health_snapshot.json").read_text())
    assert health["schema"] == "peak-dryrun/health-session/v1"
    assert list(health["runs"]) == sorted(ids)
    metrics = json.loads((out / "dryrun_metrics_snapshot.json").read_text())
    assert metrics["session"]["counters"]['orders_place_total{outcome="ok"}'] == 4 + 6 + 5 + 3 + 1 + 3
    prom = (out / "dryrun_metrics.prom").read_text()
    assert 'orders_place_total{outcome="ok",run="happy_path"} 5.0' in prom
    assert "_created" not in prom
    md = (out / "dryrun_status_snapshot.md").read_text()
    assert md.startswith("# Dry-run status report\n")


def test_session_problems_mark_it_incomplete(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_scenario(builtin_scenario("happy_path"), out_dir=out)
    write_session(out, ["happy_path"], problems=["worker gw1 crashed"])
    index = json.loads((out / INDEX_FILE).read_text())
    assert index["complete"] is False
    assert index["problems"] == ["worker gw1 crashed"]
    assert index["session"]["status"] == "failed"


def test_write_session_is_byte_identical_for_any_run_order(tmp_path: Path) -> None:
    first, _ids = _session(tmp_path / "a")
    second = tmp_path / "b" / "out"
    for name in BUILTIN_SCENARIOS:
        run_scenario(builtin_scenario(name), out_dir=second)
    write_session(second, list(BUILTIN_SCENARIOS))
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def test_the_session_files_are_their_models(tmp_path: Path) -> None:
    """One source: each roll-up file and the index are what their pydantic model writes (and validates)."""
    from pytest_peak_dryrun.core.canonical import dumps
    from pytest_peak_dryrun.core.documents import (
        HealthSessionDocument,
        IndexDocument,
        MetricsSessionDocument,
        StatusSessionDocument,
        json_data,
    )

    out, _ids = _session(tmp_path)
    for name, model in (
        ("dryrun_health_snapshot.json", HealthSessionDocument),
        ("dryrun_status_snapshot.json", StatusSessionDocument),
        ("dryrun_metrics_snapshot.json", MetricsSessionDocument),
    ):
        text = (out / name).read_text()
        assert dumps(json_data(model.model_validate_json(text))) == text, name
    index_text = (out / INDEX_FILE).read_text()
    assert dumps(IndexDocument.model_validate_json(index_text).to_json_data()) == index_text


def test_session_counters_name_labels_as_the_report_does(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_scenario(builtin_scenario("failure_matrix"), out_dir=out)
    write_session(out, [result.run_id])
    counters = json.loads((out / "dryrun_metrics_snapshot.json").read_text())["session"]["counters"]
    assert 'faults_injected_total{op="place",fault="rate_limit"}' in counters  # the metric's declared order
    assert counters == result.report["counters"]  # one run: the same series, spelled the same way


def test_a_metrics_prefix_changes_the_prom_file_and_the_index_only(tmp_path: Path) -> None:
    plain, prefixed = tmp_path / "plain", tmp_path / "prefixed"
    for out in (plain, prefixed):
        run_scenario(builtin_scenario("happy_path"), out_dir=out)
    write_session(plain, ["happy_path"], audit_key=None)
    write_session(prefixed, ["happy_path"], audit_key=None, metrics_prefix="peak")
    assert "\npeak_orders_place_total{" in (prefixed / "dryrun_metrics.prom").read_text()
    for name in SESSION_FILES:
        if name != "dryrun_metrics.prom":
            assert (plain / name).read_bytes() == (prefixed / name).read_bytes(), name
    index = json.loads((prefixed / INDEX_FILE).read_text())
    assert index["metrics_prefix"] == "peak"
    assert "metrics_prefix" not in json.loads((plain / INDEX_FILE).read_text())


def test_an_empty_session(tmp_path: Path) -> None:
    session = write_session(tmp_path, [])
    assert (session.rollup.runs, session.rollup.status.value, session.runs) == (0, "ok", [])
    assert "| run | scenario |" in (tmp_path / "dryrun_status_snapshot.md").read_text()
