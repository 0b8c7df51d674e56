"""Checks at the broker boundary: one clear error for a wrong result, and signature preflight."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pytest_peak_dryrun import (
    BrokerContractError,
    BrokerError,
    MockBroker,
    MockBrokerConfig,
    Order,
    OrderRequest,
    check_broker,
)
from pytest_peak_dryrun.core.boundary import CheckedBroker, signature_problems, unwrap_broker
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.model import Fill
from pytest_peak_dryrun.core.scenario import builtin_scenario

ORDER_FIX = "Fix: return a pytest_peak_dryrun.Order (BrokerAdapter builds one from a venue's record)"
FILL_FIX = "Fix: return pytest_peak_dryrun.Fill records (BrokerAdapter builds them from a venue's executions)"


@dataclass(frozen=True)
class BrokerOrderSnapshot:
    """A venue's own order record: no instrument, no quantities."""

    order_id: str
    broker_order_id: str
    side: str
    order_type: str
    limit_price: Decimal | None
    state: str
    created_step: int


@dataclass(frozen=True)
class FeedCursor:
    position: int


class PaperAdapter:
    """Passes everything through to a MockBroker, except what a test swaps in."""

    dry_run = True

    def __init__(self, **overrides: Any) -> None:
        self.venue = MockBroker(MockBrokerConfig(fill_model="never"), clock=SimClock())
        self.clock = self.venue.clock
        self.overrides = overrides

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> Any:
        if "place_order" in self.overrides:
            return self.overrides["place_order"]
        return self.venue.place_order(request, idempotency_key=idempotency_key)

    def cancel_order(self, broker_order_id: str) -> Any:
        self.venue.cancel_order(broker_order_id)
        return self.overrides.get("cancel_order")

    def query_order(self, broker_order_id: str) -> Any:
        if "query_order" in self.overrides:
            return self.overrides["query_order"]
        return self.venue.query_order(broker_order_id)

    def list_open_orders(self) -> Any:
        if "list_open_orders" in self.overrides:
            return self.overrides["list_open_orders"]
        return self.venue.list_open_orders()

    def iter_fills(self, cursor: int) -> Any:
        if "iter_fills" in self.overrides:
            return self.overrides["iter_fills"]
        return self.venue.iter_fills(cursor)


def request(qty: str = "1") -> OrderRequest:
    return OrderRequest(instrument="DEMO-EUR", side="BUY", qty=Decimal(qty))


SNAPSHOT = BrokerOrderSnapshot("o-1", "MB-00000001", "BUY", "MARKET", None, "ACK", 0)


def fill(**changes: Any) -> Fill:
    data: dict[str, Any] = {
        "fill_id": "F1",
        "broker_order_id": "MB-00000001",
        "qty": Decimal(1),
        "price": Decimal(100),
        "exec_seq": 1,
        "step": 0,
    }
    return Fill(**{**data, **changes})


def test_a_query_result_of_the_wrong_type_names_adapter_method_and_missing_fields() -> None:
    broker = check_broker(PaperAdapter(query_order=SNAPSHOT))
    with pytest.raises(BrokerContractError) as info:
        broker.query_order("MB-00000001")
    assert str(info.value) == (
        "PaperAdapter.query_order returned BrokerOrderSnapshot; expected Order (missing: instrument, qty, "
        f"filled_qty). {ORDER_FIX}"
    )


def test_a_query_result_with_every_field_still_must_be_an_order() -> None:
    broker = check_broker(PaperAdapter(query_order=dict.fromkeys(Order.__struct_fields__)))
    with pytest.raises(BrokerContractError, match=r"^PaperAdapter.query_order returned dict; expected Order\. Fix:"):
        broker.query_order("MB-00000001")


def test_a_query_answered_with_another_order_is_refused() -> None:
    adapter = PaperAdapter()
    broker = check_broker(adapter)
    first = broker.place_order(request(), idempotency_key="a")
    second = broker.place_order(request(), idempotency_key="b")
    adapter.overrides["query_order"] = adapter.venue.query_order(second)
    with pytest.raises(BrokerContractError) as info:
        broker.query_order(first)
    assert str(info.value) == (
        "PaperAdapter.query_order('MB-00000001') returned the Order of 'MB-00000002'; expected the Order of "
        "'MB-00000001'. Fix: set broker_order_id to the id that was asked for"
    )


def test_a_cursor_object_instead_of_an_int_is_refused() -> None:
    broker = check_broker(PaperAdapter(iter_fills=(FeedCursor(3), [])))
    with pytest.raises(BrokerContractError) as info:
        broker.iter_fills(0)
    assert str(info.value) == (
        "PaperAdapter.iter_fills returned (FeedCursor, list); expected (int, sequence of Fill): the cursor is an "
        "int. Fix: convert the venue's cursor to an int (BrokerAdapter keeps the table for you)"
    )


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (
            [fill()],
            "PaperAdapter.iter_fills returned list; expected (int, sequence of Fill). Fix: return (next_cursor, fills)",
        ),
        (
            (True, []),
            "PaperAdapter.iter_fills returned (bool, list); expected (int, sequence of Fill): the cursor is an int. "
            "Fix: convert the venue's cursor to an int (BrokerAdapter keeps the table for you)",
        ),
        (
            (1, iter([fill()])),
            f"PaperAdapter.iter_fills returned (int, list_iterator); expected (int, sequence of Fill): the fills a "
            f"list. {FILL_FIX}",
        ),
        (
            (2, [fill(), {"fill_id": "F2", "qty": 1}]),
            "PaperAdapter.iter_fills returned (int, list) with dict at index 1; expected (int, sequence of Fill) "
            f"(missing: broker_order_id, price, exec_seq, step). {FILL_FIX}",
        ),
    ],
)
def test_a_wrong_fill_answer_is_refused(returned: object, message: str) -> None:
    broker = check_broker(PaperAdapter(iter_fills=returned))
    with pytest.raises(BrokerContractError) as info:
        broker.iter_fills(0)
    assert str(info.value) == message


def test_a_fill_cursor_never_goes_back() -> None:
    broker = check_broker(PaperAdapter(iter_fills=(3, [])))
    assert broker.iter_fills(3) == (3, [])
    with pytest.raises(BrokerContractError) as info:
        broker.iter_fills(5)
    assert str(info.value) == (
        "PaperAdapter.iter_fills(5) returned cursor 3; expected a cursor >= 5. Fix: a fill cursor never goes back; "
        "return the position after the last fill returned"
    )


@pytest.mark.parametrize(
    ("returned", "shape"),
    [(17, "int"), ("", "str ''"), (None, "None"), (("MB-1",), "(str)")],
)
def test_place_must_return_a_non_empty_str(returned: object, shape: str) -> None:
    broker = check_broker(PaperAdapter(place_order=returned))
    with pytest.raises(BrokerContractError) as info:
        broker.place_order(request(), idempotency_key="k")
    assert str(info.value) == (
        f"PaperAdapter.place_order returned {shape}; expected a non-empty str. Fix: return the venue's order id as a str"
    )


def test_cancel_must_return_none() -> None:
    adapter = PaperAdapter()
    broker = check_broker(adapter)
    boid = broker.place_order(request(), idempotency_key="k")
    adapter.overrides["cancel_order"] = "PENDING_CANCEL"
    with pytest.raises(BrokerContractError) as info:
        broker.cancel_order(boid)
    assert str(info.value) == (
        "PaperAdapter.cancel_order returned str 'PENDING_CANCEL'; expected None. Fix: return None, and raise "
        "OrderRejectedError when the venue refuses the cancel (BrokerAdapter.cancel_map maps a venue's answer)"
    )


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ((o for o in ()), f"PaperAdapter.list_open_orders returned generator; expected list of Order. {ORDER_FIX}"),
        (
            [SNAPSHOT],
            "PaperAdapter.list_open_orders returned list with BrokerOrderSnapshot at index 0; expected list of Order "
            f"(missing: instrument, qty, filled_qty). {ORDER_FIX}",
        ),
    ],
)
def test_open_orders_must_be_a_list_of_orders(returned: object, message: str) -> None:
    broker = check_broker(PaperAdapter(list_open_orders=returned))
    with pytest.raises(BrokerContractError) as info:
        broker.list_open_orders()
    assert str(info.value) == message


def test_right_answers_pass_through_unchanged() -> None:
    adapter = PaperAdapter()
    broker = check_broker(adapter)
    boid = broker.place_order(request("2"), idempotency_key="k")
    assert boid == "MB-00000001"
    assert broker.cancel_order(boid) is None
    assert broker.query_order(boid) == adapter.venue.query_order(boid)
    assert broker.list_open_orders() == adapter.venue.list_open_orders()
    adapter.overrides["list_open_orders"] = tuple(adapter.venue.list_open_orders())
    assert isinstance(broker.list_open_orders(), list)
    assert broker.iter_fills(0) == adapter.venue.iter_fills(0)


def test_an_exact_mock_broker_is_not_wrapped_anything_else_once() -> None:
    mock = MockBroker()
    assert check_broker(mock) is mock

    class Sub(MockBroker):
        pass

    sub = Sub()
    checked = check_broker(sub)
    assert isinstance(checked, CheckedBroker)
    assert check_broker(checked) is checked
    assert unwrap_broker(checked) is sub
    assert unwrap_broker(mock) is mock


def test_other_attributes_are_the_wrapped_brokers() -> None:
    adapter = PaperAdapter()
    broker: Any = check_broker(adapter)
    assert broker.dry_run is True
    assert broker.clock is adapter.clock
    broker.note = "set through the wrapper"
    assert adapter.note == "set through the wrapper"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        broker.no_such_attribute  # noqa: B018
    assert repr(broker).startswith("check_broker(<")
    twin = copy.deepcopy(broker)
    assert isinstance(twin, CheckedBroker)
    assert twin.__wrapped__ is not adapter
    assert twin.note == "set through the wrapper"


def test_a_contract_error_is_no_broker_error_and_stops_the_run(tmp_path: Path) -> None:
    """A retry or the orchestrator's error handling must never swallow it."""
    assert issubclass(BrokerContractError, TypeError)
    assert not issubclass(BrokerContractError, BrokerError)
    adapter = PaperAdapter(query_order=SNAPSHOT)
    with pytest.raises(BrokerContractError, match=r"^PaperAdapter\.query_order returned BrokerOrderSnapshot"):
        run_scenario(builtin_scenario("partial_fills"), broker=adapter, out_dir=tmp_path)
    assert not (tmp_path / "runs" / "partial_fills").exists()  # nothing half-written stays behind


# -- signatures, checked by the preflight --------------------------------------------------


class Signatures:
    dry_run = True

    def on_step(self, step: int) -> None:  # follows the run's clock: only the signatures are wrong
        return None

    def place_order(self, request: OrderRequest, key: str) -> str:
        return ""

    def cancel_order(self) -> None:
        return None

    query_order = "not a method"

    def list_open_orders(self, *, include_done: bool = False) -> list[Order]:
        return []


def test_signature_problems_name_the_method_and_the_expected_call() -> None:
    assert signature_problems(Signatures()) == [
        "Signatures.place_order(request, key) cannot be called as "
        "place_order(request, *, idempotency_key): missing a required argument: 'key'",
        "Signatures.cancel_order() cannot be called as cancel_order(broker_order_id): too many positional arguments",
        "Signatures.query_order is not callable; expected query_order(broker_order_id)",
        "Signatures has no method iter_fills; expected iter_fills(cursor)",
    ]


def test_flexible_signatures_pass() -> None:
    class Flexible:
        def place_order(self, request: Any, idempotency_key: str, note: str = "") -> str:
            return ""

        def cancel_order(self, *args: Any) -> None:
            return None

        def query_order(self, boid: str, **kwargs: Any) -> Any:
            return None

        def list_open_orders(self) -> list[Order]:
            return []

        def iter_fills(self, cursor: int = 0) -> tuple[int, Sequence[Fill]]:
            return 0, []

    assert signature_problems(Flexible()) == []
    assert signature_problems(MockBroker()) == []


def test_a_broker_that_cannot_be_called_fails_preflight_naming_the_fix() -> None:
    result = run_scenario(builtin_scenario("happy_path"), broker=Signatures())  # type: ignore[arg-type]
    assert result.state == "PREFLIGHT_FAILED"
    failed = [c for c in result.status.session.preflight if not c.ok]
    assert [c.check for c in failed] == ["broker_protocol"]
    assert failed[0].detail.startswith("Signatures.place_order(request, key) cannot be called as place_order(")
    assert "expected iter_fills(cursor)" in failed[0].detail
    assert result.report["orders"]["placed"] == 0
