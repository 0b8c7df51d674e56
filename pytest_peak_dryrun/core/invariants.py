"""The invariant oracle: what must hold after *any* dry run, whatever the scenario and faults.

A golden file says "this run behaved as it did last time"; it cannot say whether that
behaviour was right. :func:`check_invariants` can, for the properties every correct
execution stack keeps under every schedule of faults (the oracle of deterministic
simulation testing: generated scenarios are only as good as what is checked after them).
It reads a finished :class:`~.dryrun.DryRunResult`: its events (one pass), its documents,
the fault injector's own counts and, at the end, the broker's view of each order, and
returns one :class:`Violation` per broken property, never raising for one.

The built-in invariants, by name (:data:`INVARIANTS`):

- ``legal_transitions``: every ``order_transition`` is an edge of
  :data:`~.orders.LEGAL_TRANSITIONS` (read when checked, so a state added there is known)
  and starts where the order was; the broker never reported a transition the table forbids
  (an ``illegal_transition`` rail trip).
- ``fills_within_quantity``: no order is filled beyond its quantity, and each fill's
  ``cum_qty`` is the sum of the fills applied so far.
- ``fills_applied_once``: no fill id is applied twice to an order.
- ``positions_and_cash``: the status document's positions and cash equal the scenario's
  starting cash and the sum of the applied fills.
- ``faults_visible``: every fault the injector counted (injected or skipped) is a
  ``fault_injected``/``fault_skipped`` event and a sample of ``faults_injected_total`` /
  ``faults_skipped_total``, and the other way round.
- ``metrics_match_events``: every metric of the metrics document equals its recount from
  the events by a fresh :class:`~.metrics.MetricsCollector` (the code ``peak-dryrun
  validate`` recounts ``events.jsonl`` with).
- ``reconciler_converges``: the reconcile pass at stop, after the last fault, found no
  mismatch and no error, unless the session ended in ``ERROR_REQUIRES_OPERATOR`` with a
  reason.
- ``broker_agrees``: at stop the broker's filled quantity of every order equals the fills
  the run applied, and an order the broker has ended is not open in the run, unless the
  difference was reported (a reconcile mismatch naming the order, or
  ``ERROR_REQUIRES_OPERATOR`` with a reason). This is what catches an orchestrator (yours)
  that loses a fill silently: the run's own book is consistent with its events, only the
  venue knows.
- ``nothing_left_open``: after the stop timeout no order is open in the run or at the
  broker, unless reported: an order open in the run needs ``ERROR_REQUIRES_OPERATOR`` with
  a reason and a health reason; one open only at the broker needs a reconcile mismatch
  naming it or ``ERROR_REQUIRES_OPERATOR``.
- ``stops_cleanly_without_faults``: a run in which no fault was injected and no rail
  tripped, and whose venue answers within the stop timeout (the scenario's ``[broker]``
  ack and cancel latencies are below ``stop_timeout_steps``), ends ``STOPPED``. The three
  invariants above accept ``ERROR_REQUIRES_OPERATOR`` as the orchestrator's honest answer
  to a broker it cannot reconcile (the orchestrator reports a lost fill, an orphaned order,
  a broker down at stop and escalates); this one says that, with nothing injected, such a
  broker is the bug: it is what finds an adapter that loses a fill. A foreign venue
  slower than its scenario's latencies can trip it: skip it by name for such a venue.

``broker_agrees`` and ``nothing_left_open`` ask the run's broker (under the fault layer: no
fault is injected and no event emitted) for ``query_order`` of each order and
``list_open_orders`` once.

Your own invariants: pass ``extra=`` callables, or implement the
``pytest_dryrun_invariants`` hook (scenario files, ``dryrun_invariants`` and the fuzz loop
call it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from . import orders as _orders
from .errors import BrokerError
from .events import (
    METRIC_SPECS,
    EventRecord,
    FaultInjectedEvent,
    FaultSkippedEvent,
    FillEvent,
    OrderPlaceEvent,
    OrderReplacedEvent,
    OrderTransitionEvent,
    RailTripEvent,
    ReconcileMismatchEvent,
    ReconcilePassEvent,
    SessionStateEvent,
)
from .metrics import MetricsCollector
from .orders import OrderState, Side
from .vocab import MismatchKind, Rail, SessionState

if TYPE_CHECKING:
    from .dryrun import DryRunResult
    from .model import Order

__all__ = ["INVARIANTS", "Invariant", "Violation", "check_invariants"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant: its name, where it broke, and what was seen.

    ``step`` is the simulated step the event's time falls in (a long retry backoff can carry
    an event's time into the next step's second); ``seq`` the event's sequence number in the
    run (``events.jsonl`` line ``seq``); ``order_id`` the run's order id. Each is ``None``
    when it does not apply. ``str(violation)`` is one line.
    """

    invariant: str
    message: str
    _: KW_ONLY
    step: int | None = None
    order_id: str | None = None
    seq: int | None = None

    @property
    def where(self) -> str:
        """``"step 3, order O-000002, event 41"`` (the parts that apply; ``"end of run"`` if none)."""
        parts = []
        if self.step is not None:
            parts.append(f"step {self.step}")
        if self.order_id is not None:
            parts.append(f"order {self.order_id}")
        if self.seq is not None:
            parts.append(f"event {self.seq}")
        return ", ".join(parts) or "end of run"

    def __str__(self) -> str:
        return f"{self.invariant} ({self.where}): {self.message}"


#: An invariant: reads a finished run, yields (or returns) the violations it finds.
Invariant = Callable[["DryRunResult"], "Iterable[Violation] | None"]


class _Order:
    """What the events say about one order."""

    __slots__ = ("broker_order_id", "filled", "instrument", "side", "state")

    def __init__(self, event: OrderPlaceEvent) -> None:
        self.instrument = event.instrument
        self.side = event.side
        self.broker_order_id = event.broker_order_id
        self.state = OrderState.NEW
        #: at the end of the run: its last state, and the sum of its applied fills
        self.filled = Decimal(0)


@dataclass
class _Run:
    """One pass over a run's events: the facts every check reads."""

    result: DryRunResult
    events: list[EventRecord]
    orders: dict[str, _Order] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)  # order ids (and broker ids) a mismatch named
    final_state: SessionState = SessionState.INIT
    final_reason: str = ""
    last_pass: tuple[EventRecord, ReconcilePassEvent] | None = None
    mismatches: list[ReconcileMismatchEvent] = field(default_factory=list)
    faults_injected: int = 0
    rails_tripped: int = 0
    _broker_view: dict[str, Order | None] | None = None
    _broker_open: list[Order] | None = None

    def step(self, record: EventRecord) -> int:
        clock = self.result.orchestrator.clock
        return max(0, (record.ts_ms - clock.epoch_ms) // clock.step_ms)

    def at(self, record: EventRecord, invariant: str, message: str, order_id: str | None = None) -> Violation:
        return Violation(invariant, message, step=self.step(record), order_id=order_id, seq=record.seq)

    @property
    def escalated(self) -> bool:
        """The operator was told: the session ended in ERROR_REQUIRES_OPERATOR, with a reason."""
        return self.final_state is SessionState.ERROR_REQUIRES_OPERATOR and bool(self.final_reason.strip())

    # -- the broker's view at stop (asked once, below the fault layer) ----------------------

    def _broker(self) -> Any:
        return self.result.orchestrator.injector.wrapped

    def broker_order(self, order_id: str) -> Order | None:
        """The broker's record of ``order_id`` now, or None if it has none (or cannot say)."""
        if self._broker_view is None:
            view: dict[str, Order | None] = {}
            broker = self._broker()
            for oid, order in self.orders.items():
                if order.broker_order_id is None:
                    continue
                try:
                    view[oid] = broker.query_order(order.broker_order_id)
                except BrokerError:
                    view[oid] = None  # forgotten or unreachable: nothing to compare
            self._broker_view = view
        return self._broker_view.get(order_id)

    def broker_open(self) -> list[Order]:
        if self._broker_open is None:
            try:
                self._broker_open = list(self._broker().list_open_orders())
            except BrokerError:
                self._broker_open = []
        return self._broker_open


def _scan(result: DryRunResult) -> _Run:
    try:
        log = result.events
    except RuntimeError:
        raise ValueError(
            f"check_invariants({result!r}): the run did not keep its events, and the oracle reads them; "
            "run it with keep_events=True (the default of run_scenario and of the dryrun fixtures)"
        ) from None
    run = _Run(result, list(log))
    orders = run.orders
    for record in run.events:
        payload = record.payload
        if isinstance(payload, OrderPlaceEvent):
            orders[payload.order_id] = _Order(payload)
        elif isinstance(payload, OrderTransitionEvent) and payload.order_id in orders:
            orders[payload.order_id].state = payload.to_state
        elif isinstance(payload, FillEvent) and payload.order_id in orders:
            orders[payload.order_id].filled += Decimal(payload.qty)
        elif isinstance(payload, ReconcileMismatchEvent):
            run.reported.add(payload.order_id)
            run.mismatches.append(payload)
        elif isinstance(payload, FaultInjectedEvent):
            run.faults_injected += 1
        elif isinstance(payload, RailTripEvent):
            run.rails_tripped += 1
        elif isinstance(payload, SessionStateEvent):
            run.final_state = payload.to_state
            run.final_reason = payload.reason
        elif isinstance(payload, ReconcilePassEvent):
            run.last_pass = (record, payload)
    return run


# -- the built-in invariants ----------------------------------------------------------------------


def _legal_transitions(run: _Run) -> Iterator[Violation]:
    legal = _orders.LEGAL_TRANSITIONS  # looked up now: a state added to the table is known here
    state: dict[str, OrderState] = {}
    for record in run.events:
        payload = record.payload
        if isinstance(payload, OrderPlaceEvent):
            state.setdefault(payload.order_id, OrderState.NEW)
        elif isinstance(payload, OrderTransitionEvent):
            oid, src, dst = payload.order_id, payload.from_state, payload.to_state
            was = state.get(oid)
            if was is None:
                yield run.at(record, "legal_transitions", f"{src.value} -> {dst.value} of an order never placed", oid)
            elif was is not src:
                yield run.at(
                    record,
                    "legal_transitions",
                    f"{src.value} -> {dst.value}, but the order was {was.value} (its last transition)",
                    oid,
                )
            if dst not in legal.get(src, frozenset()):
                allowed = ", ".join(sorted(s.value for s in legal.get(src, ()))) or "none, terminal"
                yield run.at(
                    record,
                    "legal_transitions",
                    f"{src.value} -> {dst.value} is not a legal transition (legal from {src.value}: {allowed})",
                    oid,
                )
            state[oid] = dst
        elif isinstance(payload, RailTripEvent) and payload.rail is Rail.ILLEGAL_TRANSITION:
            yield run.at(
                record, "legal_transitions", f"the broker reported an illegal transition: {payload.detail}", None
            )


def _fills(run: _Run) -> Iterator[Violation]:
    """``fills_within_quantity`` and ``fills_applied_once`` in one walk over the fills."""
    filled: dict[str, Decimal] = {}
    seen: set[tuple[str, str]] = set()
    qty: dict[str, Decimal] = {}  # each order's quantity as of the event at hand (a replace changes it)
    for record in run.events:
        payload = record.payload
        if isinstance(payload, (OrderPlaceEvent, OrderReplacedEvent)):
            qty[payload.order_id] = Decimal(payload.qty)
        if not isinstance(payload, FillEvent):
            continue
        oid = payload.order_id
        order = run.orders.get(oid)
        if order is None:
            yield run.at(record, "fills_within_quantity", f"fill {payload.fill_id} of an order never placed", oid)
            continue
        if (oid, payload.fill_id) in seen:
            yield run.at(record, "fills_applied_once", f"fill {payload.fill_id} applied a second time", oid)
        seen.add((oid, payload.fill_id))
        total = filled[oid] = filled.get(oid, Decimal(0)) + Decimal(payload.qty)
        if Decimal(payload.cum_qty) != total:
            yield run.at(
                record,
                "fills_within_quantity",
                f"fill {payload.fill_id} says cum_qty {payload.cum_qty}, the fills applied add up to {_text(total)}",
                oid,
            )
        if total > qty[oid]:
            yield run.at(
                record,
                "fills_within_quantity",
                f"fill {payload.fill_id} takes the order to {_text(total)} of {_text(qty[oid])}",
                oid,
            )


def _positions_and_cash(run: _Run) -> Iterator[Violation]:
    cash = run.result.scenario.starting_cash
    positions: dict[str, Decimal] = {}
    for record in run.events:
        payload = record.payload
        if isinstance(payload, FillEvent) and payload.order_id in run.orders:
            order = run.orders[payload.order_id]
            qty = Decimal(payload.qty)
            signed = qty if order.side is Side.BUY else -qty
            positions[order.instrument] = positions.get(order.instrument, Decimal(0)) + signed
            cash -= signed * Decimal(payload.price)
    status = run.result.status
    for instrument in sorted(set(positions) | set(status.positions)):
        have, want = status.positions.get(instrument, Decimal(0)), positions.get(instrument, Decimal(0))
        if have != want:
            yield Violation(
                "positions_and_cash",
                f"position in {instrument} is {_text(have)}, the applied fills add up to {_text(want)}",
            )
    if status.cash != cash:
        yield Violation(
            "positions_and_cash",
            f"cash is {_text(status.cash)}, starting cash {_text(run.result.scenario.starting_cash)} "
            f"and the applied fills give {_text(cash)}",
        )


def _faults_visible(run: _Run) -> Iterator[Violation]:
    injector = run.result.orchestrator.injector
    metrics = run.result.metrics
    for kind, counted, metric in (
        (FaultInjectedEvent, injector.injected, "faults_injected_total"),
        (FaultSkippedEvent, injector.skipped, "faults_skipped_total"),
    ):
        events: dict[tuple[str, str], int] = {}
        for record in run.events:
            payload = record.payload
            if isinstance(payload, kind):
                key = (payload.op.value, payload.fault.value)
                events[key] = events.get(key, 0) + 1
        for op, fault in sorted(set(counted) | set(events)):
            n_injector = counted.get((op, fault), 0)
            n_events = events.get((op, fault), 0)
            n_metric = metrics.value(metric, op=op, fault=fault)
            if not n_injector == n_events == n_metric:
                yield Violation(
                    "faults_visible",
                    f"{fault} on {op}: the injector counted {n_injector}, the run has {n_events} "
                    f"{kind.KIND} event(s), {metric} says {_number(n_metric)}",
                )


def _metrics_match_events(run: _Run) -> Iterator[Violation]:
    recount = MetricsCollector()
    for record in run.events:
        recount(record.seq, record.ts_ms, record.payload)
    published = {family.name: family for family in run.result.metrics.metrics}
    expected = {family["name"]: family for family in recount.families()}
    for spec in METRIC_SPECS:
        family = published.get(spec.name)
        if family is None:
            yield Violation("metrics_match_events", f"{spec.name} is missing from the metrics document")
            continue
        have = _nonzero((tuple(s.labels.get(label, "") for label in spec.labels), s.value) for s in family.samples)
        want = _nonzero(
            (tuple(s["labels"][label] for label in spec.labels), s["value"]) for s in expected[spec.name]["samples"]
        )
        for key in sorted(set(have) | set(want)):
            if have.get(key, 0) != want.get(key, 0):
                labels = ",".join(f'{k}="{v}"' for k, v in zip(spec.labels, key, strict=True))
                series = f"{spec.name}{{{labels}}}" if labels else spec.name
                yield Violation(
                    "metrics_match_events",
                    f"{series} is {_number(have.get(key, 0))}, the run's events give {_number(want.get(key, 0))}",
                )


def _reconciler_converges(run: _Run) -> Iterator[Violation]:
    if run.last_pass is None or run.escalated:
        return  # never ran (a failed preflight), or the operator was told
    record, payload = run.last_pass
    if payload.error is not None:
        yield run.at(
            record, "reconciler_converges", f"the reconcile pass at stop could not reach the broker ({payload.error})"
        )
    elif not payload.ok:
        yield run.at(
            record,
            "reconciler_converges",
            f"the reconcile pass at stop found {payload.mismatches} mismatch(es), and the session ended "
            f"{run.final_state.value}",
        )


def _broker_agrees(run: _Run) -> Iterator[Violation]:
    if run.escalated or run.last_pass is None:
        return
    terminal = _orders.TERMINAL_STATES
    for oid, order in run.orders.items():
        remote = run.broker_order(oid)
        if remote is None or oid in run.reported or order.broker_order_id in run.reported:
            continue
        if remote.filled_qty != order.filled:
            yield Violation(
                "broker_agrees",
                f"the broker filled {_text(remote.filled_qty)} ({remote.state.value}), the run applied fills for "
                f"{_text(order.filled)} ({order.state.value}), and no mismatch reported it",
                order_id=oid,
            )
        elif remote.state in terminal and order.state not in terminal:
            yield Violation(
                "broker_agrees",
                f"the broker ended the order ({remote.state.value}), it is still {order.state.value} in the run, "
                "and no mismatch reported it",
                order_id=oid,
            )


def _nothing_left_open(run: _Run) -> Iterator[Violation]:
    if run.last_pass is None:
        return  # the session never ran
    open_states = _orders.OPEN_STATES
    still_open = sorted(oid for oid, order in run.orders.items() if order.state in open_states)
    reasons = run.result.health.reasons
    if still_open and not (run.escalated and reasons):
        yield Violation(
            "nothing_left_open",
            f"{len(still_open)} order(s) open in the run after the stop timeout ({', '.join(still_open[:5])}), "
            f"and the session ended {run.final_state.value}" + ("" if reasons else " with no health reason"),
        )
    if run.escalated:
        return
    known = {order.broker_order_id: oid for oid, order in run.orders.items() if order.broker_order_id}
    for remote in run.broker_open():
        boid = remote.broker_order_id or ""
        oid = known.get(boid)
        if oid in still_open:
            continue  # reported above
        if {oid, boid, remote.order_id} & run.reported:
            continue
        yield Violation(
            "nothing_left_open",
            f"the broker still has order {boid} open ({remote.state.value}) after the stop timeout, "
            "and no mismatch reported it",
            order_id=oid,
        )


def _stops_cleanly_without_faults(run: _Run) -> Iterator[Violation]:
    if not run.escalated or run.faults_injected or run.rails_tripped or run.last_pass is None:
        return
    scenario = run.result.scenario
    venue = scenario.broker_config()
    if scenario.stop_timeout_steps <= max(venue.ack_latency_steps, venue.cancel_latency_steps):
        return  # the venue may answer a cancel only after the stop timeout: escalating is right
    seen = [m for m in run.mismatches if m.kind is not MismatchKind.CANCEL_RACE]
    found = "; ".join(f"{m.kind.value} {m.order_id}: {m.detail}" for m in seen[:3])
    more = f" (+{len(seen) - 3} more)" if len(seen) > 3 else ""
    yield Violation(
        "stops_cleanly_without_faults",
        f"no fault was injected and no rail tripped, yet the session ended {run.final_state.value} "
        f"({run.final_reason})" + (f"; mismatches: {found}{more}" if found else ""),
    )


_Check = Callable[[_Run], Iterator[Violation]]

#: The built-in invariants: name -> what holds (README, "Invariants"; a test checks the table).
INVARIANTS: Final[Mapping[str, str]] = {
    "legal_transitions": "every order transition is a FIX-legal edge of LEGAL_TRANSITIONS, from the order's "
    "last state; the broker reported none the table forbids",
    "fills_within_quantity": "no order is filled beyond its quantity; each fill's cum_qty is the sum so far",
    "fills_applied_once": "no fill id is applied twice to an order",
    "positions_and_cash": "positions and cash equal the starting cash and the sum of the applied fills",
    "faults_visible": "every fault the injector counted is an event and a sample of faults_injected_total / "
    "faults_skipped_total, and the other way round",
    "metrics_match_events": "every metric equals its recount from the events",
    "reconciler_converges": "the reconcile pass at stop finds no mismatch, unless the session ended in "
    "ERROR_REQUIRES_OPERATOR with a reason",
    "broker_agrees": "at stop the broker's filled quantity and ended orders agree with the run's, unless a "
    "mismatch reported the difference or the session ended in ERROR_REQUIRES_OPERATOR with a reason",
    "nothing_left_open": "no order is open in the run or at the broker after the stop timeout, unless reported "
    "(ERROR_REQUIRES_OPERATOR with a reason, a reconcile mismatch)",
    "stops_cleanly_without_faults": "a run in which no fault was injected and no rail tripped, whose venue "
    "latencies fit in the stop timeout, does not end in ERROR_REQUIRES_OPERATOR",
}

#: Each check with the invariants it reports (one walk may check two).
_CHECKS: Final[tuple[tuple[frozenset[str], _Check], ...]] = (
    (frozenset({"legal_transitions"}), _legal_transitions),
    (frozenset({"fills_within_quantity", "fills_applied_once"}), _fills),
    (frozenset({"positions_and_cash"}), _positions_and_cash),
    (frozenset({"faults_visible"}), _faults_visible),
    (frozenset({"metrics_match_events"}), _metrics_match_events),
    (frozenset({"reconciler_converges"}), _reconciler_converges),
    (frozenset({"broker_agrees"}), _broker_agrees),
    (frozenset({"nothing_left_open"}), _nothing_left_open),
    (frozenset({"stops_cleanly_without_faults"}), _stops_cleanly_without_faults),
)


def check_invariants(
    result: DryRunResult, *, extra: Iterable[Invariant] = (), skip: Iterable[str] = ()
) -> list[Violation]:
    """Every violation of the built-in invariants (:data:`INVARIANTS`) and of ``extra`` in ``result``.

    ``result`` must have kept its events (``keep_events=True``, the default). ``extra`` are
    invariants of your own: callables taking the result and returning (or yielding)
    :class:`Violation`s. ``skip`` names built-in invariants not to check (a ``ValueError``
    names the known ones for a name that is not). An empty list means every invariant held.
    """
    skipped = frozenset(skip)
    unknown = sorted(skipped - set(INVARIANTS))
    if unknown:
        raise ValueError(
            f"check_invariants(skip=...): no invariant named {', '.join(map(repr, unknown))}; "
            f"the built-in invariants are {', '.join(INVARIANTS)}"
        )
    run = _scan(result)
    found: list[Violation] = []
    for names, check in _CHECKS:
        if not names <= skipped:
            found.extend(v for v in check(run) if v.invariant not in skipped)
    for invariant in extra:
        produced = invariant(result)
        for violation in produced or ():
            if not isinstance(violation, Violation):
                raise TypeError(
                    f"check_invariants(extra=...): {getattr(invariant, '__name__', invariant)!r} produced "
                    f"{type(violation).__name__} {violation!r}; an invariant returns Violation records"
                )
            found.append(violation)
    return found


def _text(value: Decimal) -> str:
    return format(value, "f")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _nonzero(samples: Iterable[tuple[tuple[str, ...], float]]) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for key, value in samples:
        out[key] = out.get(key, 0) + value
    return {key: value for key, value in out.items() if value}
