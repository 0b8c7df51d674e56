"""The event table: one typed record per kind of fact, the single source of truth.

Every fact of a dry run (a state change, an order placed, a fill, a retry, a mismatch, a rail
trip) is one of the small types below, a ``msgspec.Struct`` whose fields are declared here and
nowhere else. Everything else is derived from this module:

- :data:`EVENT_TYPES` and :class:`EventKind` (the kind enum) list the kinds;
- :data:`METRIC_SPECS` names, per metric, the kinds and fields it counts: the metrics
  collector, ``peak-dryrun validate``'s recount and the label allowlist (the enum types of
  those fields) are built from it;
- each type's ``CATEGORY`` groups it in the HTML report's activity chart, and its ``TEXT``
  names the fields that can carry free text (a broker's reject reason, an adapter's id):
  only those are scanned for secrets;
- the JSON Schema of an ``events.jsonl`` line is generated from the types
  (:func:`event_json_schema`), and ``validate`` decodes each line with them.

A payload is encoded once, to canonical bytes (sorted keys, compact), by msgspec. Money and
quantities are exact decimal *text* (``"1.50"``, ``format(d, "f")`` semantics: build them
with :func:`money`), because msgspec writes a ``Decimal`` as ``str(d)``, which turns
``Decimal("0.00000001")`` into ``"1E-8"``.

Choosing the type: a msgspec ``Struct`` measured 0.15 µs to build and 0.5 µs to encode
(sorted) against 0.31/0.6 µs for a slotted class encoded as a dict and 0.42 µs to build a
``NamedTuple`` (``benchmarks/audit_path.py``); it also validates on decode, which
``validate`` needs, and gives a JSON Schema.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, Final, Literal

import msgspec

from .errors import RetryReason
from .orders import OrderState, OrderType, Side
from .vocab import BrokerOp, FaultKind, MismatchKind, Outcome, Rail, SessionState

__all__ = [
    "ACTIVITY_CATEGORIES",
    "EVENT_TYPES",
    "METRIC_SPECS",
    "Count",
    "Event",
    "EventKind",
    "EventRecord",
    "FaultInjectedEvent",
    "FaultSkippedEvent",
    "FillDuplicateIgnoredEvent",
    "FillEvent",
    "FillOutOfOrderEvent",
    "LastTime",
    "MetricSpec",
    "OrderCancelEvent",
    "OrderPlaceEvent",
    "OrderQueryEvent",
    "OrderReplaceEvent",
    "OrderReplacedEvent",
    "OrderTransitionEvent",
    "PreflightCheckEvent",
    "RailTripEvent",
    "ReconcileMismatchEvent",
    "ReconcilePassEvent",
    "RetryEvent",
    "SessionStateEvent",
    "StateOf",
    "event_json_schema",
    "event_type",
    "label_values",
    "money",
]


def money(value: Decimal) -> str:
    """A Decimal as the exact text every file holds: ``format(d, "f")`` (never ``1E+2``)."""
    text = str(value)
    return text if "E" not in text else format(value, "f")


class Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, gc=False):
    """Base of every event payload. Subclasses declare ``KIND``, ``CATEGORY`` and ``TEXT``.

    Fields with a default are left out of the JSON when they hold it (an optional
    ``reason`` appears only when there is one). Instances are immutable; the stream adds
    the sequence number and the simulated time (:class:`EventRecord`).
    """

    #: the ``kind`` of the event in ``events.jsonl``
    KIND: ClassVar[str] = ""
    #: the activity-chart category (HTML report)
    CATEGORY: ClassVar[str] = "other"
    #: fields that may carry free text (from a broker, an adapter or an exception): redacted
    TEXT: ClassVar[tuple[str, ...]] = ()

    def __getitem__(self, name: str) -> Any:
        """``payload["rail"]``: a payload reads like the JSON object it is written as."""
        if name not in self.__struct_fields__:
            raise KeyError(f"{self.KIND} has no field {name!r}; its fields are {', '.join(self.__struct_fields__)}")
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """The payload as plain data, exactly as ``events.jsonl`` holds it (enums as text)."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        return data

    def get(self, name: str, default: Any = None) -> Any:
        """``payload.get("reason")``: the field's value, or ``default`` if the kind has no such field."""
        return getattr(self, name, default) if name in self.__struct_fields__ else default


# -- the table ------------------------------------------------------------------------------


class SessionStateEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "session_state"
    CATEGORY: ClassVar[str] = "session"
    TEXT: ClassVar[tuple[str, ...]] = ("reason",)

    from_state: SessionState
    to_state: SessionState
    reason: str = ""


class PreflightCheckEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "preflight_check"
    CATEGORY: ClassVar[str] = "session"
    TEXT: ClassVar[tuple[str, ...]] = ("detail",)

    check: str
    ok: bool
    detail: str


class OrderPlaceEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "order_place"
    CATEGORY: ClassVar[str] = "orders"
    TEXT: ClassVar[tuple[str, ...]] = ("reason", "broker_order_id")

    order_id: str
    instrument: str
    side: Side
    order_type: OrderType
    qty: str
    limit_price: str | None = None
    outcome: Outcome
    reason: str | None = None
    broker_order_id: str | None = None


class OrderCancelEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "order_cancel"
    CATEGORY: ClassVar[str] = "orders"
    TEXT: ClassVar[tuple[str, ...]] = ("reason",)

    order_id: str
    outcome: Outcome
    reason: str | None = None


class OrderReplaceEvent(Event, frozen=True, kw_only=True):
    """A replace (amend) request and how it ended: ``qty`` / ``limit_price`` are the terms asked for.

    ``ok`` means the broker took the request (the order is ``PENDING_REPLACE``), not that the
    new terms apply: that is an ``order_replaced`` event. A replace the run did not send, because
    the order was not working (not acknowledged yet, canceling, replacing or ended), is
    ``rejected`` with reason ``not_working``.
    """

    KIND: ClassVar[str] = "order_replace"
    CATEGORY: ClassVar[str] = "orders"
    TEXT: ClassVar[tuple[str, ...]] = ("reason",)

    order_id: str
    outcome: Outcome
    qty: str | None = None
    limit_price: str | None = None
    reason: str | None = None


class OrderReplacedEvent(Event, frozen=True, kw_only=True):
    """The broker applied a replace: from now on the order's quantity and limit price are these."""

    KIND: ClassVar[str] = "order_replaced"
    CATEGORY: ClassVar[str] = "orders"

    order_id: str
    qty: str
    limit_price: str | None = None


class OrderQueryEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "order_query"
    CATEGORY: ClassVar[str] = "orders"
    TEXT: ClassVar[tuple[str, ...]] = ("reason",)

    order_id: str
    outcome: Outcome
    state: OrderState | None = None
    reason: str | None = None


class OrderTransitionEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "order_transition"
    CATEGORY: ClassVar[str] = "orders"

    order_id: str
    from_state: OrderState
    to_state: OrderState


class FillEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "fill"
    CATEGORY: ClassVar[str] = "fills"
    TEXT: ClassVar[tuple[str, ...]] = ("fill_id",)

    order_id: str
    fill_id: str
    qty: str
    price: str
    exec_seq: int
    cum_qty: str


class FillDuplicateIgnoredEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "fill_duplicate_ignored"
    CATEGORY: ClassVar[str] = "fills"
    TEXT: ClassVar[tuple[str, ...]] = ("fill_id",)

    order_id: str
    fill_id: str


class FillOutOfOrderEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "fill_out_of_order"
    CATEGORY: ClassVar[str] = "fills"
    TEXT: ClassVar[tuple[str, ...]] = ("fill_id",)

    order_id: str
    fill_id: str
    exec_seq: int
    expected: int


class FaultInjectedEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "fault_injected"
    CATEGORY: ClassVar[str] = "faults"
    TEXT: ClassVar[tuple[str, ...]] = ("broker_order_id",)

    op: BrokerOp
    fault: FaultKind
    step: int
    broker_order_id: str | None = None


class FaultSkippedEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "fault_skipped"
    CATEGORY: ClassVar[str] = "faults"
    TEXT: ClassVar[tuple[str, ...]] = ("reason",)

    op: BrokerOp
    fault: FaultKind
    step: int
    reason: str


class RetryEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "retry"
    CATEGORY: ClassVar[str] = "faults"

    op: BrokerOp
    reason: RetryReason
    attempt: int
    backoff_ms: int


class ReconcilePassEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "reconcile_pass"
    CATEGORY: ClassVar[str] = "reconcile"
    TEXT: ClassVar[tuple[str, ...]] = ("error",)

    ok: bool
    mismatches: int
    checked: int
    error: str | None = None


class ReconcileMismatchEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "reconcile_mismatch"
    CATEGORY: ClassVar[str] = "reconcile"
    # order_id is a broker's id when the broker reports a fill for an order we do not track
    TEXT: ClassVar[tuple[str, ...]] = ("order_id", "detail")

    kind: MismatchKind
    order_id: str
    detail: str


class RailTripEvent(Event, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "rail_trip"
    CATEGORY: ClassVar[str] = "rails"
    TEXT: ClassVar[tuple[str, ...]] = ("detail",)

    rail: Rail
    detail: str
    order_id: str | None = None


#: Every kind of event, in the order the README documents them.
EVENT_TYPES: Final[tuple[type[Event], ...]] = (
    SessionStateEvent,
    PreflightCheckEvent,
    OrderPlaceEvent,
    OrderCancelEvent,
    OrderReplaceEvent,
    OrderReplacedEvent,
    OrderQueryEvent,
    OrderTransitionEvent,
    FillEvent,
    FillDuplicateIgnoredEvent,
    FillOutOfOrderEvent,
    FaultInjectedEvent,
    FaultSkippedEvent,
    RetryEvent,
    ReconcilePassEvent,
    ReconcileMismatchEvent,
    RailTripEvent,
)
_BY_KIND: Final[dict[str, type[Event]]] = {cls.KIND: cls for cls in EVENT_TYPES}

#: The kind enum, derived from the table (``EventKind.RAIL_TRIP == "rail_trip"``).
EventKind = Enum(  # type: ignore[misc]
    "EventKind", [(cls.KIND.upper(), cls.KIND) for cls in EVENT_TYPES], type=str, module=__name__
)
EventKind.__doc__ = "Every kind of fact a dry run records (derived from :data:`EVENT_TYPES`)."

#: The activity chart's categories, in drawing order (``other`` for anything unknown).
ACTIVITY_CATEGORIES: Final[tuple[str, ...]] = (
    *dict.fromkeys(cls.CATEGORY for cls in EVENT_TYPES),
    Event.CATEGORY,
)


def event_type(kind: str) -> type[Event]:
    """The event type of ``kind`` (``KeyError`` naming the known kinds when there is none)."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise KeyError(f"no event kind {kind!r}; the kinds are {', '.join(_BY_KIND)}") from None


class EventRecord:
    """One event as the stream delivered it: sequence number, simulated time, payload.

    What ``pytest_dryrun_event`` hooks, listeners and ``DryRunResult.events`` see.
    ``kind`` is the payload's :class:`EventKind`; ``payload`` the typed event itself
    (``record.payload.rail``).
    """

    __slots__ = ("payload", "seq", "ts_ms")

    def __init__(self, seq: int, ts_ms: int, payload: Event) -> None:
        self.seq = seq
        self.ts_ms = ts_ms
        self.payload = payload

    @property
    def kind(self) -> EventKind:
        return EventKind(self.payload.KIND)

    @property
    def ts(self) -> float:
        """Seconds since the Unix epoch on the simulated clock."""
        return self.ts_ms / 1000

    def matches(self, kind: str, fields: Mapping[str, object]) -> bool:
        """True when this is a ``kind`` event whose payload has every ``fields`` value."""
        payload = self.payload
        if payload.KIND != kind:
            return False
        missing = object()
        return all(getattr(payload, name, missing) == value for name, value in fields.items())

    def as_dict(self, run_id: str) -> dict[str, Any]:
        """The JSON shape of an ``events.jsonl`` line (plain data)."""
        return {
            "seq": self.seq,
            "ts": self.ts_ms / 1000,
            "kind": self.payload.KIND,
            "run_id": run_id,
            "payload": msgspec.to_builtins(self.payload),
        }

    def __repr__(self) -> str:
        return f"EventRecord(seq={self.seq}, ts_ms={self.ts_ms}, payload={self.payload!r})"


# -- metrics: what each metric counts, from which kinds and fields --------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Count:
    """A counter source: +1 per ``kind`` event, labels from ``fields`` (in label order)."""

    kind: type[Event]
    fields: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class StateOf:
    """A one-hot gauge: 1 for the value of ``field`` in the latest ``kind`` event, 0 for the rest."""

    kind: type[Event]
    field: str
    initial: str


@dataclasses.dataclass(frozen=True, slots=True)
class LastTime:
    """A gauge: simulated seconds of the latest event (of ``kind`` whose ``when`` field is true)."""

    kind: type[Event] | None = None
    when: str | None = None


Source = Count | StateOf | LastTime


@dataclasses.dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: name, type, help, label names, and the events it is computed from."""

    name: str
    type: Literal["counter", "gauge"]
    help: str
    labels: tuple[str, ...]
    sources: tuple[Source, ...] = ()
    #: not one of the runbook's ten (documented beside them)
    extra: bool = False


#: The runbook's ten metrics (DESIGN.md, Metrics) and the fault counters beside them.
METRIC_SPECS: Final[tuple[MetricSpec, ...]] = (
    MetricSpec(
        "orchestrator_state",
        "gauge",
        "1 for the session's current state, 0 for the others",
        ("state",),
        (StateOf(SessionStateEvent, "to_state", SessionState.INIT.value),),
    ),
    MetricSpec("last_audit_event_ts", "gauge", "simulated time of the last audit event, in seconds", (), (LastTime(),)),
    MetricSpec(
        "reconciler_last_ok_ts",
        "gauge",
        "simulated time of the last clean reconcile pass, in seconds",
        (),
        (LastTime(ReconcilePassEvent, "ok"),),
    ),
    MetricSpec(
        "safety_rail_trips_total", "counter", "safety rail trips", ("rail",), (Count(RailTripEvent, ("rail",)),)
    ),
    MetricSpec(
        "orders_place_total",
        "counter",
        "place requests by outcome",
        ("outcome",),
        (Count(OrderPlaceEvent, ("outcome",)),),
    ),
    MetricSpec(
        "orders_cancel_total",
        "counter",
        "cancel requests by outcome",
        ("outcome",),
        (Count(OrderCancelEvent, ("outcome",)),),
    ),
    MetricSpec(
        "orders_query_total",
        "counter",
        "order status queries by outcome",
        ("outcome",),
        (Count(OrderQueryEvent, ("outcome",)),),
    ),
    MetricSpec(
        "order_state_transitions_total",
        "counter",
        "order state transitions",
        ("from_state", "to_state"),
        (Count(OrderTransitionEvent, ("from_state", "to_state")),),
    ),
    MetricSpec(
        "reconcile_mismatches_total",
        "counter",
        "reconcile mismatches by kind",
        ("kind",),
        (Count(ReconcileMismatchEvent, ("kind",)),),
    ),
    MetricSpec(
        "retry_attempts_total",
        "counter",
        "retries of broker operations",
        ("op", "reason"),
        (Count(RetryEvent, ("op", "reason")),),
    ),
    MetricSpec(
        "faults_injected_total",
        "counter",
        "faults injected at the broker boundary",
        ("op", "fault"),
        (Count(FaultInjectedEvent, ("op", "fault")),),
        extra=True,
    ),
    MetricSpec(
        "faults_skipped_total",
        "counter",
        "scheduled faults that were not applied (skipped)",
        ("op", "fault"),
        (Count(FaultSkippedEvent, ("op", "fault")),),
        extra=True,
    ),
    MetricSpec(
        "orders_replace_total",
        "counter",
        "replace (amend) requests by outcome",
        ("outcome",),
        (Count(OrderReplaceEvent, ("outcome",)),),
        extra=True,
    ),
)


def _field_enum(kind: type[Event], field: str) -> type[Enum]:
    hints = typing.get_type_hints(kind)
    hint = hints[field]
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    raise TypeError(f"{kind.__name__}.{field} is {hint!r}: a metric label needs an enum field")


def label_values() -> dict[str, frozenset[str]]:
    """Every label name of :data:`METRIC_SPECS` and its allowed values: the enum of its field.

    A label fed by two fields (or two kinds) must see the same enum in each.
    """
    found: dict[str, type[Enum]] = {}
    for spec in METRIC_SPECS:
        for source in spec.sources:
            if isinstance(source, Count):
                pairs: tuple[tuple[str, str], ...] = tuple(zip(spec.labels, source.fields, strict=True))
            elif isinstance(source, StateOf):
                pairs = ((spec.labels[0], source.field),)
            else:
                continue
            for label, field in pairs:
                enum = _field_enum(source.kind, field)
                if found.setdefault(label, enum) is not enum:
                    raise TypeError(f"label {label!r} is fed by {found[label].__name__} and {enum.__name__}")
    return {label: frozenset(str(member.value) for member in enum) for label, enum in found.items()}


# -- the JSON Schema of an events.jsonl line ---------------------------------------------------


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of one ``events.jsonl`` line, generated from :data:`EVENT_TYPES`."""
    payloads, components = msgspec.json.schema_components(EVENT_TYPES, ref_template="#/$defs/{name}")
    variants = []
    for cls, ref in zip(EVENT_TYPES, payloads, strict=True):
        variants.append(
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["kind", "payload", "run_id", "seq", "ts"],
                "properties": {
                    "kind": {"const": cls.KIND},
                    "payload": ref,
                    "run_id": {"type": "string"},
                    "seq": {"type": "integer", "minimum": 1},
                    "ts": {"type": "number"},
                },
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "events.jsonl line",
        "description": "One fact of a dry run: {kind, payload, run_id, seq, ts}; payload by kind.",
        "oneOf": variants,
        "$defs": components,
    }


#: Decodes the payload text of one kind (validate uses these, one per kind).
PayloadDecoder = Callable[[bytes], Event]
