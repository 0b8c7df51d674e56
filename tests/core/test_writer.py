"""Atomic, deterministic snapshot files in the DESIGN layout."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS, builtin_scenario
from pytest_peak_dryrun.core.writer import (
    INDEX_FILE,
    RUN_FILES,
    SESSION_FILES,
    atomic_write_text,
    read_run_documents,
    run_dir,
    sha256_file,
    write_json,
    write_session,
)

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


def test_write_json_is_canonical(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    write_json(path, {"b": Decimal("1.50"), "a": 1})
    assert path.read_bytes() == b'{\n  "a": 1,\n  "b": "1.50"\n}\n'
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_atomic_write_creates_parents_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "x.txt"
    atomic_write_text(path, "one\n")
    atomic_write_text(path, "two\n")
    assert path.read_text() == "two\n"
    assert os.listdir(path.parent) == ["x.txt"]


def test_atomic_write_leaves_no_temp_file_on_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "half \ud800 written")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["x.txt"]


def test_atomic_write_leaves_no_temp_file_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(tmp_path / "x.txt", "text")
    assert os.listdir(tmp_path) == []


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def _session(tmp_path: Path) -> tuple[Path, list[str]]:
    out = tmp_path / "out"
    ids = []
    for name in reversed(BUILTIN_SCENARIOS):  # written out of order on purpose
        ids.append(run_scenario(builtin_scenario(name), out_dir=out).run_id)
    write_session(out, ids)
    return out, ids


def test_run_files_layout(tmp_path: Path) -> None:
    result = run_scenario(builtin_scenario("happy_path"), run_id="happy-1", out_dir=tmp_path)
    assert result.run_dir == run_dir(tmp_path, "happy-1") == tmp_path / "runs" / "happy-1"
    assert set(RUN_FILES) >= DESIGN_RUN_FILES
    assert sorted(result.files) == sorted(RUN_FILES)
    docs = read_run_documents(tmp_path, "happy-1")
    assert docs["health"]["schema"] == "peak-dryrun/health/v1"
    assert docs["status"]["schema"] == "peak-dryrun/status/v1"
    assert docs["metrics"]["schema"] == "peak-dryrun/metrics/v1"
    assert docs["report"] == result.report
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


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
        "failure_matrix": ("STOPPED", "degraded"),
        "happy_path": ("STOPPED", "ok"),
        "partial_fills": ("STOPPED", "ok"),
        "tripwire": ("ERROR_REQUIRES_OPERATOR", "failed"),
    }
    assert index["session"]["runs"] == 4
    assert index["session"]["status"] == "failed"
    assert index["session"]["by_state"] == {"ERROR_REQUIRES_OPERATOR": 1, "STOPPED": 3}
    assert index["schemas"]["health"] == "peak-dryrun/health/v1"


def test_session_documents_hold_every_run(tmp_path: Path) -> None:
    out, ids = _session(tmp_path)
    health = json.loads((out / "dryrun_health_snapshot.json").read_text())
    assert health["schema"] == "peak-dryrun/health-session/v1"
    assert list(health["runs"]) == sorted(ids)
    metrics = json.loads((out / "dryrun_metrics_snapshot.json").read_text())
    assert metrics["session"]["counters"]['orders_place_total{outcome="ok"}'] == 6 + 5 + 3 + 1
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
