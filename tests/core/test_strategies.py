"""``pytest_peak_dryrun.strategies.scenarios``: valid, sized, covering, shrinking, deterministic."""

from __future__ import annotations

import subprocess
import sys
import typing
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import seed as hypothesis_seed
from pydantic import BaseModel

from pytest_peak_dryrun.core.broker import FillModel
from pytest_peak_dryrun.core.faults import FAULT_OPS, FaultKind
from pytest_peak_dryrun.core.scenario import Scenario, parse_scenario
from pytest_peak_dryrun.core.vocab import BrokerOp
from pytest_peak_dryrun.strategies import INTENT_FIELDS, scenarios

QUICK = settings(
    max_examples=300, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
)


def draw_many(strategy: Any, examples: int = 300, seed: int = 0) -> list[Scenario]:
    drawn: list[Scenario] = []

    @hypothesis_seed(seed)
    @settings(QUICK, max_examples=examples)
    @given(strategy)
    def collect(scenario: Scenario) -> None:
        drawn.append(scenario)

    collect()
    return drawn


def test_generated_scenarios_are_valid_and_within_their_bounds() -> None:
    base = parse_scenario(
        {
            "name": "mine",
            "steps": 1,
            "instruments": {"DEMO-EUR": "100.00", "DEMO-USD": "1.10"},
            "rails": {"max_open_orders": 3},
        },
        source="test",
    )
    for scenario in draw_many(scenarios(max_steps=5, max_orders=2, max_cancels=1, max_faults=2, base=base)):
        assert Scenario.model_validate(scenario.model_dump()) == scenario
        assert 1 <= scenario.steps <= 5
        assert 1 <= len(scenario.orders) <= 2
        assert len(scenario.cancels) <= 1
        assert len(scenario.faults) <= 2
        assert scenario.instruments == base.instruments
        assert scenario.rails == base.rails
        assert scenario.generator is None
        assert scenario.kill_switch_at is None
        for order in scenario.orders:
            assert order.instrument in base.instruments
            assert 1 <= order.qty <= 10
        for fault in scenario.faults:
            assert fault.op in FAULT_OPS[fault.kind]
        assert scenario.broker.ack_latency_steps <= 2
        assert scenario.broker.cancel_latency_steps <= 2
        if scenario.broker.fill_model is FillModel.PARTIAL:
            assert 2 <= scenario.broker.partial_slices <= 4


def test_together_they_cover_every_fault_kind_on_every_op_it_allows_and_every_fill_model() -> None:
    drawn = draw_many(scenarios(), examples=600)
    pairs = {(f.kind, f.op) for s in drawn for f in s.faults}
    assert pairs == {(kind, op) for kind, ops in FAULT_OPS.items() for op in ops}
    assert {s.broker.fill_model for s in drawn} == set(FillModel)
    rates = [s.fault_rate for s in drawn if s.fault_rate is not None]
    assert {k for r in rates for k in r.kinds} == set(FaultKind)
    assert {(o.order_type.value, o.side.value) for s in drawn for o in s.orders} == {
        ("MARKET", "BUY"),
        ("MARKET", "SELL"),
        ("LIMIT", "BUY"),
        ("LIMIT", "SELL"),
    }
    assert any(s.cancels for s in drawn)
    assert any(o.tif_steps for s in drawn for o in s.orders)
    assert any(s.broker.ack_latency_steps for s in drawn)
    assert any(s.broker.cancel_latency_steps for s in drawn)
    replaces = [r for s in drawn for r in s.replaces]
    assert {(r.qty is not None, r.limit_price is not None) for r in replaces} == {
        (True, False),
        (False, True),
        (True, True),
    }
    assert any(s.broker.replace_latency_steps for s in drawn)
    assert all(len(s.replaces) <= 2 for s in drawn)


def test_without_replaces_nothing_of_replace_is_drawn() -> None:
    # (for a broker without replace_order: dryrun_fuzz's default strategy then)
    drawn = draw_many(scenarios(max_replaces=0), examples=300)
    assert not any(s.replaces for s in drawn)
    assert not any(f.op is BrokerOp.REPLACE for s in drawn for f in s.faults)
    assert not any(BrokerOp.REPLACE in s.fault_rate.ops for s in drawn if s.fault_rate is not None)
    assert not any(s.broker.replace_latency_steps for s in drawn)


def test_the_arguments_narrow_the_draw() -> None:
    drawn = draw_many(
        scenarios(fault_kinds=["cancel_race"], fault_rate=False, fill_models=["never"], max_latency=0), examples=100
    )
    assert {f.kind for s in drawn for f in s.faults} == {FaultKind.CANCEL_RACE}
    assert all(s.fault_rate is None and s.broker.fill_model is FillModel.NEVER for s in drawn)
    assert all(s.broker.ack_latency_steps == s.broker.cancel_latency_steps == 0 for s in drawn)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_steps": 0}, "scenarios(max_steps=...): an integer >= 1, got 0"),
        ({"max_orders": True}, "scenarios(max_orders=...): an integer >= 0, got True"),
        ({"fault_kinds": ["timeout", "meltdown"]}, "scenarios(fault_kinds=...): 'meltdown' is not one of rate_limit, "),
        ({"fill_models": []}, "scenarios(fill_models=...): give at least one, or None for all"),
        ({"base": {"name": "x"}}, "scenarios(base=...): a Scenario, got dict"),
    ],
)
def test_a_bad_argument_is_one_clear_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        scenarios(**kwargs)
    assert str(info.value).startswith(message)


def test_a_failing_scenario_shrinks_to_a_small_schedule() -> None:
    # the smallest scenario with a limit order and a fault, as far as hypothesis's shrinker gets
    # (a heuristic: it need not reach the one minimum, but every part is at its simplest)
    found = find(
        scenarios(),
        lambda s: any(o.order_type == "LIMIT" for o in s.orders) and bool(s.faults),
        settings=settings(database=None, derandomize=True, max_examples=2000, suppress_health_check=list(HealthCheck)),
    )
    assert (found.steps, found.seed, found.fault_rate, found.cancels) == (1, 0, None, ())
    assert len(found.orders) <= 2
    assert {(o.step, o.side.value, o.qty, o.tif_steps) for o in found.orders} == {(1, "BUY", Decimal("1"), None)}
    assert [o.limit_price for o in found.orders if o.order_type == "LIMIT"] == [Decimal("100.00")]  # at the reference
    assert [(f.step, f.times) for f in found.faults] == [(0, 1)]
    assert found.broker.fill_model is FillModel.IMMEDIATE
    assert found.broker.ack_latency_steps == found.broker.cancel_latency_steps == 0


def test_every_intent_field_of_the_scenario_model_is_generated() -> None:
    # A new intent kind in the model (a [[replaces]] table) must get a builder here too.
    def is_intent_list(annotation: Any) -> bool:
        args = typing.get_args(annotation)
        return (
            typing.get_origin(annotation) is tuple
            and bool(args)
            and isinstance(args[0], type)
            and issubclass(args[0], BaseModel)
            and "step" in args[0].model_fields
        )

    intents = {name for name, field in Scenario.model_fields.items() if is_intent_list(field.annotation)}
    assert intents - {"faults"} == {field for fields in INTENT_FIELDS for field in fields.split("+")}


DRAW_SCRIPT = """
import hashlib
from hypothesis import HealthCheck, Phase, given, seed, settings
from pytest_peak_dryrun.core.scenario_writer import scenario_text
from pytest_peak_dryrun.strategies import scenarios
texts = []
@seed(7)
@settings(max_examples=40, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
@given(scenarios())
def draw(s):
    texts.append(scenario_text(s)[1])
draw()
print(hashlib.sha256("".join(texts).encode()).hexdigest())
"""


def test_the_same_seed_draws_the_same_scenarios_in_any_process() -> None:
    def digest(hashseed: str) -> str:
        env = {"PYTHONHASHSEED": hashseed, "PATH": "/usr/bin:/bin"}
        out = subprocess.run([sys.executable, "-c", DRAW_SCRIPT], capture_output=True, text=True, env=env, check=True)
        return out.stdout.strip()

    assert digest("0") == digest("12345") == digest("random")


def test_only_the_strategies_module_imports_hypothesis() -> None:
    code = (
        "import importlib, pkgutil, sys, pytest_peak_dryrun as p\n"
        "for m in pkgutil.walk_packages(p.__path__, 'pytest_peak_dryrun.'):\n"
        "    if m.name not in ('pytest_peak_dryrun.strategies', 'pytest_peak_dryrun.__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "print('hypothesis' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_hypothesis_the_import_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['hypothesis'] = None\n"
        "try:\n"
        "    import pytest_peak_dryrun.strategies\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "pytest_peak_dryrun.strategies needs hypothesis: pip install 'pytest-peak-dryrun[fuzz]'"
    )
