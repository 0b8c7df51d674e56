"""Order states, the one table of legal transitions, and the hot-path order record.

States follow FIX OrdStatus (DESIGN.md, Domain contract). The table below is the single
source of truth: the mock broker, the local order book and the reconciler all move orders
through :func:`check_transition`, so no layer can invent a transition of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .model import OrderRequest

__all__ = [
    "LEGAL_TRANSITIONS",
    "OPEN_STATES",
    "TERMINAL_STATES",
    "IllegalTransitionError",
    "OrderRecord",
    "OrderState",
    "OrderType",
    "Side",
    "check_transition",
]


class OrderState(str, Enum):
    """Order status, aligned with FIX OrdStatus."""

    NEW = "NEW"  # sent, not yet acknowledged (FIX PendingNew)
    ACK = "ACK"  # acknowledged, working (FIX New)
    PARTIAL = "PARTIAL"  # FIX PartiallyFilled
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    PENDING_REPLACE = "PENDING_REPLACE"  # FIX PendingReplace: an amend (qty / limit price) is in flight
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(str, Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


_S = OrderState

#: Every legal (from, to) move. A state missing on the left is terminal.
#: A fill may win a cancel race (PENDING_CANCEL -> PARTIAL / FILLED); a refused cancel
#: returns the order to where it was (PENDING_CANCEL -> ACK / PARTIAL); a venue may expire
#: an order whose cancel is still pending (PENDING_CANCEL -> EXPIRED). A partial fill while
#: the cancel is pending keeps PENDING_CANCEL (no transition).
#:
#: Replace (amend) follows FIX PendingReplace: only a working order (ACK / PARTIAL) can be
#: amended; whether the venue accepts or refuses the amend, the order goes back to working
#: (PENDING_REPLACE -> ACK / PARTIAL; the new terms are an ``order_replaced`` event, not a
#: state). A fill may win the race (PENDING_REPLACE -> PARTIAL / FILLED; a partial fill while
#: the amend is pending keeps PENDING_REPLACE), the venue may cancel or expire the order
#: meanwhile (-> CANCELED / EXPIRED), and a cancel request supersedes a pending amend
#: (PENDING_REPLACE -> PENDING_CANCEL). A replace is never a reject of the order itself.
LEGAL_TRANSITIONS: Final[dict[OrderState, frozenset[OrderState]]] = {
    _S.NEW: frozenset({_S.ACK, _S.REJECTED, _S.PARTIAL, _S.FILLED, _S.PENDING_CANCEL}),
    _S.ACK: frozenset({_S.PARTIAL, _S.FILLED, _S.PENDING_CANCEL, _S.PENDING_REPLACE, _S.EXPIRED}),
    _S.PARTIAL: frozenset({_S.FILLED, _S.PENDING_CANCEL, _S.PENDING_REPLACE, _S.EXPIRED}),
    _S.PENDING_CANCEL: frozenset({_S.CANCELED, _S.PARTIAL, _S.FILLED, _S.ACK, _S.EXPIRED}),
    _S.PENDING_REPLACE: frozenset({_S.ACK, _S.PARTIAL, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED}),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.EXPIRED: frozenset(),
}

_ZERO: Final = Decimal(0)

TERMINAL_STATES: Final = frozenset(s for s, targets in LEGAL_TRANSITIONS.items() if not targets)
OPEN_STATES: Final = frozenset(s for s in OrderState if s not in TERMINAL_STATES)


class IllegalTransitionError(Exception):
    """An order was asked to move along an edge that the transition table does not have."""

    def __init__(self, order_id: str, from_state: OrderState, to_state: OrderState) -> None:
        self.order_id = order_id
        self.from_state = from_state
        self.to_state = to_state
        super().__init__(
            f"illegal order transition for {order_id}: {from_state.value} -> {to_state.value}"
            f" (legal from {from_state.value}: "
            f"{', '.join(sorted(s.value for s in LEGAL_TRANSITIONS[from_state])) or 'none, terminal'})"
        )


def check_transition(order_id: str, from_state: OrderState, to_state: OrderState) -> None:
    """Raise :class:`IllegalTransitionError` unless ``from_state -> to_state`` is legal."""
    if to_state not in LEGAL_TRANSITIONS[from_state]:
        raise IllegalTransitionError(order_id, from_state, to_state)


@dataclass(slots=True, eq=False)
class OrderRecord:
    """One order as the local order book tracks it.

    A slotted dataclass, not a pydantic model: it lives on the hot path (issue 8) and is
    converted to the :class:`~pytest_peak_dryrun.core.model.Order` document only at the
    boundaries.
    """

    order_id: str
    instrument: str
    side: Side
    order_type: OrderType
    qty: Decimal
    limit_price: Decimal | None
    tif_steps: int | None
    created_step: int
    state: OrderState = OrderState.NEW
    broker_order_id: str | None = None
    filled_qty: Decimal = Decimal(0)
    filled_notional: Decimal = Decimal(0)
    updated_step: int = 0
    last_exec_seq: int = 0
    fill_ids: set[str] = field(default_factory=set)
    #: while ``PENDING_REPLACE``: the terms the replace asked for (``None``: no amend in flight)
    replace_qty: Decimal | None = None
    replace_limit: Decimal | None = None

    @classmethod
    def from_request(cls, order_id: str, request: OrderRequest, step: int) -> OrderRecord:
        """A new order (``NEW``, created at ``step``) for ``request``.

        Built with positional arguments: a Python call binding nine keywords costs more than
        the rest of building the record, and the orchestrator builds one per order.
        """
        return cls(
            order_id,
            request.instrument,
            request.side,
            request.order_type,
            request.qty,
            request.limit_price,
            request.tif_steps,
            step,
            OrderState.NEW,
            None,
            _ZERO,
            _ZERO,
            step,
        )

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def leaves_qty(self) -> Decimal:
        return self.qty - self.filled_qty

    def move_to(self, to_state: OrderState) -> OrderState:
        """Apply a legal transition and return the state it left."""
        from_state = self.state
        if to_state not in LEGAL_TRANSITIONS[from_state]:  # check_transition, without its call (hot path)
            raise IllegalTransitionError(self.order_id, from_state, to_state)
        self.state = to_state
        return from_state
