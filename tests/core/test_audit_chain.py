"""The keyed audit chain (PEAK_DRYRUN_AUDIT_KEY): unforgeable without the key, same head with or without it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.audit import AuditLog, verify_audit_lines
from pytest_peak_dryrun.core.audit_chain import (
    AUDIT_KEY_ENV,
    GENESIS_HASH,
    AuditChainVerifier,
    audit_key_from_env,
    audit_key_id,
    audit_mac,
    parse_audit_line,
)
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.events import RailTripEvent
from pytest_peak_dryrun.core.scenario import builtin_scenario
from pytest_peak_dryrun.core.stream import EventStream
from pytest_peak_dryrun.core.vocab import Rail

KEY = b"k" * 32


def _lines(key: bytes | None, n: int = 4) -> tuple[list[str], AuditLog]:
    stream = EventStream("run-1", SimClock(epoch_ms=1_000, step_ms=1_000))
    audit = AuditLog("run-1", key=key)
    stream.tap(audit)
    for i in range(n):
        stream.emit(RailTripEvent(rail=Rail.KILL_SWITCH, detail=f"O-{i} qty {i}", order_id=f"O-{i}"))
    return list(audit.lines()), audit


def test_keyed_lines_carry_an_hmac_of_their_unkeyed_form() -> None:
    plain, plain_log = _lines(None)
    keyed, keyed_log = _lines(KEY)
    for p, k in zip(plain, keyed, strict=True):
        record = json.loads(k)
        assert list(record) == ["event", "hmac_sha256", "prev_sha256"]
        assert record["hmac_sha256"] == audit_mac(KEY, p.encode())
        assert {**record, "hmac_sha256": None} == {**json.loads(p), "hmac_sha256": None}
    # the sha256 chain (and so the report's head) depends neither on the key nor on the run id
    assert keyed_log.head == plain_log.head == hashlib.sha256(_chained(plain[-1]).encode()).hexdigest()
    assert keyed_log.count == plain_log.count == 4


def test_parse_audit_line_splits_both_forms() -> None:
    plain, _ = _lines(None, 1)
    keyed, _ = _lines(KEY, 1)
    a = parse_audit_line(plain[0].encode())
    b = parse_audit_line(keyed[0].encode())
    assert a is not None
    assert b is not None
    assert a.event == b.event == json.dumps(json.loads(plain[0])["event"], separators=(",", ":")).encode()
    assert a.prev_sha256 == b.prev_sha256 == GENESIS_HASH
    assert a.hmac_sha256 is None
    assert b.hmac_sha256 == json.loads(keyed[0])["hmac_sha256"]
    assert a.unkeyed == b.unkeyed == plain[0].encode()


@pytest.mark.parametrize(
    "line",
    [
        b"[]",
        b"1",
        b'{"event":"x"}',
        b"",
        b'{"event":{},"prev_sha256":"' + b"0" * 63 + b'"}',
        b'{"event":{},"prev_sha256":"' + b"G" * 64 + b'"}',
        b'{"event":{},"hmac_sha256":"' + b"z" * 64 + b'","prev_sha256":"' + b"0" * 64 + b'"}',
        b'{"event":[],"prev_sha256":"' + b"0" * 64 + b'"}',
        b'{"prev_sha256":"' + b"0" * 64 + b'","event":{}}',
    ],
)
def test_parse_audit_line_refuses_other_shapes(line: bytes) -> None:
    assert parse_audit_line(line) is None


def test_verify_with_the_key() -> None:
    keyed, _ = _lines(KEY)
    assert verify_audit_lines(keyed, key=KEY) == []
    assert verify_audit_lines(keyed, key=b"another key") == [
        f"line {n}: HMAC does not verify with {AUDIT_KEY_ENV} (the line was edited, or another key)"
        for n in range(1, 5)
    ]
    assert verify_audit_lines(keyed) == [
        f"the chain is keyed (HMAC-SHA256): set {AUDIT_KEY_ENV} (pass key=) to verify it"
    ]


def test_a_forger_without_the_key_cannot_rebuild_the_chain() -> None:
    """Edit line 2 and recompute every sha256 link after it: the sha256 chain holds, the MACs do not."""
    keyed, _ = _lines(KEY)
    records = [json.loads(line) for line in keyed]
    records[1]["event"]["payload"]["qty"] = "100"
    prev = GENESIS_HASH
    forged = []
    for record in records:
        unkeyed = json.dumps(
            {"event": record["event"], "prev_sha256": prev}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        line = unkeyed[: -len(f',"prev_sha256":"{prev}"}}')] + (
            f',"hmac_sha256":"{record["hmac_sha256"]}","prev_sha256":"{prev}"}}'
        )
        forged.append(line)
        prev = hashlib.sha256(_chained(unkeyed).encode()).hexdigest()
    assert verify_audit_lines([_strip(line) for line in forged]) == []  # the unkeyed chain was rebuilt
    assert verify_audit_lines(forged, key=KEY) == [
        f"line {n}: HMAC does not verify with {AUDIT_KEY_ENV} (the line was edited, or another key)" for n in (2, 3, 4)
    ]
    # stripping the MACs instead is caught as soon as the key is given
    assert verify_audit_lines([_strip(line) for line in forged], key=KEY) == [
        f"line 1: no HMAC, but {AUDIT_KEY_ENV} is set (written without the key, or its MACs were stripped)"
    ]


def _chained(line: str) -> str:
    """What the chain hashes: the unkeyed line without its event's run id member."""
    assert line.count('"run_id":"run-1",') == 1
    return line.replace('"run_id":"run-1",', "")


def _strip(line: str) -> str:
    parts = parse_audit_line(line.encode())
    assert parts is not None
    return parts.unkeyed.decode()


def test_verifier_head_and_skip() -> None:
    plain, audit = _lines(None)
    chain = AuditChainVerifier()
    for line in plain:
        assert chain.feed(line.encode())[1] == []
    assert (chain.head, chain.lines, chain.keyed_lines) == (audit.head, 4, 0)
    chain.skip()
    assert chain.head is None
    assert chain.lines == 5
    parts, problems = chain.feed(b"[]")
    assert parts is None
    assert problems
    assert chain.head is None


def test_key_from_the_environment() -> None:
    assert audit_key_from_env({}) is None
    assert audit_key_from_env({AUDIT_KEY_ENV: ""}) is None
    assert audit_key_from_env({AUDIT_KEY_ENV: "s3cret-ä"}) == "s3cret-ä".encode()
    assert audit_key_id(KEY) == audit_key_id(KEY) != audit_key_id(b"other")
    assert len(audit_key_id(KEY)) == 16


def test_a_run_is_keyed_by_the_environment_and_its_report_does_not_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = run_scenario(builtin_scenario("failure_matrix"), out_dir=tmp_path / "plain", audit_key=None)
    monkeypatch.setenv(AUDIT_KEY_ENV, "ci-secret-0123456789")
    keyed = run_scenario(builtin_scenario("failure_matrix"), out_dir=tmp_path / "keyed")
    assert keyed.run_dir is not None
    assert plain.run_dir is not None
    lines = (keyed.run_dir / "audit.jsonl").read_text().splitlines()
    assert all('"hmac_sha256":"' in line for line in lines)
    assert verify_audit_lines(lines, key=b"ci-secret-0123456789") == []
    assert keyed.report == plain.report  # the golden file stays deterministic when CI sets a key
    assert (keyed.run_dir / "report.json").read_bytes() == (plain.run_dir / "report.json").read_bytes()
    assert (keyed.run_dir / "events.jsonl").read_bytes() == (plain.run_dir / "events.jsonl").read_bytes()
    assert "ci-secret-0123456789" not in (keyed.run_dir / "audit.jsonl").read_text()


def test_a_line_of_another_run_breaks_the_chain() -> None:
    plain, _ = _lines(None, 3)
    plain[1] = plain[1].replace('"run_id":"run-1"', '"run_id":"run-2"')
    assert verify_audit_lines(plain) == ["line 2: its event's run_id is not 'run-1' (one chain, one run)"]
    assert verify_audit_lines(plain, run_id="run-2") == [
        "line 1: its event's run_id is not 'run-2' (one chain, one run)",
        "line 3: its event's run_id is not 'run-2' (one chain, one run)",
    ]
