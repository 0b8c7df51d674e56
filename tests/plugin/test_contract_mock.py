"""MockBroker passes the broker contract suite it ships for other adapters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pytest_peak_dryrun.contract import BrokerContract
from pytest_peak_dryrun.core.broker import FillModel, MockBrokerConfig

pytest_plugins = ["pytester"]


class TestMockBrokerContract(BrokerContract):
    """The default contract_broker fixture is the MockBroker itself."""


class TestMockBrokerContractUnderTheOtherFillModels(BrokerContract):
    """Limit-aware fills in every model (issue 15): the contract's far-away limit order rests
    and its market orders fill at the market under ``immediate`` and ``partial`` too, not
    only under the contract's default ``price_path``."""

    @pytest.fixture(params=[FillModel.IMMEDIATE, FillModel.PARTIAL], ids=lambda model: model.value)
    def contract_broker_config(self, request: pytest.FixtureRequest) -> MockBrokerConfig:
        return MockBrokerConfig(instruments={self.INSTRUMENT: Decimal("100.00")}, fill_model=request.param)


def test_a_broken_adapter_fails_the_contract(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import itertools
        import pytest
        from pytest_peak_dryrun import MockBroker
        from pytest_peak_dryrun.contract import BrokerContract

        class NotIdempotent(MockBroker):
            counter = itertools.count()
            def place_order(self, request, *, idempotency_key):
                return super().place_order(request, idempotency_key=f"{idempotency_key}-{next(self.counter)}")

        class TestBroken(BrokerContract):
            @pytest.fixture
            def contract_broker(self, sim_clock, contract_broker_config):
                return NotIdempotent(contract_broker_config, clock=sim_clock)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=10, failed=1)
    result.stdout.fnmatch_lines(["FAILED *::TestBroken::test_same_idempotency_key_same_order_no_second_side_effect*"])


def _broken_venue(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makepyfile(
        """
        from decimal import Decimal
        import msgspec
        import pytest
        from pytest_peak_dryrun import BrokerContract, MockBroker

        class Broken(MockBroker):
        """
        + body
        + """
        class TestBroken(BrokerContract):
            @pytest.fixture
            def contract_broker(self, sim_clock, contract_broker_config):
                return Broken(contract_broker_config, clock=sim_clock)
        """
    )
    return pytester.runpytest("-q")


def test_a_broker_filling_at_price_zero_fails_the_contract(pytester: pytest.Pytester) -> None:
    result = _broken_venue(
        pytester,
        """
            def iter_fills(self, cursor):
                cursor, fills = super().iter_fills(cursor)
                return cursor, [msgspec.structs.replace(f, **{"price": Decimal(0)}) for f in fills]
        """,
    )
    result.assert_outcomes(passed=10, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: fill MB-00000001-F1 at 0: "
            "expected a positive price within ±50% of the reference price 100.00",
            "FAILED *::TestBroken::test_fills_are_priced_near_the_reference_price*",
        ]
    )


def test_a_broker_filling_far_from_the_reference_fails_the_contract(pytester: pytest.Pytester) -> None:
    result = _broken_venue(
        pytester,
        """
            def iter_fills(self, cursor):
                cursor, fills = super().iter_fills(cursor)
                return cursor, [msgspec.structs.replace(f, **{"price": f.price * 100}) for f in fills]
        """,
    )
    result.assert_outcomes(passed=10, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: fill MB-00000001-F1 at 10000.00: expected a positive price within ±50% *",
            "FAILED *::TestBroken::test_fills_are_priced_near_the_reference_price*",
        ]
    )


def test_a_broker_overfilling_fails_the_contract(pytester: pytest.Pytester) -> None:
    # Every fill is delivered twice under a second id: the order's fills add up to twice its quantity.
    result = _broken_venue(
        pytester,
        """
            def iter_fills(self, cursor):
                cursor, fills = super().iter_fills(cursor)
                doubled = []
                for f in fills:
                    doubled += [f, msgspec.structs.replace(f, **{"fill_id": f.fill_id + "-again"})]
                return cursor, doubled
        """,
    )
    result.stdout.fnmatch_lines(["E * AssertionError: the fills of MB-00000001 add up to 14, above its quantity 7"])
    failed = {line.split(" - ")[0].split("::")[-1] for line in result.stdout.lines if line.startswith("FAILED ")}
    assert "test_fills_never_exceed_the_order_and_agree_with_queries" in failed


def test_a_query_that_disagrees_with_the_fills_fails_the_contract(pytester: pytest.Pytester) -> None:
    result = _broken_venue(
        pytester,
        """
            def query_order(self, broker_order_id):
                order = super().query_order(broker_order_id)
                return msgspec.structs.replace(order, **{"filled_qty": Decimal(0)})
        """,
    )
    result.stdout.fnmatch_lines(
        ["E * AssertionError: query_order('MB-00000001') says filled_qty 0; its fills add up to 7"]
    )
    failed = {line.split(" - ")[0].split("::")[-1] for line in result.stdout.lines if line.startswith("FAILED ")}
    assert "test_fills_never_exceed_the_order_and_agree_with_queries" in failed


def test_a_venue_that_follows_the_clock_by_on_step_passes_the_contract(pytester: pytest.Pytester) -> None:
    # A venue without a SimClock of its own that a dry run moves by on_step(step) (README,
    # "One clock"): the contract must move it the same way, not only advance sim_clock, or
    # every test that waits for a fill reports "still NEW after 10 steps" for a good adapter.
    pytester.makepyfile(
        """
        import pytest
        from pytest_peak_dryrun import BrokerContract, MockBroker, SimClock

        class StepDriven:
            dry_run = True

            def __init__(self, config):
                # latency, so that nothing happens unless the venue is moved; a clock only on_step moves
                slow = config.model_copy(update={"ack_latency_steps": 2, "cancel_latency_steps": 1})
                self._venue = MockBroker(slow, clock=SimClock())
                self.steps_seen = []

            def on_step(self, step):
                self.steps_seen.append(step)
                self._venue.advance(step - self._venue.clock.step)

            def place_order(self, request, *, idempotency_key):
                return self._venue.place_order(request, idempotency_key=idempotency_key)

            def cancel_order(self, broker_order_id):
                self._venue.cancel_order(broker_order_id)

            def query_order(self, broker_order_id):
                return self._venue.query_order(broker_order_id)

            def list_open_orders(self):
                return self._venue.list_open_orders()

            def iter_fills(self, cursor):
                return self._venue.iter_fills(cursor)

        class TestStepDriven(BrokerContract):
            @pytest.fixture
            def contract_broker(self, contract_broker_config):
                return StepDriven(contract_broker_config)

        def test_the_same_venue_runs_a_dry_run(run_dryrun, dryrun_scenario):
            result = run_dryrun("happy_path", broker=StepDriven(dryrun_scenario.broker_config()))
            assert result.state == "STOPPED"
            assert result.report["orders"]["by_state"] == {"FILLED": 5}
        """
    )
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=12)


def test_a_venue_nothing_moves_fails_the_contract_naming_the_fix(pytester: pytest.Pytester) -> None:
    # Neither the run's clock nor on_step: a dry run refuses it at the preflight (broker_clock),
    # so the contract says so too, with the preflight's words, instead of "still NEW".
    pytester.makepyfile(
        """
        import pytest
        from pytest_peak_dryrun import BrokerContract, MockBroker, SimClock

        class Frozen(MockBroker):
            pass

        class TestFrozen(BrokerContract):
            @pytest.fixture
            def contract_broker(self, contract_broker_config):
                return Frozen(contract_broker_config, clock=SimClock())
        """
    )
    result = pytester.runpytest("-q")
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: broker_clock: Frozen.clock is a SimClock other than the run's, *",
            "FAILED *::TestFrozen::test_moves_with_the_run_clock*",
        ]
    )
