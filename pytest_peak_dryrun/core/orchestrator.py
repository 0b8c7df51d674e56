"""The orchestrator: a bounded dry-run session over a broker (runbook phases C2 and C3).

``preflight()`` proves the session cannot go live, ``run(n)`` executes exactly ``n`` steps
(fewer only when a safety rail stops the session), ``stop()`` cancels what is open, waits a
bounded number of steps and lands in ``STOPPED`` (or ``ERROR_REQUIRES_OPERATOR``). There is
no other loop: nothing polls or watches forever.

Every broker is talked to through one :class:`~pytest_peak_dryrun.core.faults.FaultInjector`
carrying the scenario's faults (the one fault mechanism, whatever the broker; one without
faults forwards every call unchanged, so the run calls its ``target``, the broker), and follows
the run's clock: the preflight checks ``.clock``, and ``on_step(step)`` is called each time
the step advances, in the run and in stop's wind-down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from enum import Enum
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .book import OrderBook
from .boundary import check_broker, replace_problem, signature_problems, unwrap_broker
from .broker import Broker, BrokerOp, MockBroker
from .clock import SimClock, check_broker_clock
from .errors import BrokerError, PermanentBrokerError, RetryableBrokerError, RetryReason, UnknownOrderError
from .events import (
    FillDuplicateIgnoredEvent,
    FillEvent,
    FillOutOfOrderEvent,
    OrderCancelEvent,
    OrderPlaceEvent,
    OrderQueryEvent,
    OrderReplacedEvent,
    OrderReplaceEvent,
    PreflightCheckEvent,
    RetryEvent,
    SessionStateEvent,
    money,
)
from .faults import FaultInjector
from .model import Fill, Order, OrderRequest
from .orders import OPEN_STATES, IllegalTransitionError, OrderRecord, OrderState, Side
from .rails import SafetyRails
from .reconcile import MismatchKind, Reconciler
from .retry import RetryExhaustedError, RetryListener
from .scenario import SYMBOL_RE, PlannedCancel, PlannedOrder, ReplaceIntent, Scenario
from .stream import EventStream
from .vocab import Outcome, SessionState

__all__ = [
    "SESSION_TRANSITIONS",
    "DryRunConfig",
    "IllegalSessionTransitionError",
    "Orchestrator",
    "Outcome",
    "SessionState",
]


_SS = SessionState
SESSION_TRANSITIONS: Final[dict[SessionState, frozenset[SessionState]]] = {
    _SS.INIT: frozenset({_SS.PREFLIGHT_OK, _SS.PREFLIGHT_FAILED}),
    _SS.PREFLIGHT_OK: frozenset({_SS.DRYRUN_ACTIVE, _SS.STOPPING}),
    _SS.DRYRUN_ACTIVE: frozenset({_SS.STOPPING}),
    _SS.STOPPING: frozenset({_SS.STOPPED, _SS.ERROR_REQUIRES_OPERATOR}),
    _SS.STOPPED: frozenset(),
    _SS.PREFLIGHT_FAILED: frozenset(),
    _SS.ERROR_REQUIRES_OPERATOR: frozenset(),
}


# Read on every order, so bound once here: an enum member read off its class (OrderState.NEW)
# goes through EnumType's __getattr__ hook, and ``.value`` is a Python property (~0.1 µs each).
_PLACE: Final = BrokerOp.PLACE.value
_CANCEL: Final = BrokerOp.CANCEL.value
_QUERY: Final = BrokerOp.QUERY.value
_FILLS: Final = BrokerOp.FILLS.value
_REPLACE: Final = BrokerOp.REPLACE.value
_NEW, _ACK, _PARTIAL, _FILLED = OrderState.NEW, OrderState.ACK, OrderState.PARTIAL, OrderState.FILLED
_PENDING_CANCEL, _REJECTED = OrderState.PENDING_CANCEL, OrderState.REJECTED
_PENDING_REPLACE: Final = OrderState.PENDING_REPLACE
_ENDED_BY_BROKER: Final = (OrderState.CANCELED, OrderState.EXPIRED)
_WORKING: Final = (OrderState.ACK, OrderState.PARTIAL)
_BUY: Final = Side.BUY
_OK: Final = Outcome.OK
_ACTIVE: Final = SessionState.DRYRUN_ACTIVE
_TIMEOUT: Final = RetryReason.TIMEOUT.value
_T = TypeVar("_T")


class _TimeoutWatch:
    """The run's retry listener, remembering whether an attempt timed out.

    A cancel or an amend whose attempt timed out may have reached the venue even if a later
    attempt failed otherwise: the order is then pending until a query says how it ended.
    """

    __slots__ = ("forward", "timed_out")

    def __init__(self, forward: RetryListener) -> None:
        self.forward = forward
        self.timed_out = False

    def __call__(self, op: str, reason: str, attempt: int, backoff_ms: int) -> None:
        self.timed_out = self.timed_out or reason == _TIMEOUT
        self.forward(op, reason, attempt, backoff_ms)


class IllegalSessionTransitionError(RuntimeError):
    def __init__(self, from_state: SessionState, to_state: SessionState) -> None:
        super().__init__(f"illegal session transition {from_state.value} -> {to_state.value}")


class DryRunConfig(BaseModel):
    """Session settings that are not part of a scenario. Live trading is impossible by type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    live_enabled: Literal[False] = Field(
        default=False, description="always False: pytest-peak-dryrun never trades live"
    )
    instrument_allowlist: tuple[str, ...] | None = Field(
        default=None, description="symbols the session may trade (default: the scenario's instruments)"
    )
    max_steps: int = Field(default=1_000_000, ge=0, description="refuse scenarios with more steps")
    retention_steps: int = Field(default=1_000, ge=1, description="forget terminal orders after this many steps")

    @field_validator("live_enabled", mode="before")
    @classmethod
    def _refuse_live(cls, value: Any) -> Any:
        if value is not False:
            raise ValueError(
                "live trading is refused: pytest-peak-dryrun only runs dry runs, live_enabled must be False"
            )
        return value


class Orchestrator:
    """One dry-run session: session state machine plus the bounded step loop.

    ``broker`` stays the object you passed; the session calls it through ``injector``, a
    :class:`~pytest_peak_dryrun.core.faults.FaultInjector` with the scenario's faults and
    fault rate whose events go to ``stream``, around :func:`~pytest_peak_dryrun.check_broker`
    (every result the broker returns is checked where it enters the run). A broker that is
    already a FaultInjector is not wrapped a second time: the preflight refuses it (one fault
    schedule per run).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        broker: Broker,
        clock: SimClock,
        stream: EventStream,
        config: DryRunConfig | None = None,
        audit_writable: bool | Callable[[], bool] = True,
    ) -> None:
        self.scenario = scenario
        self.broker = broker
        self.clock = clock
        self.stream = stream
        self.config = config or DryRunConfig()
        self.state = SessionState.INIT
        #: why the session is in ``state`` (a failed preflight's checks, what needs the operator); "" if nothing to say
        self.state_reason = ""
        self.emit = stream.emit
        if isinstance(broker, FaultInjector):
            self.injector = broker
        else:
            self.injector = FaultInjector(
                check_broker(broker),  # innermost: results are checked where they enter the run
                faults=scenario.faults,
                fault_rate=scenario.fault_rate,
                clock=clock,
                emit=self.emit,
                seed=scenario.seed,
            )
        # What the run calls: the injector, or the broker under it when the injector has nothing
        # to inject (it would forward every call unchanged; see FaultInjector.target).
        self._venue = self.injector.target
        on_step = getattr(self.injector.wrapped, "on_step", None)
        self._on_step = self.injector.on_step if callable(on_step) else None
        self.book = OrderBook(
            emit=self.emit, starting_cash=scenario.starting_cash, retention_steps=self.config.retention_steps
        )
        self.rails = SafetyRails(scenario.rails, emit=self.emit)
        self.reconciler = Reconciler(
            every=scenario.reconcile_every,
            stuck_after_steps=scenario.stuck_after_steps,
            emit=self.emit,
            on_illegal=self.rails.on_illegal_transition,
            reference_prices=scenario.instruments,
            fill_price_band=scenario.fill_price_band,
        )
        self.retry = scenario.retry
        self.steps_run = 0
        self.preflight_failures: list[str] = []
        self.preflight_results: list[tuple[str, bool, str]] = []
        self._audit_writable = audit_writable
        self._plan: Iterator[tuple[int, list[PlannedOrder], list[PlannedCancel]]] = scenario.plan()
        self._intent_orders: dict[str, str] = {}
        #: the scenario's [[replaces]] by step (explicit intents only, so small)
        self._replaces: dict[int, list[ReplaceIntent]] = scenario.replace_plan()
        self._fill_cursor = 0
        self._prices = dict(scenario.instruments)
        self._raced: set[str] = set()
        # Orders for anything else never reach the broker (pre-trade rail instrument_not_allowed).
        self._allowlist = frozenset(
            self.config.instrument_allowlist if self.config.instrument_allowlist is not None else scenario.instruments
        )

    # -- session state machine ------------------------------------------------------------

    def _set_state(self, to_state: SessionState, reason: str = "") -> None:
        if to_state not in SESSION_TRANSITIONS[self.state]:
            raise IllegalSessionTransitionError(self.state, to_state)
        from_state, self.state = self.state, to_state
        self.state_reason = reason
        self.emit(SessionStateEvent(from_state=from_state, to_state=to_state, reason=reason))

    def preflight(self) -> bool:
        """INIT -> PREFLIGHT_OK, or PREFLIGHT_FAILED naming every failed check."""
        checks = self.preflight_results = list(self._preflight_checks())
        for name, ok, detail in checks:
            self.emit(PreflightCheckEvent(check=name, ok=ok, detail=detail))
        self.preflight_failures = [f"{name}: {detail}" for name, ok, detail in checks if not ok]
        if self.preflight_failures:
            self._set_state(SessionState.PREFLIGHT_FAILED, "; ".join(self.preflight_failures))
            return False
        self._set_state(SessionState.PREFLIGHT_OK)
        return True

    def _preflight_checks(self) -> Iterator[tuple[str, bool, str]]:
        yield "live_disabled", self.config.live_enabled is False, "live_enabled is False"
        allow = self.config.instrument_allowlist
        if allow is None:
            allow = tuple(self.scenario.instruments)
        bad = [s for s in allow if not SYMBOL_RE.match(s)]
        outside = [s for s in self.scenario.instruments if s not in allow]
        if not allow:
            yield "instrument_allowlist", False, "the instrument allowlist is empty"
        elif bad:
            yield "instrument_allowlist", False, f"not valid symbols: {', '.join(sorted(bad))}"
        elif outside:
            yield "instrument_allowlist", False, f"scenario instruments not allowed: {', '.join(sorted(outside))}"
        else:
            yield "instrument_allowlist", True, f"{len(allow)} instrument(s)"
        # The user's broker, under the plugin's own wrappers (boundary checks, fault injection).
        own = unwrap_broker(self.injector)
        name = type(own).__name__
        is_dry = isinstance(own, MockBroker) or getattr(own, "dry_run", False) is True
        yield (
            "dryrun_broker",
            is_dry,
            f"{name} is a dry-run broker"
            if is_dry
            else f"{name} is not a MockBroker and does not declare dry_run = True",
        )
        problems = signature_problems(own)
        yield (
            "broker_protocol",
            not problems,
            "; ".join(problems) if problems else "every Broker method can be called as the orchestrator calls it",
        )
        yield ("broker_clock", *check_broker_clock(own, self.clock))
        if self.injector is self.broker:
            yield (
                "fault_injection",
                False,
                "the broker passed in is already a FaultInjector, and the run adds the scenario's faults itself: "
                "pass the broker it wraps (.wrapped) and put its faults into the scenario (faults, fault_rate)",
            )
        else:
            yield "fault_injection", True, self.injector.describe()
        if self.scenario.replaces:
            # Only for a scenario that amends orders: the check (and its event) is not in other runs.
            problem = replace_problem(own)
            yield (
                "broker_replace",
                problem is None,
                problem or f"{name} has replace_order for the scenario's {len(self.scenario.replaces)} replace(s)",
            )
        if self.scenario.steps > self.config.max_steps:
            yield "step_bound", False, f"scenario has {self.scenario.steps} steps, the bound is {self.config.max_steps}"
        else:
            yield "step_bound", True, f"{self.scenario.steps} <= {self.config.max_steps}"
        writable = self._audit_writable() if callable(self._audit_writable) else self._audit_writable
        yield (
            "audit_sink",
            writable,
            "audit sink accepts writes" if writable else "audit sink refused a write",
        )

    # -- the bounded loop -------------------------------------------------------------------

    def run(self, n: int | None = None) -> int:
        """Execute exactly ``n`` steps (default: the scenario's), fewer only if a rail trips."""
        if n is None:
            n = self.scenario.steps - self.steps_run
        if n < 0:
            raise ValueError(f"run(n) needs n >= 0, got {n}")
        if self.state is SessionState.PREFLIGHT_OK:
            self._set_state(SessionState.DRYRUN_ACTIVE)
        elif self.state is not SessionState.DRYRUN_ACTIVE:
            raise IllegalSessionTransitionError(self.state, SessionState.DRYRUN_ACTIVE)
        done = 0
        while done < n and self.state is _ACTIVE:
            step = self.clock.advance_step()
            if self._on_step is not None:
                self._on_step(step)
            self._step(step)
            self.stream.flush()  # a step is written whole or not at all
            done += 1
            self.steps_run += 1
            if self.rails.trips:  # tripped
                self._halt()
        return done

    def _step(self, step: int) -> None:
        rails = self.rails
        rails.begin_step(step)
        if self.scenario.kill_switch_at == step:
            rails.kill(f"kill switch pulled at step {step}")
        # The plan is a lazy generator, one step per call, so a long run holds no plan in memory.
        planned_step = next(self._plan, None)
        places, cancels = (planned_step[1], planned_step[2]) if planned_step else ([], [])
        # Observe before acting: fills the venue produced since the last step are applied
        # before this step's cancels, so only a fill that really races a cancel counts as one.
        self._drain_fills(step)
        # ``rails.trips`` is what the ``tripped`` property tests, read without its call.
        for planned in places:
            if rails.trips:
                break
            self._place(planned, step)
        for cancel in cancels:
            if cancel.last:  # nothing refers to it again: keep memory flat on long runs
                order_id = self._intent_orders.pop(cancel.intent_id, None)
            else:
                order_id = self._intent_orders.get(cancel.intent_id)
            rec = self.book.orders.get(order_id) if order_id else None
            if rec is not None and rec.state in OPEN_STATES and not rails.trips:
                self._cancel(rec, step)
        if self._replaces:
            replaces = self._replaces.pop(step, None)
            if replaces and not rails.trips:
                for intent in replaces:
                    self._replace_intent(intent, step)
        self._sync(step)
        if self.reconciler.due(step):
            self.reconciler.run_pass(self.injector, self.book, step)
        self.book.forget_old(step)

    def _halt(self) -> None:
        """A rail tripped: DRYRUN_ACTIVE -> STOPPING -> ERROR_REQUIRES_OPERATOR."""
        rails = ", ".join(trip.rail.value for trip in self.rails.trips)
        self._set_state(SessionState.STOPPING, f"safety rail tripped: {rails}")
        self._wind_down()
        self._set_state(SessionState.ERROR_REQUIRES_OPERATOR, f"safety rail tripped: {rails}")

    def stop(self) -> SessionState:
        """Graceful stop: cancel open orders, wait a bounded number of steps, reconcile."""
        if self.state in (SessionState.DRYRUN_ACTIVE, SessionState.PREFLIGHT_OK):
            self._set_state(SessionState.STOPPING)
            self._wind_down()
            if self.rails.tripped:
                rails = ", ".join(trip.rail.value for trip in self.rails.trips)
                self._set_state(SessionState.ERROR_REQUIRES_OPERATOR, f"safety rail tripped: {rails}")
            elif self.book.open:
                self._set_state(
                    SessionState.ERROR_REQUIRES_OPERATOR,
                    f"{len(self.book.open)} order(s) still open after {self.scenario.stop_timeout_steps} steps",
                )
            elif unresolved := self._unresolved_at_stop():
                self._set_state(SessionState.ERROR_REQUIRES_OPERATOR, unresolved)
            else:
                self._set_state(SessionState.STOPPED)
        return self.state

    def _unresolved_at_stop(self) -> str:
        """Why the session cannot call itself cleanly stopped after the final reconcile pass.

        A mismatch found by the pass at stop is one nobody can heal any more (an order the
        venue holds that the run does not track, such as a place that timed out after the
        venue accepted it; filled quantities that differ): an operator must look. So is a
        pass that could not reach the broker. Empty when the pass was clean.
        """
        reconciler = self.reconciler
        if reconciler.last_pass_error is not None:
            return f"the reconcile pass at stop could not reach the broker ({reconciler.last_pass_error})"
        found = reconciler.last_pass_found
        if not found:
            return ""
        kinds = ", ".join(f"{kind.value} {n}" for kind, n in sorted(found.items(), key=lambda kv: kv[0].value))
        return f"the reconcile pass at stop found {sum(found.values())} mismatch(es): {kinds}"

    def _wind_down(self) -> None:
        for rec in self.book.open_orders():
            if rec.state is not OrderState.PENDING_CANCEL and rec.broker_order_id is not None:
                self._cancel(rec, self.clock.step)
        self._sync(self.clock.step)
        waited = 0
        while self.book.open and waited < self.scenario.stop_timeout_steps:
            step = self.clock.advance_step()
            if self._on_step is not None:
                self._on_step(step)
            self.rails.begin_step(step)
            self._sync(step)
            self.stream.flush()
            waited += 1
        self.reconciler.run_pass(self.injector, self.book, self.clock.step)
        self.injector.finish()  # a scheduled fault that never fired is named, never silent

    # -- broker operations ------------------------------------------------------------------

    def _on_retry(self, op: str, reason: str, attempt: int, backoff_ms: int) -> None:
        self.emit(RetryEvent(op=BrokerOp(op), reason=RetryReason(reason), attempt=attempt, backoff_ms=backoff_ms))
        self.rails.on_retry()

    # Each broker call is made directly, and the retry policy takes over only when it raised a
    # retryable error (RetryPolicy.retry_after: the same attempts and events as
    # RetryPolicy.call), so the common call builds no closure and runs no extra frame.

    def _retry(
        self, op: str, fn: Callable[[], _T], failed: RetryableBrokerError, on_retry: RetryListener | None = None
    ) -> _T:
        return self.retry.retry_after(op, fn, failed, clock=self.clock, on_retry=on_retry or self._on_retry)

    def _place(self, planned: PlannedOrder, step: int) -> None:
        req = planned.request
        book = self.book
        order_id = book.next_order_id()
        if planned.intent_id is not None:
            self._intent_orders[planned.intent_id] = order_id
        rails = self.rails
        limits = rails.limits
        allowed = req.instrument in self._allowlist
        needs_cash = not limits.allow_negative_balance and req.side is _BUY
        # Without a per-order limit, pre_trade can only refuse an instrument off the allowlist
        # or a buy the cash does not cover: for any other order the call is skipped.
        if not allowed or needs_cash or rails.order_limits:
            price = req.limit_price if req.limit_price is not None else self._prices.get(req.instrument, Decimal(0))
            # Exposure and reserved cash walk the open orders: only when a rail needs them.
            exposure = book.exposure(req.instrument) if limits.max_position is not None else Decimal(0)
            if not rails.pre_trade(
                order_id=order_id,
                side=req.side,
                qty=req.qty,
                price=price,
                open_orders=len(book.open),
                exposure=exposure,
                available_cash=book.cash - book.reserved_cash(self._prices) if needs_cash else Decimal(0),
                instrument=req.instrument,
                instrument_allowed=allowed,
            ):
                return  # blocked before it reached the broker
        rec = OrderRecord.from_request(order_id, req, step)
        book.add(rec)
        venue = self._venue
        try:
            try:
                boid = venue.place_order(req, idempotency_key=order_id)
            except RetryableBrokerError as exc:
                boid = self._retry(_PLACE, lambda: venue.place_order(req, idempotency_key=order_id), exc)
        except PermanentBrokerError as exc:
            self._place_failed(rec, req, Outcome.REJECTED, _reason(exc), step)
            return
        except RetryExhaustedError as exc:
            # The broker may hold the order (a timeout after acceptance): the reconciler
            # will report it as unknown_on_broker if so.
            self._place_failed(rec, req, Outcome.ERROR, exc.reason.value, step)
            return
        book.bind(rec, boid)
        self.emit(_place_event(order_id, req, _OK, None, boid))
        self.rails.on_place_result(rejected=False)

    def _place_failed(self, rec: OrderRecord, req: OrderRequest, outcome: Outcome, reason: str, step: int) -> None:
        self.emit(_place_event(rec.order_id, req, outcome, reason, None))
        self.rails.on_place_result(rejected=True)
        self.book.transition(rec, OrderState.REJECTED, step)

    def _cancel(self, rec: OrderRecord, step: int) -> None:
        boid = rec.broker_order_id
        if boid is None:
            return
        if rec.state is _PENDING_REPLACE:
            # Learn first whether the amend took (its terms decide when the order is filled);
            # a cancel sent while it is still pending supersedes it.
            self._resolve_replace(rec, step)
            if rec.state not in OPEN_STATES:
                return
        on_retry = _TimeoutWatch(self._on_retry)
        venue = self._venue
        try:
            try:
                venue.cancel_order(boid)
            except RetryableBrokerError as exc:
                self._retry(_CANCEL, lambda: venue.cancel_order(boid), exc, on_retry)
        except PermanentBrokerError as exc:
            self.emit(OrderCancelEvent(order_id=rec.order_id, outcome=Outcome.REJECTED, reason=_reason(exc)))
            return
        except RetryExhaustedError as exc:
            self.emit(OrderCancelEvent(order_id=rec.order_id, outcome=Outcome.ERROR, reason=exc.reason.value))
            if (on_retry.timed_out or exc.reason is RetryReason.TIMEOUT) and rec.state is not OrderState.PENDING_CANCEL:
                # A timeout means the venue may have taken the cancel: it is pending until the
                # broker says otherwise, and the next sync learns the outcome (CANCELED, a fill
                # that won, or the order still working: the cancel refused).
                rec.replace_qty = rec.replace_limit = None
                self._move(rec, OrderState.PENDING_CANCEL, step)
            return
        self.emit(OrderCancelEvent(order_id=rec.order_id, outcome=Outcome.OK))
        if rec.state is not OrderState.PENDING_CANCEL:
            rec.replace_qty = rec.replace_limit = None  # the cancel supersedes an amend still pending
            self._move(rec, OrderState.PENDING_CANCEL, step)

    # -- replace (amend) ----------------------------------------------------------------------

    def _replace_intent(self, intent: ReplaceIntent, step: int) -> None:
        """Send one ``[[replaces]]`` entry: only an order that is working (ACK / PARTIAL) is amended."""
        order_id = self._intent_orders.get(intent.order)
        rec = self.book.orders.get(order_id) if order_id else None
        if rec is None:
            return  # never placed (a pre-trade rail stopped it), like a cancel of it
        if (rec.state is not _ACK and rec.state is not _PARTIAL) or rec.broker_order_id is None:
            self.emit(_replace_event(rec.order_id, intent, Outcome.REJECTED, f"not_working: {rec.state.value}"))
            return
        if not self._replace_allowed(rec, intent):
            return  # a pre-trade rail tripped: the amend never reaches the broker (as a place)
        self._replace(rec, intent, step)

    def _replace_allowed(self, rec: OrderRecord, intent: ReplaceIntent) -> bool:
        """The pre-trade rails, for the order as the amend would make it.

        An amend can do what a new order does (more quantity, a higher price), so it passes
        the same rails: the new quantity against ``max_order_qty``, its notional against
        ``max_notional``, and the position and cash as they would be with the new leaves in
        place of the order's current ones. ``SafetyRails.pre_trade`` takes a new order, so
        the order's own current leaves are taken out of what it is given.
        """
        rails = self.rails
        limits = rails.limits
        is_buy = rec.side is _BUY
        needs_cash = not limits.allow_negative_balance and is_buy
        if not (rails.order_limits or needs_cash):
            return True
        book = self.book
        qty = rec.qty if intent.qty is None else intent.qty
        limit = rec.limit_price if intent.limit_price is None else intent.limit_price
        price = limit if limit is not None else self._prices.get(rec.instrument, Decimal(0))
        old_leaves, new_leaves = rec.leaves_qty, max(qty - rec.filled_qty, Decimal(0))
        sign = 1 if is_buy else -1
        # exposure + (the new qty) must equal the position with the new leaves in place of the old
        exposure = (
            book.exposure(rec.instrument) - sign * old_leaves + sign * new_leaves - sign * qty
            if limits.max_position is not None
            else Decimal(0)
        )
        available = Decimal(0)
        if needs_cash:
            old_price = rec.limit_price if rec.limit_price is not None else self._prices.get(rec.instrument, Decimal(0))
            free = book.cash - book.reserved_cash(self._prices) + old_leaves * old_price
            # available - qty * price must equal what is left once the new leaves are reserved
            available = free - new_leaves * price + qty * price
        return rails.pre_trade(
            order_id=rec.order_id,
            side=rec.side,
            qty=qty,
            price=price,
            open_orders=len(book.open) - 1,  # the order itself is open already
            exposure=exposure,
            available_cash=available,
            instrument=rec.instrument,
        )

    def _replace(self, rec: OrderRecord, intent: ReplaceIntent, step: int) -> None:
        boid = rec.broker_order_id
        if boid is None:
            return
        qty, limit = intent.qty, intent.limit_price
        on_retry = _TimeoutWatch(self._on_retry)
        venue: Any = self._venue  # replace_order: the optional capability the preflight checked
        try:
            try:
                venue.replace_order(boid, qty=qty, limit_price=limit)
            except RetryableBrokerError as exc:
                self._retry(_REPLACE, lambda: venue.replace_order(boid, qty=qty, limit_price=limit), exc, on_retry)
        except PermanentBrokerError as exc:
            self.emit(_replace_event(rec.order_id, intent, Outcome.REJECTED, _reason(exc)))
            if on_retry.timed_out:
                # An attempt that timed out may have gone through before this refusal: ask.
                self._pending_replace(rec, intent, step)
            return
        except RetryExhaustedError as exc:
            self.emit(_replace_event(rec.order_id, intent, Outcome.ERROR, exc.reason.value))
            if on_retry.timed_out or exc.reason is RetryReason.TIMEOUT:
                # The venue may have taken the amend: pending until a query says how it ended.
                self._pending_replace(rec, intent, step)
            return
        self.emit(_replace_event(rec.order_id, intent, _OK, None))
        self._pending_replace(rec, intent, step)

    def _pending_replace(self, rec: OrderRecord, intent: ReplaceIntent, step: int) -> None:
        """``rec`` is ``PENDING_REPLACE`` with the terms asked for, until a query settles it."""
        if self._move(rec, _PENDING_REPLACE, step):
            rec.replace_qty = rec.qty if intent.qty is None else intent.qty
            rec.replace_limit = rec.limit_price if intent.limit_price is None else intent.limit_price

    def _resolve_replace(self, rec: OrderRecord, step: int) -> None:
        remote = self._query(rec)
        if remote is not None and remote.state is not _PENDING_REPLACE and rec.state is _PENDING_REPLACE:
            self._replace_done(rec, remote, step)

    def _replace_took(self, rec: OrderRecord) -> None:
        """The venue applied the amend: the order's terms are the new ones from now on."""
        qty, limit = rec.replace_qty, rec.replace_limit
        rec.replace_qty = rec.replace_limit = None
        if qty is None:
            return
        rec.qty, rec.limit_price = qty, limit
        self.emit(
            OrderReplacedEvent(
                order_id=rec.order_id, qty=money(qty), limit_price=None if limit is None else money(limit)
            )
        )

    def _replace_done(self, rec: OrderRecord, remote: Order, step: int) -> None:
        """The broker no longer reports ``PENDING_REPLACE``: the amend took (its terms are the
        broker's now) or was refused; the order goes back to working, or to where it ended."""
        if rec.replace_qty is not None and (remote.qty, remote.limit_price) == (rec.replace_qty, rec.replace_limit):
            self._replace_took(rec)
        rec.replace_qty = rec.replace_limit = None
        target = remote.state
        if target in _ENDED_BY_BROKER:
            if not self._fills_owed(rec, remote):  # else the next sync asks again, once they arrived
                self._move(rec, target, step)
        elif rec.filled_qty >= rec.qty:
            self._move(rec, _FILLED, step)
        else:
            # Working (a fill that won the race and is still on its way moves it on when it arrives).
            self._move(rec, _PARTIAL if rec.filled_qty > 0 else _ACK, step)

    def _query(self, rec: OrderRecord) -> Order | None:
        boid = rec.broker_order_id
        if boid is None:
            return None
        venue = self._venue
        try:
            try:
                remote = venue.query_order(boid)
            except RetryableBrokerError as exc:
                remote = self._retry(_QUERY, lambda: venue.query_order(boid), exc)
        except UnknownOrderError:
            self.emit(OrderQueryEvent(order_id=rec.order_id, outcome=Outcome.UNKNOWN))
            return None
        except BrokerError as exc:
            self.emit(OrderQueryEvent(order_id=rec.order_id, outcome=Outcome.ERROR, reason=_reason(exc)))
            return None
        self.emit(OrderQueryEvent(order_id=rec.order_id, outcome=_OK, state=remote.state))
        return remote

    def _move(self, rec: OrderRecord, to_state: OrderState, step: int) -> bool:
        try:
            self.book.transition(rec, to_state, step)
        except IllegalTransitionError as exc:
            self.rails.on_illegal_transition(rec.order_id, str(exc))
            return False
        return True

    # -- syncing with the broker ------------------------------------------------------------

    def _sync(self, step: int) -> None:
        """Learn acks, cancels and expiries by query; apply fills from the fill stream."""
        answers: list[tuple[OrderRecord, Order]] = []
        for rec in self.book.open_orders():
            state = rec.state
            # Unacknowledged, canceling, or at the end of its time in force: ask the broker.
            if (
                state is _NEW
                or state is _PENDING_CANCEL
                or state is _PENDING_REPLACE
                or (rec.tif_steps is not None and step - rec.created_step >= rec.tif_steps)
            ):
                remote = self._query(rec)
                if remote is None:
                    continue
                answers.append((rec, remote))
                if rec.state is _NEW and remote.state is not _NEW:
                    if remote.state is _REJECTED:
                        self._move(rec, _REJECTED, step)
                    else:
                        self._move(rec, _ACK, step)
        self._drain_fills(step)
        for rec, remote in answers:
            if rec.state not in OPEN_STATES:
                continue
            target = remote.state
            if rec.state is _PENDING_REPLACE:
                if target is not _PENDING_REPLACE:
                    self._replace_done(rec, remote, step)
            elif target in _ENDED_BY_BROKER:
                if not self._fills_owed(rec, remote):
                    self._move(rec, target, step)
            elif rec.state is _PENDING_CANCEL and target in _WORKING:
                self._move(rec, target, step)  # the broker refused the cancel

    @staticmethod
    def _fills_owed(rec: OrderRecord, remote: Order) -> bool:
        """The venue ended ``rec`` after filling more of it than the run has applied.

        Those fills are still on their way (held back, out of order): the order stays open
        until they arrived, else they would be lost with it; stop waits for them (bounded by
        its timeout, after which the session needs the operator).
        """
        return remote.filled_qty > rec.filled_qty

    def _drain_fills(self, step: int) -> None:
        venue = self._venue
        try:
            try:
                cursor, fills = venue.iter_fills(self._fill_cursor)
            except RetryableBrokerError as exc:
                cursor, fills = self._retry(_FILLS, lambda: venue.iter_fills(self._fill_cursor), exc)
        except BrokerError:
            return  # fills stay on the broker; the next step reads them
        self._fill_cursor = cursor
        for fill in fills:
            self._apply_fill(fill, step)

    def _apply_fill(self, fill: Fill, step: int) -> None:
        book = self.book
        rec = book.by_broker_id.get(fill.broker_order_id)
        if rec is None:
            self.reconciler.mismatch(
                MismatchKind.UNKNOWN_FILL,
                fill.broker_order_id,
                f"fill {fill.fill_id} for an order we do not track",
            )
            return
        if fill.fill_id in rec.fill_ids:
            self.emit(FillDuplicateIgnoredEvent(order_id=rec.order_id, fill_id=fill.fill_id))
            self.reconciler.mismatch(MismatchKind.DUPLICATE_FILL, rec.order_id, f"fill {fill.fill_id} delivered twice")
            self.rails.on_duplicate_fill(rec.order_id)
            return
        if fill.exec_seq > rec.last_exec_seq + 1:
            # A gap: a later execution overtook an earlier one (which fills the gap later).
            self.emit(
                FillOutOfOrderEvent(
                    order_id=rec.order_id, fill_id=fill.fill_id, exec_seq=fill.exec_seq, expected=rec.last_exec_seq + 1
                )
            )
        rec.fill_ids.add(fill.fill_id)
        if fill.exec_seq > rec.last_exec_seq:
            rec.last_exec_seq = fill.exec_seq
        if rec.state not in OPEN_STATES:
            # The state machine cannot take a fill any more: flagged, not applied.
            if rec.filled_qty + fill.qty > rec.qty:
                self.reconciler.mismatch(
                    MismatchKind.OVERFILL,
                    rec.order_id,
                    f"fill {fill.fill_id} for a {rec.state.value} order would take it to "
                    f"{format(rec.filled_qty + fill.qty, 'f')} of {format(rec.qty, 'f')}",
                )
            else:
                self.reconciler.mismatch(
                    MismatchKind.STATUS_MISMATCH, rec.order_id, f"fill {fill.fill_id} for a {rec.state.value} order"
                )
            return
        replacing = rec.replace_qty
        if replacing is not None and replacing > rec.qty and rec.filled_qty + fill.qty > rec.qty:
            # A fill past the old quantity while an increase is pending: the venue took the amend.
            self._replace_took(rec)
            replacing = None
        self.reconciler.check_fill(rec, fill)
        book.apply_fill(rec, fill.qty, fill.price)
        self.emit(
            FillEvent(
                order_id=rec.order_id,
                fill_id=fill.fill_id,
                qty=money(fill.qty),
                price=money(fill.price),
                exec_seq=fill.exec_seq,
                cum_qty=money(rec.filled_qty),
            )
        )
        if rec.state is _PENDING_CANCEL and rec.order_id not in self._raced:
            self._raced.add(rec.order_id)
            self.reconciler.mismatch(
                MismatchKind.CANCEL_RACE, rec.order_id, f"fill {fill.fill_id} arrived after the cancel request"
            )
        if rec.filled_qty >= (rec.qty if replacing is None else max(rec.qty, replacing)):
            # (while an amend is pending, its quantity may be the order's: done at the larger one,
            # or once a query settles the amend)
            self._move(rec, _FILLED, step)
        elif rec.state is _NEW or rec.state is _ACK:
            self._move(rec, _PARTIAL, step)


def _place_event(
    order_id: str, req: OrderRequest, outcome: Outcome, reason: str | None, broker_order_id: str | None
) -> OrderPlaceEvent:
    """The ``order_place`` event of ``req`` (``reason`` and ``broker_order_id`` are left out when None)."""
    return OrderPlaceEvent(
        order_id=order_id,
        instrument=req.instrument,
        side=req.side,
        order_type=req.order_type,
        qty=money(req.qty),
        limit_price=None if req.limit_price is None else money(req.limit_price),
        outcome=outcome,
        reason=reason,
        broker_order_id=broker_order_id,
    )


def _replace_event(order_id: str, intent: ReplaceIntent, outcome: Outcome, reason: str | None) -> OrderReplaceEvent:
    """The ``order_replace`` event of ``intent`` (the terms asked for; None where unchanged)."""
    return OrderReplaceEvent(
        order_id=order_id,
        outcome=outcome,
        qty=None if intent.qty is None else money(intent.qty),
        limit_price=None if intent.limit_price is None else money(intent.limit_price),
        reason=reason,
    )


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, Enum):
        return str(reason.value)
    if isinstance(reason, str):
        return reason
    return type(exc).__name__
