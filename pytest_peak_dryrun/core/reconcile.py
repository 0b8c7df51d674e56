"""The reconciler: our view of orders and fills against what the broker reports.

A pass runs every ``k`` steps and at stop. It compares the local open orders with the
broker's open orders, asks the broker about local orders it no longer lists, compares
filled quantities, and flags orders that stay open too long. Mismatches found while fills
stream in (duplicates, a fill winning a cancel race, fills that fail
:meth:`Reconciler.check_fill`) are reported through the same :meth:`Reconciler.mismatch`, so
``reconcile_mismatches_total{kind}`` counts them all.

Fill sanity: a fill at a price that is not positive or lies outside the band around the
instrument's reference price is ``bad_fill_price``; a fill that takes an order above its
quantity is ``overfill``; a fill for an order we do not track is ``unknown_fill``. The
orchestrator still applies a flagged fill of an order it tracks (the local book mirrors what
the broker says was executed, so one bad fill is one mismatch and not a cascade of
quantity and status mismatches); health turns ``degraded``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from .book import OrderBook
from .broker import Broker
from .errors import BrokerError, UnknownOrderError
from .events import Event, ReconcileMismatchEvent, ReconcilePassEvent
from .model import Fill, Order
from .orders import TERMINAL_STATES, IllegalTransitionError, OrderRecord, OrderState
from .vocab import MismatchKind

__all__ = ["MismatchKind", "Reconciler"]


EmitFn = Callable[[Event], object]
#: Called with (order_id, detail) when the broker reports a transition the table forbids.
IllegalFn = Callable[[str, str], None]


class Reconciler:
    def __init__(
        self,
        *,
        every: int,
        stuck_after_steps: int,
        emit: EmitFn,
        on_illegal: IllegalFn,
        reference_prices: Mapping[str, Decimal] | None = None,
        fill_price_band: Decimal | None = Decimal("0.5"),
    ) -> None:
        """``fill_price_band`` is a fraction of the reference price (0.5: ±50%); None: no band."""
        self.every = every
        self.stuck_after_steps = stuck_after_steps
        self.reference_prices: dict[str, Decimal] = dict(reference_prices or {})
        self.fill_price_band = fill_price_band
        self._emit = emit
        self._on_illegal = on_illegal
        self.counts: dict[MismatchKind, int] = {}
        self.passes = 0
        self.clean_passes = 0
        self.last_ok_step: int | None = None
        #: What the latest pass found, kind by kind (empty: clean), and why it could not look
        #: (None: it reached the broker). ``stop()`` escalates on either.
        self.last_pass_found: dict[MismatchKind, int] = {}
        self.last_pass_error: str | None = None
        self._stuck_reported: set[str] = set()
        self._unknown_reported: set[str] = set()
        self._terms_reported: set[str] = set()
        self._bounds: dict[tuple[Decimal, Decimal], tuple[Decimal, Decimal]] = {}

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def mismatch(self, kind: MismatchKind, order_id: str, detail: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self._emit(ReconcileMismatchEvent(kind=kind, order_id=order_id, detail=detail))

    def check_fill(self, rec: OrderRecord, fill: Fill) -> None:
        """Flag ``fill`` of the open order ``rec`` (before it is applied): price and quantity."""
        price = fill.price
        band = self.fill_price_band
        if price <= 0:
            self.mismatch(
                MismatchKind.BAD_FILL_PRICE, rec.order_id, f"fill {fill.fill_id} at price {_text(price)}: not positive"
            )
        elif band is not None:
            ref = self.reference_prices.get(rec.instrument)
            if ref is not None:
                # The band's prices, worked out once per (reference, band): every fill is checked.
                bounds = self._bounds.get((ref, band))
                if bounds is None:
                    bounds = self._bounds[(ref, band)] = (ref * (1 - band), ref * (1 + band))
                low, high = bounds
                if price < low or price > high:
                    self.mismatch(
                        MismatchKind.BAD_FILL_PRICE,
                        rec.order_id,
                        f"fill {fill.fill_id} at price {_text(price)}: outside "
                        f"{_text(low.quantize(ref))}..{_text(high.quantize(ref))} "
                        f"(reference {_text(ref)} of {rec.instrument}, band {_text(band)})",
                    )
        cum = rec.filled_qty + fill.qty
        if cum > rec.qty:
            self.mismatch(
                MismatchKind.OVERFILL,
                rec.order_id,
                f"fill {fill.fill_id} takes the order to {_text(cum)} of {_text(rec.qty)}",
            )

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def run_pass(self, broker: Broker, book: OrderBook, step: int) -> int:
        """Compare local and broker views; return the number of mismatches found."""
        before = self.total
        counts_before = dict(self.counts)
        self.passes += 1
        self.last_pass_found = {}
        try:
            remote_open = {o.broker_order_id or "": o for o in broker.list_open_orders()}
        except BrokerError as exc:
            self.last_pass_error = type(exc).__name__
            self._emit(ReconcilePassEvent(ok=False, mismatches=0, checked=0, error=self.last_pass_error))
            return 0
        self.last_pass_error = None
        checked = 0
        for rec in book.open_orders():
            checked += 1
            boid = rec.broker_order_id
            if boid is None:
                continue  # never reached the broker (place still unresolved)
            remote = remote_open.pop(boid, None)
            if remote is None:
                try:
                    remote = broker.query_order(boid)
                except UnknownOrderError:
                    self.mismatch(MismatchKind.MISSING_ON_BROKER, rec.order_id, f"broker does not know {boid}")
                    continue
                except BrokerError:
                    continue  # unreachable now; the next pass looks again
            if remote.filled_qty != rec.filled_qty:
                self.mismatch(
                    MismatchKind.FILL_QTY_MISMATCH,
                    rec.order_id,
                    f"broker filled {remote.filled_qty}, local {rec.filled_qty}",
                )
            if (
                (remote.qty != rec.qty or remote.limit_price != rec.limit_price)
                and rec.state is not OrderState.PENDING_REPLACE  # an amend in flight: the next query settles it
                and rec.order_id not in self._terms_reported
            ):
                # An amend one side missed (applied after the run took it as refused, or a
                # venue that changed an order by itself): the run trades on terms it does not have.
                self._terms_reported.add(rec.order_id)
                self.mismatch(
                    MismatchKind.TERMS_MISMATCH,
                    rec.order_id,
                    f"broker {_terms(remote.qty, remote.limit_price)}, local {_terms(rec.qty, rec.limit_price)}",
                )
            if remote.state in TERMINAL_STATES and rec.is_open:
                self.mismatch(
                    MismatchKind.STATUS_MISMATCH,
                    rec.order_id,
                    f"broker {remote.state.value}, local {rec.state.value}",
                )
                self._heal(book, rec, remote, step)
            elif step - rec.created_step > self.stuck_after_steps and rec.order_id not in self._stuck_reported:
                self._stuck_reported.add(rec.order_id)
                self.mismatch(
                    MismatchKind.STUCK_ORDER,
                    rec.order_id,
                    f"open for {step - rec.created_step} steps in state {rec.state.value}",
                )
        for boid, remote in remote_open.items():
            if boid in self._unknown_reported:
                continue
            local = book.get_by_broker_id(boid)
            self._unknown_reported.add(boid)
            if local is None:
                self.mismatch(
                    MismatchKind.UNKNOWN_ON_BROKER, remote.order_id, f"broker has open order {boid} we do not track"
                )
            else:
                self.mismatch(
                    MismatchKind.STATUS_MISMATCH,
                    local.order_id,
                    f"broker {remote.state.value}, local {local.state.value}",
                )
        found = self.total - before
        self.last_pass_found = {
            kind: n - counts_before.get(kind, 0) for kind, n in self.counts.items() if n > counts_before.get(kind, 0)
        }
        if found == 0:
            self.clean_passes += 1
            self.last_ok_step = step
        self._emit(ReconcilePassEvent(ok=found == 0, mismatches=found, checked=checked))
        return found

    def _heal(self, book: OrderBook, rec: Any, remote: Order, step: int) -> None:
        """Adopt the broker's terminal state for non-fill outcomes; flag what cannot be."""
        state = remote.state
        if state is OrderState.FILLED or remote.filled_qty > rec.filled_qty:
            # Fills still on their way decide this: the fill stream moves the order (a
            # canceled order's last fills first), and ending it now would drop them.
            return
        try:
            if rec.state is OrderState.NEW and state is not OrderState.REJECTED:
                # The broker acknowledged the order and we missed it (as in the orchestrator's
                # sync): take the ack first, so a missed ack is not an illegal transition.
                book.transition(rec, OrderState.ACK, step)
            book.transition(rec, state, step)
        except IllegalTransitionError as exc:
            self._on_illegal(rec.order_id, str(exc))


def _text(value: Decimal) -> str:
    return format(value, "f")


def _terms(qty: Decimal, limit_price: Decimal | None) -> str:
    return f"qty {_text(qty)}" + ("" if limit_price is None else f" limit {_text(limit_price)}")
