"""Canonical JSON: the one serialization every file and golden report goes through.

Sorted keys, ``Decimal`` as its exact string (``"1.50"``), enums as their value, no
``NaN``, a trailing newline for documents. Two processes that build the same data write the
same bytes, whatever ``PYTHONHASHSEED`` says (sets are sorted before they get here).
"""

from __future__ import annotations

import json
import json.encoder
from decimal import Decimal
from enum import Enum
from typing import Any

__all__ = ["dumps", "dumps_line", "plain_number", "to_jsonable"]


def _default(obj: object) -> object:
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not canonical-JSON serializable: {obj!r}")


_LINE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default)
_DOC = json.JSONEncoder(sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False, default=_default)


# The C encoder json.dumps itself uses, built once here instead of on every call: events
# are serialized on the hot path. Same arguments as _LINE, so the same bytes (a test checks).
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_C_LINE: Any = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(None, _default, json.encoder.encode_basestring, None, ":", ",", True, False, False)
)


def dumps_line(obj: Any) -> str:
    """One compact line (no newline), as in ``events.jsonl``; the same bytes as ``_LINE``."""
    if _C_LINE is None:  # pragma: no cover
        return _LINE.encode(obj)
    return "".join(_C_LINE(obj, 0))


def dumps(obj: Any) -> str:
    """A readable document: two-space indent, sorted keys, trailing newline."""
    return _DOC.encode(obj) + "\n"


def to_jsonable(obj: Any) -> Any:
    """Plain JSON data (dicts, lists, strings, numbers) equal to what :func:`dumps` writes."""
    return json.loads(_LINE.encode(obj))


def plain_number(value: float) -> int | float:
    """A metric value as the files write it: a whole number as an ``int`` (``3``, not ``3.0``).

    Counters are whole numbers but are summed as floats; gauges keep their fraction. The one
    formatter of numbers for JSON documents, reports and messages (``str(plain_number(v))``).
    Beyond 2**53 a float no longer holds every integer, so it stays a float.
    """
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value
