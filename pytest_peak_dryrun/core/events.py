"""The one event stream of a dry run, and the append-only, hash-chained audit log.

Every fact (a state change, an order placed, a fill, a retry, a mismatch, a rail trip) is
one :class:`EventRecord` emitted on one :class:`EventStream`. Listeners (the metrics
collector, the audit log, the files under ``runs/<run_id>/``, hooks of other suites) see
each event once, in order. Nothing keeps every event in memory unless someone asks for it
(:class:`EventBuffer`), so a long run streams to disk in constant memory.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import IO, Any, Final

from .audit_chain import AUDIT_KEY_ENV, GENESIS_HASH, AuditChainVerifier, audit_mac, chained_form, run_id_member
from .canonical import dumps_line
from .clock import SimClock

__all__ = [
    "GENESIS_HASH",
    "MIN_SECRET_LENGTH",
    "AuditLog",
    "EventBuffer",
    "EventKind",
    "EventListener",
    "EventRecord",
    "EventStream",
    "JsonlFile",
    "Redactor",
    "verify_audit_lines",
]


class EventKind(str, Enum):
    """Every kind of fact a dry run records. The payload keys of each are in the README."""

    SESSION_STATE = "session_state"
    PREFLIGHT_CHECK = "preflight_check"
    ORDER_PLACE = "order_place"
    ORDER_CANCEL = "order_cancel"
    ORDER_QUERY = "order_query"
    ORDER_TRANSITION = "order_transition"
    FILL = "fill"
    FILL_DUPLICATE_IGNORED = "fill_duplicate_ignored"
    FILL_OUT_OF_ORDER = "fill_out_of_order"
    FAULT_INJECTED = "fault_injected"
    FAULT_SKIPPED = "fault_skipped"
    RETRY = "retry"
    RECONCILE_PASS = "reconcile_pass"
    RECONCILE_MISMATCH = "reconcile_mismatch"
    RAIL_TRIP = "rail_trip"


class EventRecord:
    """One event on the hot path: a slotted record, converted to JSON only at a sink."""

    __slots__ = ("kind", "payload", "seq", "ts_ms")

    def __init__(self, seq: int, ts_ms: int, kind: str, payload: dict[str, Any]) -> None:
        self.seq = seq
        self.ts_ms = ts_ms
        self.kind = kind
        self.payload = payload

    @property
    def ts(self) -> float:
        return self.ts_ms / 1000

    def as_dict(self, run_id: str) -> dict[str, Any]:
        """The JSON shape of ``events.jsonl``: ``{seq, ts, kind, run_id, payload}``."""
        return {
            "seq": self.seq,
            "ts": self.ts_ms / 1000,
            "kind": self.kind,
            "run_id": run_id,
            "payload": self.payload,
        }

    def __repr__(self) -> str:
        return f"EventRecord(seq={self.seq}, ts_ms={self.ts_ms}, kind={self.kind!r}, payload={self.payload!r})"


EventListener = Callable[[EventRecord], None]
#: Value types that cannot hide a nested secret-looking key.
_FLAT: Final = frozenset({str, int, bool, float, Decimal, type(None)})
#: Registered secrets shorter than this are not used: masking every "abc" in every file would
#: make the artifacts unreadable (and any short value is a poor secret anyway).
MIN_SECRET_LENGTH: Final = 4
_CLEAN_MAX_LENGTH: Final = 64
_OS_ERROR_TEXT: Final = ("strerror", "filename", "filename2")
_CLEAN_MAX_ENTRIES: Final = 4096


def _secret_forms(secret: str) -> set[str]:
    """The texts a secret can take in our files: as is, JSON-escaped and HTML-escaped."""
    return {secret, json.dumps(secret, ensure_ascii=False)[1:-1], html.escape(secret, quote=True)}


class Redactor:
    """Keeps secrets out of every artifact.

    A payload key that looks like a credential has its value replaced, and any string that
    contains a registered secret (for example the value of an environment variable the
    adapter reads its token from, which a broker may echo back in a reject reason) has the
    secret replaced by :attr:`MASK`. Only string values (and keys) are scanned, never
    numbers. All secrets are looked for with one compiled alternation, longest first, so a
    secret that contains another is masked whole; overlapping matches are merged, so no
    fragment of a secret survives next to a mask.

    Both checks are cheap for the payloads the core emits (ids, enums, decimals): a flat
    payload whose keys were seen before costs one regex scan per string value, or nothing
    at all when no secret is registered.
    """

    MASK: Final = "[REDACTED]"
    _SECRET_KEY = re.compile(
        r"secret|token|passw|pwd|api[_-]?key|credential|auth|private[_-]?key|session[_-]?key",
        re.IGNORECASE,
    )

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: tuple[str, ...] = ()
        self._forms: tuple[str, ...] = ()
        self._search: Callable[[str], object] | None = None
        self._key_is_secret: dict[str, bool] = {}
        self._safe_keys: set[str] = set()
        #: Short strings already scanned and found clean (ids, enums repeat from event to event).
        self._clean: set[str] = set()
        self._register(secrets)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The registered values (at least :data:`MIN_SECRET_LENGTH` long), longest first."""
        return self._secrets

    def add_secret(self, value: str) -> None:
        self._register((*self._secrets, value))

    def _register(self, values: Iterable[str]) -> None:
        kept = {value for value in values if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH}
        # Sorted, never set order: the pattern (and so every mask) is the same in any process.
        self._secrets = tuple(sorted(kept, key=lambda s: (-len(s), s)))
        forms = {form for secret in kept for form in _secret_forms(secret)}
        self._forms = tuple(sorted(forms, key=lambda s: (-len(s), s)))
        self._search = re.compile("|".join(map(re.escape, self._forms))).search if self._forms else None
        self._safe_keys.clear()  # a key or value found harmless before may hold the new secret
        self._clean.clear()

    def key_is_secret(self, key: str) -> bool:
        known = self._key_is_secret.get(key)
        if known is None:
            known = self._key_is_secret[key] = bool(self._SECRET_KEY.search(key))
        return known

    def contains_secret(self, text: str) -> bool:
        """True when ``text`` holds a registered secret (raw, JSON- or HTML-escaped)."""
        return self._search is not None and self._search(text) is not None

    def redact_text(self, text: str) -> str:
        """``text`` with every occurrence of a registered secret replaced by :attr:`MASK`."""
        if self._search is None or self._search(text) is None:
            return text
        spans: list[tuple[int, int]] = []
        for form in self._forms:
            start = text.find(form)
            while start != -1:
                spans.append((start, start + len(form)))
                start = text.find(form, start + 1)
        spans.sort()
        merged: list[list[int]] = []
        for span_start, span_end in spans:
            if merged and span_start <= merged[-1][1]:  # overlaps or touches: one mask for both
                merged[-1][1] = max(merged[-1][1], span_end)
            else:
                merged.append([span_start, span_end])
        out: list[str] = []
        position = 0
        for span_start, span_end in merged:
            out += (text[position:span_start], self.MASK)
            position = span_end
        out.append(text[position:])
        return "".join(out)

    def redact_exception(self, exc: BaseException) -> None:
        """Mask registered secrets in the text of ``exc`` and of its causes, in place.

        For an error that leaves a run (an adapter raising ``RuntimeError(f"... {key}")``):
        its message ends up in a traceback, a JUnit XML file or a CI log. The ``args`` an
        exception's text is built from are rewritten; its type and traceback stay.
        """
        search = self._search
        pending: list[BaseException | None] = [exc]
        seen: list[BaseException] = []
        while pending:
            current = pending.pop()
            if current is None or any(current is done for done in seen):
                continue
            seen.append(current)
            if search is not None and any(isinstance(arg, str) and search(arg) for arg in current.args):
                current.args = tuple(self.redact_text(a) if isinstance(a, str) else a for a in current.args)
            # Text kept beside args: OSError's strerror/filename, a broker error's ``reason``.
            names = [*getattr(current, "__dict__", {}), *(_OS_ERROR_TEXT if isinstance(current, OSError) else ())]
            for name in names:
                value = getattr(current, name, None)
                if isinstance(value, str) and search is not None and search(value):
                    setattr(current, name, self.redact_text(value))
            pending += (current.__cause__, current.__context__)

    def redact(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` made safe to write anywhere (``payload`` itself when nothing is masked).

        The fast path covers what the core emits on the hot path: flat payloads whose keys
        were all seen before and found harmless, with no string value holding a secret.
        """
        if self._safe_keys.issuperset(payload):
            search = self._search
            clean = self._clean
            for value in payload.values():
                kind = type(value)
                if kind is str:
                    if search is None or value in clean:
                        continue
                    if search(value) is not None:
                        break
                    if len(value) <= _CLEAN_MAX_LENGTH:
                        if len(clean) >= _CLEAN_MAX_ENTRIES:
                            clean.clear()  # bounded memory; ids and enums refill it at once
                        clean.add(value)
                elif kind not in _FLAT:
                    break
            else:
                return payload
        return self._redact(payload)

    def redact_data(self, data: Any) -> Any:
        """JSON-like ``data`` (documents, reports) with registered secrets masked in every string.

        Unlike :meth:`redact`, keys are not judged by their names: a document's shape is
        ours. Returns ``data`` itself when no secret is registered.
        """
        if self._search is None:
            return data
        if isinstance(data, str):
            return self.redact_text(data)
        if isinstance(data, Mapping):
            return {(self.redact_text(k) if isinstance(k, str) else k): self.redact_data(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.redact_data(item) for item in data]
        return data

    def _redact(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in payload.items():
            if self.key_is_secret(key):
                out[key] = self.MASK
                continue
            if self._search is not None and self._search(key) is not None:
                key = self.redact_text(key)
            else:
                self._safe_keys.add(key)
            if isinstance(value, str):
                out[key] = self.redact_text(value)
            elif isinstance(value, Mapping):
                out[key] = self._redact(value)
            elif isinstance(value, (list, tuple)):
                out[key] = [self._redact_item(item) for item in value]
            else:
                out[key] = value
        return out

    def _redact_item(self, item: Any) -> Any:
        """One element of a list value: a secret inside a list is still a secret."""
        if isinstance(item, str):
            return self.redact_text(item)
        if isinstance(item, Mapping):
            return self._redact(item)
        if isinstance(item, (list, tuple)):
            return [self._redact_item(inner) for inner in item]
        return item


class EventStream:
    """Assigns ``seq`` and ``ts`` to each fact and hands it to every listener, in order."""

    __slots__ = ("_listeners", "clock", "redactor", "run_id", "seq")

    def __init__(self, run_id: str, clock: SimClock, *, redactor: Redactor | None = None) -> None:
        self.run_id = run_id
        self.clock = clock
        self.redactor = redactor if redactor is not None else Redactor()
        self.seq = 0
        self._listeners: list[EventListener] = []

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def emit(self, kind: str, payload: dict[str, Any]) -> EventRecord:
        self.seq += 1
        event = EventRecord(self.seq, self.clock.now_ms, kind, self.redactor.redact(payload))
        for listener in self._listeners:
            listener(event)
        return event


class EventBuffer:
    """Keeps events in memory: only for callers that asked for ``.events``."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[EventRecord] = []

    def __call__(self, event: EventRecord) -> None:
        self.events.append(event)

    def __iter__(self) -> Iterator[EventRecord]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


class JsonlFile:
    """A JSON Lines file written atomically: lines go to ``<name>.tmp``, renamed on close.

    An interrupted run leaves only the ``.tmp`` file, which :meth:`abort` removes, so a
    reader never sees a half-written ``events.jsonl``.
    """

    __slots__ = ("_fh", "path", "tmp_path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp_path = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = open(self.tmp_path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115

    def write_line(self, line: str) -> None:
        assert self._fh is not None, f"{self.path} is already closed"
        self._fh.write(line + "\n")

    def accepts_writes(self) -> bool:
        """True while the file is open for writing and a flush succeeds."""
        if self._fh is None or self._fh.closed or not self._fh.writable():
            return False
        try:
            self._fh.flush()
        except OSError:
            return False
        return True

    def close(self) -> None:
        if self._fh is None:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        os.replace(self.tmp_path, self.path)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.tmp_path.unlink(missing_ok=True)


class AuditLog:
    """Append-only, redacted, hash-chained record of every event of one run.

    Each audit line is ``{"event": <event>, "prev_sha256": <sha256 of the previous line>}``
    (hashed without its event's run id) so a verifier can prove that nothing was edited,
    dropped or reordered. With a ``key`` each line also carries ``hmac_sha256`` and the
    chain cannot be rebuilt without the key (the format, and why the head depends neither on
    the key nor on the run id: :mod:`.audit_chain`). With ``events`` and/or ``audit`` files
    given, lines stream to disk and nothing is kept in memory; without files, lines are kept
    so :meth:`export_jsonl` can write them later.
    """

    __slots__ = ("_key", "_last_seq", "_lines", "_member", "audit_file", "count", "events_file", "head", "run_id")

    def __init__(
        self,
        run_id: str,
        *,
        events_file: JsonlFile | None = None,
        audit_file: JsonlFile | None = None,
        key: bytes | None = None,
    ) -> None:
        self.run_id = run_id
        self.events_file = events_file
        self.audit_file = audit_file
        #: the chain's head: the same with or without a key, and whatever the run is called.
        self.head = GENESIS_HASH
        #: lines written so far
        self.count = 0
        self._key = key
        self._member = run_id_member(run_id)
        self._last_seq = 0
        self._lines: list[str] | None = None if audit_file is not None else []

    def __call__(self, event: EventRecord) -> None:
        self.append(event)

    def append(self, event: EventRecord) -> None:
        if event.seq <= self._last_seq:
            raise ValueError(f"audit log is append-only: seq {event.seq} after {self._last_seq}")
        self._last_seq = event.seq
        event_line = dumps_line(event.as_dict(self.run_id))
        # Built by hand so the event is serialized once; keys stay sorted
        # (event < hmac_sha256 < prev_sha256).
        audit_line = f'{{"event":{event_line},"prev_sha256":"{self.head}"}}'
        unkeyed = audit_line.encode()
        chained = chained_form(unkeyed, self._member)
        if chained is None:  # pragma: no cover - as_dict always writes the run id
            raise ValueError(f"audit line of run {self.run_id!r} has no run_id member: {audit_line[:200]}")
        if self._key is not None:
            mac = audit_mac(self._key, unkeyed)
            audit_line = f'{{"event":{event_line},"hmac_sha256":"{mac}","prev_sha256":"{self.head}"}}'
        self.head = hashlib.sha256(chained).hexdigest()
        self.count += 1
        if self.events_file is not None:
            self.events_file.write_line(event_line)
        if self.audit_file is not None:
            self.audit_file.write_line(audit_line)
        if self._lines is not None:
            self._lines.append(audit_line)

    @property
    def keyed(self) -> bool:
        return self._key is not None

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def accepts_writes(self) -> bool:
        """The preflight's audit check: every sink of this log can take a line now."""
        return all(sink.accepts_writes() for sink in (self.events_file, self.audit_file) if sink is not None)

    def lines(self) -> Iterator[str]:
        """The audit lines kept in memory (only when not streaming to a file)."""
        if self._lines is None:
            raise RuntimeError("this audit log streams to a file; read that file instead")
        return iter(self._lines)

    def export_jsonl(self, path: Path) -> None:
        out = JsonlFile(path)
        try:
            for line in self.lines():
                out.write_line(line)
        except BaseException:
            out.abort()
            raise
        out.close()

    def close(self) -> None:
        for sink in (self.events_file, self.audit_file):
            if sink is not None:
                sink.close()

    def abort(self) -> None:
        for sink in (self.events_file, self.audit_file):
            if sink is not None:
                sink.abort()


def verify_audit_lines(
    lines: Iterable[str | bytes], *, key: bytes | None = None, run_id: str | None = None
) -> list[str]:
    """Problems with a hash chain, each ``line N: problem`` (empty list when it holds).

    With ``key`` every line's HMAC must verify. Without it a keyed log is reported as one
    that cannot be verified here. ``run_id`` defaults to the first line's. For files of any
    size use :class:`~.audit_chain.AuditChainVerifier` line by line (``validate`` does).
    """
    problems: list[str] = []
    chain = AuditChainVerifier(key=key, run_id=run_id)
    last_seq = 0
    for number, line in enumerate(lines, start=1):
        raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        parts, found = chain.feed(raw)
        if parts is None:
            try:
                json.loads(raw)
            except (ValueError, RecursionError) as exc:
                found = [f"not JSON ({exc})"]
        problems += [f"line {number}: {problem}" for problem in found]
        if parts is None:
            continue
        try:
            seq = json.loads(parts.event).get("seq")
        except (ValueError, RecursionError, AttributeError):
            seq = None
        if type(seq) is not int or seq <= last_seq:
            problems.append(f"line {number}: seq {seq!r} is not strictly increasing")
        else:
            last_seq = seq
    if key is None and chain.keyed_lines:
        problems.append(f"the chain is keyed (HMAC-SHA256): set {AUDIT_KEY_ENV} (pass key=) to verify it")
    return problems
