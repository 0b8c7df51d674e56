"""The Redactor behind the secrets registry (issue 12): whole secrets, any order, cheap when clean."""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
from decimal import Decimal

from pytest_peak_dryrun.core.errors import OrderRejectedError
from pytest_peak_dryrun.core.redact import Redactor


def test_a_secret_that_contains_another_is_masked_whole() -> None:
    # registered shortest first on purpose: the order of registration must not matter
    redactor = Redactor(("abcd1234", "abcd1234efgh"))
    assert redactor.secrets == ("abcd1234efgh", "abcd1234")
    assert redactor.redact_text("xx abcd1234efgh yy abcd1234 zz") == "xx [REDACTED] yy [REDACTED] zz"
    assert redactor.redact({"detail": "key abcd1234efgh"}) == {"detail": "key [REDACTED]"}


def test_overlapping_secrets_leave_no_fragment() -> None:
    redactor = Redactor(("abcdXYZ1", "XYZ1wvut"))
    assert redactor.redact_text("<abcdXYZ1wvut>") == "<[REDACTED]>"
    assert redactor.redact_text("abcdXYZ1abcdXYZ1") == "[REDACTED]"


def test_escaped_forms_of_a_secret_are_masked_in_text() -> None:
    secret = 'pa"ss<w>&rd'
    redactor = Redactor((secret,))
    assert redactor.redact_text(json.dumps({"x": secret})) == '{"x": "[REDACTED]"}'
    assert redactor.redact_text(f"<td>{html.escape(secret)}</td>") == "<td>[REDACTED]</td>"
    assert redactor.contains_secret(html.escape(secret))


def test_a_key_holding_a_secret_is_masked_and_numbers_are_never_touched() -> None:
    redactor = Redactor(("1768694401",))
    payload = {"by_account": {"acct-1768694401": 2}, "ts": 1768694401, "price": Decimal("1768694401")}
    assert redactor.redact(payload) == {
        "by_account": {"acct-[REDACTED]": 2},
        "ts": 1768694401,
        "price": Decimal("1768694401"),
    }
    assert redactor.redact_data({"acct-1768694401": [1768694401, "1768694401"]}) == {
        "acct-[REDACTED]": [1768694401, "[REDACTED]"]
    }


def test_the_fast_path_with_secrets_returns_the_payload_itself_when_clean() -> None:
    redactor = Redactor(("ghp_0123456789abcdef",))
    payload = {"order_id": "O-1", "state": "ACK", "qty": "1", "step": 3}
    redactor.redact(dict(payload))  # learns the keys
    assert redactor.redact(payload) is payload
    assert redactor.redact(payload) is payload  # now from the clean-value cache
    leaked = {"order_id": "O-1", "state": "rejected: ghp_0123456789abcdef", "qty": "1", "step": 3}
    assert redactor.redact(leaked)["state"] == "rejected: [REDACTED]"


def test_a_secret_added_later_is_found_in_values_seen_clean_before() -> None:
    redactor = Redactor()
    payload = {"order_id": "tok-abcdefgh"}
    assert redactor.redact(payload) == payload  # learns the key
    assert redactor.redact(payload) is payload
    redactor.add_secret("tok-abcdefgh")
    assert redactor.redact(payload) == {"order_id": "[REDACTED]"}
    other = Redactor(("zzzz-not-here",))
    other.redact(payload)
    for _ in range(3):
        assert other.redact(payload) is payload
    other.add_secret("abcdefgh")
    assert other.redact(payload) == {"order_id": "tok-[REDACTED]"}


def test_the_clean_value_cache_is_bounded() -> None:
    redactor = Redactor(("zzzz-not-here",))
    for i in range(10_000):
        redactor.redact({"order_id": f"O-{i}"})
    assert len(redactor._clean) <= 4096


def test_the_pattern_is_the_same_in_any_process() -> None:
    """Secrets are ordered by length, then text: never by set or hash order."""
    script = (
        "from pytest_peak_dryrun.core.redact import Redactor;"
        "print(Redactor(['bbbb', 'aaaa', 'cccccc', 'dddd']).secrets)"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("0", "1", "2")
    }
    assert outputs == {"('cccccc', 'aaaa', 'bbbb', 'dddd')\n"}


def test_redact_exception_rewrites_args_attributes_and_causes_in_place() -> None:
    redactor = Redactor(("sk-live-0123456789",))
    rejected = OrderRejectedError("venue said no to sk-live-0123456789", reason="key sk-live-0123456789 revoked")
    outer = RuntimeError("wrapped", 42)
    outer.__cause__ = rejected
    rejected.__context__ = outer  # a cycle must not loop forever
    redactor.redact_exception(outer)
    assert outer.args == ("wrapped", 42)
    assert str(rejected) == "venue said no to [REDACTED]"
    assert rejected.reason == "key [REDACTED] revoked"
    Redactor().redact_exception(outer)  # nothing registered: nothing to do
