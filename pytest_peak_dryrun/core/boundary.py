"""Checks at the broker boundary: every value a broker returns is checked where it enters.

A wrong value from an adapter (an order snapshot of the venue's own type, a cursor object
where an int belongs, a state returned by ``cancel_order``) used to fail deep inside the
reconciler, far from its cause. :func:`check_broker` wraps a broker so that each protocol
call checks what came back and raises one :class:`~pytest_peak_dryrun.BrokerContractError`
naming the adapter class, the method, what was returned and what was expected::

    PaperAdapter.query_order returned BrokerOrderSnapshot; expected Order (missing: instrument, qty,
    filled_qty). Fix: return a pytest_peak_dryrun.Order (BrokerAdapter builds one from a venue's record)

The wrapper is the innermost one around a user's broker (fault injection and the
orchestrator sit outside it), so a fault injected on top is never mistaken for an adapter
bug. It costs one call and a ``type(x) is Order`` test per result on the hot path, and an
exact :class:`~pytest_peak_dryrun.MockBroker` is not wrapped at all: its results are right
by construction.

:func:`signature_problems` is the preflight's half: it calls nothing, but checks with
:func:`inspect.signature` that each protocol method can be called the way the orchestrator
calls it, so a ``place_order(self, request, key)`` fails before the first step and not at
the first order.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, NoReturn

import msgspec

from .broker import Broker, MockBroker
from .errors import BrokerContractError
from .model import Fill, Order, OrderRequest

__all__ = [
    "PROTOCOL_CALLS",
    "REPLACE_CALL",
    "CheckedBroker",
    "check_broker",
    "replace_problem",
    "signature_problems",
    "unwrap_broker",
]

_ORDER_FIX: Final = "return a pytest_peak_dryrun.Order (BrokerAdapter builds one from a venue's record)"
_FILL_FIX: Final = "return pytest_peak_dryrun.Fill records (BrokerAdapter builds them from a venue's executions)"
_FILLS_SHAPE: Final = "(int, sequence of Fill)"


def _shape(value: object) -> str:
    """What came back, by type; the text only of short strings (never an arbitrary repr)."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return f"str {value!r}" if len(value) <= 40 else f"str {value[:37]!r}..."
    if isinstance(value, tuple):
        inner = ", ".join(type(v).__name__ for v in value[:3])
        return f"({inner}{', ...' if len(value) > 3 else ''})"
    return type(value).__name__


def _has(value: object, name: str) -> bool:
    if isinstance(value, Mapping):
        return name in value
    return hasattr(value, name)


def _missing_note(value: object, model: type[msgspec.Struct]) -> str:
    missing = [name for name in model.__struct_fields__ if not _has(value, name)]
    if missing:
        return f" (missing: {', '.join(missing)})"
    return ""


def _fail(broker: object, method: str, returned: str, expected: str, fix: str) -> NoReturn:
    raise BrokerContractError(f"{type(broker).__name__}.{method} returned {returned}; expected {expected}. Fix: {fix}")


class CheckedBroker:
    """A broker whose every result is checked before the plugin uses it (see the module).

    Anything that is not a protocol method (``dry_run``, ``clock``, ``on_step``, your own
    attributes) is read from and written to the wrapped broker, which ``__wrapped__`` holds.
    """

    __slots__ = ("__wrapped__",)
    __wrapped__: Broker

    def __init__(self, broker: Broker) -> None:
        object.__setattr__(self, "__wrapped__", broker)

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        boid = self.__wrapped__.place_order(request, idempotency_key=idempotency_key)
        if (type(boid) is str or isinstance(boid, str)) and boid:
            return boid
        _fail(self.__wrapped__, "place_order", _shape(boid), "a non-empty str", "return the venue's order id as a str")

    def cancel_order(self, broker_order_id: str) -> None:
        # The protocol says None; a venue's answer here (a state, False) would be a refusal lost.
        result: object = self.__wrapped__.cancel_order(broker_order_id)  # type: ignore[func-returns-value]
        if result is not None:
            _fail(
                self.__wrapped__,
                "cancel_order",
                _shape(result),
                "None",
                "return None, and raise OrderRejectedError when the venue refuses the cancel "
                "(BrokerAdapter.cancel_map maps a venue's answer)",
            )

    def replace_order(
        self, broker_order_id: str, *, qty: Decimal | None = None, limit_price: Decimal | None = None
    ) -> None:
        # Like cancel_order: None, and a refusal is an error; an answer returned would be lost.
        # (Only called for a broker that has replace_order: the preflight's broker_replace check.)
        replace: Any = self.__wrapped__.replace_order  # type: ignore[attr-defined]
        result: object = replace(broker_order_id, qty=qty, limit_price=limit_price)
        if result is not None:
            _fail(
                self.__wrapped__,
                "replace_order",
                _shape(result),
                "None",
                "return None, and raise OrderRejectedError when the venue refuses the replace "
                "(BrokerAdapter.replace_map maps a venue's answer)",
            )

    def query_order(self, broker_order_id: str) -> Order:
        order = self.__wrapped__.query_order(broker_order_id)
        if type(order) is not Order and not isinstance(order, Order):
            _fail(self.__wrapped__, "query_order", _shape(order), f"Order{_missing_note(order, Order)}", _ORDER_FIX)
        if order.broker_order_id != broker_order_id:
            _fail(
                self.__wrapped__,
                f"query_order({broker_order_id!r})",
                f"the Order of {order.broker_order_id!r}",
                f"the Order of {broker_order_id!r}",
                "set broker_order_id to the id that was asked for",
            )
        return order

    def list_open_orders(self) -> list[Order]:
        orders: object = self.__wrapped__.list_open_orders()
        if type(orders) is not list:
            if not isinstance(orders, (list, tuple)):
                _fail(self.__wrapped__, "list_open_orders", _shape(orders), "list of Order", _ORDER_FIX)
            orders = list(orders)
        for i, order in enumerate(orders):
            if type(order) is not Order and not isinstance(order, Order):
                _fail(
                    self.__wrapped__,
                    "list_open_orders",
                    f"list with {_shape(order)} at index {i}",
                    f"list of Order{_missing_note(order, Order)}",
                    _ORDER_FIX,
                )
        return orders

    def iter_fills(self, cursor: int) -> tuple[int, Sequence[Fill]]:
        result: object = self.__wrapped__.iter_fills(cursor)
        if type(result) is not tuple or len(result) != 2:
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                _fail(self.__wrapped__, "iter_fills", _shape(result), _FILLS_SHAPE, "return (next_cursor, fills)")
            result = tuple(result)
        next_cursor, fills = result
        if type(next_cursor) is not int and (not isinstance(next_cursor, int) or isinstance(next_cursor, bool)):
            _fail(
                self.__wrapped__,
                "iter_fills",
                _shape(result),
                f"{_FILLS_SHAPE}: the cursor is an int",
                "convert the venue's cursor to an int (BrokerAdapter keeps the table for you)",
            )
        if next_cursor < cursor:
            _fail(
                self.__wrapped__,
                f"iter_fills({cursor})",
                f"cursor {next_cursor}",
                f"a cursor >= {cursor}",
                "a fill cursor never goes back; return the position after the last fill returned",
            )
        if type(fills) is not list and not isinstance(fills, (list, tuple)):
            _fail(self.__wrapped__, "iter_fills", _shape(result), f"{_FILLS_SHAPE}: the fills a list", _FILL_FIX)
        for i, fill in enumerate(fills):
            if type(fill) is not Fill and not isinstance(fill, Fill):
                _fail(
                    self.__wrapped__,
                    "iter_fills",
                    f"(int, {type(fills).__name__}) with {_shape(fill)} at index {i}",
                    f"{_FILLS_SHAPE}{_missing_note(fill, Fill)}",
                    _FILL_FIX,
                )
        return next_cursor, fills

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # copy/pickle probes: never forwarded
        return getattr(self.__wrapped__, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "__wrapped__":  # copy.deepcopy and pickle rebuild the slot this way
            object.__setattr__(self, name, value)
        else:
            setattr(self.__wrapped__, name, value)

    def __repr__(self) -> str:
        return f"check_broker({self.__wrapped__!r})"


def check_broker(broker: Broker) -> Broker:
    """``broker`` with every result checked at the boundary (an exact MockBroker as it is)."""
    if type(broker) is MockBroker or type(broker) is CheckedBroker:
        return broker
    return CheckedBroker(broker)


def unwrap_broker(broker: object) -> object:
    """The user's own broker under any wrappers that follow the ``__wrapped__`` convention."""
    for _ in range(32):  # a wrapper chain is short; a proxy answering every name is not a chain
        inner = getattr(broker, "__wrapped__", None)
        if inner is None or inner is broker:
            break
        broker = inner
    return broker


_ANY: Final = object()
#: How the orchestrator calls each protocol method: (name, as documented, args, kwargs).
PROTOCOL_CALLS: Final[tuple[tuple[str, str, tuple[object, ...], dict[str, object]], ...]] = (
    ("place_order", "place_order(request, *, idempotency_key)", (_ANY,), {"idempotency_key": ""}),
    ("cancel_order", "cancel_order(broker_order_id)", (_ANY,), {}),
    ("query_order", "query_order(broker_order_id)", (_ANY,), {}),
    ("list_open_orders", "list_open_orders()", (), {}),
    ("iter_fills", "iter_fills(cursor)", (0,), {}),
)


#: The optional replace capability, called as the orchestrator calls it (see :func:`replace_problem`).
REPLACE_CALL: Final[tuple[str, str, tuple[object, ...], dict[str, object]]] = (
    "replace_order",
    "replace_order(broker_order_id, *, qty=None, limit_price=None)",
    (_ANY,),
    {"qty": None, "limit_price": None},
)


def replace_problem(broker: object) -> str | None:
    """Why ``broker`` (under any wrappers) cannot amend orders, or None when it can.

    ``replace_order`` is optional (:class:`~.broker.ReplacingBroker`): only a scenario with
    ``[[replaces]]`` needs it, and the preflight asks this then, so such a scenario fails
    before its first step, naming the fix, rather than with an ``AttributeError`` mid-run.
    """
    own = unwrap_broker(broker)
    name_of = type(own).__name__
    name, expected, args, kwargs = REPLACE_CALL
    method = getattr(own, name, None)
    if method is None:
        return (
            f"{name_of} has no {expected}, and the scenario replaces orders ([[replaces]]); "
            f"give the adapter that method (BrokerAdapter: implement venue_replace), "
            f"or take the replaces out of the scenario"
        )
    return _call_problem(name_of, name, method, expected, args, kwargs)


def _call_problem(
    name_of: str, name: str, method: object, expected: str, args: tuple[object, ...], kwargs: dict[str, object]
) -> str | None:
    if not callable(method):
        return f"{name_of}.{name} is not callable; expected {expected}"
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        bare = signature.replace(
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        return f"{name_of}.{name}{bare} cannot be called as {expected}: {exc}"
    return None


def signature_problems(broker: object) -> list[str]:
    """Protocol methods of ``broker`` that cannot be called the way the orchestrator calls them.

    Calls nothing: only :func:`inspect.signature`. A method whose signature cannot be read
    (some C extensions) is given the benefit of the doubt.
    """
    name_of = type(broker).__name__
    problems: list[str] = []
    for name, expected, args, kwargs in PROTOCOL_CALLS:
        method = getattr(broker, name, None)
        if method is None:
            problems.append(f"{name_of} has no method {name}; expected {expected}")
            continue
        problem = _call_problem(name_of, name, method, expected, args, kwargs)
        if problem is not None:
            problems.append(problem)
    return problems
