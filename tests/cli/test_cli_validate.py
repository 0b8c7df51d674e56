"""``peak-dryrun validate``: a fresh directory passes; every kind of tampering is caught."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_peak_dryrun.core.canonical import dumps

Tree = Callable[[Path], dict[str, tuple[int, int, str]]]
Cli = Callable[..., tuple[int, str, str]]


def _edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(dumps(data), encoding="utf-8")


def _bump_place_ok(metrics: dict[str, Any]) -> int:
    """Add one to orders_place_total{outcome="ok"}; return the original value."""
    for family in metrics["metrics"]:
        if family["name"] == "orders_place_total":
            for sample in family["samples"]:
                if sample["labels"] == {"outcome": "ok"}:
                    sample["value"] += 1
                    return int(sample["value"]) - 1
    raise AssertionError("no orders_place_total{outcome=ok} sample")


def _reseal(directory: Path, rel: str) -> None:
    """Update index.json's sha256 for ``rel``, as a careful forger would."""
    digest = hashlib.sha256((directory / rel).read_bytes()).hexdigest()
    _edit_json(directory / "index.json", lambda index: index["files"].__setitem__(rel, digest))


def test_fresh_directory_is_valid(cli: Cli, snapshot_all: Path, snapshot_healthy: Path) -> None:
    for directory in (snapshot_all, snapshot_healthy):
        rc, out, err = cli("validate", directory)
        assert (rc, out, err) == (0, f"{directory}: ok\n", "")


def test_validate_never_writes_under_dir(cli: Cli, snapshot_all: Path, tree: Tree) -> None:
    before = tree(snapshot_all)
    cli("validate", snapshot_all)
    assert tree(snapshot_all) == before


def test_hand_edited_counter_in_run_metrics(cli: Cli, snapshot_copy: Path) -> None:
    rel = "runs/happy_path/metrics.json"
    original: list[int] = []
    _edit_json(snapshot_copy / rel, lambda m: original.append(_bump_place_ok(m)))
    n = original[0]
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    lines = out.splitlines()
    assert f"{snapshot_copy}/{rel}: sha256 does not match index.json (the file changed after it was written)" in lines
    assert (
        f'{snapshot_copy}/{rel}: orders_place_total{{outcome="ok"}} is {n + 1} but events.jsonl has {n} '
        "order_place event(s) with outcome='ok'"
    ) in lines
    assert f"{snapshot_copy}/dryrun_metrics_snapshot.json: runs.happy_path differs from {rel}" in lines


def test_hand_edited_counter_is_caught_even_with_a_resealed_index(cli: Cli, snapshot_copy: Path) -> None:
    rel = "runs/tripwire/metrics.json"

    def change(metrics: dict[str, Any]) -> None:
        for family in metrics["metrics"]:
            if family["name"] == "safety_rail_trips_total":
                family["samples"] = []

    _edit_json(snapshot_copy / rel, change)
    _reseal(snapshot_copy, rel)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert f"{rel}: sha256" not in out
    assert (
        f'{snapshot_copy}/{rel}: safety_rail_trips_total{{rail="max_order_qty"}} is 0 but events.jsonl has 1 '
        "rail_trip event(s) with rail='max_order_qty'"
    ) in out.splitlines()


def test_a_fault_counter_is_recomputed_from_the_events_too(cli: Cli, snapshot_copy: Path) -> None:
    rel = "runs/failure_matrix/metrics.json"

    def drop_a_fault(metrics: dict[str, Any]) -> None:
        (family,) = [f for f in metrics["metrics"] if f["name"] == "faults_injected_total"]
        (sample,) = [s for s in family["samples"] if s["labels"] == {"fault": "timeout", "op": "place"}]
        sample["value"] = 0

    _edit_json(snapshot_copy / rel, drop_a_fault)
    _reseal(snapshot_copy, rel)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert (
        f'{snapshot_copy}/{rel}: faults_injected_total{{op="place",fault="timeout"}} is 0 but events.jsonl has 1 '
        "fault_injected event(s) with op='place', fault='timeout'"
    ) in out.splitlines()


def test_hand_edited_counter_in_session_metrics(cli: Cli, snapshot_copy: Path) -> None:
    rel = "dryrun_metrics_snapshot.json"
    original: list[int] = []
    _edit_json(snapshot_copy / rel, lambda doc: original.append(_bump_place_ok(doc["runs"]["happy_path"])))
    _reseal(snapshot_copy, rel)  # the hash alone must not be what catches it
    n = original[0]
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    lines = out.splitlines()
    assert (
        f'{snapshot_copy}/{rel}: runs.happy_path: orders_place_total{{outcome="ok"}} is {n + 1} but events.jsonl '
        f"has {n} order_place event(s) with outcome='ok'"
    ) in lines
    assert f"{snapshot_copy}/{rel}: runs.happy_path differs from runs/happy_path/metrics.json" in lines


def test_hand_edited_session_counter_total(cli: Cli, snapshot_copy: Path) -> None:
    rel = "dryrun_metrics_snapshot.json"

    def change(doc: dict[str, Any]) -> None:
        doc["session"]["counters"]['orders_place_total{outcome="ok"}'] += 1

    _edit_json(snapshot_copy / rel, change)
    _reseal(snapshot_copy, rel)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert out.splitlines() == [f"{snapshot_copy}/{rel}: session does not match the roll-up of the run files"]


def test_deleted_file(cli: Cli, snapshot_copy: Path) -> None:
    (snapshot_copy / "runs" / "partial_fills" / "events.jsonl").unlink()
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert f"{snapshot_copy}/runs/partial_fills/events.jsonl: missing (listed in index.json)" in out.splitlines()


def test_deleted_session_file(cli: Cli, snapshot_copy: Path) -> None:
    (snapshot_copy / "dryrun_status_snapshot.html").unlink()
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert out.splitlines() == [f"{snapshot_copy}/dryrun_status_snapshot.html: missing (listed in index.json)"]


def test_edited_audit_line(cli: Cli, snapshot_copy: Path) -> None:
    path = snapshot_copy / "runs" / "happy_path" / "audit.jsonl"
    lines = path.read_text(encoding="utf-8").split("\n")
    assert '"ok":true' in lines[4]
    lines[4] = lines[4].replace('"ok":true', '"ok":false')
    path.write_text("\n".join(lines), encoding="utf-8")
    _reseal(snapshot_copy, "runs/happy_path/audit.jsonl")
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert (
        f"{snapshot_copy}/runs/happy_path/audit.jsonl:6: hash chain broken (prev_sha256 does not match line 5)"
    ) in out.splitlines()
    assert (
        f"{snapshot_copy}/runs/happy_path/events.jsonl:5: differs from the event on audit.jsonl line 5"
    ) in out.splitlines()


def test_dropped_audit_line(cli: Cli, snapshot_copy: Path) -> None:
    path = snapshot_copy / "runs" / "tripwire" / "audit.jsonl"
    lines = path.read_text(encoding="utf-8").split("\n")
    del lines[2]
    path.write_text("\n".join(lines), encoding="utf-8")
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert f"{snapshot_copy}/runs/tripwire/audit.jsonl:3: hash chain broken" in out


def test_edited_status_document(cli: Cli, snapshot_copy: Path) -> None:
    rel = "dryrun_status_snapshot.json"
    _edit_json(snapshot_copy / rel, lambda doc: doc["runs"]["happy_path"]["positions"].update({"DEMO-EUR": "0"}))
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert out.splitlines() == [
        f"{snapshot_copy}/{rel}: sha256 does not match index.json (the file changed after it was written)",
        f"{snapshot_copy}/{rel}: runs.happy_path differs from runs/happy_path/status.json",
    ]


def test_edited_run_status_breaks_conservation(cli: Cli, snapshot_copy: Path) -> None:
    rel = "runs/happy_path/status.json"
    _edit_json(snapshot_copy / rel, lambda doc: doc["orders"].__setitem__("open", 2))
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    lines = out.splitlines()
    assert f"{snapshot_copy}/{rel}: sha256 does not match index.json (the file changed after it was written)" in lines
    assert f"{snapshot_copy}/{rel}: order conservation: open is 2 but 0 order(s) are in open states" in lines


def test_edited_mismatch_origin_is_caught(cli: Cli, snapshot_copy: Path) -> None:
    """The listed mismatches must be the run's first reconcile_mismatch events, in order."""
    rel = "runs/failure_matrix/status.json"
    listed = json.loads((snapshot_copy / rel).read_text())["reconcile"]["first_mismatches"]
    assert [m["order_id"] for m in listed] == ["O-000004", "O-000005", "O-000006"]
    _edit_json(snapshot_copy / rel, lambda doc: doc["reconcile"]["first_mismatches"][1].__setitem__("order_id", "O-1"))
    _reseal(snapshot_copy, rel)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert f"{snapshot_copy}/{rel}: reconcile first_mismatches lists 3 mismatch(es) that are not the first 3 " in out
    assert "reconcile_mismatch event(s) of events.jsonl, in order" in out


def test_schema_violation(cli: Cli, snapshot_copy: Path) -> None:
    rel = "runs/happy_path/health.json"
    _edit_json(snapshot_copy / rel, lambda doc: doc.__setitem__("status", "fine"))
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert (
        f"{snapshot_copy}/{rel}: schema health: $.status: 'fine' is not one of ['ok', 'degraded', 'failed']"
    ) in out.splitlines()


def test_schema_violation_in_an_event_line(cli: Cli, snapshot_copy: Path) -> None:
    rel = "runs/happy_path/events.jsonl"
    path = snapshot_copy / rel
    lines = path.read_text(encoding="utf-8").split("\n")
    event = json.loads(lines[0])
    event["seq"] = "one"
    lines[0] = json.dumps(event, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines), encoding="utf-8")
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert f"{snapshot_copy}/{rel}:1: schema event: $.seq: Expected `int`, got `str`" in out.splitlines()


def test_unknown_key_is_a_schema_violation(cli: Cli, snapshot_copy: Path) -> None:
    rel = "runs/partial_fills/status.json"
    _edit_json(snapshot_copy / rel, lambda doc: doc.__setitem__("note", "hi"))
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert "schema status: $: Additional properties are not allowed ('note' was unexpected)" in out


def test_extra_run_file_and_run_dir(cli: Cli, snapshot_copy: Path) -> None:
    (snapshot_copy / "runs" / "happy_path" / "notes.txt").write_text("x")
    (snapshot_copy / "runs" / "ghost").mkdir()
    (snapshot_copy / "runs" / "ghost" / "health.json").write_text("{}")
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    lines = out.splitlines()
    assert f"{snapshot_copy}/runs/happy_path/notes.txt: a file not listed in index.json" in lines
    assert f"{snapshot_copy}/runs/ghost: run directory is not listed in index.json" in lines
    assert f"{snapshot_copy}/runs/ghost/health.json: a file not listed in index.json" in lines


def test_not_canonical_json(cli: Cli, snapshot_copy: Path) -> None:
    rel = "runs/happy_path/report.json"
    data = json.loads((snapshot_copy / rel).read_text())
    (snapshot_copy / rel).write_text(json.dumps(data))
    _reseal(snapshot_copy, rel)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert out.splitlines() == [
        f"{snapshot_copy}/{rel}: not in canonical JSON form (sorted keys, two-space indent, trailing newline)"
    ]


def test_edited_markdown_report(cli: Cli, snapshot_copy: Path) -> None:
    rel = "dryrun_status_snapshot.md"
    path = snapshot_copy / rel
    path.write_text(path.read_text().replace("❌ failed", "✅ ok", 1))
    _reseal(snapshot_copy, rel)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert out.splitlines() == [
        f"{snapshot_copy}/{rel}: differs from what the run files render (the roll-up is stale or was edited)"
    ]


def test_index_run_entry_edited(cli: Cli, snapshot_copy: Path) -> None:
    def change(index: dict[str, Any]) -> None:
        for run in index["runs"]:
            if run["run_id"] == "tripwire":
                run["status"] = "ok"

    _edit_json(snapshot_copy / "index.json", change)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    assert out.splitlines() == [f"{snapshot_copy}/index.json: runs does not match the run files"]


@pytest.mark.parametrize("setup", ["missing", "no-index", "bad-index"])
def test_usage_errors(cli: Cli, tmp_path: Path, snapshot_copy: Path, setup: str) -> None:
    if setup == "missing":
        target, expected = tmp_path / "nope", f"{tmp_path / 'nope'}: no such directory"
    elif setup == "no-index":
        (snapshot_copy / "index.json").unlink()
        target, expected = snapshot_copy, f"{snapshot_copy}: not a snapshot directory (no index.json"
    else:
        (snapshot_copy / "index.json").write_text("[1, 2")
        target, expected = snapshot_copy, f"{snapshot_copy / 'index.json'}: not valid JSON"
    rc, out, err = cli("validate", target)
    assert rc == 2
    assert out == ""
    assert err.startswith(f"peak-dryrun validate: error: {expected}")
    assert err.count("\n") == 1
