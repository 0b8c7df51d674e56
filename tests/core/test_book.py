"""The local order book: transitions through the table, positions, cash, bounded memory."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from pytest_peak_dryrun.core.book import OrderBook
from pytest_peak_dryrun.core.orders import IllegalTransitionError, OrderRecord, OrderState, OrderType, Side

D = Decimal
S = OrderState


def make_book(retention_steps: int = 1_000) -> tuple[OrderBook, list[tuple[str, dict[str, Any]]]]:
    emitted: list[tuple[str, dict[str, Any]]] = []
    book = OrderBook(
        emit=lambda event: emitted.append((event.KIND, msgspec.to_builtins(event))),
        starting_cash=D("1000"),
        retention_steps=retention_steps,
    )
    return book, emitted


def add(book: OrderBook, side: Side = Side.BUY, qty: str = "4", limit: str | None = None, step: int = 1) -> OrderRecord:
    rec = OrderRecord(
        order_id=book.next_order_id(),
        instrument="DEMO-EUR",
        side=side,
        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
        qty=D(qty),
        limit_price=D(limit) if limit else None,
        tif_steps=None,
        created_step=step,
    )
    book.add(rec)
    return rec


def test_order_ids_are_sequential() -> None:
    book, _ = make_book()
    assert [book.next_order_id() for _ in range(3)] == ["O-000001", "O-000002", "O-000003"]


def test_transitions_are_checked_counted_and_emitted() -> None:
    book, emitted = make_book()
    rec = add(book)
    assert book.placed == 1
    assert book.state_counts[S.NEW] == 1
    book.transition(rec, S.ACK, 2)
    book.transition(rec, S.FILLED, 3)
    assert rec.updated_step == 3
    assert book.state_counts[S.NEW] == 0
    assert book.state_counts[S.FILLED] == 1
    assert sum(book.state_counts.values()) == book.placed
    assert not book.open
    assert emitted == [
        ("order_transition", {"order_id": "O-000001", "from_state": "NEW", "to_state": "ACK"}),
        ("order_transition", {"order_id": "O-000001", "from_state": "ACK", "to_state": "FILLED"}),
    ]
    with pytest.raises(IllegalTransitionError, match="O-000001: FILLED -> ACK"):
        book.transition(rec, S.ACK, 4)
    assert book.state_counts[S.FILLED] == 1
    assert len(emitted) == 2


def test_bind_and_lookup_by_broker_id() -> None:
    book, _ = make_book()
    rec = add(book)
    assert book.get_by_broker_id("MB-1") is None
    book.bind(rec, "MB-1")
    assert rec.broker_order_id == "MB-1"
    assert book.get_by_broker_id("MB-1") is rec


def test_fills_move_position_and_cash() -> None:
    book, _ = make_book()
    buy = add(book, Side.BUY, "4")
    sell = add(book, Side.SELL, "1.5")
    book.apply_fill(buy, D("4"), D("100.25"))
    book.apply_fill(sell, D("1.5"), D("101"))
    assert book.positions == {"DEMO-EUR": D("2.5")}
    assert book.cash == D("1000") - D("401.00") + D("151.5")
    assert book.filled_qty_total == D("5.5")
    assert buy.filled_notional == D("401.00")


def test_exposure_and_reserved_cash_count_open_orders() -> None:
    book, _ = make_book()
    buy = add(book, Side.BUY, "4", limit="90")
    add(book, Side.SELL, "1")
    add(book, Side.BUY, "2")  # market: reserved at the reference price
    book.apply_fill(buy, D("1"), D("90"))
    assert book.exposure("DEMO-EUR") == D("1") + D("3") - D("1") + D("2")
    assert book.exposure("DEMO-USD") == 0
    assert book.reserved_cash({"DEMO-EUR": D("100")}) == D("3") * D("90") + D("2") * D("100")


def test_terminal_orders_are_forgotten_after_retention() -> None:
    book, _ = make_book(retention_steps=2)
    rec = add(book)
    book.bind(rec, "MB-1")
    book.transition(rec, S.REJECTED, 1)
    other = add(book)
    book.forget_old(2)
    assert rec.order_id in book.orders
    book.forget_old(3)
    assert rec.order_id not in book.orders
    assert book.get_by_broker_id("MB-1") is None
    assert other.order_id in book.orders  # open orders stay
    assert book.state_counts[S.REJECTED] == 1  # counts stay
    assert book.placed == 2
    assert [r.order_id for r in book.open_orders()] == [other.order_id]
