"""The event stream, the hash-chained audit log, redaction and atomic JSON Lines files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.events import (
    GENESIS_HASH,
    AuditLog,
    EventBuffer,
    EventKind,
    EventRecord,
    EventStream,
    JsonlFile,
    Redactor,
    verify_audit_lines,
)
from pytest_peak_dryrun.core.scenario import builtin_scenario


def stream_with_buffer(clock: SimClock | None = None, **kw: Any) -> tuple[EventStream, EventBuffer]:
    stream = EventStream("run-1", clock or SimClock(epoch_ms=1_000, step_ms=1_000), **kw)
    buffer = EventBuffer()
    stream.subscribe(buffer)
    return stream, buffer


# -- the stream ----------------------------------------------------------------------------------


def test_seq_strictly_increasing_and_ts_from_the_clock() -> None:
    clock = SimClock(epoch_ms=1_000, step_ms=1_000)
    stream, buffer = stream_with_buffer(clock)
    first = stream.emit("order_place", {"order_id": "O-1"})
    clock.advance_step()
    clock.advance_ms(250)
    second = stream.emit("fill", {"order_id": "O-1"})
    assert (first.seq, first.ts_ms, first.ts) == (1, 1_000, 1.0)
    assert (second.seq, second.ts_ms, second.ts) == (2, 2_250, 2.25)
    assert list(buffer) == [first, second]
    assert len(buffer) == 2
    assert stream.seq == 2


def test_seq_strictly_increasing_over_a_whole_run() -> None:
    result = run_scenario(builtin_scenario("failure_matrix"))
    seqs = [e.seq for e in result.event_records]
    assert seqs == list(range(1, len(seqs) + 1))
    ts = [e.ts_ms for e in result.event_records]
    assert ts == sorted(ts)
    assert {e.kind for e in result.event_records} <= {k.value for k in EventKind}


def test_listeners_see_every_event_in_order() -> None:
    stream, _buffer = stream_with_buffer()
    seen: list[tuple[str, int]] = []
    stream.subscribe(lambda e: seen.append(("a", e.seq)))
    stream.subscribe(lambda e: seen.append(("b", e.seq)))
    stream.emit("x", {})
    stream.emit("y", {})
    assert seen == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_event_record_json_shape() -> None:
    record = EventRecord(7, 1_500, "fill", {"qty": "1"})
    assert record.as_dict("run-9") == {"seq": 7, "ts": 1.5, "kind": "fill", "run_id": "run-9", "payload": {"qty": "1"}}
    assert repr(record) == "EventRecord(seq=7, ts_ms=1500, kind='fill', payload={'qty': '1'})"


def test_the_stream_redacts_before_any_listener_sees_the_payload() -> None:
    stream, buffer = stream_with_buffer(redactor=Redactor(("hunter2-secret",)))
    stream.emit("order_place", {"order_id": "O-1", "api_key": "abc", "text": "pw is hunter2-secret"})
    assert buffer.events[0].payload == {"order_id": "O-1", "api_key": "[REDACTED]", "text": "pw is [REDACTED]"}


# -- redaction ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "api_key",
        "API-KEY",
        "apikey",
        "password",
        "passwd",
        "pwd",
        "client_secret",
        "Authorization",
        "credentials",
        "private_key",
        "private-key",
        "session_key",
        "auth_header",
        "x_access_token",
    ],
)
def test_secret_looking_keys_are_masked(key: str) -> None:
    redactor = Redactor()
    assert redactor.key_is_secret(key)
    assert redactor.redact({key: "value", "order_id": "O-1"}) == {key: "[REDACTED]", "order_id": "O-1"}


@pytest.mark.parametrize("key", ["order_id", "qty", "price", "broker_order_id", "kind", "detail", "state"])
def test_ordinary_keys_are_kept(key: str) -> None:
    assert not Redactor().key_is_secret(key)
    assert Redactor().redact({key: "value"}) == {key: "value"}


def test_registered_secret_values_are_masked_anywhere() -> None:
    redactor = Redactor(("s3cr3t-token-value",))
    redactor.add_secret("acct-4711")
    payload = {
        "detail": "login with s3cr3t-token-value failed for acct-4711",
        "nested": {"inner": "acct-4711", "deeper": {"x": "s3cr3t-token-value"}},
        "qty": 3,
        "items": ["acct-4711", "fine"],
    }
    assert redactor.redact(payload) == {
        "detail": "login with [REDACTED] failed for [REDACTED]",
        "nested": {"inner": "[REDACTED]", "deeper": {"x": "[REDACTED]"}},
        "qty": 3,
        "items": ["[REDACTED]", "fine"],
    }
    assert payload["detail"] == "login with s3cr3t-token-value failed for acct-4711"  # a copy, not in place


def test_short_secrets_are_ignored() -> None:
    redactor = Redactor(("ab",))
    redactor.add_secret("xyz")
    assert redactor.redact({"detail": "ab xyz"}) == {"detail": "ab xyz"}
    assert redactor.redact_text("ab xyz") == "ab xyz"


def test_secrets_never_reach_the_audit_files(tmp_path: Path) -> None:
    clock = SimClock()
    stream = EventStream("run-1", clock, redactor=Redactor(("tok-0123456789",)))
    audit = AuditLog("run-1", events_file=JsonlFile(tmp_path / "e.jsonl"), audit_file=JsonlFile(tmp_path / "a.jsonl"))
    stream.subscribe(audit)
    stream.emit("x", {"password": "hunter2", "detail": "using tok-0123456789"})
    audit.close()
    for name in ("e.jsonl", "a.jsonl"):
        text = (tmp_path / name).read_text()
        assert "hunter2" not in text
        assert "tok-0123456789" not in text
        assert "[REDACTED]" in text


# -- the audit log ------------------------------------------------------------------------------


def _audit_lines(n: int = 5) -> list[str]:
    stream, _ = stream_with_buffer()
    audit = AuditLog("run-1")
    stream.subscribe(audit)
    for i in range(n):
        stream.emit("order_place", {"order_id": f"O-{i}", "qty": str(i)})
    return list(audit.lines())


def test_audit_chain_verifies() -> None:
    lines = _audit_lines()
    assert verify_audit_lines(lines) == []
    first = json.loads(lines[0])
    assert first["prev_sha256"] == GENESIS_HASH
    assert first["event"] == {
        "seq": 1,
        "ts": 1.0,
        "kind": "order_place",
        "run_id": "run-1",
        "payload": {"order_id": "O-0", "qty": "0"},
    }
    # canonical JSON: compact, sorted keys, "event" before "prev_sha256"
    assert lines[0].startswith('{"event":{"kind":"order_place","payload":{"order_id":"O-0","qty":"0"},"run_id"')


def test_audit_head_is_the_hash_of_the_last_line_without_its_run_id() -> None:
    """The run id is left out of what is hashed, so two runs that behave the same share a head."""
    import hashlib

    stream, _ = stream_with_buffer()
    audit = AuditLog("run-1")
    stream.subscribe(audit)
    assert audit.head == GENESIS_HASH
    stream.emit("a", {})
    stream.emit("b", {})
    lines = list(audit.lines())
    assert '"run_id":"run-1",' in lines[-1]
    chained = [line.replace('"run_id":"run-1",', "") for line in lines]
    assert audit.head == hashlib.sha256(chained[-1].encode()).hexdigest()
    assert json.loads(lines[1])["prev_sha256"] == hashlib.sha256(chained[0].encode()).hexdigest()
    assert audit.last_seq == 2
    other = AuditLog("another-run")
    for event in (EventRecord(1, 1_000, "a", {}), EventRecord(2, 1_000, "b", {})):
        other.append(event)
    assert other.head == audit.head


def test_a_modified_line_is_detected() -> None:
    lines = _audit_lines()
    lines[2] = lines[2].replace('"qty":"2"', '"qty":"200"')
    assert verify_audit_lines(lines) == ["line 4: hash chain broken (prev_sha256 does not match line 3)"]


def test_a_modified_last_line_is_detected_by_the_head() -> None:
    # the chain cannot see an edit of the last line; the head the log keeps can
    stream, _ = stream_with_buffer()
    audit = AuditLog("run-1")
    stream.subscribe(audit)
    stream.emit("a", {"qty": "1"})
    lines = list(audit.lines())
    import hashlib

    edited = lines[0].replace('"1"', '"9"')
    assert hashlib.sha256(edited.encode()).hexdigest() != audit.head


def test_a_dropped_line_is_detected() -> None:
    lines = _audit_lines()
    del lines[1]
    assert verify_audit_lines(lines) == ["line 2: hash chain broken (prev_sha256 does not match line 1)"]


def test_a_dropped_first_line_is_detected() -> None:
    lines = _audit_lines()
    assert verify_audit_lines(lines[1:]) == ["line 1: hash chain broken (prev_sha256 does not match line 0)"]


def test_reordered_lines_are_detected() -> None:
    lines = _audit_lines()
    lines[1], lines[2] = lines[2], lines[1]
    problems = verify_audit_lines(lines)
    assert problems == [
        "line 2: hash chain broken (prev_sha256 does not match line 1)",
        "line 3: hash chain broken (prev_sha256 does not match line 2)",
        "line 3: seq 2 is not strictly increasing",
        "line 4: hash chain broken (prev_sha256 does not match line 3)",
    ]


def test_a_line_that_is_not_json_is_detected() -> None:
    lines = _audit_lines(3)
    lines[1] = lines[1][:-5]
    assert verify_audit_lines(lines)[0].startswith("line 2: not JSON")


def test_audit_log_is_append_only() -> None:
    audit = AuditLog("run-1")
    audit.append(EventRecord(1, 0, "a", {}))
    audit.append(EventRecord(3, 0, "b", {}))
    with pytest.raises(ValueError, match="audit log is append-only: seq 3 after 3"):
        audit.append(EventRecord(3, 0, "c", {}))
    with pytest.raises(ValueError, match="seq 2 after 3"):
        audit.append(EventRecord(2, 0, "c", {}))
    assert verify_audit_lines(list(audit.lines())) == []


def test_streaming_audit_log_writes_events_and_audit_files(tmp_path: Path) -> None:
    stream, _ = stream_with_buffer()
    audit = AuditLog(
        "run-1", events_file=JsonlFile(tmp_path / "events.jsonl"), audit_file=JsonlFile(tmp_path / "audit.jsonl")
    )
    stream.subscribe(audit)
    for i in range(3):
        stream.emit("x", {"i": i})
    with pytest.raises(RuntimeError, match="streams to a file"):
        audit.lines()
    assert not (tmp_path / "events.jsonl").exists()  # only the .tmp files while running
    audit.close()
    events = (tmp_path / "events.jsonl").read_text().splitlines()
    audit_lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in events] == [1, 2, 3]
    assert verify_audit_lines(audit_lines) == []
    assert [json.loads(line)["event"] for line in audit_lines] == [json.loads(line) for line in events]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl", "events.jsonl"]


def test_export_jsonl(tmp_path: Path) -> None:
    stream, _ = stream_with_buffer()
    audit = AuditLog("run-1")
    stream.subscribe(audit)
    stream.emit("x", {})
    audit.export_jsonl(tmp_path / "out" / "audit.jsonl")
    text = (tmp_path / "out" / "audit.jsonl").read_text()
    assert text.endswith("\n")
    assert verify_audit_lines(text.splitlines()) == []


def test_a_run_audit_file_verifies(tmp_path: Path) -> None:
    result = run_scenario(builtin_scenario("failure_matrix"), out_dir=tmp_path)
    assert result.run_dir is not None
    lines = (result.run_dir / "audit.jsonl").read_text().splitlines()
    assert len(lines) == len(result.event_records)
    assert verify_audit_lines(lines) == []
    lines.pop(10)
    assert verify_audit_lines(lines) == ["line 11: hash chain broken (prev_sha256 does not match line 10)"]


# -- atomic JSON Lines files -----------------------------------------------------------------------


def test_jsonl_file_is_renamed_on_close(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "events.jsonl"
    out = JsonlFile(path)
    out.write_line('{"a":1}')
    out.write_line('{"a":2}')
    assert not path.exists()
    assert out.tmp_path == tmp_path / "sub" / "events.jsonl.tmp"
    assert out.tmp_path.exists()
    out.close()
    out.close()  # closing twice is harmless
    assert path.read_bytes() == b'{"a":1}\n{"a":2}\n'
    assert not out.tmp_path.exists()
    with pytest.raises(AssertionError, match="already closed"):
        out.write_line("x")


def test_jsonl_abort_leaves_no_file_and_no_tmp(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    out = JsonlFile(path)
    out.write_line('{"a":1}')
    out.abort()
    assert not path.exists()
    assert not out.tmp_path.exists()
    assert list(tmp_path.iterdir()) == []
    out.abort()  # twice is harmless


def test_abort_keeps_an_earlier_complete_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("old\n")
    out = JsonlFile(path)
    out.write_line("new")
    out.abort()
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["events.jsonl"]


def test_audit_abort_removes_both_files(tmp_path: Path) -> None:
    audit = AuditLog("r", events_file=JsonlFile(tmp_path / "e.jsonl"), audit_file=JsonlFile(tmp_path / "a.jsonl"))
    audit.append(EventRecord(1, 0, "x", {}))
    audit.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_failing_run_leaves_no_half_files(tmp_path: Path) -> None:
    def explode(event: EventRecord) -> None:
        if event.kind == "fill":
            raise RuntimeError("listener failed")

    with pytest.raises(RuntimeError, match="listener failed"):
        run_scenario(builtin_scenario("happy_path"), out_dir=tmp_path, listeners=[explode])
    run_dir = tmp_path / "runs" / "happy_path"
    assert not run_dir.exists()  # no half file, and no empty folder either
