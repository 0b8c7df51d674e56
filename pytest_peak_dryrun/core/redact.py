"""Keeps secrets out of every artifact: the :class:`Redactor`.

The event stream asks it about the few fields of each event kind that can carry free text
(``Event.TEXT``: a broker's reject reason, an adapter's id, an exception's message): kinds
whose fields are all ours (ids we assign, enums, numbers) are never scanned. Documents and
session files go through :meth:`Redactor.redact_data` / :meth:`Redactor.redact_text` as a last
net before they are written.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

import msgspec

from .events import Event

__all__ = ["MIN_SECRET_LENGTH", "Redactor"]

#: Value types that cannot hide a nested secret-looking key.
_FLAT: Final = frozenset({str, int, bool, float, Decimal, type(None)})
#: Registered secrets shorter than this are not used: masking every "abc" in every file would
#: make the artifacts unreadable (and any short value is a poor secret anyway).
MIN_SECRET_LENGTH: Final = 4
_CLEAN_MAX_LENGTH: Final = 64
_OS_ERROR_TEXT: Final = ("strerror", "filename", "filename2")
_CLEAN_MAX_ENTRIES: Final = 4096


def _secret_forms(secret: str) -> set[str]:
    """The texts a secret can take in our files: as is, JSON-escaped and HTML-escaped."""
    return {secret, json.dumps(secret, ensure_ascii=False)[1:-1], html.escape(secret, quote=True)}


class Redactor:
    """Keeps secrets out of every artifact.

    A payload key that looks like a credential has its value replaced, and any string that
    contains a registered secret (for example the value of an environment variable the
    adapter reads its token from, which a broker may echo back in a reject reason) has the
    secret replaced by :attr:`MASK`. Only string values (and keys) are scanned, never
    numbers. All secrets are looked for with one compiled alternation, longest first, so a
    secret that contains another is masked whole; overlapping matches are merged, so no
    fragment of a secret survives next to a mask.

    Both checks are cheap for the payloads the core emits (ids, enums, decimals): a flat
    payload whose keys were seen before costs one regex scan per string value, or nothing
    at all when no secret is registered.
    """

    MASK: Final = "[REDACTED]"
    _SECRET_KEY = re.compile(
        r"secret|token|passw|pwd|api[_-]?key|credential|auth|private[_-]?key|session[_-]?key",
        re.IGNORECASE,
    )

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: tuple[str, ...] = ()
        self._forms: tuple[str, ...] = ()
        self._search: Callable[[str], object] | None = None
        self._key_is_secret: dict[str, bool] = {}
        self._safe_keys: set[str] = set()
        #: Short strings already scanned and found clean (ids, enums repeat from event to event).
        self._clean: set[str] = set()
        self._register(secrets)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The registered values (at least :data:`MIN_SECRET_LENGTH` long), longest first."""
        return self._secrets

    def add_secret(self, value: str) -> None:
        self._register((*self._secrets, value))

    def _register(self, values: Iterable[str]) -> None:
        kept = {value for value in values if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH}
        # Sorted, never set order: the pattern (and so every mask) is the same in any process.
        self._secrets = tuple(sorted(kept, key=lambda s: (-len(s), s)))
        forms = {form for secret in kept for form in _secret_forms(secret)}
        self._forms = tuple(sorted(forms, key=lambda s: (-len(s), s)))
        self._search = re.compile("|".join(map(re.escape, self._forms))).search if self._forms else None
        #: True when at least one secret is registered (otherwise nothing is ever masked)
        self.active = self._search is not None
        self._safe_keys.clear()  # a key or value found harmless before may hold the new secret
        self._clean.clear()

    def key_is_secret(self, key: str) -> bool:
        known = self._key_is_secret.get(key)
        if known is None:
            known = self._key_is_secret[key] = bool(self._SECRET_KEY.search(key))
        return known

    def contains_secret(self, text: str) -> bool:
        """True when ``text`` holds a registered secret (raw, JSON- or HTML-escaped)."""
        return self._search is not None and self._search(text) is not None

    def redact_text(self, text: str) -> str:
        """``text`` with every occurrence of a registered secret replaced by :attr:`MASK`."""
        if self._search is None or self._search(text) is None:
            return text
        spans: list[tuple[int, int]] = []
        for form in self._forms:
            start = text.find(form)
            while start != -1:
                spans.append((start, start + len(form)))
                start = text.find(form, start + 1)
        spans.sort()
        merged: list[list[int]] = []
        for span_start, span_end in spans:
            if merged and span_start <= merged[-1][1]:  # overlaps or touches: one mask for both
                merged[-1][1] = max(merged[-1][1], span_end)
            else:
                merged.append([span_start, span_end])
        out: list[str] = []
        position = 0
        for span_start, span_end in merged:
            out += (text[position:span_start], self.MASK)
            position = span_end
        out.append(text[position:])
        return "".join(out)

    def redact_exception(self, exc: BaseException) -> None:
        """Mask registered secrets in the text of ``exc`` and of its causes, in place.

        For an error that leaves a run (an adapter raising ``RuntimeError(f"... {key}")``):
        its message ends up in a traceback, a JUnit XML file or a CI log. The ``args`` an
        exception's text is built from are rewritten; its type and traceback stay.
        """
        search = self._search
        pending: list[BaseException | None] = [exc]
        seen: list[BaseException] = []
        while pending:
            current = pending.pop()
            if current is None or any(current is done for done in seen):
                continue
            seen.append(current)
            if search is not None and any(isinstance(arg, str) and search(arg) for arg in current.args):
                current.args = tuple(self.redact_text(a) if isinstance(a, str) else a for a in current.args)
            # Text kept beside args: OSError's strerror/filename, a broker error's ``reason``.
            names = [*getattr(current, "__dict__", {}), *(_OS_ERROR_TEXT if isinstance(current, OSError) else ())]
            for name in names:
                value = getattr(current, name, None)
                if isinstance(value, str) and search is not None and search(value):
                    setattr(current, name, self.redact_text(value))
            pending += (current.__cause__, current.__context__)

    def redact_event(self, event: Event) -> Event:
        """``event`` with registered secrets masked in its free-text fields (itself when clean).

        Only the fields the event table marks as ``TEXT`` are looked at; short values found
        clean are remembered (ids repeat from event to event), in a bounded set.
        """
        search = self._search
        if search is None:
            return event
        clean = self._clean
        changes: dict[str, str] | None = None
        for name in event.TEXT:
            value = getattr(event, name)
            if type(value) is not str or value in clean:
                continue
            if search(value) is not None:
                if changes is None:
                    changes = {}
                changes[name] = self.redact_text(value)
            elif len(value) <= _CLEAN_MAX_LENGTH:
                if len(clean) >= _CLEAN_MAX_ENTRIES:
                    clean.clear()  # bounded memory; ids refill it at once
                clean.add(value)
        return event if changes is None else msgspec.structs.replace(event, **changes)

    def redact(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` made safe to write anywhere (``payload`` itself when nothing is masked).

        The fast path covers what the core emits on the hot path: flat payloads whose keys
        were all seen before and found harmless, with no string value holding a secret.
        """
        if self._safe_keys.issuperset(payload):
            search = self._search
            clean = self._clean
            for value in payload.values():
                kind = type(value)
                if kind is str:
                    if search is None or value in clean:
                        continue
                    if search(value) is not None:
                        break
                    if len(value) <= _CLEAN_MAX_LENGTH:
                        if len(clean) >= _CLEAN_MAX_ENTRIES:
                            clean.clear()  # bounded memory; ids and enums refill it at once
                        clean.add(value)
                elif kind not in _FLAT:
                    break
            else:
                return payload
        return self._redact(payload)

    def redact_data(self, data: Any) -> Any:
        """JSON-like ``data`` (documents, reports) with registered secrets masked in every string.

        Unlike :meth:`redact`, keys are not judged by their names: a document's shape is
        ours. Returns ``data`` itself when no secret is registered.
        """
        if self._search is None:
            return data
        if isinstance(data, str):
            return self.redact_text(data)
        if isinstance(data, Mapping):
            return {(self.redact_text(k) if isinstance(k, str) else k): self.redact_data(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.redact_data(item) for item in data]
        return data

    def _redact(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in payload.items():
            if self.key_is_secret(key):
                out[key] = self.MASK
                continue
            if self._search is not None and self._search(key) is not None:
                key = self.redact_text(key)
            else:
                self._safe_keys.add(key)
            if isinstance(value, str):
                out[key] = self.redact_text(value)
            elif isinstance(value, Mapping):
                out[key] = self._redact(value)
            elif isinstance(value, (list, tuple)):
                out[key] = [self._redact_item(item) for item in value]
            else:
                out[key] = value
        return out

    def _redact_item(self, item: Any) -> Any:
        """One element of a list value: a secret inside a list is still a secret."""
        if isinstance(item, str):
            return self.redact_text(item)
        if isinstance(item, Mapping):
            return self._redact(item)
        if isinstance(item, (list, tuple)):
            return [self._redact_item(inner) for inner in item]
        return item
