"""The one event stream of a dry run: numbering, time, redaction, and who hears each event.

Every fact is one typed event (:mod:`.events`) emitted on one :class:`EventStream`. The
stream gives it a sequence number and the simulated time, masks registered secrets in the
kind's free-text fields (kinds without any are never scanned), and hands it to its *taps*
in order: plain callables ``tap(seq, ts_ms, event)`` that the run wires in (the metrics
collector, the audit log, the activity counter), with no record object built for them. A tap
that wants only some kinds names them (``kinds=``) and is called for those alone: a run's
mismatch log hears one kind of some twenty, and a dict lookup per event costs less than a
Python call that returns at once.
Listeners that want a record (hooks of other suites, ``DryRunResult.events``) subscribe and
receive an :class:`~.events.EventRecord`; none is built when nobody subscribed. The stream
keeps only the last few events (the status snapshot shows them), so a long run streams to
disk in constant memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import FunctionType, MethodType
from typing import Any, Final, overload

from .clock import SimClock
from .events import Event, EventRecord
from .redact import Redactor

__all__ = ["LAST_EVENTS", "EventListener", "EventLog", "EventStream", "EventTap"]

#: How many trailing events the stream keeps for the status snapshot.
LAST_EVENTS: Final = 5

EventListener = Callable[[EventRecord], None]
#: Called with ``(seq, ts_ms, event)`` for every event: the run's own fast consumers.
EventTap = Callable[[int, int, Event], object]


class EventStream:
    """Assigns ``seq`` and ``ts`` to each fact and hands it to every tap and listener, in order."""

    __slots__ = ("_flushers", "_kind_taps", "_listeners", "_taps", "clock", "last", "redactor", "run_id", "seq")

    def __init__(self, run_id: str, clock: SimClock, *, redactor: Redactor | None = None) -> None:
        self.run_id = run_id
        self.clock = clock
        self.redactor = redactor if redactor is not None else Redactor()
        self.seq = 0
        #: the last :data:`LAST_EVENTS` events as ``(seq, ts_ms, event)``
        self.last: deque[tuple[int, int, Event]] = deque(maxlen=LAST_EVENTS)
        self._taps: tuple[EventTap, ...] = ()
        #: taps of some kinds only, by event type, called after the others
        self._kind_taps: dict[type[Event], tuple[EventTap, ...]] = {}
        self._listeners: tuple[EventListener, ...] = ()
        self._flushers: tuple[Callable[[], object], ...] = ()

    def tap(
        self,
        tap: EventTap,
        *,
        flush: Callable[[], object] | None = None,
        kinds: Iterable[type[Event]] | None = None,
    ) -> None:
        """Add a fast consumer; ``flush`` is called at each step boundary (:meth:`flush`).

        With ``kinds`` (event types) the tap hears only events of exactly those types, after
        the taps that hear every event.
        """
        if kinds is None:
            self._taps = (*self._taps, _bound_call(tap))
        else:
            call = _bound_call(tap)
            for kind in kinds:
                self._kind_taps[kind] = (*self._kind_taps.get(kind, ()), call)
        if flush is not None:
            self._flushers = (*self._flushers, flush)

    def subscribe(self, listener: EventListener) -> None:
        """Add a listener that receives an :class:`~.events.EventRecord` per event."""
        self._listeners = (*self._listeners, listener)

    def emit(self, event: Event) -> None:
        self.seq = seq = self.seq + 1
        ts_ms = self.clock.now_ms
        if event.TEXT and self.redactor.active:  # only kinds with free text, only with secrets
            event = self.redactor.redact_event(event)
        self.last.append((seq, ts_ms, event))
        for tap in self._taps:
            tap(seq, ts_ms, event)
        kind_taps = self._kind_taps.get(type(event))
        if kind_taps is not None:
            for tap in kind_taps:
                tap(seq, ts_ms, event)
        if self._listeners:
            record = EventRecord(seq, ts_ms, event)
            for listener in self._listeners:
                listener(record)

    def flush(self) -> None:
        """A step ended: sinks write what they queued (at most one step is ever unwritten)."""
        for flush in self._flushers:
            flush()

    def last_records(self) -> list[EventRecord]:
        return [EventRecord(seq, ts_ms, event) for seq, ts_ms, event in self.last]


def _bound_call(tap: EventTap) -> EventTap:
    """``tap`` as the cheapest thing to call per event: an object whose class defines
    ``__call__`` in Python is called through its bound method (about twice as fast as calling
    the object, which looks the method up on every call); anything else as it is."""
    call = getattr(type(tap), "__call__", None)  # noqa: B004 - the method itself, not a callable() test
    if isinstance(call, FunctionType):
        return MethodType(call, tap)
    return tap


class EventLog(Sequence[EventRecord]):
    """Every event of a run, kept in memory (``DryRunResult.events``), as a sequence of records.

    A stream listener. ``count(kind, **fields)`` counts the events of ``kind`` whose payload
    has every given value: ``events.count("reconcile_mismatch", kind="duplicate_fill")``.
    """

    __slots__ = ("_records",)

    def __init__(self) -> None:
        self._records: list[EventRecord] = []

    def __call__(self, record: EventRecord) -> None:
        self._records.append(record)

    @overload
    def __getitem__(self, index: int) -> EventRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[EventRecord]: ...

    def __getitem__(self, index: int | slice) -> EventRecord | list[EventRecord]:
        return self._records[index]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[EventRecord]:
        return iter(self._records)

    def count(self, kind: Any = None, /, **fields: Any) -> int:
        """How many events are of ``kind`` (an event kind's name) with every ``fields`` value."""
        if kind is None:
            raise TypeError("count(kind, **fields) needs the event kind, e.g. count('rail_trip')")
        name = str(getattr(kind, "value", kind))
        return sum(1 for record in self._records if record.matches(name, fields))

    def of(self, kind: str) -> list[EventRecord]:
        """The events of one kind, in order."""
        name = str(getattr(kind, "value", kind))
        return [record for record in self._records if record.payload.KIND == name]

    def __repr__(self) -> str:
        return f"EventLog({len(self._records)} events)"
