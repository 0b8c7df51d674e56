"""The broker protocol's light types (checked, coerced, frozen, exact money) and the event document."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from pytest_peak_dryrun.core.model import EventDocument as Event
from pytest_peak_dryrun.core.model import Order, OrderRequest
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
