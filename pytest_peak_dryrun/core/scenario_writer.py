"""Scenario files written by the package: a :class:`~.scenario.Scenario` as TOML (or JSON).

The fuzz loop writes the scenario it shrank as a ``dryrun_*.toml`` reproducer, which pytest
then collects like any scenario file, so the text must load back (:func:`~.scenario.load_scenario`)
to an equal Scenario. The standard library reads TOML but does not write it; a scenario needs
a small subset (strings, integers, floats, booleans, arrays of them, tables, arrays of tables),
written here by hand rather than adding a dependency, and round-trip tested. TOML has no null:
a scenario with a ``None`` where the default is not ``None`` (``fill_price_band = null``, a rail
switched off) is written as JSON instead, which :func:`~.scenario.load_scenario` reads too.

What a scenario file never holds: ``metadata`` and an order's ``text`` ("never written to any
artifact" / "anywhere", the scenario model's promise), and nothing else that is not the
scenario's (no clock, no run id). Fields equal to their default are left out, except the seed
and the instruments, which a reader needs to see what the run trades and draws.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .scenario import Scenario

__all__ = ["scenario_data", "scenario_text", "to_toml", "write_scenario_file"]

_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")
#: Must be escaped in a TOML basic string besides ``"`` and ``\``: control characters but tab.
_TOML_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: A description is free text within the scenario's string bound (4096 characters).
_DESCRIPTION_MAX: Final = 2000


def scenario_data(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain JSON data, compact: defaults left out, seed and instruments kept."""
    data: dict[str, Any] = scenario.model_dump(mode="json", exclude_defaults=True)
    data.pop("metadata", None)
    for order in data.get("orders", ()):
        order.pop("text", None)
    ordered = {"name": data.pop("name")}
    if "description" in data:
        ordered["description"] = data.pop("description")
    ordered["seed"] = scenario.seed
    data.pop("seed", None)
    ordered["steps"] = data.pop("steps")
    ordered["instruments"] = {symbol: format(price, "f") for symbol, price in scenario.instruments.items()}
    data.pop("instruments", None)
    ordered.update(data)
    return ordered


class _Unrepresentable(ValueError):
    """A value TOML cannot hold (a null)."""


def _string(text: str) -> str:
    # Every escape JSON writes is a TOML escape too; non-ASCII stays as it is (a TOML \u escape
    # must be a scalar value, so JSON's surrogate pairs would not do) and DEL is escaped by hand.
    inner = json.dumps(text, ensure_ascii=False)[1:-1]
    return '"' + _TOML_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", inner) + '"'


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _scalar(value: Any, where: str) -> str:
    if value is None:
        raise _Unrepresentable(f"{where} is null, which TOML cannot hold")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Unrepresentable(f"{where} is {value}")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list) and not any(isinstance(item, (dict, list)) for item in value):
        return "[" + ", ".join(_scalar(item, f"{where}[]") for item in value) + "]"
    raise _Unrepresentable(f"{where}: cannot write {type(value).__name__} {value!r} as a TOML value")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _table(lines: list[str], path: str, table: Mapping[str, Any]) -> None:
    for key, value in table.items():
        if not isinstance(value, dict) and not _is_table_array(value):
            lines.append(f"{_key(key)} = {_scalar(value, f'{path}{key}')}")
    for key, value in table.items():
        name = f"{path}{_key(key)}"
        if isinstance(value, dict):
            lines.extend(("", f"[{name}]"))
            _table(lines, f"{name}.", value)
        elif _is_table_array(value):
            for item in value:
                lines.extend(("", f"[[{name}]]"))
                _table(lines, f"{name}.", item)


def to_toml(data: Mapping[str, Any], *, comment: Iterable[str] = ()) -> str:
    """``data`` (plain JSON data, a table at the top) as TOML text, ``comment`` lines first.

    Raises ``ValueError`` for what TOML cannot hold (a null, a non-finite float, an array
    mixing tables with values).
    """
    lines = [f"# {line}".rstrip() for text in comment for line in text.splitlines()]
    body: list[str] = []
    _table(body, "", data)
    while body and not body[0]:
        body.pop(0)
    if lines and body:
        lines.append("")
    return "\n".join(lines + body) + "\n"


def scenario_text(scenario: Scenario, *, comment: Sequence[str] = ()) -> tuple[str, str]:
    """``(suffix, text)``: the scenario as TOML (``".toml"``), or as JSON when TOML cannot hold it."""
    data = scenario_data(scenario)
    try:
        return ".toml", to_toml(data, comment=comment)
    except _Unrepresentable:
        # JSON has no comments: the comment goes into the description, where a reader sees it.
        if comment:
            note = " ".join(line.strip() for line in comment)
            own = data.get("description", "")
            data["description"] = (f"{note} {own}" if own else note)[:_DESCRIPTION_MAX]
        return ".json", json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_scenario_file(scenario: Scenario, directory: Path, stem: str, *, comment: Sequence[str] = ()) -> Path:
    """Write ``directory/<stem>.toml`` (or ``.json``) atomically; return its path.

    The same scenario and comment give the same bytes, so writing it again changes nothing.
    """
    suffix, text = scenario_text(scenario, comment=comment)
    path = directory / f"{stem}{suffix}"
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
