"""CPU per event of the audit path alone (encode + chain + write), on the events of a real run.

The events come from one E2E run (``_scenarios.py``, shape ``e2e``, 7.1 events per order of
every kind the lifecycle emits), kept in memory; then, in interleaved rounds, timed with
``time.process_time``:

- ``encode``: each event to its canonical line, nothing else;
- ``audit path``: each event through the whole per-event path of a run writing to disk
  (encode, hash chain, ``events.jsonl`` and ``audit.jsonl`` in a temp dir), then closing it
  (flush, fsync, rename). The chain's head must equal the head of the run the events came
  from, so the figure is of the real work.

Medians per event with the load average beside them. Target of issue 13: <= 3 us per event
for the audit path.

Only the three functions of the adapter section below know the package's audit API (they
use private modules, which this micro benchmark alone may do). To measure a new API, rewrite
those three; the measurement stays.

    python benchmarks/audit_path.py             # events of 5,000 orders, 5 rounds
    python benchmarks/audit_path.py 20000 7     # orders of the source run, rounds
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
from _scenarios import scenario
from _timing import Case, interleave, load_average, load_range, median_us

from pytest_peak_dryrun import run_scenario
from pytest_peak_dryrun.core.audit import AuditLog, JsonlFile

TARGET_US = 3.0
RUN_ID = "audit-path"

# == The adapter: the only code that knows the audit API (typed events, AuditLog as a tap). ====


def sample_events(orders: int) -> tuple[Sequence[Any], str]:
    """The events of a real E2E run of ``orders`` orders, as the audit path receives them,
    and the head of that run's audit chain."""
    result = run_scenario(scenario("e2e", orders), run_id=RUN_ID, keep_events=True)
    return list(result.events), result.report["audit"]["head_sha256"]


_ENCODE = msgspec.json.Encoder(order="sorted").encode


def encode(event: Any) -> object:
    """One event's payload to its canonical bytes (the one encoding the audit path does)."""
    return _ENCODE(event.payload)


def open_audit_path(out_dir: Path) -> tuple[Callable[[Any], None], Callable[[], str]]:
    """The per-event path of a run writing under ``out_dir``: ``(append one event, close)``;
    ``close`` flushes what is buffered and returns the chain's head."""
    audit = AuditLog(
        RUN_ID,
        events_file=JsonlFile(out_dir / "events.jsonl"),
        audit_file=JsonlFile(out_dir / "audit.jsonl"),
        key=None,
    )

    step = [-1]

    def append(record: Any) -> None:
        # As in a run: the stream flushes the queued lines when a step ends.
        if record.ts_ms // 1000 != step[0]:
            step[0] = record.ts_ms // 1000
            audit.flush()
        audit(record.seq, record.ts_ms, record.payload)

    def close() -> str:
        audit.close()
        return audit.head

    return append, close


# == The measurement. ==========================================================================


def time_encode(events: Sequence[Any]) -> tuple[float, int, dict[str, Any]]:
    start = time.process_time()
    for event in events:
        encode(event)
    return time.process_time() - start, len(events), {}


def time_audit_path(events: Sequence[Any], head: str) -> tuple[float, int, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        append, close = open_audit_path(Path(tmp))
        start = time.process_time()
        for event in events:
            append(event)
        got = close()
        seconds = time.process_time() - start
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    assert got == head, f"the audit path wrote another chain than the run: head {got} != {head}"
    return seconds, len(events), {"bytes": size}


def main(argv: list[str]) -> None:
    orders = int(argv[0]) if argv else 5_000
    rounds = int(argv[1]) if len(argv) > 1 else 5
    if orders < 1 or rounds < 1:
        raise SystemExit("usage: python benchmarks/audit_path.py [orders >= 1] [rounds >= 1]")
    events, head = sample_events(orders)
    print(
        f"{len(events):,} events of a {orders:,}-order E2E run ({len(events) / orders:.2f} per order);"
        f" {rounds} interleaved rounds, CPU time (time.process_time); load {load_average():.2f} at the start"
    )
    if os.environ.get("PEAK_DRYRUN_AUDIT_KEY"):
        print("note: PEAK_DRYRUN_AUDIT_KEY is set; the micro path is unkeyed, the source run was keyed")
    samples = interleave(
        [Case("encode", lambda: time_encode(events)), Case("audit path", lambda: time_audit_path(events, head))],
        rounds,
        unit="event",
    )
    enc, path = samples["encode"], samples["audit path"]
    per_event_bytes = path[-1].extra["bytes"] / len(events)
    met = "met" if median_us(path) <= TARGET_US else "missed"
    print(f"medians of {rounds} rounds:")
    print(f"  encode      {median_us(enc):7.3f} us/event  {load_range(enc)}")
    print(
        f"  audit path  {median_us(path):7.3f} us/event  ({per_event_bytes:.0f} bytes written per event)"
        f"  {load_range(path)}  target <= {TARGET_US:.0f} us: {met}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
