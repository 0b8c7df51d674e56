"""The event table, the event stream, the hash-chained audit log, redaction and atomic JSON Lines files."""

from __future__ import annotations

import hashlib
import json
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pytest_peak_dryrun.core.audit import AuditLog, JsonlFile, verify_audit_lines
from pytest_peak_dryrun.core.audit_chain import GENESIS_HASH
from pytest_peak_dryrun.core.canonical import dumps_line
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.events import (
    ACTIVITY_CATEGORIES,
    EVENT_TYPES,
    METRIC_SPECS,
    Count,
    EventKind,
    EventRecord,
    FillEvent,
    OrderPlaceEvent,
    RailTripEvent,
    ReconcileMismatchEvent,
    event_json_schema,
    event_type,
    label_values,
    money,
)
from pytest_peak_dryrun.core.orders import OrderType, Side
from pytest_peak_dryrun.core.redact import Redactor
from pytest_peak_dryrun.core.scenario import BUILTIN_SCENARIOS, builtin_scenario
from pytest_peak_dryrun.core.stream import EventLog, EventStream
from pytest_peak_dryrun.core.vocab import MismatchKind, Outcome, Rail


def stream_with_log(clock: SimClock | None = None, **kw: Any) -> tuple[EventStream, EventLog]:
    stream = EventStream("run-1", clock or SimClock(epoch_ms=1_000, step_ms=1_000), **kw)
    log = EventLog()
    stream.subscribe(log)
    return stream, log


def place(order_id: str = "O-1", qty: str = "1", **kw: Any) -> OrderPlaceEvent:
    fields: dict[str, Any] = {
        "order_id": order_id,
        "instrument": "DEMO-EUR",
        "side": Side.BUY,
        "order_type": OrderType.MARKET,
        "qty": qty,
        "outcome": Outcome.OK,
        **kw,
    }
    return OrderPlaceEvent(**fields)


def trip(detail: str = "x") -> RailTripEvent:
    return RailTripEvent(rail=Rail.KILL_SWITCH, detail=detail)


# -- the table -------------------------------------------------------------------------------------


def test_every_kind_is_one_type_and_the_enum_is_derived_from_the_table() -> None:
    kinds = [cls.KIND for cls in EVENT_TYPES]
    assert len(kinds) == len(set(kinds))
    assert [member.value for member in EventKind] == kinds
    assert EventKind.RAIL_TRIP == "rail_trip"
    for cls in EVENT_TYPES:
        assert event_type(cls.KIND) is cls
        assert cls.CATEGORY in ACTIVITY_CATEGORIES
        assert set(cls.TEXT) <= set(cls.__struct_fields__), cls.__name__
    with pytest.raises(KeyError, match="no event kind 'nope'; the kinds are session_state, preflight_check"):
        event_type("nope")


def test_free_text_fields_are_exactly_the_str_fields_a_broker_or_an_exception_can_fill() -> None:
    """Fields typed with an enum, a number or a bool cannot carry a secret: only str ones are scanned."""
    for cls in EVENT_TYPES:
        hints = typing.get_type_hints(cls)
        for name in cls.TEXT:
            assert hints[name] in (str, str | None), (cls.__name__, name)


def test_metric_labels_come_from_enum_fields_of_the_table() -> None:
    values = label_values()
    assert values["outcome"] == {o.value for o in Outcome}
    assert values["kind"] == {k.value for k in MismatchKind}
    assert set(values) == {"state", "rail", "outcome", "from_state", "to_state", "kind", "op", "reason", "fault"}
    for spec in METRIC_SPECS:
        for source in spec.sources:
            if isinstance(source, Count):
                assert len(source.fields) == len(spec.labels), spec.name
                assert set(source.fields) <= set(source.kind.__struct_fields__), spec.name


def test_the_event_schema_is_generated_from_the_table_and_matches_real_lines(tmp_path: Path) -> None:
    import jsonschema

    schema = event_json_schema()
    assert [v["properties"]["kind"]["const"] for v in schema["oneOf"]] == [cls.KIND for cls in EVENT_TYPES]
    validator = jsonschema.Draft202012Validator(schema)
    result = run_scenario(builtin_scenario("failure_matrix"), out_dir=tmp_path)
    assert result.run_dir is not None
    for line in (result.run_dir / "events.jsonl").read_text().splitlines():
        assert not list(validator.iter_errors(json.loads(line))), line
    bad = {"kind": "fill", "payload": {"order_id": "O-1"}, "run_id": "r", "seq": 1, "ts": 1.0}
    assert list(validator.iter_errors(bad))


def test_money_is_exact_text_never_exponent_notation() -> None:
    assert money(Decimal("1.50")) == "1.50"
    assert money(Decimal("0.00000001")) == "0.00000001"
    assert money(Decimal("1E+2")) == "100"
    assert money(Decimal("-0")) == "-0"
    assert money(Decimal("123456789.123456789")) == "123456789.123456789"


def test_a_payload_reads_like_its_json_object() -> None:
    event = place(limit_price="99.50", order_type=OrderType.LIMIT)
    assert event["order_id"] == "O-1"
    assert event.get("reason") is None
    assert event.get("nope", "dflt") == "dflt"
    assert event.to_dict() == {
        "order_id": "O-1",
        "instrument": "DEMO-EUR",
        "side": "BUY",
        "order_type": "LIMIT",
        "qty": "1",
        "limit_price": "99.50",
        "outcome": "ok",
    }
    with pytest.raises(KeyError, match="order_place has no field 'nope'; its fields are order_id, instrument"):
        event["nope"]


def test_the_encoding_is_the_canonical_json_of_the_same_data() -> None:
    """One encoding per event (msgspec, sorted keys) gives the bytes the canonical JSON writer gives."""
    encode = msgspec.json.Encoder(order="sorted").encode
    for name in BUILTIN_SCENARIOS:
        for record in run_scenario(builtin_scenario(name)).events:
            assert encode(record.payload).decode() == dumps_line(record.payload.to_dict())


# -- the stream ----------------------------------------------------------------------------------


def test_seq_strictly_increasing_and_ts_from_the_clock() -> None:
    clock = SimClock(epoch_ms=1_000, step_ms=1_000)
    stream, log = stream_with_log(clock)
    stream.emit(place())
    clock.advance_step()
    clock.advance_ms(250)
    stream.emit(trip())
    first, second = log
    assert (first.seq, first.ts_ms, first.ts, first.kind) == (1, 1_000, 1.0, "order_place")
    assert (second.seq, second.ts_ms, second.ts, second.kind) == (2, 2_250, 2.25, EventKind.RAIL_TRIP)
    assert len(log) == 2
    assert stream.seq == 2


def test_seq_strictly_increasing_over_a_whole_run() -> None:
    result = run_scenario(builtin_scenario("failure_matrix"))
    seqs = [e.seq for e in result.events]
    assert seqs == list(range(1, len(seqs) + 1))
    ts = [e.ts_ms for e in result.events]
    assert ts == sorted(ts)
    assert {e.kind for e in result.events} <= set(EventKind)


def test_taps_and_listeners_see_every_event_in_order() -> None:
    stream, _log = stream_with_log()
    seen: list[tuple[str, int]] = []
    stream.tap(lambda seq, ts_ms, event: seen.append(("tap", seq)))
    stream.subscribe(lambda e: seen.append(("a", e.seq)))
    stream.subscribe(lambda e: seen.append(("b", e.seq)))
    stream.emit(trip())
    stream.emit(trip())
    assert seen == [("tap", 1), ("a", 1), ("b", 1), ("tap", 2), ("a", 2), ("b", 2)]


def test_every_kind_of_tap_is_called_as_it_was_given() -> None:
    # A callable object is called through its bound __call__ (cheaper per event): the same
    # object, the same arguments, as a function or a bound method is.
    class Counting:
        def __init__(self) -> None:
            self.seen: list[int] = []

        def __call__(self, seq: int, ts_ms: int, event: object) -> None:
            self.seen.append(seq)

    class Subclass(Counting):
        pass

    stream, _log = stream_with_log()
    by_object, by_subclass, by_method = Counting(), Subclass(), Counting()
    by_function: list[int] = []
    stream.tap(by_object)
    stream.tap(by_subclass)
    stream.tap(by_method.__call__)
    stream.tap(lambda seq, ts_ms, event: by_function.append(seq))
    stream.emit(trip())
    stream.emit(trip())
    assert by_object.seen == by_subclass.seen == by_method.seen == by_function == [1, 2]


def test_a_tap_of_some_kinds_hears_only_those_after_the_taps_of_every_kind() -> None:
    # The run taps its mismatch log for one kind alone (a dict lookup per event instead of a call).
    stream, _log = stream_with_log()
    seen: list[tuple[str, int]] = []
    stream.tap(lambda seq, ts_ms, event: seen.append(("mismatch", seq)), kinds=(ReconcileMismatchEvent,))
    stream.tap(lambda seq, ts_ms, event: seen.append(("every", seq)))
    stream.tap(
        lambda seq, ts_ms, event: seen.append(("trip or mismatch", seq)), kinds=(RailTripEvent, ReconcileMismatchEvent)
    )
    stream.emit(trip())
    stream.emit(ReconcileMismatchEvent(kind=MismatchKind.OVERFILL, order_id="O-1", detail="d"))
    stream.emit(FillEvent(order_id="O-1", fill_id="F1", qty="1", price="2", exec_seq=1, cum_qty="1"))
    assert seen == [
        ("every", 1),
        ("trip or mismatch", 1),
        ("every", 2),
        ("mismatch", 2),
        ("trip or mismatch", 2),
        ("every", 3),
    ]


def test_event_record_json_shape() -> None:
    record = EventRecord(7, 1_500, FillEvent(order_id="O-1", fill_id="F1", qty="1", price="2", exec_seq=1, cum_qty="1"))
    assert record.as_dict("run-9") == {
        "seq": 7,
        "ts": 1.5,
        "kind": "fill",
        "run_id": "run-9",
        "payload": {"order_id": "O-1", "fill_id": "F1", "qty": "1", "price": "2", "exec_seq": 1, "cum_qty": "1"},
    }
    assert repr(record).startswith("EventRecord(seq=7, ts_ms=1500, payload=FillEvent(order_id='O-1'")


def test_the_event_log_counts_by_kind_and_fields() -> None:
    stream, log = stream_with_log()
    stream.emit(place("O-1"))
    stream.emit(place("O-2", outcome=Outcome.REJECTED, reason="no"))
    stream.emit(trip())
    assert log.count("order_place") == 2
    assert log.count(EventKind.ORDER_PLACE, outcome="rejected") == 1
    assert log.count("order_place", outcome=Outcome.OK, order_id="O-1") == 1
    assert log.count("order_place", no_such_field=1) == 0
    assert [r.payload["order_id"] for r in log.of("order_place")] == ["O-1", "O-2"]
    assert log[-1].kind == "rail_trip"
    with pytest.raises(TypeError, match="needs the event kind"):
        log.count()


def test_the_stream_redacts_free_text_before_any_listener_sees_it() -> None:
    stream, log = stream_with_log(redactor=Redactor(("hunter2-secret",)))
    stream.emit(place(reason="pw is hunter2-secret", outcome=Outcome.REJECTED))
    stream.emit(ReconcileMismatchEvent(kind=MismatchKind.UNKNOWN_FILL, order_id="hunter2-secret", detail="d"))
    assert log[0].payload["reason"] == "pw is [REDACTED]"
    assert log[1].payload["order_id"] == "[REDACTED]"
    assert stream.last_records()[0].payload["reason"] == "pw is [REDACTED]"


def test_kinds_without_free_text_are_never_scanned() -> None:
    class Spy(Redactor):
        scanned = 0

        def redact_event(self, event: Any) -> Any:
            Spy.scanned += 1
            return super().redact_event(event)

    stream, _ = stream_with_log(redactor=Spy(("a-secret",)))
    stream.emit(
        msgspec.convert({"order_id": "O", "from_state": "NEW", "to_state": "ACK"}, event_type("order_transition"))
    )
    assert Spy.scanned == 0
    stream.emit(trip())
    assert Spy.scanned == 1


def test_the_stream_keeps_only_the_last_events() -> None:
    stream, _ = stream_with_log()
    for i in range(8):
        stream.emit(place(f"O-{i}"))
    assert [r.seq for r in stream.last_records()] == [4, 5, 6, 7, 8]


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
    stream = EventStream("run-1", SimClock(), redactor=Redactor(("tok-0123456789",)))
    audit = AuditLog("run-1", events_file=JsonlFile(tmp_path / "e.jsonl"), audit_file=JsonlFile(tmp_path / "a.jsonl"))
    stream.tap(audit)
    stream.emit(trip("using tok-0123456789"))
    audit.close()
    for name in ("e.jsonl", "a.jsonl"):
        text = (tmp_path / name).read_text()
        assert "tok-0123456789" not in text
        assert "[REDACTED]" in text


# -- the audit log ------------------------------------------------------------------------------


def _audit(n: int = 5, run_id: str = "run-1") -> AuditLog:
    stream = EventStream(run_id, SimClock(epoch_ms=1_000, step_ms=1_000))
    audit = AuditLog(run_id)
    stream.tap(audit)
    for i in range(n):
        stream.emit(place(f"O-{i}", qty=str(i)))
    return audit


def _audit_lines(n: int = 5) -> list[str]:
    return list(_audit(n).lines())


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
        "payload": place("O-0", qty="0").to_dict(),
    }
    # canonical JSON: compact, sorted keys, "event" before "prev_sha256"
    assert lines[0].startswith('{"event":{"kind":"order_place","payload":{"instrument":"DEMO-EUR","order_id":"O-0"')
    assert lines[0] == dumps_line(first)


def test_audit_head_is_the_hash_of_the_last_line_without_its_run_id() -> None:
    """The run id is left out of what is hashed, so two runs that behave the same share a head."""
    audit = _audit(2)
    lines = list(audit.lines())
    assert '"run_id":"run-1",' in lines[-1]
    chained = [line.replace('"run_id":"run-1",', "") for line in lines]
    assert audit.head == hashlib.sha256(chained[-1].encode()).hexdigest()
    assert json.loads(lines[1])["prev_sha256"] == hashlib.sha256(chained[0].encode()).hexdigest()
    assert audit.last_seq == 2
    assert _audit(2, run_id="another-run").head == audit.head
    assert AuditLog("fresh").head == GENESIS_HASH


def test_a_modified_line_is_detected() -> None:
    lines = _audit_lines()
    lines[2] = lines[2].replace('"qty":"2"', '"qty":"200"')
    assert verify_audit_lines(lines) == ["line 4: hash chain broken (prev_sha256 does not match line 3)"]


def test_a_modified_last_line_is_detected_by_the_head() -> None:
    # the chain cannot see an edit of the last line; the head the log keeps can
    audit = _audit(1)
    (line,) = audit.lines()
    edited = line.replace('"qty":"0"', '"qty":"9"').replace('"run_id":"run-1",', "")
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
    audit(1, 0, trip())
    audit(3, 0, trip())
    with pytest.raises(ValueError, match="audit log is append-only: seq 3 after 3"):
        audit(3, 0, trip())
    with pytest.raises(ValueError, match="seq 2 after 3"):
        audit(2, 0, trip())
    assert verify_audit_lines(list(audit.lines())) == []


def test_streaming_audit_log_writes_events_and_audit_files(tmp_path: Path) -> None:
    stream = EventStream("run-1", SimClock())
    audit = AuditLog(
        "run-1", events_file=JsonlFile(tmp_path / "events.jsonl"), audit_file=JsonlFile(tmp_path / "audit.jsonl")
    )
    stream.tap(audit, flush=audit.flush)
    for i in range(3):
        stream.emit(place(f"O-{i}"))
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


def test_lines_reach_the_files_at_step_boundaries_only(tmp_path: Path) -> None:
    """An interruption loses at most the step in progress: what is on disk is whole steps."""
    stream = EventStream("run-1", SimClock())
    audit = AuditLog("run-1", events_file=JsonlFile(tmp_path / "e.jsonl"), audit_file=JsonlFile(tmp_path / "a.jsonl"))
    stream.tap(audit, flush=audit.flush)
    stream.emit(place("O-1"))
    stream.emit(place("O-2"))
    assert (tmp_path / "e.jsonl.tmp").read_bytes() == b""  # queued, not written
    stream.flush()  # the step ended
    assert len((tmp_path / "e.jsonl.tmp").read_bytes().splitlines()) == 2
    assert len((tmp_path / "a.jsonl.tmp").read_bytes().splitlines()) == 2
    stream.emit(place("O-3"))
    assert len((tmp_path / "e.jsonl.tmp").read_bytes().splitlines()) == 2
    audit.close()
    assert len((tmp_path / "e.jsonl").read_bytes().splitlines()) == 3


def test_a_short_write_is_completed(tmp_path: Path) -> None:
    """A write that takes only part of a step's lines (a signal, a nearly full disk) is resumed."""

    class Trickle:
        """A file that takes at most 7 bytes per write."""

        closed = False

        def __init__(self) -> None:
            self.data = b""

        def write(self, data: bytes | memoryview) -> int:
            self.data += bytes(data[:7])
            return min(7, len(data))

    out = JsonlFile(tmp_path / "e.jsonl")
    trickle = Trickle()
    out._fh.close()  # type: ignore[union-attr]
    out._fh = trickle  # type: ignore[assignment]
    out.write_line(b'{"a":1}')
    out.write_line('{"b":"two"}')
    out.flush()
    assert trickle.data == b'{"a":1}\n{"b":"two"}\n'
    assert out.pending == []


def test_a_run_flushes_at_every_step(tmp_path: Path) -> None:
    flushes: list[int] = []
    scenario = builtin_scenario("happy_path")
    from pytest_peak_dryrun.core.dryrun import assemble_run

    parts = assemble_run(scenario, run_id="r", out_dir=tmp_path)
    parts.stream.tap(lambda *a: None, flush=lambda: flushes.append(parts.clock.step))
    assert parts.orchestrator.preflight()
    parts.orchestrator.run(parts.steps)
    parts.orchestrator.stop()
    parts.audit.close()
    assert flushes[: scenario.steps] == list(range(1, scenario.steps + 1))


def test_export_jsonl(tmp_path: Path) -> None:
    audit = _audit(1)
    audit.export_jsonl(tmp_path / "out" / "audit.jsonl")
    text = (tmp_path / "out" / "audit.jsonl").read_text()
    assert text.endswith("\n")
    assert verify_audit_lines(text.splitlines()) == []


def test_a_run_audit_file_verifies(tmp_path: Path) -> None:
    result = run_scenario(builtin_scenario("failure_matrix"), out_dir=tmp_path)
    assert result.run_dir is not None
    lines = (result.run_dir / "audit.jsonl").read_text().splitlines()
    assert len(lines) == len(result.events)
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
    with pytest.raises(ValueError, match="already closed"):
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
    audit(1, 0, trip())
    audit.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_failing_run_leaves_no_half_files(tmp_path: Path) -> None:
    def explode(event: EventRecord) -> None:
        if isinstance(event.payload, FillEvent):
            raise RuntimeError("listener failed")

    with pytest.raises(RuntimeError, match="listener failed"):
        run_scenario(builtin_scenario("happy_path"), out_dir=tmp_path, listeners=[explode])
    run_dir = tmp_path / "runs" / "happy_path"
    assert not run_dir.exists()  # no half file, and no empty folder either


def test_the_readme_lists_every_kind_and_field_of_the_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- events-table:")
    block = readme[readme.index("\n", start) + 1 : readme.index("<!-- /events-table -->")]
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    expected = []
    for cls in EVENT_TYPES:
        fields = ", ".join(f"`{f.name}`" + ("" if f.required else "?") for f in msgspec.structs.fields(cls))
        expected.append(f"| `{cls.KIND}` | `{cls.__name__}` | {fields} | {cls.CATEGORY} |")
    assert rows == expected
