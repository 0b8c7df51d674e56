"""``validate`` cannot be fooled by a consistent rewrite: report.json, the audit head, the key and the seal."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_peak_dryrun.console.validate import validate_dir
from pytest_peak_dryrun.core.audit import verify_audit_lines
from pytest_peak_dryrun.core.audit_chain import GENESIS_HASH
from pytest_peak_dryrun.core.canonical import dumps, dumps_line
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS, builtin_scenario
from pytest_peak_dryrun.report.session import write_session

Cli = Callable[..., tuple[int, str, str]]
GOLDEN = Path(__file__).parents[1] / "golden" / "__dryrun_snapshots__" / "test_builtin_scenarios"
AUDIT_KEY_ENV = "PEAK_DRYRUN_AUDIT_KEY"
KEY = "ci-audit-key-7f3a9c0e5b2d4f6a8c1e3b5d7f9a0c2e"


def audit_key_id(key: bytes) -> str:
    from pytest_peak_dryrun.core.audit_chain import audit_key_id as key_id

    return key_id(key)


def _edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(dumps(data), encoding="utf-8")


def _reseal(directory: Path, rel: str) -> None:
    digest = hashlib.sha256((directory / rel).read_bytes()).hexdigest()
    _edit_json(directory / "index.json", lambda index: index["files"].__setitem__(rel, digest))


def _chained(line: str, run_id: str) -> str:
    """What the chain hashes: the line without its event's run id member (and without a MAC)."""
    member = f'"run_id":"{run_id}",'
    assert line.count(member) == 1
    return line.replace(member, "")


def _chain_head(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert verify_audit_lines(lines) == []
    assert '"hmac_sha256"' not in lines[-1]
    return hashlib.sha256(_chained(lines[-1], path.parent.name).encode()).hexdigest()


# -- report.json against the run's other files --------------------------------------------------------


def test_edited_report_with_its_sha256_updated_is_a_finding(cli: Cli, snapshot_copy: Path) -> None:
    rel = "runs/tripwire/report.json"

    def change(report: dict[str, Any]) -> None:
        report["final_state"] = "STOPPED"
        report["health"] = {"reasons": [], "status": "ok"}
        report["rail_trips"] = []

    _edit_json(snapshot_copy / rel, change)
    _reseal(snapshot_copy, rel)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    rebuilt = "the report rebuilt from health.json, status.json and metrics.json"
    assert out.splitlines() == [
        f"{snapshot_copy}/{rel}: final_state differs from {rebuilt}",
        f"{snapshot_copy}/{rel}: health differs from {rebuilt}",
        f"{snapshot_copy}/{rel}: rail_trips differs from {rebuilt}",
    ]


def test_keys_added_to_or_dropped_from_a_report_are_findings(cli: Cli, snapshot_copy: Path) -> None:
    rel = "runs/happy_path/report.json"

    def change(report: dict[str, Any]) -> None:
        del report["cash"]
        report["approved_by"] = "risk"

    _edit_json(snapshot_copy / rel, change)
    _reseal(snapshot_copy, rel)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    rebuilt = "the report rebuilt from health.json, status.json and metrics.json"
    assert out.splitlines() == [
        f"{snapshot_copy}/{rel}: approved_by is not in {rebuilt} (added after the run?)",
        f"{snapshot_copy}/{rel}: cash is missing (it is in {rebuilt})",
    ]


def test_report_audit_head_must_be_the_chains(cli: Cli, snapshot_copy: Path) -> None:
    rel = "runs/partial_fills/report.json"
    _edit_json(snapshot_copy / rel, lambda r: r["audit"].__setitem__("head_sha256", "a" * 64))
    _reseal(snapshot_copy, rel)
    rc, out, _ = cli("validate", snapshot_copy)
    assert rc == 1
    head = _chain_head(snapshot_copy / "runs/partial_fills/audit.jsonl")
    assert out.splitlines() == [
        f"{snapshot_copy}/{rel}: audit.head_sha256 is {'a' * 64} but the head of audit.jsonl is {head} "
        "(the history was rewritten, or the report edited)"
    ]


# -- the head is in the golden file ------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_committed_golden_pins_the_chain_head(snapshot_builtins: Path, name: str) -> None:
    """The golden file of each built-in scenario holds the head of the chain its run writes.

    The golden test's run has another run id (from its node id) than ``snapshot_builtins``'s:
    the head leaves the run id out, so it is the same.
    """
    golden = json.loads((GOLDEN / f"test_builtin_scenario_report[{name}].json").read_text(encoding="utf-8"))
    audit = snapshot_builtins / "runs" / name / "audit.jsonl"
    assert golden["audit"] == {
        "events": len(audit.read_text(encoding="utf-8").splitlines()),
        "head_sha256": _chain_head(audit),
    }
    assert dumps(golden) == (snapshot_builtins / "runs" / name / "report.json").read_text(encoding="utf-8")


def _rewrite_history(directory: Path, run_id: str, drop_kind: str) -> None:
    """What an attacker with the package can do: drop events and rebuild the chain with its own writer.

    Every sha256 link, the report's audit block and the index are recomputed, so the
    directory is consistent again, as far as anything without a key can tell.
    """
    import msgspec

    from pytest_peak_dryrun.core.audit import AuditLog, JsonlFile
    from pytest_peak_dryrun.core.events import event_type

    run = directory / "runs" / run_id
    events = [json.loads(line) for line in (run / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    kept = [e for e in events if e["kind"] != drop_kind]
    assert len(kept) < len(events)
    audit = AuditLog(run_id, events_file=JsonlFile(run / "events.jsonl"), audit_file=JsonlFile(run / "audit.jsonl"))
    for seq, event in enumerate(kept, start=1):
        audit(seq, round(event["ts"] * 1000), msgspec.convert(event["payload"], event_type(event["kind"])))
    audit.close()
    _edit_json(
        run / "report.json", lambda r: r.__setitem__("audit", {"events": audit.count, "head_sha256": audit.head})
    )


def test_a_rewritten_history_fails_the_committed_golden(tmp_path: Path) -> None:
    """Only fill events dropped: every other report field stays, validate says ok, but the head changes."""
    run_id = "happy_path"
    run_scenario(builtin_scenario("happy_path"), run_id=run_id, out_dir=tmp_path, audit_key=None)
    write_session(tmp_path, [run_id], audit_key=None)
    _rewrite_history(tmp_path, run_id, "fill")
    write_session(tmp_path, [run_id], audit_key=None)
    assert validate_dir(tmp_path) == []  # without the key nothing in DIR alone can tell (README: what it cannot)
    report = json.loads((tmp_path / "runs" / run_id / "report.json").read_text(encoding="utf-8"))
    golden = json.loads((GOLDEN / "test_builtin_scenario_report[happy_path].json").read_text(encoding="utf-8"))
    assert {k: v for k, v in report.items() if k != "audit"} == {k: v for k, v in golden.items() if k != "audit"}
    assert report["audit"]["head_sha256"] != golden["audit"]["head_sha256"]


# -- the key: PEAK_DRYRUN_AUDIT_KEY ----------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every built-in scenario written with the key set. Never modify it."""
    out = tmp_path_factory.mktemp("keyed") / "snap"
    key = KEY.encode()
    ids = [run_scenario(builtin_scenario(n), out_dir=out, audit_key=key).run_id for n in BUILTIN_SCENARIOS]
    write_session(out, ids, audit_key=key)
    return out


@pytest.fixture
def keyed_copy(keyed_snapshot: Path, tmp_path: Path) -> Path:
    target = tmp_path / "keyed"
    shutil.copytree(keyed_snapshot, target)
    return target


def test_keyed_directory_verifies_with_the_key(
    cli: Cli, keyed_snapshot: Path, snapshot_builtins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    assert cli("validate", keyed_snapshot) == (0, f"{keyed_snapshot}: ok\n", "")
    index = json.loads((keyed_snapshot / "index.json").read_text())
    assert index["seal"]["alg"] == "HMAC-SHA256"
    assert index["seal"]["key_id"] == audit_key_id(KEY.encode())
    for name in BUILTIN_SCENARIOS:  # the reports (so the golden files) are the unkeyed run's, byte for byte
        keyed = (keyed_snapshot / "runs" / name / "report.json").read_bytes()
        assert keyed == (snapshot_builtins / "runs" / name / "report.json").read_bytes()
    assert KEY not in "".join(p.read_text() for p in keyed_snapshot.rglob("*") if p.is_file())


def test_keyed_directory_without_the_key_is_a_finding(
    cli: Cli, keyed_snapshot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    rc, out, _ = cli("validate", keyed_snapshot)
    assert rc == 1
    key_id = audit_key_id(KEY.encode())
    assert out.splitlines() == [
        f"{keyed_snapshot}/runs/{name}/audit.jsonl: keyed with HMAC-SHA256, but {AUDIT_KEY_ENV} is not set: "
        "the chain cannot be verified (set the key the run was written with)"
        for name in BUILTIN_SCENARIOS
    ] + [
        f"{keyed_snapshot}/index.json: sealed with HMAC-SHA256 (key id '{key_id}'), but {AUDIT_KEY_ENV} is not set: "
        "the seal cannot be verified (set the key the session was written with)"
    ]


def test_another_key_is_named_as_such(cli: Cli, keyed_snapshot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, "not-the-key")
    rc, out, _ = cli("validate", keyed_snapshot)
    assert rc == 1
    lines = out.splitlines()
    assert (
        f"{keyed_snapshot}/index.json: sealed with key id {audit_key_id(KEY.encode())}, but {AUDIT_KEY_ENV} has key id "
        f"{audit_key_id(b'not-the-key')} (another key)"
    ) in lines
    assert (
        f"{keyed_snapshot}/runs/happy_path/audit.jsonl:1: HMAC does not verify with {AUDIT_KEY_ENV} "
        "(the line was edited, or another key)"
    ) in lines


def test_unkeyed_directory_with_the_key_set_is_a_finding(
    cli: Cli, snapshot_all: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    rc, out, _ = cli("validate", snapshot_all)
    assert rc == 1
    lines = out.splitlines()
    assert (
        f"{snapshot_all}/runs/happy_path/audit.jsonl:1: no HMAC, but {AUDIT_KEY_ENV} is set "
        "(written without the key, or its MACs were stripped)"
    ) in lines
    assert (
        f"{snapshot_all}/index.json: not sealed, but {AUDIT_KEY_ENV} is set (written without the key, or the seal "
        "was removed)"
    ) in lines


def test_deleting_a_failed_run_and_rebuilding_with_the_packages_writer(
    cli: Cli, keyed_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's attack: report's exit 1 becomes 0. With the key, validate sees the forgery."""
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    assert cli("report", keyed_copy)[0] == 1  # tripwire needs the operator
    shutil.rmtree(keyed_copy / "runs" / "tripwire")
    write_session(keyed_copy, [n for n in BUILTIN_SCENARIOS if n != "tripwire"])  # no key: the attacker has none
    assert cli("report", keyed_copy)[0] == 0
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    rc, out, _ = cli("validate", keyed_copy)
    assert rc == 1
    assert out.splitlines() == [
        f"{keyed_copy}/index.json: not sealed, but {AUDIT_KEY_ENV} is set (written without the key, or the seal "
        "was removed)"
    ]


def test_deleting_a_run_and_keeping_the_old_seal(cli: Cli, keyed_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seal = json.loads((keyed_copy / "index.json").read_text())["seal"]
    shutil.rmtree(keyed_copy / "runs" / "tripwire")
    write_session(keyed_copy, [n for n in BUILTIN_SCENARIOS if n != "tripwire"], audit_key=None)
    _edit_json(keyed_copy / "index.json", lambda index: index.__setitem__("seal", seal))
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    rc, out, _ = cli("validate", keyed_copy)
    assert rc == 1
    assert out.splitlines() == [
        f"{keyed_copy}/index.json: seal does not verify with {AUDIT_KEY_ENV} (the index changed after it was written)"
    ]


def test_rewritten_history_in_a_keyed_directory(cli: Cli, keyed_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package's own writer without the key: the chain is consistent again, but unkeyed and unsealed."""
    _rewrite_history(keyed_copy, "tripwire", "rail_trip")
    write_session(keyed_copy, list(BUILTIN_SCENARIOS), audit_key=None)
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    rc, out, _ = cli("validate", keyed_copy)
    assert rc == 1
    lines = out.splitlines()
    assert (
        f"{keyed_copy}/runs/tripwire/audit.jsonl:1: no HMAC, but {AUDIT_KEY_ENV} is set "
        "(written without the key, or its MACs were stripped)"
    ) in lines
    assert f"{keyed_copy}/index.json: not sealed, but {AUDIT_KEY_ENV} is set" in out


def test_edited_keyed_line_with_recomputed_sha256_links(
    cli: Cli, keyed_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forger keeps the old MACs and fixes every sha256 link and the head: the MACs give it away."""
    path = keyed_copy / "runs" / "happy_path" / "audit.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[3]["event"]["payload"]["detail"] = "edited"
    prev = GENESIS_HASH
    out_lines = []
    for record in records:
        unkeyed = dumps_line({"event": record["event"], "prev_sha256": prev})
        out_lines.append(dumps_line({**record, "prev_sha256": prev}))
        prev = hashlib.sha256(_chained(unkeyed, "happy_path").encode()).hexdigest()
    path.write_text("\n".join(out_lines) + "\n")
    (keyed_copy / "runs/happy_path/events.jsonl").write_text("".join(dumps_line(r["event"]) + "\n" for r in records))
    _edit_json(keyed_copy / "runs/happy_path/report.json", lambda r: r["audit"].__setitem__("head_sha256", prev))
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    write_session(keyed_copy, list(BUILTIN_SCENARIOS))
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    rc, out, _ = cli("validate", keyed_copy)
    assert rc == 1
    lines = out.splitlines()
    assert [line for line in lines if "happy_path/audit.jsonl" in line] == [
        f"{keyed_copy}/runs/happy_path/audit.jsonl:{n}: HMAC does not verify with {AUDIT_KEY_ENV} "
        "(the line was edited, or another key)"
        for n in range(4, 9)
    ] + [f"{keyed_copy}/runs/happy_path/audit.jsonl: {len(records) - 8} more problem(s) in other lines"]
