"""Safety rails: pre-trade checks and tripwires that stop a session when an invariant breaks.

Pre-trade rails look at an order *before* it reaches the broker and block it. Tripwires
watch what happens afterwards (rejects, retries, duplicate fills, illegal transitions) and
the explicit kill switch. Any trip is a ``rail_trip`` event, counts in
``safety_rail_trips_total{rail}``, and drives the session to ``ERROR_REQUIRES_OPERATOR``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from .events import Event, RailTripEvent
from .model import Money
from .orders import Side
from .vocab import Rail

__all__ = ["Rail", "RailLimits", "RailTrip", "SafetyRails"]


class RailLimits(BaseModel):
    """Limits of the rails. ``None`` switches a rail off; the defaults are conservative."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_qty: Money | None = Field(default=None, gt=0)
    max_notional: Money | None = Field(default=None, gt=0, description="qty x price of one order")
    max_open_orders: int | None = Field(default=None, ge=1)
    max_position: Money | None = Field(default=None, gt=0, description="absolute, per instrument, open orders included")
    allow_negative_balance: bool = False
    max_consecutive_rejects: int | None = Field(default=5, ge=1)
    max_retries_per_step: int | None = Field(default=10, ge=1, description="no retry storms")
    max_duplicate_fills: int | None = Field(default=0, ge=0, description="duplicates tolerated before the rail trips")


class RailTrip:
    __slots__ = ("detail", "rail", "step")

    def __init__(self, rail: Rail, detail: str, step: int) -> None:
        self.rail = rail
        self.detail = detail
        self.step = step


EmitFn = Callable[[Event], object]


class SafetyRails:
    """Evaluates the rails for one session and records every trip."""

    def __init__(self, limits: RailLimits, *, emit: EmitFn) -> None:
        self.limits = limits
        #: True when a per-order limit is set (quantity, notional, open orders, position).
        #: Without one, :meth:`pre_trade` can refuse only an instrument off the allowlist or a
        #: buy the cash does not cover, so a caller may skip the call for every other order.
        self.order_limits = any(
            limit is not None
            for limit in (limits.max_order_qty, limits.max_notional, limits.max_open_orders, limits.max_position)
        )
        self._emit = emit
        self.trips: list[RailTrip] = []
        self._consecutive_rejects = 0
        self._retries_this_step = 0
        self._duplicates = 0
        self._step = 0

    @property
    def tripped(self) -> bool:
        return bool(self.trips)

    def trip(self, rail: Rail, detail: str, *, order_id: str | None = None) -> None:
        self.trips.append(RailTrip(rail, detail, self._step))
        self._emit(RailTripEvent(rail=rail, detail=detail, order_id=order_id))

    def begin_step(self, step: int) -> None:
        self._step = step
        self._retries_this_step = 0

    # -- pre-trade -----------------------------------------------------------------------

    def pre_trade(
        self,
        *,
        order_id: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        open_orders: int,
        exposure: Decimal,
        available_cash: Decimal,
        instrument: str = "",
        instrument_allowed: bool = True,
    ) -> bool:
        """True when the order may go to the broker; otherwise the rail has tripped.

        ``exposure`` is the signed position of the instrument plus the signed leaves of its
        open orders; ``available_cash`` is cash minus what open buy orders reserve.
        """
        lim = self.limits
        notional = qty * price
        signed = qty if side is Side.BUY else -qty
        # Checked in order; the detail text is only built for the rail that trips.
        failed: tuple[Rail, str] | None = None
        if not instrument_allowed:
            failed = Rail.INSTRUMENT_NOT_ALLOWED, f"instrument {instrument!r} is not on the allowlist"
        elif lim.max_order_qty is not None and qty > lim.max_order_qty:
            failed = Rail.MAX_ORDER_QTY, f"quantity {qty} above limit {lim.max_order_qty}"
        elif lim.max_notional is not None and notional > lim.max_notional:
            failed = Rail.MAX_NOTIONAL, f"notional {notional} above limit {lim.max_notional}"
        elif lim.max_open_orders is not None and open_orders + 1 > lim.max_open_orders:
            failed = Rail.MAX_OPEN_ORDERS, f"{open_orders + 1} open orders above limit {lim.max_open_orders}"
        elif lim.max_position is not None and abs(exposure + signed) > lim.max_position:
            failed = Rail.MAX_POSITION, f"position {exposure + signed} beyond limit {lim.max_position}"
        elif not lim.allow_negative_balance and side is Side.BUY and available_cash - notional < 0:
            failed = (
                Rail.NEGATIVE_BALANCE,
                f"buying {notional} with {available_cash} available would leave a negative balance",
            )
        if failed is None:
            return True
        self.trip(failed[0], failed[1], order_id=order_id)
        return False

    # -- tripwires -------------------------------------------------------------------------

    def on_place_result(self, *, rejected: bool) -> None:
        if not rejected:
            self._consecutive_rejects = 0
            return
        self._consecutive_rejects += 1
        limit = self.limits.max_consecutive_rejects
        if limit is not None and self._consecutive_rejects >= limit:
            self.trip(Rail.MAX_CONSECUTIVE_REJECTS, f"{self._consecutive_rejects} rejects in a row (limit {limit})")
            self._consecutive_rejects = 0

    def on_retry(self) -> None:
        self._retries_this_step += 1
        limit = self.limits.max_retries_per_step
        if limit is not None and self._retries_this_step == limit + 1:
            self.trip(Rail.MAX_RETRIES_PER_STEP, f"more than {limit} retries in step {self._step}")

    def on_duplicate_fill(self, order_id: str) -> None:
        self._duplicates += 1
        limit = self.limits.max_duplicate_fills
        if limit is not None and self._duplicates > limit:
            self.trip(
                Rail.DUPLICATE_FILL, f"duplicate fill number {self._duplicates} (tolerated {limit})", order_id=order_id
            )

    def on_illegal_transition(self, order_id: str, detail: str) -> None:
        self.trip(Rail.ILLEGAL_TRANSITION, detail, order_id=order_id)

    def kill(self, reason: str = "kill switch pulled") -> None:
        self.trip(Rail.KILL_SWITCH, reason)
