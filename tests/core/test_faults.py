"""FaultInjector: one fault mechanism at the boundary of any broker.

Most tests run it around ``Ledger``, a broker written here with its own state handling (not
a MockBroker, no shared code), so each fault kind is shown to work on a broker the plugin
knows nothing about. The MockBroker tests at the end cover what only a venue can do (a
cancel race) and the seeded rate.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any, ClassVar

import msgspec
import pytest
from pydantic import ValidationError

from pytest_peak_dryrun.core.broker import Broker, BrokerOp, MockBroker, MockBrokerConfig
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.errors import (
    BrokerTimeoutError,
    InvalidOrderError,
    OrderRejectedError,
    RateLimitError,
    RetryableBrokerError,
    TransientUnavailableError,
    UnknownOrderError,
)
from pytest_peak_dryrun.core.events import Event
from pytest_peak_dryrun.core.faults import FAULT_OPS, FaultInjector, FaultKind, FaultRate, FaultRule
from pytest_peak_dryrun.core.model import Fill, Order, OrderRequest
from pytest_peak_dryrun.core.orders import OrderState, Side

D = Decimal
S = OrderState


class Ledger:
    """A foreign broker: its own order table, two-slice fills, and no race_cancel.

    It follows the run's clock through ``on_step``: an order is acknowledged at the next
    step, then filled in two halves on the two steps after that; a cancel completes at the
    next step. ``calls`` records every call that reached it; ``fills_on = False`` stops
    filling (acknowledged orders then rest).
    """

    dry_run = True

    def __init__(self) -> None:
        self.fills_on = True
        self.orders: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.fills: list[Fill] = []
        self.calls: list[str] = []
        self.step = 0

    def on_step(self, step: int) -> None:
        self.step = step
        for boid, o in self.orders.items():
            if o["state"] == "new":
                o["state"] = "acked"
            elif o["state"] in ("acked", "part") and self.fills_on:
                qty = o["qty"] / 2 if o["filled"] == 0 else o["qty"] - o["filled"]
                o["filled"] += qty
                o["seq"] += 1
                o["state"] = "done" if o["filled"] == o["qty"] else "part"
                self.fills.append(
                    Fill(
                        fill_id=f"{boid}/{o['seq']}",
                        broker_order_id=boid,
                        qty=qty,
                        price=D("10"),
                        exec_seq=o["seq"],
                        step=step,
                    )
                )
            elif o["state"] == "canceling":
                o["state"] = "gone"

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        self.calls.append("place")
        if idempotency_key in self.keys:
            return self.keys[idempotency_key]
        if request.qty <= 0:
            raise InvalidOrderError(f"{idempotency_key}: bad quantity")
        boid = f"L{len(self.orders) + 1}"
        self.orders[boid] = {
            "key": idempotency_key,
            "req": request,
            "qty": request.qty,
            "filled": D(0),
            "seq": 0,
            "state": "new",
        }
        self.keys[idempotency_key] = boid
        return boid

    def cancel_order(self, broker_order_id: str) -> None:
        self.calls.append("cancel")
        o = self._get(broker_order_id)
        if o["state"] in ("done", "gone"):
            raise OrderRejectedError(f"{broker_order_id}: too late", reason="too_late")
        o["state"] = "canceling"

    def query_order(self, broker_order_id: str) -> Order:
        self.calls.append("query")
        return self._doc(broker_order_id, self._get(broker_order_id))

    def list_open_orders(self) -> list[Order]:
        self.calls.append("list")
        return [self._doc(b, o) for b, o in self.orders.items() if o["state"] not in ("done", "gone")]

    def iter_fills(self, cursor: int) -> tuple[int, list[Fill]]:
        self.calls.append("fills")
        return len(self.fills), self.fills[cursor:]

    def _get(self, boid: str) -> dict[str, Any]:
        if boid not in self.orders:
            raise UnknownOrderError(boid)
        return self.orders[boid]

    _STATES: ClassVar[dict[str, OrderState]] = {
        "new": S.NEW,
        "acked": S.ACK,
        "part": S.PARTIAL,
        "done": S.FILLED,
        "canceling": S.PENDING_CANCEL,
        "gone": S.CANCELED,
    }

    def _doc(self, boid: str, o: dict[str, Any]) -> Order:
        req = o["req"]
        return Order(
            order_id=o["key"],
            broker_order_id=boid,
            instrument=req.instrument,
            side=req.side,
            order_type=req.order_type,
            qty=req.qty,
            filled_qty=o["filled"],
            state=self._STATES[o["state"]],
            created_step=0,
        )


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: Event) -> None:
        self.events.append((event.KIND, msgspec.to_builtins(event)))

    def faults(self) -> list[tuple[str, str, str]]:
        return [(kind, p["op"], p["fault"]) for kind, p in self.events]


def market(qty: str = "4") -> OrderRequest:
    return OrderRequest(instrument="DEMO-EUR", side=Side.BUY, qty=D(qty))


def rule(step: int, op: str, kind: str, times: int = 1, **kw: Any) -> FaultRule:
    return FaultRule(step=step, op=BrokerOp(op), kind=FaultKind(kind), times=times, **kw)


def around_ledger(*faults: FaultRule, **kw: Any) -> tuple[FaultInjector, Ledger, SimClock, Recorder]:
    clock = SimClock()
    ledger = Ledger()
    emitted = Recorder()
    injector = FaultInjector(ledger, faults=faults, clock=clock, emit=emitted, **kw)
    return injector, ledger, clock, emitted


def step(injector: FaultInjector, clock: SimClock) -> int:
    """What the orchestrator does when the step advances."""
    n = clock.advance_step()
    injector.on_step(n)
    return n


# -- the rule types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "op", "hint"),
    [
        ("duplicate_fill", "place", "use op 'fills'"),
        ("out_of_order_fill", "query", "use op 'fills'"),
        ("dropped_ack", "cancel", "use op 'place'"),
        ("cancel_race", "place", "use op 'cancel'"),
    ],
)
def test_fault_rule_refuses_a_kind_on_the_wrong_op(kind: str, op: str, hint: str) -> None:
    with pytest.raises(ValidationError) as info:
        FaultRule(step=1, op=op, kind=kind)  # type: ignore[arg-type]
    assert f"fault {kind!r} cannot be attached to op {op!r}; {hint}" in str(info.value)


def test_fault_rule_accepts_every_kind_on_its_ops_from_step_zero() -> None:
    for kind, ops in FAULT_OPS.items():
        for op in ops:
            assert FaultRule(step=0, op=op, kind=kind).kind is kind


@pytest.mark.parametrize(
    "fields",
    [
        {"step": -1, "op": "place", "kind": "timeout"},
        {"step": 1, "op": "place", "kind": "timeout", "times": 0},
        {"step": 1, "op": "launch", "kind": "timeout"},
        {"step": 1, "op": "place", "kind": "meteor"},
        {"step": 1, "op": "place", "kind": "timeout", "extra": 1},
        {"step": 1, "op": "place", "kind": "dropped_ack", "for_steps": 0},
    ],
)
def test_fault_rule_field_validation(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        FaultRule(**fields)


def test_for_steps_belongs_to_dropped_ack_only() -> None:
    with pytest.raises(ValidationError, match="for_steps only applies to 'dropped_ack', not to 'timeout'"):
        FaultRule(step=1, op="place", kind="timeout", for_steps=2)  # type: ignore[arg-type]
    assert FaultRule(step=1, op="place", kind="dropped_ack", for_steps=2).for_steps == 2  # type: ignore[arg-type]


# -- the injector itself -------------------------------------------------------------------


def test_the_injector_is_a_broker_that_forwards_dry_run_clock_and_on_step() -> None:
    injector, ledger, clock, _ = around_ledger()
    assert isinstance(injector, Broker)
    assert injector.dry_run is True
    assert injector.clock is clock
    injector.on_step(7)
    assert ledger.step == 7
    assert FaultInjector(MockBroker(), clock=clock).dry_run is True

    class Undeclared(Ledger):
        dry_run = False

    assert FaultInjector(Undeclared(), clock=clock).dry_run is False


def test_one_fault_layer_per_broker_and_a_real_clock() -> None:
    injector, _, clock, _ = around_ledger()
    with pytest.raises(TypeError, match="a broker gets one fault layer"):
        FaultInjector(injector, clock=clock)
    with pytest.raises(TypeError, match="needs the run's SimClock as clock=, got int"):
        FaultInjector(Ledger(), clock=3)  # type: ignore[arg-type]


def test_without_faults_every_call_goes_straight_through() -> None:
    injector, ledger, clock, emitted = around_ledger()
    assert injector.active is False
    boid = injector.place_order(market("4"), idempotency_key="a")
    for _ in range(3):
        step(injector, clock)
    assert injector.query_order(boid) == ledger.query_order(boid)
    assert injector.iter_fills(0) == ledger.iter_fills(0)
    assert injector.iter_fills(1) == (2, [ledger.fills[1]])
    assert injector.pending_fills == 0
    assert emitted.events == []


def test_rules_are_accepted_as_mappings_too() -> None:
    injector = FaultInjector(
        Ledger(), faults=[{"step": 0, "op": "place", "kind": "rate_limit"}], fault_rate={"rate": 0.0}, clock=SimClock()
    )
    assert injector.faults == (rule(0, "place", "rate_limit"),)
    assert injector.fault_rate == FaultRate(rate=0.0)
    assert injector.describe() == "1 scheduled fault rule(s) and fault rate 0 around Ledger"


# -- every fault kind on the foreign broker -------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error"), [("rate_limit", RateLimitError), ("transient_unavailable", TransientUnavailableError)]
)
@pytest.mark.parametrize("op", ["place", "cancel", "query", "fills"])
def test_raised_before_the_call_nothing_reaches_the_broker(op: str, kind: str, error: type[Exception]) -> None:
    injector, ledger, _, emitted = around_ledger(rule(0, op, kind))
    ledger.place_order(market(), idempotency_key="a")  # behind the injector's back
    ledger.calls.clear()
    call = {
        "place": lambda: injector.place_order(market(), idempotency_key="b"),
        "cancel": lambda: injector.cancel_order("L1"),
        "query": lambda: injector.query_order("L1"),
        "fills": lambda: injector.iter_fills(0),
    }[op]
    with pytest.raises(error, match=f"injected {kind}") as info:
        call()
    assert isinstance(info.value, RetryableBrokerError)
    assert ledger.calls == []
    assert len(ledger.orders) == 1
    assert ledger.orders["L1"]["state"] == "new"
    assert emitted.events == [("fault_injected", {"op": op, "fault": kind, "step": 0})]
    call()  # the rule is spent: the next call goes through
    assert ledger.calls == [op]


def test_timeout_on_place_is_raised_after_the_broker_accepted() -> None:
    injector, ledger, _, emitted = around_ledger(rule(0, "place", "timeout"))
    with pytest.raises(BrokerTimeoutError, match="place a: injected timeout, the answer was lost"):
        injector.place_order(market(), idempotency_key="a")
    assert list(ledger.orders) == ["L1"]  # accepted although we never heard back
    assert injector.place_order(market(), idempotency_key="a") == "L1"  # the retry is idempotent
    assert len(ledger.orders) == 1
    assert emitted.faults() == [("fault_injected", "place", "timeout")]


def test_timeout_on_cancel_is_raised_after_the_cancel_was_taken() -> None:
    injector, ledger, _, _ = around_ledger(rule(0, "cancel", "timeout"))
    boid = injector.place_order(market(), idempotency_key="a")
    with pytest.raises(BrokerTimeoutError, match="cancel L1: injected timeout"):
        injector.cancel_order(boid)
    assert ledger.orders[boid]["state"] == "canceling"


def test_timeout_on_query_loses_the_answer_of_a_call_that_went_through() -> None:
    injector, ledger, _, _ = around_ledger(rule(0, "query", "timeout"))
    boid = injector.place_order(market(), idempotency_key="a")
    with pytest.raises(BrokerTimeoutError, match="query L1: injected timeout"):
        injector.query_order(boid)
    assert ledger.calls == ["place", "query"]
    assert injector.query_order(boid).state is S.NEW


def test_a_timeout_hides_an_error_answer_too_and_the_retry_hears_it() -> None:
    injector, _, _, _ = around_ledger(rule(0, "place", "timeout"))
    with pytest.raises(BrokerTimeoutError):
        injector.place_order(market("0"), idempotency_key="a")
    with pytest.raises(InvalidOrderError, match="bad quantity"):
        injector.place_order(market("0"), idempotency_key="a")


def test_timeout_on_fills_loses_the_answer_but_not_the_fills() -> None:
    injector, ledger, clock, _ = around_ledger(rule(2, "fills", "timeout"))
    injector.place_order(market("4"), idempotency_key="a")
    step(injector, clock)
    step(injector, clock)  # step 2: the first half is filled
    with pytest.raises(BrokerTimeoutError, match="fills after 0: injected timeout"):
        injector.iter_fills(0)
    assert ledger.calls[-1] == "fills"  # the read reached the broker
    cursor, fills = injector.iter_fills(0)
    assert (cursor, [f.fill_id for f in fills]) == (1, ["L1/1"])


def test_dropped_ack_hides_the_ack_until_the_order_moves_on() -> None:
    injector, ledger, clock, emitted = around_ledger(rule(0, "place", "dropped_ack"))
    boid = injector.place_order(market("4"), idempotency_key="a")
    other = ledger.place_order(market("2"), idempotency_key="b")
    step(injector, clock)  # both acknowledged on the ledger
    assert ledger.query_order(boid).state is S.ACK
    assert injector.query_order(boid).state is S.NEW
    assert [(o.broker_order_id, o.state) for o in injector.list_open_orders()] == [(boid, S.NEW), (other, S.ACK)]
    assert injector.query_order(other).state is S.ACK
    step(injector, clock)  # the first half fills: the order has moved on
    assert injector.query_order(boid).state is S.PARTIAL
    assert emitted.events == [("fault_injected", {"op": "place", "fault": "dropped_ack", "step": 0})]


def test_dropped_ack_for_a_number_of_steps() -> None:
    injector, ledger, clock, _ = around_ledger(rule(1, "place", "dropped_ack", for_steps=2))
    ledger.fills_on = False  # a venue that acks and then rests
    step(injector, clock)
    boid = injector.place_order(market(), idempotency_key="a")
    assert injector.query_order(boid).state is S.NEW
    step(injector, clock)
    seen = []
    for _ in range(3):
        seen.append((clock.step, injector.query_order(boid).state))
        step(injector, clock)
    assert ledger.orders[boid]["state"] == "acked"
    assert seen == [(2, S.NEW), (3, S.ACK), (4, S.ACK)]  # hidden in the two steps 1..2 after the place


def test_dropped_ack_memory_is_released_when_the_order_leaves_the_open_list() -> None:
    injector, ledger, clock, _ = around_ledger(rule(0, "place", "dropped_ack", times=3))
    for key in "abc":
        injector.place_order(market(), idempotency_key=key)
    step(injector, clock)
    assert [o.state for o in injector.list_open_orders()] == [S.NEW] * 3
    for o in ledger.orders.values():
        o["state"] = "gone"
    assert injector.list_open_orders() == []
    ledger.orders["L1"]["state"] = "acked"  # even if it came back, nothing is hidden any more
    assert injector.query_order("L1").state is S.ACK


def test_duplicate_fill_is_delivered_twice_while_the_broker_has_it_once() -> None:
    injector, ledger, clock, emitted = around_ledger(rule(2, "fills", "duplicate_fill"))
    injector.place_order(market("4"), idempotency_key="a")
    for _ in range(3):
        step(injector, clock)
    cursor, fills = injector.iter_fills(0)
    assert (cursor, [f.fill_id for f in fills]) == (3, ["L1/1", "L1/1", "L1/2"])
    assert [f.fill_id for f in ledger.fills] == ["L1/1", "L1/2"]
    assert emitted.events == [
        ("fault_injected", {"op": "fills", "fault": "duplicate_fill", "step": 3, "broker_order_id": "L1"})
    ]


def test_out_of_order_fill_is_delivered_after_the_next_one() -> None:
    injector, _, clock, emitted = around_ledger(rule(0, "fills", "out_of_order_fill"))
    injector.place_order(market("4"), idempotency_key="a")
    step(injector, clock)
    step(injector, clock)  # L1/1
    cursor, fills = injector.iter_fills(0)
    assert (cursor, fills) == (0, [])  # held back
    step(injector, clock)  # L1/2 overtakes it
    cursor, fills = injector.iter_fills(cursor)
    assert [(f.fill_id, f.exec_seq) for f in fills] == [("L1/2", 2), ("L1/1", 1)]
    assert emitted.faults() == [("fault_injected", "fills", "out_of_order_fill")]


def test_a_held_fill_is_released_at_the_next_step_when_no_other_fill_comes() -> None:
    injector, ledger, clock, _ = around_ledger(rule(0, "fills", "out_of_order_fill"))
    injector.place_order(market("4"), idempotency_key="a")
    step(injector, clock)
    step(injector, clock)
    assert injector.iter_fills(0) == (0, [])
    ledger.fills_on = False  # no further fill comes
    step(injector, clock)
    assert [f.fill_id for f in injector.iter_fills(0)[1]] == ["L1/1"]


def test_cancel_race_is_skipped_on_a_broker_that_cannot_express_it() -> None:
    injector, ledger, _, emitted = around_ledger(rule(0, "cancel", "cancel_race"))
    boid = injector.place_order(market(), idempotency_key="a")
    injector.cancel_order(boid)  # the cancel itself goes through, as without the fault
    assert ledger.orders[boid]["state"] == "canceling"
    assert emitted.events == [
        (
            "fault_skipped",
            {
                "op": "cancel",
                "fault": "cancel_race",
                "step": 0,
                "reason": "Ledger has no race_cancel(broker_order_id) method to let a fill win the cancel",
            },
        )
    ]


def test_fill_cursor_memory_is_what_the_reader_has_not_passed() -> None:
    injector, _, clock, _ = around_ledger(rule(0, "place", "rate_limit"))  # any fault: the injector's cursors
    with pytest.raises(RateLimitError):
        injector.place_order(market("4"), idempotency_key="a")
    injector.place_order(market("4"), idempotency_key="a")
    injector.place_order(market("2"), idempotency_key="b")
    for _ in range(3):
        step(injector, clock)
    cursor, fills = injector.iter_fills(0)
    assert (cursor, len(fills)) == (4, 4)
    assert injector.pending_fills == 4  # delivered, not yet passed
    assert injector.iter_fills(cursor) == (4, [])
    assert injector.pending_fills == 0  # passed: forgotten
    assert injector.iter_fills(0) == (4, [])  # a re-read cannot bring them back
    assert injector.iter_fills(9) == (9, [])


def test_a_long_stream_keeps_only_what_is_unread() -> None:
    injector, _, clock, _ = around_ledger(rule(0, "fills", "duplicate_fill", times=1000))
    cursor = 0
    most = 0
    for i in range(300):
        injector.place_order(market("2"), idempotency_key=f"k{i}")
        step(injector, clock)
        cursor, _fills = injector.iter_fills(cursor)
        most = max(most, injector.pending_fills)
    assert cursor > 500
    assert most <= 8


def test_faults_happen_and_are_counted_without_emit() -> None:
    injector = FaultInjector(
        Ledger(), faults=[rule(0, "place", "rate_limit", times=2), rule(0, "cancel", "cancel_race")], clock=SimClock()
    )
    for _ in range(2):
        with pytest.raises(RateLimitError):
            injector.place_order(market(), idempotency_key="a")
    injector.cancel_order(injector.place_order(market(), idempotency_key="a"))
    assert injector.injected == {("place", "rate_limit"): 2}
    assert injector.skipped == {("cancel", "cancel_race"): 1}


# -- the MockBroker behind the injector ----------------------------------------------------


def around_mock(*faults: FaultRule, **config: Any) -> tuple[FaultInjector, MockBroker, SimClock, Recorder]:
    clock = SimClock()
    rate = config.pop("fault_rate", None)
    seed = config.get("seed", 0)
    venue = MockBroker(MockBrokerConfig(**config), clock=clock)
    emitted = Recorder()
    injector = FaultInjector(venue, faults=faults, fault_rate=rate, clock=clock, emit=emitted, seed=seed)
    clock.advance_step()  # the dry run acts from step 1 on
    return injector, venue, clock, emitted


def test_cancel_race_on_the_mock_broker_lets_the_fill_win() -> None:
    injector, venue, clock, emitted = around_mock(rule(2, "cancel", "cancel_race"), fill_model="never")
    boid = injector.place_order(market("5"), idempotency_key="O-1")
    clock.advance_step()
    injector.cancel_order(boid)
    assert venue.query_order(boid).state is S.FILLED
    assert emitted.events == [("fault_injected", {"op": "cancel", "fault": "cancel_race", "step": 2})]


def test_a_scheduled_fault_hits_the_first_calls_at_or_after_its_step() -> None:
    injector, _, clock, emitted = around_mock(rule(3, "query", "timeout", times=2), fill_model="never")
    boid = injector.place_order(market(), idempotency_key="O-1")
    assert injector.query_order(boid).state is S.ACK  # step 1: before the rule
    clock.advance_step()
    clock.advance_step()
    clock.advance_step()
    for _ in range(2):
        with pytest.raises(BrokerTimeoutError):
            injector.query_order(boid)
    assert injector.query_order(boid).state is S.ACK
    assert emitted.events == [("fault_injected", {"op": "query", "fault": "timeout", "step": 4})] * 2


def test_a_fault_on_one_op_leaves_the_others_alone() -> None:
    injector, _, _, emitted = around_mock(rule(1, "cancel", "rate_limit"), fill_model="never")
    boid = injector.place_order(market(), idempotency_key="O-1")
    assert injector.query_order(boid).state is S.ACK
    assert injector.iter_fills(0) == (0, [])
    with pytest.raises(RateLimitError, match="cancel MB-00000001: injected rate_limit"):
        injector.cancel_order(boid)
    assert injector.query_order(boid).state is S.ACK  # the refused cancel did nothing
    injector.cancel_order(boid)
    assert injector.query_order(boid).state is S.CANCELED
    assert len(emitted.events) == 1


def test_fault_rate_one_fails_every_call_of_its_ops() -> None:
    injector, _, _, emitted = around_mock(
        fault_rate=FaultRate(rate=1.0, kinds=(FaultKind.RATE_LIMIT,), ops=(BrokerOp.PLACE,))
    )
    for _ in range(3):
        with pytest.raises(RateLimitError):
            injector.place_order(market(), idempotency_key="O-1")
    assert injector.iter_fills(0) == (0, [])  # fills is not in ops
    assert emitted.events == [("fault_injected", {"op": "place", "fault": "rate_limit", "step": 1})] * 3


def test_fault_rate_zero_never_fails() -> None:
    injector, _, _, emitted = around_mock(fault_rate=FaultRate(rate=0.0))
    for i in range(20):
        injector.place_order(market(), idempotency_key=f"O-{i}")
    assert emitted.events == []


@pytest.mark.parametrize(
    ("faults", "rate", "active"),
    [
        ((), None, False),
        ((), FaultRate(rate=0.0), False),
        ((rule(2, "place", "timeout"),), None, True),
        ((), FaultRate(rate=0.1), True),
    ],
)
def test_the_target_is_the_broker_itself_when_there_is_nothing_to_inject(
    faults: tuple[FaultRule, ...], rate: FaultRate | None, active: bool
) -> None:
    # The orchestrator calls ``target``: an injector without faults would forward every call
    # unchanged, so it is skipped; one with faults must see every call.
    injector, venue, _, _ = around_mock(*faults, fault_rate=rate)
    assert injector.active is active
    assert injector.target is (injector if active else venue)


def test_a_run_without_faults_calls_the_broker_directly() -> None:
    seen: list[str] = []

    class Watched(FaultInjector):
        def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
            seen.append(idempotency_key)
            return super().place_order(request, idempotency_key=idempotency_key)

    clock = SimClock()
    venue = MockBroker(clock=clock)
    for faults in ((), (rule(1, "place", "dropped_ack"),)):
        injector = Watched(venue, faults=faults, clock=clock)
        clock.advance_step()
        injector.target.place_order(market(), idempotency_key=f"O-{len(faults)}")
    assert seen == ["O-1"]  # only the injector with a fault was called


def _rate_outcomes(seed: int) -> list[str]:
    injector, venue, clock, emitted = around_mock(seed=seed, fill_model="never", fault_rate=FaultRate(rate=0.5))
    out = []
    for i in range(30):
        try:
            injector.place_order(market(), idempotency_key=f"O-{i}")
            out.append("ok")
        except RetryableBrokerError as exc:
            out.append(exc.reason.value)
        clock.advance_step()
    assert [p["fault"] for _, p in emitted.events] == [o for o in out if o != "ok"]
    # timeout on place is a fault after acceptance: those orders exist on the venue
    assert venue.open_order_count == out.count("ok") + out.count("timeout")
    return out


def test_fault_rate_is_seeded() -> None:
    first = _rate_outcomes(seed=1)
    assert first == _rate_outcomes(seed=1)
    assert first != _rate_outcomes(seed=2)
    assert set(first) == {"ok", "rate_limit", "timeout", "transient_unavailable"}
    assert 5 <= first.count("ok") <= 25


def test_the_fault_rate_has_its_own_random_stream() -> None:
    # drawing faults does not move the venue's seeded price path
    def path(rate: float) -> list[str]:
        injector, venue, clock, _ = around_mock(fill_model="price_path", fault_rate=FaultRate(rate=rate))
        out = []
        for i in range(8):
            with contextlib.suppress(RetryableBrokerError):
                injector.place_order(market("1"), idempotency_key=f"O-{i}")
            out.append(str(venue.price("DEMO-EUR")))
            clock.advance_step()
        return out

    assert path(0.7) == path(0.0)


def test_fault_rate_only_uses_kinds_that_fit_the_op() -> None:
    injector, _, _, emitted = around_mock(
        fill_model="never",
        fault_rate=FaultRate(rate=1.0, kinds=(FaultKind.CANCEL_RACE,), ops=(BrokerOp.PLACE, BrokerOp.CANCEL)),
    )
    boid = injector.place_order(market(), idempotency_key="O-1")  # cancel_race cannot hit place
    injector.cancel_order(boid)
    assert injector.query_order(boid).state is S.FILLED
    assert emitted.events == [("fault_injected", {"op": "cancel", "fault": "cancel_race", "step": 1})]


def test_a_drawn_cancel_race_is_skipped_on_a_broker_without_race_cancel() -> None:
    clock = SimClock()
    emitted = Recorder()
    injector = FaultInjector(
        Ledger(),
        fault_rate=FaultRate(rate=1.0, kinds=(FaultKind.CANCEL_RACE,), ops=(BrokerOp.CANCEL,)),
        clock=clock,
        emit=emitted,
    )
    boid = injector.place_order(market(), idempotency_key="a")
    injector.cancel_order(boid)
    assert emitted.faults() == [("fault_skipped", "cancel", "cancel_race")]


def test_drawn_fill_stream_faults_take_effect_and_are_announced_once() -> None:
    injector, _, _, emitted = around_mock(
        fault_rate=FaultRate(rate=1.0, kinds=(FaultKind.DUPLICATE_FILL,), ops=(BrokerOp.FILLS,))
    )
    assert injector.iter_fills(0) == (0, [])  # the drawn fault waits for the next fill; the call succeeds
    assert injector.iter_fills(0) == (0, [])  # and at most one waits
    assert emitted.events == []
    injector.place_order(market("2"), idempotency_key="O-1")
    injector.place_order(market("2"), idempotency_key="O-2")
    _cursor, fills = injector.iter_fills(0)
    assert [f.fill_id for f in fills] == ["MB-00000001-F1", "MB-00000001-F1", "MB-00000002-F1"]
    assert emitted.events == [
        ("fault_injected", {"op": "fills", "fault": "duplicate_fill", "step": 1, "broker_order_id": "MB-00000001"})
    ]


def test_rules_from_step_zero_hit_calls_before_the_first_step() -> None:
    clock = SimClock()
    venue = MockBroker(clock=clock)
    injector = FaultInjector(venue, faults=[rule(0, "place", "transient_unavailable")], clock=clock)
    with pytest.raises(TransientUnavailableError):
        injector.place_order(market(), idempotency_key="O-1")
    assert clock.step == 0
    assert injector.place_order(market(), idempotency_key="O-1") == "MB-00000001"


def test_a_scheduled_fault_that_never_fired_is_named_at_the_end() -> None:
    injector, _, clock, emitted = around_ledger(
        rule(3, "cancel", "timeout", times=2),
        rule(1, "fills", "duplicate_fill"),
        rule(0, "place", "rate_limit"),
    )
    with contextlib.suppress(RateLimitError):
        injector.place_order(market(), idempotency_key="a")  # the place fault fires
    step(injector, clock)
    injector.finish()  # no cancel came, no fill was read
    skipped = [(p["op"], p["fault"], p["reason"]) for kind, p in emitted.events if kind == "fault_skipped"]
    assert skipped == [
        ("cancel", "timeout", "never triggered: no cancel call at or after step 3 before the run ended"),
        ("cancel", "timeout", "never triggered: no cancel call at or after step 3 before the run ended"),
        ("fills", "duplicate_fill", "never triggered: no fill was delivered after it was due"),
    ]
    assert injector.skipped == {("cancel", "timeout"): 2, ("fills", "duplicate_fill"): 1}
    injector.finish()  # once named, never again
    assert len([k for k, _ in emitted.events if k == "fault_skipped"]) == 3


def test_a_drawn_fill_fault_left_waiting_is_not_reported() -> None:
    injector, _, _, emitted = around_ledger(
        fault_rate=FaultRate(rate=1.0, kinds=(FaultKind.DUPLICATE_FILL,), ops=(BrokerOp.PLACE,))
    )
    injector.place_order(market(), idempotency_key="a")  # draws a fill fault; no fill follows
    injector.finish()
    assert [k for k, _ in emitted.events if k == "fault_skipped"] == []


def test_a_run_that_ends_before_a_fault_fires_says_so_and_is_degraded() -> None:
    from pytest_peak_dryrun.core.dryrun import run_scenario
    from pytest_peak_dryrun.core.scenario import parse_scenario

    scenario = parse_scenario(
        {
            "name": "late_fault",
            "steps": 3,
            "orders": [{"step": 1, "instrument": "DEMO-EUR", "side": "BUY", "qty": "1"}],
            "faults": [{"step": 2, "op": "cancel", "kind": "rate_limit"}],
        },
        source="test",
    )
    result = run_scenario(scenario)
    assert result.metrics.value("faults_skipped_total", op="cancel", fault="rate_limit") == 1
    assert result.health.status == "degraded"
    assert result.count("fault_skipped", op="cancel") == 1
