"""The JSON Schemas shipped in ``pytest_peak_dryrun/schemas/``: in sync with the models, and right."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]

import pytest_peak_dryrun.schemas as schema_package
from pytest_peak_dryrun.core.canonical import dumps
from pytest_peak_dryrun.core.schemas import DOCUMENT_SCHEMAS, drift, generate_schemas, load_schema, write_schemas

SCHEMA_DIR = Path(schema_package.__file__).parent
REGENERATE = "python -m pytest_peak_dryrun.core.schemas --write"


def test_committed_schemas_match_the_models() -> None:
    """Fails when a model changed and the shipped schema files were not regenerated."""
    generated = generate_schemas()
    problems = []
    for name, schema in generated.items():
        path = SCHEMA_DIR / f"{name}.schema.json"
        if not path.exists():
            problems.append(f"{path.name} is missing")
        elif path.read_text(encoding="utf-8") != dumps(schema):
            problems.append(f"{path.name} differs from the model")
    stale = sorted(
        p.name for p in SCHEMA_DIR.glob("*.schema.json") if p.name.removesuffix(".schema.json") not in generated
    )
    problems += [f"{name} has no model" for name in stale]
    assert not problems, f"schemas drifted ({'; '.join(problems)}); regenerate with: {REGENERATE}"
    assert drift() == []


def test_expected_schema_set() -> None:
    assert sorted(generate_schemas()) == [
        "audit",
        "event",
        "health",
        "health-session",
        "index",
        "metrics",
        "metrics-session",
        "report",
        "status",
        "status-session",
    ]


def test_generation_is_deterministic_and_canonical(tmp_path: Path) -> None:
    assert generate_schemas() == generate_schemas()
    written = write_schemas(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json"))
    for path in written:
        assert path.read_bytes() == (SCHEMA_DIR / path.name).read_bytes()


def test_check_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    command = [sys.executable, "-m", "pytest_peak_dryrun.core.schemas"]
    assert subprocess.run([*command, "--check"], env=env, timeout=60, capture_output=True).returncode == 0
    # A drifted copy is reported.
    write_schemas(tmp_path)
    (tmp_path / "health.schema.json").write_text("{}\n")
    proc = subprocess.run([*command, "--check", "--dir", str(tmp_path)], env=env, timeout=60, capture_output=True)
    assert proc.returncode == 1
    assert b"health.schema.json: differs from the model" in proc.stderr


@pytest.mark.parametrize("name", sorted(DOCUMENT_SCHEMAS))
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _errors(name: str, data: Any) -> list[str]:
    return [e.message for e in Draft202012Validator(load_schema(name)).iter_errors(data)]


def _jsonl(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def test_real_files_are_valid(snapshot_all: Path) -> None:
    assert _errors("index", json.loads((snapshot_all / "index.json").read_text())) == []
    for file, name in [
        ("dryrun_health_snapshot.json", "health-session"),
        ("dryrun_status_snapshot.json", "status-session"),
        ("dryrun_metrics_snapshot.json", "metrics-session"),
    ]:
        assert _errors(name, json.loads((snapshot_all / file).read_text())) == [], file
    for run in sorted((snapshot_all / "runs").iterdir()):
        for name in ("health", "status", "metrics", "report"):
            assert _errors(name, json.loads((run / f"{name}.json").read_text())) == [], run / name
        for event in _jsonl(run / "events.jsonl"):
            assert _errors("event", event) == []
        for line in _jsonl(run / "audit.jsonl"):
            assert _errors("audit", line) == []


def test_schema_id_is_required(snapshot_all: Path) -> None:
    health = json.loads((snapshot_all / "runs" / "happy_path" / "health.json").read_text())
    del health["schema"]
    assert _errors("health", health) == ["'schema' is a required property"]
    health["schema"] = "peak-dryrun/health/v2"
    assert any("peak-dryrun/health/v1" in e for e in _errors("health", health))


def test_invalid_documents_are_rejected(snapshot_all: Path) -> None:
    run = snapshot_all / "runs" / "tripwire"
    audit = _jsonl(run / "audit.jsonl")[0]
    assert _errors("audit", {**audit, "prev_sha256": "abc"})
    assert _errors("audit", {**audit, "extra": 1})
    event = _jsonl(run / "events.jsonl")[0]
    assert _errors("event", {**event, "seq": 0})
    assert _errors("event", {k: v for k, v in event.items() if k != "payload"})
    index = json.loads((snapshot_all / "index.json").read_text())
    assert _errors("index", {**index, "files": {"x": "not-a-sha"}})
    status = json.loads((run / "status.json").read_text())
    status["orders"]["by_state"]["LOST"] = 1
    assert _errors("status", status)


def test_report_schema_allows_hook_changes_but_keeps_types(snapshot_all: Path) -> None:
    """A ``pytest_dryrun_modify_report`` hook may drop fields or add its own."""
    report = json.loads((snapshot_all / "runs" / "happy_path" / "report.json").read_text())
    trimmed = {k: v for k, v in report.items() if k != "cash"}
    assert _errors("report", {**trimmed, "my_figure": 42}) == []
    assert _errors("report", {**report, "seed": "seven"})
    assert _errors("report", {k: v for k, v in report.items() if k != "schema"})
