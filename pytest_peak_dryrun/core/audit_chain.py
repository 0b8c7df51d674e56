"""The audit chain's line format, its optional key, and a verifier that streams.

Each line of ``audit.jsonl`` is::

    {"event":<event>,"prev_sha256":"<h(n-1)>"}                              unkeyed
    {"event":<event>,"hmac_sha256":"<m(n)>","prev_sha256":"<h(n-1)>"}       keyed

``<event>`` is byte for byte the line of ``events.jsonl``. The **sha256 chain** links each
line to the one before by ``h(n) = sha256(chained form of line n)``, ``h(0)`` sixty-four
zeros, where the *chained form* is the unkeyed line without its event's ``"run_id":...``
member (:func:`chained_form`). So the chain's head, which every run's report carries (and
with it every golden file), pins every event of the run but depends neither on the key nor
on the run's name: a golden file stays deterministic when CI sets a key, and two runs that
behave the same have the same report. The run id is the same on every line and equal to the
run's directory; ``validate`` checks that on its own.

With a key (``PEAK_DRYRUN_AUDIT_KEY``, HMAC-SHA256) each line also carries
``m(n) = HMAC(key, unkeyed line n)`` (the run id included). The unkeyed line holds
``h(n-1)``, which commits to every line before it, so ``m(n)`` authenticates the whole
prefix: without the key nobody can write a line that verifies, and so nobody can rebuild a
chain with the package's own writer. What a per-line MAC cannot show is that lines were cut
off at the end; the run's report (the head and the event count) and the index seal
(:mod:`.writer`) cover that.

Why text and not parsed JSON: the chain hashes bytes, so the verifier works on bytes and
never re-serializes anything (and never needs to hold more than one line).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Final

__all__ = [
    "AUDIT_KEY_ENV",
    "GENESIS_HASH",
    "AuditChainVerifier",
    "AuditLineParts",
    "audit_key_from_env",
    "audit_key_id",
    "audit_mac",
    "chained_form",
    "parse_audit_line",
    "run_id_member",
]

#: The environment variable that holds the audit key (read when a run writes and by validate).
AUDIT_KEY_ENV: Final = "PEAK_DRYRUN_AUDIT_KEY"
GENESIS_HASH: Final = "0" * 64
_PREFIX: Final = b'{"event":'
_PREV: Final = b',"prev_sha256":"'
_HMAC: Final = b',"hmac_sha256":"'
_TAIL: Final = len(_PREV) + 64 + 2  # ,"prev_sha256":"<64 hex>"}
_MAC_PART: Final = len(_HMAC) + 64 + 1  # ,"hmac_sha256":"<64 hex>"
_HEX: Final = frozenset(b"0123456789abcdef")
_KEY_ID_LABEL: Final = b"peak-dryrun/audit-key-id/v1"


def audit_key_from_env(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The audit key from :data:`AUDIT_KEY_ENV` (UTF-8 bytes), or ``None`` when unset or empty."""
    value = (os.environ if environ is None else environ).get(AUDIT_KEY_ENV, "")
    return value.encode("utf-8", "surrogateescape") if value else None


def audit_mac(key: bytes, data: bytes) -> str:
    """HMAC-SHA256 of ``data`` under ``key``, as 64 lowercase hex digits."""
    return hmac.digest(key, data, "sha256").hex()


def audit_key_id(key: bytes) -> str:
    """A short public name of a key (16 hex digits), so "another key" reads differently from "tampered".

    It is an HMAC of a fixed label, so it reveals nothing a MAC in the files does not.
    """
    return audit_mac(key, _KEY_ID_LABEL)[:16]


def _is_hex64(value: bytes) -> bool:
    return len(value) == 64 and _HEX.issuperset(value)


def run_id_member(run_id: str) -> bytes:
    """The text of an event's ``run_id`` member as canonical JSON writes it: ``"run_id":"<id>"``."""
    return b'"run_id":' + json.dumps(run_id, ensure_ascii=False).encode("utf-8", "surrogateescape")


def chained_form(unkeyed: bytes, member: bytes) -> bytes | None:
    """``unkeyed`` (an audit line without ``hmac_sha256``) without its event's run id member.

    ``member`` is :func:`run_id_member` of the run. The event is canonical JSON (sorted
    keys), so its own ``run_id`` member is the last occurrence of that text on the line:
    only ``seq``, ``ts`` and the links follow it. ``None`` when the line has no such member
    (its event belongs to another run, or the line is not canonical).
    """
    start = unkeyed.rfind(member)
    if start < 0:
        return None
    end = start + len(member)
    if unkeyed[end : end + 1] == b",":
        return unkeyed[:start] + unkeyed[end + 1 :]
    if unkeyed[start - 1 : start] == b",":
        return unkeyed[: start - 1] + unkeyed[end:]
    return None


class AuditLineParts:
    """One audit line taken apart: the event text, the links, and its unkeyed form (what a MAC covers)."""

    __slots__ = ("event", "hmac_sha256", "prev_sha256", "unkeyed")

    def __init__(self, event: bytes, prev_sha256: str, hmac_sha256: str | None, unkeyed: bytes) -> None:
        self.event = event
        self.prev_sha256 = prev_sha256
        self.hmac_sha256 = hmac_sha256
        self.unkeyed = unkeyed


def parse_audit_line(line: bytes) -> AuditLineParts | None:
    """The parts of one audit line (without its newline); ``None`` when it does not have the shape.

    Only the envelope is checked here; whether ``event`` is a valid event is the caller's
    question (``validate`` decodes it once, with the ``events.jsonl`` line it must equal).
    An event is a JSON object and so ends in ``}``, never in ``"``: the optional MAC before
    ``prev_sha256`` cannot be confused with the end of the event.
    """
    size = len(line)
    if size < len(_PREFIX) + 2 + _TAIL or not line.startswith(_PREFIX) or not line.endswith(b'"}'):
        return None
    body_end = size - _TAIL
    if line[body_end : body_end + len(_PREV)] != _PREV:
        return None
    prev = line[size - 66 : size - 2]
    if not _is_hex64(prev):
        return None
    mac: bytes | None = None
    event_end = body_end
    if (
        body_end - _MAC_PART >= len(_PREFIX) + 2
        and line[body_end - 1 : body_end] == b'"'
        and line[body_end - _MAC_PART : body_end - 65] == _HMAC
    ):
        mac = line[body_end - 65 : body_end - 1]
        if not _is_hex64(mac):
            return None
        event_end = body_end - _MAC_PART
    event = line[len(_PREFIX) : event_end]
    if not (event.startswith(b"{") and event.endswith(b"}")):
        return None
    unkeyed = line if mac is None else line[:event_end] + line[body_end:]
    return AuditLineParts(event, prev.decode("ascii"), None if mac is None else mac.decode("ascii"), unkeyed)


class AuditChainVerifier:
    """Checks an audit log one line at a time, in constant memory.

    :meth:`feed` returns the problems of one line (messages without a line number; the
    caller knows where it is). ``run_id`` is the run the log belongs to (by default the run
    id of its first line). With ``key`` every line must carry a MAC that verifies under it.
    Without a key MACs are not checked, and :attr:`keyed_lines` tells the caller that the
    log was keyed and so could not be fully verified.
    """

    __slots__ = ("_member", "_reported_unkeyed", "head", "key", "keyed_lines", "lines", "run_id")

    def __init__(self, *, key: bytes | None = None, run_id: str | None = None) -> None:
        self.key = key
        self.run_id = run_id
        #: the chain's head after the last line; ``None`` when a line could not be read.
        self.head: str | None = GENESIS_HASH
        self.lines = 0
        self.keyed_lines = 0
        self._member = None if run_id is None else run_id_member(run_id)
        self._reported_unkeyed = False

    def feed(self, line: bytes) -> tuple[AuditLineParts | None, list[str]]:
        """The parts of the next line (``None`` if it has no audit shape) and its problems."""
        self.lines += 1
        parts = parse_audit_line(line)
        if parts is None:
            self.head = None
            return None, ['not an audit line (expected {"event":{...},"prev_sha256":"<sha256>"})']
        problems: list[str] = []
        if self._member is None:
            self._learn_run_id(parts.event)
        chained = None if self._member is None else chained_form(parts.unkeyed, self._member)
        if chained is None:
            problems.append(f"its event's run_id is not {self.run_id!r} (one chain, one run)")
        elif self.head is not None and parts.prev_sha256 != self.head:
            problems.append(f"hash chain broken (prev_sha256 does not match line {self.lines - 1})")
        self.head = None if chained is None else hashlib.sha256(chained).hexdigest()
        if parts.hmac_sha256 is not None:
            self.keyed_lines += 1
        if self.key is not None:
            if parts.hmac_sha256 is None:
                if not self._reported_unkeyed:
                    self._reported_unkeyed = True
                    problems.append(
                        f"no HMAC, but {AUDIT_KEY_ENV} is set (written without the key, or its MACs were stripped)"
                    )
            elif not hmac.compare_digest(parts.hmac_sha256, audit_mac(self.key, parts.unkeyed)):
                problems.append(f"HMAC does not verify with {AUDIT_KEY_ENV} (the line was edited, or another key)")
        return parts, problems

    def _learn_run_id(self, event: bytes) -> None:
        try:
            run_id = json.loads(event).get("run_id")
        except (ValueError, RecursionError, AttributeError):
            return
        if isinstance(run_id, str):
            self.run_id = run_id
            self._member = run_id_member(run_id)

    def skip(self) -> None:
        """Count a line the caller could not read (too long): its link and the head are unknown."""
        self.lines += 1
        self.head = None
