"""The closed vocabularies of a dry run: every value an event field or a metric label may take.

Each is a ``str`` enum, so a value compares equal to its text (``Outcome.OK == "ok"``) and
serializes as it. They live in one small module with no dependencies because the event table
(:mod:`.events`) types its fields with them, and the metrics label allowlist is derived from
those field types: a label can only ever carry one of these values, never an id, a token or
free text. The modules that own the concepts (the orchestrator, the rails, the reconciler,
the fault injector, the broker) re-export them.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["BrokerOp", "FaultKind", "MismatchKind", "Outcome", "Rail", "SessionState"]


class SessionState(str, Enum):
    """The session state machine of the C2 runbook (transitions: ``orchestrator.SESSION_TRANSITIONS``)."""

    INIT = "INIT"
    PREFLIGHT_OK = "PREFLIGHT_OK"
    PREFLIGHT_FAILED = "PREFLIGHT_FAILED"
    DRYRUN_ACTIVE = "DRYRUN_ACTIVE"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    ERROR_REQUIRES_OPERATOR = "ERROR_REQUIRES_OPERATOR"


class Outcome(str, Enum):
    """How a place, cancel, replace or query request ended: the ``outcome`` label of ``orders_*_total``."""

    OK = "ok"
    REJECTED = "rejected"
    ERROR = "error"
    UNKNOWN = "unknown"


class BrokerOp(str, Enum):
    """Broker operations: the ``op`` label of ``retry_attempts_total`` and of the fault counters.

    ``replace`` is last: the hypothesis strategy draws a fault's op from this order, and a
    member added at the end leaves the draws of scenarios without replaces as they were.
    """

    PLACE = "place"
    CANCEL = "cancel"
    QUERY = "query"
    FILLS = "fills"
    REPLACE = "replace"


class FaultKind(str, Enum):
    """Failures injected at the broker boundary (the runbook's C1 and C3 phases)."""

    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    TRANSIENT_UNAVAILABLE = "transient_unavailable"
    DUPLICATE_FILL = "duplicate_fill"
    OUT_OF_ORDER_FILL = "out_of_order_fill"
    DROPPED_ACK = "dropped_ack"
    CANCEL_RACE = "cancel_race"


class Rail(str, Enum):
    """Every safety rail: the ``rail`` label of ``safety_rail_trips_total``."""

    INSTRUMENT_NOT_ALLOWED = "instrument_not_allowed"
    MAX_ORDER_QTY = "max_order_qty"
    MAX_NOTIONAL = "max_notional"
    MAX_OPEN_ORDERS = "max_open_orders"
    MAX_POSITION = "max_position"
    NEGATIVE_BALANCE = "negative_balance"
    MAX_CONSECUTIVE_REJECTS = "max_consecutive_rejects"
    MAX_RETRIES_PER_STEP = "max_retries_per_step"
    DUPLICATE_FILL = "duplicate_fill"
    ILLEGAL_TRANSITION = "illegal_transition"
    KILL_SWITCH = "kill_switch"


class MismatchKind(str, Enum):
    """What the reconciler found: the ``kind`` label of ``reconcile_mismatches_total``."""

    MISSING_ON_BROKER = "missing_on_broker"  # we have it open, the broker does not know it
    UNKNOWN_ON_BROKER = "unknown_on_broker"  # the broker has it open, we do not
    STATUS_MISMATCH = "status_mismatch"
    FILL_QTY_MISMATCH = "fill_qty_mismatch"  # the broker's filled quantity differs from ours
    CANCEL_RACE = "cancel_race"
    DUPLICATE_FILL = "duplicate_fill"
    STUCK_ORDER = "stuck_order"
    BAD_FILL_PRICE = "bad_fill_price"  # not positive, or outside the band around the reference
    OVERFILL = "overfill"  # fills add up to more than the order's quantity
    UNKNOWN_FILL = "unknown_fill"  # a fill for an order we do not track
    TERMS_MISMATCH = "terms_mismatch"  # the broker's quantity or limit price differs from ours
