"""Scenario files written by the package: TOML by hand, loaded back by ``load_scenario`` unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from pytest_peak_dryrun.core.scenario import (
    BUILTIN_SCENARIOS,
    Scenario,
    builtin_scenario,
    load_scenario,
    parse_scenario,
)
from pytest_peak_dryrun.core.scenario_writer import scenario_text, to_toml, write_scenario_file
from pytest_peak_dryrun.strategies import scenarios

ROUND_TRIP = settings(max_examples=150, database=None, deadline=None, suppress_health_check=list(HealthCheck))
BASES = [
    parse_scenario({"name": "plain", "steps": 1}, source="test"),
    parse_scenario(
        {
            "name": "odd.names-and_text",
            "steps": 1,
            "description": 'quotes " and \\ backslashes, tab\t, newline\n, DEL \x7f, bell \x07, é, 😀',
            "instruments": {"BTC.USD": "65000.5", "DEMO-EUR": "100.00", "X:Y/Z": "0.0001"},
            "rails": {"max_open_orders": 3, "allow_negative_balance": True},
            "retry": {"max_attempts": 5},
            "starting_cash": "12.34",
            "metadata": {"team": "never written"},
        },
        source="test",
    ),
]


@ROUND_TRIP
@given(scenario=scenarios(base=BASES[1]) | scenarios(base=BASES[0]))
def test_a_generated_scenario_loads_back_equal(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = write_scenario_file(scenario, tmp_path_factory.mktemp("w"), "dryrun_x", comment=["a comment", "two"])
    assert path.suffix == ".toml"
    loaded = load_scenario(path)
    assert loaded == scenario.model_copy(update={"metadata": {}})  # metadata is never written


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_a_builtin_scenario_loads_back_equal(name: str, tmp_path: Path) -> None:
    scenario = builtin_scenario(name)
    assert load_scenario(write_scenario_file(scenario, tmp_path, "dryrun_b")) == scenario


def test_the_text_is_compact_toml_with_the_comment_first() -> None:
    scenario = parse_scenario(
        {
            "name": "small",
            "steps": 2,
            "orders": [{"step": 1, "id": "o1", "instrument": "DEMO-EUR", "side": "BUY", "qty": "1", "text": "secret"}],
            "cancels": [{"step": 2, "order": "o1"}],
            "broker": {"fill_model": "partial", "partial_slices": 3},
            "fault_rate": {"rate": 0.05, "kinds": ["timeout"], "ops": ["place", "fills"]},
        },
        source="test",
    )
    assert scenario_text(scenario, comment=["Why this file exists.", "  indented"]) == (
        ".toml",
        "# Why this file exists.\n"
        "#   indented\n"
        "\n"
        'name = "small"\n'
        "seed = 0\n"
        "steps = 2\n"
        "\n"
        "[instruments]\n"
        'DEMO-EUR = "100.00"\n'
        "\n"
        "[[orders]]\n"
        "step = 1\n"
        'id = "o1"\n'
        'instrument = "DEMO-EUR"\n'
        'side = "BUY"\n'
        'qty = "1"\n'
        "\n"
        "[[cancels]]\n"
        "step = 2\n"
        'order = "o1"\n'
        "\n"
        "[broker]\n"
        'fill_model = "partial"\n'
        "partial_slices = 3\n"
        "\n"
        "[fault_rate]\n"
        "rate = 0.05\n"
        'kinds = ["timeout"]\n'
        'ops = ["place", "fills"]\n',
    )


def test_a_null_toml_cannot_hold_is_written_as_json(tmp_path: Path) -> None:
    scenario = parse_scenario(
        {"name": "nulls", "steps": 1, "fill_price_band": None, "rails": {"max_duplicate_fills": None}}, source="test"
    )
    path = write_scenario_file(scenario, tmp_path, "dryrun_n", comment=["written by a test"])
    assert path.name == "dryrun_n.json"
    assert load_scenario(path) == scenario.model_copy(update={"description": "written by a test"})


def test_writing_again_gives_the_same_bytes_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    scenario = builtin_scenario("failure_matrix")
    first = write_scenario_file(scenario, tmp_path, "dryrun_same", comment=["c"]).read_bytes()
    second = write_scenario_file(scenario, tmp_path, "dryrun_same", comment=["c"]).read_bytes()
    assert first == second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dryrun_same.toml"]


def test_what_toml_cannot_hold_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"x is null, which TOML cannot hold"):
        to_toml({"x": None})
    with pytest.raises(ValueError, match=r"y is inf"):
        to_toml({"y": float("inf")})
