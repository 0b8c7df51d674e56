"""``peak-dryrun validate``: prove a snapshot directory is complete, untouched and consistent.

Read-only, and it never crashes on what it reads: every problem is a finding printed as
``path: problem`` or ``path:line: problem``. The checks:

1. **Schemas**: every JSON document against the JSON Schemas shipped in
   ``pytest_peak_dryrun/schemas/``, in canonical form; every line of ``events.jsonl``
   (:func:`decode_event_line`) and ``audit.jsonl`` (:func:`decode_audit_line`).
2. **Manifest**: every file listed in ``index.json`` exists, is a regular file and has the
   listed sha256; every file the writer writes is listed, and nothing else is: any other
   file, link or leftover anywhere under DIR is a finding.
3. **Audit log**, streamed one line at a time (flat memory): each run's hash chain holds
   (with ``PEAK_DRYRUN_AUDIT_KEY`` every HMAC too), ``events.jsonl`` holds exactly the events
   of ``audit.jsonl`` in order, and the chain's head and length are the ones in the run's
   ``report.json``.
4. **Invariants**: order conservation; every counter of ``metrics.json`` (and of the run's
   entry in ``dryrun_metrics_snapshot.json``) equals the count recomputed from the events;
   rail trips and mismatches in health/status agree with the events.
5. **Reports**: each ``report.json`` equals the report rebuilt from the run's health, status
   and metrics documents by the builder the writer uses (:func:`~.core.documents.build_report`,
   :func:`~.core.documents.with_audit`); one a ``pytest_dryrun_modify_report`` hook changed
   is marked ``modified_by_hook`` and only its ``audit`` can be checked (a note says so).
6. **Roll-ups**: the session files and the index say what the run files say (re-rendered in
   memory and compared; nothing is written); with the key, the index ``seal`` verifies.

The two per-line functions are the only places that decode a line, so a typed decoder
(msgspec, issue 13) can replace them without touching the rest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import msgspec
from pydantic import ValidationError

from ..core.audit_chain import AUDIT_KEY_ENV, AuditChainVerifier, AuditLineParts, audit_key_id
from ..core.canonical import plain_number
from ..core.documents import series_key
from ..core.events import EVENT_TYPES, METRIC_SPECS, Count, Event, ReconcileMismatchEvent, SessionStateEvent
from ..core.metrics import MetricsCollector
from ..core.writer import sha256_file
from ..report.load import SnapshotError, load_json
from .status_report import check_snapshot_dir

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_LINE_BYTES",
    "DecodedEvent",
    "LineError",
    "Problem",
    "decode_audit_line",
    "decode_event_line",
    "iter_lines",
    "validate_dir",
]

_SPECS: Final = {spec.name: spec for spec in METRIC_SPECS}
_TRIPS: Final = "safety_rail_trips_total"
_MISMATCHES: Final = "reconcile_mismatches_total"
_SESSION_SCHEMAS: Final = {
    "dryrun_health_snapshot.json": "health-session",
    "dryrun_status_snapshot.json": "status-session",
    "dryrun_metrics_snapshot.json": "metrics-session",
}
_RUN_SCHEMAS: Final = {
    "health.json": "health",
    "status.json": "status",
    "metrics.json": "metrics",
    "report.json": "report",
}
#: Problems reported per file before summarising the rest.
MAX_ERRORS: Final = 5
#: Files under DIR that are not listed, reported one by one before summarising the rest.
MAX_UNLISTED: Final = 20
#: A longer ``events.jsonl``/``audit.jsonl`` line is a finding and is not decoded (memory stays flat).
MAX_LINE_BYTES: Final = 8 << 20
#: A larger JSON document is a finding and is not read (the writer's are kilobytes).
MAX_DOCUMENT_BYTES: Final = 64 << 20
_REBUILT: Final = "the report rebuilt from health.json, status.json and metrics.json"
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Problem:
    """One finding (or, with ``note``, something validate could not check and says so)."""

    path: str  # relative to the snapshot directory, with forward slashes
    message: str
    line: int | None = None
    note: bool = False


class LineError(ValueError):
    """A line of ``events.jsonl`` or ``audit.jsonl`` that is not what the writer writes."""


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _printable(text: str) -> str:
    """Control characters and undecodable bytes (in file names, say) escaped: one finding, one line."""
    if text.isprintable():
        return text
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _text(value: object) -> str:
    """A value from a file, shown in a message (never raises, never long)."""
    try:
        return _short(repr(value))
    except ValueError:  # an int too long to print
        return f"<{type(value).__name__}>"


def _json_path(parts: Sequence[Any]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _samples(family: Mapping[str, Any], labels: Sequence[str]) -> dict[tuple[str, ...], float]:
    """``labels tuple -> value`` of a metrics family (from a file or a recount)."""
    out: dict[tuple[str, ...], float] = {}
    for sample in family.get("samples", ()):
        key = tuple(str(sample["labels"].get(label)) for label in labels)
        out[key] = out.get(key, 0) + sample["value"]
    return out


def _nonzero(samples: Mapping[tuple[str, ...], float]) -> dict[tuple[str, ...], float]:
    return {key: value for key, value in sorted(samples.items()) if value}


# -- one line ---------------------------------------------------------------------------------------


class DecodedEvent(msgspec.Struct, forbid_unknown_fields=True):
    """The envelope of one ``events.jsonl`` line; ``payload`` is decoded by kind afterwards."""

    kind: str
    payload: msgspec.Raw
    run_id: str
    seq: int
    ts: float


_ENVELOPE: Final = msgspec.json.Decoder(DecodedEvent)
#: One decoder per kind, from the event table: the payload is checked as the writer types it.
_PAYLOADS: Final[dict[str, msgspec.json.Decoder[Any]]] = {cls.KIND: msgspec.json.Decoder(cls) for cls in EVENT_TYPES}


def decode_event_line(raw: bytes) -> tuple[DecodedEvent, Event]:
    """One ``events.jsonl`` line (without its newline): its envelope and its typed payload.

    Raises :class:`LineError` naming the problem. Decoded with the event table's own types
    (msgspec, strict: no coercion), so this is the shipped ``event`` schema at C speed.
    """
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
    try:
        envelope = _ENVELOPE.decode(raw)
    except msgspec.ValidationError as exc:
        raise LineError(_schema_problem(exc, "$")) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise LineError(f"not JSON ({_short(str(exc))})") from None
    decoder = _PAYLOADS.get(envelope.kind)
    if decoder is None:
        raise LineError(f"schema event: $.kind: unknown kind {_text(envelope.kind)}")
    if envelope.seq < 1:
        raise LineError(f"schema event: $.seq: {envelope.seq} is not >= 1")
    try:
        payload = decoder.decode(envelope.payload)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
        raise LineError(_schema_problem(exc, "$.payload", kind=envelope.kind)) from None
    return envelope, payload


def _schema_problem(exc: Exception, root: str, *, kind: str = "") -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.seq``` as ``schema event: $.seq: Expected `int`, got `str```."""
    message, _, where = str(exc).partition(" - at `")
    path = root + where.rstrip("`")[1:] if where else root
    of = f" ({kind})" if kind else ""
    return f"schema event{of}: {path}: {_short(message)}"


def decode_audit_line(raw: bytes, chain: AuditChainVerifier) -> tuple[AuditLineParts | None, list[str]]:
    """One ``audit.jsonl`` line (without its newline): its parts and its problems.

    The envelope, the hash link and (with a key) the HMAC are checked here, on the bytes;
    the event inside is decoded by :func:`decode_event_line`, once, together with the
    ``events.jsonl`` line it must equal.
    """
    parts, problems = chain.feed(raw)
    if parts is None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"]
    return parts, problems


def _read_lines(fh: IO[bytes]) -> Iterator[tuple[bytes | None, bool]]:
    """``(line, ended)`` per line, split on ``\\n`` only; ``None`` for a line over :data:`MAX_LINE_BYTES`.

    ``ended`` is false for a last line without its newline (a file cut off). Nothing longer
    than one bounded line is ever held.
    """
    while True:
        line = fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if line.endswith(b"\n"):
            yield line[:-1], True
        elif len(line) <= MAX_LINE_BYTES:
            yield line, False
        else:
            ended = False
            while not ended:
                chunk = fh.readline(1 << 20)
                ended = not chunk or chunk.endswith(b"\n")
            yield None, True


# -- what one run's events say ------------------------------------------------------------------------


class _EventFacts:
    """What the documents of one run must agree with, recounted while the events stream by.

    The recount is the run's own metrics code (:class:`~.core.metrics.MetricsCollector`, built
    from the event table), fed with the decoded events: one definition of every metric.
    """

    def __init__(self) -> None:
        from ..core.snapshots import MISMATCHES_LISTED

        self.metrics = MetricsCollector()
        self.events = 0
        self.any_session_state = False
        #: ``(kind, order_id, detail)`` of the first mismatches, as ``status.json`` lists them
        self.first_mismatches: list[tuple[str, str, str]] = []
        self._listed = MISMATCHES_LISTED

    def add(self, envelope: DecodedEvent, event: Event) -> None:
        self.events += 1
        self.any_session_state = self.any_session_state or isinstance(event, SessionStateEvent)
        if type(event) is ReconcileMismatchEvent and len(self.first_mismatches) < self._listed:
            self.first_mismatches.append((event.kind.value, event.order_id, event.detail))
        with contextlib.suppress(ValueError):  # a label outside its enum cannot come from a valid line
            self.metrics(envelope.seq, round(envelope.ts * 1000), event)

    @property
    def rail_trips(self) -> int:
        return int(self.metrics.total(_TRIPS))

    @property
    def mismatches(self) -> dict[str, int]:
        (label,) = _SPECS[_MISMATCHES].labels
        return {k: int(n) for k, n in self.metrics.by_label(_MISMATCHES, label).items()}


class _LineFindings:
    """Findings of one JSON Lines file: the first few one by one, then a count."""

    def __init__(self, v: _Validator, rel: str) -> None:
        self.v = v
        self.rel = rel
        self.count = 0

    def add(self, number: int, message: str) -> None:
        self.count += 1
        if self.count <= MAX_ERRORS:
            self.v.add(self.rel, message, line=number)

    def close(self) -> None:
        if self.count > MAX_ERRORS:
            self.v.add(self.rel, f"{self.count - MAX_ERRORS} more problem(s) in other lines")


@dataclass(frozen=True)
class _AuditSummary:
    events: int
    head_sha256: str


# -- the validator --------------------------------------------------------------------------------------


class _Validator:
    def __init__(self, directory: Path, key: bytes | None) -> None:
        self.dir = directory
        self.key = key
        self.problems: list[Problem] = []
        self._validators: dict[str, Any] = {}
        self._event_facts: dict[str, _EventFacts] = {}
        self._valid_docs: set[str] = set()

    def add(self, path: str, message: str, *, line: int | None = None, note: bool = False) -> None:
        self.problems.append(Problem(path, message, line, note))

    def guarded(self, path: str, check: Callable[[], None]) -> bool:
        """Run ``check``; an unexpected error is a finding naming ``path``, never a traceback."""
        try:
            check()
        except Exception as exc:
            error = f"{type(exc).__name__}: {_short(str(exc))}"
            self.add(path, f"could not be checked (internal error {error}); please report it")
            return False
        return True

    # -- schemas ----------------------------------------------------------------------------

    def _schema_validator(self, name: str) -> Any:
        found = self._validators.get(name)
        if found is None:
            from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]

            from ..core.schemas import load_schema

            found = self._validators[name] = Draft202012Validator(load_schema(name))
        return found

    def schema_errors(self, name: str, data: Any) -> list[str]:
        try:
            errors = sorted(
                self._schema_validator(name).iter_errors(data),
                key=lambda e: ([str(p) for p in e.absolute_path], e.message),
            )
        except RecursionError:
            return ["$: nested too deeply"]
        return [f"{_json_path(list(e.absolute_path))}: {_short(e.message)}" for e in errors]

    def _regular_file(self, rel: str) -> os.stat_result | None:
        """``lstat`` of a regular file under DIR; ``None`` for anything else (reported by the manifest)."""
        try:
            st = os.lstat(self.dir / rel)
        except (OSError, ValueError):
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def load_document(self, rel: str, schema: str) -> Any:
        """A JSON document checked against ``schema``; ``None`` when it cannot be read."""
        st = self._regular_file(rel)
        if st is None:
            return None  # reported by the manifest check
        if st.st_size > MAX_DOCUMENT_BYTES:
            self.add(rel, f"{st.st_size} bytes, larger than any document the writer writes ({MAX_DOCUMENT_BYTES})")
            return None
        try:
            raw = (self.dir / rel).read_bytes()
        except OSError as exc:
            self.add(rel, f"cannot read ({_short(exc.strerror or str(exc))})")
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.add(rel, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})")
            return None
        try:
            data = json.loads(text)
        except RecursionError:
            self.add(rel, "not readable JSON (nested too deeply)")
            return None
        except ValueError as exc:
            self.add(rel, f"not readable JSON ({_short(str(exc))})")
            return None
        errors = self.schema_errors(schema, data)
        for error in errors[:MAX_ERRORS]:
            self.add(rel, f"schema {schema}: {error}")
        if len(errors) > MAX_ERRORS:
            self.add(rel, f"schema {schema}: {len(errors) - MAX_ERRORS} more error(s)")
        if not errors:
            self._valid_docs.add(rel)
        from ..core.canonical import dumps

        try:
            canonical: str | None = dumps(data)
        except (TypeError, ValueError, RecursionError):
            canonical = None
        if canonical is not None and canonical != text:
            self.add(rel, "not in canonical JSON form (sorted keys, two-space indent, trailing newline)")
        return data

    def valid(self, rel: str) -> bool:
        """Whether the document at ``rel`` was loaded and is schema-valid (usable by the invariant checks)."""
        return rel in self._valid_docs

    # -- the manifest -------------------------------------------------------------------------

    def check_manifest(self, index: Mapping[str, Any], run_ids: Sequence[str]) -> None:
        from ..core.writer import RUN_FILES, SESSION_FILES

        files = index.get("files")
        listed: dict[str, Any] = dict(files) if isinstance(files, dict) else {}
        expected = list(SESSION_FILES) + [f"runs/{run_id}/{name}" for run_id in run_ids for name in RUN_FILES]
        expected_set = set(expected)
        for rel, digest in sorted(listed.items()):
            if not _safe_rel(rel):
                self.add("index.json", f"file entry {_text(rel)} is not a plain path inside the snapshot directory")
                continue
            if rel not in expected_set:
                self.add(rel, "listed in index.json, but the writer never writes it (a file added to the index)")
            path = self.dir / rel
            try:
                st = os.lstat(path)
            except OSError:
                self.add(rel, "missing (listed in index.json)")
                continue
            if stat.S_ISLNK(st.st_mode):
                self.add(rel, "a symbolic link (the writer writes regular files only)")
            elif not stat.S_ISREG(st.st_mode):
                self.add(rel, "not a regular file (listed in index.json)")
            else:
                try:
                    actual = sha256_file(path)
                except OSError as exc:
                    self.add(rel, f"cannot read ({_short(exc.strerror or str(exc))})")
                    continue
                if actual != digest:
                    self.add(rel, "sha256 does not match index.json (the file changed after it was written)")
        for rel in expected:
            if rel not in listed:
                state = "exists but is" if self._regular_file(rel) is not None else "missing and"
                self.add(rel, f"{state} not listed in index.json")
        self._check_unlisted(set(listed) | expected_set)

    def _check_unlisted(self, known: set[str]) -> None:
        """Every entry anywhere under DIR that is not a known file (links are never followed)."""
        unlisted: list[tuple[str, str]] = []  # the first MAX_UNLISTED; the rest are only counted
        more = 0

        def found(rel: str, message: str) -> None:
            nonlocal more
            if len(unlisted) < MAX_UNLISTED:
                unlisted.append((rel, message))
            else:
                more += 1

        def walk_error(exc: OSError) -> None:
            try:
                where = Path(exc.filename).relative_to(self.dir).as_posix() if exc.filename else "."
            except ValueError:
                where = "."
            found(where, f"cannot list this directory ({_short(exc.strerror or str(exc))})")

        for top, dirs, names in os.walk(self.dir, onerror=walk_error):
            dirs.sort()
            base = Path(top).relative_to(self.dir)
            for name in sorted(names + [d for d in dirs if os.path.islink(os.path.join(top, d))]):
                rel = (base / name).as_posix()
                if rel == "index.json":
                    if os.path.islink(os.path.join(top, name)):
                        found(rel, "a symbolic link (the writer writes regular files only)")
                    continue
                if rel in known:
                    continue
                try:
                    mode = os.lstat(os.path.join(top, name)).st_mode
                except OSError:
                    continue
                what = (
                    "a symbolic link"
                    if stat.S_ISLNK(mode)
                    else ("a file" if stat.S_ISREG(mode) else "not a regular file")
                )
                leftover = " (a leftover of an interrupted write)" if name.endswith(".tmp") else ""
                found(rel, f"{what} not listed in index.json{leftover}")
        for rel, message in unlisted:
            self.add(rel, message)
        if more:
            self.add(".", f"{more} more file(s) not listed in index.json")

    # -- one run --------------------------------------------------------------------------------

    def check_run(self, run_id: str) -> bool:
        """Check one run; whether its documents are usable for the session roll-up."""
        base = f"runs/{run_id}"
        docs: dict[str, Any] = {}
        for name, schema in _RUN_SCHEMAS.items():
            docs[name.removesuffix(".json")] = self.load_document(f"{base}/{name}", schema)
        for name in ("health", "status", "metrics"):
            doc = docs[name]
            if self.valid(f"{base}/{name}.json") and doc.get("run_id") != run_id:
                self.add(f"{base}/{name}.json", f"run_id {_text(doc.get('run_id'))} does not match its directory")
        summary: list[_AuditSummary | None] = [None]

        def stream() -> None:
            summary[0] = self._stream_events(run_id)

        self.guarded(f"{base}/audit.jsonl", stream)
        facts = self._event_facts.get(run_id)
        health, status, metrics = docs["health"], docs["status"], docs["metrics"]
        if self.valid(f"{base}/status.json"):
            self._conservation(f"{base}/status.json", status)
        if facts is not None:
            if self.valid(f"{base}/metrics.json"):
                self.check_counters(f"{base}/metrics.json", metrics, facts)
            if self.valid(f"{base}/health.json") and self.valid(f"{base}/status.json"):
                self._facts(base, health, status, facts)
        if self.valid(f"{base}/report.json"):
            self.guarded(f"{base}/report.json", lambda: self.check_report(run_id, docs, summary[0]))
        return all(self.valid(f"{base}/{name}") for name in _RUN_SCHEMAS)

    def _open(self, rel: str) -> IO[bytes] | None:
        if self._regular_file(rel) is None:
            return None  # reported by the manifest check
        try:
            return open(self.dir / rel, "rb")
        except OSError as exc:
            self.add(rel, f"cannot read ({_short(exc.strerror or str(exc))})")
            return None

    def _stream_events(self, run_id: str) -> _AuditSummary | None:
        """One pass over ``events.jsonl`` and ``audit.jsonl`` side by side, one line of each at a time."""
        base = f"runs/{run_id}"
        ev_rel, au_rel = f"{base}/events.jsonl", f"{base}/audit.jsonl"
        ev_fh, au_fh = self._open(ev_rel), self._open(au_rel)
        try:
            return self._stream(run_id, ev_rel, au_rel, ev_fh, au_fh)
        finally:
            for fh in (ev_fh, au_fh):
                if fh is not None:
                    fh.close()

    def _stream(
        self, run_id: str, ev_rel: str, au_rel: str, ev_fh: IO[bytes] | None, au_fh: IO[bytes] | None
    ) -> _AuditSummary | None:
        ev_lines = _read_lines(ev_fh) if ev_fh is not None else iter(())
        au_lines = _read_lines(au_fh) if au_fh is not None else iter(())
        ev_bad, au_bad = _LineFindings(self, ev_rel), _LineFindings(self, au_rel)
        chain = AuditChainVerifier(key=self.key, run_id=run_id)
        facts = _EventFacts() if ev_fh is not None else None
        n_events = n_audit = 0
        last_seq = 0
        differs = False
        number = 0
        while True:
            ev = next(ev_lines, None)
            au = next(au_lines, None)
            if ev is None and au is None:
                break
            number += 1
            parts: AuditLineParts | None = None
            if au is not None:
                n_audit += 1
                au_raw, au_ended = au
                if au_raw is None:
                    chain.skip()
                    au_bad.add(number, f"longer than {MAX_LINE_BYTES} bytes (not decoded)")
                else:
                    parts, problems = decode_audit_line(au_raw, chain)
                    for problem in problems:
                        au_bad.add(number, problem)
                if not au_ended:
                    au_bad.add(number, "no newline at the end (the file was cut off)")
            ev_raw: bytes | None = None
            if ev is not None:
                n_events += 1
                ev_raw, ev_ended = ev
                if ev_raw is None:
                    ev_bad.add(number, f"longer than {MAX_LINE_BYTES} bytes (not decoded)")
                else:
                    try:
                        envelope, event = decode_event_line(ev_raw)
                    except LineError as exc:
                        ev_bad.add(number, str(exc))
                    else:
                        if envelope.run_id != run_id:
                            ev_bad.add(number, f"run_id {_text(envelope.run_id)} is not {run_id!r}")
                        if envelope.seq <= last_seq:
                            ev_bad.add(number, f"seq {envelope.seq} is not strictly increasing")
                        last_seq = max(last_seq, envelope.seq)
                        if facts is not None:
                            facts.add(envelope, event)
                if not ev_ended:
                    ev_bad.add(number, "no newline at the end (the file was cut off)")
            if parts is not None and ev_raw != parts.event:
                # the events.jsonl line (if any) is not this event: check the audit's own copy
                try:
                    decode_event_line(parts.event)
                except LineError as exc:
                    au_bad.add(number, f"its event: {exc}")
                if ev is not None and not differs:
                    differs = True
                    ev_bad.add(number, f"differs from the event on audit.jsonl line {number}")
        ev_bad.close()
        au_bad.close()
        if ev_fh is not None and au_fh is not None and n_events != n_audit:
            self.add(ev_rel, f"{n_events} event(s) but audit.jsonl has {n_audit} line(s)")
        if au_fh is not None and self.key is None and chain.keyed_lines:
            self.add(
                au_rel,
                f"keyed with HMAC-SHA256, but {AUDIT_KEY_ENV} is not set: the chain cannot be verified "
                "(set the key the run was written with)",
            )
        if facts is not None:
            self._event_facts[run_id] = facts
        if au_fh is None or chain.head is None:
            return None
        return _AuditSummary(events=n_audit, head_sha256=chain.head)

    def _conservation(self, rel: str, status: Mapping[str, Any]) -> None:
        from ..core.orders import OPEN_STATES

        orders = status["orders"]
        by_state = orders["by_state"]
        total = sum(by_state.values())
        if orders["placed"] != total:
            self.add(rel, f"order conservation: placed is {orders['placed']} but by_state sums to {total}")
        open_count = sum(n for state, n in by_state.items() if state in {s.value for s in OPEN_STATES})
        if orders["open"] != open_count:
            self.add(rel, f"order conservation: open is {orders['open']} but {open_count} order(s) are in open states")

    def check_counters(self, rel: str, metrics: Mapping[str, Any], facts: _EventFacts, *, prefix: str = "") -> None:
        """Every metric equals its recount from the events (the event table says how)."""
        families = {f["name"]: f for f in metrics["metrics"]}
        recount = {f["name"]: f for f in facts.metrics.families()}
        for spec in METRIC_SPECS:
            family = families.get(spec.name)
            if family is None:
                self.add(rel, f"{prefix}{spec.type} {spec.name} is missing")
                continue
            actual = _samples(family, spec.labels)
            expected = _samples(recount[spec.name], spec.labels)
            if spec.type == "counter":
                kind = next((s.kind.KIND for s in spec.sources if isinstance(s, Count)), "")
                for key in sorted(set(actual) | set(expected)):
                    have, want = actual.get(key, 0), expected.get(key, 0)
                    if have != want:
                        labels = dict(zip(spec.labels, key, strict=True))
                        where = ", ".join(f"{k}={v!r}" for k, v in labels.items())
                        self.add(
                            rel,
                            f"{prefix}{series_key(spec.name, labels)} is {plain_number(have)} but events.jsonl "
                            f"has {plain_number(want)} {kind} event(s)" + (f" with {where}" if where else ""),
                        )
            elif facts.events and _nonzero(actual) != _nonzero(expected):
                shown = {",".join(k) or spec.name: v for k, v in _nonzero(actual).items()}
                wanted = {",".join(k) or spec.name: v for k, v in _nonzero(expected).items()}
                self.add(rel, f"{prefix}{spec.name} is {shown} but the events say {wanted}")

    def _facts(self, base: str, health: Mapping[str, Any], status: Mapping[str, Any], facts: _EventFacts) -> None:
        trips = facts.rail_trips
        if health["safety_rail_trips_total"] != trips:
            self.add(
                f"{base}/health.json",
                f"safety_rail_trips_total is {health['safety_rail_trips_total']} "
                f"but events.jsonl has {trips} rail_trip event(s)",
            )
        if len(status["rail_trips"]) != trips:
            self.add(
                f"{base}/status.json",
                f"rail_trips lists {len(status['rail_trips'])} trip(s) but events.jsonl has {trips}",
            )
        kinds = facts.mismatches
        rec = status["reconcile"]
        if rec["mismatches_total"] != sum(kinds.values()) or dict(rec["mismatches"]) != kinds:
            self.add(
                f"{base}/status.json",
                f"reconcile mismatches {dict(sorted(rec['mismatches'].items()))} (total {rec['mismatches_total']}) "
                f"do not match the reconcile_mismatch events {dict(sorted(kinds.items()))}",
            )
        # Absent in a directory written before the list existed (the schema makes it optional).
        listed = [(m["kind"], m["order_id"], m["detail"]) for m in rec.get("first_mismatches", [])]
        if "first_mismatches" in rec and listed != facts.first_mismatches:
            self.add(
                f"{base}/status.json",
                f"reconcile first_mismatches lists {len(listed)} mismatch(es) that are not the first "
                f"{len(facts.first_mismatches)} reconcile_mismatch event(s) of events.jsonl, in order",
            )
        if health["orchestrator_state"] != status["session"]["state"]:
            self.add(
                f"{base}/health.json",
                f"orchestrator_state {health['orchestrator_state']} differs from status.json's "
                f"{status['session']['state']}",
            )

    def check_report(self, run_id: str, docs: Mapping[str, Any], audit: _AuditSummary | None) -> None:
        """``report.json`` against the chain and against the report rebuilt from the run's documents."""
        base = f"runs/{run_id}"
        rel = f"{base}/report.json"
        report: dict[str, Any] = docs["report"]
        written = report["audit"]
        if audit is not None:
            if written["head_sha256"] != audit.head_sha256:
                self.add(
                    rel,
                    f"audit.head_sha256 is {written['head_sha256']} but the head of audit.jsonl is "
                    f"{audit.head_sha256} (the history was rewritten, or the report edited)",
                )
            if written["events"] != audit.events:
                self.add(rel, f"audit.events is {written['events']} but audit.jsonl has {audit.events} line(s)")
        if report.get("modified_by_hook") is True:
            self.add(
                rel,
                "changed by a pytest_dryrun_modify_report hook: only its schema and its audit head can be checked",
                note=True,
            )
            return
        if not all(self.valid(f"{base}/{name}.json") for name in ("health", "status", "metrics")):
            return  # already reported; nothing to rebuild from
        from ..core.documents import build_report, with_audit
        from ..core.snapshots import HealthSnapshot, MetricsSnapshot, StatusSnapshot

        try:
            rebuilt = build_report(
                HealthSnapshot.model_validate(docs["health"]),
                StatusSnapshot.model_validate(docs["status"]),
                MetricsSnapshot.model_validate(docs["metrics"]),
            )
        except ValidationError as exc:
            self.add(rel, f"cannot be rebuilt from the run's documents ({_short(str(exc))})")
            return
        expected = with_audit(
            rebuilt, events=written["events"], head_sha256=written["head_sha256"], modified_by_hook=False
        )
        for key in sorted(set(expected) | set(report)):
            if key not in report:
                self.add(rel, f"{key} is missing (it is in {_REBUILT})")
            elif key not in expected:
                self.add(rel, f"{_printable(_short(key))} is not in {_REBUILT} (added after the run?)")
            elif report[key] != expected[key]:
                self.add(rel, f"{key} differs from {_REBUILT}")

    # -- the session -------------------------------------------------------------------------------

    def check_session(self, index: Mapping[str, Any], run_ids: Sequence[str], runs_ok: bool) -> None:
        from ..core.writer import SESSION_FILES
        from ..report.session import build_index, render_session_files

        session_docs: dict[str, Any] = {}
        for name, schema in _SESSION_SCHEMAS.items():
            session_docs[name] = self.load_document(name, schema)
        # Counters of the session metrics file against each run's events, directly.
        metrics_doc = session_docs["dryrun_metrics_snapshot.json"]
        if self.valid("dryrun_metrics_snapshot.json"):
            for run_id, metrics in sorted(metrics_doc["runs"].items()):
                facts = self._event_facts.get(run_id)
                if facts is None:
                    continue  # its events.jsonl is missing or unreadable (reported with the run)
                self.check_counters(
                    "dryrun_metrics_snapshot.json", metrics, facts, prefix=f"runs.{_printable(_short(run_id))}: "
                )
        if not runs_ok:
            return  # a roll-up cannot be rebuilt from broken run files (already reported)
        raw_problems = index.get("problems")
        problems = [str(p) for p in raw_problems] if isinstance(raw_problems, list) else []
        raw_prefix = index.get("metrics_prefix")
        prefix = raw_prefix if isinstance(raw_prefix, str) else None  # another type is a schema finding
        try:
            rendered = render_session_files(self.dir, run_ids, problems=problems, metrics_prefix=prefix)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.add("index.json", f"cannot rebuild the session roll-up from the run files ({_short(str(exc))})")
            return
        for name in SESSION_FILES:
            if self._regular_file(name) is None:
                continue
            try:
                on_disk = (self.dir / name).read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                if name not in session_docs:  # a document's encoding is reported when it is loaded
                    self.add(name, f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})")
                continue
            except OSError as exc:
                self.add(name, f"cannot read ({_short(exc.strerror or str(exc))})")
                continue
            if on_disk == rendered.texts[name]:
                continue
            if name in session_docs:
                self._explain_rollup(name, session_docs[name], json.loads(rendered.texts[name]))
            else:
                self.add(name, "differs from what the run files render (the roll-up is stale or was edited)")
        expected = build_index(rendered.session, {}, metrics_prefix=prefix).to_json_data()
        for key in ("schema", "complete", "problems", "session", "schemas", "runs"):
            if index.get(key) != expected[key]:
                self.add("index.json", f"{key} does not match the run files")

    def _explain_rollup(self, name: str, on_disk: Any, expected: Mapping[str, Any]) -> None:
        if not isinstance(on_disk, dict):
            self.add(name, "differs from what the run files render")
            return
        found = False
        if on_disk.get("session") != expected["session"]:
            self.add(name, "session does not match the roll-up of the run files")
            found = True
        runs_value = on_disk.get("runs")
        have_runs: dict[str, Any] = runs_value if isinstance(runs_value, dict) else {}
        kind = name.removeprefix("dryrun_").split("_", 1)[0]  # health / status / metrics
        for run_id in sorted(set(have_runs) | set(expected["runs"])):
            shown = _printable(_short(run_id))
            if run_id not in expected["runs"]:
                self.add(name, f"runs.{shown} is not a run of this session")
            elif run_id not in have_runs:
                self.add(name, f"runs.{shown} is missing")
            elif have_runs[run_id] != expected["runs"][run_id]:
                self.add(name, f"runs.{shown} differs from runs/{run_id}/{kind}.json")
            else:
                continue
            found = True
        if not found:
            self.add(name, "differs from what the run files render (formatting or extra keys)")

    def check_seal(self, index: Mapping[str, Any]) -> None:
        """With the key, the index ``seal`` must verify; without it, a sealed index cannot be verified."""
        from ..core.documents import index_seal

        seal = index.get("seal")
        if self.key is None:
            if seal is not None:
                key_id = seal.get("key_id") if isinstance(seal, dict) else None
                self.add(
                    "index.json",
                    f"sealed with HMAC-SHA256 (key id {_text(key_id)}), but {AUDIT_KEY_ENV} is not set: "
                    "the seal cannot be verified (set the key the session was written with)",
                )
            return
        if seal is None:
            self.add(
                "index.json",
                f"not sealed, but {AUDIT_KEY_ENV} is set (written without the key, or the seal was removed)",
            )
            return
        if not self.valid("index.json"):
            return  # a malformed seal is a schema finding
        mine = audit_key_id(self.key)
        if seal["key_id"] != mine:
            self.add(
                "index.json",
                f"sealed with key id {seal['key_id']}, but {AUDIT_KEY_ENV} has key id {mine} (another key)",
            )
        elif seal != index_seal(index, self.key):
            self.add(
                "index.json", f"seal does not verify with {AUDIT_KEY_ENV} (the index changed after it was written)"
            )


def _safe_rel(rel: object) -> bool:
    """A relative path the writer could have written: no ``..``, no absolute path, no NUL, no backslash."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel or rel.startswith("/"):
        return False
    parts = rel.split("/")
    return all(part not in ("", ".", "..") for part in parts) and len(rel) <= 4096


def _safe_run_id(run_id: object) -> bool:
    return isinstance(run_id, str) and _safe_rel(run_id) and "/" not in run_id and len(run_id) <= 255


def _run_ids(v: _Validator, index: Mapping[str, Any]) -> list[str]:
    entries = index.get("runs")
    ids: list[str] = []
    if isinstance(entries, list):
        for number, entry in enumerate(entries):
            run_id = entry.get("run_id") if isinstance(entry, dict) else None
            if _safe_run_id(run_id):
                ids.append(str(run_id))
            elif isinstance(run_id, str):
                v.add("index.json", f"runs[{number}].run_id {_text(run_id)} is not a run directory name")
    runs_dir = v.dir / "runs"
    if runs_dir.is_dir() and not runs_dir.is_symlink():
        try:
            children = sorted(os.listdir(runs_dir))
        except OSError:
            children = []
        for child in children:
            path = runs_dir / child
            if path.is_dir() and not path.is_symlink() and child not in ids:
                v.add(f"runs/{child}", "run directory is not listed in index.json")
    return sorted(set(ids))


def validate_dir(directory: Path, *, key: bytes | None = None) -> list[Problem]:
    """Every problem of the snapshot directory (empty when it is valid; notes do not count as problems).

    ``key`` is the audit key (``PEAK_DRYRUN_AUDIT_KEY``): with it every HMAC and the index
    seal must verify; without it a keyed directory is a finding, since it cannot be verified.
    Raises :class:`~.status_report.SnapshotError` when ``directory`` is not a snapshot
    directory at all (missing, no ``index.json``, an index that is not a JSON object).
    """
    index_path = check_snapshot_dir(directory)
    try:
        size = index_path.stat().st_size
    except OSError as exc:
        raise SnapshotError(index_path, f"cannot read ({exc.strerror or exc})") from None
    if size > MAX_DOCUMENT_BYTES:
        raise SnapshotError(index_path, f"{size} bytes: not an index the writer wrote (at most {MAX_DOCUMENT_BYTES})")
    try:
        index = load_json(index_path)
    except RecursionError:
        raise SnapshotError(index_path, "not valid JSON (nested too deeply)") from None
    if not isinstance(index, dict):
        raise SnapshotError(index_path, "not a snapshot index (not a JSON object)")
    v = _Validator(directory, key)
    v.guarded("index.json", lambda: v.load_document("index.json", "index"))
    run_ids: list[str] = []

    def find_runs() -> None:
        run_ids.extend(_run_ids(v, index))

    v.guarded("index.json", find_runs)
    v.guarded("index.json", lambda: v.check_manifest(index, run_ids))
    runs_ok = True
    for run_id in run_ids:
        outcome = [False]

        def check(run_id: str = run_id, outcome: list[bool] = outcome) -> None:
            outcome[0] = v.check_run(run_id)

        if not v.guarded(f"runs/{run_id}", check) or not outcome[0]:
            runs_ok = False
    v.guarded("index.json", lambda: v.check_session(index, run_ids, runs_ok))
    v.guarded("index.json", lambda: v.check_seal(index))
    return _dedupe(v.problems)


def _dedupe(problems: Sequence[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    out = []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            out.append(problem)
    return out


def iter_lines(problems: Sequence[Problem], directory: str) -> Iterator[str]:
    """``path: problem`` / ``path:line: problem`` lines, paths joined to ``directory`` as the user wrote it.

    Notes read ``path: note: ...``. Control characters and undecodable bytes from file
    names or file contents are escaped, so each problem is exactly one line.
    """
    base = directory.rstrip("/") or "/"
    for problem in problems:
        path = f"{base}/{problem.path}" if base != "/" else f"/{problem.path}"
        if problem.path == ".":
            path = base
        where = f"{path}:{problem.line}" if problem.line is not None else path
        message = f"note: {problem.message}" if problem.note else problem.message
        yield _printable(f"{where}: {message}")
