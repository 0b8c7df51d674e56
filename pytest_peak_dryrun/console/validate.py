"""``peak-dryrun validate``: prove a snapshot directory is complete, untouched and consistent.

Read-only. The checks, each problem reported as ``path: problem``:

1. **Schemas**: every JSON document, and every line of ``events.jsonl`` and
   ``audit.jsonl``, against the JSON Schemas shipped in ``pytest_peak_dryrun/schemas/``;
   every JSON document is in canonical form.
2. **Manifest**: every file listed in ``index.json`` exists and has the listed sha256;
   every session and run file is listed; no unlisted file sits under ``runs/`` (or is a
   stray ``dryrun_*`` / ``*.tmp`` file at the top).
3. **Audit log**: each run's hash chain holds (:func:`~.core.events.verify_audit_lines`)
   and ``events.jsonl`` holds exactly the events of ``audit.jsonl``, in order.
4. **Invariants**: order conservation (``placed`` equals the sum of ``by_state``, ``open``
   equals the orders in open states); every counter of ``metrics.json`` (and of the run's
   entry in ``dryrun_metrics_snapshot.json``) equals the count recomputed from
   ``events.jsonl``; rail trips and mismatches in health/status agree with the events.
5. **Roll-ups**: the session files and the index say what the run files say (they are
   re-rendered in memory and compared; nothing is written).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .status_report import SnapshotError, check_snapshot_dir, load_json

__all__ = ["COUNTER_SOURCES", "Problem", "validate_dir"]

#: Counter -> (event kind, payload keys that are its labels, in label order).
COUNTER_SOURCES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "orders_place_total": ("order_place", ("outcome",)),
    "orders_cancel_total": ("order_cancel", ("outcome",)),
    "orders_query_total": ("order_query", ("outcome",)),
    "order_state_transitions_total": ("order_transition", ("from_state", "to_state")),
    "reconcile_mismatches_total": ("reconcile_mismatch", ("kind",)),
    "retry_attempts_total": ("retry", ("op", "reason")),
    "safety_rail_trips_total": ("rail_trip", ("rail",)),
    "faults_injected_total": ("fault_injected", ("op", "fault")),
    "faults_skipped_total": ("fault_skipped", ("op", "fault")),
}
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
#: Schema errors reported per file (or per JSON Lines file) before summarising the rest.
MAX_ERRORS: Final = 5


@dataclass(frozen=True)
class Problem:
    path: str  # relative to the snapshot directory, with forward slashes
    message: str


def _series(name: str, labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}" if inner else name


def _json_path(parts: Sequence[Any]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_lines(path: Path) -> list[str]:
    """JSON Lines split on ``\\n`` only (a JSON string may hold U+2028, which splitlines splits on)."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


@dataclass(frozen=True)
class _EventFacts:
    """What the metrics of one run must agree with, counted once from its events."""

    counters: dict[str, dict[tuple[str, ...], int]]
    any_event: bool
    last_ts: object
    any_session_state: bool
    final_state: object

    @classmethod
    def count(cls, events: Sequence[Mapping[str, Any]]) -> _EventFacts:
        kinds = {kind: name for name, (kind, _) in COUNTER_SOURCES.items()}
        counters: dict[str, dict[tuple[str, ...], int]] = {name: {} for name in COUNTER_SOURCES}
        final_state: object = None
        any_session_state = False
        for event in events:
            kind = str(event.get("kind"))
            if kind == "session_state":
                any_session_state = True
                final_state = (event.get("payload") or {}).get("to_state")
            name = kinds.get(kind)
            if name is None:
                continue
            payload = event.get("payload") or {}
            key = tuple(str(payload.get(label)) for label in COUNTER_SOURCES[name][1])
            counters[name][key] = counters[name].get(key, 0) + 1
        return cls(
            counters=counters,
            any_event=bool(events),
            last_ts=events[-1].get("ts") if events else None,
            any_session_state=any_session_state,
            final_state=final_state,
        )


class _Validator:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.problems: list[Problem] = []
        self._validators: dict[str, Any] = {}
        self._event_facts: dict[str, _EventFacts] = {}

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    # -- schemas ----------------------------------------------------------------------------

    def _schema_validator(self, name: str) -> Any:
        found = self._validators.get(name)
        if found is None:
            from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]

            from ..core.schemas import load_schema

            found = self._validators[name] = Draft202012Validator(load_schema(name))
        return found

    def schema_errors(self, name: str, data: Any) -> list[str]:
        errors = sorted(
            self._schema_validator(name).iter_errors(data),
            key=lambda e: ([str(p) for p in e.absolute_path], e.message),
        )
        return [f"{_json_path(list(e.absolute_path))}: {_short(e.message)}" for e in errors]

    def load_document(self, rel: str, schema: str) -> Any:
        """A JSON document checked against ``schema``; ``None`` when it cannot be read."""
        path = self.dir / rel
        if not path.is_file():
            return None  # reported by the manifest check
        try:
            raw = path.read_text(encoding="utf-8")
            data = json.loads(raw)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self.add(rel, f"not readable JSON ({_short(str(exc))})")
            return None
        errors = self.schema_errors(schema, data)
        for error in errors[:MAX_ERRORS]:
            self.add(rel, f"schema {schema}: {error}")
        if len(errors) > MAX_ERRORS:
            self.add(rel, f"schema {schema}: {len(errors) - MAX_ERRORS} more error(s)")
        from ..core.canonical import dumps

        try:
            canonical = dumps(data)
        except (TypeError, ValueError):
            canonical = None
        if canonical is not None and canonical != raw:
            self.add(rel, "not in canonical JSON form (sorted keys, two-space indent, trailing newline)")
        return data

    def read_lines(self, rel: str) -> list[str] | None:
        path = self.dir / rel
        if not path.is_file():
            return None  # reported by the manifest check
        try:
            return _read_lines(path)
        except (OSError, UnicodeDecodeError) as exc:
            self.add(rel, f"not readable ({_short(str(exc))})")
            return None

    def check_lines(self, rel: str, lines: Sequence[str], schema: str, *, checked: Set[int] = frozenset()) -> None:
        """Each line against ``schema``, except the line numbers in ``checked``."""
        bad = 0
        for number, line in enumerate(lines, start=1):
            if number in checked:
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                errors = [f"not JSON ({_short(str(exc))})"]
            else:
                errors = [f"schema {schema}: {e}" for e in self.schema_errors(schema, data)]
            if errors:
                bad += 1
                if bad <= MAX_ERRORS:
                    self.add(rel, f"line {number}: {errors[0]}")
        if bad > MAX_ERRORS:
            self.add(rel, f"{bad - MAX_ERRORS} more invalid line(s)")

    # -- the manifest -------------------------------------------------------------------------

    def check_manifest(self, index: Mapping[str, Any], run_ids: Sequence[str]) -> None:
        from ..core.writer import RUN_FILES, SESSION_FILES

        files = index.get("files")
        listed: dict[str, Any] = dict(files) if isinstance(files, dict) else {}
        for rel, digest in sorted(listed.items()):
            path = self.dir / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                self.add("index.json", f"file entry {rel!r} points outside the snapshot directory")
            elif not path.is_file():
                self.add(rel, "missing (listed in index.json)")
            elif _sha256(path) != digest:
                self.add(rel, "sha256 does not match index.json (the file changed after it was written)")
        expected = list(SESSION_FILES) + [f"runs/{run_id}/{name}" for run_id in run_ids for name in RUN_FILES]
        for rel in expected:
            if rel not in listed:
                state = "exists but is" if (self.dir / rel).is_file() else "missing and"
                self.add(rel, f"{state} not listed in index.json")
        expected_set = set(expected)
        for path in sorted(self.dir.rglob("*")):
            if not path.is_file() and not path.is_symlink():
                continue
            rel = path.relative_to(self.dir).as_posix()
            if rel in listed or rel in expected_set or rel == "index.json":
                continue
            top = rel.split("/", 1)[0]
            if top == "runs" or rel.startswith("dryrun_") or rel.endswith(".tmp"):
                self.add(rel, "not listed in index.json (a stray or leftover file)")

    # -- one run --------------------------------------------------------------------------------

    def check_run(self, run_id: str) -> dict[str, Any] | None:
        base = f"runs/{run_id}"
        docs: dict[str, Any] = {}
        for name, schema in _RUN_SCHEMAS.items():
            docs[name.removesuffix(".json")] = self.load_document(f"{base}/{name}", schema)
        for name in ("health", "status", "metrics"):
            doc = docs[name]
            if isinstance(doc, dict) and doc.get("run_id") != run_id:
                self.add(f"{base}/{name}.json", f"run_id {doc.get('run_id')!r} does not match its directory")
        events = self.read_lines(f"{base}/events.jsonl")
        audit = self.read_lines(f"{base}/audit.jsonl")
        same: set[int] = set()
        if audit is not None:
            from ..core.events import verify_audit_lines

            self.check_lines(f"{base}/audit.jsonl", audit, "audit")
            for problem in verify_audit_lines(audit):
                self.add(f"{base}/audit.jsonl", problem)
            if events is not None:
                # An event line that is byte for byte the event of its audit line was checked
                # with the audit line (the audit schema holds the event schema): skip it.
                same = {
                    number
                    for number, (event_line, audit_line) in enumerate(zip(events, audit, strict=False), start=1)
                    if audit_line.startswith(f'{{"event":{event_line},"prev_sha256":"')
                }
        if events is not None:
            self.check_lines(f"{base}/events.jsonl", events, "event", checked=same)
        parsed = self._events(run_id, events, audit)
        status, health, metrics = docs["status"], docs["health"], docs["metrics"]
        if _valid(self, "status", status):
            self._conservation(f"{base}/status.json", status)
        if parsed is not None:
            # Counted once here; the session metrics file is checked against the same counts.
            facts = self._event_facts[run_id] = _EventFacts.count(parsed)
            if _valid(self, "metrics", metrics):
                self.check_counters(f"{base}/metrics.json", metrics, facts)
            if _valid(self, "health", health) and _valid(self, "status", status):
                self._facts(base, health, status, parsed)
        ok = all(_valid(self, name, docs[name]) for name in ("health", "status", "metrics"))
        return docs if ok and docs["report"] is not None else None

    def _events(self, run_id: str, events: list[str] | None, audit: list[str] | None) -> list[dict[str, Any]] | None:
        """The parsed events, after checking events.jsonl against audit.jsonl."""
        base = f"runs/{run_id}"
        if events is None:
            return None
        parsed: list[dict[str, Any]] = []
        for number, line in enumerate(events, start=1):
            try:
                event = json.loads(line)
            except ValueError:
                return None  # reported by load_lines
            if not isinstance(event, dict):
                return None
            if event.get("run_id") != run_id:
                self.add(f"{base}/events.jsonl", f"line {number}: run_id {event.get('run_id')!r} is not {run_id!r}")
            parsed.append(event)
        if audit is not None:
            if len(audit) != len(events):
                self.add(
                    f"{base}/events.jsonl",
                    f"{len(events)} event(s) but audit.jsonl has {len(audit)} line(s)",
                )
            for number, (event_line, audit_line) in enumerate(zip(events, audit, strict=False), start=1):
                if not audit_line.startswith(f'{{"event":{event_line},"prev_sha256":"'):
                    self.add(
                        f"{base}/events.jsonl", f"line {number} differs from the event on audit.jsonl line {number}"
                    )
                    break
        return parsed

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
        """Every counter equals the count of its events; the gauges agree with the events."""
        expected = facts.counters
        families = {f["name"]: f for f in metrics["metrics"]}
        for name, (kind, label_names) in COUNTER_SOURCES.items():
            family = families.get(name)
            if family is None:
                self.add(rel, f"{prefix}counter {name} is missing")
                continue
            actual: dict[tuple[str, ...], float] = {}
            for sample in family["samples"]:
                key = tuple(str(sample["labels"].get(label)) for label in label_names)
                actual[key] = actual.get(key, 0) + sample["value"]
            for key in sorted(set(actual) | set(expected[name])):
                have, want = actual.get(key, 0), expected[name].get(key, 0)
                if have != want:
                    labels = dict(zip(label_names, key, strict=True))
                    where = ", ".join(f"{k}={v!r}" for k, v in labels.items())
                    self.add(
                        rel,
                        f"{prefix}{_series(name, labels)} is {_fmt(have)} but events.jsonl has {want} {kind} event(s)"
                        + (f" with {where}" if where else ""),
                    )
        gauge = families.get("last_audit_event_ts")
        if facts.any_event and gauge is not None:
            last_ts = facts.last_ts
            values = [s["value"] for s in gauge["samples"]]
            if values != [last_ts]:
                self.add(rel, f"{prefix}last_audit_event_ts is {values} but the last event's ts is {last_ts}")
        state_gauge = families.get("orchestrator_state")
        if facts.any_session_state and state_gauge is not None:
            final = facts.final_state
            on = sorted(s["labels"].get("state") for s in state_gauge["samples"] if s["value"] == 1)
            if on != [final]:
                self.add(
                    rel, f"{prefix}orchestrator_state is 1 for {on} but the last session_state event moved to {final!r}"
                )

    def _facts(
        self, base: str, health: Mapping[str, Any], status: Mapping[str, Any], events: Sequence[Mapping[str, Any]]
    ) -> None:
        trips = [e for e in events if e.get("kind") == "rail_trip"]
        if health["safety_rail_trips_total"] != len(trips):
            self.add(
                f"{base}/health.json",
                f"safety_rail_trips_total is {health['safety_rail_trips_total']} "
                f"but events.jsonl has {len(trips)} rail_trip event(s)",
            )
        if len(status["rail_trips"]) != len(trips):
            self.add(
                f"{base}/status.json",
                f"rail_trips lists {len(status['rail_trips'])} trip(s) but events.jsonl has {len(trips)}",
            )
        kinds: dict[str, int] = {}
        for event in events:
            if event.get("kind") == "reconcile_mismatch":
                kind = str((event.get("payload") or {}).get("kind"))
                kinds[kind] = kinds.get(kind, 0) + 1
        rec = status["reconcile"]
        if rec["mismatches_total"] != sum(kinds.values()) or dict(rec["mismatches"]) != kinds:
            self.add(
                f"{base}/status.json",
                f"reconcile mismatches {dict(sorted(rec['mismatches'].items()))} (total {rec['mismatches_total']}) "
                f"do not match the reconcile_mismatch events {dict(sorted(kinds.items()))}",
            )
        if health["orchestrator_state"] != status["session"]["state"]:
            self.add(
                f"{base}/health.json",
                f"orchestrator_state {health['orchestrator_state']} differs from status.json's "
                f"{status['session']['state']}",
            )

    # -- the session -------------------------------------------------------------------------------

    def check_session(self, index: Mapping[str, Any], run_ids: Sequence[str], runs_ok: bool) -> None:
        from ..core.writer import SESSION_FILES, build_index, render_session_files

        session_docs: dict[str, Any] = {}
        for name, schema in _SESSION_SCHEMAS.items():
            session_docs[name] = self.load_document(name, schema)
        # Counters of the session metrics file against each run's events, directly.
        metrics_doc = session_docs["dryrun_metrics_snapshot.json"]
        if _valid(self, "metrics-session", metrics_doc):
            for run_id, metrics in sorted(metrics_doc["runs"].items()):
                facts = self._event_facts.get(run_id)
                if facts is None:
                    continue  # its events.jsonl is missing or unreadable (reported with the run)
                self.check_counters("dryrun_metrics_snapshot.json", metrics, facts, prefix=f"runs.{run_id}: ")
        if not runs_ok:
            return  # a roll-up cannot be rebuilt from broken run files (already reported)
        problems = [str(p) for p in index.get("problems", [])] if isinstance(index.get("problems"), list) else []
        try:
            summary, runs, texts = render_session_files(self.dir, run_ids, problems=problems)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.add("index.json", f"cannot rebuild the session roll-up from the run files ({_short(str(exc))})")
            return
        for name in SESSION_FILES:
            path = self.dir / name
            if not path.is_file():
                continue
            try:
                on_disk = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if on_disk == texts[name]:
                continue
            if name in session_docs:
                self._explain_rollup(name, session_docs[name], json.loads(texts[name]))
            else:
                self.add(name, "differs from what the run files render (the roll-up is stale or was edited)")
        expected = build_index(summary, runs, {}, problems=problems)
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
            if run_id not in expected["runs"]:
                self.add(name, f"runs.{run_id} is not a run of this session")
            elif run_id not in have_runs:
                self.add(name, f"runs.{run_id} is missing")
            elif have_runs[run_id] != expected["runs"][run_id]:
                self.add(name, f"runs.{run_id} differs from runs/{run_id}/{kind}.json")
            else:
                continue
            found = True
        if not found:
            self.add(name, "differs from what the run files render (formatting or extra keys)")


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _valid(v: _Validator, schema: str, doc: Any) -> bool:
    """Whether ``doc`` is usable by the invariant checks (loaded and schema-valid)."""
    return doc is not None and not v.schema_errors(schema, doc)


def _run_ids(v: _Validator, index: Any) -> list[str]:
    entries = index.get("runs") if isinstance(index, dict) else None
    ids: list[str] = []
    if isinstance(entries, list):
        for entry in entries:
            run_id = entry.get("run_id") if isinstance(entry, dict) else None
            if isinstance(run_id, str) and run_id and "/" not in run_id and run_id not in (".", ".."):
                ids.append(run_id)
    runs_dir = v.dir / "runs"
    if runs_dir.is_dir():
        for child in sorted(runs_dir.iterdir()):
            if child.is_dir() and child.name not in ids:
                v.add(f"runs/{child.name}", "run directory is not listed in index.json")
    return sorted(set(ids))


def validate_dir(directory: Path) -> list[Problem]:
    """Every problem of the snapshot directory (empty when it is valid).

    Raises :class:`~.status_report.SnapshotError` when ``directory`` is not a snapshot
    directory at all (missing, no ``index.json``, an index that is not JSON).
    """
    index_path = check_snapshot_dir(directory)
    index = load_json(index_path)
    if not isinstance(index, dict):
        raise SnapshotError(index_path, "not a snapshot index (not a JSON object)")
    v = _Validator(directory)
    v.load_document("index.json", "index")
    run_ids = _run_ids(v, index)
    v.check_manifest(index, run_ids)
    runs_ok = True
    for run_id in run_ids:
        if v.check_run(run_id) is None:
            runs_ok = False
    v.check_session(index, run_ids, runs_ok)
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
    """``path: problem`` lines, paths joined to ``directory`` as the user wrote it."""
    base = directory.rstrip("/") or "/"
    for problem in problems:
        yield f"{base}/{problem.path}: {problem.message}" if base != "/" else f"/{problem.path}: {problem.message}"
