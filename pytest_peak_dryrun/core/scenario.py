"""Scenarios: what a dry run does, as data. Loadable from TOML and JSON, with built-ins.

A scenario names its seed and number of steps, the instruments, an order plan (explicit
intents at steps and/or a seeded generator), the broker's behaviour and fault schedule,
the rail limits and the reconcile interval. Errors name the file, the field and the
problem, because the person reading them is editing that file.
"""

from __future__ import annotations

import functools
import json
import random
import re
import sys
from collections.abc import Iterator, Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .broker import BrokerBehaviour, MockBrokerConfig
from .faults import FaultRate, FaultRule
from .input_bounds import DecimalShape, bound_problems, decimal_shape, format_loc, json_decimal, json_int, parse_failure
from .model import Money, OrderRequest
from .orders import OrderType, Side
from .rails import RailLimits
from .retry import RetryPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "BUILTIN_SCENARIOS",
    "MAX_STEPS",
    "SYMBOL_RE",
    "CancelIntent",
    "OrderGenerator",
    "PlaceIntent",
    "PlannedCancel",
    "PlannedOrder",
    "ReplaceIntent",
    "Scenario",
    "ScenarioError",
    "builtin_scenario",
    "load_scenario",
    "parse_scenario",
]

#: Hard upper bound on ``steps``; the plugin may configure a lower one.
MAX_STEPS: Final = 10_000_000
BUILTIN_SCENARIOS: Final = (
    "amend",
    "failure_matrix",
    "happy_path",
    "partial_fills",
    "tripwire",
    "venue_lifecycle",
)
SYMBOL_RE: Final = re.compile(r"^[A-Z0-9][A-Z0-9._:/-]{0,31}$")
_NAME_RE: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names the source, field and problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


_STRICT = ConfigDict(frozen=True, extra="forbid")


class PlaceIntent(BaseModel):
    """Place one order at ``step``. ``id`` lets a cancel intent refer to it."""

    model_config = _STRICT

    step: int = Field(ge=1)
    id: str | None = Field(default=None, pattern=_NAME_RE)
    instrument: str
    side: Side
    qty: Money
    order_type: OrderType = OrderType.MARKET
    limit_price: Money | None = None
    tif_steps: int | None = Field(default=None, ge=1)
    text: str | None = Field(default=None, max_length=256, description="free text; never written anywhere")

    def request(self) -> OrderRequest:
        return OrderRequest(
            instrument=self.instrument,
            side=self.side,
            qty=self.qty,
            order_type=self.order_type,
            limit_price=self.limit_price,
            tif_steps=self.tif_steps,
            text=self.text,
        )


class CancelIntent(BaseModel):
    """Cancel the order placed by the intent with id ``order`` at ``step``."""

    model_config = _STRICT

    step: int = Field(ge=1)
    order: str


class ReplaceIntent(BaseModel):
    """Amend the order placed by the intent with id ``order`` at ``step``: its new ``qty``
    and/or ``limit_price`` (at least one; the other stays). The broker must have
    ``replace_order`` (the preflight's ``broker_replace`` check)."""

    model_config = _STRICT

    step: int = Field(ge=1)
    order: str
    qty: Money | None = Field(default=None, gt=0, description="the new total quantity (filled part included)")
    limit_price: Money | None = Field(default=None, gt=0, description="the new limit price (LIMIT orders only)")

    @model_validator(mode="after")
    def _changes_something(self) -> ReplaceIntent:
        if self.qty is None and self.limit_price is None:
            raise ValueError("a replace needs qty and/or limit_price (the new terms)")
        return self


class OrderGenerator(BaseModel):
    """A seeded stream of orders: one draw per step, so memory does not grow with steps."""

    model_config = _STRICT

    probability: float = Field(default=1.0, ge=0.0, le=1.0, description="chance of an order at each step")
    start_step: int = Field(default=1, ge=1)
    stop_step: int | None = Field(default=None, ge=1, description="last step with an order (default: the last step)")
    qty_min: Money = Field(default=Decimal(1), gt=0)
    qty_max: Money = Field(default=Decimal(10), gt=0)
    limit_share: float = Field(default=0.0, ge=0.0, le=1.0, description="share of limit orders")
    limit_offset_ticks: int = Field(default=10, ge=0, description="limit distance from the reference price")
    cancel_share: float = Field(default=0.0, ge=0.0, le=1.0, description="share of orders canceled later")
    cancel_after_steps: int = Field(default=2, ge=1)
    tif_steps: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _range(self) -> OrderGenerator:
        if self.qty_max < self.qty_min:
            raise ValueError(f"qty_max {self.qty_max} is below qty_min {self.qty_min}")
        return self


class PlannedOrder:
    """One place action of the plan, resolved for a step (hot path: a slotted record)."""

    __slots__ = ("intent_id", "request")

    def __init__(self, intent_id: str | None, request: OrderRequest) -> None:
        self.intent_id = intent_id
        self.request = request


class PlannedCancel:
    """Cancel the order of ``intent_id``; ``last`` lets the orchestrator forget the mapping."""

    __slots__ = ("intent_id", "last")

    def __init__(self, intent_id: str, *, last: bool = False) -> None:
        self.intent_id = intent_id
        self.last = last


class Scenario(BaseModel):
    """Everything a dry run does. Same scenario and seed, same bytes in every artifact."""

    model_config = _STRICT

    name: str = Field(pattern=_NAME_RE)
    description: str = ""
    seed: int = 0
    steps: int = Field(ge=0, le=MAX_STEPS)
    instruments: dict[str, Money] = Field(
        default_factory=lambda: {"DEMO-EUR": Decimal("100.00")},
        description="symbol -> reference price; the instrument allowlist of the run",
    )
    orders: tuple[PlaceIntent, ...] = ()
    cancels: tuple[CancelIntent, ...] = ()
    replaces: tuple[ReplaceIntent, ...] = ()
    generator: OrderGenerator | None = None
    kill_switch_at: int | None = Field(default=None, ge=1, description="pull the kill switch at this step")
    broker: BrokerBehaviour = Field(default_factory=BrokerBehaviour)
    faults: tuple[FaultRule, ...] = ()
    fault_rate: FaultRate | None = None
    rails: RailLimits = Field(default_factory=RailLimits)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    reconcile_every: int = Field(default=5, ge=1, description="reconcile every k steps (and at stop)")
    stuck_after_steps: int = Field(default=50, ge=1, description="an order open longer is a stuck_order")
    stop_timeout_steps: int = Field(default=10, ge=0, description="steps stop() waits for cancels")
    fill_price_band: Money | None = Field(
        default=Decimal("0.5"),
        gt=0,
        description="a fill priced outside reference x (1 +/- band) is a bad_fill_price mismatch; null: no band",
    )
    starting_cash: Money = Decimal("1000000")
    metadata: dict[str, str] = Field(default_factory=dict, description="free-form; never written to any artifact")

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        # Before any field is validated: a 5000-digit seed or "1E+400000000" must end here,
        # as one line, not as a traceback from int(), repr() or decimal arithmetic later.
        problems = bound_problems(data, _scenario_decimals())
        if problems:
            raise ValueError("; ".join(problems))
        return data

    @field_validator("instruments")
    @classmethod
    def _symbols(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        if not value:
            raise ValueError("at least one instrument is needed")
        for symbol, price in value.items():
            if not SYMBOL_RE.match(symbol):
                raise ValueError(f"instrument {symbol!r} is not a valid symbol (A-Z, 0-9, ._:/-; at most 32)")
            if price <= 0:
                raise ValueError(f"reference price of {symbol} must be positive, got {price}")
        return dict(sorted(value.items()))

    @model_validator(mode="after")
    def _within_bounds(self) -> Scenario:
        problems: list[str] = []
        for i, fault in enumerate(self.faults):
            if fault.step > self.steps:
                problems.append(f"faults[{i}]: step {fault.step} is after the last step ({self.steps})")
        for i, order in enumerate(self.orders):
            if order.step > self.steps:
                problems.append(f"orders[{i}]: step {order.step} is after the last step ({self.steps})")
        ids = [o.id for o in self.orders if o.id is not None]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            problems.append(f"orders: duplicate id {', '.join(duplicates)}")
        for i, cancel in enumerate(self.cancels):
            if cancel.order not in ids:
                problems.append(f"cancels[{i}]: no order with id {cancel.order!r}")
            if cancel.step > self.steps:
                problems.append(f"cancels[{i}]: step {cancel.step} is after the last step ({self.steps})")
        placed = {o.id: o for o in self.orders if o.id is not None}
        for i, replace in enumerate(self.replaces):
            target = placed.get(replace.order)
            if target is None:
                problems.append(f"replaces[{i}]: no order with id {replace.order!r}")
            else:
                if replace.step < target.step:
                    problems.append(
                        f"replaces[{i}]: step {replace.step} is before order {replace.order!r} is placed "
                        f"(step {target.step})"
                    )
                if replace.limit_price is not None and target.order_type is not OrderType.LIMIT:
                    problems.append(
                        f"replaces[{i}]: order {replace.order!r} is a {target.order_type.value} order; "
                        "only a LIMIT order's limit_price can be replaced"
                    )
            if replace.step > self.steps:
                problems.append(f"replaces[{i}]: step {replace.step} is after the last step ({self.steps})")
        if self.kill_switch_at is not None and self.kill_switch_at > self.steps:
            problems.append(f"kill_switch_at: step {self.kill_switch_at} is after the last step ({self.steps})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def with_overrides(self, **changes: Any) -> Scenario:
        """A validated copy with ``seed``, ``steps`` (or any field) replaced.

        Fewer ``steps`` than the scenario has means "the first ``steps`` steps of it":
        intents, cancels and faults scheduled later are dropped rather than refused.
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        data = self.model_dump()
        data.update(changes)
        steps = changes.get("steps")
        if isinstance(steps, int) and steps < self.steps:
            kept = [o for o in data["orders"] if o["step"] <= steps]
            kept_ids = {o["id"] for o in kept if o["id"] is not None}
            data["orders"] = kept
            data["cancels"] = [c for c in data["cancels"] if c["step"] <= steps and c["order"] in kept_ids]
            data["replaces"] = [r for r in data["replaces"] if r["step"] <= steps and r["order"] in kept_ids]
            data["faults"] = [f for f in data["faults"] if f["step"] <= steps]
            if data["kill_switch_at"] is not None and data["kill_switch_at"] > steps:
                data["kill_switch_at"] = None
        return parse_scenario(data, source=f"scenario {self.name!r} with {', '.join(sorted(changes))} overridden")

    def broker_config(self) -> MockBrokerConfig:
        """The MockBroker's venue (behaviour, instruments, seed); faults are applied around it."""
        return MockBrokerConfig(**self.broker.model_dump(), instruments=self.instruments, seed=self.seed)

    def replace_plan(self) -> dict[int, list[ReplaceIntent]]:
        """The replaces by step, in file order within a step (explicit intents only: small)."""
        by_step: dict[int, list[ReplaceIntent]] = {}
        for replace in self.replaces:
            by_step.setdefault(replace.step, []).append(replace)
        return by_step

    def plan(self) -> Iterator[tuple[int, list[PlannedOrder], list[PlannedCancel]]]:
        """Yield ``(step, places, cancels)`` for every step 1..steps, lazily."""
        by_step_place: dict[int, list[PlannedOrder]] = {}
        referenced = {cancel.order for cancel in self.cancels} | {replace.order for replace in self.replaces}
        for intent in self.orders:
            # Only intents a cancel refers to need their order id remembered.
            intent_id = intent.id if intent.id in referenced else None
            by_step_place.setdefault(intent.step, []).append(PlannedOrder(intent_id, intent.request()))
        by_step_cancel: dict[int, list[PlannedCancel]] = {}
        for cancel in self.cancels:
            by_step_cancel.setdefault(cancel.step, []).append(PlannedCancel(cancel.order))
        gen = self.generator
        rng = random.Random(f"peak-dryrun:plan:{self.seed}")
        symbols = list(self.instruments)
        tick = self.broker.tick_size
        pending_cancels: dict[int, list[PlannedCancel]] = {}
        generated = 0
        for step in range(1, self.steps + 1):
            places = by_step_place.pop(step, [])
            cancels = by_step_cancel.pop(step, [])
            cancels.extend(pending_cancels.pop(step, ()))
            active = gen is not None and gen.start_step <= step <= (gen.stop_step or self.steps)
            if gen is not None and active and (gen.probability >= 1.0 or rng.random() < gen.probability):
                generated += 1
                planned = PlannedOrder(None, _generated_request(gen, rng, symbols, self.instruments, tick))
                places.append(planned)
                if gen.cancel_share > 0 and rng.random() < gen.cancel_share:
                    planned.intent_id = f"gen-{generated}"
                    pending_cancels.setdefault(step + gen.cancel_after_steps, []).append(
                        PlannedCancel(planned.intent_id, last=True)
                    )
            yield step, places, cancels


@functools.cache
def _scenario_decimals() -> DecimalShape | None:
    """Where a scenario's money and quantities are, from the models' own annotations."""
    return decimal_shape(Scenario)


def _generated_request(
    gen: OrderGenerator, rng: random.Random, symbols: list[str], prices: Mapping[str, Decimal], tick: Decimal
) -> OrderRequest:
    symbol = symbols[0] if len(symbols) == 1 else rng.choice(symbols)
    side = Side.BUY if rng.random() < 0.5 else Side.SELL
    if gen.qty_min == gen.qty_max:
        qty = gen.qty_min
    else:
        units = int((gen.qty_max - gen.qty_min) / tick)
        qty = gen.qty_min + rng.randint(0, units) * tick
    if gen.limit_share > 0 and rng.random() < gen.limit_share:
        offset = gen.limit_offset_ticks * tick
        ref = prices[symbol]
        limit = ref - offset if side is Side.BUY else ref + offset
        return OrderRequest(
            instrument=symbol,
            side=side,
            qty=qty,
            order_type=OrderType.LIMIT,
            limit_price=max(limit, tick),
            tif_steps=gen.tif_steps,
        )
    return OrderRequest(instrument=symbol, side=side, qty=qty, tif_steps=gen.tif_steps)


def parse_scenario(data: Any, *, source: str) -> Scenario:
    """Validate ``data`` (already parsed TOML/JSON) into a Scenario or raise ScenarioError."""
    if not isinstance(data, dict):
        raise ScenarioError(source, [f"expected a table/object at the top, got {type(data).__name__}"])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = format_loc(tuple(err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            problems.append(f"{loc}: {msg}" if loc else msg)
        raise ScenarioError(source, problems) from None


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario from a ``.toml`` or ``.json`` file."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(source, [f"cannot read file: {exc.strerror or exc}"]) from None
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ScenarioError(source, [f"unsupported file type {suffix!r}; use .toml or .json"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(source, [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        else:
            data = json.loads(text, parse_float=json_decimal, parse_int=json_int)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, [f"malformed TOML: {exc}"]) from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(source, [f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
    except (RecursionError, ValueError) as exc:
        # The parser gave up on its own (nesting past the recursion limit, an integer past
        # Python's int-to-text limit): locate it in the text instead.
        problem = parse_failure(text, suffix, exc)
        raise ScenarioError(source, [problem]) from None
    return parse_scenario(data, source=source)


def builtin_scenario(name: str) -> Scenario:
    """One of :data:`BUILTIN_SCENARIOS`, shipped as TOML inside the package."""
    if name not in BUILTIN_SCENARIOS:
        raise ScenarioError(
            f"scenario {name!r}",
            [
                f"no built-in scenario of that name; choose one of {', '.join(BUILTIN_SCENARIOS)}, "
                "or a path to a .toml/.json file"
            ],
        )
    text = resources.files("pytest_peak_dryrun.scenarios").joinpath(f"{name}.toml").read_text("utf-8")
    return parse_scenario(tomllib.loads(text), source=f"built-in scenario {name!r}")
