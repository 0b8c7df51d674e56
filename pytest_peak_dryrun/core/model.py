"""The broker protocol's values, and the documents a dry run writes.

``OrderRequest``, ``Order`` and ``Fill`` cross the broker boundary on every order, so they
are light types (msgspec Structs, ~0.3 µs to build against ~2 µs for a pydantic model):
they check and coerce their fields the way pydantic did (``side="BUY"``, ``qty="1.5"``)
and raise one clear error otherwise, and ``check_broker`` checks what a foreign broker
returns. Pydantic stays where validation and a JSON Schema pay for themselves: the
documents (:class:`OrderDocument` in ``status.json``, :class:`EventDocument`) and, in other
modules, scenario files and configuration.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, ClassVar, Final, TypeVar, get_args, get_type_hints

import msgspec
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from .orders import OrderState, OrderType, Side

__all__ = ["EventDocument", "Fill", "Money", "Order", "OrderDocument", "OrderRequest"]


def _decimal_text(value: Decimal) -> str:
    # "1.50" stays "1.50": the exact string, never a float and never "Decimal('1.5')".
    return format(value, "f")


#: Money and quantities: ``Decimal`` in Python, an exact string in every JSON document. The
#: serialization schema says what ``format(value, "f")`` writes (plain digits, no exponent), so
#: ``validate`` refuses a "1E+400000000" in a file before anything expands it.
Money = Annotated[
    Decimal,
    PlainSerializer(_decimal_text, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}, mode="serialization"),
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


_DECIMAL_INPUTS: Final = (str, int)


def _coerce(obj: msgspec.Struct, fields: tuple[tuple[str, Any, bool], ...]) -> None:
    """Check (and coerce, the way pydantic did) the fields of a freshly built light type.

    ``fields`` is ``(name, type, optional)``. An enum field takes its value (``"BUY"``), a
    Decimal field a decimal string or an int; anything else is one clear ``TypeError``
    naming the type, the field and what came. Each type's ``__post_init__`` calls it only
    when one of its fields is not already of its exact type (its one-expression fast path;
    ``test_model.py`` checks that the fast path and the field table agree).
    """
    for name, kind, optional in fields:
        value = getattr(obj, name)
        if type(value) is kind or (optional and value is None):
            continue
        cls = type(obj).__name__
        if kind is Decimal and isinstance(value, _DECIMAL_INPUTS) and not isinstance(value, bool):
            try:
                coerced: Any = Decimal(value)
            except ArithmeticError:
                raise ValueError(f"{cls}.{name}: not a decimal number: {value!r}") from None
        elif isinstance(kind, type) and issubclass(kind, Enum):
            try:
                coerced = kind(value)
            except ValueError:
                allowed = ", ".join(str(member.value) for member in kind)
                raise ValueError(f"{cls}.{name}: {value!r} is not one of {allowed}") from None
        elif kind is int and isinstance(value, int) and not isinstance(value, bool):
            coerced = int(value)
        elif kind is Decimal and isinstance(value, Decimal):
            coerced = value  # a Decimal subclass
        elif kind is str and isinstance(value, str):
            coerced = str(value)
        else:
            expected = "a decimal (Decimal or decimal string)" if kind is Decimal else kind.__name__
            raise TypeError(f"{cls}.{name}: expected {expected}, got {type(value).__name__} {value!r}")
        msgspec.structs.force_setattr(obj, name, coerced)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.value
    return value


_L = TypeVar("_L", bound="_Light")

_FieldTable = tuple[tuple[str, Any, bool], ...]
_FIELD_TABLES: dict[type, _FieldTable] = {}


def _field_table(cls: type[msgspec.Struct]) -> _FieldTable:
    """``(name, type, optional)`` of each field of ``cls``, read from its annotations once.

    The slow path's table (``_coerce``) comes from the one declaration of the fields, so a
    field added to a light type is checked without a second list to keep in step.
    """
    table = _FIELD_TABLES.get(cls)
    if table is None:
        hints = get_type_hints(cls)
        rows = []
        for name in cls.__struct_fields__:
            hint = hints[name]
            args = get_args(hint)
            optional = type(None) in args
            kinds = [a for a in args if a is not type(None)] if optional else [hint]
            if len(kinds) != 1:  # pragma: no cover - a light type declares one type per field
                raise TypeError(f"{cls.__name__}.{name}: one type (or it and None) per field, got {hint!r}")
            rows.append((name, kinds[0], optional))
        table = _FIELD_TABLES[cls] = tuple(rows)
    return table


class _Light(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The shared conveniences of the light broker types."""

    #: fields never written anywhere (``to_dict`` leaves them out)
    _PRIVATE: ClassVar[frozenset[str]] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: Decimals as their exact text (``"1.50"``), enums as their values."""
        return {name: _plain(getattr(self, name)) for name in self.__struct_fields__ if name not in self._PRIVATE}

    def replace(self: _L, **changes: Any) -> _L:
        """A copy with ``changes`` applied (checked like a new instance)."""
        values = {name: getattr(self, name) for name in self.__struct_fields__}
        values.update(changes)
        return type(self)(**values)


class OrderRequest(_Light, frozen=True, kw_only=True, gc=False):
    """What the strategy asks the broker to do (a light type: it lives on the hot path).

    Deliberately lenient about quantity and price: refusing a non-positive quantity or a
    limit order without a price is the broker's job (and a rejection the dry run must see),
    not the request type's. ``text`` is free text for the operator, never written anywhere.
    """

    instrument: str
    side: Side
    qty: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    tif_steps: int | None = None
    text: str | None = None

    _PRIVATE: ClassVar[frozenset[str]] = frozenset({"text"})

    def __post_init__(self) -> None:
        # The common case in one expression (every field already of its exact type, so
        # ``_coerce`` would change nothing): a request is built per order on the hot path.
        if not (
            type(self.instrument) is str
            and type(self.side) is Side
            and type(self.qty) is Decimal
            and type(self.order_type) is OrderType
            and (self.limit_price is None or type(self.limit_price) is Decimal)
            and (self.tif_steps is None or type(self.tif_steps) is int)
            and (self.text is None or type(self.text) is str)
        ):
            _coerce(self, _field_table(OrderRequest))
        if not 1 <= len(self.instrument) <= 32:
            raise ValueError(f"OrderRequest.instrument: 1 to 32 characters, got {self.instrument!r}")
        if self.tif_steps is not None and self.tif_steps < 1:
            raise ValueError(f"OrderRequest.tif_steps: time in force in steps must be >= 1, got {self.tif_steps}")
        if self.text is not None and len(self.text) > 256:
            raise ValueError("OrderRequest.text: at most 256 characters")


class Order(_Light, frozen=True, kw_only=True, gc=False):
    """The broker's view of one order (``query_order``, ``list_open_orders``): a light type."""

    order_id: str
    broker_order_id: str | None = None
    instrument: str
    side: Side
    order_type: OrderType
    qty: Decimal
    limit_price: Decimal | None = None
    filled_qty: Decimal = Decimal(0)
    state: OrderState
    created_step: int

    def __post_init__(self) -> None:
        # The common case in one expression, as in OrderRequest (a venue answers every query with one).
        if not (
            type(self.order_id) is str
            and (self.broker_order_id is None or type(self.broker_order_id) is str)
            and type(self.instrument) is str
            and type(self.side) is Side
            and type(self.order_type) is OrderType
            and type(self.qty) is Decimal
            and (self.limit_price is None or type(self.limit_price) is Decimal)
            and type(self.filled_qty) is Decimal
            and type(self.state) is OrderState
            and type(self.created_step) is int
        ):
            _coerce(self, _field_table(Order))


class Fill(_Light, frozen=True, kw_only=True, gc=False):
    """One execution the broker reports (``iter_fills``): a light type.

    ``exec_seq`` is the per-order execution sequence number, from 1; ``step`` the venue's
    step when it happened.
    """

    fill_id: str
    broker_order_id: str
    qty: Decimal
    price: Decimal
    exec_seq: int
    step: int

    def __post_init__(self) -> None:
        # The common case in one expression, as in OrderRequest (one per execution).
        if not (
            type(self.fill_id) is str
            and type(self.broker_order_id) is str
            and type(self.qty) is Decimal
            and type(self.price) is Decimal
            and type(self.exec_seq) is int
            and type(self.step) is int
        ):
            _coerce(self, _field_table(Fill))


class OrderDocument(BaseModel):
    """One order as ``status.json`` lists it (the pydantic document of an :class:`Order`)."""

    model_config = _FROZEN

    order_id: str = Field(description="client order id, assigned by the orchestrator")
    broker_order_id: str | None = None
    instrument: str
    side: Side
    order_type: OrderType
    qty: Money
    limit_price: Money | None = None
    filled_qty: Money = Decimal(0)
    state: OrderState
    created_step: int


class EventDocument(BaseModel):
    """One fact on the event stream: ``{seq, ts, kind, run_id, payload}``."""

    model_config = _FROZEN

    seq: int = Field(ge=1, description="strictly increasing within a run")
    ts: float = Field(description="seconds since the Unix epoch on the simulated clock")
    kind: str
    run_id: str
    payload: dict[str, Any]
