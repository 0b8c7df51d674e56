"""Boundary documents: strict, frozen, exact money."""

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
    assert request.model_dump(mode="json") == {
        "instrument": "DEMO-EUR",
        "side": "SELL",
        "qty": "1.50",
        "order_type": "MARKET",
        "limit_price": None,
        "tif_steps": None,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"instrument": "", "side": "BUY", "qty": "1"},
        {"instrument": "X" * 33, "side": "BUY", "qty": "1"},
        {"instrument": "DEMO-EUR", "side": "HOLD", "qty": "1"},
        {"instrument": "DEMO-EUR", "side": "BUY", "qty": "1", "tif_steps": 0},
        {"instrument": "DEMO-EUR", "side": "BUY", "qty": "1", "account": "A-1"},
    ],
)
def test_order_request_validation(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OrderRequest.model_validate(fields)


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
    with pytest.raises(ValidationError):
        order.state = OrderState.FILLED  # type: ignore[misc]
    assert order.model_dump(mode="json")["filled_qty"] == "0"


def test_event_seq_starts_at_one() -> None:
    with pytest.raises(ValidationError):
        Event(seq=0, ts=0.0, kind="x", run_id="r", payload={})
    assert Event(seq=1, ts=1.5, kind="x", run_id="r", payload={"a": 1}).payload == {"a": 1}
