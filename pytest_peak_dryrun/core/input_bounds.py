"""Bounds on scenario input, checked before validation.

A scenario comes from a file someone edits, a marker, or Python code; whatever it holds
must end in one line naming the file, the field and the limit. Without bounds, a 5000-digit
seed ends in ``ValueError`` (Python's int-to-text limit), nesting 100,000 levels deep in
``RecursionError`` (both parsers recurse), and ``qty = "1E+400000000"`` validates and then
raises ``decimal.Overflow`` in the middle of a run. :func:`bound_problems` walks parsed data
(iteratively: no recursion of its own) and names every value beyond :data:`LIMITS`;
:func:`parse_failure` turns a parser's own ``RecursionError``/``ValueError`` into the same
kind of line, with the line number and field it can find in the text.

Integers, nesting and string lengths are bounded everywhere; the decimal bounds apply to
the fields that become ``Decimal`` (money and quantities), found from the model's own
annotations (:func:`decimal_shape`), so an id or a metadata text that happens to read
``1E99`` is left alone.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "LIMITS",
    "MAX_DECIMAL_DIGITS",
    "MAX_DECIMAL_EXPONENT",
    "MAX_DEPTH",
    "MAX_STRING_LENGTH",
    "DecimalShape",
    "OversizedInt",
    "bound_problems",
    "decimal_shape",
    "describe_int",
    "format_loc",
    "json_decimal",
    "json_int",
    "parse_failure",
]

INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**63 - 1
#: Tables and arrays inside each other; a real scenario needs 4.
MAX_DEPTH: Final = 16
MAX_STRING_LENGTH: Final = 4096
#: Money and quantities: at most this many significant digits ...
MAX_DECIMAL_DIGITS: Final = 28
#: ... and a magnitude between 1E-28 and 1E+28 (the adjusted exponent), so no arithmetic
#: of a run can leave the decimal context (Emax 999999) and raise ``decimal.Overflow``.
MAX_DECIMAL_EXPONENT: Final = 28
LIMITS: Final = (
    f"integers -2**63 .. 2**63-1; nesting {MAX_DEPTH} levels; strings {MAX_STRING_LENGTH} characters; "
    f"decimals {MAX_DECIMAL_DIGITS} significant digits, 1E-{MAX_DECIMAL_EXPONENT} .. 1E+{MAX_DECIMAL_EXPONENT}"
)
_INT_RANGE: Final = "-2**63 .. 2**63-1"
#: More problems than this are counted, not listed: the message stays one readable line.
_MAX_LISTED: Final = 5
_HUGE_EXPONENT: Final = re.compile(r"[+-]?[\d_.]+[eE][+-]?\d+")
_INT_MAX_STR_DIGITS: Final = int(getattr(sys, "get_int_max_str_digits", lambda: 4300)() or 4300)


class OversizedInt:
    """An integer literal too long to convert (the JSON parser's stand-in for it)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def json_int(text: str) -> int | OversizedInt:
    """``parse_int`` for :func:`json.loads`: never converts a literal of thousands of digits."""
    digits = len(text.lstrip("+-"))
    return OversizedInt(digits) if digits > 19 else int(text)


def json_decimal(text: str) -> Decimal | str:
    """``parse_float`` for :func:`json.loads`: an exponent too large for ``Decimal`` stays text.

    ``Decimal("1e99999999999999999999")`` raises ``InvalidOperation`` inside the parser;
    as text, :func:`bound_problems` names the field and the limit instead.
    """
    try:
        return Decimal(text)
    except InvalidOperation:
        return text


def describe_int(value: int) -> str:
    """The integer itself when short, its size otherwise (``str()`` of 5000 digits raises)."""
    if -(10**30) < value < 10**30:
        return str(value)
    return f"of about {int(value.bit_length() * 0.30103) + 1} digits"


def format_loc(loc: tuple[int | str, ...]) -> str:
    """``orders[0].qty`` from ``("orders", 0, "qty")``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _children(value: Any) -> Iterator[tuple[int | str, Any]] | None:
    if isinstance(value, Mapping):
        return iter(value.items())
    if isinstance(value, (list, tuple)):
        return enumerate(value)
    fields = getattr(type(value), "model_fields", None)  # a pydantic model passed in Python
    if isinstance(fields, dict):
        return ((name, getattr(value, name, None)) for name in fields)
    return None


def _decimal_problem(number: Decimal, shown: str) -> str | None:
    if not number.is_finite():
        return None  # validation refuses NaN and infinity with its own message
    digits = len(number.as_tuple().digits)
    exponent = number.adjusted()
    if digits > MAX_DECIMAL_DIGITS:
        return f"number {shown} has {digits} significant digits; the limit is {MAX_DECIMAL_DIGITS}"
    if not number.is_zero() and not -MAX_DECIMAL_EXPONENT <= exponent <= MAX_DECIMAL_EXPONENT:
        return (
            f"number {shown} is outside the limit 1E-{MAX_DECIMAL_EXPONENT} .. 1E+{MAX_DECIMAL_EXPONENT} (in magnitude)"
        )
    return None


def _value_problem(value: Any) -> str | None:
    """Integers and strings, anywhere."""
    if type(value) is bool or value is None:
        return None
    if isinstance(value, OversizedInt):
        return f"integer of {value.digits} digits is outside the limit {_INT_RANGE}"
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            return f"integer {describe_int(value)} is outside the limit {_INT_RANGE}"
        return None
    if isinstance(value, str) and len(value) > MAX_STRING_LENGTH:
        return f"string of {len(value)} characters is longer than the limit of {MAX_STRING_LENGTH}"
    return None


def _shown(text: str) -> str:
    return text if len(text) <= 32 else f"of {len(text)} characters"


def _money_problem(value: Any) -> str | None:
    """A value of a field that becomes ``Decimal``: digits and magnitude."""
    if isinstance(value, Decimal):
        return _decimal_problem(value, _shown(str(value)))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None  # validation refuses NaN and infinity with its own message
        return _decimal_problem(Decimal(repr(value)), repr(value))
    if isinstance(value, str) and len(value) <= MAX_STRING_LENGTH:
        text = value.strip()
        try:
            number = Decimal(text)
        except (InvalidOperation, ValueError):
            if _HUGE_EXPONENT.fullmatch(text):  # an exponent too large even for Decimal()
                return f"number {text[:32]} is outside the limit 1E-28 .. 1E+28 (in magnitude)"
            return None  # not a number: validation says so
        return _decimal_problem(number, _shown(text))
    return None


class DecimalShape:
    """Where in a model's data the ``Decimal`` fields are (derived from its annotations)."""

    __slots__ = ("decimal", "fields", "items")

    def __init__(self) -> None:
        self.decimal = False
        self.fields: dict[str, DecimalShape] = {}
        self.items: DecimalShape | None = None

    def child(self, key: int | str) -> DecimalShape | None:
        if isinstance(key, str) and key in self.fields:
            return self.fields[key]
        return self.items


def decimal_shape(annotation: Any, _seen: dict[Any, DecimalShape] | None = None) -> DecimalShape | None:
    """The :class:`DecimalShape` of a type (a pydantic model, a container of them, ``Decimal``)."""
    seen = {} if _seen is None else _seen
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return decimal_shape(args[0], seen)
    if origin in (typing.Union, types.UnionType):
        shape = DecimalShape()
        for arg in args:
            part = decimal_shape(arg, seen)
            if part is not None:
                shape.decimal |= part.decimal
                shape.fields.update(part.fields)
                shape.items = shape.items or part.items
        return shape
    if annotation is Decimal:
        shape = DecimalShape()
        shape.decimal = True
        return shape
    if origin in (list, tuple, set, frozenset) and args:
        shape = DecimalShape()
        shape.items = decimal_shape(args[0], seen)
        return shape
    if origin is dict and len(args) == 2:
        shape = DecimalShape()
        shape.items = decimal_shape(args[1], seen)
        return shape
    fields = getattr(annotation, "model_fields", None)
    if isinstance(annotation, type) and isinstance(fields, dict):
        if annotation in seen:
            return seen[annotation]
        shape = seen[annotation] = DecimalShape()
        for name, info in fields.items():
            part = decimal_shape(info.annotation, seen)
            if part is not None:
                shape.fields[name] = part
                if info.alias:
                    shape.fields[info.alias] = part
        return shape
    return None


def bound_problems(data: Any, shape: DecimalShape | None = None) -> list[str]:
    """``loc: problem`` for every value of ``data`` beyond the limits (empty when within).

    ``shape`` says which values become ``Decimal`` (see :func:`decimal_shape`). Iterative
    (an explicit stack), so data nested far deeper than the limit, or than Python's
    recursion limit, is reported rather than followed.
    """
    problems: list[str] = []
    stack: list[tuple[tuple[int | str, ...], Any, DecimalShape | None]] = [((), data, shape)]
    while stack:
        loc, value, here = stack.pop()
        children = _children(value)
        if children is None:
            problem = _value_problem(value)
            if problem is None and here is not None and here.decimal:
                problem = _money_problem(value)
            if problem is not None:
                problems.append(f"{format_loc(loc)}: {problem}" if loc else problem)
            continue
        if len(loc) >= MAX_DEPTH:
            problems.append(f"{format_loc(loc)}: nested deeper than the limit of {MAX_DEPTH} levels")
            continue
        pending = []
        for key, child in children:
            if isinstance(key, str) and len(key) > MAX_STRING_LENGTH:
                problems.append(
                    f"{format_loc(loc) or 'top level'}: a key of {len(key)} characters is longer than "
                    f"the limit of {MAX_STRING_LENGTH}"
                )
                continue
            pending.append(((*loc, key), child, None if here is None else here.child(key)))
        stack.extend(reversed(pending))  # reported in document order
    if len(problems) > _MAX_LISTED:
        problems[_MAX_LISTED:] = [f"and {len(problems) - _MAX_LISTED} more value(s) beyond the limits"]
    return problems


# -- when the parser itself gives up -------------------------------------------------------

_JSON_TOKENS: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_TOML_TOKENS: Final = re.compile(
    r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]'
)
_LONG_INT: Final = re.compile(r"(?<![\w.\"'])[+-]?\d[\d_]{" + str(_INT_MAX_STR_DIGITS) + ",}")
_JSON_KEY: Final = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')
_TOML_KEY: Final = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=", re.MULTILINE)
_TOML_TABLE: Final = re.compile(r"^\s*(\[\[?)\s*([^\]\n]+?)\s*\]\]?", re.MULTILINE)


def _deep_position(text: str, tokens: re.Pattern[str], *, top: int) -> tuple[int, int] | None:
    """``(position past the limit, start of its top-level value)`` or ``None``.

    ``top`` is the bracket depth of a top-level value: 0 in TOML, 1 in JSON (inside ``{``).
    """
    depth = 0
    start = 0
    for match in tokens.finditer(text):
        token = match.group()
        if token in "[{":
            if depth == top:
                start = match.start()
            depth += 1
            if depth > MAX_DEPTH:
                return match.start(), start
        elif token in "]}":
            depth = max(depth - 1, 0)
    return None


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _toml_field(text: str, position: int) -> str:
    """``table[i].key`` of the key/value statement at ``position`` (best effort)."""
    line_start = text.rfind("\n", 0, position) + 1
    key_match = _TOML_KEY.match(text, line_start)
    key = key_match.group(1).strip() if key_match else ""
    table = ""
    headers = list(_TOML_TABLE.finditer(text, 0, line_start))
    if headers:
        last = headers[-1]
        table = last.group(2)
        if last.group(1) == "[[":
            index = sum(1 for m in headers if m.group(1) == "[[" and m.group(2) == table) - 1
            table = f"{table}[{index}]"
    return ".".join(part for part in (table, key) if part)


def _json_field(text: str, start: int) -> str:
    """The top-level key whose value begins at ``start`` (best effort)."""
    keys = list(_JSON_KEY.finditer(text, 0, start + 1))
    return keys[-1].group(1) if keys else ""


def parse_failure(text: str, suffix: str, exc: BaseException) -> str:
    """One line for a parser's ``RecursionError`` or ``ValueError``: where, which field, what limit."""
    toml = suffix == ".toml"
    if isinstance(exc, RecursionError):
        found = _deep_position(text, _TOML_TOKENS if toml else _JSON_TOKENS, top=0 if toml else 1)
        if found is None:
            return f"nested too deeply to parse; the limit is {MAX_DEPTH} levels"
        position, start = found
        field = _toml_field(text, start) if toml else _json_field(text, start)
        where = f"line {_line(text, position)}: " + (f"{field}: " if field else "")
        return f"{where}nested deeper than the limit of {MAX_DEPTH} levels"
    long_int = _LONG_INT.search(text)
    if long_int is not None:
        digits = sum(c.isdigit() for c in long_int.group())
        field = _toml_field(text, long_int.start()) if toml else ""
        where = f"line {_line(text, long_int.start())}: " + (f"{field}: " if field else "")
        return f"{where}integer of {digits} digits is outside the limit {_INT_RANGE}"
    return f"cannot parse: {exc}"
