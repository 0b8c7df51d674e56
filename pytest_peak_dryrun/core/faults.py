"""Fault injection at the broker boundary, for any broker: :class:`FaultInjector`.

A scenario's fault schedule (:class:`FaultRule`) and seeded fault rate (:class:`FaultRate`)
are applied *around* a broker, not inside one, so the same failure matrix hits the
:class:`~pytest_peak_dryrun.core.broker.MockBroker` and a team's own adapter alike, and
every injected fault is the same ``fault_injected`` event whatever sits behind the
boundary. What a broker cannot express (a cancel race needs the venue's help) is never
dropped silently: it becomes a ``fault_skipped`` event with the reason.

Nothing here reads the wall clock: steps come from the run's
:class:`~pytest_peak_dryrun.core.clock.SimClock`, randomness from one ``random.Random``
seeded with a string (stable under any ``PYTHONHASHSEED``).
"""

from __future__ import annotations

import contextlib
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, NoReturn

import msgspec
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .boundary import unwrap_broker
from .broker import Broker, MockBroker
from .clock import SimClock
from .errors import BrokerContractError, BrokerError, BrokerTimeoutError, RateLimitError, TransientUnavailableError
from .events import Event, FaultInjectedEvent, FaultSkippedEvent
from .model import Fill, Order, OrderRequest
from .orders import OrderState
from .vocab import BrokerOp, FaultKind

__all__ = [
    "FAULT_OPS",
    "EmitFn",
    "FaultInjector",
    "FaultKind",
    "FaultRate",
    "FaultRule",
]


_ALL_OPS: Final = frozenset(BrokerOp)
#: Which operation each fault kind can be attached to.
FAULT_OPS: Final[dict[FaultKind, frozenset[BrokerOp]]] = {
    FaultKind.RATE_LIMIT: _ALL_OPS,
    FaultKind.TIMEOUT: _ALL_OPS,
    FaultKind.TRANSIENT_UNAVAILABLE: _ALL_OPS,
    FaultKind.DUPLICATE_FILL: frozenset({BrokerOp.FILLS}),
    FaultKind.OUT_OF_ORDER_FILL: frozenset({BrokerOp.FILLS}),
    FaultKind.DROPPED_ACK: frozenset({BrokerOp.PLACE}),
    FaultKind.CANCEL_RACE: frozenset({BrokerOp.CANCEL}),
}
#: Raised instead of calling the broker: nothing happens behind the boundary.
_BEFORE: Final = {
    FaultKind.RATE_LIMIT: RateLimitError,
    FaultKind.TRANSIENT_UNAVAILABLE: TransientUnavailableError,
}
#: Applied to the fills the broker delivers, not to a call.
_STREAM: Final = frozenset({FaultKind.DUPLICATE_FILL, FaultKind.OUT_OF_ORDER_FILL})


class FaultRule(BaseModel):
    """Inject ``kind`` into the first ``times`` calls of ``op`` at or after ``step``.

    Fill-stream faults (``duplicate_fill``, ``out_of_order_fill``, op ``fills``) apply to
    the next ``times`` fills the broker delivers at or after ``step``. ``for_steps``
    (``dropped_ack`` only) hides the acknowledgement for that many steps counted from the
    place; without it the acknowledgement stays hidden until the order moves on.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: int = Field(ge=0, description="0 hits calls made before the first step")
    op: BrokerOp
    kind: FaultKind
    times: int = Field(default=1, ge=1, le=1_000)
    for_steps: int | None = Field(default=None, ge=1, le=1_000_000, description="dropped_ack only")

    @model_validator(mode="after")
    def _op_fits_kind(self) -> FaultRule:
        allowed = FAULT_OPS[self.kind]
        if self.op not in allowed:
            raise ValueError(
                f"fault {self.kind.value!r} cannot be attached to op {self.op.value!r}; "
                f"use op {' or '.join(sorted(repr(o.value) for o in allowed))}"
            )
        if self.for_steps is not None and self.kind is not FaultKind.DROPPED_ACK:
            raise ValueError(f"for_steps only applies to 'dropped_ack', not to {self.kind.value!r}")
        return self


class FaultRate(BaseModel):
    """Seeded random faults: each call of an op in ``ops`` fails with probability ``rate``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float = Field(ge=0.0, le=1.0)
    kinds: tuple[FaultKind, ...] = (
        FaultKind.RATE_LIMIT,
        FaultKind.TIMEOUT,
        FaultKind.TRANSIENT_UNAVAILABLE,
    )
    ops: tuple[BrokerOp, ...] = (BrokerOp.PLACE, BrokerOp.CANCEL, BrokerOp.QUERY)


#: Receives every ``fault_injected`` / ``fault_skipped`` event.
EmitFn = Callable[[Event], object]


class _Rule:
    """A schedule entry with its remaining budget (the validated rule stays frozen)."""

    __slots__ = ("for_steps", "kind", "left", "op", "step")

    def __init__(self, rule: FaultRule) -> None:
        self.step = rule.step
        self.op = rule.op
        self.kind = rule.kind
        self.left = rule.times
        self.for_steps = rule.for_steps


class FaultInjector:
    """A broker that applies a fault schedule and a seeded fault rate around ``broker``.

    It satisfies the :class:`~pytest_peak_dryrun.core.broker.Broker` protocol itself, so
    it goes wherever a broker goes: the plugin's orchestrator wraps every broker in one
    (with the scenario's faults), and an orchestrator of your own can wrap the
    :class:`~pytest_peak_dryrun.core.broker.MockBroker` (or your adapter) the same way.

    At the boundary: ``rate_limit`` and ``transient_unavailable`` are raised before the
    call (nothing happens); ``timeout`` is raised after a call that went through (the
    answer, whatever it was, is lost; lost fills are delivered on the next read);
    ``dropped_ack`` makes ``query_order`` and ``list_open_orders`` report an acknowledged
    order as ``NEW``; ``duplicate_fill`` delivers a fill the broker returned twice, and
    ``out_of_order_fill`` delivers it after the next one (or, if none follows, once the
    step the fill was made in has passed); ``cancel_race`` calls the broker's optional
    ``race_cancel(broker_order_id)`` and is skipped (a ``fault_skipped`` event) for a broker
    without one. ``replace_order`` (the optional amend capability) takes ``rate_limit``,
    ``transient_unavailable`` and ``timeout`` like every call.

    With faults, ``iter_fills`` cursors are the injector's own: an integer counting the
    fills it delivered. It keeps delivered fills until a reader's cursor has passed them,
    so memory stays bounded by what has not been read yet. Without any fault or rate the
    injector forwards every call unchanged, cursors included.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        faults: Iterable[FaultRule | Mapping[str, Any]] = (),
        fault_rate: FaultRate | Mapping[str, Any] | None = None,
        clock: SimClock,
        emit: EmitFn | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(clock, SimClock):
            raise TypeError(f"FaultInjector needs the run's SimClock as clock=, got {type(clock).__name__}")
        if isinstance(broker, FaultInjector):
            raise TypeError(
                "FaultInjector(FaultInjector(...)): a broker gets one fault layer; "
                "put every rule into one injector (or one scenario)"
            )
        self.wrapped = broker
        # The ``__wrapped__`` convention ``unwrap_broker`` follows, set on the instance: on the
        # class (a property) it would make inspect.signature(FaultInjector) follow it and fail.
        self.__wrapped__ = broker
        self.clock = clock
        self.emit = emit
        #: ``(op, fault) -> count`` of injected and of skipped faults, with or without ``emit``.
        self.injected: dict[tuple[str, str], int] = {}
        self.skipped: dict[tuple[str, str], int] = {}
        rules = [r if isinstance(r, FaultRule) else FaultRule.model_validate(r) for r in faults]
        rules.sort(key=lambda r: (r.step, r.op.value, r.kind.value))
        self.faults: tuple[FaultRule, ...] = tuple(rules)
        rate = (
            fault_rate
            if fault_rate is None or isinstance(fault_rate, FaultRate)
            else FaultRate.model_validate(fault_rate)
        )
        self.fault_rate: FaultRate | None = rate
        self._rng = random.Random(f"peak-dryrun:faults:{seed}")
        self._calls = [_Rule(r) for r in rules if r.kind not in _STREAM]
        self._stream = deque(_Rule(r) for r in rules if r.kind in _STREAM)
        self._rate_on = rate is not None and rate.rate > 0
        #: False: nothing to inject, every call goes straight through (cursors included).
        self.active = bool(rules) or self._rate_on
        # Fill-stream faults waiting for the next fill: (kind, scheduled) where scheduled is
        # False for one the seeded rate drew (only a scheduled one is reported if it never fires).
        self._armed: deque[tuple[FaultKind, bool]] = deque()
        self._hidden: dict[str, int | None] = {}  # broker order id -> hide the ack until this step
        self._inner_cursor: Any = 0
        self._fills: deque[Fill] = deque()
        self._base = 0  # stream position of self._fills[0]
        self._held: Fill | None = None
        self._held_step = -1
        race = getattr(broker, "race_cancel", None)
        self._race_cancel: Callable[[str], object] | None = race if callable(race) else None
        on_step = getattr(broker, "on_step", None)
        self._on_step: Callable[[int], object] | None = on_step if callable(on_step) else None

    # -- what the run and the preflight read ---------------------------------------------

    @property
    def _venue_name(self) -> str:
        """The class name of the user's broker under every wrapper (for messages)."""
        return type(unwrap_broker(self.wrapped)).__name__

    @property
    def dry_run(self) -> bool:
        """The wrapped broker's declaration (a MockBroker is one by construction)."""
        return isinstance(self.wrapped, MockBroker) or getattr(self.wrapped, "dry_run", False) is True

    @property
    def target(self) -> Broker:
        """What a caller may call in this injector's place: itself, or, when there is nothing
        to inject (:attr:`active` is False and every call would be forwarded unchanged), the
        broker it wraps. The orchestrator calls the broker through it (one call less per
        operation on the hot path)."""
        return self if self.active else self.wrapped

    def on_step(self, step: int) -> None:
        """Forward the run's step to the wrapped broker's ``on_step``, if it has one."""
        if self._on_step is not None:
            self._on_step(step)

    @property
    def pending_fills(self) -> int:
        """Fills delivered (or held back) that no reader's cursor has passed yet: what it keeps."""
        return len(self._fills) + (self._held is not None)

    def describe(self) -> str:
        """One line for the preflight: what this injector will inject."""
        parts = [f"{len(self.faults)} scheduled fault rule(s)"]
        if self.fault_rate is not None:
            parts.append(f"fault rate {self.fault_rate.rate:g}")
        return " and ".join(parts) + f" around {self._venue_name}"

    # -- the Broker protocol ----------------------------------------------------------------

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        if not self.active:
            return self.wrapped.place_order(request, idempotency_key=idempotency_key)
        rule = self._draw(BrokerOp.PLACE)
        if rule is None:
            return self.wrapped.place_order(request, idempotency_key=idempotency_key)
        kind, for_steps = rule
        label = f"place {idempotency_key}"
        self._announce(BrokerOp.PLACE, kind)
        self._raise_before(kind, label)
        if kind is FaultKind.TIMEOUT:
            self._lose_answer(lambda: self.wrapped.place_order(request, idempotency_key=idempotency_key), label)
        boid = self.wrapped.place_order(request, idempotency_key=idempotency_key)
        # DROPPED_ACK: the venue works the order, but its acknowledgement never reaches us.
        self._hidden[boid] = None if for_steps is None else self.clock.step + for_steps
        return boid

    def cancel_order(self, broker_order_id: str) -> None:
        if not self.active:
            self.wrapped.cancel_order(broker_order_id)
            return
        rule = self._draw(BrokerOp.CANCEL)
        if rule is None:
            self.wrapped.cancel_order(broker_order_id)
            return
        kind = rule[0]
        label = f"cancel {broker_order_id}"
        if kind is FaultKind.CANCEL_RACE:
            if self._race_cancel is None:
                self._skip(
                    BrokerOp.CANCEL,
                    kind,
                    f"{self._venue_name} has no race_cancel(broker_order_id) method to let a fill win the cancel",
                )
                self.wrapped.cancel_order(broker_order_id)
                return
            self._announce(BrokerOp.CANCEL, kind)
            self._race_cancel(broker_order_id)
            return
        self._announce(BrokerOp.CANCEL, kind)
        self._raise_before(kind, label)
        self._lose_answer(lambda: self.wrapped.cancel_order(broker_order_id), label)  # TIMEOUT

    def replace_order(
        self, broker_order_id: str, *, qty: Decimal | None = None, limit_price: Decimal | None = None
    ) -> None:
        replace = getattr(self.wrapped, "replace_order", None)
        if not callable(replace):
            # The preflight refuses a scenario with replaces for such a broker (broker_replace);
            # an orchestrator of your own gets the same answer here, not an AttributeError.
            raise BrokerContractError(
                f"{self._venue_name} has no replace_order(broker_order_id, *, qty=None, limit_price=None): "
                "it cannot amend orders"
            )
        if not self.active:
            replace(broker_order_id, qty=qty, limit_price=limit_price)
            return
        rule = self._draw(BrokerOp.REPLACE)
        if rule is None:
            replace(broker_order_id, qty=qty, limit_price=limit_price)
            return
        kind = rule[0]
        label = f"replace {broker_order_id}"
        self._announce(BrokerOp.REPLACE, kind)
        self._raise_before(kind, label)
        self._lose_answer(lambda: replace(broker_order_id, qty=qty, limit_price=limit_price), label)  # TIMEOUT

    def query_order(self, broker_order_id: str) -> Order:
        if not self.active:
            return self.wrapped.query_order(broker_order_id)
        rule = self._draw(BrokerOp.QUERY)
        if rule is not None:
            kind = rule[0]
            label = f"query {broker_order_id}"
            self._announce(BrokerOp.QUERY, kind)
            self._raise_before(kind, label)
            self._lose_answer(lambda: self.wrapped.query_order(broker_order_id), label)  # TIMEOUT
        order = self.wrapped.query_order(broker_order_id)
        return self._hide_ack(order) if self._hidden else order

    def list_open_orders(self) -> list[Order]:
        orders = self.wrapped.list_open_orders()
        if not self._hidden:
            return orders
        listed = {o.broker_order_id for o in orders}
        for boid in [b for b in self._hidden if b not in listed]:
            del self._hidden[boid]  # no longer open: nothing left to hide, bounded memory
        return [self._hide_ack(o) for o in orders]

    def iter_fills(self, cursor: int) -> tuple[int, list[Fill]]:
        if not self.active:
            got, fills = self.wrapped.iter_fills(cursor)
            return got, list(fills)
        rule = self._draw(BrokerOp.FILLS)
        if rule is not None:
            kind = rule[0]
            self._announce(BrokerOp.FILLS, kind)
            self._raise_before(kind, f"fills after {cursor}")
        self._pull()
        if rule is not None:  # TIMEOUT: the fills were delivered, the answer was lost
            raise BrokerTimeoutError(f"fills after {cursor}: injected timeout, the answer was lost")
        return self._read(cursor)

    def finish(self) -> None:
        """Name every scheduled fault that never fired: a ``fault_skipped`` event each.

        A rule whose operation was not called at or after its step before the run ended (or
        a fill-stream fault that no fill came to carry) was not applied, and a dry run that
        says nothing about it would claim a failure it never rehearsed. The orchestrator
        calls this once, at the end of its wind-down.
        """
        for rule in self._calls:
            while rule.left > 0:
                rule.left -= 1
                self._skip(
                    rule.op,
                    rule.kind,
                    f"never triggered: no {rule.op.value} call at or after step {rule.step} before the run ended",
                )
        while self._stream:
            rule = self._stream.popleft()
            self._armed.extend([(rule.kind, True)] * rule.left)
        while self._armed:
            kind, scheduled = self._armed.popleft()
            if scheduled:
                self._skip(BrokerOp.FILLS, kind, "never triggered: no fill was delivered after it was due")

    # -- choosing a fault --------------------------------------------------------------------

    def _draw(self, op: BrokerOp) -> tuple[FaultKind, int | None] | None:
        """The call fault for this call of ``op`` (a rule's first, then the seeded rate)."""
        step = self.clock.step
        for rule in self._calls:
            if rule.step > step:
                break
            if rule.op is op and rule.left > 0:
                rule.left -= 1
                return rule.kind, rule.for_steps
        rate = self.fault_rate
        if rate is None or not self._rate_on or op not in rate.ops or self._rng.random() >= rate.rate:
            return None
        candidates = [k for k in rate.kinds if op in FAULT_OPS[k]]
        if not candidates:
            return None
        kind = self._rng.choice(candidates)
        if kind in _STREAM:
            # Like a scheduled one, a drawn fill-stream fault hits the next fill delivered;
            # this call itself succeeds. At most one drawn fault waits at a time: a long
            # run without fills must not queue one per call.
            if not self._armed:
                self._armed.append((kind, False))
            return None
        return kind, None

    def _announce(self, op: BrokerOp, kind: FaultKind, *, broker_order_id: str | None = None) -> None:
        key = (op.value, kind.value)
        self.injected[key] = self.injected.get(key, 0) + 1
        if self.emit is not None:
            self.emit(FaultInjectedEvent(op=op, fault=kind, step=self.clock.step, broker_order_id=broker_order_id))

    def _skip(self, op: BrokerOp, kind: FaultKind, reason: str) -> None:
        key = (op.value, kind.value)
        self.skipped[key] = self.skipped.get(key, 0) + 1
        if self.emit is not None:
            self.emit(FaultSkippedEvent(op=op, fault=kind, step=self.clock.step, reason=reason))

    @staticmethod
    def _raise_before(kind: FaultKind, label: str) -> None:
        error = _BEFORE.get(kind)
        if error is not None:
            raise error(f"{label}: injected {kind.value}")

    @staticmethod
    def _lose_answer(call: Callable[[], object], label: str) -> NoReturn:
        """Make the call, then lose its answer: a timeout after the broker acted."""
        with contextlib.suppress(BrokerError):  # an error answer is lost as well; the retry hears it again
            call()
        raise BrokerTimeoutError(f"{label}: injected timeout, the answer was lost")

    # -- dropped acknowledgements --------------------------------------------------------------

    def _hide_ack(self, order: Order) -> Order:
        boid = order.broker_order_id or ""
        if boid not in self._hidden:
            return order
        if order.state is OrderState.NEW:
            return order  # not acknowledged yet: nothing to hide so far
        until = self._hidden[boid]
        if order.state is OrderState.ACK and (until is None or self.clock.step < until):
            return msgspec.structs.replace(order, state=OrderState.NEW)
        del self._hidden[boid]  # the order moved on (or the hiding ran out): report it as it is
        return order

    # -- the fill stream ---------------------------------------------------------------------

    def _pull(self) -> None:
        """Take what the wrapped broker delivered since the last pull, applying stream faults."""
        cursor, fills = self.wrapped.iter_fills(self._inner_cursor)
        self._inner_cursor = cursor
        step = self.clock.step
        for fill in fills:
            self._take(fill, step)
        if self._held is not None and step > self._held_step:
            self._release_held()  # no later fill came to overtake it within its step

    def _take(self, fill: Fill, step: int) -> None:
        while self._stream and self._stream[0].step <= step:
            rule = self._stream.popleft()
            self._armed.extend([(rule.kind, True)] * rule.left)
        if not self._armed:
            self._deliver(fill)
            return
        kind, _ = self._armed.popleft()
        self._announce(BrokerOp.FILLS, kind, broker_order_id=fill.broker_order_id)
        if kind is FaultKind.DUPLICATE_FILL:
            self._fills.append(fill)
            self._deliver(fill)
        elif self._held is None:  # OUT_OF_ORDER_FILL: deliver it after the next fill
            self._held = fill
            # Held until the next fill, or until the step after the one the venue made it in:
            # a fill read late is not stranded by a reader that reads once more and stops.
            self._held_step = min(fill.step, step)
        else:  # one is held already: this fill overtakes it, which is the fault
            self._deliver(fill)

    def _deliver(self, fill: Fill) -> None:
        self._fills.append(fill)
        if self._held is not None:
            self._release_held()

    def _release_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._fills.append(held)

    def _read(self, cursor: int) -> tuple[int, list[Fill]]:
        buffered = self._fills
        passed = min(cursor - self._base, len(buffered))
        for _ in range(passed):  # the reader is past these: forget them
            buffered.popleft()
        if passed > 0:
            self._base += passed
        end = self._base + len(buffered)
        if cursor >= end:
            return max(cursor, end), []
        return end, list(buffered)

    def __repr__(self) -> str:
        return f"FaultInjector({self._venue_name}, faults={len(self.faults)}, rate={self.fault_rate})"
