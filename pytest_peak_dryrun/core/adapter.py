"""The adapter kit: :class:`BrokerAdapter` turns a venue that speaks its own language into a Broker.

A team's in-house fake broker (or a vendor's paper-trading client) rarely speaks the
:class:`~pytest_peak_dryrun.Broker` protocol: its states are called ``ACKNOWLEDGED`` and
``CANCELLED``, it raises its own exceptions, its execution feed is read with a cursor
object, ``cancel`` answers with a state, and its status record does not repeat the order's
instrument, side or quantity. Translating all of that by hand took ~190 lines (issue 11);
with the kit an adapter is the venue's five calls plus a few declarative tables:

- ``state_map``: the venue's state -> :class:`~pytest_peak_dryrun.OrderState`. A state not in
  the map is a :class:`~pytest_peak_dryrun.BrokerContractError` (no guessing: FIX's ``New``
  is our ``ACK``, not our ``NEW``).
- ``error_map``: the venue's exception type -> one of our broker errors (a class, or a
  callable building the error from the venue's exception), looked up along the raised
  exception's MRO, so the retry policy retries and rejections are counted. An unmapped
  exception propagates unchanged and fails the test where it happened: a catch-all would
  turn a bug in the adapter into a quiet "rejected" order. Map the venue's base exception
  class to ``PermanentBrokerError`` to treat every other venue error as a rejection.
- ``cancel_map``: a venue's answer to a cancel -> an error to raise (``None``: accepted).
  Answers not in the map are accepted and ignored. ``replace_map`` does the same for a replace.
- replace (amend) is optional: implement ``venue_replace`` and the adapter has
  ``replace_order`` (else it has none, and the preflight refuses scenarios with
  ``[[replaces]]`` for it). Its ``order_fields`` must then say where the venue's ``qty`` is
  (and ``limit_price``, if limit orders are amended): queries report the venue's current terms.
- ``order_fields`` / ``fill_fields``: where our fields are in the venue's records (an
  attribute or key name, or a callable taking the record).
- the cursor: the venue's cursor objects are kept in a table behind the int positions the
  protocol uses; ``initial_cursor`` is what the venue takes for "from the start".
- the order table: what :meth:`BrokerAdapter.place_order` sent (instrument, side, qty, order
  type, limit price, idempotency key, step) is remembered, so a query only needs the
  venue's state and filled quantity. Terminal orders are forgotten ``retention_steps`` later.

The adapter declares ``dry_run = True`` and runs on the run's clock: the one it is given or
its venue's ``.clock``; a venue's ``on_step(step)`` is forwarded (and only then does the
adapter have an ``on_step``, so a venue with neither a clock nor ``on_step`` is refused by
the preflight instead of running on a second clock).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Final, NoReturn, Protocol

from .clock import SimClock
from .errors import BrokerContractError, BrokerError, RetryableBrokerError
from .model import Fill, Order, OrderRequest
from .orders import TERMINAL_STATES, OrderState

__all__ = ["BrokerAdapter", "ErrorFactory", "FieldRef"]

#: An error class (called with a message) or a callable building the error.
ErrorFactory = type[BrokerError] | Callable[[Any], BrokerError]
#: An attribute (or mapping key) name of a venue record, or a callable reading the record.
FieldRef = str | Callable[[Any], Any]

_CURSOR_MEMORY: Final = 64  # cursor positions remembered besides 0; the orchestrator uses the last
_MISSING: Final = object()


class _Entry:
    """What the adapter placed: the request, its key and step, and the fills seen."""

    __slots__ = ("created_step", "filled", "key", "request", "seqs", "terminal", "venue_id")

    def __init__(self, venue_id: object, request: OrderRequest, key: str, step: int) -> None:
        self.venue_id = venue_id
        self.request = request
        self.key = key
        self.created_step = step
        self.filled = Decimal(0)
        self.seqs: dict[str, int] = {}
        self.terminal = False


def _decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))  # 0.1 is "0.1", not its binary expansion
    if isinstance(value, (int, str)):
        return Decimal(value)
    raise TypeError(f"{type(value).__name__} is not a number")


def _error_from(factory: ErrorFactory, subject: object, message: str) -> BrokerError:
    error: BrokerError = factory(message) if isinstance(factory, type) else factory(subject)
    return error


def _check_factory(owner: str, table: str, key: object, factory: object) -> None:
    if isinstance(factory, type):
        if not issubclass(factory, BrokerError):
            raise TypeError(f"{owner}.{table}[{key!r}]: {factory.__name__} is not a BrokerError")
        if issubclass(factory, RetryableBrokerError) and not hasattr(factory, "reason"):
            raise TypeError(
                f"{owner}.{table}[{key!r}]: {factory.__name__} has no retry reason; "
                "use RateLimitError, BrokerTimeoutError or TransientUnavailableError"
            )
    elif not callable(factory):
        raise TypeError(f"{owner}.{table}[{key!r}]: expected a BrokerError class or a callable, got {factory!r}")


class _ReplaceFn(Protocol):
    def __call__(
        self, broker_order_id: str, *, qty: Decimal | None = None, limit_price: Decimal | None = None
    ) -> None: ...


class BrokerAdapter(ABC):
    """Base class of an adapter from a venue to the Broker protocol (see the module docstring).

    Implement the five ``venue_*`` methods (one venue call each) and declare the tables::

        class HouseAdapter(BrokerAdapter):
            state_map = {"ACKNOWLEDGED": OrderState.ACK, "CANCELLED": OrderState.CANCELED}  # every state
            error_map = {Throttled: RateLimitError, NoSuchOrder: UnknownOrderError}  # every exception
            order_fields = {"broker_order_id": "ref", "state": "status", "filled_qty": "done_qty"}

            def venue_place(self, request, idempotency_key):
                return self.venue.send(request.instrument, ..., client_ref=idempotency_key)
            ...

    The tables are checked when the class is defined: a state that is not an OrderState or
    an error that is not a BrokerError is a TypeError naming the entry.
    """

    #: Never a live venue: the orchestrator's preflight requires this of any broker.
    dry_run: ClassVar[bool] = True
    state_map: ClassVar[Mapping[Any, OrderState | str]] = {}
    error_map: ClassVar[Mapping[type[BaseException], ErrorFactory]] = {}
    cancel_map: ClassVar[Mapping[Any, ErrorFactory | None]] = {}
    replace_map: ClassVar[Mapping[Any, ErrorFactory | None]] = {}
    order_fields: ClassVar[Mapping[str, FieldRef]] = {
        "broker_order_id": "order_id",
        "state": "state",
        "filled_qty": "filled_qty",
    }
    fill_fields: ClassVar[Mapping[str, FieldRef]] = {
        "fill_id": "fill_id",
        "broker_order_id": "order_id",
        "qty": "qty",
        "price": "price",
    }
    #: The venue's cursor for "every fill from the start" (int position 0).
    initial_cursor: ClassVar[Any] = None
    #: Terminal orders leave the order table this many steps after they ended.
    retention_steps: ClassVar[int] = 1_000

    _states: ClassVar[dict[Any, OrderState]] = {}
    #: True when the subclass implements ``venue_replace`` (set when the class is defined)
    _replaces: ClassVar[bool] = False
    on_step: Callable[[int], None]  # present only when the venue has one (see __init__)
    replace_order: _ReplaceFn  # present only when the subclass implements venue_replace (see __init__)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        states: dict[Any, OrderState] = {}
        for key, value in cls.state_map.items():
            try:
                states[key] = OrderState(value)
            except ValueError:
                names = ", ".join(s.value for s in OrderState)
                raise TypeError(
                    f"{cls.__name__}.state_map[{key!r}]: {value!r} is not an OrderState ({names})"
                ) from None
        cls._states = states
        for key, factory in cls.error_map.items():
            if not (isinstance(key, type) and issubclass(key, BaseException)):
                raise TypeError(f"{cls.__name__}.error_map: key {key!r} is not an exception type")
            _check_factory(cls.__name__, "error_map", key, factory)
        for table_name in ("cancel_map", "replace_map"):
            for key, answer in getattr(cls, table_name).items():
                if answer is not None:
                    _check_factory(cls.__name__, table_name, key, answer)
        cls._replaces = cls.venue_replace is not BrokerAdapter.venue_replace
        if cls._replaces and "qty" not in cls.order_fields:
            raise TypeError(
                f"{cls.__name__} implements venue_replace, so queries must report the venue's current "
                "quantity: order_fields does not say where the qty is (add 'qty', and 'limit_price')"
            )
        for table, model, required in (
            ("order_fields", Order, ("broker_order_id", "state", "filled_qty")),
            ("fill_fields", Fill, ("fill_id", "broker_order_id", "qty", "price")),
        ):
            fields = getattr(cls, table)
            unknown = [name for name in fields if name not in model.__struct_fields__]
            if unknown:
                raise TypeError(
                    f"{cls.__name__}.{table}: {', '.join(unknown)} not a field of {model.__name__} "
                    f"({', '.join(model.__struct_fields__)})"
                )
            missing = [name for name in required if name not in fields]
            if missing:
                raise TypeError(f"{cls.__name__}.{table} does not say where to find: {', '.join(missing)}")

    def __init__(self, venue: Any, *, clock: SimClock | None = None) -> None:
        self.venue = venue
        #: The run's clock: the one given, else the venue's (the run adopts it).
        self.clock: SimClock | None = clock if clock is not None else getattr(venue, "clock", None)
        self._step = 0
        self._orders: dict[str, _Entry] = {}
        self._by_key: dict[str, str] = {}
        self._ended: deque[tuple[int, str]] = deque()
        self._cursors: dict[int, Any] = {}
        if callable(getattr(venue, "on_step", None)) and not hasattr(type(self), "on_step"):
            self.on_step = self._forward_step
        if self._replaces:
            # Only then: a replace_order that cannot replace would pass the preflight's check.
            self.replace_order = self._replace_order

    # -- what a subclass implements: one venue call each ----------------------------------

    @abstractmethod
    def venue_place(self, request: OrderRequest, idempotency_key: str) -> object:
        """Send the order; return the venue's order id. Pass the key on as the venue's client
        order id if it has one: then a retry after a timeout finds the first order."""

    @abstractmethod
    def venue_cancel(self, venue_order_id: Any) -> object:
        """Ask the venue to cancel; the answer goes through ``cancel_map``."""

    @abstractmethod
    def venue_query(self, venue_order_id: Any) -> object:
        """The venue's record of one order (``order_fields`` says where its fields are)."""

    @abstractmethod
    def venue_open_orders(self) -> Iterable[object]:
        """The venue's records of its open orders, in a deterministic order."""

    @abstractmethod
    def venue_fills(self, cursor: Any) -> tuple[Any, Iterable[object]]:
        """``(next venue cursor, the venue's executions after cursor)``."""

    def venue_replace(self, venue_order_id: Any, qty: Decimal | None, limit_price: Decimal | None) -> object:
        """Optional: ask the venue to amend the order (``None``: keep that term); the answer
        goes through ``replace_map``. Implement it and the adapter gets ``replace_order``."""
        raise NotImplementedError  # never called: replace_order exists only when overridden

    # -- the Broker protocol ----------------------------------------------------------------

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        known = self._by_key.get(idempotency_key)
        if known is not None:
            return known  # idempotent here even if the venue is not
        try:
            venue_id = self.venue_place(request, idempotency_key)
        except Exception as exc:
            self._raise_mapped(exc)
            raise
        if venue_id is None or venue_id == "":
            self._contract("venue_place", f"returned {venue_id!r}; expected the venue's order id")
        boid = str(venue_id)
        if boid not in self._orders:  # else: the venue found the order of a timed-out first try
            self._orders[boid] = _Entry(venue_id, request, idempotency_key, self._now())
        self._by_key[idempotency_key] = boid
        self._forget()
        return boid

    def cancel_order(self, broker_order_id: str) -> None:
        try:
            answer = self.venue_cancel(self._venue_id(broker_order_id))
        except Exception as exc:
            self._raise_mapped(exc)
            raise
        self._check_answer(self.cancel_map, answer, f"cancel {broker_order_id}")

    def _replace_order(
        self, broker_order_id: str, *, qty: Decimal | None = None, limit_price: Decimal | None = None
    ) -> None:
        try:
            answer = self.venue_replace(self._venue_id(broker_order_id), qty, limit_price)
        except Exception as exc:
            self._raise_mapped(exc)
            raise
        self._check_answer(self.replace_map, answer, f"replace {broker_order_id}")

    @staticmethod
    def _check_answer(table: Mapping[Any, ErrorFactory | None], answer: object, what: str) -> None:
        """Raise the error ``table`` maps the venue's ``answer`` to (``cancel_map``, ``replace_map``).

        An answer that is None, not in the table, mapped to None or unhashable is accepted.
        """
        if answer is None or not table:
            return
        try:
            factory = table.get(answer)
        except TypeError:  # an unhashable answer cannot be in the map
            return
        if factory is not None:
            raise _error_from(factory, answer, f"{what}: the venue answered {answer!r}")

    def query_order(self, broker_order_id: str) -> Order:
        try:
            record = self.venue_query(self._venue_id(broker_order_id))
        except Exception as exc:
            self._raise_mapped(exc)
            raise
        return self._order(record, "venue_query", broker_order_id)

    def list_open_orders(self) -> list[Order]:
        try:
            records = list(self.venue_open_orders())
        except Exception as exc:
            self._raise_mapped(exc)
            raise
        orders = [self._order(record, "venue_open_orders", None) for record in records]
        return [order for order in orders if order.state not in TERMINAL_STATES]

    def iter_fills(self, cursor: int) -> tuple[int, list[Fill]]:
        venue_cursor = self.initial_cursor if cursor == 0 else self._cursors.get(cursor, _MISSING)
        if venue_cursor is _MISSING:
            raise ValueError(
                f"{type(self).__name__}.iter_fills({cursor}): not a cursor this adapter returned "
                f"(it remembers the last {_CURSOR_MEMORY})"
            )
        try:
            answer = self.venue_fills(venue_cursor)
        except Exception as exc:
            self._raise_mapped(exc)
            raise
        if not isinstance(answer, tuple) or len(answer) != 2:
            self._contract("venue_fills", f"returned {type(answer).__name__}; expected (next venue cursor, executions)")
        next_cursor, records = answer
        fills = [self._fill(record) for record in records]
        position = cursor + len(fills)
        if position:
            self._cursors.pop(position, None)
            self._cursors[position] = next_cursor  # most recent last
            if len(self._cursors) > _CURSOR_MEMORY:
                del self._cursors[next(iter(self._cursors))]
        return position, fills

    # -- internals ------------------------------------------------------------------------

    def _forward_step(self, step: int) -> None:
        self._step = step
        self.venue.on_step(step)

    def _now(self) -> int:
        return self.clock.step if self.clock is not None else self._step

    def _venue_id(self, broker_order_id: str) -> object:
        entry = self._orders.get(broker_order_id)
        return broker_order_id if entry is None else entry.venue_id

    def _contract(self, method: str, problem: str) -> NoReturn:
        raise BrokerContractError(f"{type(self).__name__}.{method} {problem}")

    def _raise_mapped(self, exc: Exception) -> None:
        """Raise our error for a venue exception that ``error_map`` knows; else return."""
        if isinstance(exc, (BrokerError, BrokerContractError)):
            return
        table = self.error_map
        for cls in type(exc).__mro__:
            factory = table.get(cls)
            if factory is not None:
                raise _error_from(factory, exc, f"{type(exc).__name__}: {exc}") from exc

    def _read(self, record: object, field: str, table: str, method: str) -> Any:
        ref = getattr(self, table)[field]
        if callable(ref):
            return ref(record)
        try:
            return record[ref] if isinstance(record, Mapping) else getattr(record, ref)
        except (KeyError, AttributeError):
            self._contract(
                method,
                f"returned a {type(record).__name__} without {ref!r}, where {table}[{field!r}] says "
                f"the {field} is; name the attribute that holds it",
            )

    def _state(self, value: object, method: str) -> OrderState:
        if isinstance(value, OrderState):
            return value
        try:
            state = self._states.get(value)
        except TypeError:
            state = None
        if state is None:
            known = ", ".join(repr(k) for k in self.state_map) or "nothing"
            self._contract(
                method, f"returned the venue state {value!r}, which state_map does not map (it maps {known})"
            )
        return state

    def _number(self, record: object, field: str, table: str, method: str) -> Decimal:
        value = self._read(record, field, table, method)
        try:
            return _decimal(value)
        except (TypeError, ArithmeticError):
            self._contract(method, f"returned {field} {value!r} ({type(value).__name__}); expected a number")

    def _order(self, record: object, method: str, asked: str | None) -> Order:
        boid = asked if asked is not None else str(self._read(record, "broker_order_id", "order_fields", method))
        state = self._state(self._read(record, "state", "order_fields", method), method)
        filled = self._number(record, "filled_qty", "order_fields", method)
        entry = self._orders.get(boid)
        if entry is None:
            return self._foreign_order(record, boid, state, filled, method)
        if state in TERMINAL_STATES:
            self._ended_now(entry, boid)
        if self._replaces:
            # An amended order: the venue's current terms, remembered for the fills' bookkeeping.
            entry.request = self._current_terms(record, entry.request, method)
        req = entry.request
        return Order(
            order_id=entry.key,
            broker_order_id=boid,
            instrument=req.instrument,
            side=req.side,
            order_type=req.order_type,
            qty=req.qty,
            limit_price=req.limit_price,
            filled_qty=filled,
            state=state,
            created_step=entry.created_step,
        )

    def _current_terms(self, record: object, request: OrderRequest, method: str) -> OrderRequest:
        qty = self._number(record, "qty", "order_fields", method)
        limit = request.limit_price
        if "limit_price" in self.order_fields:
            raw = self._read(record, "limit_price", "order_fields", method)
            limit = None if raw is None else self._number(record, "limit_price", "order_fields", method)
        if qty == request.qty and limit == request.limit_price:
            return request
        return request.replace(qty=qty, limit_price=limit)

    def _foreign_order(self, record: object, boid: str, state: OrderState, filled: Decimal, method: str) -> Order:
        """An order this adapter did not place: every field must come from the venue's record."""
        fields = self.order_fields
        needed = ("instrument", "side", "qty")
        if any(name not in fields for name in needed):
            self._contract(
                method,
                f"returned order {boid!r}, which this adapter did not place (or has forgotten), and "
                f"order_fields does not say where its {', '.join(n for n in needed if n not in fields)} are",
            )
        data: dict[str, Any] = {name: self._read(record, name, "order_fields", method) for name in fields}
        data.update(broker_order_id=boid, state=state, filled_qty=filled)
        data.setdefault("order_id", boid)
        data.setdefault("order_type", "MARKET")
        data.setdefault("created_step", self._now())
        return Order(**data)

    def _fill(self, record: object) -> Fill:
        fill_id = str(self._read(record, "fill_id", "fill_fields", "venue_fills"))
        boid = str(self._read(record, "broker_order_id", "fill_fields", "venue_fills"))
        qty = self._number(record, "qty", "fill_fields", "venue_fills")
        price = self._number(record, "price", "fill_fields", "venue_fills")
        fields = self.fill_fields
        entry = self._orders.get(boid)
        if "exec_seq" in fields:
            seq = int(self._read(record, "exec_seq", "fill_fields", "venue_fills"))
        elif entry is None:
            seq = 1
        else:
            seq = entry.seqs.get(fill_id, 0)
            if not seq:  # a new execution: the next number; a repeated one keeps its own
                seq = entry.seqs[fill_id] = len(entry.seqs) + 1
                entry.filled += qty
                if entry.filled >= entry.request.qty:
                    self._ended_now(entry, boid)
        step = int(self._read(record, "step", "fill_fields", "venue_fills")) if "step" in fields else self._now()
        return Fill(fill_id=fill_id, broker_order_id=boid, qty=qty, price=price, exec_seq=seq, step=step)

    def _ended_now(self, entry: _Entry, boid: str) -> None:
        if not entry.terminal:
            entry.terminal = True
            self._ended.append((self._now(), boid))

    def _forget(self) -> None:
        """Bounded memory on long runs: drop orders that ended ``retention_steps`` ago."""
        horizon = self._now() - self.retention_steps
        ended = self._ended
        while ended and ended[0][0] < horizon:
            _, boid = ended.popleft()
            entry = self._orders.pop(boid, None)
            if entry is not None and self._by_key.get(entry.key) == boid:
                del self._by_key[entry.key]
