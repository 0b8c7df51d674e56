"""The secrets registry (issue 12): ini, hook, fixture and environment secrets reach no file.

Before, an adapter's reject reason carrying the API key was written verbatim to
``events.jsonl`` and ``audit.jsonl``, and there was no way to register a secret.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_peak_dryrun.core.dryrun import make_run_id

pytest_plugins = ["pytester"]

SECRET = "sk-live-9f8e7d6c5b4a39281706"
MASK = "[REDACTED]"

# An adapter whose venue echoes the key it was given in its first reject reason.
ADAPTER_CONFTEST = """
import os
from pytest_peak_dryrun import MockBroker
from pytest_peak_dryrun.core.errors import OrderRejectedError


class EchoingAdapter:
    dry_run = True

    def __init__(self, venue, key):
        self.venue, self.clock, self.key, self.rejected = venue, venue.clock, key, False

    def place_order(self, request, *, idempotency_key):
        if not self.rejected:
            self.rejected = True
            raise OrderRejectedError("rejected", reason=f"api key {self.key} is not authorised")
        return self.venue.place_order(request, idempotency_key=idempotency_key)

    def cancel_order(self, broker_order_id):
        self.venue.cancel_order(broker_order_id)

    def query_order(self, broker_order_id):
        return self.venue.query_order(broker_order_id)

    def list_open_orders(self):
        return self.venue.list_open_orders()

    def iter_fills(self, cursor):
        return self.venue.iter_fills(cursor)


def pytest_dryrun_make_broker(config, scenario, clock):
    return EchoingAdapter(MockBroker(scenario.broker_config(), clock=clock), os.environ.get("{var}", "{fallback}"))
"""
TEST_FILE = """
def test_run(dryrun, dryrun_snapshot):
    assert dryrun.count("order_place", outcome="rejected") == 1
    assert dryrun_snapshot == dryrun.report
"""


def _holding(root: Path, text: str) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(".pyc") and text in p.read_text("utf-8", errors="replace")
    )


def _conftest(pytester: pytest.Pytester, *, var: str, fallback: str = "unset", extra: str = "") -> None:
    pytester.makeconftest(ADAPTER_CONFTEST.replace("{var}", var).replace("{fallback}", fallback) + extra)


def _run(pytester: pytest.Pytester, *args: str, passed: int = 1) -> pytest.RunResult:
    pytester.makepyfile(test_secret=TEST_FILE)
    result = pytester.runpytest("--dryrun-snapshot=out", "--snapshot-update", *args)
    result.assert_outcomes(passed=passed)
    return result


def test_an_api_key_in_an_environment_variable_is_masked_by_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_API_KEY", SECRET)
    _conftest(pytester, var="BROKER_API_KEY")
    result = _run(pytester)
    out = pytester.path / "out"
    assert _holding(pytester.path, SECRET) == []  # files under DIR, golden files, anything
    assert SECRET not in result.stdout.str()
    run = make_run_id("test_secret.py::test_run")
    assert {f"runs/{run}/events.jsonl", f"runs/{run}/audit.jsonl"} <= set(
        _holding(out, f"api key {MASK} is not authorised")
    )


def test_a_variable_named_in_the_ini_is_masked(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENUE_CREDS", SECRET)  # not named like a secret: only the ini registers it
    _conftest(pytester, var="VENUE_CREDS")
    _run(pytester)
    assert _holding(pytester.path / "out", SECRET) != []  # the control: without the ini it leaks
    pytester.makeini("[pytest]\ndryrun_secret_env = OTHER_VAR VENUE_CREDS\n")
    _run(pytester)
    assert _holding(pytester.path, SECRET) == []
    assert _holding(pytester.path / "out", MASK) != []


def test_the_hook_registers_secrets_and_is_optional(pytester: pytest.Pytester) -> None:
    hook = """

import pytest

@pytest.hookimpl(optionalhook=True)
def pytest_dryrun_secrets(config):
    return ["vault-only-secret-1234"]
"""
    _conftest(pytester, var="NOT_SET_ANYWHERE", fallback="vault-only-secret-1234", extra=hook)
    _run(pytester)
    assert _holding(pytester.path / "out", "vault-only-secret-1234") == []
    assert _holding(pytester.path / "__dryrun_snapshots__", "vault-only-secret-1234") == []


def test_the_documented_hook_survives_the_plugin_being_disabled(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_secrets(config):
            return ["vault-only-secret-1234"]
        """
    )
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.runpytest("-p", "no:peak_dryrun").assert_outcomes(passed=1)
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_fixture_adds_secrets_for_its_tests(pytester: pytest.Pytester) -> None:
    fixture = """

import pytest

@pytest.fixture
def dryrun_secrets():
    return ("fixture-secret-5678",)
"""
    _conftest(pytester, var="NOT_SET_ANYWHERE", fallback="fixture-secret-5678", extra=fixture)
    pytester.makepyfile(
        test_more="""
        def test_factory(run_dryrun):
            assert run_dryrun().count("order_place", outcome="rejected") == 1

        def test_by_hand(orchestrator, audit_log):
            assert orchestrator.preflight()
            orchestrator.run(3)
            orchestrator.stop()
            lines = "\\n".join(audit_log.lines())
            assert "fixture-secret-5678" not in lines
            assert "api key [REDACTED] is not authorised" in lines
        """
    )
    _run(pytester, "test_secret.py", "test_more.py", passed=3)
    assert _holding(pytester.path / "out", "fixture-secret-5678") == []


def test_a_bad_hook_value_fails_the_dry_runs_with_one_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_secrets(config):
            return [42]
        """
    )
    pytester.makepyfile("def test_a(dryrun):\n    pass\n")
    result = pytester.runpytest("--dryrun-snapshot=out")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*pytest-peak-dryrun secrets registry: a pytest_dryrun_secrets implementation gave a int; "
            "secrets are strings (the values to mask in every artifact)",
            "PROBLEM: secrets registry: a pytest_dryrun_secrets implementation gave a int;*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_a_too_short_registered_value_warns_without_showing_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VENUE_PIN", "x7q")
    pytester.makeini("[pytest]\ndryrun_secret_env = VENUE_PIN\n")
    pytester.makepyfile("def test_a(dryrun):\n    pass\n")
    result = pytester.runpytest("-W", "default")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*PytestConfigWarning: pytest-peak-dryrun: ini dryrun_secret_env: environment variable VENUE_PIN "
            "gave a value shorter than 4 characters; it is not masked*"
        ]
    )
    result.stdout.no_fnmatch_line("*x7q*")


def test_short_or_numeric_values_of_secret_looking_variables_change_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Determinism across machines: a CI box's ``SOME_TOKEN=1`` must not rewrite the files."""
    pytester.makepyfile(
        test_runs="""
        import pytest

        @pytest.mark.dryrun("failure_matrix")
        def test_a(dryrun):
            pass
        """
    )
    pytester.runpytest("--dryrun-snapshot=plain").assert_outcomes(passed=1)
    for name, value in {"SOME_TOKEN": "1", "A_KEY": "STOPPED", "PIN_PASSWORD": "17686944", "X_SECRET": "ok"}.items():
        monkeypatch.setenv(name, value)
    pytester.runpytest("--dryrun-snapshot=noisy").assert_outcomes(passed=1)
    plain, noisy = pytester.path / "plain", pytester.path / "noisy"
    files = sorted(p.relative_to(plain) for p in plain.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(noisy) for p in noisy.rglob("*") if p.is_file())
    for rel in files:
        assert (plain / rel).read_bytes() == (noisy / rel).read_bytes(), rel


def test_workers_mask_too(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_API_KEY", SECRET)
    _conftest(pytester, var="BROKER_API_KEY")
    pytester.makepyfile(test_secret=TEST_FILE, test_other=TEST_FILE.replace("test_run", "test_other"))
    result = pytester.runpytest("--dryrun-snapshot=out", "--snapshot-update", "-n", "2")
    result.assert_outcomes(passed=2)
    out = pytester.path / "out"
    assert _holding(out, SECRET) == []
    assert len(_holding(out, f"api key {MASK} is not authorised")) >= 4


def test_an_error_that_ends_the_run_has_the_key_masked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_API_KEY", SECRET)
    crash = """

def pytest_dryrun_make_broker(config, scenario, clock):
    adapter = EchoingAdapter(MockBroker(scenario.broker_config(), clock=clock), os.environ["BROKER_API_KEY"])

    def place_order(request, *, idempotency_key):
        raise RuntimeError(f"venue session for {adapter.key} lost")

    adapter.place_order = place_order
    return adapter
"""
    _conftest(pytester, var="BROKER_API_KEY", extra=crash)
    pytester.makepyfile(test_secret=TEST_FILE)
    result = pytester.runpytest("--dryrun-snapshot=out", "--junitxml=junit.xml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["E *RuntimeError: venue session for [[]REDACTED[]] lost"])
    assert SECRET not in result.stdout.str()
    assert _holding(pytester.path, SECRET) == []  # junit.xml and DIR included
