"""Bounded scenario input (issue 12): hostile values are one line naming file, field and limit.

Each case below was a traceback before: ``ValueError`` (a 5000-digit seed), ``RecursionError``
(nesting 100,000 levels deep) or ``decimal.Overflow`` (``qty = "1E+400000000"``, raised
mid-run after validation had accepted it).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.input_bounds import (
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    MAX_STRING_LENGTH,
    bound_problems,
    decimal_shape,
    describe_int,
)
from pytest_peak_dryrun.core.scenario import (
    OrderGenerator,
    PlaceIntent,
    Scenario,
    ScenarioError,
    builtin_scenario,
    load_scenario,
    parse_scenario,
)

SEED = "9" * 5000
DEEP = 100_000
INT_LIMIT = "integer of 5000 digits is outside the limit -2**63 .. 2**63-1"
DEPTH_LIMIT = f"nested deeper than the limit of {MAX_DEPTH} levels"
DECIMAL_LIMIT = "number 1E+400000000 is outside the limit 1E-28 .. 1E+28 (in magnitude)"
ORDER_TOML = '[[orders]]\nstep = 1\ninstrument = "DEMO-EUR"\nside = "BUY"\n'
ORDER_JSON = '{"step": 1, "instrument": "DEMO-EUR", "side": "BUY", '

CASES = [
    ("seed.toml", f'name = "x"\nsteps = 3\nseed = {SEED}\n', f"line 3: seed: {INT_LIMIT}"),
    ("seed.json", f'{{"name": "x", "steps": 3, "seed": {SEED}}}', f"seed: {INT_LIMIT}"),
    (
        "deep.toml",
        'name = "x"\nsteps = 3\nmetadata = ' + "[" * DEEP + "]" * DEEP + "\n",
        f"line 3: metadata: {DEPTH_LIMIT}",
    ),
    (
        "deep.json",
        '{"name": "x", "steps": 3, "metadata": ' + "[" * DEEP + "]" * DEEP + "}",
        f"line 1: metadata: {DEPTH_LIMIT}",
    ),
    (
        "deep_table.toml",
        'name = "x"\nsteps = 3\nmetadata = ' + "{a = " * DEEP + "1" + "}" * DEEP + "\n",
        f"line 3: metadata: {DEPTH_LIMIT}",
    ),
    ("qty.toml", f'name = "x"\nsteps = 3\n{ORDER_TOML}qty = "1E+400000000"\n', f"orders[0].qty: {DECIMAL_LIMIT}"),
    (
        "qty.json",
        f'{{"name": "x", "steps": 3, "orders": [{ORDER_JSON}"qty": "1E+400000000"}}]}}',
        f"orders[0].qty: {DECIMAL_LIMIT}",
    ),
    (
        "qty_number.json",
        f'{{"name": "x", "steps": 3, "orders": [{ORDER_JSON}"qty": 1E+400000000}}]}}',
        f"orders[0].qty: {DECIMAL_LIMIT}",
    ),
    (
        "gen.toml",
        'name = "x"\nsteps = 3\n[generator]\nqty_max = "1E+400000000"\n',
        f"generator.qty_max: {DECIMAL_LIMIT}",
    ),
    (
        "price.toml",
        'name = "x"\nsteps = 3\n[instruments]\n"DEMO-EUR" = "1E+400000000"\n',
        f"instruments.DEMO-EUR: {DECIMAL_LIMIT}",
    ),
    ("cash.json", '{"name": "x", "steps": 3, "starting_cash": 1E+400000000}', f"starting_cash: {DECIMAL_LIMIT}"),
    (
        "huge_exponent.json",
        '{"name": "x", "steps": 3, "starting_cash": 1e99999999999999999999999}',
        "starting_cash: number 1e99999999999999999999999 is outside the limit 1E-28 .. 1E+28 (in magnitude)",
    ),
    (
        "tick.toml",
        'name = "x"\nsteps = 3\n[broker]\ntick_size = "1E-400000000"\n',
        "broker.tick_size: number 1E-400000000 is outside the limit 1E-28 .. 1E+28 (in magnitude)",
    ),
    (
        "digits.toml",
        f'name = "x"\nsteps = 3\n{ORDER_TOML}qty = "{"1" * 40}"\n',
        "orders[0].qty: number of 40 characters has 40 significant digits; the limit is 28",
    ),
    (
        "long.toml",
        f'name = "x"\nsteps = 3\ndescription = "{"d" * 100_000}"\n',
        f"description: string of 100000 characters is longer than the limit of {MAX_STRING_LENGTH}",
    ),
    (
        "int.toml",
        f'name = "x"\nsteps = 3\n[rails]\nmax_open_orders = {10**30}\n',
        "rails.max_open_orders: integer of about 31 digits is outside the limit -2**63 .. 2**63-1",
    ),
]


@pytest.mark.parametrize(("name", "text", "problem"), CASES, ids=[c[0] for c in CASES])
def test_hostile_files_are_one_line_naming_file_field_and_limit(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: {problem}"
    assert "\n" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_values_at_the_limits_are_accepted(tmp_path: Path) -> None:
    scenario = parse_scenario(
        {
            "name": "edge",
            "steps": 3,
            "seed": INT_MAX,
            "description": "d" * MAX_STRING_LENGTH,
            "starting_cash": "9" * 28,
            "instruments": {"DEMO-EUR": "1E+28"},
            "generator": {"qty_min": "0.0000000000000000000000000001", "qty_max": "1"},
        },
        source="edge",
    )
    assert scenario.seed == INT_MAX
    assert parse_scenario({"name": "low", "steps": 1, "seed": INT_MIN}, source="low").seed == INT_MIN
    nested: object = "x"
    for _ in range(MAX_DEPTH - 1):
        nested = [nested]
    assert bound_problems({"a": nested}) == []
    assert bound_problems({"a": [nested]}) == [f"a{'[0]' * (MAX_DEPTH - 1)}: {DEPTH_LIMIT}"]


def test_text_that_only_reads_like_a_number_is_not_a_decimal() -> None:
    """Decimal bounds apply to money and quantities, found from the models' annotations."""
    scenario = parse_scenario(
        {
            "name": "1E99",
            "steps": 2,
            "instruments": {"1E30": "100"},
            "orders": [{"step": 1, "id": "1e99", "instrument": "1E30", "side": "BUY", "qty": "1"}],
            "cancels": [{"step": 2, "order": "1e99"}],
            "metadata": {"note": "1E+400000000"},
            "generator": {"probability": 1e-300},
        },
        source="numeric-looking",
    )
    assert scenario.metadata == {"note": "1E+400000000"}
    assert bound_problems({"qty": "1E+400000000"}) == []  # without a shape nothing is money
    assert bound_problems({"qty": "1E+400000000"}, decimal_shape(PlaceIntent)) == [f"qty: {DECIMAL_LIMIT}"]


def test_a_scenario_built_in_python_is_bounded_too() -> None:
    with pytest.raises(ValueError, match=r"seed: integer of about 5001 digits is outside the limit -2\*\*63"):
        Scenario(name="x", steps=3, seed=10**5000)
    order = PlaceIntent(step=1, instrument="DEMO-EUR", side="BUY", qty=Decimal("1E+400000000"))
    with pytest.raises(ValueError, match=r"orders\[0\]\.qty: number 1E\+400000000 is outside the limit"):
        Scenario(name="x", steps=3, orders=(order,))
    generator = OrderGenerator(qty_max=Decimal("1E+400000000"))
    with pytest.raises(ValueError, match=r"generator\.qty_max: number 1E\+400000000 is outside"):
        Scenario(name="x", steps=3, generator=generator)
    deep: object = "x"
    for _ in range(DEEP):
        deep = {"a": deep}
    with pytest.raises(ValueError, match=rf"metadata(\.a)+: {DEPTH_LIMIT}"):
        Scenario(name="x", steps=3, metadata=deep)


def test_an_override_is_bounded() -> None:
    with pytest.raises(ScenarioError, match=r"with seed overridden: seed: integer of about 5001 digits is outside"):
        builtin_scenario("happy_path").with_overrides(seed=10**5000)


def test_many_problems_stay_one_readable_line() -> None:
    problems = bound_problems({"orders": [{"qty": "1E+99"} for _ in range(50)]}, decimal_shape(Scenario))
    assert len(problems) == 6
    assert problems[-1] == "and 45 more value(s) beyond the limits"


def test_describe_int_never_converts_a_huge_integer() -> None:
    assert describe_int(42) == "42"
    assert describe_int(-(10**29)) == str(-(10**29))
    assert describe_int(10**5000) == "of about 5001 digits"


def test_a_bounded_scenario_runs_without_decimal_overflow(tmp_path: Path) -> None:
    """The largest accepted numbers still run to the end: the bounds keep arithmetic in context."""
    scenario = parse_scenario(
        json.loads(
            '{"name": "big", "steps": 4, "starting_cash": "1E+28", "instruments": {"DEMO-EUR": "1E+28"},'
            ' "generator": {"qty_min": "1E-28", "qty_max": "1E+28"}, "broker": {"tick_size": "1E-28"}}'
        ),
        source="big",
    )
    result = run_scenario(scenario, out_dir=tmp_path)
    assert result.state.value in {"STOPPED", "ERROR_REQUIRES_OPERATOR"}
