"""A broker of your own gets the scenario's faults, the run's clock and fill checks (issue 11).

Every inner suite brings ``Ledger``, a broker written in its conftest with its own state
handling (not a MockBroker), plugged in the three documented ways: the hook, a
``mock_broker`` override and ``broker=``.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

LEDGER = """
from decimal import Decimal
import pytest
from pytest_peak_dryrun import MockBroker
from pytest_peak_dryrun.core.errors import UnknownOrderError
from pytest_peak_dryrun.core.model import Fill, Order


class Ledger:
    '''Fills every order at once at PRICE, acknowledges nothing it did not fill; its own books.'''

    dry_run = True
    PRICE = Decimal("100.00")

    def __init__(self, clock=None):
        if clock is not None:
            self.clock = clock
        self.orders = {}
        self.keys = {}
        self.fills = []

    def place_order(self, request, *, idempotency_key):
        if idempotency_key not in self.keys:
            boid = f"L{len(self.orders) + 1}"
            self.keys[idempotency_key] = boid
            self.orders[boid] = (idempotency_key, request)
            self.fills.append(
                Fill(fill_id=boid + "/1", broker_order_id=boid, qty=request.qty, price=self.PRICE, exec_seq=1, step=0)
            )
        return self.keys[idempotency_key]

    def cancel_order(self, broker_order_id):
        self.query_order(broker_order_id)

    def query_order(self, broker_order_id):
        if broker_order_id not in self.orders:
            raise UnknownOrderError(broker_order_id)
        key, request = self.orders[broker_order_id]
        return Order(
            order_id=key, broker_order_id=broker_order_id, instrument=request.instrument, side=request.side,
            order_type=request.order_type, qty=request.qty, filled_qty=request.qty, state="FILLED", created_step=0,
        )

    def list_open_orders(self):
        return []

    def iter_fills(self, cursor):
        return len(self.fills), self.fills[cursor:]
"""


def _conftest(pytester: pytest.Pytester, body: str) -> None:
    pytester.makeconftest(LEDGER + body)


def test_the_hooks_broker_gets_the_scenarios_faults_and_skipped_ones_are_named(pytester: pytest.Pytester) -> None:
    _conftest(
        pytester,
        """
def pytest_dryrun_make_broker(config, scenario, clock):
    return Ledger(clock)
""",
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.dryrun("failure_matrix")
        def test_matrix(dryrun):
            m = dryrun.metrics
            assert m.value("faults_injected_total", op="place", fault="rate_limit") == 1
            assert m.value("faults_injected_total", op="place", fault="timeout") == 1
            assert m.value("retry_attempts_total", op="place", reason="timeout") == 1
            assert m.value("faults_skipped_total", op="cancel", fault="cancel_race") == 1
            assert dryrun.health.status == "degraded"
            assert (
                "1 scheduled fault(s) were not applied: cancel_race 1 (see the fault_skipped events)"
                in dryrun.health.reasons
            )
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= dry runs =*",
            "FAULTS NOT APPLIED: test_the_hooks_broker_gets_the_scenarios_faults_and_skipped_ones_are_named-"
            "test_matrix-f780634bd28d: cancel_race 1 (see its fault_skipped events)",
        ]
    )
    snapshot = pytester.runpytest("--dryrun-snapshot=out")
    snapshot.stdout.fnmatch_lines(
        [
            "*= dry-run snapshots =*",
            "FAULTS NOT APPLIED: *-test_matrix-f780634bd28d: cancel_race 1 (see its fault_skipped events)",
            "report: *dryrun_status_snapshot.md",
        ]
    )


def test_an_overriding_mock_broker_is_wrapped_in_the_orchestrator_fixture_too(pytester: pytest.Pytester) -> None:
    _conftest(
        pytester,
        """
@pytest.fixture
def mock_broker(sim_clock):
    return Ledger(sim_clock)
""",
    )
    pytester.makepyfile(
        """
        import pytest

        from pytest_peak_dryrun.core.boundary import unwrap_broker

        @pytest.mark.dryrun("failure_matrix")
        def test_drive(orchestrator, metrics_collector, mock_broker, sim_clock):
            assert orchestrator.broker is mock_broker
            assert unwrap_broker(orchestrator.injector) is mock_broker
            assert orchestrator.preflight()
            orchestrator.run(8)
            assert metrics_collector.total("faults_injected_total") == 3
            assert metrics_collector.value("retry_attempts_total", op="query", reason="transient_unavailable") == 1

        @pytest.mark.dryrun("failure_matrix")
        def test_broker_argument(run_dryrun, sim_clock):
            from conftest import Ledger
            result = run_dryrun(broker=Ledger(sim_clock))
            assert result.metrics.total("faults_injected_total") == 5
            assert result.metrics.total("faults_skipped_total") == 1
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_an_adapter_without_a_clock_gets_a_preflight_message_not_a_frozen_venue(pytester: pytest.Pytester) -> None:
    _conftest(
        pytester,
        """
class Adapter:
    '''Wraps the MockBroker but hides its clock: the venue would stand still.'''

    dry_run = True

    def __init__(self, venue):
        self._venue = venue

    def __getattr__(self, name):
        if name in ("clock", "on_step"):
            raise AttributeError(name)
        return getattr(self._venue, name)


def pytest_dryrun_make_broker(config, scenario, clock):
    return Adapter(MockBroker(scenario.broker_config(), clock=clock))
""",
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.dryrun("partial_fills")
        def test_clockless(dryrun):
            print("REASON:", dryrun.health.reasons[0])
            assert dryrun.state == "PREFLIGHT_FAILED"
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*REASON: preflight failed: broker_clock: Adapter has neither .clock nor on_step(step), so nothing moves "
            "its venue when the run's clock advances: expose the venue's clock (self.clock = venue.clock, built with "
            "the clock the hook or fixture hands you) or implement on_step(step)"
        ]
    )


def test_a_broker_filling_market_orders_at_price_zero_is_degraded(pytester: pytest.Pytester) -> None:
    _conftest(
        pytester,
        """
class Free(Ledger):
    PRICE = Decimal("0")


def pytest_dryrun_make_broker(config, scenario, clock):
    return Free(clock)
""",
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.dryrun("happy_path")
        def test_free(dryrun):
            assert dryrun.state == "STOPPED"
            assert dryrun.health.status == "degraded"
            assert dryrun.report["reconcile"]["mismatches"] == {"bad_fill_price": 5}
            assert dryrun.health.reasons == ["5 reconcile mismatch(es): bad_fill_price 5"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
