"""The broker protocol's light types (checked, coerced, frozen, exact money) and the event document."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from pydantic import ValidationError

from pytest_peak_dryrun.core.model import EventDocument as Event
from pytest_peak_dryrun.core.model import Fill, Order, OrderRequest
from pytest_peak_dryrun.core.orders import OrderState, OrderType, Side


def test_order_request_is_lenient_about_quantity_and_price() -> None:
    # refusing these is the broker's job, so the dry run sees the rejection
    request = OrderRequest(instrument="DEMO-EUR", side=Side.BUY, qty=Decimal("-1"), order_type=OrderType.LIMIT)
    assert request.limit_price is None
    assert request.qty == Decimal("-1")


def test_order_request_text_is_never_serialized() -> None:
    request = OrderRequest(instrument="DEMO-EUR", side=Side.SELL, qty=Decimal("1.50"), text="call me maybe")
    assert request.to_dict() == {
        "instrument": "DEMO-EUR",
        "side": "SELL",
        "qty": "1.50",
        "order_type": "MARKET",
        "limit_price": None,
        "tif_steps": None,
    }


def test_values_are_coerced_the_way_pydantic_did() -> None:
    request = OrderRequest(instrument="DEMO-EUR", side="BUY", qty="1.5", order_type="LIMIT", limit_price=2)  # type: ignore[arg-type]
    assert (request.side, request.order_type) == (Side.BUY, OrderType.LIMIT)
    assert (request.qty, request.limit_price) == (Decimal("1.5"), Decimal(2))
    assert type(request.qty) is Decimal
    changed = request.replace(qty="3")
    assert changed.qty == Decimal(3)
    assert request.qty == Decimal("1.5")


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"instrument": "", "side": "BUY", "qty": "1"}, ValueError, "OrderRequest.instrument: 1 to 32 characters"),
        ({"instrument": "X" * 33, "side": "BUY", "qty": "1"}, ValueError, "1 to 32 characters"),
        ({"instrument": "DEMO-EUR", "side": "HOLD", "qty": "1"}, ValueError, "OrderRequest.side: 'HOLD' is not one of"),
        ({"instrument": "DEMO-EUR", "side": "BUY", "qty": "1", "tif_steps": 0}, ValueError, "must be >= 1, got 0"),
        ({"instrument": "DEMO-EUR", "side": "BUY", "qty": "1", "account": "A-1"}, TypeError, "account"),
        ({"instrument": "DEMO-EUR", "side": "BUY", "qty": "lots"}, ValueError, "OrderRequest.qty: not a decimal"),
        ({"instrument": "DEMO-EUR", "side": "BUY", "qty": 1.5}, TypeError, "OrderRequest.qty: expected a decimal"),
        ({"instrument": 7, "side": "BUY", "qty": "1"}, TypeError, "OrderRequest.instrument: expected str, got int 7"),
    ],
)
def test_order_request_validation(fields: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        OrderRequest(**fields)  # type: ignore[arg-type]


def test_documents_are_frozen() -> None:
    order = Order(
        order_id="O-1",
        instrument="DEMO-EUR",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        qty=Decimal(1),
        state=OrderState.NEW,
        created_step=1,
    )
    with pytest.raises(AttributeError):
        order.state = OrderState.FILLED  # type: ignore[misc]
    assert order.to_dict()["filled_qty"] == "0"


def test_event_seq_starts_at_one() -> None:
    with pytest.raises(ValidationError):
        Event(seq=0, ts=0.0, kind="x", run_id="r", payload={})
    assert Event(seq=1, ts=1.5, kind="x", run_id="r", payload={"a": 1}).payload == {"a": 1}


class _Text(str):
    """A str subclass: not of the exact type, so the light types' fast path must hand it to _coerce."""


class _Number(int):
    """An int subclass, likewise."""


_VALID: dict[str, dict[str, object]] = {
    "OrderRequest": {
        "instrument": "DEMO-EUR",
        "side": Side.BUY,
        "qty": Decimal(1),
        "order_type": OrderType.LIMIT,
        "limit_price": Decimal(2),
        "tif_steps": 3,
        "text": "note",
    },
    "Order": {
        "order_id": "O-1",
        "broker_order_id": "B-1",
        "instrument": "DEMO-EUR",
        "side": Side.SELL,
        "order_type": OrderType.MARKET,
        "qty": Decimal(1),
        "limit_price": Decimal(2),
        "filled_qty": Decimal(0),
        "state": OrderState.ACK,
        "created_step": 1,
    },
    "Fill": {
        "fill_id": "F-1",
        "broker_order_id": "B-1",
        "qty": Decimal(1),
        "price": Decimal(2),
        "exec_seq": 1,
        "step": 1,
    },
}


def _not_exact(value: object) -> object:
    """A value of another type that coerces to ``value`` (what the fast path must not let through)."""
    if isinstance(value, Enum):
        return value.value  # the plain str
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, int):
        return _Number(value)
    assert isinstance(value, str)
    return _Text(value)


@pytest.mark.parametrize("cls", [OrderRequest, Order, Fill], ids=lambda cls: cls.__name__)
def test_every_field_of_the_table_is_checked_past_the_fast_path(cls: type[Any]) -> None:
    # Each field in turn gets a value that is not of its exact type: the one-expression fast
    # path of __post_init__ must notice it (else _coerce never runs and the value stays as is).
    valid = _VALID[cls.__name__]
    assert set(valid) == set(cls.__struct_fields__)
    exact = cls(**valid)
    for name, value in valid.items():
        built = cls(**{**valid, name: _not_exact(value)})
        assert type(getattr(built, name)) is type(value), name
        assert built == exact, name
