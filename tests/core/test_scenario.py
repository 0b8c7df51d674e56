"""Scenarios: loading from TOML and JSON, clear errors, built-ins, the seeded generator."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pytest_peak_dryrun.core.broker import BrokerOp, FillModel, MockBrokerConfig
from pytest_peak_dryrun.core.faults import FaultKind
from pytest_peak_dryrun.core.orders import OrderType, Side
from pytest_peak_dryrun.core.scenario import (
    BUILTIN_SCENARIOS,
    CancelIntent,
    OrderGenerator,
    PlaceIntent,
    Scenario,
    ScenarioError,
    builtin_scenario,
    load_scenario,
    parse_scenario,
)

D = Decimal

TOML = """
name = "from-toml"
description = "a small scenario"
seed = 42
steps = 6
reconcile_every = 2

[instruments]
"DEMO-USD" = "50.00"
"DEMO-EUR" = "100.00"

[broker]
fill_model = "partial"
partial_slices = 3

[rails]
max_order_qty = "25"

[[orders]]
step = 1
id = "first"
instrument = "DEMO-EUR"
side = "BUY"
qty = "1.50"

[[orders]]
step = 2
instrument = "DEMO-USD"
side = "SELL"
qty = "3"
order_type = "LIMIT"
limit_price = "50.25"
tif_steps = 2

[[cancels]]
step = 3
order = "first"

[[faults]]
step = 2
op = "place"
kind = "rate_limit"
times = 2
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, name: str, text: str) -> tuple[str, list[str]]:
    path = write(tmp_path, name, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}: ")
    return str(info.value), info.value.problems


def test_load_toml(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, "s.toml", TOML))
    assert scenario.name == "from-toml"
    assert scenario.seed == 42
    assert scenario.steps == 6
    assert scenario.reconcile_every == 2
    # instruments are sorted by symbol
    assert list(scenario.instruments.items()) == [("DEMO-EUR", D("100.00")), ("DEMO-USD", D("50.00"))]
    assert scenario.broker.fill_model is FillModel.PARTIAL
    assert scenario.broker.partial_slices == 3
    assert scenario.rails.max_order_qty == D("25")
    first, second = scenario.orders
    assert first == PlaceIntent(step=1, id="first", instrument="DEMO-EUR", side=Side.BUY, qty=D("1.50"))
    assert str(first.qty) == "1.50"
    assert second.order_type is OrderType.LIMIT
    assert second.limit_price == D("50.25")
    assert second.tif_steps == 2
    assert scenario.cancels == (CancelIntent(step=3, order="first"),)
    (fault,) = scenario.faults
    assert (fault.step, fault.op, fault.kind, fault.times) == (2, BrokerOp.PLACE, FaultKind.RATE_LIMIT, 2)


def test_load_json_keeps_decimals_exact(tmp_path: Path) -> None:
    data = {
        "name": "from-json",
        "steps": 3,
        "instruments": {"DEMO-EUR": 100.10},
        "orders": [{"step": 1, "instrument": "DEMO-EUR", "side": "BUY", "qty": 1.50}],
    }
    scenario = load_scenario(write(tmp_path, "s.json", json.dumps(data)))
    assert scenario.name == "from-json"
    assert str(scenario.instruments["DEMO-EUR"]) == "100.1"
    assert str(scenario.orders[0].qty) == "1.5"
    # a literal 1.50 in the file stays 1.50 (parsed as Decimal, never as a float)
    text = '{"name": "j", "steps": 1, "orders": [{"step": 1, "instrument": "DEMO-EUR", "side": "BUY", "qty": 1.50}]}'
    assert str(load_scenario(write(tmp_path, "t.json", text)).orders[0].qty) == "1.50"


def test_toml_and_json_give_the_same_scenario(tmp_path: Path) -> None:
    from_toml = load_scenario(write(tmp_path, "s.toml", TOML))
    as_json = json.dumps(from_toml.model_dump(mode="json"))
    assert load_scenario(write(tmp_path, "s.json", as_json)) == from_toml


def test_defaults() -> None:
    scenario = Scenario(name="bare", steps=0)
    assert scenario.seed == 0
    assert scenario.instruments == {"DEMO-EUR": D("100.00")}
    assert scenario.orders == ()
    assert scenario.reconcile_every == 5
    assert scenario.stuck_after_steps == 50
    assert scenario.stop_timeout_steps == 10
    assert scenario.starting_cash == D("1000000")
    assert scenario.fill_price_band == D("0.5")
    assert scenario.rails.max_consecutive_rejects == 5
    assert scenario.retry.max_attempts == 3
    assert list(scenario.plan()) == []


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_every_builtin_scenario_loads(name: str) -> None:
    scenario = builtin_scenario(name)
    assert scenario.name == name
    assert scenario.steps > 0
    assert scenario.orders
    steps = [step for step, _, _ in scenario.plan()]
    assert steps == list(range(1, scenario.steps + 1))


def test_builtin_catalogue() -> None:
    assert BUILTIN_SCENARIOS == (
        "amend",
        "failure_matrix",
        "happy_path",
        "partial_fills",
        "tripwire",
        "venue_lifecycle",
    )
    fm = builtin_scenario("failure_matrix")
    assert (fm.seed, fm.steps, fm.reconcile_every) == (3, 24, 4)
    assert [f.kind.value for f in fm.faults] == [
        "rate_limit",
        "timeout",
        "transient_unavailable",
        "duplicate_fill",
        "cancel_race",
        "out_of_order_fill",
    ]
    # The venue decides in venue_lifecycle: its size limit is the broker's, no rail is set.
    vl = builtin_scenario("venue_lifecycle")
    assert (vl.seed, vl.steps, vl.reconcile_every) == (13, 16, 4)
    assert vl.broker.max_order_qty == D("100")
    assert vl.rails.max_order_qty is None
    assert max(o.qty for o in vl.orders) > vl.broker.max_order_qty
    assert [o.tif_steps for o in vl.orders if o.tif_steps is not None] == [4]
    assert [(f.op.value, f.kind.value, f.for_steps) for f in vl.faults] == [("place", "dropped_ack", 3)]


def test_unknown_builtin_lists_the_candidates() -> None:
    with pytest.raises(ScenarioError) as info:
        builtin_scenario("sad_path")
    assert str(info.value) == (
        "scenario 'sad_path': no built-in scenario of that name; choose one of "
        "amend, failure_matrix, happy_path, partial_fills, tripwire, venue_lifecycle, or a path to a .toml/.json file"
    )


# -- errors name the file, the field and the problem ------------------------------------------


def test_malformed_toml(tmp_path: Path) -> None:
    _message, problems = problems_of(tmp_path, "bad.toml", 'name = "x"\nsteps = \n')
    assert problems == ["malformed TOML: Invalid value (at line 2, column 9)"]


def test_malformed_json(tmp_path: Path) -> None:
    _message, problems = problems_of(tmp_path, "bad.json", '{"name": "x", "steps": 3,}')
    assert problems == ["malformed JSON: Expecting property name enclosed in double quotes at line 1 column 26"]


def test_json_top_level_must_be_an_object(tmp_path: Path) -> None:
    _, problems = problems_of(tmp_path, "list.json", "[1, 2]")
    assert problems == ["expected a table/object at the top, got list"]


def test_unknown_field(tmp_path: Path) -> None:
    _, problems = problems_of(tmp_path, "unk.toml", 'name = "x"\nsteps = 3\nstpes = 4\n')
    assert problems == ["stpes: unknown field"]


def test_unknown_nested_field(tmp_path: Path) -> None:
    text = (
        'name = "x"\nsteps = 3\n[[orders]]\nstep = 1\ninstrument = "DEMO-EUR"\nside = "BUY"\nqty = "1"\nprice = "2"\n'
    )
    _, problems = problems_of(tmp_path, "unk.toml", text)
    assert problems == ["orders[0].price: unknown field"]


def test_wrong_type(tmp_path: Path) -> None:
    _, problems = problems_of(tmp_path, "type.toml", 'name = "x"\nsteps = "ten"\n')
    assert problems == ["steps: Input should be a valid integer, unable to parse string as an integer"]


def test_wrong_enum_value(tmp_path: Path) -> None:
    text = 'name = "x"\nsteps = 3\n[broker]\nfill_model = "sometimes"\n'
    _, problems = problems_of(tmp_path, "enum.toml", text)
    assert problems == ["broker.fill_model: Input should be 'immediate', 'partial', 'price_path' or 'never'"]


def test_negative_steps(tmp_path: Path) -> None:
    _, problems = problems_of(tmp_path, "neg.toml", 'name = "x"\nsteps = -1\n')
    assert problems == ["steps: Input should be greater than or equal to 0"]


def test_fault_after_the_last_step(tmp_path: Path) -> None:
    text = 'name = "x"\nsteps = 5\n[[faults]]\nstep = 9\nop = "place"\nkind = "timeout"\n'
    _message, problems = problems_of(tmp_path, "late.toml", text)
    assert len(problems) == 1
    assert problems[0].endswith("faults[0]: step 9 is after the last step (5)")


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    text = (
        'name = "x"\nsteps = 5\nkill_switch_at = 6\n'
        '[[orders]]\nstep = 8\ninstrument = "DEMO-EUR"\nside = "BUY"\nqty = "1"\n'
        '[[cancels]]\nstep = 7\norder = "a"\n'
    )
    _message, (problem,) = problems_of(tmp_path, "many.toml", text)
    for part in (
        "orders[0]: step 8 is after the last step (5)",
        "cancels[0]: no order with id 'a'",
        "cancels[0]: step 7 is after the last step (5)",
        "kill_switch_at: step 6 is after the last step (5)",
    ):
        assert part in problem


def test_cancel_of_an_unknown_order_id(tmp_path: Path) -> None:
    text = 'name = "x"\nsteps = 5\n[[cancels]]\nstep = 2\norder = "nope"\n'
    _, problems = problems_of(tmp_path, "cancel.toml", text)
    assert len(problems) == 1
    assert problems[0].endswith("cancels[0]: no order with id 'nope'")


def test_duplicate_order_ids(tmp_path: Path) -> None:
    order = '[[orders]]\nstep = 1\nid = "a"\ninstrument = "DEMO-EUR"\nside = "BUY"\nqty = "1"\n'
    _, problems = problems_of(tmp_path, "dup.toml", 'name = "x"\nsteps = 5\n' + order + order)
    assert problems[0].endswith("orders: duplicate id a")


@pytest.mark.parametrize("symbol", ["demo eur", "-EUR", "A" * 33, ""])
def test_bad_instrument_symbol(tmp_path: Path, symbol: str) -> None:
    text = f'name = "x"\nsteps = 5\n[instruments]\n"{symbol}" = "1"\n'
    _, problems = problems_of(tmp_path, "sym.toml", text)
    assert problems == [f"instruments: instrument {symbol!r} is not a valid symbol (A-Z, 0-9, ._:/-; at most 32)"]


def test_non_positive_reference_price(tmp_path: Path) -> None:
    _, problems = problems_of(tmp_path, "p.toml", 'name = "x"\nsteps = 5\n[instruments]\n"DEMO-EUR" = "0"\n')
    assert problems == ["instruments: reference price of DEMO-EUR must be positive, got 0"]


def test_empty_instruments(tmp_path: Path) -> None:
    _, problems = problems_of(tmp_path, "e.toml", 'name = "x"\nsteps = 5\ninstruments = {}\n')
    assert problems == ["instruments: at least one instrument is needed"]


def test_fault_kind_on_the_wrong_op(tmp_path: Path) -> None:
    text = 'name = "x"\nsteps = 5\n[[faults]]\nstep = 2\nop = "place"\nkind = "duplicate_fill"\n'
    _, problems = problems_of(tmp_path, "op.toml", text)
    assert problems == ["faults[0]: fault 'duplicate_fill' cannot be attached to op 'place'; use op 'fills'"]


def test_missing_file_and_unsupported_suffix(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError, match=r"nope\.toml: cannot read file: No such file or directory"):
        load_scenario(missing)
    _, problems = problems_of(tmp_path, "s.yaml", "name: x\n")
    assert problems == ["unsupported file type '.yaml'; use .toml or .json"]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems == ["not UTF-8 text (invalid start byte at byte 0)"]


def test_parse_scenario_names_its_source() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario({"name": "x"}, source="marker of test_x")
    assert str(info.value) == "marker of test_x: steps: Field required"


# -- the plan ---------------------------------------------------------------------------------


def _plan(scenario: Scenario) -> list[Any]:
    out = []
    for step, places, cancels in scenario.plan():
        out.append(
            (
                step,
                [(p.intent_id, p.request.to_dict()) for p in places],
                [c.intent_id for c in cancels],
            )
        )
    return out


def test_explicit_plan_puts_intents_at_their_steps(tmp_path: Path) -> None:
    plan = _plan(load_scenario(write(tmp_path, "s.toml", TOML)))
    assert [(step, [p[0] for p in places], cancels) for step, places, cancels in plan] == [
        (1, ["first"], []),
        (2, [None], []),
        (3, [], ["first"]),
        (4, [], []),
        (5, [], []),
        (6, [], []),
    ]
    assert plan[1][1][0][1] == {
        "instrument": "DEMO-USD",
        "side": "SELL",
        "qty": "3",
        "order_type": "LIMIT",
        "limit_price": "50.25",
        "tif_steps": 2,
    }


def _generated(seed: int, **gen: Any) -> Scenario:
    fields: dict[str, Any] = {
        "probability": 0.6,
        "limit_share": 0.4,
        "cancel_share": 0.3,
        "qty_min": "1",
        "qty_max": "5",
        **gen,
    }
    return Scenario(
        name="gen",
        seed=seed,
        steps=40,
        instruments={"DEMO-EUR": D("100.00"), "DEMO-USD": D("50.00")},
        generator=OrderGenerator(**fields),
    )


def test_generator_is_seeded() -> None:
    first = _plan(_generated(seed=1))
    assert first == _plan(_generated(seed=1))
    assert first != _plan(_generated(seed=2))
    places = [p for _, ps, _ in first for p in ps]
    cancels = [c for _, _, cs in first for c in cs]
    assert 10 <= len(places) <= 35
    # generated orders are numbered; the id is kept where a cancel needs it
    for number, place in enumerate(places, start=1):
        assert place[0] in (None, f"gen-{number}")
    assert {p[1]["instrument"] for p in places} == {"DEMO-EUR", "DEMO-USD"}
    assert {p[1]["order_type"] for p in places} == {"MARKET", "LIMIT"}
    assert all(D("1") <= D(p[1]["qty"]) <= D("5") for p in places)
    assert cancels
    assert set(cancels) <= {p[0] for p in places if p[0] is not None}


def test_generated_limits_sit_off_the_reference_price() -> None:
    plan = _plan(_generated(seed=3, limit_share=1.0, limit_offset_ticks=10))
    for _, places, _ in plan:
        for _, request in places:
            ref = {"DEMO-EUR": D("100.00"), "DEMO-USD": D("50.00")}[request["instrument"]]
            offset = D("0.10") if request["side"] == "SELL" else D("-0.10")
            assert D(request["limit_price"]) == ref + offset


def test_generated_cancels_come_cancel_after_steps_later() -> None:
    plan = _plan(_generated(seed=4, cancel_share=1.0, cancel_after_steps=3, probability=1.0))
    placed_at = {p[0]: step for step, places, _ in plan for p in places}
    for step, _, cancels in plan:
        for intent_id in cancels:
            assert step == placed_at[intent_id] + 3


def test_generator_window_and_fixed_quantity() -> None:
    scenario = Scenario(
        name="window",
        steps=10,
        generator=OrderGenerator(start_step=3, stop_step=5, qty_min=D("2"), qty_max=D("2")),
    )
    plan = _plan(scenario)
    assert [step for step, places, _ in plan if places] == [3, 4, 5]
    assert {p[1]["qty"] for _, places, _ in plan for p in places} == {"2"}


def test_generator_refuses_an_empty_range() -> None:
    with pytest.raises(ValueError, match="qty_max 1 is below qty_min 2"):
        OrderGenerator(qty_min=D("2"), qty_max=D("1"))


# -- helpers ------------------------------------------------------------------------------------


def test_with_overrides_validates_the_copy() -> None:
    scenario = builtin_scenario("happy_path")
    changed = scenario.with_overrides(seed=99, steps=None)
    assert changed.seed == 99
    assert changed.steps == scenario.steps
    assert changed.orders == scenario.orders
    # fewer steps keep the first steps of the scenario: later intents are dropped
    shorter = scenario.with_overrides(steps=3)
    assert shorter.steps == 3
    assert [o.step for o in shorter.orders] == [1, 2]
    fm = builtin_scenario("failure_matrix").with_overrides(steps=12)
    assert [f.step for f in fm.faults] == [2, 4, 6, 9, 12]
    assert [c.order for c in fm.cancels] == ["raced"]
    assert [c.order for c in builtin_scenario("failure_matrix").with_overrides(steps=11).cancels] == []
    with pytest.raises(ScenarioError) as info:
        scenario.with_overrides(seed="many")
    assert info.value.problems == ["seed: Input should be a valid integer, unable to parse string as an integer"]
    assert "happy_path" in info.value.source


def test_broker_config_carries_instruments_and_seed_but_not_the_faults() -> None:
    # faults are applied around the broker (FaultInjector), not configured into the venue
    scenario = builtin_scenario("failure_matrix")
    config = scenario.broker_config()
    assert isinstance(config, MockBrokerConfig)
    assert config.instruments == {"DEMO-EUR": D("100.00")}
    assert config.seed == 3
    assert scenario.faults
    assert "faults" not in config.model_dump()
    assert config.fill_model is FillModel.PARTIAL
    assert config.partial_slices == 2
