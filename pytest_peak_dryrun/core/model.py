"""Boundary documents: what a user hands the broker and what a dry run hands back.

These are pydantic models because they cross a boundary (a scenario file, a broker adapter
written by someone else, a JSON file a reviewer reads) where validation and a JSON Schema
pay for themselves. The per-event hot path uses the slotted records in ``orders`` and
``events`` instead and converts at the edge (issue 8: a model per event costs more than the
whole floor).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from .orders import OrderState, OrderType, Side

__all__ = ["EventDocument", "Fill", "Money", "Order", "OrderRequest"]


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


class OrderRequest(BaseModel):
    """What the strategy asks the broker to do.

    Deliberately lenient about quantity and price: refusing a non-positive quantity or a
    limit order without a price is the broker's job (and a rejection the dry run must see),
    not the request type's.
    """

    model_config = _FROZEN

    instrument: str = Field(min_length=1, max_length=32)
    side: Side
    qty: Money
    order_type: OrderType = OrderType.MARKET
    limit_price: Money | None = None
    tif_steps: int | None = Field(default=None, ge=1, description="time in force, in steps")
    text: str | None = Field(
        default=None,
        max_length=256,
        description="free text for the operator; never written to any artifact",
        exclude=True,
    )


class Order(BaseModel):
    """The broker's (or the local book's) view of one order."""

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


class Fill(BaseModel):
    """One execution, as written to ``events.jsonl`` and returned to users."""

    model_config = _FROZEN

    fill_id: str
    broker_order_id: str
    qty: Money
    price: Money
    exec_seq: int = Field(description="per-order execution sequence number, from 1")
    step: int


class EventDocument(BaseModel):
    """One fact on the event stream: ``{seq, ts, kind, run_id, payload}``."""

    model_config = _FROZEN

    seq: int = Field(ge=1, description="strictly increasing within a run")
    ts: float = Field(description="seconds since the Unix epoch on the simulated clock")
    kind: str
    run_id: str
    payload: dict[str, Any]
