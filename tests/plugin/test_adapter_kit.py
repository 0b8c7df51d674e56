"""A foreign-shaped broker through the plugin: the kit adapter, the contract suite, dry runs, checks.

The foreign broker is ``examples/house_broker.py`` (states ``ACKNOWLEDGED``/``CANCELLED``/
``PARTIALLY_FILLED``, a cursor object for its executions, ``cancel`` answering with a state,
its own exceptions, a status record without instrument/side/qty, latency and fills on the
simulated clock) and its adapter ``examples/house_adapter.py``: the README shows both, and
these tests prove what it says.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"
HOUSE = {name: (EXAMPLES / f"{name}.py").read_text("utf-8") for name in ("house_broker", "house_adapter")}

HOUSE_CONFTEST = """
import pytest
from house_adapter import HouseAdapter
from house_broker import HouseBroker


@pytest.fixture
def mock_broker(dryrun_scenario, sim_clock):
    behaviour = dryrun_scenario.broker
    return HouseAdapter(
        HouseBroker(
            sim_clock,
            prices=dryrun_scenario.instruments,
            ack_delay=behaviour.ack_latency_steps,
            slices=behaviour.partial_slices,
            cancel_delay=behaviour.cancel_latency_steps,
        )
    )
"""


@pytest.fixture
def house(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(**HOUSE)
    return pytester


def test_the_house_adapter_is_at_most_40_lines() -> None:
    tree = ast.parse(HOUSE["house_adapter"])
    (adapter,) = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert adapter.name == "HouseAdapter"
    assert adapter.end_lineno is not None
    assert adapter.end_lineno - adapter.lineno + 1 <= 40


def test_the_house_adapter_passes_the_contract_suite_unchanged(house: pytest.Pytester) -> None:
    house.makepyfile(
        test_contract="""
        import pytest
        from house_adapter import HouseAdapter
        from house_broker import HouseBroker
        from pytest_peak_dryrun import BrokerContract

        class TestHouse(BrokerContract):
            @pytest.fixture
            def contract_broker(self, sim_clock, contract_broker_config):
                return HouseAdapter(HouseBroker(sim_clock, prices=contract_broker_config.instruments))
        """
    )
    result = house.runpytest("-v", "-rs")
    # the 4 replace tests are skipped, with the reason: HouseAdapter has no venue_replace
    result.assert_outcomes(passed=11, skipped=4)
    result.stdout.fnmatch_lines(
        ["SKIPPED * replace is optional and HouseAdapter has no replace_order: implement it (BrokerAdapter: *"]
    )
    result.stdout.fnmatch_lines(["*::TestHouse::test_fills_are_priced_near_the_reference_price PASSED*"])
    result.stdout.fnmatch_lines(["*::TestHouse::test_moves_with_the_run_clock PASSED*"])


@pytest.mark.parametrize(
    ("scenario", "placed", "by_state"),
    [
        ("partial_fills", 3, {"CANCELED": 1, "FILLED": 2}),
        ("failure_matrix", 6, {"CANCELED": 1, "FILLED": 5}),
        ("happy_path", 5, {"FILLED": 5}),  # its limit orders are marketable: the house fills them too
    ],
)
def test_dry_runs_through_the_house_adapter_end_sanely(
    house: pytest.Pytester, scenario: str, placed: int, by_state: dict[str, int]
) -> None:
    house.makeconftest(HOUSE_CONFTEST)
    house.makepyfile(
        test_run=f"""
        from decimal import Decimal
        import pytest
        from house_adapter import HouseAdapter

        @pytest.mark.dryrun({scenario!r})
        def test_run(dryrun, mock_broker):
            assert isinstance(mock_broker, HouseAdapter)
            report = dryrun.report
            assert dryrun.state == "STOPPED"
            assert dryrun.health.status != "failed"
            assert report["orders"]["placed"] == {placed}
            assert report["orders"]["open"] == 0
            assert report["orders"]["by_state"] == {by_state!r}
            # every fill the orchestrator applied is one the venue executed, at the venue's price
            executed = sum(e.qty for e in mock_broker.venue._executions)
            assert Decimal(report["orders"]["filled_qty"]) == executed > 0
            assert dryrun.count("fill") == len(mock_broker.venue._executions)
            # positions and cash follow from the fills: the venue trades at its reference prices
            signed = {{}}
            for e in mock_broker.venue._executions:
                order = mock_broker.venue._orders[e.order_ref]
                sign = 1 if order.side == "BUY" else -1
                signed[order.symbol] = signed.get(order.symbol, 0) + sign * e.qty
            assert {{k: Decimal(v) for k, v in report["positions"].items()}} == {{k: v for k, v in signed.items() if v}}
        """
    )
    house.runpytest().assert_outcomes(passed=1)


def test_failure_matrix_through_the_house_adapter_records_the_bare_mocks_faults_or_names_them(
    house: pytest.Pytester,
) -> None:
    """Issue 11: the same fault and retry counts as the bare MockBroker, and what the house
    broker cannot express (a cancel race: it has no race_cancel) named, never silent."""
    house.makeconftest(HOUSE_CONFTEST)
    house.makepyfile(
        test_run="""
        import pytest
        from pytest_peak_dryrun import run_scenario

        def faults_and_retries(metrics):
            return {
                (f.name, tuple(sorted(s.labels.items()))): s.value
                for f in metrics.metrics
                if f.name in ("faults_injected_total", "faults_skipped_total", "retry_attempts_total")
                for s in f.samples
            }

        @pytest.mark.dryrun("failure_matrix")
        def test_run(dryrun, dryrun_scenario):
            bare = run_scenario(dryrun_scenario)
            house = faults_and_retries(dryrun.metrics)
            mock = faults_and_retries(bare.metrics)
            race = ("faults_injected_total", (("fault", "cancel_race"), ("op", "cancel")))
            skipped = ("faults_skipped_total", (("fault", "cancel_race"), ("op", "cancel")))
            assert mock[race] == 1 and house[skipped] == 1
            assert race not in house and skipped not in mock
            assert {k: v for k, v in house.items() if k != skipped} == {k: v for k, v in mock.items() if k != race}
            (event,) = dryrun.events.of("fault_skipped")
            assert event.payload.reason == (
                "HouseAdapter has no race_cancel(broker_order_id) method to let a fill win the cancel"
            )
            assert dryrun.health.status == "degraded"
            assert any(r.startswith("1 scheduled fault(s) were not applied: cancel_race 1") for r in dryrun.health.reasons)
        """
    )
    house.runpytest().assert_outcomes(passed=1)


def test_throttling_by_the_venue_is_retried_through_the_error_map(house: pytest.Pytester) -> None:
    house.makeconftest(HOUSE_CONFTEST)
    house.makepyfile(
        test_run="""
        from house_broker import GatewayTimeout, Refused, Throttled

        def test_run(run_dryrun, mock_broker):
            mock_broker.venue.script("send", Throttled())
            mock_broker.venue.script("status", GatewayTimeout())
            result = run_dryrun("partial_fills")
            assert result.state == "STOPPED"
            assert result.metrics.value("retry_attempts_total", op="place", reason="rate_limit") == 1
            assert result.metrics.value("retry_attempts_total", op="query", reason="timeout") == 1
            assert result.metrics.value("orders_place_total", outcome="ok") == 3
        """
    )
    house.runpytest().assert_outcomes(passed=1)


def test_a_venue_refusal_is_a_rejected_order(house: pytest.Pytester) -> None:
    house.makeconftest(HOUSE_CONFTEST)
    house.makepyfile(
        test_run="""
        from house_broker import Refused

        def test_run(run_dryrun, mock_broker):
            mock_broker.venue.script("send", Refused("MARKET_CLOSED"))
            result = run_dryrun("partial_fills")
            assert result.state == "STOPPED"
            assert result.metrics.value("orders_place_total", outcome="rejected") == 1
            assert result.count("order_place", outcome="rejected", reason="market_closed") == 1
        """
    )
    house.runpytest().assert_outcomes(passed=1)


def test_a_wrong_answer_fails_the_test_in_one_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import dataclasses
        import pytest
        from pytest_peak_dryrun import MockBroker

        @dataclasses.dataclass
        class BrokerOrderSnapshot:
            broker_order_id: str
            state: str

        class PaperAdapter:
            dry_run = True

            def __init__(self, venue):
                self.venue = venue
                self.clock = venue.clock

            def place_order(self, request, *, idempotency_key):
                return self.venue.place_order(request, idempotency_key=idempotency_key)

            def cancel_order(self, broker_order_id):
                self.venue.cancel_order(broker_order_id)

            def query_order(self, broker_order_id):
                order = self.venue.query_order(broker_order_id)
                return BrokerOrderSnapshot(order.broker_order_id, order.state.value)

            def list_open_orders(self):
                return self.venue.list_open_orders()

            def iter_fills(self, cursor):
                return self.venue.iter_fills(cursor)

        @pytest.fixture
        def mock_broker(dryrun_scenario, sim_clock):
            return PaperAdapter(MockBroker(dryrun_scenario.broker_config(), clock=sim_clock))
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.dryrun("partial_fills")
        def test_run(dryrun):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_a_wrong_answer_fails_the_test_in_one_line.py::test_run: PaperAdapter.query_order returned "
            "BrokerOrderSnapshot; expected Order (missing: order_id, instrument, side, order_type, qty, "
            "limit_price, filled_qty, created_step). Fix: return a pytest_peak_dryrun.Order (BrokerAdapter "
            "builds one from a venue's record)",
        ]
    )
    output = result.stdout.str()
    assert "orchestrator.py" not in output
    assert "During handling" not in output
    # once in the error report; the short summary line may repeat it, cut to the terminal width
    report = output.split("short test summary info")[0]
    assert report.count("PaperAdapter.query_order returned") == 1


def test_a_broker_that_cannot_be_called_as_the_protocol_says_fails_preflight(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from pytest_peak_dryrun import MockBroker

        class OldAdapter(MockBroker):
            def place_order(self, request, key):  # the key is not keyword-named idempotency_key
                return super().place_order(request, idempotency_key=key)

        @pytest.fixture
        def mock_broker(dryrun_scenario, sim_clock):
            return OldAdapter(dryrun_scenario.broker_config(), clock=sim_clock)
        """
    )
    pytester.makepyfile(
        """
        def test_run(dryrun):
            assert dryrun.state == "PREFLIGHT_FAILED"
            assert dryrun.health.reasons == [
                "preflight failed: broker_protocol: OldAdapter.place_order(request, key) cannot be called as "
                "place_order(request, *, idempotency_key): missing a required argument: 'key'"
            ]
            assert dryrun.report["orders"]["placed"] == 0
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_readme_shows_the_adapter_the_tests_run() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text("utf-8")
    source = HOUSE["house_adapter"]
    shown = source[source.index("from house_broker import") :]
    assert shown in readme
