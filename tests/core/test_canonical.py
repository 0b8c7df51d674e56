"""Canonical JSON: exact decimals, sorted keys, trailing newline, no NaN."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from enum import Enum

import pytest

from pytest_peak_dryrun.core.canonical import dumps, dumps_line, to_jsonable
from pytest_peak_dryrun.core.model import Fill
from pytest_peak_dryrun.core.orders import OrderState


def test_decimal_is_its_exact_string() -> None:
    assert dumps_line({"qty": Decimal("1.50")}) == '{"qty":"1.50"}'
    assert dumps_line([Decimal("0.10"), Decimal("100"), Decimal("-2.500")]) == '["0.10","100","-2.500"]'
    assert dumps_line(Decimal("1E+3")) == '"1000"'  # never exponent notation
    assert dumps_line(Decimal("1E-7")) == '"0.0000001"'


def test_document_layout() -> None:
    assert dumps({"b": Decimal("1.50"), "a": [1, 2], "c": {"z": None, "y": True}}) == (
        '{\n  "a": [\n    1,\n    2\n  ],\n  "b": "1.50",\n  "c": {\n    "y": true,\n    "z": null\n  }\n}\n'
    )
    assert dumps({}).endswith("}\n")
    assert not dumps({}).endswith("\n\n")


def test_line_layout_is_compact_and_sorted() -> None:
    assert dumps_line({"seq": 1, "kind": "fill", "payload": {"z": 1, "a": 2}}) == (
        '{"kind":"fill","payload":{"a":2,"z":1},"seq":1}'
    )
    assert "\n" not in dumps_line({"a": "x\ny"})


def test_key_order_does_not_matter() -> None:
    assert dumps({"a": 1, "b": 2}) == dumps({"b": 2, "a": 1})


def test_enums_sets_and_unicode() -> None:
    class Colour(str, Enum):
        RED = "red"

    assert dumps_line({"state": OrderState.FILLED, "c": Colour.RED}) == '{"c":"red","state":"FILLED"}'
    assert dumps_line({"ids": {"b", "c", "a"}}) == '{"ids":["a","b","c"]}'
    assert dumps_line({"ids": frozenset({3, 1, 2})}) == '{"ids":[1,2,3]}'
    assert dumps_line("Zürich €") == '"Zürich €"'


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        dumps_line({"x": value})


def test_unknown_types_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match="object is not canonical-JSON serializable"):
        dumps_line({"x": object()})


def test_to_jsonable_equals_what_dumps_writes() -> None:
    data = {"qty": Decimal("2.50"), "state": OrderState.NEW, "s": {"y", "x"}}
    plain = to_jsonable(data)
    assert plain == {"qty": "2.50", "state": "NEW", "s": ["x", "y"]}
    assert json.loads(dumps(data)) == plain


def test_pydantic_money_serializes_as_the_exact_string() -> None:
    fill = Fill(fill_id="F1", broker_order_id="MB-1", qty=Decimal("1.50"), price=Decimal("100.10"), exec_seq=1, step=2)
    assert fill.to_dict() == {
        "fill_id": "F1",
        "broker_order_id": "MB-1",
        "qty": "1.50",
        "price": "100.10",
        "exec_seq": 1,
        "step": 2,
    }
    assert dumps_line(fill.to_dict()) == (
        '{"broker_order_id":"MB-1","exec_seq":1,"fill_id":"F1","price":"100.10","qty":"1.50","step":2}'
    )


@pytest.mark.parametrize(
    "obj",
    [
        {"seq": 1, "ts": 1768694400.001, "kind": "fill", "run_id": "r", "payload": {"qty": Decimal("1.50")}},
        {"b": [1, 2.5, None, True, False], "a": {"z": "ü€", "y": 'quote"and\\\\slash'}, "c": -0.0},
        {"enum": OrderState.FILLED, "big": 10**30, "tiny": 1e-7, "e": 1e16},
        [],
        {},
    ],
)
def test_the_fast_line_encoder_writes_the_same_bytes_as_the_json_module(obj: object) -> None:
    from pytest_peak_dryrun.core import canonical

    assert canonical.dumps_line(obj) == canonical._LINE.encode(obj)


def test_the_line_encoder_refuses_nan() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        dumps_line({"x": float("nan")})
