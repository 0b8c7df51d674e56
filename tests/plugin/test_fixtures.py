"""The fixtures other suites reuse, and overriding them from a conftest."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

FIXTURES = [
    "dryrun",
    "run_dryrun",
    "dryrun_snapshot",
    "dryrun_scenario",
    "mock_broker",
    "orchestrator",
    "metrics_collector",
    "audit_log",
    "sim_clock",
    "dryrun_config",
    "dryrun_network_guard",
]


def test_every_fixture_is_listed_with_its_docstring(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures")
    for name in FIXTURES:
        result.stdout.fnmatch_lines([f"{name} -- *plugin.py:*"])
    result.stdout.fnmatch_lines(["*Factory: ``run_dryrun(scenario=..., seed=..., steps=..., broker=...)``*"])


def test_the_dryrun_result(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from decimal import Decimal
        import pytest
        from pytest_peak_dryrun.core.events import EventRecord as Event
        from pytest_peak_dryrun.core.snapshots import HealthSnapshot, MetricsSnapshot, StatusSnapshot

        @pytest.mark.dryrun("happy_path")
        def test_result(dryrun):
            assert dryrun.run_id == "test_the_dryrun_result-test_result-7a8cb5b63f00"
            assert isinstance(dryrun.health, HealthSnapshot)
            assert isinstance(dryrun.status, StatusSnapshot)
            assert isinstance(dryrun.metrics, MetricsSnapshot)
            assert all(isinstance(e, Event) for e in dryrun.events)
            assert [e.seq for e in dryrun.events] == list(range(1, len(dryrun.events) + 1))
            assert dryrun.events[0].kind == "preflight_check"
            assert dryrun.report["final_state"] == "STOPPED"
            assert dryrun.report["orders"]["by_state"] == {"FILLED": 5}
            assert dryrun.status.orders.filled_qty == Decimal("41.75")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_orchestrator_metrics_collector_and_audit_log_work_together(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.dryrun("partial_fills")
        def test_drive(orchestrator, metrics_collector, audit_log, mock_broker, sim_clock):
            assert orchestrator.broker is mock_broker
            assert orchestrator.preflight()
            assert orchestrator.run(4) == 4
            assert sim_clock.step == 4
            assert orchestrator.stop().value == "STOPPED"
            assert metrics_collector.total("orders_place_total") == 2
            lines = list(audit_log.lines())
            assert len(lines) == orchestrator.stream.seq
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_run_dryrun_gives_each_call_its_own_run_id_and_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_factory="""
        def test_many(run_dryrun):
            a = run_dryrun()
            b = run_dryrun("tripwire")
            c = run_dryrun("failure_matrix", seed=4, steps=10)
            assert [r.run_id for r in (a, b, c)] == [
                "test_factory-test_many-33bde527a6f4", "test_factory-test_many-33bde527a6f4-2", "test_factory-test_many-33bde527a6f4-3"]
            assert (a.scenario.name, b.scenario.name, c.scenario.name) == ("happy_path", "tripwire", "failure_matrix")
            assert c.scenario.seed == 4 and c.status.session.steps_planned == 10
        """
    )
    pytester.runpytest("--dryrun-snapshot=out").assert_outcomes(passed=1)
    index = json.loads((pytester.path / "out" / "index.json").read_text())
    assert [r["run_id"] for r in index["runs"]] == [
        "test_factory-test_many-33bde527a6f4",
        "test_factory-test_many-33bde527a6f4-2",
        "test_factory-test_many-33bde527a6f4-3",
    ]


def test_run_dryrun_rejects_bad_arguments(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_bad(run_dryrun):
            with pytest.raises(ValueError, match="run_dryrun: steps must be an integer >= 0, got -2"):
                run_dryrun(steps=-2)
            with pytest.raises(TypeError, match="run_dryrun: seed must be an integer, got str"):
                run_dryrun(seed="1")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


OVERRIDES = {
    "subclass": """
        from pytest_peak_dryrun import MockBroker

        class CountingBroker(MockBroker):
            places = 0
            def place_order(self, request, *, idempotency_key):
                type(self).places += 1
                return super().place_order(request, idempotency_key=idempotency_key)

        @pytest.fixture
        def mock_broker(dryrun_scenario, sim_clock):
            return CountingBroker(dryrun_scenario.broker_config(), clock=sim_clock)
    """,
    "wrapper": """
        from pytest_peak_dryrun import MockBroker

        class Wrapper:
            dry_run = True
            places = 0
            def __init__(self, inner):
                self.inner = inner
                self.clock = inner.clock
            def place_order(self, request, *, idempotency_key):
                type(self).places += 1
                return self.inner.place_order(request, idempotency_key=idempotency_key)
            def cancel_order(self, boid):
                return self.inner.cancel_order(boid)
            def query_order(self, boid):
                return self.inner.query_order(boid)
            def list_open_orders(self):
                return self.inner.list_open_orders()
            def iter_fills(self, cursor):
                return self.inner.iter_fills(cursor)

        @pytest.fixture
        def mock_broker(dryrun_scenario, sim_clock):
            return Wrapper(MockBroker(dryrun_scenario.broker_config(), clock=sim_clock))
    """,
}


@pytest.mark.parametrize("kind", sorted(OVERRIDES))
def test_an_overridden_mock_broker_is_used_everywhere(pytester: pytest.Pytester, kind: str) -> None:
    pytester.makeconftest("import pytest\n" + OVERRIDES[kind].replace("\n        ", "\n"))
    pytester.makepyfile(
        """
        def test_dryrun(dryrun, mock_broker):
            assert type(mock_broker).places == 5
            assert dryrun.state == "STOPPED"

        def test_orchestrator(orchestrator, mock_broker):
            from pytest_peak_dryrun.core.boundary import unwrap_broker

            assert unwrap_broker(orchestrator.broker) is mock_broker

        def test_run_dryrun_twice(run_dryrun, mock_broker):
            before = type(mock_broker).places
            first = run_dryrun()
            second = run_dryrun()
            assert type(mock_broker).places - before == 10
            assert first.report == second.report
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_a_broker_that_is_not_dry_run_fails_preflight(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        OVERRIDES["wrapper"]
        .replace("\n        ", "\n")
        .replace("dry_run = True", "dry_run = False")
        .replace("from pytest_peak_dryrun", "import pytest\nfrom pytest_peak_dryrun")
    )
    pytester.makepyfile(
        """
        def test_refused(dryrun):
            assert dryrun.state == "PREFLIGHT_FAILED"
            assert dryrun.health.status == "failed"
            assert any("does not declare dry_run = True" in r for r in dryrun.health.reasons)
            assert dryrun.report["orders"]["placed"] == 0
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_dryrun_config_override_restricts_the_allowlist(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from pytest_peak_dryrun import DryRunConfig

        @pytest.fixture
        def dryrun_config():
            return DryRunConfig(instrument_allowlist=("DEMO-EUR",))
        """
    )
    pytester.makepyfile(
        """
        def test_two_instruments_are_refused(dryrun):
            assert dryrun.state == "PREFLIGHT_FAILED"
            assert "instrument_allowlist: scenario instruments not allowed: DEMO-USD" in dryrun.health.reasons[0]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_live_trading_is_impossible_by_type(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pydantic, pytest
        from pytest_peak_dryrun import DryRunConfig

        def test_live():
            with pytest.raises(pydantic.ValidationError, match="live trading is refused"):
                DryRunConfig(live_enabled=True)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
