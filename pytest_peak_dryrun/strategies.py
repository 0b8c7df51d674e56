"""Hypothesis strategies for generated dry-run scenarios (deterministic simulation testing).

``scenarios(...)`` draws valid :class:`~pytest_peak_dryrun.Scenario` objects: orders (market
and limit, both sides, a time in force or none), cancels and replaces (amends) of them, a fault schedule (every
:class:`~pytest_peak_dryrun.FaultKind` on the operations it can be attached to, read from
:data:`~pytest_peak_dryrun.core.faults.FAULT_OPS`), a seeded fault rate, venue latencies and a
fill model. Everything else (instruments, rails, retry policy, reconcile interval, stop
timeout, ...) comes from ``base``. Hypothesis shrinks a failing scenario towards a small
schedule: fewer steps, orders, cancels and faults, seed 0, quantity 1, a market order, the
``immediate`` fill model, no latency, no fault rate.

This is the only module of the package that imports hypothesis: install it with the extra,
``pip install 'pytest-peak-dryrun[fuzz]'``. The ``dryrun_fuzz`` fixture runs these scenarios
through a suite's own broker and checks the invariant oracle after each one.

The intent kinds a scenario can hold are one table here, :data:`INTENT_FIELDS`: a test keeps
it equal to the scenario model's intent fields, so an intent added to the model (a replace)
cannot be left out of the generated schedules unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without hypothesis
    raise ImportError("pytest_peak_dryrun.strategies needs hypothesis: pip install 'pytest-peak-dryrun[fuzz]'") from exc

from .core.broker import FillModel
from .core.faults import FAULT_OPS, FaultKind
from .core.orders import OrderType, Side
from .core.scenario import Scenario, parse_scenario
from .core.vocab import BrokerOp

__all__ = ["INTENT_FIELDS", "IntentBuilder", "Shape", "scenarios"]

#: The fill models in shrinking order: the simplest first.
_FILL_MODELS: Final = (FillModel.IMMEDIATE, FillModel.PARTIAL, FillModel.PRICE_PATH, FillModel.NEVER)
_DEFAULT_BASE: Final = {"name": "generated", "steps": 1}
#: A generated quantity is 1..this many units (shrinks to 1).
_MAX_QTY: Final = 10
#: A limit price is the reference price +/- up to this many ticks (shrinks to the reference).
_MAX_LIMIT_TICKS: Final = 10
#: A cancel comes 0..this many steps after its order (shrinks to the same step).
_MAX_CANCEL_DELAY: Final = 3
#: A replace comes 0..this many steps after its order (shrinks to the same step).
_MAX_REPLACE_DELAY: Final = 3
#: A scheduled fault hits 1..this many calls (or fills).
_MAX_FAULT_TIMES: Final = 3
#: A fault rate is 1..this many percent.
_MAX_RATE_PERCENT: Final = 30


@dataclass(frozen=True)
class Shape:
    """The bounds of the generated scenarios (``scenarios``'s arguments, checked) and the base."""

    max_steps: int
    max_orders: int
    max_cancels: int
    max_replaces: int
    max_faults: int
    fault_kinds: tuple[FaultKind, ...]
    fault_rate: bool
    fill_models: tuple[FillModel, ...]
    sides: tuple[Side, ...]
    max_latency: int
    max_slices: int
    base: Scenario


#: Draws intent fields of a scenario: ``(draw, shape, steps, fields so far) -> {field: its list}``.
IntentBuilder = Callable[[st.DrawFn, Shape, int, Mapping[str, Any]], dict[str, list[dict[str, Any]]]]


def _enum_values(values: Iterable[Any] | None, enum: Any, default: Iterable[Any], name: str) -> tuple[Any, ...]:
    out = []
    for value in default if values is None else values:
        try:
            out.append(enum(value))
        except ValueError:
            allowed = ", ".join(str(member.value) for member in enum)
            raise ValueError(f"scenarios({name}=...): {value!r} is not one of {allowed}") from None
    if not out:
        raise ValueError(f"scenarios({name}=...): give at least one, or None for all")
    return tuple(dict.fromkeys(out))


def _bound(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"scenarios({name}=...): an integer >= {low}, got {value!r}")
    return value


def scenarios(
    *,
    max_steps: int = 12,
    max_orders: int = 4,
    max_cancels: int = 3,
    max_replaces: int = 2,
    max_faults: int = 3,
    fault_kinds: Iterable[FaultKind | str] | None = None,
    fault_rate: bool = True,
    fill_models: Iterable[FillModel | str] | None = None,
    sides: Iterable[Side | str] | None = None,
    max_latency: int = 2,
    max_slices: int = 4,
    base: Scenario | None = None,
) -> st.SearchStrategy[Scenario]:
    """A strategy of valid scenarios of 1 to ``max_steps`` steps.

    ``max_orders``, ``max_cancels``, ``max_replaces`` and ``max_faults`` bound the plan and the
    fault schedule (``max_replaces=0``: no ``[[replaces]]`` and no fault on the ``replace`` op,
    for a broker without ``replace_order``; the draws are then those of a strategy that knows
    no replaces, so a seed explores the same scenarios as before replaces existed);
    ``fault_kinds`` (default: every kind) are the kinds the schedule and the fault rate draw
    from; ``fault_rate=False`` leaves the seeded rate out; ``fill_models`` (default: all
    four), ``max_latency`` (acknowledgement and cancel latency, in steps) and ``max_slices``
    (of the ``partial`` model) shape the venue; ``sides`` (default: both) the orders.
    ``base`` is the scenario whose other fields every generated one keeps (instruments,
    rails, retry, reconcile interval, stop timeout, ...; default: the scenario defaults,
    ``DEMO-EUR`` at 100.00); its own plan, generator, kill switch and faults are replaced.
    A bad argument is a ``ValueError`` naming it.
    """

    if base is not None and not isinstance(base, Scenario):
        raise TypeError(f"scenarios(base=...): a Scenario, got {type(base).__name__}")
    shape = Shape(
        max_steps=_bound("max_steps", max_steps, 1),
        max_orders=_bound("max_orders", max_orders, 0),
        max_cancels=_bound("max_cancels", max_cancels, 0),
        max_replaces=_bound("max_replaces", max_replaces, 0),
        max_faults=_bound("max_faults", max_faults, 0),
        fault_kinds=_enum_values(fault_kinds, FaultKind, FaultKind, "fault_kinds"),
        fault_rate=bool(fault_rate),
        fill_models=_enum_values(fill_models, FillModel, _FILL_MODELS, "fill_models"),
        sides=_enum_values(sides, Side, Side, "sides"),
        max_latency=_bound("max_latency", max_latency, 0),
        max_slices=_bound("max_slices", max_slices, 1),
        base=base if base is not None else parse_scenario(dict(_DEFAULT_BASE), source="scenarios()"),
    )
    return _scenario(shape)


@st.composite
def _scenario(draw: st.DrawFn, shape: Shape) -> Scenario:
    data = shape.base.model_dump(mode="json")
    steps = draw(st.integers(min_value=1, max_value=shape.max_steps))
    data.update(steps=steps, seed=draw(st.integers(min_value=0, max_value=2**16)), generator=None, kill_switch_at=None)
    for build in INTENT_FIELDS.values():
        data.update(build(draw, shape, steps, data))
    data["faults"] = draw(st.lists(_fault_rule(shape, steps), max_size=shape.max_faults))
    data["fault_rate"] = draw(_fault_rate(shape)) if shape.fault_rate else None
    model = draw(st.sampled_from(shape.fill_models))
    data["broker"] = {
        **data["broker"],
        "fill_model": model.value,
        "ack_latency_steps": draw(st.integers(min_value=0, max_value=shape.max_latency)),
        "cancel_latency_steps": draw(st.integers(min_value=0, max_value=shape.max_latency)),
    }
    if model is FillModel.PARTIAL:
        # one slice would be the immediate model again: a partial venue slices
        data["broker"]["partial_slices"] = draw(
            st.integers(min_value=min(2, shape.max_slices), max_value=shape.max_slices)
        )
    if data["replaces"]:
        # drawn last, and only with replaces: the draws of a scenario without them stay the old ones
        data["broker"]["replace_latency_steps"] = draw(st.integers(min_value=0, max_value=shape.max_latency))
    return parse_scenario(data, source="scenarios()")


# -- intents ---------------------------------------------------------------------------------


def _orders_and_cancels(
    draw: st.DrawFn, shape: Shape, steps: int, fields: Mapping[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    # At least one order (when any is allowed): a scenario without one exercises nothing.
    # Each order is drawn with its own cancel, so deleting an order while shrinking deletes
    # its cancel with it and leaves every other draw where it was.
    drawn = draw(st.lists(_order(shape, steps), min_size=min(1, shape.max_orders), max_size=shape.max_orders))
    orders: list[dict[str, Any]] = []
    cancels: list[dict[str, Any]] = []
    replaces: list[dict[str, Any]] = []
    for number, (order, delay, replace) in enumerate(drawn, start=1):
        order["id"] = f"o{number}"
        orders.append(order)
        if delay is not None and len(cancels) < shape.max_cancels:
            cancels.append({"step": min(steps, order["step"] + delay), "order": order["id"]})
        if replace is not None and len(replaces) < shape.max_replaces:
            replaces.append({**replace, "step": min(steps, order["step"] + replace["step"]), "order": order["id"]})
    return {"orders": orders, "cancels": cancels, "replaces": replaces}


@st.composite
def _order(draw: st.DrawFn, shape: Shape, steps: int) -> tuple[dict[str, Any], int | None, dict[str, Any] | None]:
    """One order, maybe the number of steps after it that its cancel comes, and maybe its replace
    (``step`` the steps after the order; drawn only when ``max_replaces`` allows one)."""
    prices = shape.base.instruments
    symbol = draw(st.sampled_from(tuple(prices)))
    order: dict[str, Any] = {
        "step": draw(st.integers(min_value=1, max_value=steps)),
        "instrument": symbol,
        "side": draw(st.sampled_from(shape.sides)).value,
        "qty": str(draw(st.integers(min_value=1, max_value=_MAX_QTY))),
    }
    if draw(st.sampled_from((OrderType.MARKET, OrderType.LIMIT))) is OrderType.LIMIT:
        tick = shape.base.broker.tick_size
        ticks = draw(st.integers(min_value=-_MAX_LIMIT_TICKS, max_value=_MAX_LIMIT_TICKS))
        order["order_type"] = OrderType.LIMIT.value
        order["limit_price"] = format(max(tick, prices[symbol] + ticks * tick), "f")
    tif = draw(st.none() | st.integers(min_value=1, max_value=steps))
    if tif is not None:
        order["tif_steps"] = tif
    cancel_after = draw(st.none() | st.integers(min_value=0, max_value=_MAX_CANCEL_DELAY))
    # Drawn after everything that was drawn before replaces existed: with max_replaces=0 the
    # draws are exactly the old ones.
    replace = draw(st.none() | _replace(shape, order)) if shape.max_replaces else None
    return order, cancel_after, replace


@st.composite
def _replace(draw: st.DrawFn, shape: Shape, order: Mapping[str, Any]) -> dict[str, Any]:
    """New terms for ``order``: a quantity (shrinks to 1), and for a limit order maybe a new limit."""
    replace: dict[str, Any] = {"step": draw(st.integers(min_value=0, max_value=_MAX_REPLACE_DELAY))}
    limit = order.get("limit_price")
    what = draw(st.sampled_from(("qty", "limit_price", "both"))) if limit is not None else "qty"
    if what != "limit_price":
        replace["qty"] = str(draw(st.integers(min_value=1, max_value=_MAX_QTY)))
    if what != "qty":
        tick = shape.base.broker.tick_size
        ticks = draw(st.integers(min_value=-_MAX_LIMIT_TICKS, max_value=_MAX_LIMIT_TICKS))
        replace["limit_price"] = format(max(tick, shape.base.instruments[order["instrument"]] + ticks * tick), "f")
    return replace


#: The intent fields of :class:`~pytest_peak_dryrun.Scenario` (joined by ``+``) and the builder
#: that draws them, in order (a later builder sees the fields drawn before it). Intents that
#: refer to an order are drawn with it: shrinking deletes them together.
INTENT_FIELDS: Final[Mapping[str, IntentBuilder]] = {"orders+cancels+replaces": _orders_and_cancels}


# -- faults -------------------------------------------------------------------------------------


def _op_order(op: BrokerOp) -> int:
    return list(BrokerOp).index(op)


def _ops(shape: Shape, ops: Iterable[BrokerOp]) -> list[BrokerOp]:
    """``ops`` in BrokerOp order; without replaces in the plan, ``replace`` left out (a fault on
    it could never fire, and drawing it would move every later draw)."""
    return sorted((op for op in ops if shape.max_replaces or op is not BrokerOp.REPLACE), key=_op_order)


@st.composite
def _fault_rule(draw: st.DrawFn, shape: Shape, steps: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(shape.fault_kinds))
    rule: dict[str, Any] = {
        "step": draw(st.integers(min_value=0, max_value=steps)),
        # the ops this kind can be attached to, from FAULT_OPS (sorted: a frozenset's
        # iteration order is not the same in every process)
        "op": draw(st.sampled_from(_ops(shape, FAULT_OPS[kind]))).value,
        "kind": kind.value,
        "times": draw(st.integers(min_value=1, max_value=_MAX_FAULT_TIMES)),
    }
    if kind is FaultKind.DROPPED_ACK:
        for_steps = draw(st.none() | st.integers(min_value=1, max_value=steps))
        if for_steps is not None:
            rule["for_steps"] = for_steps
    return rule


def _fault_rate(shape: Shape) -> st.SearchStrategy[dict[str, Any] | None]:
    ops = tuple(_ops(shape, {op for kind in shape.fault_kinds for op in FAULT_OPS[kind]}))
    return st.none() | st.fixed_dictionaries(
        {
            "rate": st.integers(min_value=1, max_value=_MAX_RATE_PERCENT).map(lambda percent: percent / 100),
            "kinds": st.lists(st.sampled_from(shape.fault_kinds), min_size=1, unique=True).map(
                lambda kinds: [kind.value for kind in kinds]
            ),
            "ops": st.lists(st.sampled_from(ops), min_size=1, unique=True).map(
                lambda chosen: [op.value for op in chosen]
            ),
        }
    )
