"""Atomic, deterministic run files in the DESIGN layout (the session files: tests/report/test_session.py)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import builtin_scenario
from pytest_peak_dryrun.core.writer import (
    RUN_FILES,
    atomic_write_text,
    read_run_documents,
    run_dir,
    sha256_file,
    write_json,
)

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
