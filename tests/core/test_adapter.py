"""The adapter kit: BrokerAdapter's tables, order table, cursor conversion and clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

import msgspec
import pytest

from pytest_peak_dryrun import (
    BrokerAdapter,
    BrokerContractError,
    BrokerTimeoutError,
    OrderRejectedError,
    OrderRequest,
    OrderState,
    PermanentBrokerError,
    RateLimitError,
    RetryableBrokerError,
    SimClock,
    UnknownOrderError,
    check_broker,
)
from pytest_peak_dryrun.core.boundary import signature_problems


class VenueError(Exception):
    pass


class Busy(VenueError):
    pass


class VeryBusy(Busy):
    pass


class Lost(VenueError):
    pass


class Nope(VenueError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Cursor:
    """A cursor object, as a venue's feed hands out: not an int, not comparable by position."""

    seen: int


@dataclass
class DictVenue:
    """A venue answering in JSON-shaped dicts, with int order ids and a scripted error queue."""

    clock: SimClock | None = None
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    cancel_answer: Any = "OK"
    dedupe: dict[str, int] = field(default_factory=dict)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.errors:
            raise self.errors.pop(0)

    def new(self, req: OrderRequest, tag: str) -> int:
        self._call("new")
        if tag in self.dedupe:
            return self.dedupe[tag]
        oid = self.dedupe[tag] = 100 + len(self.orders)
        self.orders[oid] = {"id": oid, "st": "WORKING", "cum": "0"}
        return oid

    def execute(self, oid: int, qty: str, price: float | str) -> None:
        order = self.orders[oid]
        order["cum"] = str(Decimal(order["cum"]) + Decimal(qty))
        self.executions.append({"xid": f"x{len(self.executions) + 1}", "oid": oid, "q": qty, "px": price})


class DictAdapter(BrokerAdapter):
    state_map: ClassVar[dict[Any, OrderState | str]] = {
        "WORKING": OrderState.ACK,
        "DONE": "FILLED",
        "KILLED": OrderState.CANCELED,
    }
    error_map: ClassVar[dict[type[BaseException], Any]] = {
        Busy: RateLimitError,
        Lost: BrokerTimeoutError,
        Nope: lambda exc: OrderRejectedError(f"nope {exc.code}", reason=exc.code),
    }
    cancel_map: ClassVar[dict[Any, Any]] = {"TOO_LATE": OrderRejectedError, "OK": None}
    order_fields: ClassVar[dict[str, Any]] = {"broker_order_id": "id", "state": "st", "filled_qty": "cum"}
    fill_fields: ClassVar[dict[str, Any]] = {"fill_id": "xid", "broker_order_id": "oid", "qty": "q", "price": "px"}

    def venue_place(self, request: OrderRequest, idempotency_key: str) -> object:
        return self.venue.new(request, idempotency_key)

    def venue_cancel(self, venue_order_id: Any) -> object:
        self.venue._call("cancel")
        if venue_order_id not in self.venue.orders:
            raise Nope("UNKNOWN")
        return self.venue.cancel_answer

    def venue_query(self, venue_order_id: Any) -> object:
        self.venue._call("query")
        return dict(self.venue.orders[venue_order_id])

    def venue_open_orders(self) -> Iterable[object]:
        self.venue._call("open")
        return [dict(o) for o in self.venue.orders.values()]

    def venue_fills(self, cursor: Any) -> tuple[Any, Iterable[object]]:
        self.venue._call("fills")
        start = 0 if cursor is None else cursor.seen
        return Cursor(len(self.venue.executions)), self.venue.executions[start:]


def buy(qty: str = "5", **kw: Any) -> OrderRequest:
    return OrderRequest(instrument="DEMO-EUR", side="BUY", qty=Decimal(qty), **kw)


@pytest.fixture
def venue() -> DictVenue:
    return DictVenue(clock=SimClock())


@pytest.fixture
def adapter(venue: DictVenue) -> DictAdapter:
    return DictAdapter(venue)


# -- the order table -------------------------------------------------------------------------


def test_a_query_is_completed_from_what_was_placed(adapter: DictAdapter, venue: DictVenue) -> None:
    assert venue.clock is not None
    venue.clock.advance_step()
    limit = buy("5", order_type="LIMIT", limit_price=Decimal("99.5"))
    boid = adapter.place_order(limit, idempotency_key="key-1")
    assert boid == "100"
    venue.execute(100, "2", "99.5")
    order = adapter.query_order(boid)
    assert msgspec.structs.asdict(order) == {
        "order_id": "key-1",
        "broker_order_id": "100",
        "instrument": "DEMO-EUR",
        "side": "BUY",
        "order_type": "LIMIT",
        "qty": Decimal("5"),
        "limit_price": Decimal("99.5"),
        "filled_qty": Decimal("2"),
        "state": OrderState.ACK,
        "created_step": 1,
    }
    assert [o.broker_order_id for o in adapter.list_open_orders()] == ["100"]


def test_the_same_key_gives_the_same_id_without_a_second_venue_call(adapter: DictAdapter, venue: DictVenue) -> None:
    first = adapter.place_order(buy(), idempotency_key="k")
    assert adapter.place_order(buy(), idempotency_key="k") == first
    assert venue.calls == ["new"]


def test_a_retry_after_a_timeout_finds_the_first_order(adapter: DictAdapter, venue: DictVenue) -> None:
    venue.new(buy(), "k")  # the venue took it; the answer was lost
    venue.errors.append(Lost("no answer"))
    with pytest.raises(BrokerTimeoutError):
        adapter.place_order(buy(), idempotency_key="k")
    assert adapter.place_order(buy(), idempotency_key="k") == "100"
    assert adapter.query_order("100").order_id == "k"


def test_terminal_states_leave_the_open_orders(adapter: DictAdapter, venue: DictVenue) -> None:
    adapter.place_order(buy(), idempotency_key="a")
    adapter.place_order(buy(), idempotency_key="b")
    venue.orders[100]["st"] = "KILLED"
    assert [o.broker_order_id for o in adapter.list_open_orders()] == ["101"]
    assert adapter.query_order("100").state is OrderState.CANCELED


def test_an_order_the_adapter_did_not_place_needs_order_fields(adapter: DictAdapter, venue: DictVenue) -> None:
    venue.orders[7] = {"id": 7, "st": "WORKING", "cum": "0"}
    with pytest.raises(BrokerContractError) as info:
        adapter.list_open_orders()
    assert str(info.value) == (
        "DictAdapter.venue_open_orders returned order '7', which this adapter did not place (or has forgotten), "
        "and order_fields does not say where its instrument, side, qty are"
    )

    class Complete(DictAdapter):
        order_fields: ClassVar[dict[str, Any]] = {
            **DictAdapter.order_fields,
            "instrument": "sym",
            "side": "side",
            "qty": lambda rec: rec["size"],
        }

    venue.orders[7].update(sym="DEMO-EUR", side="SELL", size="3")
    (order,) = Complete(venue).list_open_orders()
    assert (order.broker_order_id, order.order_id, order.side, order.qty) == ("7", "7", "SELL", Decimal(3))


def test_ended_orders_are_forgotten_after_the_retention(venue: DictVenue) -> None:
    class Short(DictAdapter):
        retention_steps = 2

    adapter = Short(venue)
    assert venue.clock is not None
    adapter.place_order(buy("1"), idempotency_key="a")
    venue.execute(100, "1", "100")
    adapter.iter_fills(0)  # filled: the order ended at step 0
    for _ in range(3):
        venue.clock.advance_step()
    adapter.place_order(buy("1"), idempotency_key="b")
    assert sorted(adapter._orders) == ["101"]
    assert "a" not in adapter._by_key


# -- states, numbers and records --------------------------------------------------------------


def test_an_unmapped_venue_state_is_a_contract_error(adapter: DictAdapter, venue: DictVenue) -> None:
    boid = adapter.place_order(buy(), idempotency_key="k")
    venue.orders[100]["st"] = "SUSPENDED"
    with pytest.raises(BrokerContractError) as info:
        adapter.query_order(boid)
    assert str(info.value) == (
        "DictAdapter.venue_query returned the venue state 'SUSPENDED', which state_map does not map "
        "(it maps 'WORKING', 'DONE', 'KILLED')"
    )


def test_a_missing_field_names_the_table_entry(adapter: DictAdapter, venue: DictVenue) -> None:
    boid = adapter.place_order(buy(), idempotency_key="k")
    del venue.orders[100]["cum"]
    with pytest.raises(BrokerContractError) as info:
        adapter.query_order(boid)
    assert str(info.value) == (
        "DictAdapter.venue_query returned a dict without 'cum', where order_fields['filled_qty'] says the "
        "filled_qty is; name the attribute that holds it"
    )


def test_a_quantity_that_is_no_number_is_a_contract_error(adapter: DictAdapter, venue: DictVenue) -> None:
    boid = adapter.place_order(buy(), idempotency_key="k")
    venue.orders[100]["cum"] = "two"
    with pytest.raises(BrokerContractError, match=r"returned filled_qty 'two' \(str\); expected a number$"):
        adapter.query_order(boid)


# -- fills and the cursor -------------------------------------------------------------------


def test_cursor_objects_live_behind_int_positions(adapter: DictAdapter, venue: DictVenue) -> None:
    adapter.place_order(buy("5"), idempotency_key="a")
    venue.execute(100, "2", 100.1)  # a float price becomes its short decimal text
    venue.execute(100, "3", "100.2")
    cursor, fills = adapter.iter_fills(0)
    assert cursor == 2
    assert [(f.fill_id, f.broker_order_id, f.qty, f.price, f.exec_seq) for f in fills] == [
        ("x1", "100", Decimal(2), Decimal("100.1"), 1),
        ("x2", "100", Decimal(3), Decimal("100.2"), 2),
    ]
    assert adapter.iter_fills(cursor) == (2, [])  # nothing new, same position
    venue.executions.append(dict(venue.executions[0]))  # the venue repeats an execution
    again, repeated = adapter.iter_fills(cursor)
    assert again == 3
    assert [(f.fill_id, f.exec_seq) for f in repeated] == [("x1", 1)]  # a repeat keeps its sequence number
    assert [f.fill_id for f in adapter.iter_fills(0)[1]] == ["x1", "x2", "x1"]  # from the start again
    assert check_broker(adapter).iter_fills(3) == (3, [])


def test_an_unknown_cursor_position_is_refused(adapter: DictAdapter) -> None:
    with pytest.raises(ValueError, match=r"^DictAdapter\.iter_fills\(5\): not a cursor this adapter returned"):
        adapter.iter_fills(5)


def test_cursor_memory_is_bounded(adapter: DictAdapter, venue: DictVenue) -> None:
    adapter.place_order(buy("1000"), idempotency_key="a")
    cursor = 0
    for _ in range(100):
        venue.execute(100, "1", "100")
        cursor, _fills = adapter.iter_fills(cursor)
    assert cursor == 100
    assert len(adapter._cursors) == 64
    assert adapter.iter_fills(100) == (100, [])
    with pytest.raises(ValueError, match="remembers the last 64"):
        adapter.iter_fills(1)


def test_venue_fills_must_answer_a_pair(venue: DictVenue) -> None:
    class Flat(DictAdapter):
        def venue_fills(self, cursor: Any) -> Any:
            return self.venue.executions

    with pytest.raises(BrokerContractError) as info:
        Flat(venue).iter_fills(0)
    assert str(info.value) == "Flat.venue_fills returned list; expected (next venue cursor, executions)"


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected", "message"),
    [
        (Busy("slow down"), RateLimitError, "Busy: slow down"),
        (VeryBusy("really"), RateLimitError, "VeryBusy: really"),  # found along the MRO
        (Lost("gone"), BrokerTimeoutError, "Lost: gone"),
        (Nope("HALTED"), OrderRejectedError, "nope HALTED"),
    ],
)
def test_venue_errors_become_our_broker_errors(
    adapter: DictAdapter, venue: DictVenue, raised: Exception, expected: type[Exception], message: str
) -> None:
    venue.errors.append(raised)
    with pytest.raises(expected) as info:
        adapter.place_order(buy(), idempotency_key="k")
    assert str(info.value) == message
    assert info.value.__cause__ is raised


def test_a_mapped_reject_keeps_its_reason(adapter: DictAdapter, venue: DictVenue) -> None:
    venue.errors.append(Nope("HALTED"))
    with pytest.raises(OrderRejectedError) as info:
        adapter.query_order("1")
    assert info.value.reason == "HALTED"


def test_unmapped_errors_propagate_unchanged(adapter: DictAdapter, venue: DictVenue) -> None:
    venue.errors.append(KeyError("a bug in the venue, not a rejection"))
    with pytest.raises(KeyError):
        adapter.place_order(buy(), idempotency_key="k")
    venue.errors.append(UnknownOrderError("ours already"))
    with pytest.raises(UnknownOrderError, match=r"^ours already$"):
        adapter.list_open_orders()


def test_a_base_class_entry_catches_the_rest(venue: DictVenue) -> None:
    class CatchAll(DictAdapter):
        error_map: ClassVar[dict[type[BaseException], Any]] = {Busy: RateLimitError, VenueError: PermanentBrokerError}

    venue.errors.append(Lost("gone"))
    with pytest.raises(PermanentBrokerError, match=r"^Lost: gone$"):
        CatchAll(venue).iter_fills(0)


# -- cancel answers ---------------------------------------------------------------------------


def test_cancel_answers_are_mapped_or_ignored(adapter: DictAdapter, venue: DictVenue) -> None:
    boid = adapter.place_order(buy(), idempotency_key="k")
    assert adapter.cancel_order(boid) is None  # "OK" maps to None
    venue.cancel_answer = {"unhashable": True}
    assert adapter.cancel_order(boid) is None
    venue.cancel_answer = "SOMETHING_ELSE"
    assert adapter.cancel_order(boid) is None
    venue.cancel_answer = "TOO_LATE"
    with pytest.raises(OrderRejectedError, match=r"^cancel 100: the venue answered 'TOO_LATE'$"):
        adapter.cancel_order(boid)
    with pytest.raises(OrderRejectedError, match=r"^nope UNKNOWN$"):
        adapter.cancel_order("999")


# -- clock -------------------------------------------------------------------------------------


def test_the_adapter_runs_on_the_venues_clock_or_the_one_given(venue: DictVenue) -> None:
    assert DictAdapter(venue).clock is venue.clock
    other = SimClock()
    assert DictAdapter(venue, clock=other).clock is other
    assert DictAdapter(DictVenue()).clock is None
    assert not hasattr(DictAdapter(venue), "on_step")  # the venue has none: no pretending


def test_on_step_is_forwarded_when_the_venue_has_one() -> None:
    class Stepped(DictVenue):
        steps: ClassVar[list[int]] = []

        def on_step(self, step: int) -> None:
            self.steps.append(step)

    adapter = DictAdapter(Stepped())
    assert adapter.clock is None
    adapter.on_step(1)
    adapter.on_step(2)
    assert Stepped.steps == [1, 2]
    adapter.place_order(buy(), idempotency_key="k")
    assert adapter.query_order("100").created_step == 2  # no clock: the last step it was told


def test_the_adapter_is_a_dry_run_broker_with_protocol_signatures(adapter: DictAdapter) -> None:
    assert adapter.dry_run is True
    assert signature_problems(adapter) == []


# -- tables are checked when the class is defined ----------------------------------------------


def test_a_bad_state_is_refused_at_class_definition() -> None:
    with pytest.raises(TypeError) as info:

        class Bad(DictAdapter):
            state_map: ClassVar[dict[Any, Any]] = {"WORKING": "OPEN"}

    assert str(info.value) == (
        "Bad.state_map['WORKING']: 'OPEN' is not an OrderState "
        "(NEW, ACK, PARTIAL, FILLED, PENDING_CANCEL, PENDING_REPLACE, CANCELED, REJECTED, EXPIRED)"
    )


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        (
            {"error_map": {Busy: ValueError}},
            "Bad.error_map[<class 'test_adapter.Busy'>]: ValueError is not a BrokerError",
        ),
        (
            {"error_map": {Busy: RetryableBrokerError}},
            "Bad.error_map[<class 'test_adapter.Busy'>]: RetryableBrokerError has no retry reason; "
            "use RateLimitError, BrokerTimeoutError or TransientUnavailableError",
        ),
        ({"error_map": {"Busy": RateLimitError}}, "Bad.error_map: key 'Busy' is not an exception type"),
        (
            {"cancel_map": {"X": "reject"}},
            "Bad.cancel_map['X']: expected a BrokerError class or a callable, got 'reject'",
        ),
        (
            {"order_fields": {"broker_order_id": "id", "state": "st", "filled": "cum"}},
            "Bad.order_fields: filled not a field of Order (order_id, broker_order_id, instrument, side, order_type, "
            "qty, limit_price, filled_qty, state, created_step)",
        ),
        (
            {"fill_fields": {"fill_id": "xid", "qty": "q", "price": "px"}},
            "Bad.fill_fields does not say where to find: broker_order_id",
        ),
    ],
)
def test_bad_tables_are_refused_at_class_definition(tables: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError) as info:
        type("Bad", (DictAdapter,), dict(tables))
    assert str(info.value) == message


def test_an_adapter_must_implement_the_venue_calls() -> None:
    class Half(BrokerAdapter):
        def venue_place(self, request: OrderRequest, idempotency_key: str) -> object:
            return "1"

    with pytest.raises(TypeError, match="abstract"):
        Half(object())  # type: ignore[abstract]


# -- replace (amend): the optional venue_replace -------------------------------------------------


class AmendingAdapter(DictAdapter):
    """DictAdapter over a venue that can amend: answers "AMENDED", or "TOO_LATE" for a done order."""

    order_fields: ClassVar[dict[str, Any]] = {**DictAdapter.order_fields, "qty": "qty"}
    replace_map: ClassVar[dict[Any, Any]] = {"TOO_LATE": OrderRejectedError, "AMENDED": None}

    def venue_replace(self, venue_order_id: Any, qty: Decimal | None, limit_price: Decimal | None) -> object:
        self.venue._call("amend")
        order = self.venue.orders[venue_order_id]
        if order["st"] != "WORKING":
            return "TOO_LATE"
        if qty is not None:
            order["qty"] = str(qty)
        return "AMENDED"


def test_an_adapter_without_venue_replace_has_no_replace_order(adapter: DictAdapter) -> None:
    assert not hasattr(adapter, "replace_order")


def test_venue_replace_gives_the_adapter_replace_order(venue: DictVenue) -> None:
    adapter = AmendingAdapter(venue)
    boid = adapter.place_order(buy("5"), idempotency_key="k1")
    next(iter(venue.orders.values()))["qty"] = "5"  # this venue reports the quantity once it was amended
    assert adapter.replace_order(boid, qty=Decimal(3)) is None
    assert adapter.query_order(boid).qty == Decimal(3)  # the venue's qty, read through order_fields
    assert venue.calls[-2:] == ["amend", "query"]
    assert check_broker(adapter).replace_order(boid, qty=Decimal(2)) is None  # passes the boundary check


def test_a_mapped_replace_answer_becomes_our_error(venue: DictVenue) -> None:
    adapter = AmendingAdapter(venue)
    boid = adapter.place_order(buy("5"), idempotency_key="k1")
    next(iter(venue.orders.values()))["st"] = "DONE"
    with pytest.raises(OrderRejectedError, match="TOO_LATE"):
        adapter.replace_order(boid, qty=Decimal(3))


def test_venue_errors_of_a_replace_are_mapped_like_the_others(venue: DictVenue) -> None:
    adapter = AmendingAdapter(venue)
    boid = adapter.place_order(buy("5"), idempotency_key="k1")
    venue.errors.append(Busy())
    with pytest.raises(RateLimitError):
        adapter.replace_order(boid, qty=Decimal(3))


def test_venue_replace_needs_the_venues_qty_in_order_fields() -> None:
    with pytest.raises(TypeError, match="implements venue_replace"):

        class Blind(DictAdapter):  # queries could not show the amended quantity
            def venue_replace(self, venue_order_id: Any, qty: Decimal | None, limit_price: Decimal | None) -> object:
                return None
