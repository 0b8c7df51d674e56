"""The append-only, hash-chained audit log and the ``events.jsonl`` file, written as bytes.

Each event is encoded once (msgspec, sorted keys) and the bytes are used three times: the
``events.jsonl`` line, the ``audit.jsonl`` line that embeds it with the chain link, and the
sha256 of the chained form (the line format and why the run id is left out of the hash:
:mod:`.audit_chain`). Lines collect in memory and reach the files in one write per file at
each step boundary and at the end (:meth:`AuditLog.flush`): an interruption loses at most the
step in progress, and only ``.tmp`` files, which the next session removes.

Per event that is one encoding, one sha256 and three ``bytes.join`` (the chained form, the
two lines with their newlines): each line is built in one allocation from its parts, and a
step's lines reach each file as one joined buffer in one write.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Final

import msgspec

from .audit_chain import AUDIT_KEY_ENV, GENESIS_HASH, AuditChainVerifier, audit_mac, run_id_member
from .events import EVENT_TYPES, Event

__all__ = ["AuditLog", "JsonlFile", "verify_audit_lines"]

_ENCODE: Final = msgspec.json.Encoder(order="sorted").encode
#: ``{"kind":"<kind>","payload":`` per event type: the constant head of its line.
_HEADS: Final[dict[type[Event], bytes]] = {
    cls: b'{"kind":"' + cls.KIND.encode() + b'","payload":' for cls in EVENT_TYPES
}
_GENESIS: Final = GENESIS_HASH.encode()
_sha256: Final = hashlib.sha256
_join: Final = b"".join
_EVENT: Final = b'{"event":'
_PREV: Final = b',"prev_sha256":"'
_END: Final = b'"}'
_END_LINE: Final = b'"}\n'


class JsonlFile:
    """A JSON Lines file written atomically: lines go to ``<name>.tmp``, renamed on close.

    Lines are kept in memory until :meth:`flush` writes them with one system call. An
    interrupted run leaves only the ``.tmp`` file, which :meth:`abort` removes, so a reader
    never sees a half-written ``events.jsonl``. ``pending`` holds the queued lines *with*
    their newline (a writer on the hot path builds it into the line it appends).
    """

    __slots__ = ("_fh", "path", "pending", "tmp_path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp_path = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] | None = open(self.tmp_path, "wb", buffering=0)  # noqa: SIM115
        #: lines, each ending in its newline, queued for the next :meth:`flush`
        self.pending: list[bytes] = []

    def write_line(self, line: bytes | str) -> None:
        """Queue one line (without its newline) for the next :meth:`flush`."""
        if self._fh is None:
            raise ValueError(f"{self.path} is already closed")
        self.pending.append((line.encode() if isinstance(line, str) else line) + b"\n")

    def flush(self) -> None:
        if self.pending and self._fh is not None:
            data = _join(self.pending)
            self.pending.clear()
            written = self._fh.write(data) or 0
            if written < len(data):  # a short write (a signal, a full disk): write the rest
                view = memoryview(data)[written:]
                while view:
                    view = view[self._fh.write(view) or 0 :]

    def accepts_writes(self) -> bool:
        """True while the file is open for writing and a flush succeeds."""
        if self._fh is None or self._fh.closed or not self._fh.writable():
            return False
        try:
            self.flush()
        except OSError:
            return False
        return True

    def close(self) -> None:
        if self._fh is None:
            return
        self.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        os.replace(self.tmp_path, self.path)

    def abort(self) -> None:
        self.pending.clear()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.tmp_path.unlink(missing_ok=True)


class AuditLog:
    """Append-only, redacted, hash-chained record of every event of one run.

    Each audit line is ``{"event": <event>, "prev_sha256": <link>}`` so a verifier can
    prove that nothing was edited, dropped or reordered. With a ``key`` each line also
    carries ``hmac_sha256`` and the chain cannot be rebuilt without the key. With
    ``events_file`` and/or ``audit_file``, lines stream to disk and nothing is kept in
    memory; without files, audit lines are kept so :meth:`export_jsonl` can write them.

    It is a tap of the event stream: called with ``(seq, ts_ms, event)`` for every event.
    """

    __slots__ = (
        "_audit",
        "_events",
        "_head",
        "_key",
        "_last_seq",
        "_lines",
        "_rid",
        "_ts",
        "_ts_ms",
        "audit_file",
        "count",
        "events_file",
        "run_id",
    )

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
        #: lines written so far
        self.count = 0
        self._head = _GENESIS
        self._key = key
        self._rid = b"," + run_id_member(run_id)
        # the files' queues, appended to directly on the hot path (one list append per line, each
        # line with its newline); without an audit file its lines are kept in ``_lines``
        self._events: list[bytes] | None = None if events_file is None else events_file.pending
        self._audit: list[bytes] | None = audit_file.pending if audit_file is not None else []
        self._last_seq = 0
        self._ts_ms = -1
        self._ts = b""
        self._lines: list[bytes] | None = None if audit_file is not None else self._audit

    @property
    def head(self) -> str:
        """The chain's head: the same with or without a key, and whatever the run is called."""
        return self._head.decode("ascii")

    def __call__(self, seq: int, ts_ms: int, event: Event) -> None:
        if seq <= self._last_seq:
            raise ValueError(f"audit log is append-only: seq {seq} after {self._last_seq}")
        self._last_seq = seq
        if ts_ms != self._ts_ms:  # events of one step share their time: format it once
            self._ts_ms = ts_ms
            self._ts = repr(ts_ms / 1000).encode()
        # The event's line is {"kind":..,"payload":..,"run_id":..,"seq":..,"ts":..} (sorted keys),
        # put together from its parts, so the chained form (the line without its run id) needs
        # no second encoding: <kind head><payload>[,"run_id":..]<tail>.
        kind = _HEADS[type(event)]
        payload = _ENCODE(event)
        tail = b',"seq":%d,"ts":%b}' % (seq, self._ts)
        head = self._head
        self._head = _sha256(_join((_EVENT, kind, payload, tail, _PREV, head, _END))).hexdigest().encode()
        if self._events is not None:
            self._events.append(_join((kind, payload, self._rid, tail, b"\n")))
        if self._key is None:
            audit_line = _join((_EVENT, kind, payload, self._rid, tail, _PREV, head, _END_LINE))
        else:
            event_line = _join((kind, payload, self._rid, tail))
            mac = audit_mac(self._key, _join((_EVENT, event_line, _PREV, head, _END))).encode()
            audit_line = _join((_EVENT, event_line, b',"hmac_sha256":"', mac, b'"', _PREV, head, _END_LINE))
        self.count += 1
        if self._audit is not None:
            self._audit.append(audit_line)

    append = __call__

    @property
    def keyed(self) -> bool:
        return self._key is not None

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def flush(self) -> None:
        """Write what is queued (the stream calls this at each step boundary)."""
        for sink in (self.events_file, self.audit_file):
            if sink is not None:
                sink.flush()

    def accepts_writes(self) -> bool:
        """The preflight's audit check: every sink of this log can take a line now."""
        return all(sink.accepts_writes() for sink in (self.events_file, self.audit_file) if sink is not None)

    def lines(self) -> Iterator[str]:
        """The audit lines kept in memory (only when not streaming to a file)."""
        if self._lines is None:
            raise RuntimeError("this audit log streams to a file; read that file instead")
        return (line[:-1].decode() for line in self._lines)  # without the newline

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
