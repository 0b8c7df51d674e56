"""The reconciler: every mismatch kind is produced and counted; clean passes are recorded."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from pydantic import ValidationError

from pytest_peak_dryrun.core.book import OrderBook
from pytest_peak_dryrun.core.broker import MockBroker
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.errors import TransientUnavailableError, UnknownOrderError
from pytest_peak_dryrun.core.events import Event
from pytest_peak_dryrun.core.model import Fill, Order, OrderRequest
from pytest_peak_dryrun.core.orchestrator import SessionState
from pytest_peak_dryrun.core.orders import OrderRecord, OrderState, OrderType, Side
from pytest_peak_dryrun.core.reconcile import MismatchKind, Reconciler
from pytest_peak_dryrun.core.scenario import Scenario

D = Decimal
S = OrderState
K = MismatchKind


class FakeBroker:
    """A broker double whose views are set by hand."""

    dry_run = True

    def __init__(self) -> None:
        self.open: list[Order] = []
        self.known: dict[str, Order] = {}
        self.queries: list[str] = []
        self.down = False

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        raise NotImplementedError

    def cancel_order(self, broker_order_id: str) -> None:
        raise NotImplementedError

    def query_order(self, broker_order_id: str) -> Order:
        self.queries.append(broker_order_id)
        if self.down:
            raise TransientUnavailableError("down")
        try:
            return self.known[broker_order_id]
        except KeyError:
            raise UnknownOrderError(broker_order_id) from None

    def list_open_orders(self) -> list[Order]:
        if self.down:
            raise TransientUnavailableError("down")
        return list(self.open)

    def iter_fills(self, cursor: int) -> tuple[int, Sequence[Fill]]:
        return cursor, []


def remote(boid: str, state: S, filled: str = "0", order_id: str = "O-000001") -> Order:
    return Order(
        order_id=order_id,
        broker_order_id=boid,
        instrument="DEMO-EUR",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        qty=D("4"),
        filled_qty=D(filled),
        state=state,
        created_step=1,
    )


class Harness:
    def __init__(self, *, stuck_after_steps: int = 50) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.illegal: list[tuple[str, str]] = []
        self.book = OrderBook(emit=self.emit, starting_cash=D(1000))
        self.rec = Reconciler(
            every=5,
            stuck_after_steps=stuck_after_steps,
            emit=self.emit,
            on_illegal=lambda oid, detail: self.illegal.append((oid, detail)),
        )
        self.broker = FakeBroker()

    def emit(self, event: Event) -> None:
        self.events.append((event.KIND, msgspec.to_builtins(event)))

    def local(self, boid: str | None, state: S = S.ACK, filled: str = "0", created_step: int = 1) -> OrderRecord:
        rec = OrderRecord(
            order_id=self.book.next_order_id(),
            instrument="DEMO-EUR",
            side=Side.BUY,
            order_type=OrderType.MARKET,
            qty=D("4"),
            limit_price=None,
            tif_steps=None,
            created_step=created_step,
        )
        self.book.add(rec)
        if state is not S.NEW:
            self.book.transition(rec, state, created_step)
        rec.filled_qty = D(filled)
        if boid is not None:
            self.book.bind(rec, boid)
        return rec

    def mismatches(self) -> list[tuple[str, str]]:
        return [(p["kind"], p["order_id"]) for k, p in self.events if k == "reconcile_mismatch"]

    def passes(self) -> list[dict[str, Any]]:
        return [p for k, p in self.events if k == "reconcile_pass"]


def test_clean_pass_sets_last_ok() -> None:
    h = Harness()
    h.local("MB-1")
    h.broker.open = [remote("MB-1", S.ACK)]
    assert h.rec.run_pass(h.broker, h.book, 5) == 0
    assert (h.rec.passes, h.rec.clean_passes, h.rec.last_ok_step, h.rec.total) == (1, 1, 5, 0)
    assert h.passes() == [{"ok": True, "mismatches": 0, "checked": 1}]
    assert h.broker.queries == []  # listed open: no query needed


def test_missing_on_broker() -> None:
    h = Harness()
    rec = h.local("MB-1")
    assert h.rec.run_pass(h.broker, h.book, 5) == 1
    assert h.mismatches() == [("missing_on_broker", rec.order_id)]
    assert h.rec.counts == {K.MISSING_ON_BROKER: 1}
    assert h.rec.last_ok_step is None
    assert h.passes() == [{"ok": False, "mismatches": 1, "checked": 1}]
    assert h.broker.queries == ["MB-1"]
    detail = [p["detail"] for k, p in h.events if k == "reconcile_mismatch"]
    assert detail == ["broker does not know MB-1"]


def test_unknown_on_broker_is_reported_once() -> None:
    h = Harness()
    h.broker.open = [remote("MB-77", S.ACK, order_id="SOMEONE-ELSE")]
    assert h.rec.run_pass(h.broker, h.book, 5) == 1
    assert h.mismatches() == [("unknown_on_broker", "SOMEONE-ELSE")]
    assert h.rec.run_pass(h.broker, h.book, 10) == 0
    assert h.rec.counts == {K.UNKNOWN_ON_BROKER: 1}
    assert h.rec.last_ok_step == 10


@pytest.mark.parametrize(
    ("local", "broker_state"), [(S.ACK, S.EXPIRED), (S.PENDING_CANCEL, S.CANCELED), (S.NEW, S.REJECTED)]
)
def test_status_mismatch_heals_to_the_broker_terminal_state(local: S, broker_state: S) -> None:
    h = Harness()
    rec = h.local("MB-1", local)
    h.broker.known["MB-1"] = remote("MB-1", broker_state)
    assert h.rec.run_pass(h.broker, h.book, 5) == 1
    assert h.mismatches() == [("status_mismatch", rec.order_id)]
    assert rec.state is broker_state
    assert not h.book.open
    transition = {"order_id": rec.order_id, "from_state": local.value, "to_state": broker_state.value}
    assert ("order_transition", transition) in h.events
    assert h.illegal == []


def test_a_cancel_we_never_requested_cannot_heal() -> None:
    h = Harness()
    rec = h.local("MB-1", S.ACK)
    h.broker.known["MB-1"] = remote("MB-1", S.CANCELED)
    assert h.rec.run_pass(h.broker, h.book, 5) == 1
    assert h.mismatches() == [("status_mismatch", rec.order_id)]
    assert rec.state is S.ACK
    assert [oid for oid, _ in h.illegal] == [rec.order_id]
    assert "ACK -> CANCELED" in h.illegal[0][1]


def test_status_mismatch_for_filled_waits_for_the_fill_stream() -> None:
    h = Harness()
    rec = h.local("MB-1", S.ACK)
    h.broker.known["MB-1"] = remote("MB-1", S.FILLED, filled="4")
    assert h.rec.run_pass(h.broker, h.book, 5) == 2
    assert sorted(h.mismatches()) == [("fill_qty_mismatch", rec.order_id), ("status_mismatch", rec.order_id)]
    assert rec.state is S.ACK  # not moved: the fills decide


def test_status_mismatch_that_cannot_heal_is_an_illegal_transition() -> None:
    h = Harness()
    rec = h.local("MB-1", S.PARTIAL, filled="1")
    h.broker.known["MB-1"] = remote("MB-1", S.REJECTED, filled="1")
    assert h.rec.run_pass(h.broker, h.book, 5) == 1
    assert h.mismatches() == [("status_mismatch", rec.order_id)]
    assert rec.state is S.PARTIAL
    assert len(h.illegal) == 1
    assert h.illegal[0][0] == rec.order_id
    assert "PARTIAL -> REJECTED" in h.illegal[0][1]


def test_status_mismatch_for_an_order_open_on_the_broker_but_closed_here() -> None:
    h = Harness()
    rec = h.local("MB-1", S.ACK)
    h.book.transition(rec, S.FILLED, 2)
    h.broker.open = [remote("MB-1", S.ACK)]
    assert h.rec.run_pass(h.broker, h.book, 5) == 1
    assert h.mismatches() == [("status_mismatch", rec.order_id)]
    detail = [p["detail"] for k, p in h.events if k == "reconcile_mismatch"]
    assert detail == ["broker ACK, local FILLED"]
    assert h.rec.run_pass(h.broker, h.book, 10) == 0  # reported once


def test_fill_qty_mismatch() -> None:
    h = Harness()
    rec = h.local("MB-1", S.PARTIAL, filled="1")
    h.broker.open = [remote("MB-1", S.PARTIAL, filled="3")]
    assert h.rec.run_pass(h.broker, h.book, 5) == 1
    assert h.mismatches() == [("fill_qty_mismatch", rec.order_id)]
    detail = [p["detail"] for k, p in h.events if k == "reconcile_mismatch"]
    assert detail == ["broker filled 3, local 1"]


def test_stuck_order_is_reported_once() -> None:
    h = Harness(stuck_after_steps=3)
    rec = h.local("MB-1", S.ACK, created_step=1)
    h.broker.open = [remote("MB-1", S.ACK)]
    assert h.rec.run_pass(h.broker, h.book, 4) == 0  # open for 3 steps: not yet
    assert h.rec.run_pass(h.broker, h.book, 5) == 1
    assert h.rec.run_pass(h.broker, h.book, 6) == 0
    assert h.mismatches() == [("stuck_order", rec.order_id)]
    assert h.rec.counts == {K.STUCK_ORDER: 1}
    assert (h.rec.passes, h.rec.clean_passes, h.rec.last_ok_step) == (3, 2, 6)


def test_cancel_race_and_duplicate_fill_are_counted_through_mismatch() -> None:
    h = Harness()
    h.rec.mismatch(K.CANCEL_RACE, "O-000001", "fill after cancel")
    h.rec.mismatch(K.DUPLICATE_FILL, "O-000001", "twice")
    h.rec.mismatch(K.DUPLICATE_FILL, "O-000002", "twice")
    assert h.rec.counts == {K.CANCEL_RACE: 1, K.DUPLICATE_FILL: 2}
    assert h.rec.total == 3
    assert h.events[0] == (
        "reconcile_mismatch",
        {"kind": "cancel_race", "order_id": "O-000001", "detail": "fill after cancel"},
    )


def test_unplaced_orders_are_skipped() -> None:
    h = Harness()
    h.local(None, S.NEW)
    assert h.rec.run_pass(h.broker, h.book, 5) == 0
    assert h.passes() == [{"ok": True, "mismatches": 0, "checked": 1}]


def test_an_unreachable_broker_is_not_a_clean_pass() -> None:
    h = Harness()
    h.local("MB-1")
    h.broker.down = True
    assert h.rec.run_pass(h.broker, h.book, 5) == 0
    assert h.passes() == [{"ok": False, "mismatches": 0, "checked": 0, "error": "TransientUnavailableError"}]
    assert h.rec.last_ok_step is None
    assert h.rec.clean_passes == 0


def test_due_every_k_steps() -> None:
    rec = Reconciler(every=4, stuck_after_steps=1, emit=lambda event: None, on_illegal=lambda *a: None)
    assert [s for s in range(1, 13) if rec.due(s)] == [4, 8, 12]


def test_mismatch_kinds() -> None:
    assert [k.value for k in MismatchKind] == [
        "missing_on_broker",
        "unknown_on_broker",
        "status_mismatch",
        "fill_qty_mismatch",
        "cancel_race",
        "duplicate_fill",
        "stuck_order",
        "bad_fill_price",
        "overfill",
        "unknown_fill",
        "terms_mismatch",
    ]


# -- end to end, with a broker that misbehaves ----------------------------------------------------


class ForgetfulBroker(MockBroker):
    """Loses an order: it keeps working on the venue, but the adapter no longer sees it."""

    dry_run = True

    def __init__(self, *args: Any, forget: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.forget = forget

    def list_open_orders(self) -> list[Order]:
        return [o for o in super().list_open_orders() if o.broker_order_id != self.forget]

    def query_order(self, broker_order_id: str) -> Order:
        if broker_order_id == self.forget:
            raise UnknownOrderError(f"unknown broker order id {broker_order_id!r}")
        return super().query_order(broker_order_id)


class ChattyBroker(MockBroker):
    """Lists an open order that nobody in this session placed."""

    def list_open_orders(self) -> list[Order]:
        return [*super().list_open_orders(), remote("MB-99999999", S.ACK, order_id="FOREIGN-1")]


def _scenario(**fields: Any) -> Scenario:
    data = {
        "name": "recon",
        "steps": 4,
        "reconcile_every": 2,
        "broker": {"fill_model": "never"},
        "orders": [{"step": 1, "instrument": "DEMO-EUR", "side": "BUY", "qty": "1"}],
        **fields,
    }
    return Scenario.model_validate(data)


def test_e2e_missing_on_broker() -> None:
    scenario = _scenario()
    broker = ForgetfulBroker(scenario.broker_config(), clock=SimClock(), forget="MB-00000001")
    result = run_scenario(scenario, broker=broker)
    # passes at steps 2 and 4 and at stop: each finds the order missing
    assert result.metrics.value("reconcile_mismatches_total", kind="missing_on_broker") == 3
    assert result.report["reconcile"] == {"passes": 3, "clean_passes": 0, "mismatches": {"missing_on_broker": 3}}
    assert result.metrics.value("reconciler_last_ok_ts") == 0
    assert result.health.reconciler_last_ok_ts is None
    assert "no reconcile pass was clean" in result.health.reasons
    assert result.state is SessionState.ERROR_REQUIRES_OPERATOR  # the lost order is still open locally


def test_e2e_unknown_on_broker() -> None:
    scenario = _scenario(broker={"fill_model": "immediate"})
    broker = ChattyBroker(scenario.broker_config(), clock=SimClock())
    result = run_scenario(scenario, broker=broker)
    assert result.metrics.value("reconcile_mismatches_total", kind="unknown_on_broker") == 1
    assert result.report["reconcile"] == {"passes": 3, "clean_passes": 2, "mismatches": {"unknown_on_broker": 1}}
    assert result.state is SessionState.STOPPED
    # the first pass (step 2) found it; the later clean passes set the gauge
    assert result.metrics.value("reconciler_last_ok_ts") == (SimClock().epoch_ms + 4_000) / 1000


def test_e2e_stuck_order() -> None:
    scenario = _scenario(steps=6, stuck_after_steps=2, stop_timeout_steps=1)
    result = run_scenario(scenario)
    assert result.metrics.value("reconcile_mismatches_total", kind="stuck_order") == 1
    assert result.state is SessionState.STOPPED


@pytest.mark.parametrize("every", [1, 3])
def test_e2e_clean_passes_set_reconciler_last_ok_ts(every: int) -> None:
    scenario = _scenario(steps=6, reconcile_every=every, broker={"fill_model": "immediate"})
    result = run_scenario(scenario)
    passes = [e for e in result.events if e.kind == "reconcile_pass"]
    assert all(e.payload["ok"] for e in passes)
    assert len(passes) == 6 // every + 1
    assert result.metrics.value("reconciler_last_ok_ts") == passes[-1].ts
    assert result.health.reconciler_last_ok_ts == passes[-1].ts
    assert result.status.reconcile.last_ok_ts == (SimClock().epoch_ms + 6_000) / 1000


def test_a_missed_ack_is_taken_before_the_terminal_state() -> None:
    # the broker acknowledged and then expired the order while our queries failed
    h = Harness()
    rec = h.local("MB-1", S.NEW)
    h.broker.known["MB-1"] = remote("MB-1", S.EXPIRED)
    assert h.rec.run_pass(h.broker, h.book, 5) == 1
    assert h.mismatches() == [("status_mismatch", rec.order_id)]
    assert rec.state is S.EXPIRED
    assert h.illegal == []
    moves = [(p["from_state"], p["to_state"]) for k, p in h.events if k == "order_transition"]
    assert moves == [("NEW", "ACK"), ("ACK", "EXPIRED")]


# -- fill sanity: price band, overfill, unknown fills ---------------------------------------------


def fill(price: str, qty: str = "1", fill_id: str = "F1", boid: str = "MB-1") -> Fill:
    return Fill(fill_id=fill_id, broker_order_id=boid, qty=D(qty), price=D(price), exec_seq=1, step=1)


HALF = D("0.5")


def sanity(band: Decimal | None = HALF) -> tuple[Reconciler, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    rec = Reconciler(
        every=5,
        stuck_after_steps=50,
        emit=lambda event: seen.append(msgspec.to_builtins(event)),
        on_illegal=lambda oid, detail: None,
        reference_prices={"DEMO-EUR": D("100.00")},
        fill_price_band=band,
    )
    return rec, seen


@pytest.mark.parametrize(
    ("price", "detail"),
    [
        ("0", "fill F1 at price 0: not positive"),
        ("-1", "fill F1 at price -1: not positive"),
        ("49.99", "fill F1 at price 49.99: outside 50.00..150.00 (reference 100.00 of DEMO-EUR, band 0.5)"),
        ("150.01", "fill F1 at price 150.01: outside 50.00..150.00 (reference 100.00 of DEMO-EUR, band 0.5)"),
    ],
)
def test_a_bad_fill_price_is_flagged(price: str, detail: str) -> None:
    rec, seen = sanity()
    rec.check_fill(Harness().local("MB-1"), fill(price))
    assert seen == [{"kind": "bad_fill_price", "order_id": "O-000001", "detail": detail}]
    assert rec.counts == {K.BAD_FILL_PRICE: 1}


@pytest.mark.parametrize("price", ["50", "99.5", "150"])
def test_a_fill_inside_the_band_is_fine(price: str) -> None:
    rec, seen = sanity()
    rec.check_fill(Harness().local("MB-1"), fill(price))
    assert seen == []


def test_without_a_band_only_a_non_positive_price_is_bad() -> None:
    rec, seen = sanity(band=None)
    local = Harness().local("MB-1")
    rec.check_fill(local, fill("100000"))
    assert seen == []
    rec.check_fill(local, fill("0"))
    assert [p["kind"] for p in seen] == ["bad_fill_price"]


def test_an_overfill_is_flagged_with_the_cumulative_quantity() -> None:
    rec, seen = sanity()
    local = Harness().local("MB-1", S.PARTIAL, filled="3")
    rec.check_fill(local, fill("100", qty="2"))
    assert seen == [{"kind": "overfill", "order_id": "O-000001", "detail": "fill F1 takes the order to 5 of 4"}]
    seen.clear()
    rec.check_fill(Harness().local("MB-1", S.PARTIAL, filled="3"), fill("100", qty="1"))
    assert seen == []  # exactly the quantity is a fill, not an overfill


def test_fill_price_band_is_a_scenario_field() -> None:
    assert _scenario(fill_price_band="0.1").fill_price_band == D("0.1")
    assert _scenario(fill_price_band=None).fill_price_band is None
    with pytest.raises(ValidationError):
        _scenario(fill_price_band="0")


class MisfillingBroker(MockBroker):
    """A venue whose adapter reports fills wrong: at price 0, or an extra one, or for a stranger."""

    dry_run = True

    def __init__(self, *args: Any, mode: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mode = mode

    def iter_fills(self, cursor: int) -> tuple[int, list[Fill]]:
        end, fills = super().iter_fills(cursor)
        if self.mode == "price0":
            return end, [msgspec.structs.replace(f, price=D(0)) for f in fills]
        extra = []
        for f in fills:
            boid = f.broker_order_id if self.mode == "overfill" else "GHOST-1"
            extra.append(msgspec.structs.replace(f, fill_id=f.fill_id + "-again", broker_order_id=boid))
        return end, [*fills, *extra]


def test_e2e_a_broker_filling_market_orders_at_price_zero_is_degraded() -> None:
    scenario = _scenario(broker={"fill_model": "immediate"})
    result = run_scenario(scenario, broker=MisfillingBroker(scenario.broker_config(), clock=SimClock(), mode="price0"))
    assert result.state is SessionState.STOPPED
    assert result.health.status.value == "degraded"
    assert result.health.reasons == ["1 reconcile mismatch(es): bad_fill_price 1"]
    assert result.metrics.value("reconcile_mismatches_total", kind="bad_fill_price") == 1
    (mismatch,) = [e.payload.to_dict() for e in result.events if e.kind == "reconcile_mismatch"]
    assert mismatch == {
        "kind": "bad_fill_price",
        "order_id": "O-000001",
        "detail": "fill MB-00000001-F1 at price 0: not positive",
    }
    # the flagged fill is still applied: the book mirrors what the broker says was executed
    assert result.status.positions == {"DEMO-EUR": D("1")}
    assert result.status.cash == scenario.starting_cash
    assert result.report["orders"]["by_state"] == {"FILLED": 1}


def test_e2e_an_overfill_is_flagged_and_mirrored() -> None:
    scenario = _scenario(broker={"fill_model": "immediate"})
    result = run_scenario(
        scenario, broker=MisfillingBroker(scenario.broker_config(), clock=SimClock(), mode="overfill")
    )
    # the extra fill arrives for an order that is FILLED already: flagged, not applied
    assert result.report["reconcile"]["mismatches"] == {"overfill": 1}
    (mismatch,) = [e.payload.to_dict() for e in result.events if e.kind == "reconcile_mismatch"]
    assert mismatch["detail"] == "fill MB-00000001-F1-again for a FILLED order would take it to 2 of 1"
    assert result.status.positions == {"DEMO-EUR": D("1")}
    assert result.health.status.value == "degraded"


def test_e2e_a_fill_for_an_order_we_do_not_track_is_an_unknown_fill() -> None:
    scenario = _scenario(broker={"fill_model": "immediate"})
    result = run_scenario(scenario, broker=MisfillingBroker(scenario.broker_config(), clock=SimClock(), mode="ghost"))
    assert result.report["reconcile"]["mismatches"] == {"unknown_fill": 1}
    assert result.metrics.value("reconcile_mismatches_total", kind="unknown_on_broker") == 0
    assert result.health.status.value == "degraded"


def test_terms_mismatch_when_the_broker_holds_other_terms_reported_once() -> None:
    h = Harness()
    rec = h.local("MB-1", S.ACK)
    h.broker.open = [msgspec.structs.replace(remote("MB-1", S.ACK), qty=D("7"))]
    assert h.rec.run_pass(h.broker, h.book, 5) == 1
    assert h.mismatches() == [("terms_mismatch", rec.order_id)]
    detail = [p["detail"] for k, p in h.events if k == "reconcile_mismatch"]
    assert detail == ["broker qty 7, local qty 4"]
    assert h.rec.run_pass(h.broker, h.book, 10) == 0  # reported once


def test_no_terms_mismatch_while_an_amend_is_pending() -> None:
    h = Harness()
    rec = h.local("MB-1", S.ACK)
    h.book.transition(rec, S.PENDING_REPLACE, 2)
    h.broker.open = [msgspec.structs.replace(remote("MB-1", S.ACK), qty=D("7"))]
    assert h.rec.run_pass(h.broker, h.book, 5) == 0
